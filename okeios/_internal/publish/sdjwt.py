"""Export a logged record version as an SD-JWT issued by the publisher (the format:
:mod:`okeios._internal.protocol.sdjwt`)."""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Iterable

from okeios._internal.protocol.canonical import parse_json
from okeios._internal.protocol.sdjwt import issue_sd_jwt
from okeios._internal.publish.publisher import Publisher
from okeios.errors import SdJwtError

__all__ = ["export_sd_jwt"]


def export_sd_jwt(
    publisher: Publisher,
    event_id: bytes,
    fields: Iterable[str],
    *,
    now: Callable[[], float] = _time.time,
) -> str:
    """The SD-JWT of the record version ``event_id`` is about, disclosing only ``fields``.

    Signed with the publisher's own key (it must be a local key). Raises
    :class:`~okeios.errors.AccessError` once the record was erased.
    """
    event = publisher.event(event_id).signed.event
    payload, _ = publisher.versions.get_version(event.record_id, event.version)
    key = getattr(publisher.signer, "private_key", None)
    if not isinstance(key, bytes):
        raise SdJwtError("an SD-JWT is signed with a local publisher key")
    return issue_sd_jwt(
        parse_json(payload),
        publisher.commitment(event_id),
        event,
        issuer_key=key,
        reveal=list(fields),
        now=now,
    )
