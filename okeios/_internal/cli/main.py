"""The ``okeios`` command line: the parser, the global options and the one error handler.

Verbs live in their own modules (:mod:`okeios._internal.cli.store_verbs`,
:mod:`okeios._internal.cli.chain_verbs`,
:mod:`okeios._internal.cli.verify_verbs`, and the small ones below); each has a ``register(sub)``
that adds its sub-commands with :func:`okeios._internal.cli.options.command`. To add a verb, write
such a module and list it in :data:`VERB_MODULES`.

Exit codes (the same for every verb): 0 every required verdict passed (or the command did its
job), 1 a verdict failed, 2 could not decide: bad input, usage, an unreachable chain, or a
required property that was not checked. 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from okeios import __version__
from okeios._internal.cli import options as o
from okeios._internal.cli.options import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError
from okeios.errors import ChainError, OkeiosError

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "VERB_MODULES", "main"]

#: The modules that add verbs, in the order of ``okeios --help``.
VERB_MODULES = (
    "okeios._internal.cli.store_verbs",
    "okeios._internal.cli.chain_verbs",
    "okeios._internal.cli.verify_verbs",
)
#: Modules whose ``register(command)`` takes the ``command(name, help, func)`` helper.
COMMAND_MODULES = (
    "okeios._internal.cli.records",
    "okeios._internal.cli.interop",
    "okeios._internal.cli.witness",
    "okeios._internal.cli.identity",
    "okeios._internal.cli.inspect_verb",
)


def _cmd_demo(args: argparse.Namespace) -> int:
    from okeios._internal.cli.demo import run_demo

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="okeios-demo-"))
    echo: Callable[[str], None] = (lambda _line: None) if args.json else print
    result = run_demo(out, count=args.count, echo=echo)
    if args.json:
        o.print_json(result)
    return EXIT_OK if result["ok"] else EXIT_FAILED


def _cmd_canonical(args: argparse.Namespace) -> int:
    from hashlib import sha256

    from okeios._internal.protocol.canonical import canonical_bytes

    out = canonical_bytes(o.read_input(args.file, what="JSON file"))
    if args.json:
        print(json.dumps({"sha256": sha256(out).hexdigest(), "canonical": out.decode()}))
    else:
        sys.stdout.buffer.write(out + b"\n")
    return EXIT_OK


def _cmd_completion(args: argparse.Namespace) -> int:
    import shtab

    print(shtab.complete(_parser(), shell=args.shell))
    return EXIT_OK


def _register_misc(sub: Any) -> None:
    p = o.command(sub, "demo", "run the end-to-end demonstration on the embedded chain", _cmd_demo)
    p.add_argument("--out", metavar="DIR", help="where to write records and bundles")
    p.add_argument("--count", type=int, default=8, help="number of records (default 8)")

    p = o.command(sub, "canonical", "print a JSON file's okeios canonical bytes", _cmd_canonical)
    p.add_argument("file", metavar="FILE", help="JSON file, - for stdin")

    p = o.command(
        sub,
        "completion",
        "print a shell completion script (e.g. `okeios completion bash > "
        "/etc/bash_completion.d/okeios`)",
        _cmd_completion,
    )
    p.add_argument("shell", choices=("bash", "zsh", "tcsh"), help="the shell")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="okeios",
        description="Client-side provenance for personal health records.",
        epilog=o.EXIT_CODES_HELP
        + " The okeios home is --home (before or after the verb), else $OKEIOS_HOME, else "
        "~/.okeios. A passphrase-protected store reads $OKEIOS_PASSPHRASE, or asks on a "
        "terminal (no echo). Chain defaults (URL for anchor, confirmations, timeouts) come from "
        "okeios.toml in the home and $OKEIOS_CHAIN. `okeios inspect FILE` shows what a file "
        "claims, unverified.",
    )
    parser.add_argument("--version", action="version", version=f"okeios {__version__}")
    parser.add_argument(
        "--home", metavar="DIR", default=None, help="the okeios home (also after the verb)"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more to stderr (-vv for debug; -vvv also the libraries' own debug lines)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print less: no warnings, progress notes, or (verify) passing bundles",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in VERB_MODULES:
        importlib.import_module(name).register(sub)

    def command(
        name: str, help_: str, func: Callable[[argparse.Namespace], int]
    ) -> argparse.ArgumentParser:
        return o.command(sub, name, help_, func)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(command)
    _register_misc(sub)
    return parser


def _report_error(args: argparse.Namespace, exc: OkeiosError) -> None:
    if getattr(args, "json", False):
        print(json.dumps({"result": "undecided", "error": type(exc).__name__, "message": str(exc)}))
    elif isinstance(exc, ChainError):  # "chain error" says the kind: no class name again
        print(f"okeios: chain error: {o.safe(exc)}", file=sys.stderr)
    else:
        print(f"okeios: error: {type(exc).__name__}: {o.safe(exc)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    o.setup_logging(args)
    try:
        o.apply_settings(args)
        code: int = args.func(args)
        sys.stdout.flush()
        return code
    except UsageError as exc:
        parser.exit(EXIT_USAGE, f"okeios {args.command}: error: {o.safe(exc)}\n")
    except OkeiosError as exc:
        _report_error(args, exc)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: not an error of ours. Point stdout at devnull
        # so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print(
            "okeios: interrupted; the store and journal are consistent, run again to resume",
            file=sys.stderr,
        )
        return 130
    except RecursionError:
        print("okeios: error: the input nests too deeply", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE  # pragma: no cover - parser.exit does not return
