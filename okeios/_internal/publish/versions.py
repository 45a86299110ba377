"""A store's record versions, sealed: each version under a fresh data key, the data key and
the commitment seed under the store's master key (:class:`SealedVersions`, the
:class:`~okeios._internal.publish.publisher.VersionStore` of a
:class:`~okeios._internal.publish.store.Store`). The formats are in ``docs/confidentiality.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from okeios._internal.crypto.payload import (
    new_data_key,
    open_payload,
    payload_aad,
    payload_digest,
    seal_payload,
)
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.publish.tables import Versions
from okeios.errors import AccessError

__all__ = ["SealedVersions"]

_DATA_KEY_LABEL = b"okeios/store/data-key/v1\x00"
_SEED_LABEL = b"okeios/store/seed/v1\x00"


class SealedVersions:
    """The :class:`~okeios._internal.publish.publisher.VersionStore` of a store: each version sealed
    under a fresh data key, the data key and the seed sealed under the master key."""

    def __init__(self, rows: Versions, master: bytes, rng: Callable[[int], bytes]) -> None:
        self.rows = rows
        self._master = master
        self._rng = rng

    def _seal(self, label: bytes, record_id: bytes, version: int, secret: bytes) -> bytes:
        aad = label + payload_aad(record_id, version)
        return seal_payload(self._master, secret, aad=aad, rng=self._rng)

    def _open(self, label: bytes, record_id: bytes, version: int, sealed: bytes) -> bytes:
        return open_payload(self._master, sealed, aad=label + payload_aad(record_id, version))

    def put_version(
        self, record_id: bytes, version: int, payload: bytes, seed: bytes, digests: Sequence[bytes]
    ) -> bytes:
        data_key = new_data_key(self._rng)
        sealed = seal_payload(data_key, payload, aad=payload_aad(record_id, version), rng=self._rng)
        self.rows.insert(
            record_id,
            version,
            sealed,
            self._seal(_DATA_KEY_LABEL, record_id, version, data_key),
            self._seal(_SEED_LABEL, record_id, version, seed),
            b"".join(digests),
        )
        return payload_digest(sealed)

    def seal_keys(
        self, record_id: bytes, version: int, data_key: bytes, seed: bytes
    ) -> tuple[bytes, bytes]:
        """A version's data key and seed sealed under the master key, in the order (and with
        the randomness) :meth:`put_version` uses: for batch ingest, which seals the payload
        elsewhere (:mod:`okeios._internal.publish.ingest`)."""
        return (
            self._seal(_DATA_KEY_LABEL, record_id, version, data_key),
            self._seal(_SEED_LABEL, record_id, version, seed),
        )

    def secrets(self, record_id: bytes, version: int) -> tuple[bytes, bytes, bytes]:
        """The sealed payload, the data key and the seed (AccessError once erased)."""
        sealed, data_key, seed, _, erased = self.rows.row(record_id, version)
        if erased or data_key is None or seed is None:
            raise AccessError(f"record {to_hex(record_id)} was erased: its keys no longer exist")
        return (
            sealed,
            self._open(_DATA_KEY_LABEL, record_id, version, data_key),
            self._open(_SEED_LABEL, record_id, version, seed),
        )

    def get_version(self, record_id: bytes, version: int) -> tuple[bytes, bytes]:
        sealed, data_key, seed = self.secrets(record_id, version)
        return open_payload(data_key, sealed, aad=payload_aad(record_id, version)), seed

    def version_digests(self, record_id: bytes, version: int) -> tuple[bytes, ...]:
        blob = self.rows.row(record_id, version)[3]
        return tuple(blob[i : i + 32] for i in range(0, len(blob), 32))

    def sealed_payload(self, record_id: bytes, version: int) -> bytes:
        return self.rows.row(record_id, version)[0]
