"""The kinds table is the one home of per-kind facts: every kind has a row, every derived set
and SQL list follows the table, and writer and reader apply the same chain rules."""

from __future__ import annotations

import dataclasses

import pytest

from okeios._internal.protocol import kinds as k
from okeios._internal.protocol.chainrules import CHAIN_RULES, advance
from okeios._internal.protocol.events import ZERO_HASH, EventKind
from okeios._internal.report.plots import KIND_COLOURS
from okeios._internal.verify.lineage import check_lineage
from okeios._internal.verify.report import Reason
from okeios.errors import EventError, InputError
from tests.helpers import make_publisher


def test_every_kind_has_one_complete_row() -> None:
    assert set(k.KINDS) == set(EventKind)
    for kind, row in k.KINDS.items():
        assert row.kind is kind
        assert row.display
        assert row.colour.startswith("#")
        for f in dataclasses.fields(row):
            assert getattr(row, f.name) is not None or f.name == "data_operation"
    assert set(KIND_COLOURS) == {str(kind) for kind in EventKind}


def test_the_derived_sets_follow_the_table() -> None:
    K = EventKind
    assert {K.CREATE, K.DERIVE} == k.START_KINDS
    assert {K.CREATE, K.AMEND, K.DERIVE} == k.CONTENT_KINDS
    assert {K.AUTHORISE, K.DEAUTHORISE, K.HANDOVER} == k.KEY_KINDS
    assert {K.GRANT, K.REVOKE, K.ACCESS} == k.ACCESS_KINDS
    assert set(EventKind) == k.RECORD_KINDS | k.KEY_KINDS
    assert not k.RECORD_KINDS & k.KEY_KINDS
    assert [s.kind for s in k.KINDS.values() if s.terminal] == [K.ERASE]
    assert [s.kind for s in k.KINDS.values() if s.bumps_version] == [K.AMEND]


def test_sql_lists_are_the_sets_in_table_order() -> None:
    assert k.sql_list(k.START_KINDS) == "('create', 'derive')"
    assert k.sql_list(k.KEY_KINDS) == "('authorise', 'deauthorise', 'handover')"
    with pytest.raises(ValueError, match="at least one"):
        k.sql_list(())


def test_an_unknown_kind_is_refused_by_name() -> None:
    with pytest.raises(EventError, match="unknown event kind 'consent'"):
        k.spec("consent")
    assert k.spec("erase").terminal


def test_the_chain_rules_are_named_by_reasons() -> None:
    assert {
        Reason.BAD_START,
        Reason.AFTER_ERASE,
        Reason.BAD_VERSION,
        Reason.TIME_REVERSED,
    } == CHAIN_RULES


def test_writer_and_reader_refuse_the_same_steps() -> None:
    """The publisher raises where lineage reports, because both ask ``advance``."""
    publisher = make_publisher()
    created = publisher.create(b'{"a": 1}')
    erased = publisher.record_event(EventKind.ERASE, created.signed.event.record_id)
    # the writer: nothing follows an ERASE
    with pytest.raises(InputError, match="terminal"):
        publisher.record_event(
            EventKind.ACCESS, created.signed.event.record_id, subject=publisher.address
        )
    # the reader: the same step, signed by hand, is the same break
    step = dataclasses.replace(
        erased.signed.event,
        kind=EventKind.ACCESS,
        previous=erased.id,
        subject=publisher.address,
    )
    (broken,) = advance(erased.signed.event, step)
    assert broken.rule is Reason.AFTER_ERASE
    defects = check_lineage(
        [(0, created.signed), (1, erased.signed), (2, step.sign(publisher.signer))]
    )
    assert [d.kind for d in defects] == [Reason.AFTER_ERASE]


def test_advance_checks_each_rule() -> None:
    publisher = make_publisher()
    created = publisher.create(b'{"a": 1}').signed.event
    assert advance(None, created) == ()
    (again,) = advance(created, created)
    assert again.rule is Reason.BAD_START
    amend = dataclasses.replace(created, kind=EventKind.AMEND, previous=created.id, version=3)
    assert [s.rule for s in advance(created, amend)] == [Reason.BAD_VERSION]
    early = dataclasses.replace(amend, version=2, time=created.time - 1)
    assert [s.rule for s in advance(created, early)] == [Reason.TIME_REVERSED]
    assert advance(created, early, tolerance=1) == ()
    orphan = dataclasses.replace(amend, version=2)
    assert [s.rule for s in advance(None, orphan)] == [Reason.BAD_START]
    other = dataclasses.replace(created, record_id=bytes(32), previous=ZERO_HASH)
    stranger = dataclasses.replace(orphan, record_id=bytes(32))
    assert other.record_id == stranger.record_id
    assert [s.rule for s in advance(created, stranger)] == [Reason.BAD_START]
    with pytest.raises(ValueError, match="at least 0"):
        advance(created, orphan, tolerance=-1)
