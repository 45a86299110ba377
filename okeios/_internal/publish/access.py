"""Who may read a record: grants (HPKE-wrapped data keys and shares), revocations, access
receipts and erasure, each one transaction that logs its signed event and updates the grants
and versions it concerns (``docs/confidentiality.md``). A store's :class:`Access` part, reached
as ``store.access``, handed what it uses of the store's unit of work (:class:`AccessUnit`) and
its records (a share carries a bundle)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Protocol

from okeios._internal.crypto.recipients import RecipientBinding, wrap_data_key
from okeios._internal.crypto.share import Share, grant_info, seal_seed
from okeios._internal.protocol.events import EventKind
from okeios._internal.protocol.hexcodec import from_hex, to_hex
from okeios._internal.protocol.ids import EventId, RecordId, RecordRef
from okeios._internal.protocol.signing import checksum_address
from okeios._internal.publish import erasure
from okeios._internal.publish.erasure import ERASE_WAIT, ErasureUnit
from okeios._internal.publish.publisher import LoggedEvent
from okeios._internal.publish.records import RecordLookup
from okeios._internal.publish.tables import StoreError
from okeios.errors import AccessError

if TYPE_CHECKING:
    from collections.abc import Callable

    from okeios._internal.publish.identity import Identities
    from okeios._internal.publish.publisher import Publisher
    from okeios._internal.publish.records import Records
    from okeios._internal.publish.tables import Events, Grants
    from okeios._internal.publish.versions import SealedVersions

__all__ = ["Access", "AccessUnit"]


class AccessUnit(ErasureUnit, RecordLookup, Protocol):
    """What the access part uses of a store's unit of work
    (:class:`~okeios._internal.publish.unit.Unit` satisfies it): erasure's
    (:class:`~okeios._internal.publish.erasure.ErasureUnit`), finding records
    (:class:`~okeios._internal.publish.records.RecordLookup`), the publisher, the tables of
    events, grants, versions and resources, and randomness."""

    @property
    def events(self) -> Events: ...
    @property
    def grants(self) -> Grants: ...
    @property
    def versions(self) -> SealedVersions: ...
    @property
    def identities(self) -> Identities: ...
    @property
    def publisher(self) -> Publisher: ...
    @property
    def rng(self) -> Callable[[int], bytes]: ...


_UNDELIVERED = "undelivered/"  # meta keys of GRANTs whose share file was not written yet


class Access:
    """Grants, shares, revocations, access receipts and erasure of one store's records.

    Each write is one transaction of the store that logs its signed event (through the
    store's publisher) and updates the grants and versions it concerns.
    """

    def __init__(self, unit: AccessUnit, records: Records) -> None:
        self._unit = unit
        self._records = records  # a share carries the bundle of the version's content event
        self.resumed = False  # the last grant() returned the share of an earlier GRANT
        self.last_purge: erasure.PurgeResult | None = None

    def grant(
        self,
        ident: RecordRef | str,
        binding: RecipientBinding,
        *,
        purpose: str = "",
        deliver: str | None = None,
    ) -> Share:
        """Give a recipient access to a record's current version; log a signed GRANT event.

        The binding (the recipient's public key, signed by its address) is checked first; the
        version's data key is HPKE-wrapped to it.

        ``deliver`` names where the caller will write the share (``okeios grant -o FILE``):
        the GRANT is then remembered as *undelivered*, in the same transaction, until the
        caller calls :meth:`delivered`. A process killed in between leaves a grant that
        :func:`~okeios._internal.publish.check.check_store` reports, and calling ``grant`` again
        with ``deliver`` for the same recipient and version logs nothing new: it returns the share
        of the GRANT logged before, so the caller finishes the job.
        """
        unit = self._unit
        owner = binding.verify()
        with unit.transaction():
            record_id = unit.record_id_of(ident)
            version = unit.latest_version(record_id)
            _, data_key, _ = unit.versions.secrets(record_id, version)  # AccessError if erased
            marker = _UNDELIVERED + f"{record_id.hex()}/{owner}"
            earlier = unit.meta.get(marker) if deliver is not None else None
            if earlier is not None and json.loads(earlier).get("version") == version:
                self.resumed = True
                return self.share(RecordId(record_id), owner)
            self.resumed = False
            wrapped = wrap_data_key(data_key, binding, info=grant_info(record_id, version))
            unit.grants.add_recipient(owner, binding.to_json())
            logged = unit.publisher.record_event(
                EventKind.GRANT, record_id, subject=owner, purpose=purpose
            )
            unit.grants.add(record_id, version, owner, wrapped, logged.id)
            if deliver is not None:
                unit.meta.set(
                    marker,
                    json.dumps({"event": logged.id.hex(), "version": version, "to": deliver}),
                )
        return self.share(RecordId(record_id), owner)

    def delivered(self, ident: RecordRef | str, recipient: str) -> None:
        """The share of a GRANT made with ``deliver`` was written: forget it as undelivered."""
        unit = self._unit
        record_id = unit.record_id_of(ident)
        with unit.transaction():
            unit.db.execute(
                "DELETE FROM meta WHERE key = ?",
                (_UNDELIVERED + f"{record_id.hex()}/{checksum_address(recipient)}",),
            )

    def undelivered(self) -> list[tuple[bytes, str, bytes, str]]:
        """GRANTs whose share was never written: (record id, recipient, event id, where)."""
        out = []
        for key, value in self._unit.db.execute(
            "SELECT key, value FROM meta WHERE key >= ? AND key < ? ORDER BY key",
            (_UNDELIVERED, _UNDELIVERED[:-1] + chr(ord(_UNDELIVERED[-1]) + 1)),
        ):
            record_hex, _, recipient = str(key)[len(_UNDELIVERED) :].partition("/")
            info = json.loads(str(value))
            out.append(
                (
                    from_hex(record_hex, "a record id", prefix=False, error=StoreError),
                    recipient,
                    from_hex(info["event"], "an event id", prefix=False, error=StoreError),
                    info["to"],
                )
            )
        return out

    def share(self, ident: RecordRef | str, recipient: str) -> Share:
        """The share of a record's current version for a recipient with an active grant."""
        unit = self._unit
        record_id = unit.record_id_of(ident)
        address = checksum_address(recipient)
        version = unit.latest_version(record_id)
        if unit.is_erased(record_id):
            raise AccessError(f"record {to_hex(record_id)} was erased")
        grant = unit.grants.latest(record_id, version, address)
        if grant is None:
            raise AccessError(f"{address} was never granted version {version} of this record")
        wrapped, revoked = grant
        if revoked or wrapped is None:
            raise AccessError(f"{address}'s access to this record was revoked")
        stored = unit.grants.binding(address)
        if stored is None:  # pragma: no cover - a grant always stores its binding
            raise StoreError(f"no binding stored for {address}")
        binding = RecipientBinding.from_json(stored)
        sealed, data_key, seed = unit.versions.secrets(record_id, version)
        content = unit.events.content_event(record_id, version)
        if content is None:  # pragma: no cover - every version has its content event
            raise StoreError(f"no content event for version {version}")
        return Share(
            recipient=address,
            suite=str(binding.suite),
            wrapped_key=wrapped,
            payload=sealed,
            seed=seal_seed(data_key, seed, record_id, version, unit.rng),
            bundle=self._records.export(EventId(content), fields=[]),
        )

    def revoke(self, ident: RecordRef | str, recipient: str, *, purpose: str = "") -> LoggedEvent:
        """Stop a recipient's access to a record; log a signed REVOKE event.

        Their wrapped keys are deleted; the next version of the record gets a new data key
        anyway, so nothing they kept opens it.
        """
        unit = self._unit
        address = checksum_address(recipient)
        with unit.transaction():
            record_id = unit.record_id_of(ident)
            if not unit.grants.active(record_id, address):
                raise AccessError(f"{address} has no access to revoke on this record")
            logged = unit.publisher.record_event(
                EventKind.REVOKE, record_id, subject=address, purpose=purpose
            )
            unit.grants.revoke(record_id, address, logged.id)
        return logged

    def erase(
        self, ident: RecordRef | str, *, purpose: str = "", wait: float = ERASE_WAIT
    ) -> LoggedEvent:
        """Crypto-shred a record: destroy every version's data key and seed, every wrapped
        key and its private resource identity, then log a signed ERASE event. The ciphertext
        and the salted digests stay: they reveal nothing, and every event still verifies.

        Then purge and verify (:mod:`okeios._internal.publish.erasure`): the erased bytes must be
        gone from the store's live files. When that cannot be done yet (readers hold old pages for
        more than ``wait`` seconds, the disk is full, the server was lost) it raises
        :class:`~okeios._internal.publish.erasure.ErasurePendingError`; calling ``erase`` again for
        the same record finishes the job (and returns the ERASE event logged the first time). A
        record erased and verified already is an :class:`~okeios.errors.AccessError`.
        ``self.last_purge`` says how the last purge was verified.
        """
        unit = self._unit
        erasure.pg_refuse_without_rights(unit)  # before anything is logged
        with unit.transaction():
            record_id = unit.record_id_of(ident)
            if unit.is_erased(record_id):
                found = erasure.pending(unit, record_id)
                if found is None:
                    raise AccessError(f"record {to_hex(record_id)} was erased already")
                logged = unit.publisher.event(found[0])
            else:
                secrets = erasure.secret_blobs(unit, record_id)
                logged = unit.publisher.record_event(EventKind.ERASE, record_id, purpose=purpose)
                unit.versions.rows.erase(record_id)
                unit.grants.erase(record_id)
                unit.identities.forget(record_id)
                erasure.mark_pending(unit, record_id, logged.id, secrets)
        self.last_purge = erasure.purge(unit, record_id, wait=wait)
        return logged

    def receipt(self, ident: RecordRef | str, reader: str, *, purpose: str = "") -> LoggedEvent:
        """Log a signed ACCESS receipt: ``reader`` read the record, for ``purpose``."""
        unit = self._unit
        with unit.transaction():
            record_id = unit.record_id_of(ident)
            return unit.publisher.record_event(
                EventKind.ACCESS, record_id, subject=checksum_address(reader), purpose=purpose
            )
