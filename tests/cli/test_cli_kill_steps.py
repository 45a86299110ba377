"""Killed at a step of a multi-step verb (kill -9, placed with ``OKEIOS_FAULT``): nothing
acknowledged is lost, `okeios check` names the unfinished job, and running the same command
again finishes it."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from okeios._internal.cli.demo import synthetic_records
from tests.helpers import run_cli


def run_killed(home: Path, step: str, *args: str) -> subprocess.CompletedProcess[str]:
    fault = {"OKEIOS_FAULT": f"{step}:kill"}
    return run_cli(home, *args, expect=-signal.SIGKILL, env=fault)


def test_a_grant_killed_before_its_share_is_written(tmp_path: Path) -> None:
    """2 of 40 kill -9 runs left a logged GRANT with no share and no message. Now `check`
    reports the grant without a share, and the same `grant` again writes it without logging
    a second GRANT."""
    home = tmp_path / "home"
    record = tmp_path / "r.json"
    record.write_bytes(synthetic_records(1, seed=3)[0])
    run_cli(home, "init")
    rid = json.loads(run_cli(home, "add", str(record), "--json").stdout)["records"][0]
    key = tmp_path / "r.key"
    binding = json.loads(run_cli(home, "recipient", "-o", str(key), "--json").stdout)["binding"]
    share = tmp_path / "r.share.json"
    grant = ("grant", rid, "--recipient", binding, "-o", str(share))
    run_killed(home, "grant-share", *grant)
    assert not share.exists()
    check = run_cli(home, "check", expect=1)
    assert "its share was never written" in check.stdout
    again = run_cli(home, *grant, "--json")
    assert json.loads(again.stdout)["resumed"] is True
    assert share.exists()
    run_cli(home, "check")
    history = json.loads(run_cli(home, "history", rid, "--json").stdout)["events"]
    assert [e["kind"] for e in history] == ["create", "grant"]
    out = tmp_path / "r.out.json"
    run_cli(home, "decrypt", str(share), "--key", str(key), "-o", str(out))
    assert json.loads(out.read_text())["resourceType"]
    # A later grant of the same version to the same recipient, once delivered, is a new one.
    run_cli(home, *grant)
    history = json.loads(run_cli(home, "history", rid, "--json").stdout)["events"]
    assert [e["kind"] for e in history] == ["create", "grant", "grant"]
