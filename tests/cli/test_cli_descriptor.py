"""The trust descriptor (docs/trust-descriptor.md): a publisher writes it, a verifier imports
it from a file or a URL and verifies with no hex typed by hand; malformed, oversized or slow
descriptors are refused with exit 2."""

from __future__ import annotations

import json
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from okeios._internal.cli.demo import synthetic_records
from okeios._internal.descriptor import MAX_DESCRIPTOR, parse_descriptor
from okeios._internal.protocol.anchors import CANONICAL_REGISTRY
from okeios.errors import InputError
from tests.helpers import QuietHandler, run_cli, serve_local


def _serve(body: bytes, trickle: float = 0.0) -> tuple[ThreadingHTTPServer, str]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for i in range(len(body)):
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                if trickle:
                    time.sleep(trickle)

    server, url = serve_local(Handler)
    return server, url + "/okeios-trust.json"


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("hospital")
    home = tmp / "hospital"
    record = tmp / "r.json"
    record.write_bytes(synthetic_records(1, seed=21)[0])
    run_cli(home, "init")
    # One identity event: a key history with none holds no signed root to prove its tail
    # against, so it can never be shown complete (docs/identity.md, section 5, limits).
    run_cli(home, "authors", "add", "0x" + "12" * 20, "--role", "physician")
    run_cli(home, "add", str(record))
    run_cli(home, "anchor")
    descriptor = tmp / "okeios-trust.json"
    run_cli(home, "trust", "--export-descriptor", str(descriptor))
    out = tmp / "bundles"
    run_cli(home, "export", "--all", "-o", str(out))
    run_cli(home, "authors", "export", "-o", str(tmp / "keys.json"))
    return home, descriptor, out


def test_a_verifier_pins_a_hospital_from_its_descriptor(
    hospital: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    home, descriptor, out = hospital
    d = json.loads(descriptor.read_text())
    assert d["type"] == "okeios-trust-descriptor"
    assert d["chainId"] == 131277
    assert d["registry"] == CANONICAL_REGISTRY
    assert d["privateRegistry"] is False
    assert d["logId"] == d["logId"].lower()
    assert d["noteKey"]
    verifier = tmp_path / "verifier"
    bundles = [str(p) for p in out.iterdir() if p.suffix == ".okb"]
    # Nothing trusted yet: verification cannot even start.
    assert run_cli(verifier, "verify", *bundles, expect=None).returncode == 2
    server, url = _serve(descriptor.read_bytes())
    try:
        run_cli(verifier, "trust", "--import", url)
    finally:
        server.shutdown()
    trust = json.loads((verifier / "trust.json").read_text())
    assert d["publisher"] in trust["publishers"]
    assert trust["logs"][d["logId"]]["noteKey"] == d["noteKey"]
    assert list(trust["chains"]) == ["131277"]
    # The embedded chain is local to the hospital's home: the verifier reads a copy of it.
    import shutil

    shutil.copytree(home / "chains" / "embedded", verifier / "chains" / "embedded")
    keys = str(descriptor.parent / "keys.json")
    run_cli(verifier, "verify", *bundles, "--keys", keys, "--chain", "embedded")


@pytest.mark.parametrize(
    "change",
    [
        {"logId": "0x" + "AB" * 32},  # upper-case hex
        {"registry": CANONICAL_REGISTRY.lower()},  # not EIP-55
        {"chainId": "131277"},
        {"privateRegistry": True},  # the canonical registry called private
        {"extra": 1},
        {"version": 2},
        {"witnesses": ["not a key"]},
    ],
)
def test_malformed_descriptors_are_refused(
    hospital: tuple[Path, Path, Path], change: dict[str, object]
) -> None:
    d = {**json.loads(hospital[1].read_text()), **change}
    with pytest.raises(InputError):
        parse_descriptor(json.dumps(d).encode())


def test_oversized_and_trickled_descriptors_are_refused(tmp_path: Path) -> None:
    big, url = _serve(b" " * (MAX_DESCRIPTOR + 10))
    try:
        done = run_cli(tmp_path / "v", "trust", "--import", url, expect=2)
        assert "at most" in done.stderr
    finally:
        big.shutdown()
    slow, url = _serve(b"{" + b" " * 200 + b"}", trickle=0.1)
    try:
        start = time.monotonic()
        done = run_cli(tmp_path / "v", "trust", "--import", url, expect=2)
        assert time.monotonic() - start < 18
        assert "within" in done.stderr
    finally:
        slow.shutdown()
