"""The cyclic collector is paused over a chunk of work and restored after, error or not."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from okeios._internal.gcpause import gc_paused


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:  # pragma: no cover - pytest runs with the collector on
        gc.disable()


def test_paused_inside_and_restored_after(collector_on: None) -> None:
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(KeyError), gc_paused():
        raise KeyError("x")
    assert gc.isenabled()


def test_left_off_if_it_was_off(collector_on: None) -> None:
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_verify_and_ingest_chunks_run_paused(
    collector_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from okeios._internal.publish import ingest
    from okeios._internal.verify import bulk

    seen: list[bool] = []

    def spy(*args: object, **kwargs: object) -> None:
        seen.append(gc.isenabled())

    monkeypatch.setattr(bulk, "verify_bundle", spy)
    monkeypatch.setattr(ingest, "prepare", spy)
    task = bulk._Task(0, [b"a", b"b"], None, None, None, None, "v")  # type: ignore[arg-type]
    bulk._verify(task)
    chunk = ingest._Task(0, b"\0" * 32, "0x0", None, [b"{}"], [(b"", b"", b"", b"", 0)])
    ingest._prepare_all(chunk)
    assert seen == [False, False, False]
    assert gc.isenabled()
