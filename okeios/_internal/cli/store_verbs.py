"""The record owner's verbs, on the local store: ``init``, ``add``, ``export``, ``disclose``,
``recipient``, ``grant``, ``revoke``, ``access``, ``erase``, ``history``, ``fhir``, ``log``.

Privacy by default: ``export`` discloses no field unless fields are named (``--field``) or
``--reveal-all`` says it reveals everything; secret files are written 0600, atomically; ``erase``
asks for confirmation on a terminal (``--yes`` for scripts); every output path is checked
before anything is logged, so a command is all or nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from okeios._internal.cli import options as o
from okeios._internal.config import TrustConfig
from okeios._internal.faults import fault_point
from okeios._internal.protocol.hexcodec import from_hex, to_hex
from okeios._internal.protocol.ids import RecordId, parse_ref
from okeios._internal.protocol.kinds import ACCESS_KINDS
from okeios.errors import InputError, OkeiosError

__all__ = ["register"]


def iso(seconds: object) -> str:
    """ISO 8601 UTC time of a Unix timestamp."""
    if not isinstance(seconds, int | float):
        return str(seconds)
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def _cmd_init(args: argparse.Namespace) -> int:
    from okeios._internal.publish.store import PASSPHRASE_ENV, Store

    where = o.home(args)
    key = (
        from_hex(args.key, "--key", size=32, error=o.UsageError, prefix=False, any_case=True)
        if args.key
        else None
    )
    import os

    passphrase = os.environ.get(PASSPHRASE_ENV) or None
    if passphrase is None and not args.no_passphrase:
        passphrase = o.ask_passphrase(
            "passphrase for the new store (empty: a key file beside it): ", confirm=True
        )
    with Store.init(
        where, key=key, log_name=args.log, passphrase=passphrase or "", database=args.database
    ) as store:
        trust = TrustConfig.load(where)
        trust.trust_author(store.address)
        trust.trust_publisher(store.address)
        trust.save(where)
        info = {"home": str(where), "publisher": store.address, "logId": to_hex(store.log_id)}
    text = f"okeios store in {where}\npublisher {info['publisher']}\nlog id    {info['logId']}"
    return o.done(args, info, text)


def _cmd_add(args: argparse.Namespace) -> int:
    from okeios._internal.cli.records import add_files

    return add_files(args)


def _bundle_bytes(bundle: Any, fmt: str) -> bytes:
    data: bytes = bundle.to_json().encode() + b"\n" if fmt == "json" else bundle.to_bytes()
    return data


def _fields(args: argparse.Namespace) -> list[str] | None:
    """The fields to disclose: those named, all with --reveal-all, else none."""
    if args.reveal_all and args.field:
        raise o.UsageError("--reveal-all reveals every field: do not name --field as well")
    if args.reveal_all:
        o.note("okeios: --reveal-all: the bundle discloses every field of the record")
        return None
    return list(args.field or [])


#: The file ``export --all`` writes beside the bundles: file name to FHIR ``Type/id`` (null for
#: a record logged without one).
MANIFEST_NAME = "manifest.json"


def _export_chain(args: argparse.Namespace) -> int | None:
    """The chain id ``export --chain`` asks for: a number, or a chain pinned in trust.json
    (``embedded`` or a URL, resolved without asking any node)."""
    spec = getattr(args, "chain", None)
    if spec is None:
        return None
    if spec.isdigit() and int(spec) > 0:
        return int(spec)
    from okeios._internal.config import TrustConfig

    pin = TrustConfig.load(o.home(args)).chain(spec)
    if pin is None:
        raise o.UsageError(f"--chain {spec!r}: no such chain pinned in trust.json; give its id")
    return pin[0]


def _cmd_export(args: argparse.Namespace) -> int:
    fields = _fields(args)
    chain_id = _export_chain(args)
    suffix = ".json" if args.format == "json" else ".okb"
    if args.all:
        if not args.output:
            raise o.UsageError("--all needs -o DIR")
        from okeios._internal.files import private_dir

        out = private_dir(args.output) if not Path(args.output).is_dir() else Path(args.output)
        manifest: dict[str, str | None] = {}
        with o.open_store(args) as store:
            rows = store.record_ids()
            with o.Progress("exporting", len(rows), force=args.progress) as progress:
                for rid in rows:
                    bundle = store.export(
                        RecordId(rid),
                        fields=fields or (),
                        reveal_all=fields is None,
                        chain_id=chain_id,
                    )
                    name = f"{to_hex(rid)}{suffix}"
                    o.write_output(str(out / name), _bundle_bytes(bundle, args.format))
                    manifest[name] = store.identities.label(rid)
                    progress()
        # Written last, whole: a manifest names only bundles that are there.
        o.write_output(str(out / MANIFEST_NAME), (json.dumps(manifest, indent=2) + "\n").encode())
        shown = "every field" if fields is None else f"{len(fields)} named field(s)"
        o.note(
            f"{len(rows)} bundles written to {out} (disclosing {shown}); {MANIFEST_NAME} maps "
            "each file to its FHIR Type/id"
        )
        return o.EXIT_OK
    if not args.record_id:
        raise o.UsageError("give a RECORD_ID, or --all")
    ref = parse_ref(args.record_id)
    if args.output and args.output != "-":
        o.check_writable(args.output)
    elif args.format != "json" and sys.stdout.isatty():
        raise o.UsageError(
            "refusing to write a binary bundle to a terminal: use -o FILE or --format json"
        )
    with o.open_store(args) as store:
        bundle = store.export(
            ref, fields=fields or (), reveal_all=fields is None, chain_id=chain_id
        )
    data = _bundle_bytes(bundle, args.format)
    if args.output and args.output != "-":
        o.write_output(args.output, data)
        e = bundle.event.event
        count = len(bundle.disclosure.fields)
        payload: dict[str, Any] = {
            "bundle": args.output,
            "record": to_hex(e.record_id),
            "event": to_hex(bundle.event.id),
            "kind": str(e.kind),
            "disclosed": [f.path for f in bundle.disclosure.fields],
        }
        return o.done(
            args,
            payload,
            f"{args.output}: bundle of the {e.kind} {payload['event']}, "
            f"{count} field(s) disclosed, {len(bundle.disclosure.digests) - count} hidden",
        )
    sys.stdout.buffer.write(data)
    return o.EXIT_OK


def _cmd_disclose(args: argparse.Namespace) -> int:
    if not args.field:
        raise o.UsageError("name at least one --field PATH to disclose")
    ref = parse_ref(args.record_id)
    o.check_writable(args.output)
    from okeios.service import content_event_id

    with o.open_store(args) as store:
        event, unanchored = content_event_id(store, ref)
        bundle = store.export(event, fields=args.field)
    o.write_output(args.output, _bundle_bytes(bundle, args.format))
    shown = [f.path for f in bundle.disclosure.fields]
    hidden = len(bundle.disclosure.digests) - len(shown)
    kind = str(bundle.event.event.kind)
    payload = {
        "bundle": args.output,
        "event": str(event),
        "kind": kind,
        "anchored": unanchored is None,
        "disclosed": shown,
        "hidden": hidden,
    }
    if unanchored is not None:
        payload["notAnchored"] = unanchored
        o.note(f"okeios disclose: warning: {unanchored}")
    return o.done(
        args,
        payload,
        f"{args.output}: {len(shown)} field(s) of the {kind} {event} disclosed, {hidden} hidden",
    )


def _cmd_recipient(args: argparse.Namespace) -> int:
    from okeios._internal.crypto.recipient_file import dump_recipient_key
    from okeios._internal.crypto.recipients import RecipientPrivateKey, Suite, bind_recipient_key
    from okeios._internal.protocol.signing import LocalSigner

    out = Path(args.output)
    binding_path = Path(args.binding) if args.binding else out.with_suffix(".binding.json")
    o.check_writable(str(out))
    o.check_writable(str(binding_path))
    signer = LocalSigner.generate()
    key = RecipientPrivateKey.generate(Suite(args.suite))
    binding = bind_recipient_key(key.public_key(), signer)
    document = dump_recipient_key(signer.address, signer.private_key, key)
    if args.passphrase:
        from okeios._internal.crypto.keyfile import protect_secret

        phrase = o.recipient_passphrase(str(out), confirm=True)
        document = protect_secret(document, phrase)
    o.write_output(str(out), document, private=True)
    o.write_output(str(binding_path), binding.to_json().encode())
    payload = {"address": signer.address, "key": str(out), "binding": str(binding_path)}
    text = (
        f"recipient {signer.address}\nprivate key file {out} (mode 0600; keep it secret)\n"
        f"public binding {binding_path} (give it to record owners)"
    )
    return o.done(args, payload, text)


def _cmd_grant(args: argparse.Namespace) -> int:
    from okeios._internal.crypto.recipients import RecipientBinding

    ref = parse_ref(args.record_id)
    o.check_writable(args.output)  # before the GRANT is logged: all or nothing
    binding = RecipientBinding.from_json(
        o.read_input(args.recipient, limit=1 << 20, what="binding")
    )
    with o.open_store(args) as store:
        share = store.access.grant(ref, binding, purpose=args.purpose, deliver=args.output)
        resumed = store.access.resumed
        fault_point("grant-share")
        try:
            o.write_output(args.output, share.to_json().encode(), private=True)
        except OkeiosError as exc:
            raise InputError(
                f"the GRANT is logged but its share could not be written ({exc}); run the same "
                "`okeios grant` again to write it"
            ) from exc
        store.access.delivered(ref, share.recipient)
    payload = {
        "record": str(ref),
        "recipient": share.recipient,
        "share": args.output,
        "resumed": resumed,
    }
    text = f"granted {share.recipient}; share written to {args.output}"
    if resumed:
        text = f"{share.recipient} was granted before (its share was never written); " + (
            f"share written to {args.output}"
        )
    return o.done(args, payload, text)


def _cmd_share(args: argparse.Namespace) -> int:
    ref = parse_ref(args.record_id)
    o.check_writable(args.output)
    with o.open_store(args) as store:
        share = store.access.share(ref, args.recipient)
    o.write_output(args.output, share.to_json().encode(), private=True)
    payload = {"record": str(ref), "recipient": share.recipient, "share": args.output}
    return o.done(args, payload, f"share for {share.recipient} written to {args.output}")


def _cmd_revoke(args: argparse.Namespace) -> int:
    ref = parse_ref(args.record_id)
    with o.open_store(args) as store:
        logged = store.access.revoke(ref, args.recipient, purpose=args.purpose)
    payload = {"record": str(ref), "revoked": args.recipient, "event": to_hex(logged.id)}
    return o.done(args, payload, f"revoked {args.recipient} (event {to_hex(logged.id)})")


def _cmd_access(args: argparse.Namespace) -> int:
    ref = parse_ref(args.record_id)
    with o.open_store(args) as store:
        logged = store.access.receipt(ref, args.reader, purpose=args.purpose)
    payload = {"record": str(ref), "reader": args.reader, "event": to_hex(logged.id)}
    return o.done(args, payload, f"access by {args.reader} logged (event {to_hex(logged.id)})")


def _cmd_erase(args: argparse.Namespace) -> int:
    ref = parse_ref(args.record_id)
    o.confirm(
        args,
        f"erase record {ref}? Its keys and salts are destroyed; this cannot be undone",
    )
    with o.open_store(args) as store:
        logged = store.access.erase(ref, purpose=args.purpose, wait=args.wait)
        purge = store.access.last_purge
    verified = purge.describe() if purge is not None else "verified before"
    payload = {
        "record": str(ref),
        "erased": True,
        "event": to_hex(logged.id),
        "verified": verified,
    }
    return o.done(
        args,
        payload,
        f"erased: keys and salts destroyed (event {to_hex(logged.id)}); {verified}",
    )


def _cmd_history(args: argparse.Namespace) -> int:
    ref = parse_ref(args.record_id)
    with o.open_store(args) as store:
        events = store.history(ref)
    for e in events:
        e["timeIso"] = iso(e["time"])
    if args.json:
        o.print_json({"record": str(ref), "events": events})
        return o.EXIT_OK
    rows = [
        (
            str(e["index"]),
            f"v{e['version']}",
            str(e["kind"]),
            str(e["timeIso"]),
            str(e["subject"]) if e["kind"] in ACCESS_KINDS else "",
            o.safe(e["purpose"]),
        )
        for e in events
    ]
    if sys.stdout.isatty():  # a table for people; plain lines for pipes and scripts
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table()
        for name in ("index", "version", "kind", "time (UTC)", "subject", "purpose"):
            table.add_column(name, overflow="fold")  # never cut an address or a purpose
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))  # Text: no markup is interpreted
        Console().print(table)
        return o.EXIT_OK
    for index, version, kind, when, subject, purpose in rows:
        extra = f" -> {subject}" if subject else ""
        print(f"{index:>8}  {version}  {kind:<7} {when}{extra}  {purpose}")
    return o.EXIT_OK


def _cmd_fhir(args: argparse.Namespace) -> int:
    from okeios._internal.report.fhir import record_history_fhir

    ref = parse_ref(args.record_id)
    if args.output:
        o.check_writable(args.output)
    with o.open_store(args) as store:
        bundle = record_history_fhir(store, ref)
    text = json.dumps(bundle, indent=2)
    if args.output:
        o.write_output(args.output, (text + "\n").encode())
    else:
        print(text)
    return o.EXIT_OK


def _cmd_log(args: argparse.Namespace) -> int:
    if args.tiles:
        from okeios._internal.cli import interop

        with o.open_store(args) as store:
            summary = interop.publish_tiles_cmd(args, store)
        o.done(args, summary, interop.tiles_text(summary))
        # A witness that answered lines which do not verify was caught, and its lines kept out
        # of the published note: the tiles are out, but the witnessing did not go as asked.
        return o.EXIT_FAILED if summary.get("dropped") else o.EXIT_OK
    if not args.output:
        raise o.UsageError("give -o FILE (a JSON lines log) or --tiles DIR")
    o.check_writable(args.output)
    parts: list[str] = []
    with o.open_store(args) as store:
        count = store.write_log(parts.append)
    o.write_output(args.output, "".join(parts).encode("utf-8"))
    return o.done(
        args, {"log": args.output, "entries": count}, f"{count} entries written to {args.output}"
    )


def register(sub: Any) -> None:
    p = o.command(sub, "init", "create a local store and a publisher key", _cmd_init)
    p.add_argument(
        "--log",
        default="main",
        help="a local label for the log (default main); a key has one log, its id bound to it",
    )
    p.add_argument("--key", metavar="HEX", help="use this publisher key (32 bytes, hex)")
    p.add_argument(
        "--database",
        metavar="URL",
        help="keep the store's tables on a PostgreSQL server (postgresql://...; default:"
        " $OKEIOS_DATABASE, else store.sqlite in the home)",
    )
    p.add_argument(
        "--no-passphrase",
        action="store_true",
        help="do not ask for a passphrase: protect the store with a key file beside it. "
        "Without this flag, a terminal asks for one (no echo); $OKEIOS_PASSPHRASE, if set, "
        "is used instead (for automation)",
    )

    p = o.command(
        sub,
        "add",
        "log FHIR resources, Bundles or NDJSON by identity: a resource seen before is amended "
        "(or left alone when unchanged or older); prints each record id and what was done, "
        "then the counts. NDJSON is streamed and added in chunks (--chunk), one "
        "transaction each: a failure keeps the chunks before it, and adding the same file "
        "again is safe",
        _cmd_add,
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="FHIR R4 JSON or NDJSON files, - for stdin: a resource (an object with a "
        "resourceType; one without an id is accepted with a warning), a Bundle (each entry's "
        "resource) or NDJSON (one resource per line, read line by line, any length); a "
        "resource or a Bundle is read whole, up to 64 MiB; anything else is refused",
    )
    p.add_argument(
        "--key",
        metavar="KEY",
        help="the identity of one non-FHIR JSON record (not of the Type/id shape of a FHIR "
        "identity, unless the document is that resource)",
    )
    p.add_argument(
        "--new", action="store_true", help="log every resource as a new record, identity ignored"
    )
    p.add_argument(
        "--author-key",
        metavar="FILE",
        help="sign the events as this author (a clinician's key file from okeios authors "
        "keygen, or an Ethereum keystore; passphrase from $OKEIOS_AUTHOR_PASSPHRASE or asked); "
        "default: the publisher key",
    )
    p.add_argument(
        "--chunk",
        type=int,
        default=500,
        metavar="N",
        help="resources per transaction (default 500): memory and what a crash loses",
    )
    p.add_argument(
        "--progress",
        action="store_true",
        help="print progress lines on stderr every 2 s even when not on a terminal",
    )

    p = o.command(
        sub,
        "export",
        "write the proof bundle of a record; discloses no field unless asked",
        _cmd_export,
    )
    p.add_argument("record_id", nargs="?", metavar="RECORD_ID", help=o.RECORD_HELP)
    o.output_option(p, "output file (a folder with --all)")
    p.add_argument(
        "--field",
        action="append",
        metavar="PATH",
        help="disclose this field, a JSON Pointer (repeatable); default: no field",
    )
    p.add_argument(
        "--reveal-all",
        action="store_true",
        help="disclose every field of the record (its full plaintext) in the bundle",
    )
    p.add_argument("--format", choices=("binary", "json"), default="binary", help=o.FORMAT_HELP)
    p.add_argument(
        "--all",
        action="store_true",
        help="export every record into the -o folder, with manifest.json mapping each file "
        "to its FHIR Type/id",
    )
    p.add_argument(
        "--chain",
        metavar="ID|URL|embedded",
        help="cite an anchor on this chain only (a chain id, or a chain pinned in trust.json); "
        "exit 2 if no anchor there holds the record yet. Default: the smallest anchor on any",
    )
    o.progress_option(p)

    p = o.command(sub, "disclose", "write a bundle revealing only some fields", _cmd_disclose)
    p.add_argument("record_id", metavar="RECORD_ID", help=o.RECORD_HELP)
    p.add_argument(
        "--field", action="append", metavar="PATH", help="a JSON Pointer to disclose (repeatable)"
    )
    o.output_option(p, "the bundle file", required=True)
    p.add_argument("--format", choices=("binary", "json"), default="binary", help=o.FORMAT_HELP)

    p = o.command(
        sub, "recipient", "create a recipient key and its signed public binding", _cmd_recipient
    )
    o.output_option(p, "the private key file (mode 0600)", required=True)
    p.add_argument(
        "--passphrase",
        action="store_true",
        help="seal the key file under a passphrase (Argon2id, as the store's key): from "
        "$OKEIOS_RECIPIENT_PASSPHRASE, else asked on the terminal; decrypt then asks for it",
    )
    p.add_argument(
        "--binding", metavar="FILE", help="the public binding (default FILE.binding.json)"
    )
    p.add_argument(
        "--suite",
        choices=("x25519", "mlkem768-x25519"),
        default="x25519",
        help="HPKE suite; mlkem768-x25519 is the post-quantum hybrid",
    )

    p = o.command(sub, "grant", "give a recipient access to a record (logs a GRANT)", _cmd_grant)
    p.add_argument("record_id", metavar="RECORD_ID", help=o.RECORD_HELP)
    p.add_argument(
        "--recipient", required=True, metavar="BINDING", help="the recipient's binding file"
    )
    o.purpose_option(p, "why access is granted")
    o.share_output_option(p)

    p = o.command(
        sub,
        "share",
        "write again the share of a recipient granted access (logs nothing)",
        _cmd_share,
    )
    p.add_argument("record_id", metavar="RECORD_ID", help=o.RECORD_HELP)
    p.add_argument("--recipient", required=True, metavar="ADDRESS", help="the recipient's address")
    o.share_output_option(p)

    p = o.command(sub, "revoke", "stop a recipient's access (logs a REVOKE)", _cmd_revoke)
    p.add_argument("record_id", metavar="RECORD_ID", help=o.RECORD_HELP)
    p.add_argument("--recipient", required=True, metavar="ADDRESS", help="the recipient's address")
    o.purpose_option(p, "why access is revoked")

    p = o.command(sub, "access", "log an access receipt: who read a record, and why", _cmd_access)
    p.add_argument("record_id", metavar="RECORD_ID", help=o.RECORD_HELP)
    p.add_argument("--reader", required=True, metavar="ADDRESS", help="who read the record")
    o.purpose_option(p, "why the record was read")

    p = o.command(
        sub,
        "erase",
        "crypto-shred a record (logs an ERASE); irreversible, so it asks first",
        _cmd_erase,
    )
    p.add_argument("record_id", metavar="RECORD_ID", help=o.RECORD_HELP)
    o.purpose_option(p, "why the record is erased")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation (for scripts)")
    p.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for readers of the store before saying the erasure is pending "
        "(exit 2; run erase again to finish); default 10",
    )

    p = o.command(
        sub,
        "history",
        "list a record's events: versions, grants, revocations, erasure",
        _cmd_history,
    )
    p.add_argument("record_id", metavar="RECORD_ID", help=o.RECORD_HELP)

    p = o.command(
        sub, "fhir", "a record's history as FHIR R4 Provenance and AuditEvent resources", _cmd_fhir
    )
    p.add_argument("record_id", metavar="RECORD_ID", help=o.RECORD_HELP)
    o.output_option(p)

    from okeios._internal.cli import interop

    p = o.command(
        sub,
        "log",
        "publish the log as an audit file (-o) or as C2SP tlog-tiles (--tiles)",
        _cmd_log,
    )
    o.output_option(p, "write the log as an audit file here")
    interop.add_log_options(p)
