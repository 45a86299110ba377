"""Small builders shared by the tests."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from hashlib import sha256
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from okeios._internal.protocol.canonical import JSONNumber
from okeios._internal.protocol.events import SignedCheckpoint
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.publisher import Publisher
from okeios._internal.publish.tiles import PublishedTiles, publish_tiles
from okeios._internal.verify.audit import AnchorSource, AuditReport, audit_log
from okeios._internal.verify.policy import TrustPolicy

PUBLISHER_KEY = sha256(b"okeios test publisher").digest()
AUTHOR_KEY = sha256(b"okeios test author").digest()
STRANGER_KEY = sha256(b"okeios test stranger").digest()

SMALL_RECORD = (
    b'{"resourceType":"Observation","id":"hba1c","status":"final",'
    b'"code":{"coding":[{"system":"http://loinc.org","code":"4548-4"}]},'
    b'"subject":{"reference":"Patient/example"},'
    b'"valueQuantity":{"value":6.10,"unit":"%"},"note":[],"extension":{}}'
)


def audit_own_log(store: Any, lines: list[str], registry: AnchorSource | None) -> AuditReport:
    """The audit of ``store``'s published log ``lines`` against ``registry`` (None: no chain;
    else its own chain id pinned), with the store's own key the only trusted author."""
    return audit_log(
        lines,
        publisher=store.address,
        chain=registry,
        chain_id=None if registry is None else registry.chain_id,
        authors=[store.address],
    )


class CountingRng:
    """A deterministic stand-in for os.urandom."""

    def __init__(self, label: bytes = b"rng") -> None:
        self.label = label
        self.counter = 0

    def __call__(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            self.counter += 1
            out += sha256(self.label + self.counter.to_bytes(8, "big")).digest()
        return out[:n]


def make_publisher(**kwargs: object) -> Publisher:
    return Publisher(
        LocalSigner.from_key(PUBLISHER_KEY),
        clock=lambda: 1_750_000_000.0,
        rng=CountingRng(),
        **kwargs,  # type: ignore[arg-type]
    )


def policy_for(publisher: Publisher, *extra_authors: str) -> TrustPolicy:
    return TrustPolicy(authors=[publisher.address, *extra_authors], publishers=[publisher.address])


def okeios_process(
    env: Mapping[str, str], *args: str, timeout: float = 600, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m okeios ARGS` in a child process with exactly ``env``; its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "okeios", *args],
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=timeout,
        check=False,
        cwd=cwd,
    )


def run_cli(
    home: object, *args: str, expect: int | None = 0, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m okeios ARGS` with OKEIOS_HOME=home (and the variables ``env`` adds, a
    fault to place, say), as a shell user would; check the exit code unless ``expect`` is None."""
    done = okeios_process({**os.environ, "OKEIOS_HOME": str(home), **(env or {})}, *args)
    if expect is not None:
        assert done.returncode == expect, (
            args,
            done.returncode,
            done.stdout[-1500:],
            done.stderr[-1500:],
        )
    return done


def publish_log(
    publisher: Publisher,
    folder: Path,
    *,
    checkpoint: SignedCheckpoint | None = None,
    origin: str | None = None,
) -> PublishedTiles:
    """``publisher``'s whole log written as tiles in ``folder``, with its latest checkpoint
    unless another is given."""
    return publish_tiles(
        folder,
        signer=publisher.signer,  # type: ignore[arg-type]
        log_id=publisher.log_id,
        events=[e.signed for e in publisher.events],
        checkpoint=publisher.checkpoint() if checkpoint is None else checkpoint,
        origin=origin,
    )


def with_floats(value: Any) -> Any:
    """A parsed document as json.loads would give it: every JSONNumber becomes a float."""
    if isinstance(value, dict):
        return {k: with_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [with_floats(v) for v in value]
    if isinstance(value, JSONNumber):
        return float(value)
    return value


def json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a parsed document, the document's own (``()``) first, in reading
    order: object keys and list indexes."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += json_paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += json_paths(v, (*prefix, i))
    return out


def replace_at(doc: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of a parsed document with the value at ``path`` (one of :func:`json_paths`)
    replaced by ``new``, keys kept in their order."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {k: (replace_at(v, rest, new) if k == head else v) for k, v in doc.items()}
    return [(replace_at(v, rest, new) if i == head else v) for i, v in enumerate(doc)]


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing to stderr."""

    def log_message(self, *args: object) -> None:
        return None


def serve_local(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    """``handler`` served on a loopback port from a daemon thread: the server (shut it down
    when done) and its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
