"""The normative spec (``docs/spec/``) stands apart from the code: no page names a code path
(code cites the spec, never the reverse), and every page has the shape of a spec page: a
versioned name, a worked example first, a conventions paragraph with the BCP 14 keywords, and
numbered rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "docs" / "spec"
PAGES = sorted(SPEC.glob("*.md"))
#: The package's own modules and subpackages: ``okeios/<one of these>`` is a code path, while
#: ``okeios/log/v2`` (a domain-separation tag) or ``okeios/log.json`` (a published file) is not.
#: The private layers under ``okeios/_internal/`` count too, by their own names.
MODULES = sorted(
    p.stem if p.suffix == ".py" else p.name
    for folder in (ROOT / "okeios", ROOT / "okeios" / "_internal")
    for p in folder.iterdir()
    if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))
    and p.name != "__init__.py"
)


def code_paths(text: str) -> list[str]:
    """The code paths a page names: ``.py`` files, ``okeios/<module>`` and ``okeios.<module>``."""
    modules = "|".join(re.escape(m) for m in MODULES)
    found = re.findall(r"[\w/.-]*\.py\b", text)
    found += re.findall(rf"\bokeios[/.](?:{modules})\b[\w/.]*", text)
    return found


def test_the_module_list_is_the_package() -> None:
    assert {
        "_internal",
        "protocol",
        "verify",
        "publish",
        "crypto",
        "chain",
        "cli",
        "errors",
    } <= set(MODULES)


def test_code_paths_are_found() -> None:
    assert (
        code_paths("see `okeios/_internal/protocol/bundle.py`")
        == ["okeios/_internal/protocol/bundle.py"] * 2
    )
    assert code_paths("okeios/_internal/verify and okeios._internal.verify.report") == [
        "okeios/_internal/verify",
        "okeios._internal.verify.report",
    ]
    assert code_paths("scripts/make.py") == ["scripts/make.py"]
    assert code_paths('"okeios/log/v2" and okeios/log.json and okeios/checkpoint.json') == []


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_no_spec_page_names_a_code_path(page: Path) -> None:
    assert code_paths(page.read_text(encoding="utf-8")) == []


SPEC_PAGES = [p for p in PAGES if p.name != "README.md"]


@pytest.mark.parametrize("page", SPEC_PAGES, ids=[p.name for p in SPEC_PAGES])
def test_every_page_is_shaped_as_a_spec(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    title = text.splitlines()[0]
    assert title.startswith("# okeios "), title
    assert re.search(r"\bversion \d+\b", title), title
    sections = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert sections[:2] == ["Example", "Conventions"], sections
    conventions = text.split("## Conventions", 1)[1].split("\n## ", 1)[0]
    assert "BCP 14" in conventions
    assert all(k in conventions for k in ('"MUST"', '"SHOULD"', '"MAY"'))
    body = text.split("## Conventions", 1)[1]
    rules = [int(n) for n in re.findall(r"^(\d+)\. ", body, re.MULTILINE)]
    assert rules, "numbered rules"
    assert rules == list(range(1, len(rules) + 1)), rules
    assert "MUST" in text.split("## Conventions", 1)[1].split("\n## ", 1)[1]


def test_the_index_lists_every_page() -> None:
    index = (SPEC / "README.md").read_text(encoding="utf-8")
    for page in SPEC_PAGES:
        assert f"]({page.name})" in index, page.name


def test_the_fhir_example_holds() -> None:
    """docs/spec/fhir.md's worked example: the full URL of a Bundle entry is the UUID v5 of
    ``urn:okeios:event:<type>/<id>`` in the RFC 9562 URL namespace."""
    from okeios._internal.report.fhir import history_bundle

    event = "beaa2d7db9408e86eb19968395b3969a79a7bfc4c99d588b1e1fa4938714f7d9"
    bundle = history_bundle([{"resourceType": "Provenance", "id": event}])
    url = "urn:uuid:e0d43948-a8c0-52b7-9b43-8811d5f8eb24"
    assert bundle["entry"][0]["fullUrl"] == url
    text = (SPEC / "fhir.md").read_text(encoding="utf-8")
    assert url in text
    assert "6ba7b811-9dad-11d1-80b4-00c04fd430c8" in text


def test_the_log_example_holds() -> None:
    """docs/spec/log.md's worked example: the bound log id, the note text, the vkey and the
    note-key binding's digest, recomputed from the pinned vector keys."""
    import hashlib
    import json

    from okeios._internal.protocol.note import NoteCheckpoint, NoteKeyBinding
    from okeios._internal.protocol.signing import LocalSigner
    from okeios._internal.publish.tiles import note_signer

    vectors = json.loads((ROOT / "tests" / "vectors" / "okeios-v2.json").read_text())
    key = bytes.fromhex(vectors["publisherKey"])
    signer = LocalSigner.from_key(key)
    log_id = hashlib.sha256(b"okeios/log/v2\x00" + bytes.fromhex(signer.address[2:])).digest()
    assert log_id.hex() == vectors["logId"]
    origin = "okeios/0x" + log_id.hex()
    note_key = note_signer(signer, log_id)
    text = (SPEC / "log.md").read_text(encoding="utf-8")
    cp = vectors["checkpoint"]
    note = NoteCheckpoint(origin, cp["treeSize"], bytes.fromhex(cp["root"][2:])).text()
    assert note.splitlines()[2] in text
    assert note_key.vkey().split("+", 1)[1] in text
    binding = NoteKeyBinding.sign(signer, log_id, note_key.vkey())
    assert binding.signature.hex()[:8] in text


def test_the_commitment_event_and_bundle_examples_are_the_pinned_vectors() -> None:
    """The values the worked examples of commitments.md, events.md and bundle.md quote are the
    pinned ones of ``tests/vectors/okeios-v2.json`` (which the library reproduces)."""
    import json

    vectors = json.loads((ROOT / "tests" / "vectors" / "okeios-v2.json").read_text())
    [field] = [f for f in vectors["fields"] if f["pointer"] == "/code/coding/0/code"]
    commitments = (SPEC / "commitments.md").read_text(encoding="utf-8")
    for value in (vectors["seed"], field["salt"], field["digest"], vectors["commitment"]):
        assert value in commitments
    events = (SPEC / "events.md").read_text(encoding="utf-8")
    for value in (vectors["eventId"], vectors["logId"], vectors["author"]):
        assert value in events
    bundle = (SPEC / "bundle.md").read_text(encoding="utf-8")
    assert f"{len(vectors['bundle']) // 2:,} bytes" in bundle
    assert vectors["bundle"][:16] == "894f4b45494f5302"
