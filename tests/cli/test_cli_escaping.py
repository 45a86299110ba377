"""One escaping rule for everything printed that came from outside: every verb that prints a
value, a purpose, a name or a reason it did not make itself passes it through
``okeios._internal.cli.options.safe``. Each verb here is fed control characters, escape sequences,
bidirectional overrides and a newline that would forge a line of its own."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from okeios._internal.cli.main import main
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.store import Store
from tests.helpers import CountingRng

FORGED = "  field /valueQuantity/value = 4.9"
EVIL = "ok\x1b[2J\x1b]0;owned\x07\r\u202e\x9b31m\n" + FORGED
RAW = ("\x1b", "\x07", "\r", "\u202e", "\x9b")


def run(capsys: pytest.CaptureFixture[str], *args: str, code: int | None = 0) -> str:
    got = main(list(args))
    out = capsys.readouterr()
    if code is not None:
        assert got == code, (args, got, out.out[-600:], out.err[-600:])
    return out.out + out.err


def assert_escaped(text: str) -> None:
    for raw in RAW:
        assert raw not in text, (raw, text)
    assert not any(line.strip() == FORGED.strip() for line in text.splitlines()), text
    assert "\\x1b[2J" in text or "\\u001b[2J" in text  # shown escaped: not hidden


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    where = tmp_path / "home"
    run(capsys, "init", "--home", str(where), "--no-passphrase")
    return where


def _record(tmp_path: Path, **extra: object) -> Path:
    doc = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "valueQuantity": {"value": 64.041, "unit": "kg"},
        **extra,
    }
    path = tmp_path / "o1.json"
    path.write_text(json.dumps(doc))
    return path


def _sd_jwt(capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path) -> str:
    rid = run(capsys, "add", "--home", str(home), str(_record(tmp_path, note=[{"text": EVIL}])))
    rid = rid.split()[0]
    token = tmp_path / "t.sd-jwt"
    run(
        capsys, "--home", str(home), "sd-jwt", "export", rid, "-o", str(token),
        "--field", "/note/0/text", "--field", "/valueQuantity/value",
    )  # fmt: skip
    publisher = json.loads((home / "trust.json").read_text())["publishers"][0]
    out = run(capsys, "sd-jwt", "verify", str(token), "--publisher", publisher)
    assert "field /valueQuantity/value = 64.041" in out  # the decimal as its JSON text
    assert "JSONNumber" not in out
    return out


def _authors_audit(capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path) -> str:
    doctor = LocalSigner.generate(CountingRng(b"escaping doctor"))
    run(capsys, "authors", "add", doctor.address, "--role", "physician", "--home", str(home))
    with Store.open(home) as store:
        store.add([_record(tmp_path).read_bytes()], author=doctor)
        org = store.keys.organisation
    run(capsys, "authors", "revoke", doctor.address, "--purpose", EVIL, "--home", str(home))
    log = tmp_path / "log.jsonl"
    run(capsys, "log", "-o", str(log), "--home", str(home))
    return run(capsys, "authors", "audit", "--log", str(log), "--org", org, code=1)


def _history(capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path) -> str:
    rid = run(capsys, "add", "--home", str(home), str(_record(tmp_path))).split()[0]
    run(capsys, "erase", rid, "--yes", "--purpose", EVIL, "--home", str(home), code=None)
    return run(capsys, "history", rid, "--home", str(home))


def _keyed_add_records_show(capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path) -> str:
    doc = tmp_path / "note.json"
    doc.write_text(json.dumps({"text": EVIL, "\x1b[2J": 1}))
    out = run(capsys, "add", "--key", EVIL, str(doc), "--home", str(home))
    out += run(capsys, "records", "--home", str(home))
    return out + run(capsys, "show", out.split()[0], "--home", str(home))


def _witness(capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path) -> str:
    wdir = tmp_path / "w"
    run(capsys, "witness", "init", "--dir", str(wdir), "--name", "w.example")
    request = tmp_path / "request"
    request.write_text(f"old {EVIL}\n\nx\n")
    return run(capsys, "witness", "add-checkpoint", "--dir", str(wdir), str(request), code=1)


def _verify_fields(capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path) -> str:
    rid = run(capsys, "add", "--home", str(home), str(_record(tmp_path, note=[{"text": EVIL}])))
    bundle = tmp_path / "b.okb"
    run(capsys, "export", rid.split()[0], "--reveal-all", "-o", str(bundle), "--home", str(home))
    return run(capsys, "verify", str(bundle), "--any-author", "--any-publisher", "--show-fields")


def _error_message(capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path) -> str:
    return run(capsys, "show", EVIL, "--home", str(home), code=2)


VERBS: dict[str, Callable[[pytest.CaptureFixture[str], Path, Path], str]] = {
    "sd-jwt verify": _sd_jwt,
    "authors audit": _authors_audit,
    "history": _history,
    "add --key, records, show": _keyed_add_records_show,
    "witness add-checkpoint": _witness,
    "verify --show-fields": _verify_fields,
    "errors": _error_message,
}


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_printing_verb_escapes_what_came_from_outside(
    verb: str, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_escaped(VERBS[verb](capsys, home, tmp_path))


# --- plain refusals of the add verb ---------------------------------------------------------


def test_add_refuses_a_fhir_shaped_key_and_a_non_ascii_version_id(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`add --key Observation/o1 invoice.json` amended the FHIR record; `meta.versionId` "²"
    crashed `add` with a traceback. Both are one-line refusals, exit 2, and log nothing."""
    run(capsys, "add", "--home", str(home), str(_record(tmp_path)))
    invoice = tmp_path / "invoice.json"
    invoice.write_text(json.dumps({"invoice": 7, "total": "12.00"}))
    err = run(capsys, "add", "--key", "Observation/o1", str(invoice), "--home", str(home), code=2)
    assert "shape of a FHIR identity" in err
    listed = run(capsys, "records", "--type", "Observation", "--home", str(home))
    assert "Observation/o1" in listed
    path = _record(tmp_path, meta={"versionId": "\u00b2"})
    err = run(capsys, "add", "--home", str(home), str(path), code=2)
    assert "not a FHIR id" in err
    assert "Traceback" not in err
    with Store.open(home) as store:
        assert store.size == 1
