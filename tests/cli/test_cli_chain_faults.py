"""Chain answers that are not answers, a node that is down, a chain that was reset: every one
is a typed error or an undecided verdict (exit 2) with one line to read, never a traceback and
never a failed verdict (exit 1)."""

from __future__ import annotations

import json
import socket
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from okeios._internal.cli.demo import synthetic_records
from okeios.errors import ChainError
from okeios.service import Okeios
from tests.helpers import QuietHandler, run_cli, serve_local


def _server(result: Any) -> tuple[ThreadingHTTPServer, str]:
    """A JSON-RPC server answering every call with ``result``."""

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            calls = body if isinstance(body, list) else [body]
            answers = [{"jsonrpc": "2.0", "id": c.get("id"), "result": result} for c in calls]
            data = json.dumps(answers if isinstance(body, list) else answers[0]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return serve_local(Handler)


@pytest.fixture(scope="module")
def anchored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, str]:
    """A home anchored on its embedded chain, one exported bundle and the published log."""
    tmp = tmp_path_factory.mktemp("faults")
    home = tmp / "home"
    record = tmp / "r.json"
    record.write_bytes(synthetic_records(1, seed=11)[0])
    run_cli(home, "init")
    run_cli(home, "add", str(record))
    run_cli(home, "anchor")
    out = tmp / "bundles"
    run_cli(home, "export", "--all", "-o", str(out))
    (bundle,) = sorted(p for p in out.iterdir() if p.suffix != ".json")
    log = tmp / "log.jsonl"
    run_cli(home, "log", "-o", str(log))
    publisher = json.loads((home / "trust.json").read_text())["publishers"][0]
    return home, bundle, log, publisher


@pytest.mark.parametrize("result", [None, {"unexpected": "object"}, ["a", "list"]])
def test_item_13_malformed_rpc_answers_are_undecided(
    anchored: tuple[Path, Path, Path, str], result: Any
) -> None:
    home, bundle, log, publisher = anchored
    server, url = _server(result)
    try:
        for args in (
            ("verify", str(bundle), "--chain", url, "--chain-id", "131277"),
            ("audit", "--log", str(log), "--publisher", publisher, "--chain", url),
            ("anchor", "--chain", url),
        ):
            done = run_cli(home, *args, "--chain-timeout", "5", expect=None)
            assert done.returncode == 2, (args, done.stdout[-800:], done.stderr[-800:])
            assert "Traceback" not in done.stderr, (args, done.stderr[-1500:])
    finally:
        server.shutdown()


def _closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def test_issue_25_item_3_a_node_that_is_down(anchored: tuple[Path, Path, Path, str]) -> None:
    home = anchored[0]
    url = _closed_port_url()
    done = run_cli(home, "anchor", "--chain", url, "--chain-timeout", "2", expect=None)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert len([line for line in done.stderr.splitlines() if line.strip()]) <= 2, done.stderr
    with Okeios.open(home) as ok, pytest.raises(ChainError):
        ok.anchor(url)
