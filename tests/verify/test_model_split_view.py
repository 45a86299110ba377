"""An adversarial model of the one-history promise (issue 19, ``docs/threat-model.md``).

A hostile publisher (one key, hence one log id) takes any sequence of actions: it writes events
of one record in several *homes* (forked copies of its log that share a prefix and then
diverge), anchors any home into any registry on any chain (the registry it is trusted in, a
second registry on the same chain, a registry on a second chain), gets any home's checkpoint
cosigned by a witness under any origin (the log's own, a re-cased one, a foreign one) and with a
second note key, and shows any verifier any subset of any home's bundles, or bundles mixed from
two homes; mirrors serve any home's tiles with an edited header (a re-cased log id, another
origin, a binding naming another origin).

Several verifiers with one trust policy consume what they are shown. Chain verifiers pin one
chain and one registry and require anchoring; witness verifiers trust one honest witness
(quorum 1) and the publisher's note key binding, with no chain; tiles auditors, each with its
own cache, audit a mirror under the same witness policy. Whatever a verifier accepts
(``verify_lineage`` or ``audit_tiles`` passes) is the record's history it now believes.

**Invariant**: within each group of verifiers, every two accepted histories of the record are
prefixes of one another. A verifier that reports a defect accepts nothing, so "unless one of
them reports the fork" is built in: reported is not accepted.

The CI run has a bounded budget (``MODEL_EXAMPLES``, about 30 s); ``benchmarks/model_search.py
--examples N`` runs the same machine longer. Every failure it finds becomes a named regression
test below the machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from okeios._internal.protocol.bundle import AnchorRef, Bundle
from okeios._internal.protocol.events import EventKind, SignedEvent
from okeios._internal.protocol.hexcodec import from_hex
from okeios._internal.protocol.note import (
    CosignatureSigner,
    Ed25519NoteSigner,
    NoteCheckpoint,
    NoteKeyBinding,
    SignedNote,
    add_checkpoint_request,
    derive_note_seed,
    log_origin,
    parse_cosignatures,
)
from okeios._internal.protocol.signing import LocalSigner, sign_typed
from okeios._internal.publish.publisher import Publisher
from okeios._internal.publish.tiles import publish_tiles
from okeios._internal.verify.lineage import verify_lineage
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import Property
from okeios._internal.verify.tiles import TileFetcher, audit_tiles
from okeios._internal.verify.witness import Witness, WitnessPolicy, witness_verdict
from okeios.errors import ChainError, NoteError, OkeiosError
from tests.fakechain import FakeChain, FakeRegistry
from tests.helpers import PUBLISHER_KEY, CountingRng

MODEL_EXAMPLES = int(os.environ.get("OKEIOS_MODEL_EXAMPLES", "25"))
MODEL_STEPS = int(os.environ.get("OKEIOS_MODEL_STEPS", "25"))
RECORD_ID = hashlib.sha256(b"the record").digest()
RECIPIENTS = [LocalSigner.from_key(hashlib.sha256(b"r%d" % i).digest()).address for i in range(2)]
T0 = 1_750_000_000
NOW = T0 + 10_000
# The operations a home can log about the record after its CREATE (AMEND carries a record).
KINDS = ("grant", "revoke", "access", "amend", "filler")
# Mostly the log's own origin and key, sometimes a re-cased or foreign origin, a second key.
ORIGINS = st.sampled_from([0, 0, 0, 1, 2, 3])


@dataclass
class Home:
    """A copy of the publisher's log: the operations it replays to rebuild its Publisher."""

    ops: list[tuple[str, int]] = field(default_factory=list)
    _built: Publisher | None = None

    def publisher(self) -> Publisher:
        if self._built is None:
            p = Publisher(
                LocalSigner.from_key(PUBLISHER_KEY), clock=lambda: float(T0), rng=CountingRng()
            )
            for op in self.ops:
                _apply(p, op)
            self._built = p
        return self._built

    def add(self, op: tuple[str, int]) -> None:
        _apply(self.publisher(), op)
        self.ops.append(op)

    def fork(self) -> Home:
        return Home(list(self.ops))


def _apply(p: Publisher, op: tuple[str, int]) -> None:
    kind, n = op
    if kind == "create":
        p.create({"resourceType": "Observation", "status": "final"}, record_id=RECORD_ID, time=T0)
    elif kind == "amend":
        p.amend(RECORD_ID, {"resourceType": "Observation", "status": f"amended {n}"}, time=T0)
    elif kind == "filler":  # another record: moves the record's events around in the tree
        p.create({"resourceType": "Observation", "n": n}, time=T0)
    else:
        p.record_event(EventKind(kind), RECORD_ID, subject=RECIPIENTS[n % 2], time=T0)


def _record_events(p: Publisher, size: int) -> list[bytes]:
    return [e.id for e in p.events if e.index < size and e.record_id == RECORD_ID]


def _is_prefix(a: tuple[bytes, ...], b: tuple[bytes, ...]) -> bool:
    return len(a) <= len(b) and b[: len(a)] == a


class SplitView(RuleBasedStateMachine):
    """The hostile publisher's moves and the verifiers' views; see the module docstring."""

    @initialize()
    def setup(self) -> None:
        self.signer = LocalSigner.from_key(PUBLISHER_KEY)
        self.address = self.signer.address
        self.home = Home()
        self.home.add(("create", 0))
        # The publisher has forked its home right after the CREATE: two copies to play with.
        self.homes: list[Home] = [self.home, self.home.fork()]
        self.chain = FakeChain(31337)
        self.other_chain = FakeChain(10)
        self.trusted = self.chain.deploy()
        self.registries: list[FakeRegistry] = [
            self.trusted,
            self.chain.deploy(),  # a second registry on the trusted chain
            self.other_chain.deploy(),  # a registry on a second chain
        ]
        self.policy = TrustPolicy(
            authors=[self.address],
            publishers=[self.address],
            chain_id=self.chain.id,
            registry=self.trusted.address,
        )
        log_id = self.home.publisher().log_id
        self.log_id = log_id
        self.witness = Witness(CosignatureSigner("w.example", b"\x0c" * 32), clock=lambda: NOW)
        self.seed = derive_note_seed(PUBLISHER_KEY, log_id)
        self.witness.add_log(log_origin(log_id), self._note_key(log_origin(log_id)).vkey())
        self.witness_policy = WitnessPolicy([self.witness.vkey()], 1)
        self.offline_policy = TrustPolicy(authors=[self.address], publishers=[self.address])
        # per home: the notes the witness cosigned for it, with their note key
        self.cosigned: dict[int, list[tuple[SignedNote, Ed25519NoteSigner, int]]] = {}
        self.served: dict[int, tuple[int, int]] = {}  # mirror: (home, size) it serves
        self.accepted: dict[str, set[tuple[bytes, ...]]] = {
            "chain": set(),
            "witness": set(),
            "tiles": set(),
        }
        self.folder = Path(tempfile.mkdtemp(prefix="okeios-model-"))

    def teardown(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- the publisher's moves ---------------------------------------------------------------

    def _note_key(self, origin: str, second: bool = False) -> Ed25519NoteSigner:
        seed = hashlib.sha256(self.seed).digest() if second else self.seed
        return Ed25519NoteSigner(origin, seed)

    def _origins(self) -> list[str]:
        own = log_origin(self.log_id)
        return [own, "okeios/0x" + self.log_id.hex().upper(), "example.com/fork", own + "0"]

    @rule(
        home=st.integers(0, 7),
        ops=st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 3)), min_size=1, max_size=3),
    )
    def write(self, home: int, ops: list[tuple[str, int]]) -> None:
        h = self.homes[home % len(self.homes)]
        for op in ops:
            with contextlib.suppress(OkeiosError):  # a move the writer itself refuses
                h.add(op)

    @precondition(lambda self: len(self.homes) < 4)
    @rule(home=st.integers(0, 7))
    def fork(self, home: int) -> None:
        self.homes.append(self.homes[home % len(self.homes)].fork())

    @rule(home=st.integers(0, 7), registry=st.integers(0, 2), with_proof=st.booleans())
    def anchor(self, home: int, registry: int, with_proof: bool) -> None:
        p = self.homes[home % len(self.homes)].publisher()
        reg = self.registries[registry]
        last = reg.latest(self.address, self.log_id)
        size = p.log.size
        proof = None
        if last is not None and with_proof and last.tree_size < size:
            proof = p.log.consistency_proof(last.tree_size, size)
        elif last is not None:
            # The contract demands the consistency proof from the latest anchor; a publisher
            # that offers none (or one its tree cannot give) is reverted, as the contract does.
            if last.tree_size >= size or p.log.root(last.tree_size) != last.root:
                return
            proof = p.log.consistency_proof(last.tree_size, size)
        try:
            reg.anchor(self.address, self.log_id, size, p.log.root(), proof)
        except ChainError:
            return
        # Whatever is anchored is shown at once, in full, to a chain verifier.
        self.show_anchored(home, registry, which=-1, keep=255, mix=-1)

    @rule(
        home=st.integers(0, 7),
        origin=ORIGINS,
        second_key=st.sampled_from([False, False, True]),
        operator=st.sampled_from([False, False, False, True]),
    )
    def ask_the_witness(self, home: int, origin: int, second_key: bool, operator: bool) -> None:
        """The home's checkpoint, signed under ``origin`` with the log's note key (or a second
        one), sent to the witness; with ``operator``, the witness's operator is first asked to
        trust that origin and key (it refuses a second origin or key for the log)."""
        if operator:
            name = self._origins()[origin]
            with contextlib.suppress(NoteError):
                self.witness.add_log(name, self._note_key(name, second_key).vkey())
        index = home % len(self.homes)
        p = self.homes[index].publisher()
        name = self._origins()[origin]
        key = self._note_key(name, second_key)
        size = p.log.size
        note = key.sign_note(NoteCheckpoint(name, size, p.log.root()).text())
        state = self.witness.logs.get(self.log_id)
        old = state.size if state is not None else 0
        proof = p.log.consistency_proof(old, size) if 0 < old < size else []
        status, _, body = self.witness.add_checkpoint(add_checkpoint_request(old, proof, note))
        if status == 200:
            signed = note.with_signatures(parse_cosignatures(body))
            self.cosigned.setdefault(index, []).append((signed, key, size))
            # Whatever is cosigned is shown at once, in full, to a witness verifier.
            self.show_witnessed(index, which=0, keep=255)

    # -- what verifiers are shown --------------------------------------------------------------

    def _bundles(self, p: Publisher, size: int, anchor: AnchorRef | None) -> list[Bundle]:
        cp = p.checkpoint(size)
        return [
            p.bundle(e.id, checkpoint=cp, anchor=anchor)
            for e in p.events
            if e.index < size and e.record_id == RECORD_ID
        ]

    def _accept(self, group: str, shown: list[Bundle] | list[SignedEvent], passed: bool) -> None:
        """Record what a verifier of ``group`` accepted: the record's event ids, in log order
        (``shown`` are bundles, or a tiled log's events in log order)."""
        if not passed:
            return
        if shown and isinstance(shown[0], Bundle):
            ordered = sorted(shown, key=lambda b: b.inclusion.index)  # type: ignore[union-attr]
            ids = [b.event.id for b in ordered]  # type: ignore[union-attr]
        else:
            ids = [e.id for e in shown if e.event.record_id == RECORD_ID]  # type: ignore[union-attr]
        if ids:
            self.accepted[group].add(tuple(ids))

    @rule(
        home=st.integers(0, 7),
        registry=st.integers(0, 2),
        which=st.integers(0, 7),
        keep=st.integers(0, 255),
        mix=st.integers(-1, 7),
    )
    def show_anchored(self, home: int, registry: int, which: int, keep: int, mix: int) -> None:
        """A chain verifier is shown a home's bundles at one anchored size of one registry,
        possibly only some of them (``keep`` is a bit mask), possibly with the last one taken
        from another home's tree at that registry's latest anchor."""
        p = self.homes[home % len(self.homes)].publisher()
        reg = self.registries[registry]
        anchors = reg.anchors(self.address, self.log_id)
        if not anchors:
            return
        entry = anchors[which % len(anchors)]
        if entry.tree_size > p.log.size:
            return
        ref = AnchorRef(
            reg.chain.id, from_hex(reg.address, any_case=True), b"\x01" * 32, entry.block_number
        )
        bundles = self._bundles(p, entry.tree_size, ref)
        shown = [b for i, b in enumerate(bundles) if keep >> i & 1 or i == 0]
        if mix >= 0 and len(self.homes) > 1:
            q = self.homes[mix % len(self.homes)].publisher()
            last = anchors[-1]
            if last.tree_size <= q.log.size:
                theirs = self._bundles(q, last.tree_size, ref)
                if theirs:
                    shown = [*shown[:-1], theirs[-1]]
        report = verify_lineage(shown, self.policy, chain=self.chain)
        passed = report.passed and all(r.verdict(Property.ANCHORING).passed for r in report.reports)
        self._accept("chain", shown, passed)

    @rule(home=st.integers(0, 7), which=st.integers(0, 7), keep=st.integers(0, 255))
    def show_witnessed(self, home: int, which: int, keep: int) -> None:
        """A witness verifier is shown a home's bundles at the size of a note the witness
        cosigned for that home, with the publisher's binding of the note's key."""
        index = home % len(self.homes)
        notes = self.cosigned.get(index)
        if not notes:
            return
        note, key, size = notes[-1 - which % len(notes)]
        p = self.homes[index].publisher()
        binding = _hand_made_binding(self.signer, self.log_id, key.vkey())
        bundles = self._bundles(p, size, None)
        shown = [b for i, b in enumerate(bundles) if keep >> i & 1 or i == 0]
        report = verify_lineage(shown, self.offline_policy)
        passed = report.passed and all(
            witness_verdict(b.checkpoint, note, binding, self.witness_policy, now=NOW).passed
            for b in shown
        )
        self._accept("witness", shown, passed)

    @rule(
        home=st.integers(0, 7),
        mirror=st.integers(0, 1),
        edit=st.sampled_from(["none", "none", "recase", "origin", "unbound-origin"]),
    )
    def mirror_tiles(self, home: int, mirror: int, edit: str) -> None:
        """A mirror serves a home's tiles at the size of its latest cosigned note, with that
        note as the checkpoint and a binding of its key; ``edit`` alters the unsigned header
        (a re-cased log id, another origin) or the binding's stated origin."""
        index = home % len(self.homes)
        notes = self.cosigned.get(index)
        if not notes:
            return
        note, key, size = notes[-1]
        p = self.homes[index].publisher()
        folder = self.folder / f"mirror{mirror}"
        shutil.rmtree(folder, ignore_errors=True)
        publish_tiles(
            folder,
            signer=self.signer,
            log_id=self.log_id,
            events=[e.signed for e in p.events if e.index < size],
            checkpoint=p.checkpoint(size),
        )
        (folder / "checkpoint").write_bytes(note.to_bytes())
        header = json.loads((folder / "okeios/log.json").read_bytes())
        header["noteKey"] = _hand_made_binding(self.signer, self.log_id, key.vkey()).to_dict()
        if edit == "recase":
            header["logId"] = "0x" + self.log_id.hex().upper()
        elif edit == "origin":
            header["origin"] = key.name
        elif edit == "unbound-origin":
            header["noteKey"]["origin"] = key.name
        (folder / "okeios/log.json").write_text(json.dumps(header))
        self.served[mirror] = (index, size)
        # Whatever a mirror serves, one auditor audits at once.
        self.audit_a_mirror(auditor=mirror, mirror=mirror)

    @rule(auditor=st.integers(0, 2), mirror=st.integers(0, 1))
    def audit_a_mirror(self, auditor: int, mirror: int) -> None:
        """An auditor with its own cache and the one witness policy (no chain) audits a
        mirror; a passing audit accepts the tree it read."""
        if mirror not in self.served:
            return
        index, size = self.served[mirror]
        fetcher = TileFetcher(self.folder / f"mirror{mirror}", self.folder / f"cache{auditor}")
        try:
            report = audit_tiles(
                fetcher, publisher=self.address, chain=None, witnesses=self.witness_policy, now=NOW
            )
        except OkeiosError:
            return
        events = [e.signed for e in self.homes[index].publisher().events if e.index < size]
        self._accept("tiles", events, report.passed)

    # -- the promise -------------------------------------------------------------------------

    @invariant()
    def one_history(self) -> None:
        for group, histories in self.accepted.items():
            ordered = sorted(histories, key=len)
            for a, b in itertools.pairwise(ordered):
                assert _is_prefix(a, b), (
                    f"two {group} verifiers accepted histories of one record that are not "
                    f"prefixes of each other: {[h.hex()[:8] for h in a]} vs "
                    f"{[h.hex()[:8] for h in b]}"
                )


def _hand_made_binding(signer: LocalSigner, log_id: bytes, vkey: str) -> NoteKeyBinding:
    """The binding a hostile publisher signs for any key name (the library refuses to make one
    for a name other than the log's origin; the publisher signs the typed data itself)."""
    typed, digest = NoteKeyBinding._digest(log_id, vkey)
    return NoteKeyBinding(log_id, vkey, signer.address, sign_typed(signer, typed, digest))


SplitView.TestCase.settings = settings(
    max_examples=MODEL_EXAMPLES,
    stateful_step_count=MODEL_STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestSplitView = SplitView.TestCase


# --- the invariant can fail: the model catches a broken witness and a broken registry ---------


def test_the_model_catches_a_witness_that_cosigns_a_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the witness's consistency check switched off, two forks of the log each get
    cosigned, two witness verifiers accept them, and the invariant fails: the model's promise is
    a check that can fail, found by the search (``benchmarks/model_search.py``) in this form."""
    import okeios._internal.verify.witness as witness_module

    monkeypatch.setattr(witness_module, "verify_consistency", lambda *a, **k: None)
    machine = SplitView()
    machine.setup()
    machine.write(home=0, ops=[("grant", 0)])
    machine.ask_the_witness(home=0, origin=0, second_key=False, operator=False)
    machine.write(home=1, ops=[("access", 1), ("filler", 0)])
    machine.ask_the_witness(home=1, origin=0, second_key=False, operator=False)
    with pytest.raises(AssertionError, match="not prefixes"):
        machine.one_history()


def test_the_model_catches_a_registry_that_anchors_a_fork() -> None:
    """A registry that took a forked tree without its consistency proof (the contract never
    does: ``AnchorRegistryInconsistentHistory``) lets two chain verifiers accept two histories:
    the invariant fails."""
    machine = SplitView()
    machine.setup()
    machine.write(home=0, ops=[("grant", 0)])
    machine.anchor(home=0, registry=0, with_proof=True)
    machine.write(home=1, ops=[("revoke", 1), ("filler", 0)])
    fork = machine.homes[1].publisher()
    machine.trusted.anchor(machine.address, machine.log_id, fork.log.size, fork.log.root(), None)
    machine.show_anchored(home=1, registry=0, which=-1, keep=255, mix=-1)
    with pytest.raises(AssertionError, match="not prefixes"):
        machine.one_history()


def test_the_same_fork_through_the_contract_rules_is_refused() -> None:
    """The regression the two tests above stand on: the same moves through the registry's real
    rule (a consistency proof from the latest anchor) and the real witness leave one history."""
    machine = SplitView()
    machine.setup()
    machine.write(home=0, ops=[("grant", 0)])
    machine.anchor(home=0, registry=0, with_proof=True)
    machine.ask_the_witness(home=0, origin=0, second_key=False, operator=False)
    machine.write(home=1, ops=[("revoke", 1), ("filler", 0)])
    machine.anchor(home=1, registry=0, with_proof=True)
    machine.ask_the_witness(home=1, origin=0, second_key=False, operator=False)
    machine.ask_the_witness(home=1, origin=1, second_key=True, operator=True)
    machine.one_history()
    assert len(machine.accepted["chain"]) == 1
    assert len(machine.accepted["witness"]) == 1
