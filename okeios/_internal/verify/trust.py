"""The one way a verifier's trust inputs become a policy and organisation states, for every
place a signature is judged: ``okeios verify``, ``decrypt``, ``report``, ``sd-jwt verify`` and
:meth:`okeios.service.Okeios.verify` (``docs/identity.md`` section 6).

The inputs: explicit authors and publishers, organisations (with the roles accepted from
each), the chain pin, and key-history files. What the caller gives wins over the home's
trust.json, item by item; organisations pinned anywhere make their key histories apply, and
their revocations outrank the explicit lists (section 3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from okeios._internal.config import TrustConfig
from okeios._internal.protocol.anchors import ChainView
from okeios._internal.verify.identity import Authority
from okeios._internal.verify.policy import ANYONE, TrustPolicy

__all__ = ["build_policy", "load_authorities"]


def build_policy(
    trust: TrustConfig | None = None,
    *,
    authors: Iterable[str] | Any | None = None,
    publishers: Iterable[str] | Any | None = None,
    organisations: Mapping[str, Iterable[str] | None] | Iterable[str] | None = None,
    chain_id: int | None = None,
    registry: str | None = None,
    confirmations: int = 1,
    required: Iterable[str] | None = None,
) -> TrustPolicy:
    """The policy of these inputs, each falling back to ``trust`` (trust.json) when not given
    (``ANYONE`` for authors or publishers trusts any). Raises
    :class:`~okeios.errors.PolicyError` when nothing says whom to trust."""
    trust = trust if trust is not None else TrustConfig([], [], {})
    chosen_authors = authors if authors is ANYONE else (list(authors or []) or trust.authors)
    chosen_publishers = (
        publishers if publishers is ANYONE else (list(publishers or []) or trust.publishers)
    )
    orgs: Mapping[str, Iterable[str] | None] | Iterable[str] | None = organisations
    if not orgs:
        orgs = dict(trust.organisations) or None
    return TrustPolicy(
        authors=chosen_authors or None,
        publishers=chosen_publishers or None,
        organisations=orgs,
        chain_id=chain_id,
        registry=registry,
        confirmations=confirmations,
        required=required,
    )


def load_authorities(
    histories: Sequence[bytes | str], policy: TrustPolicy, chain: ChainView | None = None
) -> dict[bytes, Authority] | None:
    """The authorisation state of each key-history file (``okeios authors export``), verified
    under ``policy`` (:func:`~okeios._internal.verify.keyhistory.load_authority`); None when none
    given."""
    from okeios._internal.verify.keyhistory import load_authority

    if not histories:
        return None
    out: dict[bytes, Authority] = {}
    for data in histories:
        authority = load_authority(data, policy, chain=chain)
        out[authority.log_id] = authority
    return out
