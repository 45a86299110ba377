"""The identity audit of a whole published log (``okeios authors audit``): the authorisation
state computed from every entry, so it is complete by construction, and every event's author
checked against it at the event's proven time (``docs/identity.md``, section 7).

It also checks the rotation on chain: every anchor of every key that held the log is the root
of the log file's first entries (one history across the keys), and no key anchored past its
handover.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from okeios._internal.protocol.anchors import AnchorEntry
from okeios._internal.protocol.events import KEY_KINDS, derive_log_id
from okeios._internal.protocol.logfile import read_log
from okeios._internal.protocol.merkle import MerkleLog
from okeios._internal.protocol.signing import checksum_address
from okeios._internal.verify.audit import AnchorSource
from okeios._internal.verify.finding import Finding
from okeios._internal.verify.identity import Authority
from okeios._internal.verify.report import Reason
from okeios.errors import ChainError, IdentityError

__all__ = ["IdentityAudit", "audit_identity"]


@dataclass
class IdentityAudit:
    """What the identity audit found: one :class:`Finding` per event that fails, per bad anchor."""

    organisation: str
    publishers: list[str]
    authors: list[dict[str, object]]
    events: int = 0
    findings: list[Finding] = field(default_factory=list)
    chain_checked: bool = False

    @property
    def passed(self) -> bool:
        return not self.findings

    def affected(self, key: str) -> list[Finding]:
        """The findings about events signed by ``key`` (what its revocation invalidates)."""
        key = checksum_address(key)
        return [f for f in self.findings if f.author == key]

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": "pass" if self.passed else "fail",
            "organisation": self.organisation,
            "publishers": self.publishers,
            "authors": self.authors,
            "events": self.events,
            "chainChecked": self.chain_checked,
            "findings": [f.to_dict() for f in self.findings],
        }


def audit_identity(
    lines: Iterable[str], *, organisation: str, chain: AnchorSource | None, at: int | None = None
) -> IdentityAudit:
    """Audit the identity of every entry of a published log file of ``organisation`` (its
    genesis key); read each key's anchors from ``chain`` (None: times are not proven, so every
    event of a revoked or expired key is reported)."""
    parsed = read_log(lines)
    org = checksum_address(organisation)
    log_id = derive_log_id(org)
    if parsed.log_id != log_id:
        raise IdentityError(f"the log file is not the log of {org}")
    entries = [(i, s) for i, (_, s, _) in enumerate(parsed.entries) if s is not None]
    if len(entries) != len(parsed.entries):
        raise IdentityError("the log file has malformed entries: run okeios audit first")
    authority = Authority.from_events(org, entries, size=len(parsed.entries))
    report = IdentityAudit(org, authority.publishers(), authority.authors(at))

    log = MerkleLog()
    for _, signed in entries:
        log.append(signed.leaf_data())
    anchors: list[AnchorEntry] = []
    if chain is not None:
        report.chain_checked = True
        for key in authority.publishers():
            try:
                mine = chain.anchors(key, log_id)
            except ChainError as exc:
                raise IdentityError(f"the chain could not be read: {exc}") from exc
            last = _last_entry(authority, key)
            for a in mine:
                if a.tree_size > log.size or log.root(a.tree_size) != a.root:
                    report.findings.append(
                        Finding(
                            Reason.HISTORY_MISMATCH,
                            None,
                            f"{key}'s anchor of {a.tree_size} entries (block "
                            f"{a.block_number}) is not this log's history",
                            publisher=key,
                        )
                    )
                if last is not None and a.tree_size > last + 1:
                    report.findings.append(
                        Finding(
                            Reason.PUBLISHER_RETIRED,
                            None,
                            f"{key} handed the log over at entry {last} but anchored "
                            f"{a.tree_size} entries in block {a.block_number}",
                            publisher=key,
                        )
                    )
            anchors.extend(mine)
    anchors.sort(key=lambda a: (a.tree_size, a.timestamp))
    sizes = [a.tree_size for a in anchors]
    for index, signed in entries:
        event = signed.event
        if event.kind in KEY_KINDS:
            continue
        report.events += 1
        at_anchor = bisect.bisect_right(sizes, index)
        proven = min((a.timestamp for a in anchors[at_anchor:]), default=None)
        check = authority.check_author(
            event.author, index=index, time=event.time, proven_time=proven
        )
        if check.reason is not None:
            report.findings.append(
                Finding(
                    check.reason,
                    index,
                    check.detail,
                    record_id=event.record_id,
                    event_id=event.id,
                    author=event.author,
                )
            )
    return report


def _last_entry(authority: Authority, key: str) -> int | None:
    """The index of ``key``'s handover, if it handed the log over."""
    for h in authority.handovers:
        if h.old == key:
            return h.index
    return None
