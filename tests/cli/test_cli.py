"""The command line and the examples, run as a user would run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from okeios._internal.cli.main import main
from tests.helpers import SMALL_RECORD, make_publisher

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "okeios", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_demo_runs_and_catches_tampering(tmp_path: Path) -> None:
    done = _run("demo", "--out", str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr.decode()
    result = json.loads(done.stdout)
    assert result["ok"] is True
    assert all(r["result"] == "pass" for r in result["records"])
    assert result["tamper"]["record"]["reason"] == "record-mismatch"
    assert "authenticity: signature-mismatch" in result["tamper"]["bundle"]
    assert result["tamper"]["checkpoint"]["reason"] == "publisher-not-trusted"
    assert result["tamper"]["registry"]["reason"] == "registry-not-trusted"
    assert (tmp_path / "home" / "chains" / "embedded").is_dir()  # the chain state persisted
    assert len(list(tmp_path.glob("*.okb"))) == 9


def test_verify_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    publisher = make_publisher()
    logged = publisher.create(SMALL_RECORD)
    bundle = tmp_path / "b.okb"
    bundle.write_bytes(publisher.bundle(logged.id).to_bytes())
    record = tmp_path / "r.json"
    record.write_bytes(SMALL_RECORD)
    trust = ["--author", publisher.address, "--publisher", publisher.address]

    assert main(["verify", str(bundle), "--record", str(record), *trust]) == 0
    assert "PASS" in capsys.readouterr().out

    record.write_bytes(SMALL_RECORD.replace(b"final", b"amended"))
    assert main(["verify", str(bundle), "--record", str(record), *trust, "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["result"] == "fail"
    assert out["verdicts"]["integrity"]["reason"] == "record-mismatch"

    assert main(["verify", str(bundle), "--author", "0x" + "11" * 20, "--any-publisher"]) == 1
    assert "author-not-trusted" in capsys.readouterr().out

    bundle.write_bytes(bundle.read_bytes()[:-3])
    assert main(["verify", str(bundle), *trust]) == 2
    assert "UNDECIDED (could not be read: TruncationError" in capsys.readouterr().out

    with pytest.raises(SystemExit) as usage:
        main(["verify", str(bundle)])  # no trust policy given
    assert usage.value.code == 2
    # an unreadable file is a result of its own (undecided, exit 2), not a usage error
    assert main(["verify", str(tmp_path / "absent.okb"), "--any-author", "--any-publisher"]) == 2
    assert "absent.okb: UNDECIDED (could not be read" in capsys.readouterr().out


def test_json_bundle_from_stdin_and_canonical() -> None:
    publisher = make_publisher()
    logged = publisher.create(SMALL_RECORD)
    text = publisher.bundle(logged.id).to_json().encode()
    done = _run("verify", "-", "--any-author", "--any-publisher", "--json", stdin=text)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == "pass"
    done = _run("canonical", "-", stdin=b'{"b": 1.50, "a": [true, null]}')
    assert done.stdout == b'{"a":[true,null],"b":1.50}\n'
    done = _run("canonical", "-", stdin=b'{"a": 1, "a": 2}')
    assert done.returncode == 2
    assert b"DuplicateKeyError" in done.stderr


def test_help_everywhere() -> None:
    for args in ([], ["demo"], ["verify"], ["canonical"]):
        done = _run(*args, "--help")
        assert done.returncode == 0
        assert b"usage: okeios" in done.stdout


@pytest.mark.parametrize("script", sorted((REPO / "examples").glob("*.py")), ids=lambda p: p.name)
def test_examples_run(script: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout
