"""What names a record is read once, at the edge (issue 21): the command line and
:class:`okeios.service.Okeios` parse the text they are given into a typed reference; the store
takes typed values, and an id in another spelling is refused there, saying what was expected,
never folded into the id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from okeios._internal.cli.main import main
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.publish.store import Store
from okeios.errors import AccessError, InputError
from okeios.service import (
    EventId,
    EventOrRecordId,
    Okeios,
    RecordId,
    ResourceKey,
    content_event,
    content_event_id,
)
from tests.helpers import CountingRng

OBS: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "hba1c-77",
    "status": "preliminary",
    "valueQuantity": {"value": 6.1, "unit": "%"},
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.init(tmp_path / "home", key=CountingRng(b"publisher")(32)) as s:
        yield s


def test_the_store_refuses_another_spelling_of_an_id(store: Store) -> None:
    """``find_event`` read ids with ``any_case=True, prefix=False``: ``0xABC…`` and bare hex
    named the record too, so one record had many spellings. Now the one spelling only, and
    the refusal gives it."""
    (put,) = store.put([OBS])
    rid = to_hex(put.record_id)
    assert store.find_event(rid).record_id == put.record_id
    with pytest.raises(InputError, match=f"written in lower case: {rid}"):
        store.find_event("0x" + rid[2:].upper())
    with pytest.raises(InputError, match=f"did you mean {rid}"):
        store.find_event(rid[2:])
    with pytest.raises(InputError, match="31 bytes, not 32"):
        store.show(rid[:-2])


def test_a_typed_id_finds_only_what_it_names(store: Store) -> None:
    (put,) = store.put([OBS])
    first = store.find_event("Observation/hba1c-77")
    amended = store.amend(RecordId(put.record_id), {**OBS, "status": "final"})
    assert store.find_event(RecordId(put.record_id)).id == amended.id  # the record's head
    assert store.find_event(EventId(first.id)).id == first.id  # that event, not the head
    assert store.find_event(EventOrRecordId(first.id)).id == first.id
    assert store.find_event(EventOrRecordId(put.record_id)).id == amended.id
    assert store.find_event(ResourceKey("Observation/hba1c-77")).id == amended.id
    with pytest.raises(InputError, match=f"no record {to_hex(first.id)} in this store"):
        store.find_event(RecordId(first.id))  # an event's id is not a record's
    with pytest.raises(InputError, match=f"no event {to_hex(put.record_id)} in this store"):
        store.find_event(EventId(put.record_id))
    with pytest.raises(InputError, match="no record of Observation/other in this store"):
        store.find_event("Observation/other")


def test_an_erased_record_is_named_in_its_one_spelling(store: Store) -> None:
    """The refusal named the record by bare hex (``record ab12… was erased``), a spelling
    no command takes; it now gives the id as the commands take it."""
    (put,) = store.put([OBS])
    store.access.erase(RecordId(put.record_id))
    with pytest.raises(AccessError, match=f"record {to_hex(put.record_id)} was erased"):
        store.access.share(RecordId(put.record_id), "0x" + "11" * 20)
    with pytest.raises(AccessError, match=f"record {to_hex(put.record_id)} was erased already"):
        store.access.erase(to_hex(put.record_id))


def test_the_service_takes_text_or_a_typed_reference(tmp_path: Path) -> None:
    with Okeios.open(tmp_path / "home", create=True) as ok:
        (put,) = ok.add([OBS])
        assert put.event is not None
        event_id = put.event.id
        rid = to_hex(put.record_id)
        by_text = ok.show(rid)
        assert ok.show(RecordId(put.record_id)) == by_text
        assert ok.show("Observation/hba1c-77") == by_text
        assert ok.show(ResourceKey("Observation/hba1c-77")) == by_text
        (entry,) = ok.history(RecordId(put.record_id))
        assert entry.event == to_hex(event_id)
        assert ok.export(EventId(event_id)).event.id == event_id
        assert [b.event.id for b in ok.bundles(rid)] == [event_id]
        cited, unanchored = content_event_id(ok.store, rid)
        assert cited == EventId(event_id)
        assert content_event(ok.store, rid) == (str(cited), unanchored)  # text, as before
        with pytest.raises(InputError, match="did you mean"):
            ok.show(rid[2:])
        with pytest.raises(InputError, match="lower case"):
            ok.disclose("0X" + rid[2:], ["/status"])
        with pytest.raises(InputError, match="a source"):
            ok.derive({"note": 1}, [rid, "nonsense"])


def test_the_command_line_reads_the_record_before_opening_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped id is reported as such, even before a store (or its passphrase) is asked
    for; the JSON error says what was expected."""
    absent = str(tmp_path / "no-home")
    bad = "0x" + "AB" * 32
    for verb in ("show", "history", "export", "fhir", "erase"):
        code = main([verb, bad, "--home", absent, "--json", *(["--yes"] * (verb == "erase"))])
        out = json.loads(capsys.readouterr().out)
        assert code == 2, verb
        assert out["error"] == "InputError", verb
        assert "64 lower-case hex digits" in out["message"], verb
        assert "0x" + "ab" * 32 in out["message"], verb


def test_the_command_line_echoes_the_record_as_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path / "home")
    assert main(["init", "--home", home, "--no-passphrase"]) == 0
    capsys.readouterr()
    (tmp_path / "obs.json").write_text(json.dumps(OBS))
    assert main(["add", str(tmp_path / "obs.json"), "--home", home, "--json"]) == 0
    (added,) = json.loads(capsys.readouterr().out)["results"]
    for name in ("Observation/hba1c-77", added["record"], added["event"]):
        assert main(["history", name, "--home", home, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["record"] == name
