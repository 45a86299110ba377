"""`okeios rotate-key` as a shell user runs it: the chain step is required, a wrong URL or an
unfunded key is refused before anything is logged, a never-anchored log rotates with its
first anchor, and a real SIGKILL at every step of a rotation leaves a home that finishes it
and anchors again."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest

from okeios._internal.cli.demo import synthetic_records
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.keys import FAULT_ENV, ROTATION_STEPS
from tests.helpers import CountingRng, run_cli
from tests.nodes import Node

okeios = run_cli


def _record(tmp: Path, n: int) -> str:
    path = tmp / f"r{n}.json"
    path.write_bytes(synthetic_records(1, seed=300 + n)[0])
    return str(path)


def test_rotate_key_without_chain_is_refused_and_logs_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    okeios(home, "init")
    okeios(home, "add", _record(tmp_path, 1))
    done = okeios(home, "rotate-key", expect=2)
    assert "needs --chain" in done.stderr
    listed = json.loads(okeios(home, "authors", "list", "--json").stdout)
    assert len(listed["publishers"]) == 1


def test_a_never_anchored_log_rotates_with_its_first_anchor(tmp_path: Path) -> None:
    home = tmp_path / "home"
    okeios(home, "init")
    okeios(home, "add", _record(tmp_path, 2))
    rotated = json.loads(okeios(home, "rotate-key", "--chain", "embedded", "--json").stdout)
    assert rotated["new"] != rotated["old"]
    okeios(home, "add", _record(tmp_path, 3))
    anchored = json.loads(okeios(home, "anchor", "--json").stdout)
    assert anchored["final"] is True
    okeios(home, "check")


def test_a_wrong_chain_or_an_unfunded_key_is_refused_before_anything_is_logged(
    tmp_path: Path, anvil: Node
) -> None:
    home = tmp_path / "home"
    key = CountingRng(b"cli rotation org")(32)
    org = LocalSigner.from_key(key).address
    anvil.fund(org)
    okeios(home, "init", "--key", key.hex())
    okeios(home, "add", _record(tmp_path, 4))
    okeios(home, "anchor", "--chain", anvil.url)
    # a chain the log was not anchored on, and a URL where no node answers
    for wrong in ("embedded", "http://127.0.0.1:9"):
        done = okeios(home, "rotate-key", "--chain", wrong, expect=None)
        assert done.returncode == 2, (wrong, done.stderr)
        assert "nothing was logged" in done.stderr, done.stderr
        listed = json.loads(okeios(home, "authors", "list", "--json").stdout)
        assert listed["publishers"] == [org]
    # an old key that cannot pay for its last anchor and the handover
    anvil.rpc("anvil_setBalance", org, "0x0")
    done = okeios(home, "rotate-key", "--chain", anvil.url, expect=None)
    assert done.returncode != 0
    assert "no funds" in done.stderr
    listed = json.loads(okeios(home, "authors", "list", "--json").stdout)
    assert listed["publishers"] == [org]
    # the log still anchors with the old key; once funded the rotation goes through
    anvil.fund(org)
    okeios(home, "add", _record(tmp_path, 5))
    okeios(home, "anchor", "--chain", anvil.url)
    rotated = json.loads(okeios(home, "rotate-key", "--chain", anvil.url, "--json").stdout)
    assert rotated["old"] == org
    anvil.fund(rotated["new"])
    okeios(home, "add", _record(tmp_path, 6))
    okeios(home, "anchor", "--chain", anvil.url)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with records, anchored on its embedded chain (copied for each crash)."""
    tmp = tmp_path_factory.mktemp("prepared")
    home = tmp / "home"
    okeios(home, "init")
    okeios(home, "add", _record(tmp, 7))
    okeios(home, "anchor")
    return home


def _killed_at(home: Path, step: str) -> None:
    fault = {FAULT_ENV: f"rotate:{step}"}
    okeios(home, "rotate-key", "--chain", "embedded", expect=-signal.SIGKILL, env=fault)


@pytest.mark.parametrize("step", ROTATION_STEPS)
def test_sigkill_at_every_step_of_rotate_key(tmp_path: Path, prepared: Path, step: str) -> None:
    home = tmp_path / "home"
    shutil.copytree(prepared, home, symlinks=True)
    _killed_at(home, step)
    okeios(home, "check")
    rotated = json.loads(okeios(home, "rotate-key", "--chain", "embedded", "--json").stdout)
    assert rotated["new"] != rotated["old"]
    okeios(home, "add", _record(tmp_path, 8))
    assert json.loads(okeios(home, "anchor", "--json").stdout)["final"] is True
    okeios(home, "check")


def test_rotate_key_abort_rolls_back_a_staged_rotation_only(tmp_path: Path, prepared: Path) -> None:
    staged, logged = tmp_path / "staged", tmp_path / "logged"
    shutil.copytree(prepared, staged, symlinks=True)
    shutil.copytree(prepared, logged, symlinks=True)
    before = json.loads(okeios(staged, "authors", "list", "--json").stdout)["publishers"]
    _killed_at(staged, "named")
    aborted = json.loads(okeios(staged, "rotate-key", "--abort", "--json").stdout)
    assert aborted["publisher"] == before[0]
    assert (staged / "retired-keys" / f"{aborted['aborted']}.abandoned.key").exists()
    okeios(staged, "add", _record(tmp_path, 9))
    assert json.loads(okeios(staged, "anchor", "--json").stdout)["final"] is True
    # once the handover is logged, the rotation can only be finished
    _killed_at(logged, "logged")
    done = okeios(logged, "rotate-key", "--abort", expect=2)
    assert "append-only" in done.stderr
    done = okeios(logged, "add", _record(tmp_path, 10), expect=2)
    assert "half done" in done.stderr
    okeios(logged, "rotate-key", "--chain", "embedded")
    okeios(logged, "add", _record(tmp_path, 10))
