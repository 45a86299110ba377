"""Who may sign for an organisation: delegation, revocation and publisher key rotation, as a
verifier proves them from the organisation's own log (``docs/identity.md``).

An organisation is identified by the key that opened its log (its *genesis* publisher key);
its log id is ``derive_log_id(genesis)``. Three identity events, signed by the key holding the
log at that point and logged like any other event, change who may sign:

* ``authorise`` gives the author key ``subject`` a ``role`` from ``notBefore`` to ``notAfter``;
* ``deauthorise`` removes ``subject`` from ``notBefore`` on; a compromise is a deauthorisation
  whose ``notBefore`` lies in the past: every event of that key not proven (by its anchor) to
  predate it fails;
* ``handover`` passes the log to the publisher key ``subject``: the old key may sign no
  checkpoint that goes past the handover, the new key signs every later one.

:class:`Authority` is the state of one log, computed once from its identity events (in log
order, with their log indices); checking one event is then a dictionary look-up and a binary
search, so verifying many bundles costs the same as with a pinned author list.
"""

from __future__ import annotations

import bisect
import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from okeios._internal.protocol.events import (
    ZERO_HASH,
    EventKind,
    SignedEvent,
    derive_log_id,
    key_record_id,
)
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.kinds import KEY_KINDS
from okeios._internal.protocol.signing import checksum_address
from okeios._internal.verify.report import Reason
from okeios.errors import IdentityError, OkeiosError

__all__ = [
    "PUBLISHER_ROLE",
    "AuthorCheck",
    "Authorisation",
    "Authority",
    "Deauthorisation",
    "Handover",
    "KeyRecord",
    "affected_events",
]

PUBLISHER_ROLE = "publisher"
"""The role of the key holding the log: it may sign events as an author too."""


def _when(t: int) -> str:
    try:
        return _dt.datetime.fromtimestamp(t, _dt.UTC).isoformat()
    except (OverflowError, ValueError, OSError):
        return str(t)


@dataclass(frozen=True, slots=True)
class Authorisation:
    """One ``authorise`` event: ``key`` may sign as ``role`` from ``not_before`` to
    ``not_after`` (Unix seconds, inclusive), for events logged after ``index``."""

    key: str
    role: str
    not_before: int
    not_after: int
    index: int
    event_id: bytes


@dataclass(frozen=True, slots=True)
class Deauthorisation:
    """One ``deauthorise`` event: the authorisations of ``key`` logged before ``index`` end at
    ``effective`` (events not proven to predate it fail)."""

    key: str
    effective: int
    index: int
    event_id: bytes
    purpose: str


@dataclass(frozen=True, slots=True)
class Handover:
    """The log passes from ``old`` to ``new`` at log index ``index`` (the handover event's)."""

    old: str
    new: str
    effective: int
    index: int
    event_id: bytes


@dataclass(slots=True)
class KeyRecord:
    """Everything a log says about one author key, in log order."""

    key: str
    grants: list[Authorisation] = field(default_factory=list)
    removals: list[Deauthorisation] = field(default_factory=list)
    _grant_index: list[int] = field(default_factory=list)

    def grant_at(self, index: int) -> Authorisation | None:
        """The latest authorisation logged before log index ``index``."""
        i = bisect.bisect_left(self._grant_index, index)
        return self.grants[i - 1] if i else None

    def removal_of(self, grant: Authorisation) -> Deauthorisation | None:
        """The earliest-effective deauthorisation that ends ``grant`` (one logged after it)."""
        found = [r for r in self.removals if r.index > grant.index]
        return min(found, key=lambda r: r.effective) if found else None


@dataclass(frozen=True, slots=True)
class AuthorCheck:
    """The outcome of checking one event's author: ``reason`` is None when it may sign."""

    reason: Reason | None
    detail: str
    role: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


class Authority:
    """The authorisation state of one organisation's log, computed once.

    Build it with :meth:`from_events` from the log's identity events (any other event is
    ignored) with their log indices, in log order. Every identity event must be signed by the
    key holding the log at its index and name the log; anything else raises
    :class:`~okeios.errors.IdentityError` (a log that breaks these rules is not trusted at all).
    """

    def __init__(self, genesis: str) -> None:
        self.genesis = checksum_address(genesis)
        self.log_id = derive_log_id(self.genesis)
        self.keys: dict[str, KeyRecord] = {}
        self.handovers: list[Handover] = []
        self._handover_index: list[int] = []
        self._chain_heads: dict[str, bytes] = {}
        self._publishers: list[str] = [self.genesis]
        self._publisher_set: frozenset[str] = frozenset(self._publishers)
        self.size = 0  # log entries seen (identity events beyond it are unknown)
        self._count = 0  # identity events applied
        # Whether every identity event carries its number (1, 2, ...) among the log's identity
        # events; a log made before numbering repeats 1.
        self.numbered = True
        # Whether these identity events are all those of the first ``size`` entries: true for
        # a state built from the whole log; a key history says (okeios._internal.verify.keyhistory).
        self.complete = True
        self.completeness = "built from every entry of the log"

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def from_events(
        cls, genesis: str, events: Iterable[tuple[int, SignedEvent]], *, size: int | None = None
    ) -> Authority:
        """The state after the identity events among ``events`` (``(log index, event)``
        pairs in increasing index order). ``size`` is how many log entries were examined (by
        default one past the last index given)."""
        authority = cls(genesis)
        last = -1
        for index, signed in events:
            if index <= last:
                raise IdentityError(f"log indices must increase ({index} after {last})")
            last = index
            if signed.event.kind in KEY_KINDS:
                authority._apply(index, signed)
        authority.size = last + 1 if size is None else size
        if authority.size <= last:
            raise IdentityError(f"the log has {authority.size} entries, an event sits at {last}")
        return authority

    def _apply(self, index: int, signed: SignedEvent) -> None:
        event = signed.event
        where = f"identity event {index} ({event.kind})"
        if event.log_id != self.log_id:
            raise IdentityError(f"{where} names another log than {self.genesis}'s")
        try:
            signer = signed.recover()
        except OkeiosError as exc:
            raise IdentityError(f"{where}: {exc}") from exc
        holder = self.publisher_at(index)
        if signer != event.author or signer != holder:
            raise IdentityError(
                f"{where} is signed by {signer}; only the log's publisher key {holder} may "
                "authorise, deauthorise or hand over"
            )
        key = event.subject
        if event.record_id != key_record_id(self.log_id, key):
            raise IdentityError(f"{where} has a record id that is not the key's")
        # A key's identity events form one chain (docs/events.md): an event left out of the
        # middle of a key's history shows as a broken link.
        expected = self._chain_heads.get(key, ZERO_HASH)
        if event.previous != expected:
            raise IdentityError(
                f"{where} links to {to_hex(event.previous)}, but the key's preceding identity "
                f"event is {'none' if expected == ZERO_HASH else to_hex(expected)}: an "
                "identity event of this key is missing"
            )
        self._chain_heads[key] = event.id
        self._count += 1
        if event.version != self._count:
            if event.version != 1:
                raise IdentityError(
                    f"{where} is numbered {event.version}, but it is identity event "
                    f"{self._count} of those shown: an identity event is missing"
                )
            self.numbered = False  # a log made before numbering: every one is 1
        if event.kind is EventKind.HANDOVER:
            if key in self._publisher_set:
                raise IdentityError(f"{where} hands the log to a key that held it already")
            self.handovers.append(Handover(holder, key, event.not_before, index, event.id))
            self._handover_index.append(index)
            self._publishers.append(key)
            self._publisher_set = frozenset(self._publishers)
            return
        if key in self._publisher_set:
            raise IdentityError(f"{where} is about a publisher key, which is not an author key")
        record = self.keys.setdefault(key, KeyRecord(key))
        if event.kind is EventKind.AUTHORISE:
            if not event.role or event.role == PUBLISHER_ROLE:
                raise IdentityError(f"{where} has an empty or reserved role {event.role!r}")
            record.grants.append(
                Authorisation(key, event.role, event.not_before, event.not_after, index, event.id)
            )
            record._grant_index.append(index)
        else:
            if not record.grants:
                raise IdentityError(f"{where} removes a key that was never authorised")
            record.removals.append(
                Deauthorisation(key, event.not_before, index, event.id, event.purpose)
            )

    # -- queries ----------------------------------------------------------------------------

    def publishers(self) -> list[str]:
        """Every key that held the log, in order (the genesis key first)."""
        return list(self._publishers)

    def knows(self, key: str) -> bool:
        """Whether ``key`` (checksummed) is in this log's key history: it held the log, or an
        identity event is about it."""
        return key in self._publisher_set or key in self.keys

    def overrides(self, author: str, check: AuthorCheck) -> bool:
        """Whether the failed ``check`` of ``author`` outranks a policy's explicit list: the
        organisation revoked the key, its authorisation expired, or it is a publisher key used
        after its handover (docs/identity.md section 3)."""
        return check.reason in (Reason.AUTHOR_REVOKED, Reason.AUTHOR_EXPIRED) or (
            check.reason is Reason.AUTHOR_NOT_AUTHORISED and author in self._publisher_set
        )

    def held_the_log(self, key: str) -> bool:
        """Whether ``key`` (checksummed) ever held the log."""
        return key in self._publisher_set

    def publisher_at(self, index: int) -> str:
        """The key holding the log when entry ``index`` is appended (a handover event itself
        is still the old key's)."""
        i = bisect.bisect_left(self._handover_index, index)
        return self.genesis if i == 0 else self.handovers[i - 1].new

    def check_checkpoint(self, publisher: str, tree_size: int) -> str | None:
        """Why ``publisher`` may not sign a checkpoint of ``tree_size`` entries (None if it may).

        A key holds the log from its handover (the genesis key from the start) until it hands
        over: it signs checkpoints whose last entry it appended, its own handover, or the
        handover that gave it the log (that tree may be signed by both keys).
        """
        if publisher not in self._publisher_set:  # a recovered address is checksummed already
            publisher = checksum_address(publisher)
        if publisher not in self._publisher_set:
            return f"{publisher} never held the log of {self.genesis}"
        holder = self.publisher_at(tree_size - 1) if tree_size else self.genesis
        if publisher == holder:
            return None
        at = self._publishers.index(publisher)
        if at > 0 and tree_size == self.handovers[at - 1].index + 1:
            return None  # the tree ending with the handover: the new key may sign it too
        if at < len(self.handovers) and self.handovers[at].index < tree_size - 1:
            return (
                f"{publisher} handed the log over to {self.handovers[at].new} at entry "
                f"{self.handovers[at].index}; it may not sign a tree of {tree_size} entries"
            )
        return f"{publisher} did not hold the log yet at tree size {tree_size}"

    def check_author(
        self,
        author: str,
        *,
        index: int,
        time: int,
        proven_time: int | None,
        roles: frozenset[str] | None = None,
    ) -> AuthorCheck:
        """Whether ``author`` may sign the event at log ``index``, claimed at ``time`` and
        anchored at ``proven_time`` (None when no anchor proves its time: then a revoked or
        expired key fails, since nothing shows the event predates the revocation or expiry).
        ``roles`` restricts the roles accepted (None: any role)."""
        if author not in self.keys and author not in self._publisher_set:
            author = checksum_address(author)  # a recovered address is checksummed already
        holder = self.publisher_at(index)
        if author == holder:
            if roles is not None and PUBLISHER_ROLE not in roles:
                return AuthorCheck(
                    Reason.AUTHOR_ROLE_NOT_TRUSTED, "the publisher key is not a trusted role"
                )
            return AuthorCheck(None, f"{author} held the log (publisher)", PUBLISHER_ROLE)
        if author in self._publisher_set:
            return AuthorCheck(
                Reason.AUTHOR_NOT_AUTHORISED,
                f"{author} held the log before, not when entry {index} was appended",
            )
        if index >= self.size:
            return AuthorCheck(
                Reason.AUTHOR_NOT_AUTHORISED,
                f"entry {index} is past the {self.size} entries the authorisations were read from",
            )
        record = self.keys.get(author)
        grant = record.grant_at(index) if record is not None else None
        if record is None or grant is None:
            return AuthorCheck(
                Reason.AUTHOR_NOT_AUTHORISED,
                f"{author} was not authorised by {self.genesis} before entry {index}",
            )
        removal = record.removal_of(grant)
        latest = time if proven_time is None else max(time, proven_time)
        if removal is not None and (proven_time is None or latest >= removal.effective):
            why = (
                f"the event is anchored {_when(proven_time)}, dated {_when(time)}"
                if proven_time is not None
                else "no anchor proves the event predates it"
            )
            return AuthorCheck(
                Reason.AUTHOR_REVOKED,
                f"{author} was deauthorised from {_when(removal.effective)} (entry "
                f"{removal.index}{', ' + removal.purpose if removal.purpose else ''}); {why}",
                grant.role,
            )
        if time < grant.not_before:
            return AuthorCheck(
                Reason.AUTHOR_NOT_AUTHORISED,
                f"{author} is authorised from {_when(grant.not_before)}; the event claims "
                f"{_when(time)}",
                grant.role,
            )
        if proven_time is not None and proven_time < grant.not_before:
            # anchored before its authorisation began: it existed before then, whatever it claims
            return AuthorCheck(
                Reason.AUTHOR_NOT_AUTHORISED,
                f"{author} is authorised from {_when(grant.not_before)}; the event is anchored "
                f"{_when(proven_time)}, before that (it claims {_when(time)})",
                grant.role,
            )
        if latest > grant.not_after or (proven_time is None and time > grant.not_after):
            return AuthorCheck(
                Reason.AUTHOR_EXPIRED,
                f"{author}'s authorisation as {grant.role} ended {_when(grant.not_after)}; the "
                f"event is {'anchored' if proven_time is not None else 'dated'} {_when(latest)}",
                grant.role,
            )
        if roles is not None and grant.role not in roles:
            return AuthorCheck(
                Reason.AUTHOR_ROLE_NOT_TRUSTED,
                f"{author} signs as {grant.role!r}, which the policy does not trust",
                grant.role,
            )
        tail = "" if proven_time is not None else " (time not proven by an anchor)"
        return AuthorCheck(
            None, f"{author} authorised as {grant.role} by {self.genesis}{tail}", grant.role
        )

    def authors(self, at: int | None = None) -> list[dict[str, object]]:
        """Every author key with its latest authorisation (as of now) and its state at ``at``
        (Unix seconds; default: no time check, only the events)."""
        out: list[dict[str, object]] = []
        for key, record in sorted(self.keys.items()):
            grant = record.grants[-1]
            removal = record.removal_of(grant)
            if removal is not None:
                state = "revoked"
            elif at is not None and at > grant.not_after:
                state = "expired"
            elif at is not None and at < grant.not_before:
                state = "not-yet-valid"
            else:
                state = "authorised"
            row: dict[str, object] = {
                "key": key,
                "role": grant.role,
                "notBefore": grant.not_before,
                "notAfter": grant.not_after,
                "state": state,
                "authorisedAt": grant.index,
            }
            if removal is not None:
                row["revokedFrom"] = removal.effective
                row["revokedAt"] = removal.index
                if removal.purpose:
                    row["purpose"] = removal.purpose
            out.append(row)
        return out


def affected_events(
    authority: Authority,
    events: Iterable[tuple[int, SignedEvent, int | None]],
    key: str,
    *,
    roles: frozenset[str] | None = None,
) -> list[tuple[int, bytes, str, str]]:
    """The audit of a revocation: every event signed by ``key`` (given as ``(log index,
    event, proven time or None)``) that no longer verifies, with its index, id, reason and
    detail."""
    key = checksum_address(key)
    out: list[tuple[int, bytes, str, str]] = []
    for index, signed, proven in events:
        event = signed.event
        if event.author != key or event.kind in KEY_KINDS:
            continue
        check = authority.check_author(
            key, index=index, time=event.time, proven_time=proven, roles=roles
        )
        if not check.ok:
            assert check.reason is not None
            out.append((index, event.id, check.reason, check.detail))
    return out
