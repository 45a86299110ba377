"""Bulk verification through executors: serial, a process pool and a Dask cluster give the
reports a plain loop over verify_bundle gives, and the chain is read once per fact."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import pickle
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

import pytest
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from okeios._internal.chain.registry import Registry, RegistryView
from okeios._internal.cli.demo import synthetic_records
from okeios._internal.protocol.bundle import Bundle
from okeios._internal.protocol.events import derive_log_id
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.anchoring import anchor
from okeios._internal.publish.store import Store
from okeios._internal.verify import bulk
from okeios._internal.verify.bulk import ChainSnapshot, SnapshotMissError, verify_many
from okeios._internal.verify.bundle import verify_bundle
from okeios._internal.verify.policy import ANYONE, TrustPolicy
from okeios._internal.verify.report import Property, Reason, Report, Status
from okeios.errors import BundleError, ChainError, InputError, PolicyError, RegistryMissingError
from tests.fakechain import FakeChain
from tests.helpers import CountingRng

COUNT = 200
RECORDS = synthetic_records(COUNT)
# Anchored checkpoints of 80, 150 and 190 entries; the last 10 records are never anchored.
BATCHES = ((0, 80, True), (80, 150, True), (150, 190, True), (190, 200, False))

SIGNATURE_FLIPPED = 3  # a bit flipped in the event signature
RECORD_SWAPPED = 42  # verified against another record
RECORD_NOT_GIVEN = 7
PATH_FLIPPED = 100  # a bit flipped in the inclusion proof
LOOKALIKE = 160  # points at a registry the policy does not trust


@dataclasses.dataclass
class Corpus:
    w3: Web3
    policy: TrustPolicy
    bundles: list[bytes]
    records: list[bytes | None]
    registry: Registry
    publisher: str
    anchored_sizes: tuple[int, ...]

    def fake(self) -> FakeChain:
        """A fake chain holding what the registry holds (it counts the lookups it answers)."""
        return FakeChain.copy_of(self.registry, [(self.publisher, derive_log_id(self.publisher))])


def _flip_bit_in(data: bytes, part: bytes, offset: int = 10) -> bytes:
    at = data.index(part) + offset
    flipped = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]
    Bundle.from_bytes(flipped)  # still a well-formed bundle: the verifier must catch it
    return flipped


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    w3 = Web3(EthereumTesterProvider())
    home = tmp_path_factory.mktemp("bulk") / "home"
    with Store.init(home, key=CountingRng(b"bulk publisher")(32)) as store:
        w3.eth.send_transaction(
            {"from": w3.eth.accounts[0], "to": store.address, "value": Web3.to_wei(1000, "ether")}
        )
        registry = Registry.deploy(w3, store.signer)
        for start, end, anchored in BATCHES:
            store.add(RECORDS[start:end])
            if anchored:
                assert anchor(store, registry).final
        exported = [store.export("0x" + rid.hex(), reveal_all=True) for rid in store.record_ids()]
        policy = TrustPolicy(
            authors=[store.address],
            publishers=[store.address],
            chain_id=registry.chain_id,
            registry=registry.address,
        )
        publisher = store.address
    assert len(exported) == COUNT
    bundles = [b.to_bytes() for b in exported]
    bundles[SIGNATURE_FLIPPED] = _flip_bit_in(
        bundles[SIGNATURE_FLIPPED], exported[SIGNATURE_FLIPPED].event.signature
    )
    bundles[PATH_FLIPPED] = _flip_bit_in(
        bundles[PATH_FLIPPED], exported[PATH_FLIPPED].inclusion.path[0]
    )
    attacker = LocalSigner.generate()
    w3.eth.send_transaction(
        {"from": w3.eth.accounts[0], "to": attacker.address, "value": Web3.to_wei(1000, "ether")}
    )
    fake = Registry.deploy(w3, attacker)
    ref = exported[LOOKALIKE].anchor
    assert ref is not None
    bundles[LOOKALIKE] = dataclasses.replace(
        exported[LOOKALIKE],
        anchor=dataclasses.replace(ref, registry=bytes.fromhex(fake.address[2:])),
    ).to_bytes()
    records: list[bytes | None] = list(RECORDS)
    records[RECORD_SWAPPED] = RECORDS[RECORD_SWAPPED + 1]
    records[RECORD_NOT_GIVEN] = None
    return Corpus(w3, policy, bundles, records, registry, publisher, (80, 150, 190, 200))


@pytest.fixture(scope="module")
def baseline_reports(corpus: Corpus) -> list[Report]:
    """What a plain loop over verify_bundle reports, with one live view."""
    view = RegistryView(corpus.w3)
    return [
        verify_bundle(b, corpus.policy, record=r, chain=view)
        for b, r in zip(corpus.bundles, corpus.records, strict=True)
    ]


@pytest.fixture(scope="module")
def baseline(baseline_reports: list[Report]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in baseline_reports]


# --- executors ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def process_pool() -> Iterator[Executor]:
    # spawn, not fork: the Dask client of the other fixture runs threads in this process.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        yield pool


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[Executor]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        message = 'dask is not installed: pip install "dask[distributed]" to test on a cluster'
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        yield client.get_executor()


EXECUTORS = ("serial", "process-pool", "dask")


@pytest.fixture(params=EXECUTORS)
def executor(request: pytest.FixtureRequest) -> Executor | None:
    if request.param == "serial":
        return None
    name = "process_pool" if request.param == "process-pool" else "dask_executor"
    found: Executor = request.getfixturevalue(name)
    return found


# --- the tests ------------------------------------------------------------------------------


def test_reports_travel_intact(baseline_reports: list[Report]) -> None:
    """Reports pickle; workers send them back packed as tuples, unpacked to equal reports."""
    assert bulk._COMPACT  # verify.Report and Verdict have the fields bulk.py packs
    for report in baseline_reports[::7] + baseline_reports[190:]:
        assert pickle.loads(pickle.dumps(report)) == report
        packed = pickle.loads(pickle.dumps(bulk._pack(report)))
        assert bulk._unpack(packed) == report
        assert bulk._unpack(report) is report
    sample = baseline_reports[:20] + baseline_reports[190:]
    assert bulk._decode(bulk._encode(sample)) == sample


class Label(str):
    """A str subclass: marshal does not write it, pickle does."""

    __slots__ = ()


def test_reports_travel_marshalled_and_as_a_pickle_when_marshal_cannot(
    baseline_reports: list[Report],
) -> None:
    """A chunk of reports goes as one marshal; one that marshal cannot write (a str subclass in
    a field) goes as a pickle; both come back equal, and recurring verdicts come back shared."""
    sample = baseline_reports[:30]
    blob = bulk._encode(sample)
    assert blob[:1] == b"m"
    decoded = bulk._decode(blob)
    assert decoded == sample
    shared = {id(v) for r in decoded for v in r.verdicts}
    assert len(shared) < sum(len(r.verdicts) for r in decoded)

    odd = [dataclasses.replace(sample[0], kind=Label(sample[0].kind)), *sample[1:3]]
    blob = bulk._encode(odd)
    assert blob[:1] == b"p"
    assert bulk._decode(blob) == odd
    with pytest.raises(RuntimeError, match="unknown form"):
        bulk._decode(b"x" + blob[1:])


def test_baseline_has_the_expected_failures(corpus: Corpus, baseline: list[dict[str, Any]]) -> None:
    """The corpus is what the other tests claim it is: passes, and failures where planted."""

    def reason(i: int, prop: str) -> str | None:
        return baseline[i]["verdicts"][prop].get("reason")  # type: ignore[no-any-return]

    assert reason(SIGNATURE_FLIPPED, "authenticity") in (
        "signature-mismatch",
        "signature-malformed",
    )
    assert reason(RECORD_SWAPPED, "integrity") == "record-mismatch"
    assert reason(PATH_FLIPPED, "inclusion") == "root-mismatch"
    assert reason(LOOKALIKE, "anchoring") == "registry-not-trusted"
    for i in range(190, 200):  # newer than every anchor: pending, neither failed nor passed
        assert reason(i, "anchoring") == "anchor-pending"
        assert baseline[i]["result"] == "undecided"
    planted = {SIGNATURE_FLIPPED, RECORD_SWAPPED, PATH_FLIPPED, LOOKALIKE}
    failed = {i for i, r in enumerate(baseline) if r["result"] == "fail"}
    assert failed == planted
    assert baseline[RECORD_NOT_GIVEN]["result"] == "pass"
    assert baseline[0]["verdicts"]["consistency"]["result"] == "pass"
    assert baseline[0]["anchoredBlock"] is not None


def test_identical_to_a_serial_loop_and_one_lookup_per_fact(
    corpus: Corpus,
    baseline: list[dict[str, Any]],
    baseline_reports: list[Report],
    executor: Executor | None,
) -> None:
    view = corpus.fake()
    done: list[int] = []
    reports = verify_many(
        corpus.bundles,
        corpus.policy,
        executor=executor,
        chain=view,
        records=corpus.records,
        chunk_size=16,
        max_in_flight=5,
        progress=done.append,
    )
    assert all(isinstance(r, Report) for r in reports)
    assert [r.to_dict() for r in reports] == baseline
    assert reports == baseline_reports
    assert sum(done) == COUNT
    assert len(done) == -(-COUNT // 16)
    # One lookup per fact: the chain id, the head, the latest anchor of the one log, and one
    # anchor per checkpoint size (80, 150, 190 (also the extension of the first two), 200).
    assert view.calls == Counter(chain_id=1, head=1, latest=1, anchor_at=4)
    assert set(view.keys.values()) == {1}
    sizes = sorted(k[-1] for k in view.keys if k[0] == "anchor_at")
    assert tuple(sizes) == corpus.anchored_sizes


def test_offline_without_a_chain(corpus: Corpus, process_pool: Executor) -> None:
    expected = [verify_bundle(b, corpus.policy).to_dict() for b in corpus.bundles]
    reports = verify_many(corpus.bundles, corpus.policy, executor=process_pool, chunk_size=64)
    assert [r.to_dict() for r in reports] == expected
    assert {r.verdict(Property.ANCHORING).status for r in reports} == {Status.SKIPPED}
    # ANYONE travels to the workers and still means anyone; a stranger's list still refuses.
    anyone = TrustPolicy(authors=ANYONE, publishers=ANYONE)
    reports = verify_many(corpus.bundles, anyone, executor=process_pool, chunk_size=64)
    assert [r.to_dict() for r in reports] == [
        verify_bundle(b, anyone).to_dict() for b in corpus.bundles
    ]
    assert sum(r.passed for r in reports) == COUNT - 2  # the flipped signature and proof
    stranger = TrustPolicy(authors=["0x" + "11" * 20], publishers=ANYONE)
    reports = verify_many(corpus.bundles, stranger, executor=process_pool, chunk_size=64)
    reasons = [r.verdict(Property.AUTHENTICITY).reason for r in reports]
    assert reasons[SIGNATURE_FLIPPED] in (Reason.SIGNATURE_MISMATCH, Reason.SIGNATURE_MALFORMED)
    del reasons[SIGNATURE_FLIPPED]
    assert set(reasons) == {Reason.AUTHOR_NOT_TRUSTED}


def test_chain_errors_become_the_same_verdicts(corpus: Corpus, process_pool: Executor) -> None:
    def flaky() -> FakeChain:
        """A node that fails for some anchor sizes (the same way every time)."""
        view = corpus.fake()
        timeout = ChainError("the node timed out")
        missing = RegistryMissingError("no contract at the registry")
        view.fail("anchor_at", timeout, lambda args: args[3] == 150)
        view.fail("anchor_at", missing, lambda args: args[3] == 200)
        return view

    expected = [verify_bundle(b, corpus.policy, chain=flaky()).to_dict() for b in corpus.bundles]
    view = flaky()
    reports = verify_many(
        corpus.bundles, corpus.policy, executor=process_pool, chain=view, chunk_size=32
    )
    assert [r.to_dict() for r in reports] == expected
    unavailable = [
        i
        for i, r in enumerate(reports)
        if r.verdict("anchoring").reason is Reason.CHAIN_UNAVAILABLE
    ]
    # Checkpoint 150 (records 80..149, but not the one pointing at a look-alike registry).
    assert unavailable == list(range(80, 150))
    assert all(
        reports[i].verdict("anchoring").reason is Reason.REGISTRY_MISSING for i in range(190, 200)
    )
    # A failed lookup is made once, not once per bundle.
    assert view.calls["anchor_at"] == 4
    assert set(view.keys.values()) == {1}


def test_a_chain_that_is_not_the_pinned_one(corpus: Corpus, process_pool: Executor) -> None:
    policy = TrustPolicy(
        authors=corpus.policy.authors,
        publishers=corpus.policy.publishers,
        chain_id=1,
        registry=corpus.registry.address,
    )
    view = corpus.fake()
    reports = verify_many(corpus.bundles, policy, executor=process_pool, chain=view)
    assert {r.verdict(Property.ANCHORING).reason for r in reports} == {Reason.CHAIN_MISMATCH}
    assert view.calls == Counter(chain_id=1)  # nothing else is asked of the wrong chain


def test_an_undecodable_bundle_raises_as_verify_bundle_does(
    corpus: Corpus, executor: Executor | None
) -> None:
    bundles = list(corpus.bundles[:120])
    bundles[37] = bundles[37][:-5]  # truncated
    bundles[101] = b"not a bundle"
    with pytest.raises(BundleError) as serial:
        verify_bundle(bundles[37], corpus.policy)
    with pytest.raises(BundleError) as caught:
        verify_many(
            bundles,
            corpus.policy,
            executor=executor,
            chain=RegistryView(corpus.w3),
            chunk_size=8,
        )
    # The first bad bundle in input order, whichever chunk failed first.
    assert type(caught.value) is type(serial.value)
    assert str(caught.value) == str(serial.value)
    assert "bundle #37 of the input" in "\n".join(getattr(caught.value, "__notes__", []))


def test_snapshot_capture_pickles_and_refuses_what_it_lacks(corpus: Corpus) -> None:
    view = corpus.fake()
    snapshot = ChainSnapshot.capture(view, corpus.policy, corpus.bundles)
    assert len(snapshot) == 5  # four anchors and the latest one
    copied = pickle.loads(pickle.dumps(snapshot))
    assert copied == snapshot
    live = RegistryView(corpus.w3)
    for b in corpus.bundles[::17]:
        assert (
            verify_bundle(b, corpus.policy, chain=copied).to_dict()
            == verify_bundle(b, corpus.policy, chain=live).to_dict()
        )
    with pytest.raises(SnapshotMissError):
        copied.anchor_at(corpus.registry.address, corpus.publisher, b"\x00" * 32, 80)
    with pytest.raises(SnapshotMissError):
        ChainSnapshot(None).chain_id()
    assert not issubclass(SnapshotMissError, ChainError)  # never turned into a verdict


def test_refuses_misuse(corpus: Corpus) -> None:
    with pytest.raises(InputError, match="as many records"):
        verify_many(corpus.bundles[:10], corpus.policy, records=corpus.records[:9])
    with pytest.raises(InputError, match="chunk_size"):
        verify_many(corpus.bundles[:10], corpus.policy, chunk_size=0)
    unpinned = TrustPolicy(authors=corpus.policy.authors, publishers=corpus.policy.publishers)
    with pytest.raises(PolicyError, match="pinned"):
        verify_many(corpus.bundles[:10], unpinned, chain=RegistryView(corpus.w3))
    assert verify_many([], corpus.policy) == []


def test_bundles_given_as_objects_or_buffers(
    corpus: Corpus, baseline: list[dict[str, Any]]
) -> None:
    mixed: list[Any] = [
        Bundle.from_bytes(b) if i % 3 == 0 else bytearray(b) if i % 3 == 1 else b
        for i, b in enumerate(corpus.bundles[:30])
    ]
    reports = verify_many(
        mixed, corpus.policy, chain=RegistryView(corpus.w3), records=corpus.records[:30]
    )
    assert [r.to_dict() for r in reports] == baseline[:30]
