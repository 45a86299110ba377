"""What the report sections compute, on hand-made event sequences: the consent view, reads
under a grant, and erasure certificates that expose anything logged after an erasure."""

from __future__ import annotations

import re

import pytest

from okeios._internal.protocol.events import ZERO_HASH, Event, EventKind, SignedEvent
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.report import model, record_html
from okeios._internal.report.html import DEFECT_WORDS, defect_rows, render
from okeios.errors import InputError
from tests.helpers import CountingRng

AUTHOR = LocalSigner.from_key(CountingRng(b"report-model-author")(32))
LOG = b"\x07" * 32
T0 = 1_767_000_000  # 2025-12-29T09:20:00+00:00
ALICE = LocalSigner.from_key(CountingRng(b"alice")(32)).address
BOB = LocalSigner.from_key(CountingRng(b"bob")(32)).address


def _chain(record: bytes, steps: list[tuple[EventKind, str, str]]) -> list[tuple[int, SignedEvent]]:
    """Signed events of one record, in order: ``(kind, subject, purpose)``."""
    out: list[tuple[int, SignedEvent]] = []
    previous, version = ZERO_HASH, 1
    for n, (kind, subject, purpose) in enumerate(steps):
        if kind is EventKind.AMEND:
            version += 1
        extra = {"subject": subject} if subject else {}
        event = Event(
            kind=kind,
            log_id=LOG,
            record_id=record,
            version=version,
            previous=previous,
            commitment=bytes([n + 1]) * 32,
            ciphertext_digest=b"\x02" * 32,
            author=AUTHOR.address,
            time=T0 + 60 * n,
            purpose=purpose,
            **extra,
        )
        signed = event.sign(AUTHOR)
        out.append((n, signed))
        previous = signed.id
    return out


RECORD = b"\x0a" * 32


def test_reads_consent_and_erasure() -> None:
    events = _chain(
        RECORD,
        [
            (EventKind.CREATE, "", ""),
            (EventKind.ACCESS, BOB, "treatment"),  # staff read, no grant
            (EventKind.GRANT, ALICE, "study"),
            (EventKind.ACCESS, ALICE, "study"),  # under the grant
            (EventKind.REVOKE, ALICE, "study closed"),
            (EventKind.ACCESS, ALICE, "study"),  # after revocation: no grant
            (EventKind.GRANT, BOB, "second opinion"),
            (EventKind.ERASE, "", "patient request"),
        ],
    )
    reads = model.access_rows(events)
    assert [(r.reader, r.under_grant) for r in reads] == [
        (BOB, False),
        (ALICE, True),
        (ALICE, False),
    ]
    assert reads[0].time == "2025-12-29T09:21:00+00:00"
    consent = model.consent_view(events)
    assert [c.kind for c in consent.changes] == ["grant", "revoke", "grant"]
    assert consent.active == {}  # Alice revoked, Bob's grant ended by the erasure
    assert consent.ended_by_erasure == 1
    timeline = [
        {"treeSize": 4, "block": 9, "time": T0},
        {"treeSize": 8, "block": 12, "time": T0 + 900},
    ]
    [cert] = model.erasure_certificates(events, timeline)
    assert cert.clean
    assert (cert.anchored_block, cert.anchored_size) == (12, 8)
    assert cert.anchored_time == "2025-12-29T09:35:00+00:00"
    summary = model.reader_summaries(reads)
    assert [(s.reader, s.reads, s.records) for s in summary] == [(ALICE, 2, 1), (BOB, 1, 1)]


def test_anything_after_an_erasure_is_shown() -> None:
    """An attacker who keeps reading (or re-grants) after an erasure is named, in red."""
    events = _chain(
        RECORD,
        [
            (EventKind.CREATE, "", ""),
            (EventKind.ERASE, "", "patient request"),
            (EventKind.GRANT, ALICE, "resale"),
            (EventKind.ACCESS, ALICE, "resale"),
        ],
    )
    [cert] = model.erasure_certificates(events)
    assert not cert.clean
    assert cert.after == ("grant at index 2", "access at index 3")
    assert cert.anchored_block is None  # no anchor given: "not anchored yet"
    assert [g.recipient for gs in model.consent_view(events).active.values() for g in gs] == [ALICE]
    page = record_html(events)
    assert '<span class="bad">grant at index 2, access at index 3</span>' in page
    assert "not anchored yet" in page
    assert "NOT CHECKED" in page  # no lineage verdict was given
    assert not re.search(r"\bNone\b", page)


def test_an_empty_history_is_refused() -> None:
    with pytest.raises(InputError):
        record_html([])


def test_defects_are_explained_and_unknown_kinds_still_shown() -> None:
    rows = defect_rows(
        [
            {"kind": "missing-entry", "index": 4, "detail": "gap", "record": "0x" + "ab" * 32},
            {"kind": "a-kind-renamed-later", "index": None, "detail": "", "record": None},
        ]
    )
    assert rows[1]["kind"] == "a-kind-renamed-later"
    assert "removed" in DEFECT_WORDS["missing-entry"]
    context = {
        "result": "fail",
        "publisher": None,
        "log_id": "0x" + "cd" * 32,
        "chain_id": None,
        "registry": None,
        "source": None,
        "chain_checked": False,
        "events_period": model.Period(None, None),
        "anchors_period": model.Period(None, None),
        "counts": {"entries": 0, "records": 0, "anchors": 0, "checkpoints": 0, "defects": 2},
        "by_kind": {},
        "defect_counts": {"missing-entry": 1, "a-kind-renamed-later": 1},
        "defects": rows,
        "anchors": [],
        "timeline_svg": "<svg></svg>",
        "events_svg": "<svg></svg>",
        "access": [],
        "readers": [],
        "consent": model.ConsentView(),
        "erasures": [],
        "row_limit": 10,
        "chain_url": None,
        "log_sha256": "00" * 32,
        "touched": {4},
        "labels": {},
    }
    page = render("audit.html.j2", context)
    assert "Defect “a-kind-renamed-later”." in page
    assert "whole log" in page
    assert "not checked (the chain was not read)" in page
    assert not re.search(r"\bNone\b", page)
