"""Publisher key rotation as a resumable, two-phase operation (docs/identity.md section 4):
a failed chain step leaves the old key in charge, a crash at any step leaves a store that
finishes the rotation (or rolls it back) and anchors again, no key is ever overwritten, and
writers that kept the old key are refused (on both backends)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from okeios._internal.chain.registry import Registry
from okeios._internal.cli.demo import synthetic_records
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish import keys as keys_module
from okeios._internal.publish.anchoring import RegistryHandover, anchor
from okeios._internal.publish.home import KEY_NAME, STAGED_KEY_NAME, read_keys, retired_keys
from okeios._internal.publish.keys import ROTATION_STEPS
from okeios._internal.publish.store import Store
from okeios.errors import ChainError, KeyRotationError, PublisherKeyChangedError
from tests.helpers import CountingRng
from tests.nodes import Node

RECORDS = synthetic_records(12, seed=77)


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    with Node("anvil") as n:
        yield n


def _anchored_store(home: Path, node: Node, seed: bytes) -> tuple[Store, Registry]:
    store = Store.init(home, key=CountingRng(seed)(32), trust=False)
    node.fund(store.address)
    registry = Registry.deploy(node.web3(), store.signer, label="anvil")
    store.add(RECORDS[:3])
    assert anchor(store, registry).final
    return store, registry


class _Killed(BaseException):
    """A crash at a step: nothing after it runs, nothing uncommitted is kept."""


class _FlakyChain(RegistryHandover):
    """The registry step whose handover transaction times out the first ``fails`` times."""

    def __init__(self, store: Store, registry: Registry, fails: int) -> None:
        super().__init__(store, registry)
        self.fails = fails

    def hand_over(self, new: str) -> None:
        if self.fails:
            self.fails -= 1
            raise ChainError("timed out waiting for the handover transaction")
        super().hand_over(new)


def test_a_failed_chain_step_leaves_the_old_key_in_charge_and_a_rerun_finishes(
    tmp_path: Path, node: Node
) -> None:
    home = tmp_path / "home"
    store, registry = _anchored_store(home, node, b"flaky org")
    old = store.address
    sealed_old = (home / KEY_NAME).read_bytes()
    chain = _FlakyChain(store, registry, fails=1)
    with pytest.raises(ChainError, match="timed out"):
        store.keys.rotate(chain=chain)
    # the old key is still in charge: in memory, on disk and in the registry
    assert store.address == old
    assert (home / KEY_NAME).read_bytes() == sealed_old
    assert registry.log_of(old) == store.log_id
    assert registry.successor_of(old, store.log_id) is None
    pending = store.keys.pending()
    assert pending is not None
    assert pending[1] is not None
    # the handover is logged: no new event until the rotation is finished, nothing written
    size = store.size
    with pytest.raises(KeyRotationError, match="half done"):
        store.add(RECORDS[3:4])
    assert store.size == size
    with pytest.raises(KeyRotationError, match="append-only"):
        store.keys.abort()
    # a second process sees the same and re-running finishes the rotation
    store.close()
    with Store.open(home) as again:
        assert again.address == old
        handover = again.keys.rotate(chain=_FlakyChain(again, registry, fails=chain.fails))
        new = again.address
        assert new != old
        assert handover.signed.event.subject == new
        assert registry.successor_of(old, again.log_id) == new
        node.fund(new)
        again.add(RECORDS[3:5])
        assert anchor(again, registry).final
        assert again.check() == []
        assert again.keys.pending() is None


def test_no_key_is_overwritten_retired_keys_stay_sealed(tmp_path: Path, node: Node) -> None:
    home = tmp_path / "home"
    store, registry = _anchored_store(home, node, b"retiring org")
    first = store.address
    store.keys.rotate(chain=RegistryHandover(store, registry))
    second = store.address
    node.fund(second)
    store.add(RECORDS[3:4])
    store.keys.rotate(chain=RegistryHandover(store, registry))
    third = store.address
    store.close()
    master, current = read_keys(home, None)
    assert current.address == third
    kept = retired_keys(home, master)
    assert {a: state for a, (state, _) in kept.items()} == {
        first: "retired",
        second: "retired",
    }
    assert all(signer.address == a for a, (_, signer) in kept.items())
    for path in (home / "retired-keys").iterdir():
        assert path.stat().st_mode & 0o077 == 0


def test_a_rotation_without_the_chain_step_is_refused(tmp_path: Path) -> None:
    with Store.init(tmp_path / "home", trust=False) as store:
        store.add(RECORDS[:1])
        with pytest.raises(KeyRotationError, match="needs the chain"):
            store.keys.rotate()
        assert store.keys.events() == []
        assert store.keys.pending() is None


def test_a_staged_rotation_is_rolled_back_and_the_old_key_anchors(
    tmp_path: Path, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    store, registry = _anchored_store(home, node, b"abort org")
    old = store.address

    class Refusing(RegistryHandover):
        def check(self, new: str) -> None:
            raise ChainError("the chain could not be reached")

    with pytest.raises(ChainError):
        store.keys.rotate(chain=Refusing(store, registry))
    pending = store.keys.pending()
    assert pending is not None
    assert pending[1] is None
    assert store.keys.events() == []
    abandoned = store.keys.abort()
    assert abandoned == pending[0]
    assert store.keys.pending() is None
    assert not (home / STAGED_KEY_NAME).exists()
    assert (home / "retired-keys" / f"{abandoned}.abandoned.key").exists()
    store.add(RECORDS[3:4])
    assert anchor(store, registry).final
    assert store.address == old
    with pytest.raises(KeyRotationError, match="no key rotation"):
        store.keys.abort()


@pytest.mark.parametrize("step", ROTATION_STEPS)
def test_a_crash_at_every_step_leaves_a_store_that_anchors_again(
    tmp_path: Path, node: Node, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    home = tmp_path / "home"
    store, registry = _anchored_store(home, node, b"crash org " + step.encode())
    old = store.address

    def crash(at: str) -> None:
        if at == step:
            raise _Killed(at)

    monkeypatch.setattr(keys_module, "_fault_point", crash)
    with pytest.raises(_Killed):
        store.keys.rotate(chain=RegistryHandover(store, registry))
    store.close()  # the process is gone; a new one opens the home
    monkeypatch.undo()

    with Store.open(home) as again:
        assert again.check() == []
        if step in ("staged", "named"):
            # only staged: it can be rolled back, and the old key anchors on
            again.keys.abort()
            assert again.address == old
        elif step != "switched":
            assert again.address == old  # the old key is in charge until the switch
            again.keys.rotate(chain=RegistryHandover(again, registry))
        # after "switched" the meta row names the new key: opening finished the swap
        if step not in ("staged", "named"):
            assert again.address != old
            assert registry.successor_of(old, again.log_id) == again.address
            node.fund(again.address)
        again.add(RECORDS[5:7])
        result = anchor(again, registry)
        assert result.final
        assert result.tree_size == again.size
        assert again.check() == []
        assert again.keys.pending() is None
        assert not (home / STAGED_KEY_NAME).exists()


def test_a_writer_that_kept_the_old_key_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Store.init(home, trust=False) as first:
        first.add(RECORDS[:2])
        with Store.open(home) as second:
            second.keys.rotate(offline=True)
            second.add(RECORDS[4:5])  # the new key logs on
            size = second.size
        # ``first`` opened before the rotation and still holds the old key
        with pytest.raises(PublisherKeyChangedError, match="reopen the store"):
            first.add(RECORDS[2:3])
        with pytest.raises(PublisherKeyChangedError):
            first.put(RECORDS[3:4])
        with pytest.raises(PublisherKeyChangedError):
            first.keys.authorise(LocalSigner.generate().address, "nurse")
        assert first.size == size
        with pytest.raises(PublisherKeyChangedError):
            first.checkpoints.current()  # nor does it sign a checkpoint with the retired key
        assert first.checkpoints.at(size) is None
    with Store.open(home) as reopened:
        reopened.add(RECORDS[2:3])
        assert reopened.size == size + 1
        assert reopened.check() == []


def test_check_reports_entries_a_retired_key_signed_after_its_handover(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    with Store.init(home, trust=False) as stale:
        stale.add(RECORDS[:2])
        old = stale.address
        with Store.open(home) as rotating:
            handover = rotating.keys.rotate(offline=True)
        # a writer without the check (an older release) keeps signing with the old key
        stale.publisher.guard = None
        late = stale.add(RECORDS[2:3])[0]
        problems = stale.check()
    assert any(
        f"entry {late.index}: signed by the retired publisher key {old}" in p
        and f"handover at entry {handover.index}" in p
        for p in problems
    ), problems


def _second_home_on_the_same_rows(first: Path, second: Path, key: bytes) -> None:
    """A second home with the same publisher key but its own master key, pointed at the
    first home's database (a copied ``database.url`` or ``store.sqlite``)."""
    import os
    import shutil

    from okeios._internal.publish.home import DB_NAME, URL_NAME
    from okeios._internal.publish.store import DATABASE_ENV

    database = os.environ.pop(DATABASE_ENV, None)
    try:
        Store.init(second, key=key, trust=False).close()
    finally:
        if database is not None:
            os.environ[DATABASE_ENV] = database
    if (first / URL_NAME).exists():
        (second / DB_NAME).unlink()
        shutil.copy(first / URL_NAME, second / URL_NAME)
    else:
        shutil.copy(first / DB_NAME, second / DB_NAME)


def test_a_store_refuses_a_master_key_its_rows_are_not_sealed_under(tmp_path: Path) -> None:
    from okeios.errors import MasterKeyMismatchError

    key = CountingRng(b"two masters")(32)
    first, second = tmp_path / "first", tmp_path / "second"
    with Store.init(first, key=key, trust=False) as store:
        store.put([{"resourceType": "Patient", "id": "p1", "active": True}])
        size = store.size
    _second_home_on_the_same_rows(first, second, key)
    with pytest.raises(MasterKeyMismatchError, match="another master key"):
        Store.open(second)
    with Store.open(first) as store:  # nothing was written: the first home lists its records
        assert store.size == size
        assert [r.resource_id for r in store.records()] == ["p1"]
        assert store.check() == []


def test_a_store_made_before_the_master_check_learns_it_from_its_sealed_rows(
    tmp_path: Path,
) -> None:
    from okeios._internal.publish.store import MASTER_CHECK
    from okeios.errors import MasterKeyMismatchError

    key = CountingRng(b"older store")(32)
    first, second = tmp_path / "first", tmp_path / "second"
    with Store.init(first, key=key, trust=False) as store:
        store.put([{"resourceType": "Patient", "id": "p2"}])
        with store.transaction():
            store.meta.delete(MASTER_CHECK)  # as a store made before the row
    _second_home_on_the_same_rows(first, second, key)
    with pytest.raises(MasterKeyMismatchError):
        Store.open(second)
    with Store.open(first) as store:
        assert store.meta.get(MASTER_CHECK) is not None  # learnt once its rows opened
