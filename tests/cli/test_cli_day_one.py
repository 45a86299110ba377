"""What a first day with the ``okeios`` command line hit (issue 25): each test is one finding,
run in-process through :func:`okeios.cli.main.main` as a shell user would type it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from okeios.cli.main import main
from tests.conftest import shared_dir

BMI = "Observation-bmi.json"  # a real FHIR example whose value is a decimal (16.2)


class Run:
    """``okeios ARGS`` in this process, with OKEIOS_HOME set: exit code, stdout, stderr."""

    def __init__(self, capsys: pytest.CaptureFixture[str], home: Path) -> None:
        self.capsys = capsys
        self.home = home

    def __call__(self, *args: str, expect: int | None = 0) -> tuple[int, str, str]:
        self.capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse usage errors and --help
            code = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        if expect is not None:
            assert code == expect, (args, code, out[-1500:], err[-1500:])
        return code, out, err


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    home = tmp_path / "home"
    monkeypatch.setenv("OKEIOS_HOME", str(home))
    monkeypatch.delenv("OKEIOS_CHAIN", raising=False)
    return Run(capsys, home)


@pytest.fixture
def bmi(run: Run) -> Path:
    """A home holding the FHIR example Observation/bmi (value 16.2)."""
    run("init")
    path = shared_dir("fhir", "r4-examples") / BMI
    run("add", str(path))
    return path


# -- 1. show with decimals ---------------------------------------------------------------------


def test_show_prints_a_decimal_record_exactly(run: Run, bmi: Path) -> None:
    _, text, _ = run("show", "Observation/bmi")
    assert json.loads(text)["valueQuantity"]["value"] == 16.2
    assert '"value": 16.2' in text
    _, out, _ = run("show", "Observation/bmi", "--json", "--version", "1")
    shown = json.loads(out)
    assert shown["version"] == 1
    assert shown["content"] == json.loads(bmi.read_text())


def test_show_keeps_every_digit_of_a_number(run: Run, tmp_path: Path) -> None:
    run("init")
    res = tmp_path / "o.json"
    res.write_text('{"resourceType": "Observation", "id": "p", "valueQuantity": {"value": 1.50}}')
    run("add", str(res))
    _, out, _ = run("show", "Observation/p", "--json")
    assert '"value": 1.50' in out
    _, text, _ = run("show", "Observation/p")
    assert '"value": 1.50' in text


# -- 2. report with a chain that cannot be read ------------------------------------------------

DOWN = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused
SOME_REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_report_with_an_unreachable_chain_is_undecided(run: Run, bmi: Path) -> None:
    pin = ("--chain", DOWN, "--chain-id", "31337", "--registry", SOME_REGISTRY)
    _, text, _ = run("report", "Observation/bmi", *pin, expect=2)
    assert "lineage UNDECIDED" in text
    assert "FAIL" not in text
    assert "anchored in time" not in text
    _, out, _ = run("report", "Observation/bmi", *pin, "--json", expect=2)
    summary = json.loads(out)
    assert summary["result"] == "undecided"
    assert summary["lineage"]["result"] == "undecided"
    assert summary["lineage"]["reason"] == "chain-unavailable"
