"""A key history: the identity events of one organisation's log, as bundles, and the
:class:`~okeios.verify.identity.Authority` a verifier computes from it once per log.

File format (``application/vnd.okeios.keys+json``, ``docs/identity.md``)::

    {"mediaType": "application/vnd.okeios.keys+json", "version": 2,
     "organisation": "0x…", "treeSize": N, "bundles": [<bundle JSON object>, …]}

Every bundle holds one identity event (authorise, deauthorise, handover), all proven against
checkpoints of exactly ``treeSize`` entries, in log order. The file is evidence, not trust:
:func:`load_authority` verifies each bundle's signature, inclusion and (with a chain) anchoring
under the caller's policy, and refuses the file unless every one passes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from okeios.errors import IdentityError, OkeiosError
from okeios.protocol.anchors import ChainView
from okeios.protocol.bundle import Bundle
from okeios.protocol.canonical import parse_json
from okeios.protocol.events import KEY_KINDS, derive_log_id
from okeios.protocol.signing import checksum_address
from okeios.verify.bundle import verify_bundle
from okeios.verify.identity import Authority
from okeios.verify.policy import TrustPolicy
from okeios.verify.report import Property, Status

__all__ = ["KEYS_MEDIA_TYPE", "KEYS_VERSION", "dump_key_history", "load_authority"]

KEYS_MEDIA_TYPE = "application/vnd.okeios.keys+json"
KEYS_VERSION = 2


def dump_key_history(organisation: str, tree_size: int, bundles: Sequence[Bundle]) -> str:
    """The key-history file of ``organisation`` at ``tree_size`` (bundles in log order)."""
    return json.dumps(
        {
            "mediaType": KEYS_MEDIA_TYPE,
            "version": KEYS_VERSION,
            "organisation": checksum_address(organisation),
            "treeSize": tree_size,
            "bundles": [b.to_json_dict() for b in bundles],
        },
        indent=2,
    )


def _parse(data: bytes | str) -> dict[str, Any]:
    try:
        raw = parse_json(data.encode("utf-8") if isinstance(data, str) else data)
    except OkeiosError as exc:
        raise IdentityError(f"the key history is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise IdentityError("a key history is a JSON object")
    keys = {"mediaType", "version", "organisation", "treeSize", "bundles"}
    if set(raw) != keys:
        raise IdentityError(f"a key history has exactly the members {sorted(keys)}")
    if raw["mediaType"] != KEYS_MEDIA_TYPE or raw["version"] != KEYS_VERSION:
        raise IdentityError(
            f"not a version {KEYS_VERSION} key history ({raw['mediaType']!r}, {raw['version']!r})"
        )
    return raw


def load_authority(
    data: bytes | str,
    policy: TrustPolicy,
    *,
    chain: ChainView | None = None,
) -> Authority:
    """Verify a key-history file and compute its organisation's :class:`Authority`.

    The organisation must be pinned by ``policy``. Each bundle must hold an identity event of
    the organisation's log with a valid signature, included in a checkpoint of ``treeSize``
    entries signed by the key holding the log then; with ``chain`` the checkpoints must also be
    anchored (the anchoring and consistency verdicts must pass). Raises
    :class:`~okeios.errors.IdentityError` naming the first problem.
    """
    raw = _parse(data)
    try:
        org = checksum_address(raw["organisation"])
    except OkeiosError as exc:
        raise IdentityError(f"organisation: {exc}") from exc
    if org not in policy.organisations:
        raise IdentityError(f"the key history is of {org}, which the policy does not pin")
    size = raw["treeSize"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise IdentityError(f"treeSize must be a non-negative integer, got {size!r}")
    if not isinstance(raw["bundles"], list):
        raise IdentityError("bundles must be a list")
    log_id = derive_log_id(org)
    bundles: list[Bundle] = []
    for i, item in enumerate(raw["bundles"]):
        try:
            bundle = Bundle.from_json(json.dumps(item))
        except OkeiosError as exc:
            raise IdentityError(f"bundle {i}: {exc}") from exc
        event = bundle.event.event
        if event.kind not in KEY_KINDS or event.log_id != log_id:
            raise IdentityError(f"bundle {i} is not an identity event of the log of {org}")
        if bundle.checkpoint.checkpoint.tree_size != size:
            raise IdentityError(f"bundle {i} is proven against another tree size than {size}")
        bundles.append(bundle)
    ordered = sorted(bundles, key=lambda b: b.inclusion.index)
    if [b.inclusion.index for b in ordered] != [b.inclusion.index for b in bundles]:
        raise IdentityError("the bundles of a key history come in log order")
    # The state is built first (it says which key held the log when), then every bundle is
    # verified under it: the event by the key holding the log, the checkpoint by the key
    # holding it at treeSize.
    authority = Authority.from_events(
        org, ((b.inclusion.index, b.event) for b in bundles), size=size
    )
    roots = {b.checkpoint.checkpoint.root for b in bundles}
    if len(roots) > 1:
        raise IdentityError("the bundles of a key history are proven against different roots")
    # Identity events are the publisher's: role pins do not apply to them.
    own = TrustPolicy(
        organisations=[org],
        chain_id=policy.chain_id,
        registry=policy.registry,
        confirmations=policy.confirmations,
    )
    for i, bundle in enumerate(bundles):
        report = verify_bundle(bundle, own, chain=chain, authorities=authority)
        for verdict in report.verdicts:
            if verdict.property is Property.CONFIDENTIALITY:
                continue
            if verdict.status is Status.FAIL or (
                chain is not None and verdict.status is not Status.PASS
            ):
                raise IdentityError(
                    f"bundle {i} ({bundle.event.event.kind} of {bundle.event.event.subject}): "
                    f"{verdict.property} {verdict.reason}: {verdict.detail}"
                )
    return authority
