"""Opening a share as its recipient: decrypt, then verify everything it holds."""

from __future__ import annotations

import dataclasses

from okeios._internal.crypto.payload import open_payload, payload_aad
from okeios._internal.crypto.recipients import RecipientPrivateKey, unwrap_data_key
from okeios._internal.crypto.share import _SEED_LABEL, Share, grant_info
from okeios._internal.protocol.anchors import ChainView
from okeios._internal.protocol.canonical import canonicalize, parse_json
from okeios._internal.protocol.commitment import commit
from okeios._internal.verify.bundle import Authorities, verify_bundle
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import Report
from okeios.errors import DecryptionError

__all__ = ["open_share"]


def open_share(
    share: Share,
    key: RecipientPrivateKey,
    policy: TrustPolicy,
    *,
    chain: ChainView | None = None,
    authorities: Authorities = None,
) -> tuple[bytes, Report]:
    """Decrypt a share with the recipient's key and verify what it holds.

    Returns the record's canonical bytes and the verification report of the full record
    against the signed event (integrity with every field, authenticity, inclusion, anchoring
    and consistency when a chain is given, and confidentiality: the ciphertext is the one the
    event signed). ``authorities`` are the organisation states of the key histories the
    verifier was given (as for :func:`~okeios._internal.verify.bundle.verify_bundle`). Raises
    :class:`~okeios.errors.DecryptionError` when this key cannot open the
    share or the ciphertext was tampered with.
    """
    event = share.bundle.event.event
    data_key = unwrap_data_key(
        share.wrapped_key, key, info=grant_info(event.record_id, event.version)
    )
    record = open_payload(data_key, share.payload, aad=payload_aad(event.record_id, event.version))
    seed = open_payload(
        data_key, share.seed, aad=_SEED_LABEL + payload_aad(event.record_id, event.version)
    )
    value = parse_json(record)
    commitment, _ = commit(value, seed=seed)
    if commitment.digests != share.bundle.disclosure.digests:
        raise DecryptionError("the decrypted record does not match the bundle's field digests")
    full = dataclasses.replace(share.bundle, disclosure=commitment.disclose())
    report = verify_bundle(
        full,
        policy,
        record=value,
        chain=chain,
        ciphertext=share.payload,
        authorities=authorities,
    )
    return canonicalize(value), report
