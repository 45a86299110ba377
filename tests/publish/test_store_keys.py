"""Identity state in a store (docs/identity.md): authorisations and a key rotation are rows of
the events table and one ``meta`` row, and survive reopening on either backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from okeios._internal.cli.demo import synthetic_records
from okeios._internal.protocol.events import EventKind, derive_log_id
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.store import KEY_NAME, Store
from okeios._internal.verify.identity import Authority
from okeios.errors import InputError


def _authority(store: Store) -> Authority:
    return Authority.from_events(
        store.keys.organisation,
        ((logged.index, logged.signed) for logged in store.keys.events()),
        size=store.size,
    )


def test_a_rotated_store_reopens_with_its_organisation_and_history(tmp_path: Path) -> None:
    home = tmp_path / "home"
    clinician = LocalSigner.generate()
    with Store.init(home, trust=False) as store:
        first = store.address
        log_id = store.log_id
        store.add(synthetic_records(2, seed=11))
        store.keys.authorise(clinician.address, "physician")
        store.add(synthetic_records(1, seed=12), author=clinician)
        old_checkpoint = store.checkpoints.current()
        handover = store.keys.rotate(purpose="yearly rotation", offline=True)
        assert handover.signed.event.kind is EventKind.HANDOVER
        assert handover.signed.event.author == first
        second = store.address
        assert second != first
        store.add(synthetic_records(1, seed=13))
        new_checkpoint = store.checkpoints.current()
    assert not (home / (KEY_NAME + ".next")).exists()

    with Store.open(home) as store:
        # the log keeps the organisation's id; the current key is the new one
        assert store.address == second
        assert store.keys.organisation == first
        assert store.log_id == log_id == derive_log_id(first)
        assert store.keys.publishers() == [first, second]
        # each stored checkpoint names the key that signed it
        before = store.checkpoints.at(old_checkpoint.checkpoint.tree_size)
        after = store.checkpoints.at(new_checkpoint.checkpoint.tree_size)
        assert before is not None
        assert before.publisher == first
        assert after is not None
        assert after.publisher == second
        kinds = [logged.signed.event.kind for logged in store.keys.events()]
        assert kinds == [EventKind.AUTHORISE, EventKind.HANDOVER]
        authority = _authority(store)
        assert authority.publishers() == [first, second]
        # the whole database still reads as one consistent log
        assert store.check() == []


def test_a_store_without_rotation_has_no_organisation_row(tmp_path: Path) -> None:
    with Store.init(tmp_path / "home", trust=False) as store:
        store.add(synthetic_records(1, seed=14))
        assert store.meta.get("organisation") is None
        assert store.keys.organisation == store.address
        assert store.keys.publishers() == [store.address]


def test_rotating_to_the_current_key_is_refused(tmp_path: Path) -> None:
    key = LocalSigner.generate()
    with Store.init(tmp_path / "home", key=key.private_key, trust=False) as store:
        store.add(synthetic_records(1, seed=15))
        with pytest.raises(InputError, match="current one"):
            store.keys.rotate(key.private_key, offline=True)
        assert store.keys.events() == []
