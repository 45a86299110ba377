"""Offline verification of proof bundles: one verdict per property, a named reason per failure.

The checks are pure: they take a decoded :class:`~okeios._internal.protocol.bundle.Bundle`, the
caller's
:class:`TrustPolicy` and optionally the record itself, and never touch a file or a network.
Whom to trust is the caller's policy, never the bundle's word.

* **integrity**: the disclosed fields (and the record, if given) match the signed commitment;
* **authenticity**: the event signature is valid and its author is allowed by the policy;
* **inclusion**: the event's log entry is in the tree of a checkpoint signed by an allowed
  publisher, for the same log.

The order of the checks and every reason are specified by ``docs/spec/verification.md``; the
conformance vectors of ``vectors/v2/`` pin the outcome of each.

:func:`verify_bundle` returns a :class:`Report`; :func:`verify_bundle_or_raise` raises
:class:`~okeios.errors.VerificationError` (carrying the report) unless every verdict passes.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import operator
from collections.abc import Mapping

from okeios._internal.protocol.anchors import AnchorEntry, ChainView
from okeios._internal.protocol.bundle import Bundle
from okeios._internal.protocol.canonical import (
    JSONValue,
    canonicalize,
    format_pointer,
    is_plain_canonical_leaf,
    iter_typed_leaves,
    parse_json,
)
from okeios._internal.protocol.commitment import (
    Disclosure,
    commitment_from_digests,
    field_digests,
    path_conflict,
    record_leaves,
    record_leaves_of,
)
from okeios._internal.protocol.events import KEY_KINDS, ZERO_HASH, EventKind, derive_log_id
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.kinds import ACCESS_KINDS
from okeios._internal.protocol.merkle import (
    ProofMismatchError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from okeios._internal.protocol.signing import checksum_address, recover_address
from okeios._internal.verify.chainplan import ChainHeader, LogAnchors, plan_lookups, read_facts
from okeios._internal.verify.identity import Authority
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import (
    Property,
    Reason,
    Report,
    Verdict,
    _fail,
    _pass,
    _skip,
    _undecided,
)
from okeios.errors import (
    ChainError,
    CommitmentError,
    OkeiosError,
    PolicyError,
    ProofError,
    RegistryMissingError,
)


def _check_integrity(bundle: Bundle, record: bytes | JSONValue | None) -> Verdict:
    p = Property.INTEGRITY
    d = bundle.disclosure
    if bundle.event.event.kind in KEY_KINDS:
        if d.digests or d.fields or record is not None:
            return _fail(p, Reason.FIELD_MALFORMED, "an identity event commits to no content")
        return _pass(p, "an identity event commits to no record content")
    try:
        commitment = commitment_from_digests(d.digests)
    except CommitmentError as exc:
        return _fail(p, Reason.DIGESTS_MALFORMED, str(exc))
    if commitment != bundle.event.event.commitment:
        return _fail(
            p, Reason.COMMITMENT_MISMATCH, "the field digests do not give the signed commitment"
        )
    digests = set(d.digests)
    if record is not None and _record_is_disclosed(d, record, digests):
        # the record's own leaves are the disclosed fields, all committed: they are canonical
        # leaves of one document, and every check below passes (this only saves the work)
        return _pass(p, f"the record matches the commitment ({len(d.digests)} fields)")
    conflict = path_conflict(f.tokens for f in d.fields)
    if conflict is not None:
        return _fail(p, Reason.FIELD_CONFLICT, f"the disclosed fields are no document: {conflict}")
    for f, digest in zip(d.fields, field_digests(d.fields), strict=True):
        if digest not in digests:
            return _fail(
                p,
                Reason.FIELD_NOT_COMMITTED,
                f"field {f.path!r} was altered after signing: its value, path and salt hash to "
                "no field digest the author committed to",
            )
        if is_plain_canonical_leaf(f.value):
            continue  # what the checks below pass, shown without parsing
        try:
            parsed = parse_json(f.value)
            canonical = canonicalize(parsed)
        except OkeiosError as exc:
            return _fail(p, Reason.FIELD_MALFORMED, f"field {f.path!r}: {exc}")
        if canonical != f.value:
            return _fail(p, Reason.FIELD_MALFORMED, f"field {f.path!r} is not canonical JSON")
        if isinstance(parsed, dict | list) and parsed:
            return _fail(
                p, Reason.FIELD_MALFORMED, f"field {f.path!r} is not a leaf (a non-empty value)"
            )
    if record is None:
        shown = f"{len(d.fields)} of {len(d.digests)} fields disclosed and committed"
        return _pass(p, shown)
    try:
        value = parse_json(record) if isinstance(record, bytes) else record
        leaves = {path: canonicalize(v) for path, v in iter_typed_leaves(value)}
    except OkeiosError as exc:
        return _fail(p, Reason.RECORD_MALFORMED, str(exc))
    disclosed = {f.tokens: f.value for f in d.fields}
    for path, v in leaves.items():
        where = format_pointer(path)
        if path not in disclosed:
            if len(disclosed) < len(d.digests):
                return _fail(
                    p,
                    Reason.RECORD_NOT_VERIFIABLE,
                    f"the bundle discloses {len(disclosed)} of {len(d.digests)} fields; "
                    f"field {where!r} of the record cannot be checked",
                )
            return _fail(
                p, Reason.RECORD_MISMATCH, f"the record has a field {where!r} not committed"
            )
        if disclosed[path] != v:
            return _fail(p, Reason.RECORD_MISMATCH, f"the record's field {where!r} differs")
    if len(leaves) != len(d.digests):
        missing = sorted(format_pointer(m) for m in set(disclosed) - set(leaves))
        where = f" (missing {missing[0]!r})" if missing else ""
        return _fail(
            p,
            Reason.RECORD_MISMATCH,
            f"the record has {len(leaves)} fields, the commitment {len(d.digests)}{where}",
        )
    return _pass(p, f"the record matches the commitment ({len(leaves)} fields)")


def _record_is_disclosed(d: Disclosure, record: bytes | JSONValue, committed: set[bytes]) -> bool:
    """Whether every field of ``record`` is disclosed with exactly its bytes, nothing else is,
    and every disclosed field is committed: then the integrity verdict passes, and the
    disclosed values need no parsing (they are the record's canonical leaves). False when
    anything differs or the record does not parse: the full check then says what."""
    fields = d.fields
    if len(fields) != len(d.digests):
        return False
    try:
        leaves = record_leaves_of(record) if isinstance(record, bytes) else record_leaves(record)
    except OkeiosError:
        return False
    if len(leaves) != len(fields):
        return False
    leaves.sort()
    if leaves != list(zip(map(_ENCODED, fields), map(_VALUE, fields), strict=True)):
        return False
    return committed.issuperset(field_digests(fields))


_POINTER = operator.attrgetter("path")
_VALUE = operator.attrgetter("value")
_TOKENS = operator.attrgetter("tokens")
_ENCODED = operator.attrgetter("encoded_path")

Authorities = Authority | Mapping[bytes, Authority] | None


def _authority_for(
    bundle: Bundle, policy: TrustPolicy, authorities: Authorities
) -> tuple[str | None, Authority | None]:
    """The pinned organisation whose log the bundle claims, and its authorisation state."""
    org = policy.organisation_of(bundle.event.event.log_id)
    if org is None or authorities is None:
        return org, None
    if isinstance(authorities, Authority):
        found = authorities if authorities.log_id == bundle.event.event.log_id else None
    else:
        found = authorities.get(bundle.event.event.log_id)
    return org, found


def _check_authenticity(
    bundle: Bundle, policy: TrustPolicy, authorities: Authorities, proven: AnchorEntry | None
) -> Verdict:
    p = Property.AUTHENTICITY
    event = bundle.event.event
    try:
        signer = bundle.event.recover()
    except OkeiosError as exc:
        return _fail(p, Reason.SIGNATURE_MALFORMED, str(exc))
    if signer != event.author:
        return _fail(
            p,
            Reason.SIGNATURE_MISMATCH,
            f"the signature recovers to {signer}, the event names {event.author} as its author",
        )
    org, authority = _authority_for(bundle, policy, authorities)
    listed = policy.allows_author(signer)
    # An organisation's revocation and expiry outrank the policy's explicit lists for every
    # key of its key history (docs/identity.md section 3).
    if listed and (authority is None or not authority.knows(signer)):
        return _pass(p, f"signed by {signer}")
    if org is None:
        return _fail(p, Reason.AUTHOR_NOT_TRUSTED, f"author {signer} is not in the trust policy")
    if authority is None:
        return _fail(
            p,
            Reason.AUTHORISATIONS_MISSING,
            f"the event is in the log of {org}, but no authorisation state of that log was "
            "given (okeios authors export)",
        )
    check = authority.check_author(
        signer,
        index=bundle.inclusion.index,
        time=event.time,
        proven_time=None if proven is None else proven.timestamp,
        roles=policy.organisations[org],
    )
    if check.reason is not None:
        if listed and not authority.overrides(signer, check):
            return _pass(p, f"signed by {signer} (listed in the trust policy)")
        return _fail(p, check.reason, check.detail)
    if not authority.complete:
        return _undecided(
            p,
            Reason.KEY_HISTORY_INCOMPLETE,
            f"{signer} passes the key history of {org}, but the key history cannot be shown "
            f"complete ({authority.completeness}): a later revocation may have been left out",
        )
    if listed:
        return _pass(p, f"signed by {signer}")
    return _pass(p, f"signed by {signer}: {check.detail}")


@functools.lru_cache(maxsize=1024)
def _checkpoint_signer(checkpoint_id: bytes, signature: bytes) -> str:
    """The address that signed a checkpoint. Every bundle of a batch exported at one checkpoint
    carries the same (digest, signature) pair, so its ECDSA recovery (the costliest step of a
    verification after the event's own) runs once per checkpoint, not once per bundle. A pure
    function of its arguments: a cached answer is the answer; a malformed signature raises and
    is not cached."""
    return recover_address(checkpoint_id, signature)


def _handed_over(
    bundle: Bundle, policy: TrustPolicy, authorities: Authorities, publisher: str
) -> bool:
    """Whether ``publisher`` holds the bundle's log by a handover the verifier was shown (the
    log id stays bound to the organisation's first key, docs/identity.md)."""
    _, authority = _authority_for(bundle, policy, authorities)
    return (
        authority is not None
        and authority.log_id == bundle.checkpoint.checkpoint.log_id
        and authority.held_the_log(publisher)
    )


def _check_inclusion(
    bundle: Bundle, policy: TrustPolicy, authorities: Authorities = None
) -> Verdict:
    p = Property.INCLUSION
    signed = bundle.checkpoint
    cp = signed.checkpoint
    try:
        publisher = _checkpoint_signer(cp.id, signed.signature)
    except OkeiosError as exc:
        return _fail(p, Reason.CHECKPOINT_SIGNATURE_MALFORMED, str(exc))
    if publisher != signed.publisher:
        return _fail(
            p,
            Reason.CHECKPOINT_SIGNATURE_MISMATCH,
            f"the checkpoint signature recovers to {publisher}, not {signed.publisher}",
        )
    org, authority = _authority_for(bundle, policy, authorities)
    if authority is not None and authority.held_the_log(publisher):
        # a key of the organisation's key history: its handovers outrank the explicit lists
        why = authority.check_checkpoint(publisher, cp.tree_size)
        if why is not None:
            return _fail(p, Reason.PUBLISHER_RETIRED, why)
    elif not policy.allows_publisher(publisher):
        if org is None:
            return _fail(p, Reason.PUBLISHER_NOT_TRUSTED, f"publisher {publisher} is not trusted")
        if authority is None:
            if publisher != org:
                return _fail(
                    p,
                    Reason.AUTHORISATIONS_MISSING,
                    f"{publisher} signs for the log of {org}, and no handover of that log was "
                    "given (okeios authors export)",
                )
        elif (why := authority.check_checkpoint(publisher, cp.tree_size)) is not None:
            reason = (
                Reason.PUBLISHER_RETIRED
                if authority.held_the_log(publisher)
                else Reason.PUBLISHER_NOT_TRUSTED
            )
            return _fail(p, reason, why)
    if bundle.event.event.log_id != cp.log_id:
        return _fail(p, Reason.LOG_MISMATCH, "the event belongs to another log than the checkpoint")
    bound = derive_log_id(publisher)
    if cp.log_id != bound and not _handed_over(bundle, policy, authorities, publisher):
        return _fail(
            p,
            Reason.LOG_NOT_BOUND,
            f"log {to_hex(cp.log_id)} is not publisher {publisher}'s log ({to_hex(bound)}): a "
            "publisher has one log, so this is a second history or another publisher's replay",
        )
    inc = bundle.inclusion
    if inc.tree_size != cp.tree_size:
        return _fail(
            p,
            Reason.TREE_SIZE_MISMATCH,
            f"the proof is for a tree of {inc.tree_size}, the checkpoint has {cp.tree_size}",
        )
    leaf = leaf_hash(bundle.event.leaf_data())
    try:
        verify_inclusion(inc.index, inc.tree_size, leaf, inc.path, cp.root)
    except ProofMismatchError as exc:
        return _fail(p, Reason.ROOT_MISMATCH, str(exc))
    except ProofError as exc:
        return _fail(p, Reason.PROOF_MALFORMED, str(exc))
    return _pass(p, f"entry {inc.index} of {cp.tree_size}, checkpoint signed by {publisher}")


def _check_chain(
    bundle: Bundle, policy: TrustPolicy, chain: ChainView | None
) -> tuple[Verdict, Verdict, AnchorEntry | None]:
    """The anchoring and consistency verdicts (and the anchor that proves the time)."""
    a, c = Property.ANCHORING, Property.CONSISTENCY
    cp = bundle.checkpoint.checkpoint
    ref = bundle.anchor
    ext = ref.extension if ref is not None else None
    if ext is not None:  # the carried proof can be checked offline, against the claimed roots
        try:
            verify_consistency(cp.tree_size, ext.tree_size, cp.root, ext.root, ext.proof)
        except ProofError as exc:
            fail = _fail(c, Reason.INCONSISTENT_HISTORY, f"the carried consistency proof: {exc}")
            if chain is None:
                return _skip(a, "no chain given"), fail, None
            consistency_failure: Verdict | None = fail
        else:
            consistency_failure = None
    else:
        consistency_failure = None
    if chain is None:
        claim = (
            f"claims anchoring in block {ref.block} of chain {ref.chain_id}"
            if ref is not None
            else "carries no anchor reference"
        )
        return (
            _skip(a, f"not checked against a chain: the bundle {claim}"),
            _skip(c, "not checked against a chain"),
            None,
        )
    plan = plan_lookups(ChainHeader.of(bundle), policy)
    registry = plan.registry
    try:
        facts = read_facts(plan, chain)
    except RegistryMissingError as exc:
        # The chain answering has no registry where the policy says one is: a node that was
        # reset or is not the chain the history lives on. It says nothing either way about
        # the bundle, so the verdict is undecided (as in the audit), never a failure.
        detail = (
            f"{exc}: the pinned registry does not exist on this chain (a reset or foreign "
            "node?); point --chain at a node that holds the publisher's history"
        )
        return (
            _undecided(a, Reason.REGISTRY_MISSING, detail),
            consistency_failure or _undecided(c, Reason.REGISTRY_MISSING, detail),
            None,
        )
    except ChainError as exc:
        # An outage is not a forgery: the verdict is undecided, never a failure or a pass.
        detail = f"the chain could not be read: {exc}"
        return (
            _undecided(a, Reason.CHAIN_UNAVAILABLE, detail),
            consistency_failure or _undecided(c, Reason.CHAIN_UNAVAILABLE, detail),
            None,
        )
    if facts.chain_id != plan.chain_id:
        detail = f"the chain answering is {facts.chain_id}, the policy pins {plan.chain_id}"
        return (
            _fail(a, Reason.CHAIN_MISMATCH, detail),
            _fail(c, Reason.CHAIN_MISMATCH, detail),
            None,
        )
    if facts.anchors is None:
        assert ref is not None  # only a bundle's own reference can point elsewhere
        detail = (
            f"the bundle points at registry {checksum_address(ref.registry)} on chain "
            f"{ref.chain_id}; "
            f"the policy trusts {registry} on chain {plan.chain_id}"
        )
        return (
            _fail(a, Reason.REGISTRY_NOT_TRUSTED, detail),
            _fail(c, Reason.REGISTRY_NOT_TRUSTED, detail),
            None,
        )
    anchoring, proven = _judge_anchoring(bundle, policy, registry, facts.anchors)
    consistency = consistency_failure or _judge_consistency(bundle, facts.anchors)
    return anchoring, consistency, proven


def _judge_anchoring(
    bundle: Bundle, policy: TrustPolicy, registry: str, found: LogAnchors
) -> tuple[Verdict, AnchorEntry | None]:
    """The anchoring verdict from the chain's answers, and the anchor that proves the time
    (None unless it passes): the checkpoint's size was anchored (``not-anchored``), with the
    checkpoint's root (``anchor-root-mismatch``: two histories), at least
    ``policy.confirmations`` blocks deep (``not-final``)."""
    a = Property.ANCHORING
    cp = bundle.checkpoint.checkpoint
    entry, head = found.entry, found.head
    if entry is None:
        pending = _pending(bundle, found)
        if pending is not None:
            return _undecided(a, Reason.ANCHOR_PENDING, pending), None
        publisher = bundle.checkpoint.publisher
        detail = f"publisher {publisher} never anchored a tree of {cp.tree_size} in registry"
        return _fail(a, Reason.NOT_ANCHORED, f"{detail} {registry}"), None
    if entry.root != cp.root:
        return _fail(
            a,
            Reason.ANCHOR_ROOT_MISMATCH,
            f"the registry holds root {entry.root.hex()} for size {cp.tree_size}, the checkpoint "
            f"{cp.root.hex()}: the publisher signed two histories",
        ), None
    if head - entry.block_number + 1 < policy.confirmations:
        return _fail(
            a,
            Reason.NOT_FINAL,
            f"anchored in block {entry.block_number}: {head - entry.block_number + 1} of "
            f"{policy.confirmations} confirmations",
        ), None
    when = _dt.datetime.fromtimestamp(entry.timestamp, _dt.UTC).isoformat()
    return _pass(a, f"anchored in block {entry.block_number} at {when}"), entry


def _pending(bundle: Bundle, found: LogAnchors) -> str | None:
    """Why anchoring cannot be decided yet, or None: the bundle claims no anchor, and its
    checkpoint is newer than every anchor of the log (an honest bundle exported before the
    publisher's next anchor reads so). Undecided, never a pass: a publisher that never anchors
    never gets one."""
    cp = bundle.checkpoint.checkpoint
    latest = found.latest
    if bundle.anchor is not None or (latest is not None and latest.tree_size >= cp.tree_size):
        return None
    since = (
        "the log was never anchored yet"
        if latest is None
        else f"its latest anchor is of size {latest.tree_size} (block {latest.block_number})"
    )
    return (
        f"pending: the checkpoint of size {cp.tree_size} is newer than every anchor ({since}); "
        f"decidable once the publisher anchors a tree of size {cp.tree_size} or more: export "
        "the bundle again after its next anchor"
    )


def _judge_consistency(bundle: Bundle, found: LogAnchors) -> Verdict:
    """The consistency verdict from the chain's answers (a carried proof already checked
    offline): the log was anchored at all (``consistency-unproven``), a carried later tree head
    is the one anchored at its size (``extension-not-anchored``), or else the checkpoint
    itself is anchored (the registry enforced consistency of every later anchor)."""
    c = Property.CONSISTENCY
    cp = bundle.checkpoint.checkpoint
    ext = bundle.anchor.extension if bundle.anchor is not None else None
    entry, latest, later = found.entry, found.latest, found.later
    if entry is None:
        pending = _pending(bundle, found)
        if pending is not None:
            return _undecided(c, Reason.ANCHOR_PENDING, pending)
    if latest is None:
        return _fail(c, Reason.CONSISTENCY_UNPROVEN, "the log was never anchored")
    if ext is not None and (later is None or later.root != ext.root):
        return _fail(
            c,
            Reason.EXTENSION_NOT_ANCHORED,
            f"the bundle's later tree head ({ext.tree_size}) is not what the registry anchored",
        )
    if ext is not None:
        return _pass(
            c,
            f"the checkpoint ({cp.tree_size}) is consistent with anchor {ext.tree_size} (proof "
            f"checked here); the registry enforced consistency up to its latest anchor "
            f"{latest.tree_size}",
        )
    if entry is not None and entry.root == cp.root:
        return _pass(
            c,
            f"the checkpoint is anchored; the registry enforced consistency of every later "
            f"anchor up to {latest.tree_size}",
        )
    return _fail(
        c,
        Reason.CONSISTENCY_UNPROVEN,
        f"nothing links the checkpoint ({cp.tree_size}) to the anchored history "
        f"(latest anchor {latest.tree_size})",
    )


def _check_confidentiality(bundle: Bundle, ciphertext: bytes | None) -> Verdict:
    p = Property.CONFIDENTIALITY
    event = bundle.event.event
    d = bundle.disclosure
    if event.kind in KEY_KINDS:
        return _pass(p, f"an identity event ({event.kind} of {event.subject}) holds no health data")
    if event.ciphertext_digest == ZERO_HASH:
        return _fail(p, Reason.NOT_ENCRYPTED, "the event commits to no encrypted payload")
    parts = [f"the event commits to an encrypted payload ({to_hex(event.ciphertext_digest)[:18]}…)"]
    if ciphertext is not None:
        if hashlib.sha256(ciphertext).digest() != event.ciphertext_digest:
            return _fail(
                p,
                Reason.CIPHERTEXT_MISMATCH,
                "the ciphertext given is not the one the event signed",
            )
        parts.append("the ciphertext given is that payload")
    hidden = len(d.digests) - len(d.fields)
    parts.append(
        f"{len(d.fields)} of {len(d.digests)} fields disclosed, {hidden} hidden behind salted "
        "digests; no plaintext beyond the disclosed fields is in the bundle"
    )
    if event.kind in ACCESS_KINDS:
        when = _dt.datetime.fromtimestamp(event.time, _dt.UTC).isoformat()
        parts.append(f"this event records a {event.kind} for {event.subject} at {when}")
    if event.kind is EventKind.ERASE:
        parts.append("this event records the record's erasure (its keys and salts destroyed)")
    return _pass(p, "; ".join(parts))


def verify_bundle(
    bundle: Bundle | bytes,
    policy: TrustPolicy,
    *,
    record: bytes | JSONValue | None = None,
    chain: ChainView | None = None,
    ciphertext: bytes | None = None,
    authorities: Authorities = None,
) -> Report:
    """Verify a bundle offline and return the report (never raises for a failed check).

    ``bundle`` may be encoded bytes (either form); bytes that do not decode raise a
    :class:`~okeios.errors.BundleError`, since there is nothing to report on. ``record``, the
    record's JSON bytes or parsed value, is checked field by field against the commitment.
    ``authorities`` is the authorisation state of the logs of the organisations the policy pins
    (one :class:`~okeios._internal.verify.identity.Authority`, or one per log id), computed once
    per log:
    see :func:`okeios._internal.verify.identity.load_authority`.
    """
    if not isinstance(policy, TrustPolicy):
        raise PolicyError("verify_bundle needs a TrustPolicy")
    if not isinstance(bundle, Bundle):
        bundle = Bundle.load(bytes(bundle))
    event = bundle.event.event
    anchoring, consistency, proven = _check_chain(bundle, policy, chain)
    verdicts = (
        _check_integrity(bundle, record),
        _check_authenticity(bundle, policy, authorities, proven),
        _check_inclusion(bundle, policy, authorities),
        anchoring,
        consistency,
        _check_confidentiality(bundle, ciphertext),
    )
    fields = bundle.disclosure.fields
    disclosed = tuple(
        zip(map(_POINTER, fields), map(bytes.decode, map(_VALUE, fields)), strict=True)
    )
    return Report(
        event_id=event.id,
        record_id=event.record_id,
        kind=str(event.kind),
        author=event.author,
        publisher=bundle.checkpoint.publisher,
        tree_size=bundle.checkpoint.checkpoint.tree_size,
        verdicts=verdicts,
        disclosed=disclosed,
        anchored_block=None if proven is None else proven.block_number,
        anchored_time=None if proven is None else proven.timestamp,
        required=policy.required,
        disclosed_paths=tuple(map(_TOKENS, fields)),
    )


def verify_bundle_or_raise(
    bundle: Bundle | bytes,
    policy: TrustPolicy,
    *,
    record: bytes | JSONValue | None = None,
    chain: ChainView | None = None,
    ciphertext: bytes | None = None,
    authorities: Authorities = None,
) -> Report:
    """Like :func:`verify_bundle`, but raise :class:`VerificationError` on any failure."""
    report = verify_bundle(
        bundle, policy, record=record, chain=chain, ciphertext=ciphertext, authorities=authorities
    )
    report.raise_for_failure()
    return report
