"""The fault loops in a small budget (``scripts/fault-loop`` runs them all, repeatedly): kill
-9 at steps of every multi-step verb on SQLite and PostgreSQL, the PostgreSQL server killed
and restarted mid-write, and a full disk. Nothing acknowledged is lost, a re-run finishes the
job, `okeios check` and `okeios audit` pass (see tests/faultloop.py)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.faultloop import REPO, SCENARIOS, Ctx, Tally, record_file, run_step
from tests.pg import fresh_schema, server_url

# (scenario, step, n): the steps timing alone cannot hit, and one commit of each verb
SQLITE_SAMPLE = [
    ("add", "committed", 2),
    ("amend", "committed", 1),
    ("revoke", "committed", 1),
    ("erase", "erase-purge", 1),
    ("log --tiles", "tiles-file", 3),
    ("witness", "witness-save", 1),
]
POSTGRES_SAMPLE = [("add", "commit", 2), ("erase", "erase-purge", 1)]


@pytest.mark.parametrize(("name", "step", "n"), SQLITE_SAMPLE)
def test_kill_at_a_step_on_sqlite(name: str, step: str, n: int) -> None:
    tally = Tally()
    assert run_step(SCENARIOS[name], step, n, tally)  # the step was reached: a real kill
    assert tally.kills == 1
    assert tally.findings == []


@pytest.mark.parametrize(("name", "step", "n"), POSTGRES_SAMPLE)
def test_kill_at_a_step_on_postgresql(name: str, step: str, n: int) -> None:
    server_url()  # skips (or fails under CI) without a server
    tally = Tally()
    assert run_step(SCENARIOS[name], step, n, tally, database=fresh_schema)
    assert tally.kills == 1
    assert tally.findings == []


def _acknowledged(stdout: str) -> set[str]:
    """The records an `okeios add` printed (acknowledged) before it stopped."""
    return {line.split()[0] for line in stdout.splitlines() if line.startswith("0x")}


def test_a_full_disk_mid_add(tmp_path: Path) -> None:
    """A file-size limit stands for a full disk: `add` stops with one line (exit 2), what it
    acknowledged is kept, and the same `add` again finishes."""
    ctx = Ctx(tmp_path / "home", tmp_path, None)
    ctx.cli("init", "--no-passphrase")
    files = [str(record_file(tmp_path, i, note=[{"text": "x" * 2000}])) for i in range(120)]
    limit = (ctx.home / "store.sqlite").stat().st_size + 96 * 1024

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    args = [sys.executable, "-m", "okeios", "add", "--chunk", "10", *files]
    full = subprocess.run(
        args, capture_output=True, text=True, env=ctx.env(), preexec_fn=small_disk, check=False
    )
    assert full.returncode == 2, full.stderr
    errors = [line for line in full.stderr.splitlines() if line.startswith("okeios: error")]
    assert len(errors) == 1
    assert "Traceback" not in full.stderr
    kept = _acknowledged(full.stdout)
    assert 0 < len(kept) < len(files)
    again = subprocess.run(args, capture_output=True, text=True, env=ctx.env(), check=False)
    assert again.returncode == 0, again.stderr
    with ctx.store() as store:
        ids = {"0x" + rid.hex() for rid in store.record_ids()}
    assert kept <= ids
    assert len(ids) == len(files)
    ctx.cli("check")


@pytest.mark.skipif(
    shutil.which("initdb") is None and not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
    reason="PostgreSQL is not installed (scripts/postgres install)",
)
def test_the_postgresql_server_killed_and_restarted_mid_add(tmp_path: Path) -> None:
    """kill -9 of the server while `add` writes: the client says so in one line (exit 2),
    nothing it acknowledged is lost or duplicated, and after the restart the same `add`
    finishes and the store checks."""
    folder = tempfile.mkdtemp(prefix="okeios-pg-kill-")
    script = str(REPO / "scripts" / "postgres")
    url = subprocess.run(
        [script, "start", folder], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        ctx = Ctx(tmp_path / "home", tmp_path, url)
        ctx.cli("init", "--no-passphrase", "--database", url)
        files = [str(record_file(tmp_path, i)) for i in range(150)]
        args = [sys.executable, "-m", "okeios", "add", "--chunk", "5", *files]
        child = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ctx.env()
        )
        assert child.stdout is not None
        seen = [child.stdout.readline() for _ in range(10)]  # it is writing
        subprocess.run([script, "kill", folder], check=True)
        out, err = child.communicate(timeout=120)
        assert child.returncode == 2, err
        lines = [line for line in err.splitlines() if line.startswith("okeios: error")]
        assert len(lines) == 1, err
        assert "StoreError" in lines[0]
        assert "sqlite3" not in err
        assert "Traceback" not in err
        kept = _acknowledged("".join(seen) + out)
        subprocess.run([script, "revive", folder], check=True)
        deadline = time.monotonic() + 60
        while True:
            again = subprocess.run(args, capture_output=True, text=True, env=ctx.env())
            if again.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)  # the server may still be recovering
        assert again.returncode == 0, again.stderr
        with ctx.store() as store:
            ids = ["0x" + rid.hex() for rid in store.record_ids()]
        assert kept <= set(ids)
        assert len(ids) == len(set(ids)) == len(files)
        ctx.cli("check")
        log = tmp_path / "log.jsonl"
        ctx.cli("log", "-o", str(log))
        ctx.cli("audit", "--log", str(log), "--publisher", ctx.publisher())
    finally:
        subprocess.run([script, "stop", folder], check=False)


def test_the_script_runs_the_loops(tmp_path: Path) -> None:
    """scripts/fault-loop prints its iterations and findings."""
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "fault-loop"),
            "--scenario",
            "share",
            "--backend",
            "sqlite",
            "--rounds",
            "1",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ},
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["runs"] >= 1
    assert summary["findings"] == []
