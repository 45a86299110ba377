"""The ``okeios`` command line.

Exit codes: 0 every verdict passed, 1 a verdict failed, 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .canonical import canonical_bytes
from .errors import OkeiosError
from .verify import ANYONE, TrustPolicy, verify_bundle

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A usage problem found after argument parsing."""


def _read(path: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    if args.json:
        print(json.dumps(payload, indent=2))
    else:
        print(text)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="okeios-demo-"))
    echo = (lambda _line: None) if args.json else print
    result = run_demo(out, count=args.count, echo=echo)
    if args.json:
        print(json.dumps(result, indent=2))
    return EXIT_OK if result["ok"] else EXIT_FAILED


def _policy(args: argparse.Namespace) -> TrustPolicy:
    if not args.author and not args.any_author:
        raise UsageError("say whom to trust: --author ADDRESS (repeatable) or --any-author")
    if not args.publisher and not args.any_publisher:
        raise UsageError("say whom to trust: --publisher ADDRESS (repeatable) or --any-publisher")
    return TrustPolicy(
        authors=ANYONE if args.any_author else args.author,
        publishers=ANYONE if args.any_publisher else args.publisher,
    )


def _cmd_verify(args: argparse.Namespace) -> int:
    policy = _policy(args)
    data = _read(args.bundle)
    record = _read(args.record) if args.record else None
    report = verify_bundle(data, policy, record=record)
    lines = [f"{args.bundle}: {'PASS' if report.passed else 'FAIL'}"]
    for v in report.verdicts:
        reason = f" [{v.reason}]" if v.reason else ""
        lines.append(f"  {v.property:<13} {v.status}{reason} {v.detail}")
    for path, value in report.disclosed if args.show_fields else ():
        lines.append(f"  field {path} = {value}")
    _emit(args, report.to_dict(), "\n".join(lines))
    return EXIT_OK if report.passed else EXIT_FAILED


def _cmd_canonical(args: argparse.Namespace) -> int:
    from hashlib import sha256

    out = canonical_bytes(_read(args.file))
    if args.json:
        print(json.dumps({"sha256": sha256(out).hexdigest(), "canonical": out.decode()}))
    else:
        sys.stdout.buffer.write(out + b"\n")
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="okeios",
        description="Client-side provenance for personal health records.",
        epilog="Exit codes: 0 all verdicts pass, 1 a verdict failed, 2 bad input or usage.",
    )
    parser.add_argument("--version", action="version", version=f"okeios {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--json", action="store_true", help="print one JSON object")
        return p

    demo = common(sub.add_parser("demo", help="run the end-to-end demonstration"))
    demo.add_argument("--out", metavar="DIR", help="where to write records and bundles")
    demo.add_argument("--count", type=int, default=8, help="number of records (default 8)")
    demo.set_defaults(func=_cmd_demo)

    verify = common(sub.add_parser("verify", help="verify a proof bundle offline"))
    verify.add_argument(
        "bundle", metavar="BUNDLE", help="bundle file (binary or JSON), - for stdin"
    )
    verify.add_argument("--record", metavar="FILE", help="the record the bundle is about")
    verify.add_argument(
        "--author",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="a trusted author address (repeatable)",
    )
    verify.add_argument(
        "--publisher",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="a trusted publisher address (repeatable)",
    )
    verify.add_argument("--any-author", action="store_true", help="trust any author")
    verify.add_argument("--any-publisher", action="store_true", help="trust any publisher")
    verify.add_argument("--show-fields", action="store_true", help="print disclosed fields")
    verify.set_defaults(func=_cmd_verify)

    canon = common(sub.add_parser("canonical", help="print a JSON file's canonical bytes"))
    canon.add_argument("file", metavar="FILE", help="JSON file, - for stdin")
    canon.set_defaults(func=_cmd_canonical)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except UsageError as exc:
        parser.error(str(exc))  # exits with status 2
    except OkeiosError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"result": "error", "error": type(exc).__name__, "message": str(exc)}))
        else:
            print(f"okeios: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE  # pragma: no cover - parser.error does not return
