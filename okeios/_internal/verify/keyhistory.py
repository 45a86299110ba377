"""A key history: the identity events of one organisation's log, as bundles, and the
:class:`~okeios._internal.verify.identity.Authority` a verifier computes from it once per log.

File format (``application/vnd.okeios.keys+json``, ``docs/identity.md``)::

    {"mediaType": "application/vnd.okeios.keys+json", "version": 2,
     "organisation": "0x…", "treeSize": N, "bundles": [<bundle JSON object>, …],
     "continuity": [{"publisher": "0x…", "treeSize": n, "root": "0x…", "proof": ["0x…", …]}]}

Every bundle holds one identity event (authorise, deauthorise, handover), all proven against
checkpoints of exactly ``treeSize`` entries, in log order. The file is evidence, not trust:
:func:`load_authority` verifies each bundle's signature, inclusion and (with a chain) anchoring
under the caller's policy, and refuses the file unless every one passes.
"""

from __future__ import annotations

import json
from typing import Any

from okeios._internal.protocol.anchors import ChainView
from okeios._internal.protocol.bundle import Bundle
from okeios._internal.protocol.canonical import parse_json
from okeios._internal.protocol.events import KEY_KINDS, derive_log_id, event_from_message
from okeios._internal.protocol.hexcodec import from_hex
from okeios._internal.protocol.keyhistory import (
    KEYS_MEDIA_TYPE,
    KEYS_VERSION,
    dump_key_history,
)
from okeios._internal.protocol.merkle import leaf_hash, verify_consistency, verify_inclusion
from okeios._internal.protocol.signing import checksum_address
from okeios._internal.verify.bundle import verify_bundle
from okeios._internal.verify.identity import Authority
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import Property, Status
from okeios.errors import ChainError, IdentityError, OkeiosError, ProofError

__all__ = ["KEYS_MEDIA_TYPE", "KEYS_VERSION", "dump_key_history", "load_authority"]


def _continuity(raw: Any) -> dict[str, tuple[int, bytes, list[bytes]]]:
    if not isinstance(raw, list):
        raise IdentityError("continuity must be a list")
    out: dict[str, tuple[int, bytes, list[bytes]]] = {}
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) != {"publisher", "treeSize", "root", "proof"}:
            raise IdentityError(f"continuity[{i}] has exactly publisher, treeSize, root, proof")
        try:
            key = checksum_address(item["publisher"])
            size = item["treeSize"]
            root = _hex32(item["root"])
            proof = [_hex32(p) for p in item["proof"]]
        except (OkeiosError, TypeError, ValueError) as exc:
            raise IdentityError(f"continuity[{i}]: {exc}") from exc
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise IdentityError(f"continuity[{i}].treeSize must be a positive integer")
        if key in out:
            raise IdentityError(f"continuity lists {key} twice")
        out[key] = (size, root, proof)
    return out


def _hex32(value: Any) -> bytes:
    return from_hex(value, "a 32-byte hash", size=32, error=IdentityError)


def _parse(data: bytes | str) -> dict[str, Any]:
    try:
        raw = parse_json(data.encode("utf-8") if isinstance(data, str) else data)
    except OkeiosError as exc:
        raise IdentityError(f"the key history is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise IdentityError("a key history is a JSON object")
    keys = {"mediaType", "version", "organisation", "treeSize", "bundles", "continuity"}
    if set(raw) not in (keys, keys | {"tail"}):
        raise IdentityError(f"a key history has exactly the members {sorted(keys)} (and tail)")
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
    root = next(iter(roots)) if roots else None
    links = _continuity(raw["continuity"])
    if authority.handovers:
        assert root is not None
        _check_continuity(authority, links, size, root, policy, chain)
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
    authority.complete, authority.completeness = _completeness(
        authority, raw.get("tail"), [b.inclusion.index for b in bundles], size, root, log_id
    )
    return authority


def _completeness(
    authority: Authority,
    raw: Any,
    indices: list[int],
    size: int,
    root: bytes | None,
    log_id: bytes,
) -> tuple[bool, str]:
    """Whether the key history shows every identity event of the log's first ``size`` entries
    (docs/identity.md section 5): the identity events it holds are numbered 1..k with no gap,
    and the entries after the last of them up to ``size`` are shown (each proven in the same
    tree) and none is an identity event. Returns (complete, why)."""
    if not authority.numbered:
        return False, (
            "its identity events are not numbered (a log made before numbering): an identity "
            "event left out could not be seen"
        )
    if raw is None:
        return False, "it does not show the entries after its last identity event (no tail)"
    if not isinstance(raw, list):
        raise IdentityError("tail must be a list")
    start = indices[-1] + 1 if indices else 0
    if len(raw) != size - start:
        return False, (
            f"it shows {len(raw)} of the {size - start} entries after its last identity event "
            f"(entries {start}..{size - 1})"
        )
    for offset, item in enumerate(raw):
        index = start + offset
        if not isinstance(item, dict) or set(item) != {"index", "event", "signature", "proof"}:
            raise IdentityError(f"tail[{offset}] has exactly index, event, signature, proof")
        if item["index"] != index:
            return False, f"tail[{offset}] is entry {item['index']}, not entry {index}"
        try:
            event = event_from_message(item["event"])
            signature = from_hex(item["signature"], "a tail signature", size=65)
            proof = [_hex32(p) for p in item["proof"]]
        except (OkeiosError, TypeError, ValueError) as exc:
            raise IdentityError(f"tail[{offset}]: {exc}") from exc
        if root is None or not _included(event.id + signature, index, size, root, proof):
            return False, f"entry {index} of its tail is not proven in its tree"
        if event.kind in KEY_KINDS and event.log_id == log_id:
            return False, f"entry {index} is an identity event the key history leaves out"
    return True, f"it shows every identity event of the log's first {size} entries"


def _included(data: bytes, index: int, size: int, root: bytes, proof: list[bytes]) -> bool:
    try:
        verify_inclusion(index, size, leaf_hash(data), proof, root)
    except ProofError:
        return False
    return True


def _check_continuity(
    authority: Authority,
    links: dict[str, tuple[int, bytes, list[bytes]]],
    size: int,
    root: bytes,
    policy: TrustPolicy,
    chain: ChainView | None,
) -> None:
    """Each retired key's anchored history must extend into the key history's tree, and the
    key must have anchored nothing past its handover."""
    for handover in authority.handovers:
        old = handover.old
        link = links.get(old)
        if link is not None:
            last, last_root, proof = link
            if last > handover.index + 1:
                raise IdentityError(
                    f"{old} claims an anchor of {last} entries, past its handover at entry "
                    f"{handover.index}"
                )
            try:
                if last == size:
                    if last_root != root or proof:
                        raise ProofError("equal sizes with different roots or a proof")
                else:
                    verify_consistency(last, size, last_root, root, proof)
            except ProofError as exc:
                raise IdentityError(
                    f"the anchored history of {old} does not extend into the key history's "
                    f"tree: {exc}"
                ) from exc
        if chain is None:
            continue
        assert policy.registry is not None
        try:
            latest = chain.latest(policy.registry, old, authority.log_id)
        except ChainError as exc:
            raise IdentityError(f"the chain could not be read: {exc}") from exc
        if latest is None:
            continue  # the old key never anchored: there is no other history to link
        if latest.tree_size > handover.index + 1:
            raise IdentityError(
                f"{old} handed the log over at entry {handover.index} but anchored "
                f"{latest.tree_size} entries: a retired key kept anchoring"
            )
        if link is None or (link[0], link[1]) != (latest.tree_size, latest.root):
            raise IdentityError(
                f"the key history does not link {old}'s last anchor ({latest.tree_size} "
                "entries) to its tree"
            )
