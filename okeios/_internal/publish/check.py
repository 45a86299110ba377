"""``okeios check``: read a whole store and say what is wrong, which opening no longer does."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from okeios._internal.protocol.events import event_from_message
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.merkle import leaf_hash, node_hash
from okeios._internal.publish.erasure import ErasureUnit, pending_erasures
from okeios.errors import InputError

if TYPE_CHECKING:
    from okeios._internal.publish.access import Access
    from okeios._internal.publish.checkpoints import SignedCheckpoints
    from okeios._internal.publish.keys import PublisherKeys
    from okeios._internal.publish.tables import Events, Nodes
    from okeios._internal.publish.tree import StoredTree

__all__ = ["CheckUnit", "check_store"]


class CheckUnit(ErasureUnit, Protocol):
    """What ``okeios check`` reads of a store's unit of work
    (:class:`~okeios._internal.publish.unit.Unit` satisfies it): the tables of the log, the
    tree, and the pending erasures (:class:`~okeios._internal.publish.erasure.ErasureUnit`)."""

    @property
    def nodes(self) -> Nodes: ...
    @property
    def events(self) -> Events: ...
    @property
    def tree(self) -> StoredTree: ...


def check_store(
    unit: CheckUnit,
    keys: PublisherKeys,
    checkpoints: SignedCheckpoints,
    access: Access,
    *,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Read the whole database and say what is wrong (an empty list: nothing).

    SQLite's own integrity check; every event's leaf against the stored tree; every stored
    node against its children; every checkpoint's root against the tree and its signature;
    every record's chain of events (each links to the previous one); no event signed by a
    retired publisher key after its handover; every final anchor within the log. Memory stays
    flat: each level is streamed.
    """
    problems: list[str] = []
    for (line,) in unit.db.execute("PRAGMA integrity_check"):
        if line != "ok":
            problems.append(f"sqlite: {line}")
    unit.tree.refresh()
    size = unit.tree.size
    problems += _check_leaves(unit, size, problems, progress)
    if not problems:
        problems += _check_nodes(unit, size)
    problems += _check_checkpoints(unit, checkpoints, keys, size, tree_ok=not problems)
    problems += _check_chains(unit, keys)
    for (tree_size,) in unit.db.execute(
        "SELECT tree_size FROM journal WHERE state = 'final' AND tree_size > ?", (size,)
    ):
        problems.append(f"a final anchor of size {tree_size} is beyond the log ({size})")
    problems += [
        f"the GRANT {to_hex(event)} of record {to_hex(rid)} to {who} is logged but its share "
        f"was never written (to {where}): run the same `okeios grant` again to write it"
        for rid, who, event, where in access.undelivered()
        # the share is written atomically: a file there means only forgetting it was cut short
        if not Path(where).is_file()
    ]

    problems += [
        f"the erasure of record {to_hex(rid)} is logged but not verified on disk yet: run "
        f"`okeios erase {to_hex(rid)}` again to finish it"
        for rid in pending_erasures(unit)
    ]
    return problems


def _check_leaves(
    unit: CheckUnit, size: int, earlier: list[str], progress: Callable[[int], None] | None
) -> list[str]:
    """Every event's leaf against the stored tree's leaves, and their count against its size."""
    leaves = unit.nodes.level(0)
    count = 0
    for index, data in unit.events.leaves():
        stored = next(leaves, None)
        if stored is None or stored[0] != index or stored[1] != leaf_hash(data):
            return [f"entry {index}: its leaf in the tree does not match the event"]
        count += 1
        if progress is not None:
            progress(1)
    if count != size and not earlier:
        return [f"the tree holds {size} leaves but the log {count} events"]
    return []


def _check_nodes(unit: CheckUnit, size: int) -> list[str]:
    """Every stored node against its two children, level by level (the first mismatch)."""
    level = 0
    while (size >> level) > 1:
        children = unit.nodes.level(level)
        for idx, digest in unit.nodes.level(level + 1):
            left, right = next(children, None), next(children, None)
            if (
                left is None
                or right is None
                or left[0] != 2 * idx
                or node_hash(left[1], right[1]) != digest
            ):
                return [f"tree node ({level + 1}, {idx}) does not match its children"]
        level += 1
    return []


def _check_checkpoints(
    unit: CheckUnit,
    checkpoints: SignedCheckpoints,
    keys_: PublisherKeys,
    size: int,
    *,
    tree_ok: bool,
) -> list[str]:
    """Every checkpoint within the log, signed by a key that held the log (docs/identity.md),
    and of the tree's root (compared until the first problem: a damaged tree or checkpoint
    table would repeat it for every size)."""
    problems: list[str] = []
    keys = set(keys_.publishers())
    for cp in checkpoints.all():
        size_ = cp.checkpoint.tree_size
        if size_ > size:
            problems.append(f"checkpoint of size {size_} is beyond the log ({size})")
        elif tree_ok and not problems and unit.tree.root(size_) != cp.checkpoint.root:
            problems.append(f"checkpoint of size {size_}: root differs from the log's")
        if cp.recover() not in keys:
            problems.append(f"checkpoint of size {size_}: not signed by this publisher")
    return problems


def _check_chains(unit: CheckUnit, keys: PublisherKeys) -> list[str]:
    """Each event readable, its stored id its own, linked to its record's previous event (a
    window over the record index)."""
    problems: list[str] = []
    # The publisher keys retired by a handover, and the entry of each handover: an event a
    # retired key signed after it (a writer that kept the old key) never verifies.
    retired: dict[str, int] = {}
    for logged in keys.events():
        e = logged.signed.event
        if str(e.kind) == "handover":
            retired[e.author] = logged.index
    for idx, event_id, message, expected in unit.db.execute(
        "SELECT idx, event_id, message,"
        " LAG(event_id) OVER (PARTITION BY record_id ORDER BY idx) FROM events"
    ):
        try:
            event = event_from_message(json.loads(message))
        except (InputError, ValueError, KeyError) as exc:
            problems.append(f"entry {idx}: unreadable event: {exc}")
            continue
        if expected is not None and event.previous != bytes(expected):
            problems.append(f"entry {idx}: does not link to its record's previous event")
        if event.id != bytes(event_id):
            problems.append(f"entry {idx}: its stored id is not the event's id")
        handed = retired.get(event.author)
        if handed is not None and idx > handed:
            problems.append(
                f"entry {idx}: signed by the retired publisher key {event.author} after its "
                f"handover at entry {handed} (a writer that kept the old key; it never verifies)"
            )
    return problems
