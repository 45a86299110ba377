"""The chain lookups of bulk verification cannot drift from the verifier's.

For many kinds of bundles (anchored, with and without a carried extension, never anchored,
without an anchor reference, pointing at another registry or chain, another publisher's, in
JSON form) under many chain conditions (healthy, another chain, a missing registry, a node
failing on each kind of lookup, too few confirmations), the bulk prefetcher asks the chain
exactly what the verifier asks it, and verifying against the snapshot it builds gives exactly
the report verifying against the live chain gives, without ever missing a fact.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from okeios._internal.protocol.bundle import AnchorRef, Bundle, Extension
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.publisher import Publisher
from okeios._internal.verify import bulk, chainplan
from okeios._internal.verify.bulk import SnapshotMissError, verify_many
from okeios._internal.verify.bundle import verify_bundle
from okeios._internal.verify.chainplan import ChainHeader, plan_lookups
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import Reason, Report
from okeios.errors import ChainError, PolicyError, RegistryMissingError
from tests.fakechain import FakeChain, FakeRegistry
from tests.helpers import CountingRng, make_publisher

SIZES = (4, 7, 12)
GROWN = 15  # entries 12..14 are never anchored
OTHER_CHAIN = 1


def _grow(publisher: Publisher, count: int) -> None:
    for _ in range(count):
        n = publisher.log.size
        publisher.create({"resourceType": "Observation", "id": str(n)}, record_id=bytes([n]) * 32)


@dataclasses.dataclass
class World:
    chain: FakeChain
    registry: FakeRegistry
    lookalike: FakeRegistry
    publisher: Publisher
    bundles: list[bytes]

    def policy(self, **changes: Any) -> TrustPolicy:
        base: dict[str, Any] = {
            "authors": [self.publisher.address],
            "publishers": [self.publisher.address],
            "chain_id": self.chain.id,
            "registry": self.registry.address,
        }
        return TrustPolicy(**{**base, **changes})


def _ref(registry: str, chain_id: int, ext: Extension | None = None) -> AnchorRef:
    return AnchorRef(chain_id, bytes.fromhex(registry[2:]), b"\x07" * 32, 3, ext)


def _world() -> World:
    chain = FakeChain()
    registry = chain.deploy()
    lookalike = chain.deploy()
    publisher = make_publisher()
    for size in SIZES:
        _grow(publisher, size - publisher.log.size)
        registry.anchor(publisher.address, publisher.log_id, size, publisher.log.root())
    _grow(publisher, GROWN - publisher.log.size)
    chain.mine(2)

    def extension(size: int, to: int, *, bad: bool = False) -> Extension:
        proof = tuple(publisher.log.consistency_proof(size, to))
        root = publisher.log.root(to)
        return Extension(to, hashlib.sha256(root).digest() if bad else root, proof)

    found: list[Bundle] = []
    for size in (*SIZES, 10, GROWN):
        cp = publisher.checkpoint(size)
        event = publisher.events[size - 1].id
        home = _ref(registry.address, chain.id)
        found += [
            publisher.bundle(event, checkpoint=cp),  # no anchor reference
            publisher.bundle(event, checkpoint=cp, anchor=home),
            publisher.bundle(event, checkpoint=cp, anchor=_ref(lookalike.address, chain.id)),
            publisher.bundle(event, checkpoint=cp, anchor=_ref(registry.address, OTHER_CHAIN)),
        ]
        for to in (7, 12, 14):
            if to > size:
                for bad in (False, True):
                    ref = _ref(registry.address, chain.id, extension(size, to, bad=bad))
                    found.append(publisher.bundle(event, checkpoint=cp, anchor=ref))
    # Another publisher's log, never anchored, claiming the trusted registry.
    other = Publisher(
        LocalSigner.from_key(hashlib.sha256(b"other").digest()), rng=CountingRng(b"o")
    )
    _grow(other, 3)
    found.append(other.bundle(other.events[1].id, anchor=_ref(registry.address, chain.id)))
    # A second history: the same key signs another tree of an anchored size.
    fork = make_publisher()
    for n in range(SIZES[1]):
        fork.create({"resourceType": "Observation", "id": f"fork {n}"}, record_id=bytes([n]) * 32)
    found.append(fork.bundle(fork.events[2].id, anchor=_ref(registry.address, chain.id)))
    bundles = [b.to_bytes() for b in found]
    bundles += [b.to_json().encode() for b in found[::5]]  # the JSON form: a full decode
    return World(chain, registry, lookalike, publisher, bundles)


@pytest.fixture(scope="module")
def world() -> World:
    return _world()


Condition = Callable[[World], TrustPolicy]


def _healthy(w: World) -> TrustPolicy:
    return w.policy()


def _another_chain(w: World) -> TrustPolicy:
    return w.policy(chain_id=OTHER_CHAIN)


def _missing_registry(w: World) -> TrustPolicy:
    return w.policy(registry="0x" + "5a" * 20)


def _unfinal(w: World) -> TrustPolicy:
    return w.policy(confirmations=4)


def _failing(method: str, error: ChainError, **only: int) -> Condition:
    def condition(w: World) -> TrustPolicy:
        size = only.get("size")
        w.chain.fail(method, error, lambda args: size is None or args[3] == size)
        return w.policy()

    condition.__name__ = f"failing_{method}_{only}"
    return condition


CONDITIONS: list[Condition] = [
    _healthy,
    _another_chain,
    _missing_registry,
    _unfinal,
    _failing("chain_id", ChainError("the node is down")),
    _failing("head", ChainError("the node timed out")),
    _failing("latest", ChainError("the node timed out")),
    _failing("anchor_at", ChainError("the node timed out"), size=7),
    _failing("anchor_at", ChainError("the node timed out"), size=14),
    _failing("anchor_at", RegistryMissingError("no contract at the registry"), size=12),
]


def _asked(chain: FakeChain) -> tuple[Counter[str], Counter[tuple[Any, ...]]]:
    calls, keys = Counter(chain.calls), Counter(chain.keys)
    chain.calls.clear()
    chain.keys.clear()
    return calls, keys


def drift(bundles: list[bytes], policy: TrustPolicy, chain: FakeChain) -> list[str]:
    """How the prefetcher and the verifier disagree on these bundles (empty: they agree)."""
    problems: list[str] = []
    _asked(chain)
    for i, data in enumerate(bundles):
        live = verify_bundle(data, policy, chain=chain)
        verifier_asked = _asked(chain)
        snapshot = bulk._Prefetcher(chain, policy).snapshot([bulk._header(data)])
        prefetch_asked = _asked(chain)
        if prefetch_asked != verifier_asked:
            problems.append(
                f"#{i}: prefetched {prefetch_asked}, the verifier asks {verifier_asked}"
            )
        try:
            offline = verify_bundle(data, policy, chain=snapshot)
        except SnapshotMissError as exc:
            problems.append(f"#{i}: snapshot miss: {exc}")
            continue
        if offline != live:
            problems.append(f"#{i}: {offline.to_dict()} != {live.to_dict()}")
    return problems


@pytest.mark.parametrize("condition", CONDITIONS, ids=lambda c: c.__name__)
def test_the_prefetcher_asks_what_the_verifier_asks(world: World, condition: Condition) -> None:
    world.chain.heal()
    policy = condition(world)
    try:
        assert drift(world.bundles, policy, world.chain) == []
        # Chunked as verify_many ships them: each chunk's snapshot holds what its bundles need.
        live = [verify_bundle(b, policy, chain=world.chain) for b in world.bundles]
        for size in (1, 7, len(world.bundles)):
            assert verify_many(world.bundles, policy, chain=world.chain, chunk_size=size) == live
    finally:
        world.chain.heal()


def test_the_conditions_reach_every_chain_verdict(world: World) -> None:
    """The bundles and conditions above are varied enough to mean something."""
    seen: set[tuple[Reason | None, Reason | None]] = set()
    for condition in CONDITIONS:
        world.chain.heal()
        policy = condition(world)
        for data in world.bundles:
            r: Report = verify_bundle(data, policy, chain=world.chain)
            seen.add((r.verdict("anchoring").reason, r.verdict("consistency").reason))
    world.chain.heal()
    reasons = {reason for pair in seen for reason in pair}
    assert reasons >= {
        None,  # passes
        Reason.NOT_ANCHORED,
        Reason.ANCHOR_ROOT_MISMATCH,
        Reason.NOT_FINAL,
        Reason.CHAIN_MISMATCH,
        Reason.REGISTRY_NOT_TRUSTED,
        Reason.REGISTRY_MISSING,
        Reason.CHAIN_UNAVAILABLE,
        Reason.CONSISTENCY_UNPROVEN,
        Reason.EXTENSION_NOT_ANCHORED,
        Reason.INCONSISTENT_HISTORY,
    }, seen


def test_the_check_catches_a_prefetcher_that_drifts(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prefetcher that forgot the extension's anchor, or asked one lookup too many, is
    caught: the drift check is not vacuous."""
    real = chainplan.read_facts

    def forgets_the_extension(plan: chainplan.LookupPlan, chain: Any) -> Any:
        return real(plan._replace(extension=None), chain)

    def asks_too_much(plan: chainplan.LookupPlan, chain: Any) -> Any:
        chain.head()
        return real(plan, chain)

    world.chain.heal()
    for mutant in (forgets_the_extension, asks_too_much):
        monkeypatch.setattr(bulk, "read_facts", mutant)
        assert drift(world.bundles, world.policy(), world.chain) != []
    monkeypatch.undo()
    assert drift(world.bundles, world.policy(), world.chain) == []


def test_the_quick_header_is_the_decoded_one(world: World) -> None:
    binary = [b for b in world.bundles if not b.startswith(b"{")]
    assert binary
    for data in binary:
        quick = bulk._quick_header(data)
        assert quick is not None
        assert quick == ChainHeader.of(Bundle.load(data))
    for data in world.bundles:
        assert bulk._header(data) == ChainHeader.of(Bundle.load(data))


def test_a_plan_needs_the_pins(world: World) -> None:
    header = ChainHeader.of(Bundle.load(world.bundles[1]))
    with pytest.raises(PolicyError, match="pinned"):
        plan_lookups(header, world.policy(chain_id=None, registry=None))
    plan = plan_lookups(header, world.policy())
    assert plan.ref_trusted
    assert plan.anchor == (world.registry.address, *plan.latest[1:], header.tree_size)
    # The pinned registry matches whatever the case of the bundle's hex.
    lower = plan_lookups(header, world.policy(registry=world.registry.address.lower()))
    assert lower.ref_trusted
