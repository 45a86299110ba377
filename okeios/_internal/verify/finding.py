"""One finding shape for every whole-log check: the audit of a log file, the lineage of its
records, the tiles auditor and the identity audit all report :class:`Finding` values.

A finding names its :class:`~okeios._internal.protocol.reasons.Reason` (so the words and the
property come from :mod:`okeios._internal.verify.words`), where it was found (a log index, or
None for the log as a whole), the evidence in words, and the ids it concerns when it concerns
some: the record, the event, the author or the publisher key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.reasons import Reason

__all__ = ["Finding"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a whole-log check found wrong.

    ``index`` is the log index of the entry at fault (None: the log as a whole, its anchors
    or its checkpoint); ``since`` the earliest index the fault can have disturbed, when that
    is before ``index`` (a missing entry belongs somewhere before the entry that names it)."""

    kind: Reason
    index: int | None
    detail: str
    record_id: bytes | None = None
    since: int | None = None
    event_id: bytes | None = None
    author: str | None = None
    publisher: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``kind``, ``index``, ``detail`` and ``record`` always, and
        ``since``, ``event``, ``author``, ``publisher`` when the finding has them."""
        out: dict[str, Any] = {
            "kind": str(self.kind),
            "index": self.index,
            "detail": self.detail,
            "record": None if self.record_id is None else to_hex(self.record_id),
        }
        if self.since is not None:
            out["since"] = self.since
        if self.event_id is not None:
            out["event"] = to_hex(self.event_id)
        if self.author is not None:
            out["author"] = self.author
        if self.publisher is not None:
            out["publisher"] = self.publisher
        return out
