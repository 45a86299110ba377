"""One place to look: one canonical registry per chain, pins keyed by chain id, a chain reset
handled from the CLI. Real Anvil (which carries the CREATE2 deployment proxy) and a real
PostgreSQL server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from okeios._internal.cli.demo import synthetic_records
from okeios._internal.protocol.anchors import CANONICAL_REGISTRY
from tests.helpers import run_cli
from tests.nodes import Node
from tests.pg import fresh_schema


def _bundles(home: Path, out: Path) -> list[Path]:
    run_cli(home, "export", "--all", "-o", str(out))
    return sorted(p for p in out.iterdir() if p.suffix == ".okb")


def _fund(node: Node, address: str) -> None:
    node.rpc("anvil_setBalance", address, hex(10**20))


def _init_funded(node: Node, home: Path, *options: str) -> str:
    """``okeios init`` a home and fund its publisher on ``node``: the publisher's address."""
    run_cli(home, "init", *options)
    publisher = str(json.loads((home / "trust.json").read_text())["publishers"][0])
    _fund(node, publisher)
    return publisher


def test_two_app_servers_sharing_one_postgres_store_anchor_into_one_registry(
    tmp_path: Path,
) -> None:
    """Issue 19 finding 1 (without malice): two application servers sharing one PostgreSQL
    store reach the same node by different URLs; both anchor into the chain's one canonical
    registry (no second deployment), keep one pin keyed by the chain id, and each verifies the
    other's exports."""
    node = Node("anvil").start()
    try:
        with fresh_schema() as database:
            a, b = tmp_path / "app1", tmp_path / "app2"
            _init_funded(node, a, "--database", database)
            shutil.copytree(a, b)  # docs/scale.md: every other server holds a copy of the home
            url_a = node.url
            url_b = node.url.replace("127.0.0.1", "localhost")
            records = synthetic_records(4, seed=3)
            for i, data in enumerate(records):
                path = tmp_path / f"r{i}.json"
                path.write_bytes(data)
                run_cli(a if i % 2 == 0 else b, "add", str(path))
                anchored = json.loads(
                    run_cli(
                        a if i % 2 == 0 else b,
                        "anchor",
                        "--chain",
                        url_a if i % 2 == 0 else url_b,
                        "--json",
                    ).stdout
                )
                assert anchored["registry"] == CANONICAL_REGISTRY
            for home in (a, b):
                chains = json.loads((home / "trust.json").read_text())["chains"]
                assert list(chains) == ["31337"], chains
                assert "registry" not in chains["31337"]
            bundles_a = _bundles(a, tmp_path / "out-a")
            bundles_b = _bundles(b, tmp_path / "out-b")
            assert bundles_a
            assert bundles_b
            for home, url, bundles in ((a, url_b, bundles_b), (b, url_a, bundles_a)):
                done = run_cli(home, "verify", *map(str, bundles), "--chain", url, expect=None)
                assert done.returncode == 0, (done.stdout[-1500:], done.stderr[-1500:])
    finally:
        node.stop()


def test_issue_24_item_16_after_a_chain_reset(tmp_path: Path) -> None:
    """A test node restarted without its state: verify and audit give one judgement,
    undecided ``registry-missing`` (exit 2), and ``okeios anchor`` moves on by itself: it
    redeploys the canonical registry at the same address and anchors afresh."""
    node = Node("anvil").start()
    try:
        home = tmp_path / "home"
        publisher = _init_funded(node, home)
        for i, data in enumerate(synthetic_records(3, seed=9)):
            path = tmp_path / f"r{i}.json"
            path.write_bytes(data)
            run_cli(home, "add", str(path))
            run_cli(home, "anchor", "--chain", node.url)
        bundles = _bundles(home, tmp_path / "before")
        log = tmp_path / "log.jsonl"
        run_cli(home, "log", "-o", str(log))
        node.stop()
        node.start()  # the same port, a fresh chain
        _fund(node, publisher)
        verify = run_cli(home, "verify", str(bundles[0]), "--chain", node.url, "--json", expect=2)
        audit_args = ("audit", "--log", str(log), "--publisher", publisher, "--chain", node.url)
        audit = run_cli(home, *audit_args, "--json", expect=2)
        assert "registry-missing" in verify.stdout
        assert "registry-missing" in audit.stdout
        for done in (verify, audit):
            assert "Traceback" not in done.stderr
        again = run_cli(home, "anchor", "--chain", node.url, "--json", "--timeout", "30")
        assert json.loads(again.stdout)["registry"] == CANONICAL_REGISTRY
        assert json.loads(again.stdout)["final"] is True
        fresh = _bundles(home, tmp_path / "after")
        run_cli(home, "verify", *map(str, fresh), "--chain", node.url)
        run_cli(home, *audit_args)
    finally:
        node.stop()


def test_issue_19_item_6_export_cites_an_anchor_on_the_chain_asked_for(tmp_path: Path) -> None:
    """A log anchored on two chains: ``export --chain`` cites an anchor on that chain only, and
    each bundle verifies against its own chain; a chain with no anchor is exit 2."""
    node = Node("anvil").start()
    try:
        home = tmp_path / "home"
        _init_funded(node, home)
        path = tmp_path / "r.json"
        path.write_bytes(synthetic_records(1, seed=4)[0])
        run_cli(home, "add", str(path))
        run_cli(home, "anchor")  # the embedded chain first: the smallest anchor is there
        run_cli(home, "anchor", "--chain", node.url)
        for spec, chain_id, url in (
            ("31337", 31337, node.url),
            (node.url, 31337, node.url),
            ("embedded", 131277, "embedded"),
        ):
            out = tmp_path / f"out-{chain_id}-{len(spec)}"
            run_cli(home, "export", "--all", "--chain", spec, "--format", "json", "-o", str(out))
            (bundle,) = [
                p for p in out.iterdir() if p.suffix == ".json" and p.name != "manifest.json"
            ]
            cited = json.loads(bundle.read_text())["anchor"]
            assert cited["chainId"] == chain_id, cited
            run_cli(home, "verify", str(bundle), "--chain", url)
        run_cli(home, "export", "--all", "--chain", "1", "-o", str(tmp_path / "none"), expect=2)
    finally:
        node.stop()
