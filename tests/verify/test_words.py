"""Every failure reason has its words and its property: the table is total, and nothing in it
names a reason that does not exist."""

from __future__ import annotations

from okeios._internal.report.html import DEFECT_WORDS
from okeios._internal.verify.report import Property, Reason
from okeios._internal.verify.words import REASON_PROPERTY, REASON_WORDS, words


def test_every_reason_has_words_and_a_property() -> None:
    missing = sorted(str(r) for r in Reason if r not in REASON_WORDS)
    assert missing == [], f"reasons without words: {missing}"
    assert set(REASON_PROPERTY) == set(Reason)
    for reason, text in REASON_WORDS.items():
        assert text.endswith("."), reason
        assert str(reason) not in text, f"{reason}: say what it means, not its name"
    assert all(isinstance(p, Property) for p in REASON_PROPERTY.values())


def test_the_report_words_are_the_reason_table() -> None:
    assert set(DEFECT_WORDS) == {str(r) for r in Reason}
    assert words("after-erase") == REASON_WORDS[Reason.AFTER_ERASE]
    assert words(Reason.FORK) == REASON_WORDS[Reason.FORK]
    assert words("no-such-reason") == "Defect “no-such-reason”."
