"""``okeios witness``: a minimal C2SP tlog-witness.

Its folder (``--dir``) holds ``witness.key`` (the Ed25519 cosignature key, private, in the
``PRIVATE+KEY+name+id+key`` text form) and ``state.json`` (per log id: the log's one note key
and the latest cosigned checkpoint).

* ``okeios witness init --dir D --name NAME``: create the key; prints the verifier key (vkey)
  that verifiers put in their policy (``okeios audit --witness VKEY``);
* ``okeios witness add-log --dir D --origin ORIGIN --vkey VKEY [--replace]``: trust a log's
  note key (the vkey ``okeios log --tiles`` prints); ``ORIGIN`` must be the log's one origin
  ``okeios/0x<log id>``, and a second key for a known log is refused unless ``--replace``;
* ``okeios witness add-checkpoint --dir D REQUEST``: answer one ``add-checkpoint`` request body
  from a file (``-`` for stdin): prints the cosignature line and exits 0, or prints the HTTP
  status and reason and exits 1;
* ``okeios witness serve --dir D [--host H] [--port P]``: serve ``POST /add-checkpoint``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from okeios.errors import InputError

if TYPE_CHECKING:
    from okeios._internal.verify.witness import Witness

__all__ = ["register"]

KEY_FILE = "witness.key"
STATE_FILE = "state.json"


def _open(args: argparse.Namespace) -> Witness:
    from okeios._internal.verify.witness import Witness, parse_witness_key

    folder = Path(args.dir)
    try:
        key = (folder / KEY_FILE).read_text(encoding="ascii")
    except OSError as exc:
        raise InputError(f"no witness in {folder}: run okeios witness init") from exc
    return Witness(parse_witness_key(key), folder / STATE_FILE)


def _print(args: argparse.Namespace, payload: dict[str, object], text: str) -> None:
    if args.json:
        import json

        print(json.dumps(payload, indent=2))
    else:
        print(text)


def _cmd(args: argparse.Namespace) -> int:
    from okeios._internal.verify.witness import serve_witness, witness_key_text

    action = args.witness_command
    if action == "init":
        folder = Path(args.dir)
        if (folder / KEY_FILE).exists():
            raise InputError(f"a witness exists already in {folder}")
        folder.mkdir(parents=True, exist_ok=True)
        from okeios._internal.files import write_atomic

        write_atomic(
            folder / KEY_FILE,
            witness_key_text(args.name, os.urandom(32)).encode(),
            private=True,
        )
        w = _open(args)
        _print(args, {"vkey": w.vkey()}, w.vkey())
        return 0
    w = _open(args)
    if action == "vkey":
        _print(args, {"vkey": w.vkey()}, w.vkey())
        return 0
    if action == "add-log":
        w.add_log(args.origin, args.vkey, replace=args.replace)
        _print(args, {"origin": args.origin, "key": args.vkey}, f"trusting {args.origin}")
        return 0
    if action == "add-checkpoint":
        path = args.request
        body = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        status, _, answer = w.add_checkpoint(body)
        text = answer.decode("utf-8", "replace")
        if status == 200:
            sys.stdout.write(text)
            return 0
        from okeios._internal.cli.options import safe

        print(f"okeios witness: {status}: {safe(text.strip())}", file=sys.stderr)
        return 1
    server = serve_witness(w, args.host, args.port)
    host, port = server.server_address[:2]
    print(f"witness {w.vkey()} listening on http://{host!s}:{port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def register(
    command: Callable[[str, str, Callable[[argparse.Namespace], int]], argparse.ArgumentParser],
) -> None:
    """Add the ``witness`` verb through the main parser's ``command`` helper."""
    p = command("witness", "run a minimal C2SP witness that checks consistency and cosigns", _cmd)
    sub = p.add_subparsers(dest="witness_command", required=True, metavar="ACTION")

    def action(name: str, help_: str) -> argparse.ArgumentParser:
        a = sub.add_parser(name, help=help_, description=help_)
        a.add_argument("--dir", required=True, metavar="DIR", help="the witness's folder")
        a.add_argument(
            "--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object"
        )
        from okeios._internal.cli import options as o

        o.home_option(a)
        o.verbosity_options(a)
        return a

    a = action("init", "create the witness key; prints its verifier key")
    a.add_argument("--name", required=True, help="the witness name, e.g. witness.example.org/w1")
    action("vkey", "print the witness's verifier key")
    a = action("add-log", "trust a log's note key for its origin")
    a.add_argument("--origin", required=True, help="the log's one origin, okeios/0x<log id>")
    a.add_argument("--vkey", required=True, help="the log's note vkey")
    a.add_argument(
        "--replace", action="store_true", help="replace the log's note key (after a rotation)"
    )
    a = action("add-checkpoint", "answer one add-checkpoint request body (exit 1 if refused)")
    a.add_argument("request", metavar="REQUEST", help="the request body file, - for stdin")
    a = action("serve", "serve POST /add-checkpoint over HTTP")
    a.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    a.add_argument("--port", type=int, default=0, help="default: any free port")
