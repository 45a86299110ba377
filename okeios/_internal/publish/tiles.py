"""Publish a log as C2SP tlog-tiles: a folder any static web server can serve.

``publish_tiles`` writes, under ``folder``:

* ``tile/<L>/<N>[.p/<W>]``: the hash tiles (:mod:`okeios._internal.protocol.tiles`);
* ``tile/entries/<N>[.p/<W>]``: the entry bundles; an entry is ``eventId || signature``,
  exactly the leaf data of the okeios Merkle log;
* ``okeios/events/<N>[.p/<W>]``: the same entries as the entry lines of the okeios log file
  (:func:`okeios._internal.protocol.logfile.entry_line`: the EIP-712 event message and its
  signature), which an auditor needs to check lineage and times;
  a separate URL, as the spec asks of a log that serves another entry format;
* ``okeios/log.json`` (version 2): the publisher, the log id, the origin and the note key
  binding (the publisher's EIP-712 signature over the log id, its origin and the Ed25519
  verifier key, :class:`NoteKeyBinding`). The origin is not a choice: a log has one,
  :func:`~okeios._internal.protocol.note.log_origin` of its id, and one note key per publisher key;
* ``okeios/checkpoint.json``: the publisher's EIP-712 signed checkpoint of the same tree;
* ``checkpoint``: the C2SP checkpoint, a signed note by the log's Ed25519 note key, written last
  so that a reader never sees a checkpoint whose tiles are missing.

Tiles and bundles are immutable: a file already present is never rewritten, so publishing a
grown log writes only the new tiles. Every file is written to a temporary name and renamed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from okeios._internal.faults import fault_point
from okeios._internal.files import write_atomic
from okeios._internal.protocol.events import SignedCheckpoint, SignedEvent
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.logfile import entry_line
from okeios._internal.protocol.merkle import MerkleLog, leaf_hash
from okeios._internal.protocol.note import (
    Ed25519NoteSigner,
    NoteCheckpoint,
    NoteKeyBinding,
    derive_note_seed,
    log_origin,
)
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.protocol.tiles import (
    CHECKPOINT_PATH,
    HEADER_PATH,
    SIGNED_CHECKPOINT_PATH,
    TILE_WIDTH,
    TILES_FORMAT,
    TileRef,
    encode_entry_bundle,
    events_path,
    subtree_root,
    tiles_for_size,
)
from okeios.errors import TileError

__all__ = [
    "PublishedTiles",
    "default_origin",
    "note_signer",
    "publish_tiles",
]


HEADER_VERSION = 2  # version 1 carried a free origin and a version-1 note key binding


def default_origin(log_id: bytes) -> str:
    """The one checkpoint origin of a log: ``okeios/0x<log id>`` (there is no other)."""
    return log_origin(log_id)


def note_signer(signer: LocalSigner, log_id: bytes) -> Ed25519NoteSigner:
    """The log's Ed25519 note key, derived from the publisher key; its key name is the log's
    one origin."""
    return Ed25519NoteSigner(log_origin(log_id), derive_note_seed(signer.private_key, log_id))


@dataclass(frozen=True, slots=True)
class PublishedTiles:
    tree_size: int
    written: int
    kept: int
    note: str
    vkey: str


def _write(path: Path, data: bytes) -> None:
    fault_point("tiles-file")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)


def publish_tiles(
    folder: str | Path,
    *,
    signer: LocalSigner,
    log_id: bytes,
    events: Iterable[SignedEvent],
    checkpoint: SignedCheckpoint,
    origin: str | None = None,
) -> PublishedTiles:
    """Write (or bring up to date) the tiled form of a log whose entries are ``events``;
    ``checkpoint`` must be the publisher's signed checkpoint of exactly these entries.
    ``origin`` may only repeat the log's one origin (anything else raises :class:`TileError`)."""
    root_dir = Path(folder)
    if origin is not None and origin != log_origin(log_id):
        raise TileError(
            f"a log has one origin, {log_origin(log_id)}; {origin[:80]!r} would publish it "
            "under a second one"
        )
    origin = log_origin(log_id)
    note_key = note_signer(signer, log_id)
    signed_events = list(events)
    levels = _tile_levels([signed.leaf_data() for signed in signed_events])
    size = len(signed_events)
    cp = checkpoint.checkpoint
    if cp.log_id != log_id or cp.tree_size != size:
        raise TileError(f"the checkpoint is of size {cp.tree_size}, the log has {size} entries")
    if MerkleLog.from_leaf_hashes(levels[0]).root() != cp.root:
        raise TileError("the checkpoint's root is not the root of these entries")
    _check_folder(root_dir, log_id)
    written, kept = _write_tiles(root_dir, signed_events, levels)
    binding = NoteKeyBinding.sign(signer, log_id, note_key.vkey())
    header = {
        "format": TILES_FORMAT,
        "version": HEADER_VERSION,
        "publisher": signer.address,
        "logId": to_hex(log_id),
        "origin": origin,
        "noteKey": binding.to_dict(),
    }
    _write(root_dir / HEADER_PATH, json.dumps(header, indent=1).encode() + b"\n")
    signed_cp = {
        "treeSize": cp.tree_size,
        "root": to_hex(cp.root),
        "publisher": checkpoint.publisher,
        "signature": to_hex(checkpoint.signature),
    }
    _write(root_dir / SIGNED_CHECKPOINT_PATH, json.dumps(signed_cp).encode() + b"\n")
    note = note_key.sign_note(NoteCheckpoint(origin, size, cp.root).text())
    _write(root_dir / CHECKPOINT_PATH, note.to_bytes())
    return PublishedTiles(size, written, kept, note.to_text(), note_key.vkey())


def _tile_levels(entries: Sequence[bytes]) -> list[list[bytes]]:
    """The tile levels of a log: its leaf hashes, then each level's complete tiles' roots."""
    levels = [[leaf_hash(e) for e in entries]]
    while len(levels[-1]) >= TILE_WIDTH:
        below = levels[-1]
        levels.append(
            [
                subtree_root(below[k : k + TILE_WIDTH])
                for k in range(0, len(below) - TILE_WIDTH + 1, TILE_WIDTH)
            ]
        )
    return levels


def _check_folder(root_dir: Path, log_id: bytes) -> None:
    """Refuse a folder that holds another log's tiles (one log per folder)."""
    existing = root_dir / HEADER_PATH
    if not existing.exists():
        return
    try:
        other = json.loads(existing.read_bytes()).get("logId")
    except (OSError, ValueError, AttributeError) as exc:
        raise TileError(f"{existing} is not an okeios tiled log header") from exc
    if other != to_hex(log_id):
        raise TileError(f"{root_dir} holds another log's tiles ({other})")


def _write_tiles(
    root_dir: Path, signed_events: Sequence[SignedEvent], levels: list[list[bytes]]
) -> tuple[int, int]:
    """Write every tile, entry bundle and event bundle the folder lacks; tiles are immutable,
    so those present are kept. Returns how many were written and kept."""
    written = kept = 0
    for ref in tiles_for_size(len(signed_events), entries=True):
        paths = [ref.path()] if ref.level is not None else [ref.path(), events_path(ref)]
        for rel in paths:
            if (root_dir / rel).exists():
                kept += 1
            else:
                _write(root_dir / rel, _tile_bytes(ref, rel, signed_events, levels))
                written += 1
    return written, kept


def _tile_bytes(
    ref: TileRef, rel: str, signed_events: Sequence[SignedEvent], levels: list[list[bytes]]
) -> bytes:
    """The content of one file of a tile: a hash tile, an entry bundle or an event bundle."""
    lo, hi = ref.start(), ref.start() + ref.width
    if ref.level is not None:
        return b"".join(levels[ref.level][lo:hi])
    if rel == ref.path():
        return encode_entry_bundle([signed.leaf_data() for signed in signed_events[lo:hi]])
    return b"".join(entry_line(i, signed_events[i]).encode() + b"\n" for i in range(lo, hi))
