"""The record verbs of the ``okeios`` command line: ``add`` (by FHIR identity), ``records``,
``show``, ``amend``, ``derive`` and ``check``.

Each opens the store for one operation; any number of them may run at once on one home, beside
long-running services holding the same store open.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from okeios._internal.cli import options as o
from okeios._internal.protocol.canonical import dumps_exact
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.ids import parse_ref
from okeios._internal.protocol.kinds import KINDS, RECORD_KINDS
from okeios.errors import InputError, OkeiosError

if TYPE_CHECKING:
    from okeios._internal.publish.identity import RecordFilter

__all__ = ["register"]

EXIT_OK = 0
EXIT_FAILED = 1

Command = Callable[[str, str, Callable[[argparse.Namespace], int]], argparse.ArgumentParser]


def _read(path: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc


def _open(args: argparse.Namespace) -> Any:
    from okeios._internal.publish.store import Store, resolve_home

    return Store.open(resolve_home(args.home))


def _one_resource(path: str) -> Any:
    from okeios._internal.protocol.fhir import fhir_resources

    resources = fhir_resources(_read(path))
    if len(resources) != 1:
        raise InputError(f"{path} holds {len(resources)} resources; give exactly one")
    return resources[0]


CHUNK = 500  # resources per transaction of ``okeios add``: memory and a crash's loss bound
STATUSES = ("created", "amended", "unchanged", "stale")


def add_files(args: argparse.Namespace) -> int:
    """``okeios add``: log the resources of ``args.files`` by identity (created, amended,
    unchanged, stale), or each as a new record with ``--new``.

    Files are streamed (:func:`okeios._internal.protocol.fhir.stream_resources`): FHIR NDJSON line
    by line, a resource or a Bundle whole (within the input size limit), and put in chunks of
    :data:`CHUNK` resources, one transaction each, so memory stays flat whatever the file's
    length. A failure (a bad line, named by its number) stops the command; the chunks before
    it are kept, and running the same input again is safe: they are then ``unchanged``.
    Prints one line per resource (its record id, what was done, the resource), then a summary
    on stderr; with ``--json`` one object at the end (``records``, ``results`` and the counts,
    spooled to a temporary file while the work runs, not held in memory).
    """
    from contextlib import ExitStack

    from okeios._internal.cli import options as o
    from okeios._internal.protocol.fhir import stream_resources

    keyed = bool(getattr(args, "key", None))
    with ExitStack() as stack:
        streams = []
        for name in args.files:  # every file opened before anything is logged
            try:
                fh = sys.stdin.buffer if name == "-" else stack.enter_context(open(name, "rb"))
            except OSError as exc:
                raise InputError(f"cannot read {name}: {exc.strerror}") from exc
            streams.append((name, fh))
        items: Iterator[tuple[str, Any]] = (
            (where, _checked(where, resource, keyed=keyed))
            for name, fh in streams
            for where, resource in stream_resources(fh, limit=o.MAX_INPUT, name=name)
        )
        if keyed:
            found = list(itertools.islice(items, 2))
            if len(found) != 1:
                raise InputError("--key names one resource: give one file with one resource")
            items = iter(found)
        author = None
        if getattr(args, "author_key", None):
            from okeios._internal.cli.identity import load_author_key

            author = load_author_key(args.author_key)  # opened before anything is logged
        report = _AddReport(args.json, progress=getattr(args, "progress", False))
        with o.open_store(args) as store:
            try:
                size = getattr(args, "chunk", CHUNK)
                if not isinstance(size, int) or size < 1:
                    raise InputError("--chunk must be a positive number of resources")
                for chunk in iter(lambda: list(itertools.islice(items, size)), []):
                    for row in _add_chunk(args, store, chunk, author):
                        report.row(row)
            except OkeiosError:
                report.interrupted()
                raise
        report.finish()
    return EXIT_OK


def _checked(where: str, resource: Any, *, keyed: bool) -> Any:
    """Refuse what is not a FHIR resource (unless ``--key`` names one JSON record); warn on a
    resource without an id."""
    from okeios._internal.cli import options as o

    if keyed:
        return resource
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise InputError(
            f"{where}: not a FHIR resource (okeios accepts FHIR R4 JSON resources, Bundles and "
            "NDJSON: objects with a resourceType)"
        )
    if not isinstance(resource.get("id"), str):
        o.log.warning("%s: the %s has no id", o.safe(where), o.safe(resource["resourceType"]))
    return resource


def _add_chunk(
    args: argparse.Namespace, store: Any, chunk: list[tuple[str, Any]], author: Any = None
) -> list[dict[str, Any]]:
    """Add one chunk in one transaction; the rows to report."""
    names = [where for where, _ in chunk]
    values = [value for _, value in chunk]
    if getattr(args, "new", False):
        try:
            logged = store.add(values, author=author)
        except InputError as exc:
            span = names[0] if len(names) == 1 else f"{names[0]} to {names[-1]}"
            raise type(exc)(f"{span}: {exc}") from exc
        return [
            {"status": "created", "record": to_hex(r.record_id), "event": to_hex(r.id)}
            for r in logged
        ]
    keys = [args.key] if getattr(args, "key", None) else None
    return [r.to_dict() for r in store.put(values, keys=keys, names=names, author=author)]


class _AddReport:
    """What ``okeios add`` prints: a line per resource as each chunk is committed (JSON: spooled
    and printed at the end), progress on stderr, the counts at the end."""

    PROGRESS_EVERY = 2.0  # seconds between progress lines

    def __init__(self, as_json: bool, *, progress: bool) -> None:
        import tempfile
        import time

        self.as_json = as_json
        self.counts = dict.fromkeys(STATUSES, 0)
        self.total = 0
        self._clock = time.monotonic
        self._start = time.monotonic()
        self._last = float("-inf")  # the first resource gets a progress line, then every 2 s
        self._progress = progress or sys.stderr.isatty()
        self._ids: Any = None
        self._rows: Any = None
        if as_json:
            self._ids = tempfile.SpooledTemporaryFile(max_size=4 << 20, mode="w+")  # noqa: SIM115
            self._rows = tempfile.SpooledTemporaryFile(max_size=4 << 20, mode="w+")  # noqa: SIM115

    def row(self, row: dict[str, Any]) -> None:
        self.counts[row["status"]] += 1
        if self.as_json:
            sep = "," if self.total else ""
            self._ids.write(sep + json.dumps(row["record"]))
            self._rows.write(sep + json.dumps(row))
        else:
            name = f"  {o.safe(row['resource'])}" if row.get("resource") else ""
            print(f"{row['record']}  {row['status']}{name}")
        self.total += 1
        now = self._clock()
        if self._progress and now - self._last >= self.PROGRESS_EVERY:
            self._last = now
            rate = self.total / max(now - self._start, 1e-6)
            self._note(f"adding: {self.summary()} ({rate:.0f}/s)")

    def summary(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in self.counts.items())
        return f"{self.total} resource(s): {counts}"

    def _note(self, text: str) -> None:
        from okeios._internal.cli import options as o

        sys.stdout.flush()
        o.note(f"okeios add: {text}")

    def interrupted(self) -> None:
        if self.total:
            self._note(
                f"stopped after {self.summary()}; those are kept, and adding the same input "
                "again is safe (they are then unchanged)"
            )

    def finish(self) -> None:
        if not self.as_json:
            self._note(self.summary())
            return
        out = sys.stdout
        out.write('{"records": [')
        for part, key in ((self._ids, None), (self._rows, "results")):
            if key is not None:
                out.write('], "' + key + '": [')
            part.seek(0)
            while block := part.read(1 << 16):
                out.write(block)
            part.close()
        out.write("], " + json.dumps(self.counts)[1:] + "\n")


def _time(value: str | None) -> int | None:
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{value!r} is neither a Unix time nor an ISO 8601 date") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


DEFAULT_LIMIT = 100  # records per page of `okeios records`
PAGE = 1000  # records per query of `okeios records --all`
MORE_COUNTED = 10_000  # "N more" counts at most this many records past the page


def _cmd_records(args: argparse.Namespace) -> int:
    from okeios._internal.publish.identity import RecordFilter

    match = RecordFilter(
        resource_type=args.type,
        resource_id=args.id,
        kind=args.last,
        since=_time(args.since),
        until=_time(args.until),
        erased=True if args.erased else (False if args.live else None),
    )
    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be at least 1")
    if args.after is not None and args.after < 0:
        raise InputError("--after is a cursor printed by an earlier listing (0 or more)")
    with _open(args) as store:
        if args.count:
            n = store.identities.count(store.db, match, after=args.after)
            print(json.dumps({"count": n}) if args.json else n)
            return EXIT_OK
        if args.all:
            return _records_all(args, store, match)
        limit = args.limit if args.limit is not None else DEFAULT_LIMIT
        rows = store.records(match, limit=limit + 1, after=args.after)
        more, rows = rows[limit:], rows[:limit]
        cursor = rows[-1].index if more else None
        left = 0
        if more and not args.json:
            left = store.identities.count(store.db, match, after=cursor, at_most=MORE_COUNTED + 1)
    if args.json:
        print(
            json.dumps({"count": len(rows), "records": [r.to_dict() for r in rows], "next": cursor})
        )
        return EXIT_OK
    for r in rows:
        _print_record(r)
    if cursor is None:
        print(f"{len(rows)} record(s)", file=sys.stderr)
    else:
        n = f"{MORE_COUNTED}+" if left > MORE_COUNTED else str(left)
        print(
            f"{len(rows)} record(s); {n} more: use --after {cursor} for the next page "
            "(or --limit N, --all, --count)",
            file=sys.stderr,
        )
    return EXIT_OK


def _records_all(args: argparse.Namespace, store: Any, match: RecordFilter) -> int:
    """Every matching record, a page at a time (memory stays that of one page)."""
    after, total = args.after, 0
    if args.json:
        sys.stdout.write('{"records": [')
    while True:
        rows = store.records(match, limit=PAGE, after=after)
        for r in rows:
            if args.json:
                sys.stdout.write(("," if total else "") + json.dumps(r.to_dict()))
            else:
                _print_record(r)
            total += 1
        if len(rows) < PAGE:
            break
        after = rows[-1].index
    if args.json:
        sys.stdout.write(f'], "count": {total}, "next": null}}\n')
    else:
        print(f"{total} record(s)", file=sys.stderr)
    return EXIT_OK


def _print_record(r: Any) -> None:
    when = datetime.fromtimestamp(r.last_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    name = o.safe(
        f"{r.resource_type}/{r.resource_id}" if r.resource_type else (r.resource_id or "-")
    )
    gone = "  erased" if r.erased else ""
    print(
        f"{to_hex(r.record_id)}  {name:<40} v{r.version:<3} {r.events:>4} events  "
        f"{r.last_kind:<7} {when}{gone}"
    )


def _cmd_show(args: argparse.Namespace) -> int:
    ref = parse_ref(args.record_id)
    with _open(args) as store:
        content, info = store.show(ref, args.version)
    if args.json:
        print(dumps_exact({**info, "content": content}))
    else:
        print(
            f"# {info['record']} {o.safe(info['resource'] or '')} version {info['version']} of "
            f"{info['versions']}, last event {info['lastEvent']}",
            file=sys.stderr,
        )
        print(o.safe_lines(dumps_exact(content, indent=2, ensure_ascii=False)))
    return EXIT_OK


def _cmd_amend(args: argparse.Namespace) -> int:
    ref = parse_ref(args.record_id)
    resource = _one_resource(args.file)
    with _open(args) as store:
        logged = store.amend(ref, resource)
    e = logged.signed.event
    payload = {
        "record": to_hex(e.record_id),
        "version": e.version,
        "event": to_hex(logged.id),
    }
    if args.json:
        print(json.dumps(payload))
    else:
        print(f"{payload['record']}  amended to version {e.version} (event {payload['event']})")
    return EXIT_OK


def _cmd_derive(args: argparse.Namespace) -> int:
    sources = [parse_ref(s, "a source (--from)") for s in args.sources]
    resource = _one_resource(args.file)
    with _open(args) as store:
        logged = store.derive(resource, sources)
    payload = {
        "record": to_hex(logged.record_id),
        "event": to_hex(logged.id),
        "sources": [to_hex(s) for s in logged.signed.event.sources],
    }
    if args.json:
        print(json.dumps(payload))
    else:
        print(f"{payload['record']}  derived from {len(args.sources)} record(s)")
    return EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    with _open(args) as store:
        size = store.size
        problems = store.check()
    if args.json:
        result = "fail" if problems else "pass"
        print(json.dumps({"result": result, "size": size, "problems": problems}))
    else:
        for p in problems:
            print(f"  {o.safe(p)}")
        print(f"store check: {'FAIL' if problems else 'PASS'} ({size} entries)")
    return EXIT_FAILED if problems else EXIT_OK


def register(command: Command) -> None:
    """Add the record verbs to the parser (``command`` makes one subcommand)."""
    p = command(
        "records",
        "list the records a store holds, with filters, a page at a time (in the order they "
        "were first logged)",
        _cmd_records,
    )
    p.add_argument("--type", metavar="TYPE", help="only this FHIR resourceType")
    p.add_argument("--id", metavar="ID", help="only the resource TYPE/ID (with --type)")
    p.add_argument(
        "--last",
        metavar="KIND",
        choices=[str(k) for k in KINDS if k in RECORD_KINDS],
        help="only records whose last event is of this kind",
    )
    p.add_argument("--since", metavar="TIME", help="last event at or after (Unix or ISO 8601)")
    p.add_argument("--until", metavar="TIME", help="last event at or before (Unix or ISO 8601)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--erased", action="store_true", help="only erased records")
    group.add_argument("--live", action="store_true", help="only records not erased")
    p.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help=f"at most N records per page (default {DEFAULT_LIMIT}); when more match, says how "
        "many and the --after cursor of the next page",
    )
    p.add_argument(
        "--after",
        type=int,
        metavar="CURSOR",
        help="the page after this cursor (printed by the previous page; JSON: next)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--all", action="store_true", help="every matching record, page by page")
    mode.add_argument("--count", action="store_true", help="print only how many records match")

    p = command("show", "print a record's content (the owner's view; decrypts it)", _cmd_show)
    p.add_argument("record_id", metavar="RECORD", help="record or event id (0x-hex) or Type/id")
    p.add_argument("--version", type=int, metavar="N", help="this version (default: the latest)")

    p = command("amend", "log a new version of a record (AMEND)", _cmd_amend)
    p.add_argument("record_id", metavar="RECORD", help="record id (0x-hex) or Type/id")
    p.add_argument("file", metavar="FILE", help="the new version (one resource), - for stdin")

    p = command("derive", "log a record derived from others (DERIVE)", _cmd_derive)
    p.add_argument("file", metavar="FILE", help="the derived resource, - for stdin")
    p.add_argument(
        "--from",
        dest="sources",
        action="append",
        required=True,
        metavar="RECORD",
        help="a source record or event id, or Type/id (repeatable)",
    )

    p = command(
        "check",
        "read the whole store and check its integrity (tree, events, checkpoints, journal)",
        _cmd_check,
    )
