"""Helpers shared by the benchmarks that replay the FHIR R4 examples (not a benchmark itself).

The benchmarks run as scripts (``python benchmarks/NAME.py``), so this folder is on
``sys.path`` and they import it as ``_common``.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FHIR = REPO.parent / "shared" / "fhir" / "r4-examples"


def example_resources(folder: Path) -> list[dict[str, Any]]:
    """The FHIR resources of ``folder``'s ``*.json`` files (Bundles left out), by file name."""
    out = []
    for path in sorted(folder.glob("*.json")):
        value = json.loads(path.read_bytes())
        if isinstance(value, dict) and value.get("resourceType") not in (None, "Bundle"):
            out.append(value)
    if not out:
        raise SystemExit(f"no FHIR resources in {folder}")
    return out


def replica(base: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """The ``n``-th resource of an endless run over ``base``: its example, with an id made
    unique per round (``<example id, at most 40 characters>-<round>``)."""
    value = dict(base[n % len(base)])
    value["id"] = f"{str(value.get('id', 'r'))[:40]}-{n // len(base)}"
    return value


# What a Dask cluster running okeios should set (docs/bulk.md, "Running on a Dask cluster"). Idle,
# a LocalCluster(2) burns about 90 ms of CPU a second with Dask's defaults and about 13 with
# these: the workers' statistical profiler (a sample every 10 ms, whatever the work), work
# stealing (every 100 ms; okeios's chunks are even), the system monitor and the event-loop tick
# (every 500 and 20 ms), the workers' memory monitor (every 100 ms; okeios keeps no data on the
# workers), the active memory manager, and the client's and the cluster's status polling. And
# results go straight from a worker to the client rather than through the scheduler.
DASK_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.scheduler.work-stealing": False,
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.scheduler.active-memory-manager.start": False,
    "distributed.client.scheduler-info-interval": "10s",
    "distributed.deploy.cluster-repr-interval": "10s",
    "distributed.client.direct-to-workers": True,
}


def _warm() -> None:
    import okeios._internal.publish.ingest
    import okeios._internal.verify.bulk  # noqa: F401


@contextmanager
def process_pool(workers: int) -> Iterator[Executor]:
    """A spawned process pool of ``workers`` processes, every one started and okeios imported."""
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(abs, range(workers * 4)))  # start every worker
        for f in [pool.submit(_warm) for _ in range(workers * 2)]:
            f.result()
        yield pool


@contextmanager
def dask_executor(workers: int) -> Iterator[Executor | None]:
    """A Dask ``LocalCluster`` of ``workers`` single-threaded worker processes with
    :data:`DASK_CONFIG`, as an executor; None if distributed is not installed."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        yield None
        return
    # The scheduler runs in this process: its INFO lines would land between the figures when
    # a command run earlier in the process gave the root logger a handler.
    logging.getLogger("distributed").setLevel(logging.WARNING)
    with (
        dask.config.set(DASK_CONFIG),
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,  # type: ignore[no-untyped-call]
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        client.run(_warm)
        yield client.get_executor()
