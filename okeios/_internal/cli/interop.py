"""Command-line glue for the standard formats (``docs/interop.md``):

* ``okeios log --tiles DIR [--witness URL... --witness-key VKEY...]``: publish the log as C2SP
  tiles under its one origin, optionally gathering witness cosignatures on the checkpoint; every
  line a witness answers is verified under the given witness keys before it is published, and
  a dropped line makes the command exit 1;
* ``okeios audit --tiles DIR|URL --cache DIR [--witness VKEY --quorum K]``: audit a tiled log,
  fetching only the tiles the cache lacks;
* ``okeios sd-jwt export|verify``: a record's selective disclosure as an SD-JWT (RFC 9901).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from okeios._internal.files import write_atomic
from okeios._internal.protocol.hexcodec import to_hex
from okeios.errors import InputError

__all__ = [
    "add_audit_options",
    "add_log_options",
    "publish_tiles_cmd",
    "register",
    "tiles_audit",
    "tiles_text",
]

WITNESS_SIZES = "witness-sizes.json"


def add_log_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tiles", metavar="DIR", help="publish as C2SP tlog-tiles into this folder")
    p.add_argument(
        "--origin",
        help="the checkpoint origin: only okeios/0x<log id>, a log's one origin, is accepted",
    )
    p.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="URL",
        help="with --tiles: ask this witness to cosign the checkpoint (repeatable)",
    )
    p.add_argument(
        "--witness-key",
        action="append",
        default=[],
        metavar="VKEY",
        help="with --witness: a witness's cosignature key; only lines verified under one of "
        "these keys are published (repeatable)",
    )


def add_audit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tiles", metavar="DIR|URL", help="audit a tiled log (folder or http URL)")
    p.add_argument("--cache", metavar="DIR", help="with --tiles: keep fetched tiles here")
    p.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="VKEY",
        help="with --tiles: a trusted witness's verifier key (repeatable)",
    )
    p.add_argument("--quorum", type=int, metavar="K", help="with --witness: cosignatures required")
    p.add_argument(
        "--max-age",
        type=int,
        metavar="S",
        help="with --witness: count only cosignatures at most S seconds old",
    )


def publish_tiles_cmd(args: argparse.Namespace, store: Any) -> dict[str, Any]:
    """Publish the store's log as tiles (and gather cosignatures); returns a summary."""
    from okeios._internal.protocol.note import (
        CosignatureVerifier,
        log_origin,
        parse_note,
        parse_vkey,
    )
    from okeios._internal.protocol.tiles import CHECKPOINT_PATH
    from okeios._internal.publish.tiles import publish_tiles
    from okeios._internal.publish.witnessing import request_cosignatures

    if args.origin is not None and args.origin != log_origin(store.log_id):
        raise InputError(
            f"--origin: a log has one origin, {log_origin(store.log_id)}; publishing it under "
            "another would give witnesses and auditors a second history to keep"
        )
    keys: list[CosignatureVerifier] = []
    for text in args.witness_key:
        key = parse_vkey(text)
        if not isinstance(key, CosignatureVerifier):
            raise InputError(f"--witness-key {text[:40]!r} is not a cosignature/v1 key")
        keys.append(key)
    if args.witness and not keys:
        raise InputError("--witness needs --witness-key VKEY: every cosignature is checked")
    if keys and not args.witness:
        raise InputError("--witness-key needs --witness URL")
    published = publish_tiles(
        args.tiles,
        signer=store.signer,
        log_id=store.log_id,
        events=store.iter_events(),
        checkpoint=store.checkpoints.current(),
        origin=args.origin,
    )
    summary: dict[str, Any] = {
        "tiles": args.tiles,
        "treeSize": published.tree_size,
        "written": published.written,
        "kept": published.kept,
        "vkey": published.vkey,
    }
    if args.witness:
        sizes_path = Path(store.home) / WITNESS_SIZES
        sizes = json.loads(sizes_path.read_text()) if sizes_path.exists() else {}
        note = parse_note(published.note)
        outcome = request_cosignatures(
            note, store.publisher.log, args.witness, witness_keys=keys, known_sizes=sizes
        )
        note = note.with_signatures(outcome.cosignatures)
        write_atomic(Path(args.tiles) / CHECKPOINT_PATH, note.to_bytes())
        write_atomic(sizes_path, json.dumps(sizes).encode("ascii"))
        summary["cosignatures"] = len(outcome.cosignatures)
        summary["refused"] = outcome.refusals
        summary["dropped"] = {
            url: [{"reason": reason, "detail": detail} for reason, detail in lines]
            for url, lines in outcome.dropped.items()
        }
    return summary


def tiles_text(summary: dict[str, Any]) -> str:
    """The human-readable result of ``okeios log --tiles``."""
    lines = [
        f"{summary['treeSize']} entries published as tiles in {summary['tiles']} "
        f"({summary['written']} files written, {summary['kept']} kept)",
        f"note key: {summary['vkey']}",
    ]
    if "cosignatures" in summary:
        lines.append(f"{summary['cosignatures']} witness cosignature(s)")
        lines.extend(f"witness {url} refused: {why}" for url, why in summary["refused"].items())
        lines.extend(
            f"witness {url}: line dropped, not published ({d['reason']}): {d['detail']}"
            for url, dropped in summary["dropped"].items()
            for d in dropped
        )
    return "\n".join(lines)


def tiles_audit(
    args: argparse.Namespace, registry: Any, progress: Any, *, chain_id: int | None = None
) -> Any:
    from okeios._internal.verify.tiles import TileFetcher, audit_tiles
    from okeios._internal.verify.witness import WitnessPolicy

    policy = None
    if args.witness:
        policy = WitnessPolicy(args.witness, args.quorum or len(args.witness), max_age=args.max_age)
    elif args.quorum or args.max_age:
        raise InputError("--quorum and --max-age need --witness VKEY")
    return audit_tiles(
        TileFetcher(args.tiles, args.cache),
        publisher=args.publisher,
        chain=registry,
        chain_id=chain_id,
        authors=args.author or None,
        tolerance=args.tolerance,
        witnesses=policy,
        progress=progress,
    )


def _cmd_sd_jwt(args: argparse.Namespace) -> int:
    from okeios._internal.cli import options as o

    if args.sd_jwt_command == "export":
        from okeios._internal.publish.sdjwt import export_sd_jwt
        from okeios._internal.publish.store import Store, resolve_home

        if not args.field:
            raise InputError("name at least one --field PATH to disclose")
        from okeios._internal.protocol.ids import parse_ref
        from okeios.service import content_event_id

        ref = parse_ref(args.record_id)
        with Store.open(resolve_home(args.home)) as store:
            event, unanchored = content_event_id(store, ref)
            token = export_sd_jwt(store.publisher, event.raw, args.field)
        made: dict[str, Any] = {
            "event": str(event),
            "fields": list(args.field),
            "anchored": unanchored is None,
        }
        if unanchored is not None:
            made["notAnchored"] = unanchored
            o.note(f"okeios sd-jwt export: warning: {unanchored}")
        if args.output and args.output != "-":
            o.check_writable(args.output)
            o.write_output(args.output, (token + "\n").encode("ascii"))
            return o.done(
                args,
                {**made, "output": args.output},
                f"{args.output}: SD-JWT of event {made['event']} disclosing "
                f"{len(args.field)} field(s)",
            )
        if args.json:
            print(json.dumps({**made, "sdJwt": token}, indent=2))
        else:
            print(token)
        return 0
    from okeios._internal.cli import options as o
    from okeios._internal.protocol.sdjwt import verify_sd_jwt
    from okeios.errors import SdJwtError

    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="ascii")
    try:
        verified = verify_sd_jwt(text.strip(), args.publisher)
    except SdJwtError as exc:
        if args.json:
            print(json.dumps({"result": "fail", "reason": str(exc)}))
        else:
            print(f"SD-JWT: FAIL {o.safe(exc)}")
        return 1
    from okeios._internal.protocol.canonical import canonicalize

    fields = {path: json.loads(canonicalize(value)) for path, value in verified.fields.items()}
    problem = _tie_to_bundle(args, verified) if args.bundle else None
    payload: dict[str, Any] = {
        "result": "pass" if problem is None else "fail",
        "issuer": verified.issuer,
        "okeios": verified.tie.to_claim() | {"digests": len(verified.tie.digests)},
        "fields": fields,
    }
    if problem is not None:
        payload["reason"] = problem
    if args.json:
        o.print_json(payload)
    elif problem is not None:
        print(f"SD-JWT: FAIL {o.safe(problem)}")
    else:
        print(
            f"SD-JWT: PASS issued by {o.safe(verified.issuer)} for event "
            f"{to_hex(verified.tie.event_id)}"
        )
        if args.bundle:
            print(
                "  the bundle verifies offline and is about this event (anchoring: okeios verify)"
            )
        for path, value in verified.fields.items():
            # A value as its JSON text (a decimal as written, a string quoted), escaped.
            text = canonicalize(value).decode("utf-8")
            print(f"  field {o.safe(path)} = {o.safe(text)}")
    return 0 if problem is None else 1


def _tie_to_bundle(args: argparse.Namespace, verified: Any) -> str | None:
    """Verify the record's bundle offline and check the SD-JWT is about its event; return what
    failed, or None."""
    from okeios._internal.cli.identity import load_authorities, organisations
    from okeios._internal.config import TrustConfig
    from okeios._internal.protocol.bundle import Bundle
    from okeios._internal.protocol.sdjwt import check_tie
    from okeios._internal.verify.bundle import verify_bundle
    from okeios._internal.verify.policy import ANYONE
    from okeios._internal.verify.trust import build_policy
    from okeios.errors import SdJwtError

    if not args.author and not args.any_author and not args.org:
        raise InputError(
            "with --bundle, say whom to trust: --author ADDRESS, --any-author or --org ADDRESS"
        )
    from okeios._internal.cli.options import warn_anyone

    warn_anyone(args)
    bundle = Bundle.load(Path(args.bundle).read_bytes())
    authors: Any = ANYONE if args.any_author else args.author
    policy = build_policy(
        None,
        authors=authors,
        publishers=args.publisher,
        organisations=organisations(args, TrustConfig([], [], {})),
    )
    report = verify_bundle(bundle, policy, authorities=load_authorities(args, policy, None))
    if not report.passed:
        failed = ", ".join(f"{v.property}: {v.reason}" for v in report.failures)
        return f"the bundle does not verify ({failed})"
    try:
        check_tie(verified, bundle.event.event)
    except SdJwtError as exc:
        return str(exc)
    return None


def _global_options(p: argparse.ArgumentParser, o: Any) -> None:
    """``--json``, ``--home``, ``-v``, ``-q`` after ``sd-jwt export|verify`` too."""
    p.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object"
    )
    o.home_option(p)
    o.verbosity_options(p)


def register(
    command: Callable[[str, str, Callable[[argparse.Namespace], int]], argparse.ArgumentParser],
) -> None:
    """Add the ``sd-jwt`` verb through the main parser's ``command`` helper."""
    from okeios._internal.cli import options as o

    p = command("sd-jwt", "export or verify a selective disclosure as an SD-JWT", _cmd_sd_jwt)
    sub = p.add_subparsers(dest="sd_jwt_command", required=True, metavar="ACTION")
    a = sub.add_parser("export", help="an SD-JWT of a record disclosing the named fields")
    a.add_argument("record_id", metavar="RECORD_ID", help=o.RECORD_HELP)
    a.add_argument(
        "--field", action="append", metavar="PATH", help="a JSON Pointer to disclose (repeatable)"
    )
    o.output_option(a)
    _global_options(a, o)
    v = sub.add_parser("verify", help="verify an okeios SD-JWT against its commitment")
    v.add_argument("file", metavar="FILE", help="the SD-JWT, - for stdin")
    v.add_argument(
        "--publisher", action="append", required=True, metavar="ADDRESS", help="trusted issuer"
    )
    v.add_argument(
        "--bundle",
        metavar="BUNDLE",
        help="the record's proof bundle: verify it offline and check the SD-JWT is about its event",
    )
    o.authors_option(v, "with --bundle: a trusted author of its event (repeatable)")
    o.any_options(v, when="with --bundle: ", publisher=False)
    from okeios._internal.cli.identity import add_verify_options

    add_verify_options(v)  # with --bundle: --org, --role, --keys, as okeios verify
    _global_options(v, o)
