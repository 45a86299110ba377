"""C2SP tlog-tiles: tile paths, hash tiles and entry bundles (pure; no I/O).

The format (c2sp.org/tlog-tiles), fixed here and nowhere else:

* a tile is up to 256 consecutive RFC 6962 hashes at one *tile level* ``L``: hash ``i`` of
  tile ``N`` at level ``L`` is ``MTH(D[(N*256 + i) * 256**L : (N*256 + i + 1) * 256**L])``,
  so level 0 holds leaf hashes and each hash at level ``L + 1`` is the root of one full tile
  at level ``L``;
* a tree of size ``s`` has, at level ``L``, ``s // 256**(L+1)`` full tiles and, when
  ``w = (s // 256**L) % 256`` is not zero, one partial tile of width ``w``;
* paths: ``tile/<L>/<N>`` and ``tile/entries/<N>``, with ``N`` written in 3-digit groups, all
  but the last prefixed by ``x`` (``1234067`` is ``x001/x234/067``), and ``.p/<W>`` appended
  for a partial tile of width ``W``;
* an entry bundle is its entries, each prefixed by its length as a big-endian uint16; entry
  ``i`` of bundle ``N`` hashes (RFC 6962 leaf hash) to hash ``i`` of level-0 tile ``N``.

An okeios log entry is ``eventId || signature`` (97 bytes, ``docs/events.md``), so the tiles
and the entry bundles describe exactly the Merkle tree the publisher anchors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from okeios._internal.protocol.merkle import HASH_SIZE, node_hash
from okeios.errors import TileError

__all__ = [
    "CHECKPOINT_PATH",
    "HEADER_PATH",
    "SIGNED_CHECKPOINT_PATH",
    "TILES_FORMAT",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "TileRef",
    "decode_entry_bundle",
    "encode_entry_bundle",
    "events_path",
    "parse_tile_path",
    "split_hashes",
    "subtree_root",
    "tiles_for_size",
]

TILE_HEIGHT = 8
# The files of an okeios tiled log besides the tiles (docs/interop.md).
CHECKPOINT_PATH = "checkpoint"  # the C2SP checkpoint note
HEADER_PATH = "okeios/log.json"  # publisher, log id, origin, note key binding
SIGNED_CHECKPOINT_PATH = "okeios/checkpoint.json"  # the EIP-712 signed checkpoint
TILES_FORMAT = "okeios-tiles"
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_LEVEL = 63
MAX_ENTRY = 0xFFFF
_PATH = re.compile(
    r"\Atile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?\Z"
)


@dataclass(frozen=True, slots=True, order=True)
class TileRef:
    """One tile: ``level`` (None for an entry bundle), index ``n`` and width (1..256)."""

    level: int | None
    n: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if self.level is not None and not 0 <= self.level <= MAX_LEVEL:
            raise TileError(f"a tile level is 0..{MAX_LEVEL}")
        if self.n < 0:
            raise TileError("a tile index is non-negative")
        if not 1 <= self.width <= TILE_WIDTH:
            raise TileError(f"a tile is 1..{TILE_WIDTH} hashes wide")

    @property
    def partial(self) -> bool:
        return self.width < TILE_WIDTH

    def path(self) -> str:
        groups = f"{self.n:d}"
        groups = "0" * (-len(groups) % 3) + groups
        parts = [groups[i : i + 3] for i in range(0, len(groups), 3)]
        encoded = "/".join([*("x" + p for p in parts[:-1]), parts[-1]])
        level = "entries" if self.level is None else str(self.level)
        suffix = f".p/{self.width}" if self.partial else ""
        return f"tile/{level}/{encoded}{suffix}"

    def entries(self) -> TileRef:
        """The entry bundle matching this level-0 tile."""
        if self.level != 0:
            raise TileError("only level-0 tiles have entry bundles")
        return TileRef(None, self.n, self.width)

    def start(self) -> int:
        """The index of the first level-``L`` hash (leaf, for level 0) in this tile."""
        return self.n * TILE_WIDTH


def events_path(ref: TileRef) -> str:
    """Where the okeios form of entry bundle ``ref`` (the log file's entry lines) is served."""
    if ref.level is not None:
        raise TileError("okeios event bundles match entry bundles")
    return "okeios/events/" + ref.path().removeprefix("tile/entries/")


def parse_tile_path(path: str) -> TileRef:
    """The tile a path names; raises :class:`TileError` for anything the spec does not allow."""
    m = _PATH.match(path)
    if not m:
        raise TileError(f"not a tile path: {path[:80]!r}")
    level_text, index_text, width_text = m.groups()
    level = None if level_text == "entries" else int(level_text)
    digits = index_text.replace("x", "").replace("/", "")
    width = int(width_text) if width_text else TILE_WIDTH
    if width == TILE_WIDTH and width_text:
        raise TileError("a partial tile is at most 255 wide")
    ref = TileRef(level, int(digits), width)
    if ref.path() != path:
        raise TileError(f"not the canonical tile path: {path[:80]!r}")
    return ref


def tiles_for_size(size: int, *, entries: bool = False) -> Iterator[TileRef]:
    """Every tile (level by level, then index) of a tree of ``size`` leaves, the partial ones
    included; with ``entries`` the entry bundles come first."""
    if size < 0:
        raise TileError("a tree size is non-negative")
    if entries:
        yield from (TileRef(None, t.n, t.width) for t in _level_tiles(size, 0))
    level = 0
    while size >> (TILE_HEIGHT * level):
        yield from _level_tiles(size, level)
        level += 1


def _level_tiles(size: int, level: int) -> Iterator[TileRef]:
    count = size >> (TILE_HEIGHT * level)
    full, width = divmod(count, TILE_WIDTH)
    for n in range(full):
        yield TileRef(level, n)
    if width:
        yield TileRef(level, full, width)


def split_hashes(data: bytes, width: int) -> list[bytes]:
    """A hash tile's bytes as ``width`` 32-byte hashes (the length must be exact)."""
    if len(data) != width * HASH_SIZE:
        raise TileError(f"a tile of width {width} is {width * HASH_SIZE} bytes, got {len(data)}")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def subtree_root(hashes: Sequence[bytes]) -> bytes:
    """The RFC 6962 root over a power-of-two number of hashes (a full tile's hash one level up)."""
    n = len(hashes)
    if n == 0 or n & (n - 1):
        raise TileError("a complete subtree has a power-of-two number of hashes")
    level = list(hashes)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Entries, each prefixed by its big-endian uint16 length."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise TileError(f"an entry bundle holds 1..{TILE_WIDTH} entries")
    out = bytearray()
    for e in entries:
        if len(e) > MAX_ENTRY:
            raise TileError(f"an entry is at most {MAX_ENTRY} bytes")
        out += len(e).to_bytes(2, "big") + e
    return bytes(out)


def decode_entry_bundle(data: bytes, width: int) -> list[bytes]:
    """An entry bundle's entries; exactly ``width`` of them and no trailing bytes."""
    entries: list[bytes] = []
    i = 0
    while i < len(data):
        if len(entries) == width:
            raise TileError(f"the entry bundle holds more than {width} entries")
        if i + 2 > len(data):
            raise TileError("the entry bundle is truncated (length prefix)")
        n = int.from_bytes(data[i : i + 2], "big")
        if i + 2 + n > len(data):
            raise TileError("the entry bundle is truncated (entry)")
        entries.append(data[i + 2 : i + 2 + n])
        i += 2 + n
    if len(entries) != width:
        raise TileError(f"the entry bundle holds {len(entries)} entries, not {width}")
    return entries
