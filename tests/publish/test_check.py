"""``okeios check`` (:meth:`Store.check`) catches a store changed behind its back: each attack on
the stored rows is named, and an untouched store has nothing to report."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from okeios._internal.cli.demo import synthetic_records
from okeios._internal.protocol.events import Checkpoint
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """Five records, one event each, no checkpoint yet."""
    with Store.init(tmp_path / "home", trust=False) as opened:
        opened.add(synthetic_records(5, seed=3))
        assert opened.check() == []
        yield opened


def _tamper(store: Store, sql: str, args: tuple[object, ...]) -> None:
    with store.transaction():
        store.db.execute(sql, args)


def test_a_changed_event_signature_breaks_its_leaf(store: Store) -> None:
    _tamper(store, "UPDATE events SET signature = ? WHERE idx = 2", (os.urandom(65),))
    assert store.check() == ["entry 2: its leaf in the tree does not match the event"]


def test_a_changed_tree_node_is_found(store: Store) -> None:
    _tamper(store, "UPDATE nodes SET hash = ? WHERE level = 1 AND idx = 1", (os.urandom(32),))
    assert store.check() == ["tree node (1, 1) does not match its children"]


def test_a_changed_checkpoint_root_is_found_and_no_longer_verifies(store: Store) -> None:
    size = store.checkpoints.current().checkpoint.tree_size
    _tamper(store, "UPDATE checkpoints SET root = ? WHERE tree_size = ?", (os.urandom(32), size))
    assert store.check() == [
        f"checkpoint of size {size}: root differs from the log's",
        f"checkpoint of size {size}: not signed by this publisher",
    ]


def test_a_checkpoint_signed_by_another_key_is_refused(store: Store) -> None:
    forged = Checkpoint(store.log_id, 3, store.tree.root(3)).sign(LocalSigner.generate())
    _tamper(
        store,
        "INSERT INTO checkpoints VALUES (?, ?, ?, ?)",
        (3, forged.checkpoint.root, forged.signature, 0.0),
    )
    assert store.check() == ["checkpoint of size 3: not signed by this publisher"]


def test_a_checkpoint_beyond_the_log_is_found(store: Store) -> None:
    cp = store.checkpoints.current()
    _tamper(
        store,
        "INSERT INTO checkpoints VALUES (?, ?, ?, ?)",
        (9, cp.checkpoint.root, cp.signature, 0.0),
    )
    assert store.check() == [
        "checkpoint of size 9 is beyond the log (5)",
        "checkpoint of size 9: not signed by this publisher",  # signed as size 5
    ]


def test_an_event_moved_into_another_record_breaks_the_chain(store: Store) -> None:
    first = store.find_event("0x" + store.record_ids()[0].hex())
    _tamper(store, "UPDATE events SET record_id = ? WHERE idx = 3", (first.record_id,))
    assert store.check() == ["entry 3: does not link to its record's previous event"]


def test_a_changed_event_id_is_found_twice(store: Store) -> None:
    _tamper(store, "UPDATE events SET event_id = ? WHERE idx = 1", (os.urandom(32),))
    assert store.check() == [
        "entry 1: its leaf in the tree does not match the event",
        "entry 1: its stored id is not the event's id",
    ]


def test_a_final_anchor_beyond_the_log_is_found(store: Store) -> None:
    entry = store.journal.add(31337, "0x" + "22" * 20, 8, os.urandom(32))
    store.journal.update(entry.id, state="final", block_number=1)
    assert store.check() == ["a final anchor of size 8 is beyond the log (5)"]
