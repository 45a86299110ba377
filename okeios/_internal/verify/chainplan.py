"""Which chain facts a bundle's chain check reads, said once.

The anchoring and consistency verdicts of a bundle
(:func:`okeios._internal.verify.bundle.verify_bundle`) rest on a few chain lookups: the chain id,
then (if it is the pinned one and the bundle points at the pinned registry) the anchor of the
checkpoint's size, the log's latest anchor, the anchor of a carried extension's size, and the head
block, stopping at the first lookup that fails. Which of them, with which keys and in which order,
depends only on the bundle's header (:class:`ChainHeader`) and the trust policy, never on the
proofs.

This module is the one place that says so. Its values are named tuples: immutable, and cheap
to build once per verified bundle. :func:`plan_lookups` turns a header and a policy
into a :class:`LookupPlan`; :func:`read_facts` makes the plan's lookups against a
:class:`~okeios._internal.protocol.anchors.ChainView` and returns the :class:`ChainFacts` the
verifier judges. The verifier reads the live chain through it, and
:mod:`okeios._internal.verify.bulk` runs the very same :func:`read_facts` against a recording view
to learn which facts a chunk of bundles needs, so the two cannot drift apart. ``bulk`` reads
headers from the encoded bundle without decoding it in full (about 15 times cheaper);
:meth:`ChainHeader.of` reads them from a decoded one, and both give the same header.
"""

from __future__ import annotations

from typing import NamedTuple

from okeios._internal.protocol.anchors import AnchorEntry, ChainView
from okeios._internal.protocol.bundle import Bundle
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.verify.policy import TrustPolicy
from okeios.errors import PolicyError

__all__ = [
    "AnchorKey",
    "ChainFacts",
    "ChainHeader",
    "LatestKey",
    "LogAnchors",
    "LookupPlan",
    "plan_lookups",
    "read_facts",
]

AnchorKey = tuple[str, str, bytes, int]
"""The arguments of :meth:`ChainView.anchor_at`: registry, publisher, log id, tree size."""
LatestKey = tuple[str, str, bytes]
"""The arguments of :meth:`ChainView.latest`: registry, publisher, log id."""


class ChainHeader(NamedTuple):
    """What a bundle's chain lookups depend on, and nothing else.

    ``publisher`` is the checksummed address that signed the checkpoint, ``log_id`` and
    ``tree_size`` the checkpoint's; ``ref_chain_id`` is None when the bundle carries no anchor
    reference (``ref_registry`` is then empty), ``extension_size`` the tree size of a carried
    later tree head, if any.
    """

    publisher: str
    log_id: bytes
    tree_size: int
    ref_chain_id: int | None
    ref_registry: bytes
    extension_size: int | None

    @classmethod
    def of(cls, bundle: Bundle) -> ChainHeader:
        """The header of a decoded bundle."""
        cp = bundle.checkpoint
        ref = bundle.anchor
        ext = ref.extension if ref is not None else None
        return cls(
            cp.publisher,
            cp.checkpoint.log_id,
            cp.checkpoint.tree_size,
            None if ref is None else ref.chain_id,
            b"" if ref is None else ref.registry,
            None if ext is None else ext.tree_size,
        )


class LookupPlan(NamedTuple):
    """The lookups a bundle's chain check makes, in order (see :func:`read_facts`).

    ``chain_id`` and ``registry`` are the policy's pins. ``ref_trusted`` is False when the
    bundle's anchor reference names another chain or registry than the pinned ones: the check
    then stops after the chain id. ``anchor``, ``latest`` and ``extension`` are the keys of the
    anchor lookups (``extension`` None when the bundle carries no later tree head).
    """

    chain_id: int
    registry: str
    ref_trusted: bool
    anchor: AnchorKey
    latest: LatestKey
    extension: AnchorKey | None


def plan_lookups(header: ChainHeader, policy: TrustPolicy) -> LookupPlan:
    """The lookups the chain check of a bundle with this header makes under ``policy``.

    Raises :class:`~okeios.errors.PolicyError` when the policy does not pin both the chain id
    and the registry (checking against a chain without them would trust the chain's word).
    """
    if policy.chain_id is None or policy.registry is None:
        raise PolicyError("checking against a chain needs the chain id and registry pinned")
    registry = policy.registry
    ref_trusted = header.ref_chain_id is None or (
        header.ref_chain_id == policy.chain_id and to_hex(header.ref_registry) == registry.lower()
    )
    log = (registry, header.publisher, header.log_id)
    return LookupPlan(
        chain_id=policy.chain_id,
        registry=registry,
        ref_trusted=ref_trusted,
        anchor=(*log, header.tree_size),
        latest=log,
        extension=None if header.extension_size is None else (*log, header.extension_size),
    )


class LogAnchors(NamedTuple):
    """The anchor facts of one bundle: ``entry`` the anchor of the checkpoint's size, ``latest``
    the log's latest anchor, ``later`` the anchor of the extension's size (None without an
    extension), ``head`` the chain's head block."""

    entry: AnchorEntry | None
    latest: AnchorEntry | None
    later: AnchorEntry | None
    head: int


class ChainFacts(NamedTuple):
    """What the chain answered for one plan: its chain id, and the anchor facts unless the
    check stopped before them (another chain answering, or the bundle pointing elsewhere)."""

    chain_id: int
    anchors: LogAnchors | None


def read_facts(plan: LookupPlan, chain: ChainView) -> ChainFacts:
    """Make the plan's lookups against ``chain``, in order, and return the answers.

    The chain id first; nothing more if it is not the pinned one or the bundle points at
    another chain or registry; then ``anchor_at`` of the checkpoint's size, ``latest``,
    ``anchor_at`` of the extension's size (if any) and ``head``. A lookup that fails raises its
    :class:`~okeios.errors.ChainError` (or
    :class:`~okeios.errors.RegistryMissingError`) and no later lookup is made.
    """
    actual = chain.chain_id()
    if actual != plan.chain_id or not plan.ref_trusted:
        return ChainFacts(actual, None)
    entry = chain.anchor_at(*plan.anchor)
    latest = chain.latest(*plan.latest)
    later = None if plan.extension is None else chain.anchor_at(*plan.extension)
    return ChainFacts(actual, LogAnchors(entry, latest, later, chain.head()))
