"""Tiled logs (C2SP tlog-tiles): published by okeios, read back by an independent reader written
here from the spec, and audited over HTTP from a local static server, incrementally."""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from okeios._internal.protocol.note import parse_vkey
from okeios._internal.protocol.tiles import TileRef, parse_tile_path, tiles_for_size
from okeios._internal.publish.publisher import Publisher
from okeios._internal.publish.tiles import note_signer
from okeios._internal.verify.tiles import TileFetcher, audit_tiles
from okeios._internal.verify.witness import Witness, WitnessPolicy, add_checkpoint_request
from okeios.errors import TileError
from tests.fakechain import FakeChain, FakeRegistry
from tests.helpers import make_publisher, publish_log

TIME = 1_750_000_000


# --- an independent reader, written from c2sp.org/tlog-tiles and tlog-checkpoint -------------


def spec_path(level: str, n: int, width: int | None = None) -> str:
    digits = str(n).zfill(3 * ((len(str(n)) + 2) // 3))
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    encoded = "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])
    return f"tile/{level}/{encoded}" + (f".p/{width}" if width else "")


def spec_tiles(size: int) -> set[str]:
    """Every tile and entry bundle a tree of ``size`` has (spec: full and partial per level)."""
    out = set()
    level = 0
    while size // 256**level:
        count = size // 256**level
        for n in range(count // 256):
            out.add(spec_path(str(level), n))
            if level == 0:
                out.add(spec_path("entries", n))
        if count % 256:
            out.add(spec_path(str(level), count // 256, count % 256))
            if level == 0:
                out.add(spec_path("entries", count // 256, count % 256))
        level += 1
    return out


def mth(hashes: list[bytes]) -> bytes:
    """RFC 6962 MTH over already-hashed nodes."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(hashes[:k]) + mth(hashes[k:])).digest()


def spec_root_from_tiles(folder: Path, size: int) -> bytes:
    """The tree root computed from the top-most tiles only, as a light client would: the tree
    is the full subtrees named by the highest-level tile hashes, left to right."""
    nodes: list[tuple[int, bytes]] = []
    level = 0
    while size // 256 ** (level + 1):
        level += 1
    remaining_start = 0
    for lvl in range(level, -1, -1):
        span = 256**lvl
        count = (size - remaining_start) // span
        if not count:
            continue
        first = remaining_start // span
        for i in range(first, first + count):
            n, j = divmod(i, 256)
            width = None
            if (n + 1) * 256 * span > size:
                width = (size // span) % 256
            data = (folder / spec_path(str(lvl), n, width)).read_bytes()
            nodes.append((lvl, data[32 * j : 32 * j + 32]))
        remaining_start += count * span
    # Combine: each (level, hash) is a complete subtree of 256**level leaves; RFC 6962 groups
    # them from the right.
    subtrees = [(256**lvl, h) for lvl, h in nodes]
    return _merge(subtrees)


def _merge(subtrees: list[tuple[int, bytes]]) -> bytes:
    total = sum(n for n, _ in subtrees)
    if len(subtrees) == 1:
        return subtrees[0][1]
    k = 1
    while k * 2 < total:
        k *= 2
    acc, i = 0, 0
    while acc < k:
        acc += subtrees[i][0]
        i += 1
    if acc != k:  # a subtree straddles the split: expand it into its halves
        raise AssertionError("unexpected layout")
    left, right = subtrees[:i], subtrees[i:]
    return hashlib.sha256(b"\x01" + _merge(left) + _merge(right)).digest()


def spec_verify_checkpoint(text: str, vkey: str) -> tuple[str, int, bytes]:
    """Parse and verify a checkpoint note with one Ed25519 vkey, from the two specs."""
    name, hex_id, key64 = vkey.split("+", 2)  # the base64 key may hold "+" itself
    raw = base64.b64decode(key64)
    assert raw[0] == 1
    body, _, sigs = text.rpartition("\n\n")
    body += "\n"
    for line in sigs.splitlines():
        dash, sig_name, sig64 = line.split(" ")
        assert dash == "\u2014"
        sig = base64.b64decode(sig64)
        if sig_name == name and sig[:4].hex() == hex_id:
            Ed25519PublicKey.from_public_bytes(raw[1:]).verify(sig[4:], body.encode())
            origin, size, root = body.splitlines()[:3]
            return origin, int(size), base64.b64decode(root)
    raise AssertionError("no signature by the key")


# --- fixtures -----------------------------------------------------------------------------


CHAIN_ID = 31337


def anchor(registry: FakeRegistry, publisher: Publisher) -> None:
    """Anchor the publisher's log as it stands: one anchor per published checkpoint."""
    log = publisher.log
    registry.anchor(publisher.address, publisher.log_id, log.size, log.root(), timestamp=TIME + 60)


def grow(publisher: Publisher, count: int) -> None:
    base = publisher.log.size
    for i in range(count):
        rid = hashlib.sha256(b"record %d" % (base + i)).digest()
        publisher.create({"resourceType": "Observation", "id": str(i), "n": i}, record_id=rid)


def publish(publisher: Publisher, folder: Path) -> str:
    return publish_log(publisher, folder).note


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/log/"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        QuietHandler.requests.append(self.path)


# --- tests ---------------------------------------------------------------------------------


def test_tile_paths_follow_the_spec() -> None:
    assert TileRef(0, 1234067).path() == "tile/0/x001/x234/067"
    assert TileRef(None, 5, 17).path() == "tile/entries/005.p/17"
    assert TileRef(2, 0, 1).path() == "tile/2/000.p/1"
    for n in (0, 1, 999, 1000, 255_999, 10**9 + 7):
        assert TileRef(3, n).path() == spec_path("3", n)
        assert parse_tile_path(spec_path("3", n)) == TileRef(3, n)
    # The spec's own example: a tree of 70,000 entries.
    tiles = {t.path() for t in tiles_for_size(70_000)}
    assert len([t for t in tiles if t.startswith("tile/0/") and ".p/" not in t]) == 273
    assert {"tile/0/273.p/112", "tile/1/000", "tile/1/001.p/17", "tile/2/000.p/1"} <= tiles
    assert {t.path() for t in tiles_for_size(256)} == {"tile/0/000", "tile/1/000.p/1"}
    for size in (0, 1, 255, 256, 257, 65_536, 70_000, 16_777_217):
        assert {t.path() for t in tiles_for_size(size, entries=True)} == spec_tiles(size)
    for bad in (
        "tile/0/1",
        "tile/0/x000/001",
        "tile/0/001.p/256",
        "tile/0/001.p/0",
        "tile/64/000",
        "tile/01/000",
        "tile/0/000/",
        "tile/0/x1/000",
    ):
        with pytest.raises(TileError):
            parse_tile_path(bad)


def test_published_tiles_read_by_an_independent_reader(tmp_path: Path) -> None:
    publisher = make_publisher()
    grow(publisher, 600)
    folder = tmp_path / "log"
    note = publish(publisher, folder)
    vkey = note_signer(publisher.signer, publisher.log_id)  # type: ignore[arg-type]
    origin, size, root = spec_verify_checkpoint(note, vkey.vkey())
    assert (origin, size, root) == (f"okeios/0x{publisher.log_id.hex()}", 600, publisher.log.root())
    assert (folder / "checkpoint").read_text() == note
    files = {str(p.relative_to(folder)) for p in (folder / "tile").rglob("*") if p.is_file()}
    assert files == spec_tiles(600)
    assert spec_root_from_tiles(folder, 600) == publisher.log.root()
    # Entry bundles: uint16 length-prefixed entries hashing to the level-0 tile.
    bundle = (folder / spec_path("entries", 2, 88)).read_bytes()
    tile = (folder / spec_path("0", 2, 88)).read_bytes()
    i, k = 0, 0
    while i < len(bundle):
        n = int.from_bytes(bundle[i : i + 2], "big")
        entry = bundle[i + 2 : i + 2 + n]
        assert hashlib.sha256(b"\x00" + entry).digest() == tile[32 * k : 32 * k + 32]
        assert entry == publisher.events[512 + k].signed.leaf_data()
        i, k = i + 2 + n, k + 1
    assert k == 88
    # Level 1: hash j is the root of full level-0 tile j.
    level1 = (folder / spec_path("1", 0, 2)).read_bytes()
    tile0 = (folder / spec_path("0", 1)).read_bytes()
    assert level1[32:64] == mth([tile0[i : i + 32] for i in range(0, 8192, 32)])
    assert parse_vkey(vkey.vkey()).vkey() == vkey.vkey()


def test_audit_over_http_then_incrementally(tmp_path: Path, served: tuple[Path, str]) -> None:
    www, url = served
    publisher = make_publisher()
    chain = FakeChain(CHAIN_ID, genesis_time=TIME).deploy()
    grow(publisher, 300)
    anchor(chain, publisher)
    publish(publisher, www / "log")
    cache = tmp_path / "cache"

    first = TileFetcher(url, cache)
    report = audit_tiles(first, publisher=publisher.address, chain=chain, chain_id=CHAIN_ID)
    assert report.passed, report.defects
    assert report.entries == 300
    mutable = {"okeios/log.json", "checkpoint", "okeios/checkpoint.json"}
    events = {"okeios/events/000", "okeios/events/001.p/44"}
    assert set(first.fetched) == spec_tiles(300) | mutable | events
    assert len(first.fetched) == len(set(first.fetched)) == 10  # nothing fetched twice

    grow(publisher, 500)  # 800 entries: tiles 0/001 completes, 0/002, 0/003.p/32, 1/000.p/3
    anchor(chain, publisher)
    publish(publisher, www / "log")
    served_before = len(QuietHandler.requests)
    second = TileFetcher(url, cache)
    report = audit_tiles(second, publisher=publisher.address, chain=chain, chain_id=CHAIN_ID)
    assert report.passed, report.defects
    assert report.entries == 800
    new = spec_tiles(800) - spec_tiles(300)
    new_events = {"okeios/events/001", "okeios/events/002", "okeios/events/003.p/32"}
    assert set(second.fetched) == new | mutable | new_events
    assert len(second.fetched) == len(new) + 3 + 3 == 13
    # The static server saw exactly these requests, and nothing else.
    assert sorted(QuietHandler.requests[served_before:]) == sorted(
        "/log/" + p for p in second.fetched
    )
    # Third audit, nothing new: only the three mutable files.
    third = TileFetcher(url, cache)
    assert audit_tiles(third, publisher=publisher.address, chain=chain, chain_id=CHAIN_ID).passed
    assert sorted(third.fetched) == sorted(mutable)


def test_a_rewritten_history_is_caught_by_the_returning_auditor(tmp_path: Path) -> None:
    """The publisher shows the auditor one log, then rewrites an old entry and republishes the
    whole folder (new tiles, new checkpoint, correctly signed): the auditor's cached view of
    what it saw before makes it a fork, without downloading the old tiles again."""
    honest = make_publisher()
    grow(honest, 300)
    folder = tmp_path / "log"
    publish(honest, folder)
    cache = tmp_path / "cache"
    first = audit_tiles(TileFetcher(folder, cache), publisher=honest.address, chain=None)
    assert first.defect_kinds() == {"no-chain"}

    forked = make_publisher()
    grow(forked, 10)
    forked.create({"resourceType": "Observation", "id": "rewritten"})
    grow(forked, 400)
    shutil.rmtree(folder)
    publish(forked, folder)
    report = audit_tiles(TileFetcher(folder, cache), publisher=honest.address, chain=None)
    # The auditor re-reads only what it lacks: the rewritten tile 0/000 is cached from before,
    # so the new checkpoint's root cannot come out of the tiles it holds.
    assert "checkpoint-mismatch" in report.defect_kinds()
    # A fresh auditor (no cache) sees a self-consistent log, and only the chain or a witness
    # can tell: that is what the returning auditor's memory adds.
    fresh = audit_tiles(TileFetcher(folder, tmp_path / "c2"), publisher=honest.address, chain=None)
    assert "checkpoint-mismatch" not in fresh.defect_kinds()


def test_the_returning_auditor_reports_a_fork_even_with_new_tiles_everywhere(
    tmp_path: Path,
) -> None:
    honest = make_publisher()
    grow(honest, 20)
    folder = tmp_path / "log"
    publish(honest, folder)
    cache = tmp_path / "cache"
    audit_tiles(TileFetcher(folder, cache), publisher=honest.address, chain=None)
    # The forked log is bigger and its first tile is partial at a new width: every tile file
    # is new to the auditor, so everything is fetched, and the fork shows against its memory.
    forked = make_publisher()
    forked.create({"resourceType": "Observation", "id": "rewritten"})
    grow(forked, 40)
    shutil.rmtree(folder)
    publish(forked, folder)
    report = audit_tiles(TileFetcher(folder, cache), publisher=honest.address, chain=None)
    assert "inconsistent-checkpoint" in report.defect_kinds()


def test_tampered_tiles_and_foreign_keys_are_named(tmp_path: Path) -> None:
    publisher = make_publisher()
    grow(publisher, 300)
    folder = tmp_path / "log"
    publish(publisher, folder)
    # A flipped byte in a hash tile.
    tile = folder / "tile/0/001.p/44"
    data = bytearray(tile.read_bytes())
    data[5] ^= 1
    tile.write_bytes(bytes(data))
    report = audit_tiles(TileFetcher(folder), publisher=publisher.address, chain=None)
    assert "tile-mismatch" in report.defect_kinds()
    # Another publisher's log is not this one's.
    report = audit_tiles(TileFetcher(folder), publisher="0x" + "11" * 20, chain=None)
    assert report.defect_kinds() == {"foreign-log"}
    # A checkpoint re-signed by a key the publisher never bound.
    from okeios._internal.protocol.note import Ed25519NoteSigner, NoteCheckpoint

    fake = Ed25519NoteSigner(f"okeios/0x{publisher.log_id.hex()}", b"\x07" * 32)
    text = NoteCheckpoint(f"okeios/0x{publisher.log_id.hex()}", 300, b"\x00" * 32).text()
    (folder / "checkpoint").write_bytes(fake.sign_note(text).to_bytes())
    report = audit_tiles(TileFetcher(folder), publisher=publisher.address, chain=None)
    assert report.defect_kinds() == {"bad-checkpoint-note"}


def test_witness_quorum_in_the_tile_audit(tmp_path: Path) -> None:
    from okeios._internal.protocol.note import CosignatureSigner, parse_note
    from okeios._internal.verify.witness import parse_cosignatures

    publisher = make_publisher()
    grow(publisher, 5)
    folder = tmp_path / "log"
    note_text = publish(publisher, folder)
    origin = f"okeios/0x{publisher.log_id.hex()}"
    log_vkey = note_signer(publisher.signer, publisher.log_id).vkey()  # type: ignore[arg-type]
    witnesses = [
        Witness(CosignatureSigner(f"w{i}.example", bytes([i]) * 32), clock=lambda: TIME)
        for i in range(1, 4)
    ]
    for w in witnesses:
        w.add_log(origin, log_vkey)
    note = parse_note(note_text)
    for w in witnesses[:2]:
        status, _, body = w.add_checkpoint(add_checkpoint_request(0, [], note))
        assert status == 200
        note = note.with_signatures(parse_cosignatures(body))
    (folder / "checkpoint").write_bytes(note.to_bytes())
    keys = [w.vkey() for w in witnesses]
    ok = audit_tiles(
        TileFetcher(folder),
        publisher=publisher.address,
        chain=None,
        witnesses=WitnessPolicy(keys, 2),
        now=TIME,
    )
    assert "witness-quorum" not in ok.defect_kinds()
    short = audit_tiles(
        TileFetcher(folder),
        publisher=publisher.address,
        chain=None,
        witnesses=WitnessPolicy(keys, 3),
        now=TIME,
    )
    assert "witness-quorum" in short.defect_kinds()


def test_a_missing_tile_and_an_unreachable_server_are_told_apart(
    tmp_path: Path, served: tuple[Path, str]
) -> None:
    www, url = served
    publisher = make_publisher()
    grow(publisher, 40)
    publish(publisher, www / "log")
    (www / "log" / "tile/entries/000.p/40").unlink()  # the checkpoint needs it: 404
    report = audit_tiles(TileFetcher(url), publisher=publisher.address, chain=None)
    assert report.defect_kinds() == {"tile-missing"}
    # Nobody listening: not tampering, the log is unavailable.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TileError):
        audit_tiles(
            TileFetcher(f"http://127.0.0.1:{port}/"), publisher=publisher.address, chain=None
        )


def test_a_folder_holds_one_log(tmp_path: Path) -> None:
    """Tiles are never rewritten, so publishing another log into a folder would mix two trees:
    refused."""
    from okeios._internal.protocol.signing import LocalSigner

    first = make_publisher()
    grow(first, 3)
    publish(first, tmp_path / "log")
    other = Publisher(LocalSigner.from_key(b"\x07" * 32))
    grow(other, 3)
    with pytest.raises(TileError, match="another log"):
        publish(other, tmp_path / "log")
    # A checkpoint that is not of these entries is refused before anything is written.
    grow(first, 1)
    stale = first.checkpoint(3)
    with pytest.raises(TileError):
        publish_log(first, tmp_path / "log2", checkpoint=stale)
    assert not (tmp_path / "log2").exists()


def test_a_server_error_on_a_tile_is_not_tampering(tmp_path: Path) -> None:
    publisher = make_publisher()
    grow(publisher, 5)
    root = tmp_path / "www"
    publish(publisher, root / "log")

    class Flaky(QuietHandler):
        def do_GET(self) -> None:
            if "/tile/" in self.path:
                self.send_error(503)
                return
            super().do_GET()

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Flaky, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/log/"
        report = audit_tiles(TileFetcher(url), publisher=publisher.address, chain=None)
    finally:
        server.shutdown()
        server.server_close()
    assert report.defect_kinds() == {"log-unavailable"}


def test_a_rolled_back_log_is_named_and_not_remembered(tmp_path: Path) -> None:
    publisher = make_publisher()
    grow(publisher, 10)
    old = tmp_path / "old"
    publish(publisher, old)
    grow(publisher, 10)
    new = tmp_path / "new"
    publish(publisher, new)
    cache = tmp_path / "cache"
    first = audit_tiles(TileFetcher(new, cache), publisher=publisher.address, chain=None)
    assert first.defect_kinds() == {"no-chain"}
    # A mirror (or the publisher) now serves the older, smaller log: signed, self-consistent,
    # and hiding the last ten entries from this auditor.
    rolled = audit_tiles(TileFetcher(old, cache), publisher=publisher.address, chain=None)
    assert "stale-checkpoint" in rolled.defect_kinds()
    # ...and it does not become the auditor's new memory.
    again = audit_tiles(TileFetcher(new, cache), publisher=publisher.address, chain=None)
    assert again.defect_kinds() == {"no-chain"}


# --- issue 19: one log, one origin, one note key, one spelling; the auditor's memory only grows --


def _rewrite_header(folder: Path, **changes: object) -> None:
    import json

    header = json.loads((folder / "okeios/log.json").read_bytes())
    header.update(changes)
    (folder / "okeios/log.json").write_text(json.dumps(header))


def test_a_re_cased_log_id_is_refused_and_never_rolls_the_auditor_back(tmp_path: Path) -> None:
    """Issue 19, item 3: a mirror upper-cases the log id in the unsigned okeios/log.json and
    serves yesterday's checkpoint. The audit refuses the spelling (``non-canonical-id``), and
    the auditor's memory keeps the larger tree: the plain rollback is still ``stale-checkpoint``."""
    publisher = make_publisher()
    grow(publisher, 10)
    old = tmp_path / "old"
    publish(publisher, old)
    grow(publisher, 10)
    new = tmp_path / "new"
    publish(publisher, new)
    cache = tmp_path / "cache"
    assert audit_tiles(
        TileFetcher(new, cache), publisher=publisher.address, chain=None
    ).defect_kinds() == {"no-chain"}
    for spelling in (
        "0x" + publisher.log_id.hex().upper(),
        "0X" + publisher.log_id.hex(),
        "0x" + publisher.log_id.hex()[:-2],
        publisher.log_id.hex(),
    ):
        _rewrite_header(old, logId=spelling)
        recased = audit_tiles(TileFetcher(old, cache), publisher=publisher.address, chain=None)
        assert recased.defect_kinds() == {"non-canonical-id"}, spelling
    _rewrite_header(old, logId="0x" + publisher.log_id.hex())
    rolled = audit_tiles(TileFetcher(old, cache), publisher=publisher.address, chain=None)
    assert "stale-checkpoint" in rolled.defect_kinds()
    state = TileFetcher(new, cache).load_state()
    assert state[publisher.log_id]["size"] == 20


def test_the_auditor_keeps_its_state_per_log_id_bytes(tmp_path: Path) -> None:
    """Two logs audited with one cache keep two states; neither overwrites the other."""
    from okeios._internal.protocol.signing import LocalSigner

    first, second = make_publisher(), Publisher(LocalSigner.from_key(b"\x07" * 32))
    grow(first, 5)
    grow(second, 3)
    publish(first, tmp_path / "a")
    publish(second, tmp_path / "b")
    cache = tmp_path / "cache"
    audit_tiles(TileFetcher(tmp_path / "a", cache), publisher=first.address, chain=None)
    audit_tiles(TileFetcher(tmp_path / "b", cache), publisher=second.address, chain=None)
    state = TileFetcher(tmp_path / "a", cache).load_state()
    assert {k: v["size"] for k, v in state.items()} == {first.log_id: 5, second.log_id: 3}


def test_a_second_origin_is_refused_by_publisher_and_auditor(tmp_path: Path) -> None:
    """Issue 19, item 2: the origin is derived from the log id; neither the publisher nor a
    mirror can present the log under a second one."""
    from okeios._internal.protocol.note import Ed25519NoteSigner, NoteCheckpoint, derive_note_seed

    publisher = make_publisher()
    grow(publisher, 4)
    folder = tmp_path / "log"
    with pytest.raises(TileError, match="one origin"):
        publish_log(publisher, folder, origin="example.com/fork")
    publish(publisher, folder)
    _rewrite_header(folder, origin="example.com/fork")
    report = audit_tiles(TileFetcher(folder), publisher=publisher.address, chain=None)
    assert report.defect_kinds() == {"second-origin"}
    # The publisher key signs a checkpoint under another origin with the log's own note seed.
    publish(publisher, folder)
    seed = derive_note_seed(publisher.signer.private_key, publisher.log_id)  # type: ignore[attr-defined]
    rogue = Ed25519NoteSigner("example.com/fork", seed)
    text = NoteCheckpoint("example.com/fork", 4, publisher.log.root()).text()
    (folder / "checkpoint").write_bytes(rogue.sign_note(text).to_bytes())
    report = audit_tiles(TileFetcher(folder), publisher=publisher.address, chain=None)
    assert report.defect_kinds() & {"second-origin", "bad-checkpoint-note"}
    assert report.defect_kinds() <= {"second-origin", "bad-checkpoint-note"}


def test_a_second_note_key_for_one_log_is_reported(tmp_path: Path) -> None:
    """Issue 19, item 2: one publisher binding a second note key to its log (to keep a second
    history at witnesses that knew only the first) is reported to an auditor who saw the first."""
    from okeios._internal.protocol.note import (
        Ed25519NoteSigner,
        NoteCheckpoint,
        NoteKeyBinding,
        log_origin,
    )

    publisher = make_publisher()
    grow(publisher, 4)
    folder = tmp_path / "log"
    publish(publisher, folder)
    cache = tmp_path / "cache"
    assert audit_tiles(
        TileFetcher(folder, cache), publisher=publisher.address, chain=None
    ).defect_kinds() == {"no-chain"}
    grow(publisher, 2)
    publish(publisher, folder)
    second = Ed25519NoteSigner(log_origin(publisher.log_id), b"\x0b" * 32)
    binding = NoteKeyBinding.sign(publisher.signer, publisher.log_id, second.vkey())
    _rewrite_header(folder, noteKey=binding.to_dict())
    text = NoteCheckpoint(log_origin(publisher.log_id), 6, publisher.log.root()).text()
    (folder / "checkpoint").write_bytes(second.sign_note(text).to_bytes())
    report = audit_tiles(TileFetcher(folder, cache), publisher=publisher.address, chain=None)
    assert "second-note-key" in report.defect_kinds()
    # A fresh auditor has nothing to compare with: the rest of the page (witnesses keyed by
    # log id, the chain) is what binds it there.
    fresh = audit_tiles(TileFetcher(folder), publisher=publisher.address, chain=None)
    assert "second-note-key" not in fresh.defect_kinds()
    # ...and the reported audit is not remembered.
    assert TileFetcher(folder, cache).load_state()[publisher.log_id]["size"] == 4


def test_an_old_audit_state_is_read_strictly(tmp_path: Path) -> None:
    """A version-1 cache (one log, compared as text) is carried over when its log id is
    canonical, and refused, never silently forgotten, when it is not."""
    import json

    publisher = make_publisher()
    grow(publisher, 3)
    folder = tmp_path / "log"
    publish(publisher, folder)
    cache = tmp_path / "cache"
    cache.mkdir()
    root = publisher.log.root(2).hex()
    state = {"logId": "0x" + publisher.log_id.hex(), "size": 2, "root": root}
    (cache / "audit-state.json").write_text(json.dumps(state))
    report = audit_tiles(TileFetcher(folder, cache), publisher=publisher.address, chain=None)
    assert report.defect_kinds() == {"no-chain"}
    assert TileFetcher(folder, cache).load_state()[publisher.log_id]["size"] == 3
    state["logId"] = state["logId"].upper().replace("0X", "0x")
    (cache / "audit-state.json").write_text(json.dumps(state))
    with pytest.raises(TileError, match="audit state"):
        audit_tiles(TileFetcher(folder, cache), publisher=publisher.address, chain=None)


def _dripping_server(
    root: Path, pause: float, stop_after: float
) -> http.server.ThreadingHTTPServer:
    """Serves ``root``; every file but okeios/log.json arrives one byte every ``pause`` s
    (until ``stop_after`` s: a test must end even against a fetcher with no deadline)."""

    class Drip(QuietHandler):
        def do_GET(self) -> None:
            if self.path.endswith("okeios/log.json"):
                super().do_GET()
                return
            path = root / self.path.lstrip("/")
            if not path.is_file():
                self.send_error(404)
                return
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            started = time.monotonic()
            for i in range(len(body)):
                if time.monotonic() - started > stop_after:
                    return
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                time.sleep(pause)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Drip, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_dripping_server_meets_the_download_deadline(tmp_path: Path) -> None:
    """A server answering okeios/log.json and then one byte every few seconds (each read well
    within the socket timeout) kept the audit waiting indefinitely: now each download has one
    deadline, and missing it is log-unavailable (undecided), not a verdict on the log."""
    publisher = make_publisher()
    grow(publisher, 3)
    root = tmp_path / "www"
    publish(publisher, root / "log")
    server = _dripping_server(root, pause=0.05, stop_after=20)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/log/"
        started = time.monotonic()
        fetcher = TileFetcher(url, timeout=5, download_deadline=1.0)
        report = audit_tiles(fetcher, publisher=publisher.address, chain=None)
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert report.defect_kinds() == {"log-unavailable"}
    assert "download deadline" in report.defects[0].detail
    assert elapsed < 4


def test_an_audit_run_has_one_deadline_for_all_its_downloads(tmp_path: Path) -> None:
    publisher = make_publisher()
    grow(publisher, 300)  # two level-0 tiles, their entry bundles, a level-1 tile
    root = tmp_path / "www"
    publish(publisher, root / "log")
    server = _dripping_server(root, pause=0.0005, stop_after=20)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/log/"
        started = time.monotonic()
        fetcher = TileFetcher(url, timeout=5, download_deadline=10, run_deadline=1.5)
        report = audit_tiles(fetcher, publisher=publisher.address, chain=None)
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert report.defect_kinds() == {"log-unavailable"}
    assert "run deadline" in report.defects[0].detail
    assert elapsed < 5
