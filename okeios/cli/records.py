"""The record verbs of the ``okeios`` command line: ``add`` (by FHIR identity), ``records``,
``show``, ``amend``, ``derive`` and ``check``.

Each opens the store for one operation; any number of them may run at once on one home, beside
long-running services holding the same store open.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from okeios.errors import InputError

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
    from okeios.publish.store import Store, resolve_home

    return Store.open(resolve_home(args.home))


def _one_resource(path: str) -> Any:
    from okeios.fhir import fhir_resources

    resources = fhir_resources(_read(path))
    if len(resources) != 1:
        raise InputError(f"{path} holds {len(resources)} resources; give exactly one")
    return resources[0]


def cmd_add(
    args: argparse.Namespace, meter: Callable[[int], Callable[[int], None]] | None = None
) -> int:
    """``okeios add``: log resources by identity (created, amended, unchanged, stale); with
    ``--new`` every resource becomes a new record. ``meter(total)`` makes a progress counter."""
    from okeios.fhir import fhir_resources

    records: list[Any] = []
    for name in args.files:
        records.extend(fhir_resources(_read(name)))
    progress = meter(len(records)) if meter is not None else None
    with _open(args) as store:
        return add_and_report(args, store, records, progress)


def add_and_report(
    args: argparse.Namespace,
    store: Any,
    records: list[Any],
    progress: Callable[[int], None] | None,
) -> int:
    """Add ``records`` to an open store by identity (or each as new with ``--new``) and print
    one line per resource: its record id, what was done, and the resource it is."""
    keys = None
    if getattr(args, "key", None):
        if len(records) != 1:
            raise InputError("--key names one resource: give one file with one resource")
        keys = [args.key]
    results = (
        store.add(records, progress=progress)
        if getattr(args, "new", False)
        else store.put(records, keys=keys, progress=progress)
    )
    if getattr(args, "new", False):
        rows = [
            {"status": "created", "record": "0x" + r.record_id.hex(), "event": "0x" + r.id.hex()}
            for r in results
        ]
    else:
        rows = [r.to_dict() for r in results]
    if args.json:
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        print(json.dumps({"records": [r["record"] for r in rows], "results": rows, **counts}))
    else:
        for row in rows:
            name = f"  {row['resource']}" if row.get("resource") else ""
            print(f"{row['record']}  {row['status']}{name}")
    return EXIT_OK


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


def _cmd_records(args: argparse.Namespace) -> int:
    with _open(args) as store:
        rows = store.records(
            resource_type=args.type,
            resource_id=args.id,
            kind=args.last,
            since=_time(args.since),
            until=_time(args.until),
            erased=True if args.erased else (False if args.live else None),
            limit=args.limit,
        )
    if args.json:
        print(json.dumps({"count": len(rows), "records": [r.to_dict() for r in rows]}))
        return EXIT_OK
    for r in rows:
        when = datetime.fromtimestamp(r.last_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        name = f"{r.resource_type}/{r.resource_id}" if r.resource_type else (r.resource_id or "-")
        gone = "  erased" if r.erased else ""
        print(
            f"0x{r.record_id.hex()}  {name:<40} v{r.version:<3} {r.events:>4} events  "
            f"{r.last_kind:<7} {when}{gone}"
        )
    print(f"{len(rows)} record(s)", file=sys.stderr)
    return EXIT_OK


def _cmd_show(args: argparse.Namespace) -> int:
    with _open(args) as store:
        content, info = store.show(args.record_id, args.version)
    if args.json:
        print(json.dumps({**info, "content": content}))
    else:
        print(
            f"# {info['record']} {info['resource'] or ''} version {info['version']} of "
            f"{info['versions']}, last event {info['lastEvent']}",
            file=sys.stderr,
        )
        print(json.dumps(content, indent=2, ensure_ascii=False))
    return EXIT_OK


def _cmd_amend(args: argparse.Namespace) -> int:
    resource = _one_resource(args.file)
    with _open(args) as store:
        logged = store.amend(args.record_id, resource)
    e = logged.signed.event
    payload = {
        "record": "0x" + e.record_id.hex(),
        "version": e.version,
        "event": "0x" + logged.id.hex(),
    }
    if args.json:
        print(json.dumps(payload))
    else:
        print(f"{payload['record']}  amended to version {e.version} (event {payload['event']})")
    return EXIT_OK


def _cmd_derive(args: argparse.Namespace) -> int:
    resource = _one_resource(args.file)
    with _open(args) as store:
        logged = store.derive(resource, args.sources)
    payload = {
        "record": "0x" + logged.record_id.hex(),
        "event": "0x" + logged.id.hex(),
        "sources": ["0x" + s.hex() for s in logged.signed.event.sources],
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
            print(f"  {p}")
        print(f"store check: {'FAIL' if problems else 'PASS'} ({size} entries)")
    return EXIT_FAILED if problems else EXIT_OK


def register(command: Command) -> None:
    """Add the record verbs to the parser (``command`` makes one subcommand)."""
    p = command("records", "list the records a store holds, with filters", _cmd_records)
    p.add_argument("--type", metavar="TYPE", help="only this FHIR resourceType")
    p.add_argument("--id", metavar="ID", help="only the resource TYPE/ID (with --type)")
    p.add_argument(
        "--last",
        metavar="KIND",
        choices=("create", "derive", "amend", "grant", "revoke", "access", "erase"),
        help="only records whose last event is of this kind",
    )
    p.add_argument("--since", metavar="TIME", help="last event at or after (Unix or ISO 8601)")
    p.add_argument("--until", metavar="TIME", help="last event at or before (Unix or ISO 8601)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--erased", action="store_true", help="only erased records")
    group.add_argument("--live", action="store_true", help="only records not erased")
    p.add_argument("--limit", type=int, metavar="N", help="at most N records")

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
