"""Crash-safe anchoring of a store's checkpoints through an AnchorRegistry.

Each attempt is a journal entry in the store, moved through these states, each step committed
before the next is taken:

``prepared``  the checkpoint to anchor is recorded; then the signed transaction (raw bytes,
              hash, nonce) is recorded, still before anything is sent
``sent``      the transaction was handed to the node
``mined``     a receipt is in the canonical chain, not yet with enough confirmations
``final``     enough confirmations; the bundle export uses it
``dropped``   the transaction left the chain (a reorg) or lost its nonce; a new attempt follows
``failed``    the transaction reverted (the error is recorded)

:func:`anchor` first reconciles every unfinished entry with the chain (re-broadcasting the very
same signed transaction when it is not mined and its nonce is still free, so nothing is anchored
twice), re-checks recent final entries for reorgs, and only then anchors the current log size if
the chain does not already hold it. A killed process, an unreachable node or a restarted node
therefore loses nothing: the next run picks up where the journal says.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from okeios._internal.chain.registry import Receipt, Registry
from okeios._internal.protocol.hexcodec import hex_repr, to_hex
from okeios._internal.protocol.signing import checksum_address
from okeios._internal.publish.store import JournalEntry, Store
from okeios.errors import ChainError, KeyRotationError

__all__ = ["AnchorResult", "RegistryHandover", "anchor", "reconcile"]

log = logging.getLogger(__name__)

RECHECK_FINAL = 8  # how many of the latest final anchors are re-checked for reorgs on each run
RECEIPT_RETRIES = (0.05, 0.2, 0.5)  # pauses between the re-reads of a missing receipt

Echo = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class AnchorResult:
    """What an anchoring run did."""

    def __repr__(self) -> str:
        return hex_repr(self)

    chain_id: int
    registry: str
    tree_size: int
    entry: JournalEntry | None
    confirmations: int
    actions: tuple[str, ...]

    @property
    def final(self) -> bool:
        return self.entry is not None and self.entry.state == "final"


def _quiet(_: str) -> None:
    return None


def _anchored_elsewhere(
    store: Store, registry: Registry, entry: JournalEntry, echo: Echo
) -> JournalEntry | None:
    """If the registry already holds this checkpoint (anchored by some other transaction of
    ours), mark the entry final from the chain's record of it."""
    anchored = registry.root_at(store.address, store.log_id, entry.tree_size)
    if anchored is None or anchored.root != entry.root:
        return None
    if entry.tx_hash is not None:
        by = registry.anchored_by(store.address, store.log_id, entry.tree_size)
        if by == entry.tx_hash:
            # Our own transaction, whose receipt the node has not indexed yet (Anvil answers
            # an empty receipt in that window): not "another transaction". The receipt path
            # takes it from here, with its block hash and confirmations.
            return None
    echo(f"size {entry.tree_size}: already anchored (block {anchored.block_number})")
    return store.journal.update(
        entry.id,
        state="final",
        block_number=anchored.block_number,
        timestamp=anchored.timestamp,
        error="anchored by another transaction",
    )


def _canonical_receipt(registry: Registry, tx_hash: bytes) -> Receipt | None:
    """The transaction's receipt if it is in a block of the canonical chain, else ``None``."""
    receipt = registry.receipt(tx_hash)
    if receipt is not None and registry.block_hash(receipt.block_number) != receipt.block_hash:
        return None  # a stale receipt from a block that left the chain
    return receipt


def _check_entry(
    store: Store, registry: Registry, entry: JournalEntry, confirmations: int, echo: Echo
) -> JournalEntry:
    """Move one journal entry forward as far as the chain allows right now."""
    if entry.raw_tx is None or entry.tx_hash is None or entry.nonce is None:
        # Killed before the transaction was signed: nothing can have been sent.
        found = _anchored_elsewhere(store, registry, entry, echo)
        return found or store.journal.update(entry.id, state="dropped", error="never signed")
    receipt = _canonical_receipt(registry, entry.tx_hash)
    if receipt is None:
        found = _anchored_elsewhere(store, registry, entry, echo)
        if found is not None:
            return found
        if registry.mined_nonce(store.address) <= entry.nonce:
            echo(f"size {entry.tree_size}: (re)sending transaction {to_hex(entry.tx_hash)}")
            registry.broadcast(entry.raw_tx)
            return store.journal.update(
                entry.id, state="sent", block_number=None, block_hash=None, error=None
            )
        # The nonce is used. The receipt read above may simply have come before the node had
        # indexed the block that used it (Anvil answers an empty receipt in that window):
        # read it again, after the nonce, before declaring the transaction dropped.
        for delay in RECEIPT_RETRIES:
            receipt = _canonical_receipt(registry, entry.tx_hash)
            if receipt is not None:
                break
            time.sleep(delay)
        else:
            receipt = _canonical_receipt(registry, entry.tx_hash)
        if receipt is None:
            found = _anchored_elsewhere(store, registry, entry, echo)
            if found is not None:
                return found
            if registry.anchored_by(store.address, store.log_id, entry.tree_size) == (
                entry.tx_hash
            ):
                return entry  # mined (its event is there), the receipt not indexed yet: poll on
            echo(f"size {entry.tree_size}: transaction {to_hex(entry.tx_hash)} was dropped")
            return store.journal.update(
                entry.id, state="dropped", error="not in the chain and its nonce was used"
            )
    if not receipt.success:
        return store.journal.update(
            entry.id,
            state="failed",
            block_number=receipt.block_number,
            block_hash=receipt.block_hash,
            error="the anchor transaction reverted",
        )
    depth = registry.block_number() - receipt.block_number + 1
    state = "final" if depth >= confirmations else "mined"
    if state != entry.state or entry.block_hash != receipt.block_hash:
        entry = store.journal.update(
            entry.id,
            state=state,
            block_number=receipt.block_number,
            block_hash=receipt.block_hash,
            timestamp=registry.block_timestamp(receipt.block_number),
            error=None,
        )
    return entry


def reconcile(
    store: Store, registry: Registry, *, confirmations: int = 1, echo: Echo = _quiet
) -> list[JournalEntry]:
    """Bring every unfinished journal entry (and the latest final ones) up to date."""
    chain_id, address = registry.chain_id, registry.address
    open_ = store.journal.entries(chain_id, address, states=("prepared", "sent", "mined"))
    finals = store.journal.rows.latest(chain_id, address, ("final",), RECHECK_FINAL)
    out = []
    for entry in finals:
        if entry.tx_hash is None:
            continue
        checked = _check_entry(store, registry, entry, 1, echo)
        if checked.state != "final":
            echo(f"size {entry.tree_size}: the anchor left the chain (reorg); re-anchoring")
        out.append(checked)
    out.extend(_check_entry(store, registry, e, confirmations, echo) for e in open_)
    return out


def _logged(echo: Echo) -> Echo:
    """``echo``, each line also logged at INFO on ``okeios._internal.publish.anchoring``."""

    def both(text: str) -> None:
        log.info("%s", text)
        echo(text)

    return both


def anchor(
    store: Store,
    registry: Registry,
    *,
    confirmations: int = 1,
    timeout: float = 60.0,
    poll: float = 0.25,
    echo: Echo = _quiet,
) -> AnchorResult:
    """Anchor the store's current log on ``registry``, resuming whatever a previous run left.

    Waits up to ``timeout`` seconds for the anchor to be mined with ``confirmations`` blocks;
    if that takes longer, the entry stays ``mined`` and the next run finishes it.
    """
    if confirmations < 1:
        raise ChainError("confirmations must be at least 1")
    echo = _logged(echo)
    with store.exclusive("anchor"):  # one anchoring run at a time per home, across processes
        return _anchor(store, registry, confirmations, timeout, poll, echo)


def _anchor(
    store: Store,
    registry: Registry,
    confirmations: int,
    timeout: float,
    poll: float,
    echo: Echo,
) -> AnchorResult:
    actions: list[str] = []

    def say(text: str) -> None:
        actions.append(text)
        echo(text)

    chain_id, address = registry.chain_id, registry.address
    deadline = time.monotonic() + timeout
    _forget_reset(store, registry, say)
    # Older attempts still in flight go first: anchors must reach the chain in size order.
    for older in reconcile(store, registry, confirmations=confirmations, echo=say):
        if older.state in ("prepared", "sent"):
            older = _wait(store, registry, older, confirmations, deadline, poll, say, ("mined",))
            if older.state in ("prepared", "sent"):
                raise ChainError(
                    f"transaction {to_hex(older.tx_hash or b'')} for size {older.tree_size} "
                    f"is still not mined on chain {chain_id}; run anchor again later"
                )
    checkpoint = store.checkpoints.current()
    size, root = checkpoint.checkpoint.tree_size, checkpoint.checkpoint.root

    entry = store.journal.rows.at_size(
        chain_id, address, size, ("prepared", "sent", "mined", "final")
    )
    if entry is None:
        on_chain = registry.root_at(store.address, store.log_id, size)
        if on_chain is not None and on_chain.root == root:
            say(f"size {size}: already anchored in block {on_chain.block_number}")
            entry = store.journal.add(chain_id, address, size, root)
            entry = store.journal.update(
                entry.id,
                state="final",
                block_number=on_chain.block_number,
                timestamp=on_chain.timestamp,
                error="anchored by another transaction",
            )
        else:
            entry = _send_new(store, registry, size, root, say)
    entry = _wait(store, registry, entry, confirmations, deadline, poll, say)
    if entry.state == "final":
        say(f"size {size}: final in block {entry.block_number}")
    elif entry.state in ("failed", "dropped"):
        raise ChainError(
            f"anchoring size {size} on chain {chain_id} failed: {entry.error} "
            f"(transaction {to_hex(entry.tx_hash or b'')})"
        )
    else:
        say(f"size {size}: {entry.state}, waiting for {confirmations} confirmations")
    depth = 0
    if entry.block_number is not None:
        depth = registry.block_number() - entry.block_number + 1
    return AnchorResult(chain_id, address, size, entry, depth, tuple(actions))


def _forget_reset(store: Store, registry: Registry, say: Echo) -> None:
    """Drop the journal entries a reset chain forgot.

    A chain never lowers an account's nonce; a node that was reset (a test node restarted
    without its state) does. A journaled transaction whose nonce is above the account's next
    one can then never be mined (its predecessors are gone), and a final anchor the registry
    no longer holds is gone with them: both are marked ``dropped``, so this run anchors the
    log afresh instead of waiting forever. Recomputed from the chain on every run, so a kill
    at any point is finished by the next run."""
    chain_id, address = registry.chain_id, registry.address
    from eth_account import Account

    nonces: dict[str, int] = {}  # by sender: a rotated log's entries were sent by older keys

    def forgotten(entries: list[JournalEntry]) -> list[JournalEntry]:
        out = []
        for e in entries:
            if e.nonce is None or e.raw_tx is None:
                continue
            sender = str(Account.recover_transaction(e.raw_tx))
            if sender not in nonces:
                nonces[sender] = registry.next_nonce(sender)
            if e.nonce > nonces[sender]:
                out.append(e)
        return out

    # A reset shows on the newest entries; only then is the whole journal of this registry
    # looked at, so a run costs the same after thousands of anchors.
    recent = store.journal.entries(chain_id, address, states=("prepared", "sent", "mined"))
    recent += store.journal.rows.latest(chain_id, address, ("final",), RECHECK_FINAL)
    if not forgotten(recent):
        return
    live = store.journal.entries(chain_id, address, states=("prepared", "sent", "mined", "final"))
    gone = forgotten(live)
    for e in live:  # a final anchor the reset registry no longer holds is gone too
        if e.state == "final" and e not in gone and e.raw_tx is not None:
            sender = str(Account.recover_transaction(e.raw_tx))
            held = registry.root_at(sender, store.log_id, e.tree_size)
            if held is None or held.root != e.root:
                gone.append(e)
    if not gone:
        return
    say(
        f"chain {chain_id} no longer holds {len(gone)} anchoring transaction(s) of this log "
        "(their sender's nonce went back: a reset chain); they are dropped and the log is "
        f"anchored afresh in registry {address}"
    )
    for e in gone:
        store.journal.update(
            e.id,
            state="dropped",
            error="the chain was reset: the transaction's predecessors are gone",
        )


def _wait(
    store: Store,
    registry: Registry,
    entry: JournalEntry,
    confirmations: int,
    deadline: float,
    poll: float,
    say: Echo,
    enough: tuple[str, ...] = (),
) -> JournalEntry:
    """Poll an entry until it settles (final, failed, dropped, or a state in ``enough``)."""
    while entry.state in ("prepared", "sent", "mined"):
        entry = _check_entry(store, registry, entry, confirmations, say)
        settled = ("final", "failed", "dropped", *enough)
        if entry.state in settled or time.monotonic() >= deadline:
            break
        time.sleep(poll)
    return entry


def _send_new(store: Store, registry: Registry, size: int, root: bytes, say: Echo) -> JournalEntry:
    log_id = store.log_id
    latest = registry.latest(store.address, log_id)
    if latest is not None:
        if latest.tree_size > size:
            raise ChainError(
                f"the registry holds an anchor of size {latest.tree_size}, beyond this store's "
                f"log ({size}): another store anchors with the same key and log"
            )
        if store.tree.root(latest.tree_size) != latest.root:
            raise ChainError(
                f"the anchored root at size {latest.tree_size} differs from this store's log: "
                "the local history does not extend what was anchored"
            )
    # Journal first: from here on a crash leaves a trace the next run resolves.
    entry = store.journal.add(registry.chain_id, registry.address, size, root)
    prev = latest.tree_size if latest is not None else None
    proof = store.tree.consistency_proof(prev, size) if prev else []
    raw, tx_hash, nonce = registry.prepare_anchor(store.signer, log_id, size, root, proof)
    entry = store.journal.update(entry.id, prev_size=prev, raw_tx=raw, tx_hash=tx_hash, nonce=nonce)
    say(f"size {size}: sending transaction {to_hex(tx_hash)} (proof of {len(proof)} hashes)")
    try:
        registry.broadcast(raw)
    except ChainError as exc:
        store.journal.update(entry.id, error=str(exc))
        raise
    return store.journal.update(entry.id, state="sent")


class RegistryHandover:
    """The chain step of a rotation of ``store``'s log on one
    :class:`~okeios._internal.chain.registry.Registry`
    (a :class:`~okeios._internal.publish.keys.HandoverChain`)."""

    def __init__(
        self,
        store: Store,
        registry: Any,
        *,
        anchor_with: Callable[[Store], object] | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self._anchor_with = anchor_with

    def check(self, new: str) -> None:
        store = self.store
        registry, old = self.registry, store.address
        held = registry.log_of(old)
        if held is not None and held != store.log_id:
            raise KeyRotationError(f"the registry binds {old} to another log than this store's")
        if held is not None:
            successor = registry.successor_of(old, store.log_id)
            if successor is not None and successor != new:
                raise KeyRotationError(
                    f"the registry handed this log over to {successor} already, not to {new}"
                )

    def anchor_old(self) -> None:
        store = self.store
        if self.registry.successor_of(store.address, store.log_id) is not None:
            return  # handed over already: the old key's last anchor is on chain
        if self._anchor_with is not None:
            result: Any = self._anchor_with(store)
        else:
            result = anchor(store, self.registry)
        if not result.final:
            raise ChainError(
                f"the anchor of the tree ending with the handover ({result.tree_size} entries) "
                "is not final yet: run rotate-key again to finish the rotation"
            )

    def hand_over(self, new: str) -> None:
        store, registry = self.store, self.registry
        if registry.successor_of(store.address, store.log_id) == checksum_address(new):
            return
        registry.handover(store.signer, store.log_id, new)
