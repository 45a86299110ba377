"""The high-level API for services: creation trusts itself, anchoring checks funding and pins
the registry, a pin on another chain id is refused, bundles verify against the chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from okeios._internal.config import TrustConfig
from okeios._internal.publish.store import Store
from okeios.errors import ChainError, InputError
from okeios.service import Okeios
from tests.nodes import Node


def test_store_init_from_python_trusts_itself(tmp_path: Path) -> None:
    with Store.init(tmp_path / "home") as store:
        trust = TrustConfig.load(tmp_path / "home")
        assert trust.authors == [store.address]
        assert trust.publishers == [store.address]
    with Store.init(tmp_path / "other", trust=False):
        assert TrustConfig.load(tmp_path / "other").authors == []


def test_open_creates_once_then_opens(tmp_path: Path) -> None:
    with Okeios.open(tmp_path / "home", create=True) as ok:
        address = ok.address
        ok.add([{"resourceType": "Patient", "id": "p1"}])
    with Okeios.open(tmp_path / "home", create=True) as again:
        assert again.address == address
        assert [r.resource_id for r in again.records()] == ["p1"]


def test_anchor_on_a_node_checks_funding_and_pins_the_registry(tmp_path: Path, anvil: Node) -> None:
    home = tmp_path / "home"
    with Okeios.open(home, create=True) as ok:
        ok.add([{"resourceType": "Observation", "id": "o1", "status": "final"}])
        with pytest.raises(ChainError, match="fund it first"):
            ok.anchor(anvil.url)
        anvil.fund(ok.address)
        first = ok.anchor(anvil.url)
        assert first.final
        pin = TrustConfig.load(home).chain(anvil.url)
        assert pin == (first.chain_id, first.registry)
        ok.add([{"resourceType": "Observation", "id": "o2", "status": "final"}])
        second = ok.anchor(anvil.url)
        assert second.registry == first.registry  # the pinned one, not a new deployment
        assert second.tree_size == 2
        bundle = ok.export("Observation/o1")
        report = ok.verify(bundle, chain=anvil.url)
        assert report.passed, report.to_dict()
        assert bundle.anchor is not None
        assert bundle.anchor.extension is not None  # anchored again later: extended to size 2

        # A pin naming another chain id for this node is refused before anything is sent.
        data = json.loads((home / "trust.json").read_text())
        # (pins are keyed by chain id; a pin keyed otherwise is read as the old shape, by URL)
        data["chains"][str(first.chain_id)]["chainId"] = first.chain_id + 1
        (home / "trust.json").write_text(json.dumps(data))
        ok.add([{"resourceType": "Observation", "id": "o3"}])
        with pytest.raises(ChainError, match="is pinned for it"):
            ok.anchor(anvil.url)


def test_processes_creating_one_home_at_once_share_one_store(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.nodes import REPO

    home = tmp_path / "home"
    code = (
        "import sys; from okeios.service import Okeios\n"
        "with Okeios.open(sys.argv[1], create=True) as ok:\n"
        "    r = ok.add([{'resourceType': 'Patient', 'id': 'p' + sys.argv[2]}])\n"
        "    print(ok.address, r[0].status)\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(home), str(i)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        outs.append(out.split())
    assert len({address for address, _ in outs}) == 1  # one store, one publisher
    assert {status for _, status in outs} == {"created"}
    with Okeios.open(home) as ok:
        assert sorted(r.resource_id or "" for r in ok.records()) == ["p0", "p1", "p2", "p3"]


def _ndjson(path: Path, values: list[object]) -> Path:
    path.write_text("".join(json.dumps(v) + "\n" for v in values))
    return path


def test_add_file_streams_in_committed_chunks(tmp_path: Path) -> None:
    """A service adding an NDJSON file gets each result once its chunk is committed; a bad line
    is named, the chunks before it stay, and the same file again logs nothing twice."""
    good = [{"resourceType": "Observation", "id": f"o{i}", "status": "final"} for i in range(7)]
    broken = _ndjson(tmp_path / "broken.ndjson", [*good[:5], "not a resource", *good[5:]])
    with Okeios.open(tmp_path / "home", create=True) as ok:
        results = ok.iter_add_file(broken, chunk=2)
        first = next(results)
        assert first.status == "created"
        assert len(ok.records()) == 2  # the first chunk is committed before it is yielded
        with pytest.raises(InputError, match=r"broken\.ndjson line 6"):
            list(results)
        assert len(ok.records()) == 4  # the chunks before the bad line's
        fixed = _ndjson(tmp_path / "fixed.ndjson", good)
        again = ok.add_file(fixed, chunk=3)
        assert [r.status for r in again] == ["unchanged"] * 4 + ["created"] * 3
        assert len(ok.records()) == 7
        with pytest.raises(InputError, match="positive"):
            ok.add_file(fixed, chunk=0)
        with pytest.raises(InputError, match="cannot read"):
            ok.add_file(tmp_path / "missing.ndjson")
