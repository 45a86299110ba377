"""Audit a log published as C2SP tlog-tiles, from a folder or an HTTP(S) URL, incrementally.

:class:`TileFetcher` reads a tiled log's files, and keeps the immutable ones (full and partial
tiles, entry bundles) in a local cache folder, so the next audit of a grown log downloads only
the tiles it lacks (:attr:`TileFetcher.fetched` lists what was downloaded). The mutable files
(``checkpoint``, ``okeios/log.json``, ``okeios/checkpoint.json``) are read every time.

:func:`audit_tiles`:

1. reads ``okeios/log.json`` strictly: every identifier in its one canonical form
   (``non-canonical-id`` otherwise: an upper-case or short log id is not the log, it is an
   attempt to be taken for another), the origin the log id derives
   (``second-origin``), and a note key binding (version 2) signed by the expected publisher
   for this log and origin (``bad-note-key``); a note key other than the one this auditor saw
   for the same log and publisher is ``second-note-key``;
2. verifies the ``checkpoint`` note with that key (``bad-checkpoint-note``), its origin
   (``foreign-log``), and, given a :class:`~okeios._internal.verify.witness.WitnessPolicy`, its
   quorum of witness cosignatures (``witness-quorum``, ``bad-cosignature``, ``future-cosignature``);
3. reads every level-0 tile, entry bundle and okeios event bundle up to the checkpoint's size
   and the tiles above: every entry must hash to its tile hash, every event must be the one the
   entry names, every higher tile hash must be the root of the full tile below
   (``tile-mismatch``), and the tree must have the checkpoint's root (``checkpoint-mismatch``);
4. with a cache, checks that the previous audit's checkpoint of this log (the cache keeps its
   state per log id *bytes*) is a prefix of this tree (``inconsistent-checkpoint``: the
   publisher rewrote what it had shown before, a fork; ``stale-checkpoint``: the log is smaller
   than before, a stale copy or a rollback). The cache's state only ever grows: a smaller or
   inconsistent tree is reported and never stored;
5. runs the whole-log audit (:func:`okeios._internal.verify.audit.audit_log`: signatures, lineage,
   anchors, times) over the entries, and merges its defects.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from okeios._internal.files import write_atomic
from okeios._internal.protocol.events import event_from_message
from okeios._internal.protocol.hexcodec import from_hex, to_hex
from okeios._internal.protocol.ids import LogId
from okeios._internal.protocol.logfile import LOG_FORMAT
from okeios._internal.protocol.merkle import MerkleLog, leaf_hash
from okeios._internal.protocol.note import (
    NoteKeyBinding,
    log_origin,
    parse_checkpoint,
    parse_note,
    verify_note,
)
from okeios._internal.protocol.signing import checksum_address
from okeios._internal.protocol.tiles import (
    CHECKPOINT_PATH,
    HEADER_PATH,
    SIGNED_CHECKPOINT_PATH,
    TILE_WIDTH,
    TILES_FORMAT,
    TileRef,
    decode_entry_bundle,
    events_path,
    split_hashes,
    subtree_root,
    tiles_for_size,
)
from okeios._internal.verify.audit import (
    DEFAULT_TOLERANCE,
    AnchorSource,
    AuditReport,
    Finding,
    audit_log,
)
from okeios._internal.verify.report import Reason
from okeios._internal.verify.witness import WitnessPolicy, check_witnessed
from okeios.errors import InputError, NoteError, OkeiosError, TileError, TileUnavailableError

__all__ = ["TileFetcher", "audit_tiles"]

MAX_FILE = 1 << 24
DOWNLOAD_DEADLINE = 120.0  # seconds for one whole file, however slowly it arrives
RUN_DEADLINE = 1800.0  # seconds for every download of one audit run
_CHUNK = 1 << 16
_STATE = "audit-state.json"
_STATE_VERSION = 2  # per log id bytes (version 1 kept one log, compared as a string)
HEADER_VERSION = 2
_FORK_KINDS = frozenset(
    {
        Reason.INCONSISTENT_CHECKPOINT,
        Reason.STALE_CHECKPOINT,
        Reason.CHECKPOINT_MISMATCH,
        Reason.TILE_MISMATCH,
        Reason.SECOND_NOTE_KEY,
    }
)


class TileFetcher:
    """Reads a tiled log from ``base`` (a folder, or an http(s) URL), caching immutable files
    under ``cache`` (optional).

    Three bounds hold for a remote log: ``timeout`` for each socket operation,
    ``download_deadline`` for each whole file, and ``run_deadline`` for every download of the
    fetcher's life (one audit run), counted from its first download. A server that answers
    and then drips a byte now and then meets the deadline: the file is unavailable
    (:class:`~okeios.errors.TileUnavailableError`, which an audit reports as
    ``log-unavailable``, undecided), never an audit that waits forever."""

    def __init__(
        self,
        base: str | Path,
        cache: str | Path | None = None,
        *,
        timeout: float = 30.0,
        download_deadline: float = DOWNLOAD_DEADLINE,
        run_deadline: float = RUN_DEADLINE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        text = str(base)
        self.remote = urllib.parse.urlsplit(text).scheme in ("http", "https")
        self.base = text.rstrip("/") + "/" if self.remote else Path(text)
        self.cache = Path(cache) if cache is not None else None
        self.timeout = timeout
        self.download_deadline = download_deadline
        self.run_deadline = run_deadline
        self._clock = clock
        self._run_ends: float | None = None
        self.fetched: list[str] = []

    def _download(self, rel: str, url: str) -> bytes:
        """The file at ``url``, within this download's and this run's deadlines."""
        now = self._clock()
        if self._run_ends is None:
            self._run_ends = now + self.run_deadline
        ends = min(now + self.download_deadline, self._run_ends)

        def left(slack: float = 0.0) -> float:
            remaining = ends - self._clock()
            if remaining <= slack:
                which = "run" if ends == self._run_ends else "download"
                limit = self.run_deadline if which == "run" else self.download_deadline
                raise TileUnavailableError(
                    f"cannot fetch {rel}: the {which} deadline ({limit:g} s) passed"
                )
            return remaining

        request = urllib.request.Request(url, headers={"Accept-Encoding": "identity"})  # noqa: S310
        timeout = min(self.timeout, left())
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            sock = getattr(getattr(resp.fp, "raw", None), "_sock", None)
            chunks: list[bytes] = []
            total = 0
            while total <= MAX_FILE:
                remaining = left()
                if sock is not None:
                    sock.settimeout(min(self.timeout, remaining))
                try:
                    chunk = resp.read1(_CHUNK)
                except TimeoutError:
                    left(slack=0.05)  # the read was cut at the deadline: say so
                    raise
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            left()
            return b"".join(chunks)

    def _origin_read(self, rel: str) -> bytes:
        self.fetched.append(rel)
        if isinstance(self.base, Path):
            try:
                with open(self.base / rel, "rb") as fh:
                    data = fh.read(MAX_FILE + 1)
            except OSError as exc:
                raise TileError(f"cannot read {rel}: {exc.strerror}") from exc
        else:
            try:
                data = self._download(rel, self.base + rel)
            except TileUnavailableError:
                raise
            except urllib.error.HTTPError as exc:
                if exc.code in (404, 410):
                    raise TileError(f"{rel} is not served (HTTP {exc.code})") from exc
                raise TileUnavailableError(f"cannot fetch {rel}: HTTP {exc.code}") from exc
            except (urllib.error.URLError, OSError) as exc:
                raise TileUnavailableError(f"cannot fetch {rel}: {exc}") from exc
        if len(data) > MAX_FILE:
            raise TileError(f"{rel} is larger than {MAX_FILE} bytes")
        return data

    def get(self, rel: str, *, immutable: bool) -> bytes:
        """A file of the log; immutable ones come from the cache when it has them."""
        if not immutable or self.cache is None:
            return self._origin_read(rel)
        cached = self.cache / "files" / rel
        if cached.exists():
            return cached.read_bytes()
        data = self._origin_read(rel)
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cached, data)
        return data

    def forget(self, rel: str) -> None:
        """Drop a cached file that turned out wrong, so the next audit fetches it again."""
        if self.cache is not None:
            (self.cache / "files" / rel).unlink(missing_ok=True)

    def load_state(self) -> dict[bytes, dict[str, Any]]:
        """What this auditor saw of each log, keyed by log id bytes: ``size``, ``root``
        (bytes), ``publisher`` and ``vkey``. A state file that cannot be read is an error (it
        is the auditor's memory: losing it silently would forget a fork), never an empty one."""
        if self.cache is None or not (self.cache / _STATE).exists():
            return {}
        try:
            data = json.loads((self.cache / _STATE).read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise TileError("not a JSON object")
            if data.get("version") != _STATE_VERSION:  # version 1: one log, a bare hex root
                data = {
                    "logs": {data["logId"]: {"size": data["size"], "root": "0x" + data["root"]}}
                }
            out: dict[bytes, dict[str, Any]] = {}
            for hex_id, s in data["logs"].items():
                log_id = LogId.parse(hex_id, "a cached log id", error=TileError).raw
                root_text = s["root"]
                size = s["size"]
                if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                    raise TileError("a cached size is a non-negative integer")
                out[log_id] = {
                    "size": size,
                    "root": from_hex(root_text, "a cached root", size=32, error=TileError),
                    "publisher": s.get("publisher"),
                    "vkey": s.get("vkey"),
                }
            return out
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TileError(f"cannot read the audit state in {self.cache}: {exc}") from exc

    def save_state(self, state: dict[bytes, dict[str, Any]]) -> None:
        if self.cache is None:
            return
        logs = {
            to_hex(log_id): {
                "size": s["size"],
                "root": to_hex(s["root"]),
                "publisher": s.get("publisher"),
                "vkey": s.get("vkey"),
            }
            for log_id, s in state.items()
        }
        self.cache.mkdir(parents=True, exist_ok=True)
        write_atomic(
            self.cache / _STATE,
            json.dumps({"version": _STATE_VERSION, "logs": logs}).encode("utf-8"),
        )


def audit_tiles(
    fetcher: TileFetcher,
    *,
    publisher: str,
    chain: AnchorSource | None,
    chain_id: int | None = None,
    authors: Sequence[str] | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
    witnesses: WitnessPolicy | None = None,
    now: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> AuditReport:
    """Audit the tiled log ``fetcher`` reads; see the module docstring for the checks."""
    expected = checksum_address(publisher)
    try:
        raw_header = fetcher.get(HEADER_PATH, immutable=False)
    except TileUnavailableError:
        raise
    except TileError as exc:
        raise TileError(f"not a tiled okeios log: {exc}") from exc
    try:
        header = json.loads(raw_header)
        if header.get("format") != TILES_FORMAT or header.get("version") != HEADER_VERSION:
            raise TileError(
                f"okeios/log.json is not an okeios tiled log header version {HEADER_VERSION}"
            )
        log_text, origin = header["logId"], header["origin"]
        claimed = checksum_address(str(header["publisher"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TileError(f"bad okeios/log.json: {exc}") from exc
    try:
        log_id = LogId.parse(log_text, "okeios/log.json logId").raw
    except InputError as exc:
        report = AuditReport(expected, bytes(32))
        report.defects.append(Finding(Reason.NON_CANONICAL_ID, None, str(exc)))
        return report
    report = AuditReport(expected, log_id)
    defects: list[Finding] = []

    def fail(kind: Reason, detail: str, index: int | None = None) -> AuditReport:
        report.defects.append(Finding(kind, index, detail))
        return report

    if claimed != expected:
        return fail(Reason.FOREIGN_LOG, f"the tiled log is {claimed}'s, not {expected}'s")
    if origin != log_origin(log_id):
        return fail(
            Reason.SECOND_ORIGIN,
            f"the log is served under origin {str(origin)[:80]!r}; its one origin is "
            f"{log_origin(log_id)}",
        )
    try:
        binding = NoteKeyBinding.from_dict(header["noteKey"])
        note_key = binding.verify(expected)
    except (NoteError, KeyError) as exc:
        return fail(Reason.BAD_NOTE_KEY, str(exc))
    if binding.log_id != log_id:
        return fail(Reason.BAD_NOTE_KEY, "the note key is bound to another log")
    states = fetcher.load_state()
    seen = states.get(log_id)
    if (
        seen is not None
        and seen.get("publisher") == expected
        and seen.get("vkey") not in (None, binding.vkey)
    ):
        defects.append(
            Finding(
                Reason.SECOND_NOTE_KEY,
                None,
                f"{expected} bound note key {binding.vkey} to this log, after {seen['vkey']} "
                "seen before: one log, two note keys",
            )
        )
    try:
        note = parse_note(fetcher.get(CHECKPOINT_PATH, immutable=False))
        verify_note(note, [note_key])
        checkpoint = parse_checkpoint(note.text)
    except TileUnavailableError as exc:
        return fail(Reason.LOG_UNAVAILABLE, str(exc))
    except NoteError as exc:
        return fail(Reason.BAD_CHECKPOINT_NOTE, str(exc))
    if checkpoint.origin != origin:
        return fail(Reason.SECOND_ORIGIN, f"the checkpoint is of {checkpoint.origin}, not {origin}")
    if witnesses is not None:
        witnessed = check_witnessed(note, note_key, witnesses, now=now)
        if witnessed.reason is not None:
            defects.append(Finding(witnessed.reason, None, witnessed.detail))
    size = checkpoint.tree_size

    # The tree, tile by tile. Leaf hashes come from the entries themselves; the tiles must agree.
    leaves: list[bytes] = []
    lines: list[str] = [
        json.dumps(
            {"format": LOG_FORMAT, "version": 1, "publisher": claimed, "logId": to_hex(log_id)}
        )
    ]
    levels: dict[int, list[bytes]] = {}
    for ref in tiles_for_size(size):
        try:
            data = fetcher.get(ref.path(), immutable=True)
            if ref.level == 0:
                bundle = fetcher.get(ref.entries().path(), immutable=True)
                events = fetcher.get(events_path(ref.entries()), immutable=True)
        except TileUnavailableError as exc:
            return fail(Reason.LOG_UNAVAILABLE, str(exc))
        except TileError as exc:
            report.defects.extend(defects)
            return fail(Reason.TILE_MISSING, f"{exc}: the checkpoint of size {size} needs it")
        assert ref.level is not None
        try:
            hashes = split_hashes(data, ref.width)
        except TileError as exc:
            fetcher.forget(ref.path())
            defects.append(Finding(Reason.TILE_MISMATCH, ref.start(), f"{ref.path()}: {exc}"))
            hashes = [b""] * ref.width
        levels.setdefault(ref.level, []).extend(hashes)
        if ref.level == 0:
            _read_entries(fetcher, ref, (bundle, events), hashes, leaves, lines, defects)
            if progress is not None:
                progress(ref.width)
    # Every hash at level L + 1 is the root of the full tile below it.
    for level, hashes in sorted(levels.items()):
        below = levels.get(level - 1) if level else None
        if below is None:
            continue
        for k, h in enumerate(hashes):
            chunk = below[k * TILE_WIDTH : (k + 1) * TILE_WIDTH]
            if len(chunk) == TILE_WIDTH and all(chunk) and h != subtree_root(chunk):
                ref = TileRef(level, k // TILE_WIDTH)
                defects.append(
                    Finding(
                        Reason.TILE_MISMATCH, None, f"hash {k} of level {level} is not its subtree"
                    )
                )
                fetcher.forget(ref.path())
    tree = MerkleLog.from_leaf_hashes(leaves)
    if tree.root() != checkpoint.root:
        defects.append(
            Finding(
                Reason.CHECKPOINT_MISMATCH,
                None,
                f"the entries' root at size {size} is not the signed checkpoint's",
            )
        )
    if seen is not None:
        old_size, old_root = seen["size"], seen["root"]
        if old_size > size:
            defects.append(
                Finding(
                    Reason.STALE_CHECKPOINT,
                    None,
                    f"the log now shows size {size}, below the size {old_size} seen before: a "
                    "stale copy, or a rollback to hide later entries",
                )
            )
        elif tree.root(old_size) != old_root:
            defects.append(
                Finding(
                    Reason.INCONSISTENT_CHECKPOINT,
                    None,
                    f"the checkpoint of size {old_size} seen before is not a prefix of this log "
                    f"(size {size}): the publisher rewrote or forked its history",
                )
            )
    try:
        signed = json.loads(fetcher.get(SIGNED_CHECKPOINT_PATH, immutable=False))
        lines.append(json.dumps({"checkpoint": signed}))
    except TileUnavailableError as exc:
        return fail(Reason.LOG_UNAVAILABLE, str(exc))
    except (TileError, ValueError):
        defects.append(Finding(Reason.BAD_CHECKPOINT, None, "okeios/checkpoint.json is missing"))
    inner = audit_log(
        lines,
        publisher=expected,
        chain=chain,
        chain_id=chain_id,
        authors=authors,
        tolerance=tolerance,
    )
    inner.defects.extend(defects)
    inner.defects.sort(key=lambda d: (d.index is None, d.index or 0))
    # The auditor's memory only grows: never a smaller tree, never one that failed to extend it.
    if not any(d.kind in _FORK_KINDS for d in inner.defects) and (
        seen is None or size >= seen["size"]
    ):
        states[log_id] = {
            "size": size,
            "root": checkpoint.root,
            "publisher": expected,
            "vkey": binding.vkey,
        }
        fetcher.save_state(states)
    return inner


def _read_entries(
    fetcher: TileFetcher,
    ref: TileRef,
    files: tuple[bytes, bytes],
    hashes: list[bytes],
    leaves: list[bytes],
    lines: list[str],
    defects: list[Finding],
) -> None:
    bundle = ref.entries()
    start = ref.start()
    try:
        entries = decode_entry_bundle(files[0], ref.width)
        event_lines = files[1].decode("utf-8").splitlines()
        if len(event_lines) != ref.width:
            raise TileError(f"{events_path(bundle)} holds {len(event_lines)} events")
    except (TileError, UnicodeDecodeError) as exc:
        fetcher.forget(bundle.path())
        fetcher.forget(events_path(bundle))
        defects.append(Finding(Reason.TILE_MISMATCH, start, f"entries {start}+{ref.width}: {exc}"))
        leaves.extend(hashes)
        lines.extend(json.dumps({"index": start + i, "bad": True}) for i in range(ref.width))
        return
    for i, (entry, tile_hash, line) in enumerate(zip(entries, hashes, event_lines, strict=True)):
        index = start + i
        leaves.append(leaf_hash(entry))
        problem = None
        if leaf_hash(entry) != tile_hash:
            problem = "the entry does not hash to its tile hash"
        else:
            try:
                item = json.loads(line)
                event = event_from_message(item["event"])
                sig = from_hex(item["signature"], "the event's signature", size=65)
                if event.id + sig != entry:
                    problem = "the okeios event is not the entry of the entry bundle"
            except (ValueError, KeyError, TypeError, AttributeError, OkeiosError) as exc:
                problem = f"malformed okeios event: {exc}"
        if problem is not None:
            defects.append(Finding(Reason.TILE_MISMATCH, index, problem))
            fetcher.forget(bundle.path())
            fetcher.forget(events_path(bundle))
        lines.append(line)
