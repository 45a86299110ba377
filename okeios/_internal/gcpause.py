"""Pausing Python's cyclic garbage collector over a batch of work.

Preparing or verifying a chunk of records allocates many short-lived containers, freed by
reference counting as they go, yet they count towards the collector's thresholds: every few
hundred allocations it walks the young objects, and every so often the whole heap. In a process
holding a large heap (a Dask worker, whose scheduler state and libraries are all tracked) those
full walks cost about a tenth of a verification, and they find nothing, since the work makes no
reference cycles. :func:`gc_paused` turns the collector off for the batch and back on after
(only if it was on), so that the next allocation past the threshold collects as usual: a cycle
made meanwhile, by this thread or another, is collected then, not lost.

It is used the same way serially and in workers (``publish/ingest.py``, ``verify/bulk.py``), so
that a serial run and a parallel one do the same work and their speeds compare.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic collector off inside the block, restored after (even on an error)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
