"""The ``okeios`` command line.

Exit codes: 0 every verdict passed, 1 a verdict failed, 2 bad input, usage or an unreachable
chain (the message says which).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from okeios import __version__
from okeios.chain.connect import open_chain
from okeios.cli import identity
from okeios.config import EMBEDDED, TrustConfig
from okeios.errors import ChainError, OkeiosError
from okeios.protocol.canonical import canonical_bytes, load_json_strict
from okeios.verify.bundle import verify_bundle
from okeios.verify.policy import ANYONE, TrustPolicy
from okeios.verify.report import Report

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
FUND_EMBEDDED = 10**20  # 100 ether for the publisher on the embedded chain


class UsageError(Exception):
    """A usage problem found after argument parsing."""


class Progress:
    """A one-line progress counter on stderr, shown only on a terminal (or when forced)."""

    def __init__(
        self, label: str, total: int, *, stream: TextIO | None = None, force: bool = False
    ) -> None:
        self.label, self.total, self.done = label, total, 0
        self.stream = stream or sys.stderr
        self.enabled = force or self.stream.isatty()
        self._last = -1

    def __call__(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        pct = 100 * self.done // max(self.total, 1)
        if pct != self._last or self.done == self.total:
            self._last = pct
            width = 30
            filled = width * self.done // max(self.total, 1)
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total}")
            if self.done >= self.total:
                self.stream.write("\n")
            self.stream.flush()


def _read(path: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


def _home(args: argparse.Namespace) -> Path:
    from okeios.publish.store import resolve_home

    return resolve_home(args.home)


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2))


def _done(args: argparse.Namespace, payload: dict[str, Any], text: str) -> int:
    """Print a command's result (JSON with --json, else ``text``); exit 0."""
    if args.json:
        _print_json(payload)
    else:
        print(text)
    return EXIT_OK


# --- commands ----------------------------------------------------------------------------------


def _cmd_init(args: argparse.Namespace) -> int:
    from okeios.publish.store import Store

    home = _home(args)
    key = bytes.fromhex(args.key.removeprefix("0x")) if args.key else None
    with Store.init(home, key=key, log_name=args.log) as store:
        trust = TrustConfig.load(home)
        trust.trust_author(store.address)
        trust.trust_publisher(store.address)
        trust.save(home)
        info = {"home": str(home), "publisher": store.address, "logId": "0x" + store.log_id.hex()}
    if args.json:
        _print_json(info)
    else:
        print(f"okeios store in {home}\npublisher {info['publisher']}\nlog id    {info['logId']}")
    return EXIT_OK


def _cmd_add(args: argparse.Namespace) -> int:
    from okeios.publish.store import Store, fhir_resources

    records: list[Any] = []
    for name in args.files:
        records.extend(fhir_resources(_read(name)))
    with Store.open(_home(args)) as store:
        progress = Progress("adding", len(records), force=args.progress)
        logged = store.add(records, progress=progress)
    ids = ["0x" + item.record_id.hex() for item in logged]
    if args.json:
        _print_json({"records": ids})
    else:
        print("\n".join(ids))
    return EXIT_OK


def _cmd_anchor(args: argparse.Namespace) -> int:
    from okeios.chain.registry import Registry
    from okeios.publish.anchoring import anchor
    from okeios.publish.store import Store

    home = _home(args)
    trust = TrustConfig.load(home)
    with Store.open(home) as store, open_chain(args.chain, home) as chain:
        if (
            chain.embedded is not None
            and chain.w3.eth.get_balance(store.address) < FUND_EMBEDDED // 10
        ):
            chain.fund(store.address, FUND_EMBEDDED)
        pinned = trust.chain(args.chain)
        address = args.registry or (pinned[1] if pinned else None)
        if address is None:
            registry = Registry.deploy(chain.w3, store.signer, label=chain.label)
            print(
                f"deployed AnchorRegistry at {registry.address} on {chain.label}", file=sys.stderr
            )
        else:
            registry = Registry(chain.w3, address, label=chain.label)
            if not registry.has_code():
                raise ChainError(f"no contract at {registry.address} on {chain.label}")
        trust.pin_chain(args.chain, registry.chain_id, registry.address)
        trust.save(home)
        chain.save()
        try:
            result = anchor(
                store,
                registry,
                confirmations=args.confirmations,
                timeout=args.timeout,
                echo=(lambda _s: None) if args.json else (lambda s: print(s, file=sys.stderr)),
            )
        finally:
            chain.save()
    entry = result.entry
    payload = {
        "chain": args.chain,
        "chainId": result.chain_id,
        "registry": result.registry,
        "treeSize": result.tree_size,
        "state": entry.state if entry else None,
        "transaction": "0x" + entry.tx_hash.hex() if entry and entry.tx_hash else None,
        "block": entry.block_number if entry else None,
        "confirmations": result.confirmations,
    }
    if args.json:
        _print_json(payload)
    else:
        print(
            f"anchored size {result.tree_size}: {payload['state']} "
            f"(block {payload['block']}, transaction {payload['transaction']})"
        )
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from okeios.publish.store import Store

    with Store.open(_home(args)) as store:
        if args.all:
            if not args.output:
                raise UsageError("--all needs -o DIR")
            out = Path(args.output)
            out.mkdir(parents=True, exist_ok=True)
            rows = store.record_ids()
            progress = Progress("exporting", len(rows), force=args.progress)
            for rid in rows:
                bundle = store.export("0x" + rid.hex(), fields=args.field or None)
                suffix = ".json" if args.format == "json" else ".okb"
                data = bundle.to_json().encode() if args.format == "json" else bundle.to_bytes()
                (out / f"0x{rid.hex()}{suffix}").write_bytes(data)
                progress()
            print(f"{len(rows)} bundles written to {out}", file=sys.stderr)
            return EXIT_OK
        if not args.record_id:
            raise UsageError("give a RECORD_ID, or --all")
        bundle = store.export(args.record_id, fields=args.field or None)
    data = bundle.to_json().encode() + b"\n" if args.format == "json" else bundle.to_bytes()
    if args.output and args.output != "-":
        Path(args.output).write_bytes(data)
    elif args.format != "json" and sys.stdout.isatty():
        raise UsageError(
            "refusing to write a binary bundle to a terminal: use -o FILE or --format json"
        )
    else:
        sys.stdout.buffer.write(data)
    return EXIT_OK


def _policy(args: argparse.Namespace, home: Path, chain_pin: tuple[int, str] | None) -> TrustPolicy:
    trust = TrustConfig.load(home)
    authors: Any = ANYONE if args.any_author else (args.author or trust.authors)
    publishers: Any = ANYONE if args.any_publisher else (args.publisher or trust.publishers)
    orgs = identity.organisations(args, trust)
    if orgs:  # organisations pinned (docs/identity.md): the lists are optional extras
        chain_id, registry = chain_pin if chain_pin else (None, None)
        return TrustPolicy(
            authors=authors or None,
            publishers=publishers or None,
            organisations=orgs,
            chain_id=chain_id,
            registry=registry,
            confirmations=args.confirmations,
        )
    if not authors:
        raise UsageError(
            "say whom to trust: --author ADDRESS (repeatable), --any-author, "
            "or a trust.json in the okeios home"
        )
    if not publishers:
        raise UsageError(
            "say whom to trust: --publisher ADDRESS (repeatable), --any-publisher, "
            "or a trust.json in the okeios home"
        )
    chain_id, registry = chain_pin if chain_pin else (None, None)
    return TrustPolicy(
        authors=authors,
        publishers=publishers,
        chain_id=chain_id,
        registry=registry,
        confirmations=args.confirmations,
    )


def _report_text(name: str, report: Report, show_fields: bool) -> str:
    lines = [f"{name}: {'PASS' if report.passed else 'FAIL'}"]
    for v in report.verdicts:
        reason = f" [{v.reason}]" if v.reason else ""
        lines.append(f"  {v.property:<13} {v.status}{reason} {v.detail}")
    if show_fields:
        lines.extend(f"  field {path} = {value}" for path, value in report.disclosed)
    return "\n".join(lines)


def _cmd_verify(args: argparse.Namespace) -> int:
    home = _home(args)
    chain_pin: tuple[int, str] | None = None
    if args.chain:
        if args.registry or args.chain_id:
            if not (args.registry and args.chain_id):
                raise UsageError(
                    "pin both --chain-id and --registry (or neither, to use trust.json)"
                )
            chain_pin = (args.chain_id, args.registry)
        else:
            chain_pin = TrustConfig.load(home).chain(args.chain)
            if chain_pin is None:
                raise UsageError(
                    f"no registry pinned for {args.chain}: pass --chain-id and "
                    "--registry, or anchor from this home first"
                )
    policy = _policy(args, home, chain_pin)
    if args.record and len(args.bundles) != 1:
        raise UsageError("--record goes with exactly one bundle")
    record = _read(args.record) if args.record else None
    reports: list[tuple[str, Report]] = []
    chain_handle = open_chain(args.chain, home) if args.chain else None
    try:
        view = None
        if chain_handle is not None:
            from okeios.chain.registry import RegistryView

            view = RegistryView(chain_handle.w3, label=chain_handle.label)
        if args.lineage:
            from okeios.verify.lineage import verify_lineage

            lineage = verify_lineage(
                [_read(n) for n in args.bundles],
                policy,
                chain=view,
                tolerance=args.tolerance,
                authorities=identity.load_authorities(args, policy, view),
            )
            if args.json:
                _print_json(lineage.to_dict())
            else:
                v = lineage.verdict
                reason = f" [{v.reason}]" if v.reason else ""
                print(f"lineage {v.status}{reason}: {v.detail}")
            return EXIT_OK if lineage.passed else EXIT_FAILED
        authorities = identity.load_authorities(args, policy, view)
        progress = Progress("verifying", len(args.bundles), force=args.progress)
        for name in args.bundles:
            report = verify_bundle(
                _read(name), policy, record=record, chain=view, authorities=authorities
            )
            reports.append((name, report))
            progress()
    finally:
        if chain_handle is not None:
            chain_handle.close()
    passed = all(r.passed for _, r in reports)
    if args.json:
        if len(reports) == 1:
            _print_json(reports[0][1].to_dict())
        else:
            _print_json(
                {
                    "result": "pass" if passed else "fail",
                    "count": len(reports),
                    "failed": sum(not r.passed for _, r in reports),
                    "bundles": {n: r.to_dict() for n, r in reports},
                }
            )
    else:
        for name, report in reports:
            if not args.quiet or not report.passed:
                print(_report_text(name, report, args.show_fields))
        if len(reports) > 1:
            print(f"{sum(r.passed for _, r in reports)} of {len(reports)} bundles pass")
    return EXIT_OK if passed else EXIT_FAILED


def _store(args: argparse.Namespace) -> Any:
    from okeios.publish.store import Store

    return Store.open(_home(args))


def _cmd_recipient(args: argparse.Namespace) -> int:
    from okeios.crypto.recipients import RecipientPrivateKey, Suite, bind_recipient_key
    from okeios.protocol.signing import LocalSigner

    signer = LocalSigner.generate()
    key = RecipientPrivateKey.generate(Suite(args.suite))
    binding = bind_recipient_key(key.public_key(), signer)
    out = Path(args.output)
    document = {
        "format": "okeios-recipient-key",
        "version": 1,
        "address": signer.address,
        "ethereumKey": signer.private_key.hex(),
        "suite": args.suite,
        "hpkeKey": key.to_bytes().hex(),
    }
    from okeios.publish.store import _write_private

    _write_private(out, json.dumps(document, indent=2).encode())
    binding_path = Path(args.binding) if args.binding else out.with_suffix(".binding.json")
    binding_path.write_text(binding.to_json())
    payload = {"address": signer.address, "key": str(out), "binding": str(binding_path)}
    if args.json:
        _print_json(payload)
    else:
        print(
            f"recipient {signer.address}\nprivate key file {out} (keep it secret)\n"
            f"public binding {binding_path} (give it to record owners)"
        )
    return EXIT_OK


def _load_recipient_key(path: str) -> Any:
    from okeios.crypto.recipients import RecipientPrivateKey

    try:
        document = load_json_strict(_read(path))
        return RecipientPrivateKey.from_bytes(bytes.fromhex(document["hpkeKey"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path} is not an okeios recipient key file: {exc}") from exc


def _cmd_grant(args: argparse.Namespace) -> int:
    from okeios.crypto.recipients import RecipientBinding

    binding = RecipientBinding.from_json(_read(args.recipient))
    with _store(args) as store:
        share = store.grant(args.record_id, binding, purpose=args.purpose)
    Path(args.output).write_text(share.to_json())
    payload = {"record": args.record_id, "recipient": share.recipient, "share": args.output}
    return _done(args, payload, f"granted {share.recipient}; share written to {args.output}")


def _cmd_revoke(args: argparse.Namespace) -> int:
    with _store(args) as store:
        logged = store.revoke(args.record_id, args.recipient, purpose=args.purpose)
    payload = {"record": args.record_id, "revoked": args.recipient, "event": "0x" + logged.id.hex()}
    return _done(args, payload, f"revoked {args.recipient} (event 0x{logged.id.hex()})")


def _cmd_access(args: argparse.Namespace) -> int:
    with _store(args) as store:
        logged = store.access(args.record_id, args.reader, purpose=args.purpose)
    payload = {"record": args.record_id, "reader": args.reader, "event": "0x" + logged.id.hex()}
    return _done(args, payload, f"access by {args.reader} logged (event 0x{logged.id.hex()})")


def _cmd_erase(args: argparse.Namespace) -> int:
    with _store(args) as store:
        logged = store.erase(args.record_id, purpose=args.purpose)
    payload = {"record": args.record_id, "erased": True, "event": "0x" + logged.id.hex()}
    return _done(args, payload, f"erased: keys and salts destroyed (event 0x{logged.id.hex()})")


def _cmd_history(args: argparse.Namespace) -> int:
    with _store(args) as store:
        events = store.history(args.record_id)
    if args.json:
        _print_json({"record": args.record_id, "events": events})
    else:
        for e in events:
            extra = f" -> {e['subject']}" if e["kind"] in ("grant", "revoke", "access") else ""
            print(
                f"{e['index']:>8}  v{e['version']}  {e['kind']:<7} {e['time']}{extra}  "
                f"{e['purpose']}"
            )
    return EXIT_OK


def _cmd_disclose(args: argparse.Namespace) -> int:
    if not args.field:
        raise UsageError("name at least one --field PATH to disclose")
    with _store(args) as store:
        bundle = store.export(args.record_id, fields=args.field)
    data = bundle.to_json().encode() + b"\n" if args.format == "json" else bundle.to_bytes()
    Path(args.output).write_bytes(data)
    shown = [f.path for f in bundle.disclosure.fields]
    hidden = len(bundle.disclosure.digests) - len(shown)
    if args.json:
        _print_json({"bundle": args.output, "disclosed": shown, "hidden": hidden})
    else:
        print(f"{args.output}: {len(shown)} field(s) disclosed, {hidden} hidden")
    return EXIT_OK


def _cmd_decrypt(args: argparse.Namespace) -> int:
    from okeios.crypto.share import Share
    from okeios.verify.share import open_share

    home = _home(args)
    key = _load_recipient_key(args.key)
    share = Share.from_json(_read(args.share))
    chain_pin = None
    if args.chain:
        if not (args.chain_id and args.registry):
            raise UsageError("with --chain, pin --chain-id and --registry")
        chain_pin = (args.chain_id, args.registry)
    policy = _policy(args, home, chain_pin)
    view = None
    handle = open_chain(args.chain, home) if args.chain else None
    try:
        if handle is not None:
            from okeios.chain.registry import RegistryView

            view = RegistryView(handle.w3, label=handle.label)
        record, report = open_share(share, key, policy, chain=view)
    finally:
        if handle is not None:
            handle.close()
    if args.output:
        Path(args.output).write_bytes(record)
    if args.json:
        _print_json({**report.to_dict(), "output": args.output})
    else:
        print(_report_text(args.share, report, False))
        if not args.output:
            sys.stdout.buffer.write(record + b"\n")
    return EXIT_OK if report.passed else EXIT_FAILED


def _cmd_fhir(args: argparse.Namespace) -> int:
    from okeios.fhir import record_history_fhir

    with _store(args) as store:
        bundle = record_history_fhir(store, args.record_id)
    text = json.dumps(bundle, indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return EXIT_OK


def _cmd_log(args: argparse.Namespace) -> int:
    with _store(args) as store, open(args.output, "w", encoding="utf-8") as fh:
        count = store.write_log(fh.write)
    if args.json:
        _print_json({"log": args.output, "entries": count})
    else:
        print(f"{count} entries written to {args.output}")
    return EXIT_OK


def _cmd_audit(args: argparse.Namespace) -> int:
    from okeios.chain.registry import Registry
    from okeios.verify.audit import audit_log

    home = _home(args)
    try:
        lines = Path(args.log).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read {args.log}: {exc.strerror}") from exc
    pin, chain_id = None, None
    if args.registry or args.chain_id:
        if not (args.registry and args.chain_id):
            raise UsageError("pin both --chain-id and --registry (or neither, to use trust.json)")
        pin, chain_id = args.registry, args.chain_id
    elif args.chain:
        pinned = TrustConfig.load(home).chain(args.chain)
        if pinned is None:
            raise UsageError(f"no registry pinned for {args.chain}: pass --chain-id and --registry")
        chain_id, pin = pinned
    handle = open_chain(args.chain, home) if args.chain else None
    try:
        registry = Registry(handle.w3, pin, label=handle.label) if handle and pin else None
        progress = Progress("auditing", max(len(lines) - 1, 1), force=args.progress)
        report = audit_log(
            lines,
            publisher=args.publisher,
            chain=registry,
            chain_id=chain_id,
            authors=args.author or None,
            tolerance=args.tolerance,
            progress=progress,
        )
    finally:
        if handle is not None:
            handle.close()
    if args.html:
        Path(args.html).write_text(report.to_html(), encoding="utf-8")
    if args.json:
        _print_json(report.to_dict())
    else:
        d = report.to_dict()
        print(
            f"audit of {args.log}: {d['result'].upper()}  ({d['counts']['entries']} entries, "
            f"{d['counts']['records']} records, {d['counts']['anchors']} anchors)"
        )
        for kind, first in d["firstOfEachKind"].items():
            print(
                f"  {kind} x{d['defectCounts'][kind]}: first at {first['index']}: {first['detail']}"
            )
    return EXIT_OK if report.passed else EXIT_FAILED


def _cmd_trust(args: argparse.Namespace) -> int:
    home = _home(args)
    trust = TrustConfig.load(home)
    for a in args.author:
        trust.trust_author(a)
    for p in args.publisher:
        trust.trust_publisher(p)
    identity.apply_trust_options(args, trust)
    if args.chain:
        if not (args.chain_id and args.registry):
            raise UsageError("--chain needs --chain-id and --registry")
        trust.pin_chain(args.chain, args.chain_id, args.registry)
    trust.save(home)
    _print_json(
        {
            "authors": trust.authors,
            "publishers": trust.publishers,
            "organisations": trust.organisations,
            "chains": trust.chains,
        }
    )
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from okeios.cli.demo import run_demo

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="okeios-demo-"))
    echo: Callable[[str], None] = (lambda _line: None) if args.json else print
    result = run_demo(out, count=args.count, echo=echo)
    if args.json:
        _print_json(result)
    return EXIT_OK if result["ok"] else EXIT_FAILED


def _cmd_canonical(args: argparse.Namespace) -> int:
    from hashlib import sha256

    out = canonical_bytes(_read(args.file))
    if args.json:
        print(json.dumps({"sha256": sha256(out).hexdigest(), "canonical": out.decode()}))
    else:
        sys.stdout.buffer.write(out + b"\n")
    return EXIT_OK


# --- parser ------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="okeios",
        description="Client-side provenance for personal health records.",
        epilog="Exit codes: 0 all verdicts pass, 1 a verdict failed, 2 bad input, usage or an "
        "unreachable chain. The okeios home is --home, else $OKEIOS_HOME, else ~/.okeios.",
    )
    parser.add_argument("--version", action="version", version=f"okeios {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, help_: str, func: Callable[[argparse.Namespace], int]
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument(
            "--home", metavar="DIR", help="the okeios home (default $OKEIOS_HOME or ~/.okeios)"
        )
        p.set_defaults(func=func)
        return p

    def chain_option(p: argparse.ArgumentParser, required: bool = False) -> None:
        p.add_argument(
            "--chain",
            metavar="URL|embedded",
            default=EMBEDDED if required else None,
            help="an http(s) JSON-RPC URL or 'embedded'"
            + (" (default: embedded)" if required else ""),
        )
        p.add_argument("--registry", metavar="ADDRESS", help="the AnchorRegistry contract")
        p.add_argument(
            "--confirmations",
            type=int,
            default=1,
            metavar="N",
            help="blocks that make an anchor final (default 1)",
        )

    p = command("init", "create a local store and a publisher key", _cmd_init)
    p.add_argument(
        "--log",
        default="main",
        help="a local label for the log (default main); a key has one log, its id bound to it",
    )
    p.add_argument("--key", metavar="HEX", help="use this publisher key instead of a new one")

    p = command("add", "log FHIR resources or Bundles; prints the record ids", _cmd_add)
    p.add_argument("files", nargs="+", metavar="FILE", help="FHIR JSON files, - for stdin")
    p.add_argument(
        "--progress", action="store_true", help="show progress even when not on a terminal"
    )

    p = command("anchor", "anchor the log's current checkpoint on a chain", _cmd_anchor)
    chain_option(p, required=True)
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds to wait for the anchor to become final (default 60)",
    )

    p = command("export", "write the proof bundle of a record", _cmd_export)
    p.add_argument("record_id", nargs="?", metavar="RECORD_ID", help="record (or event) id, 0x-hex")
    p.add_argument("-o", "--output", metavar="FILE", help="output file (a folder with --all)")
    p.add_argument(
        "--field", action="append", metavar="PATH", help="disclose only these fields (repeatable)"
    )
    p.add_argument("--format", choices=("binary", "json"), default="binary")
    p.add_argument("--all", action="store_true", help="export every record into the -o folder")
    p.add_argument(
        "--progress", action="store_true", help="show progress even when not on a terminal"
    )

    p = command("verify", "verify proof bundles, offline or against a chain", _cmd_verify)
    p.add_argument(
        "bundles", nargs="+", metavar="BUNDLE", help="bundle files (binary or JSON), - for stdin"
    )
    p.add_argument("--record", metavar="FILE", help="the record the (single) bundle is about")
    chain_option(p)
    p.add_argument(
        "--chain-id", type=int, metavar="N", help="the chain id to pin (with --registry)"
    )
    p.add_argument(
        "--author",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="a trusted author (repeatable; default: trust.json)",
    )
    p.add_argument(
        "--publisher",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="a trusted publisher (repeatable; default: trust.json)",
    )
    p.add_argument("--any-author", action="store_true", help="trust any author")
    p.add_argument("--any-publisher", action="store_true", help="trust any publisher")
    p.add_argument("--show-fields", action="store_true", help="print disclosed fields")
    p.add_argument("--quiet", action="store_true", help="print only failing bundles")
    p.add_argument(
        "--lineage",
        action="store_true",
        help="the bundles are one record's events: check its whole history",
    )
    p.add_argument(
        "--tolerance",
        type=int,
        default=24 * 3600,
        metavar="S",
        help="with --lineage: how long before its anchor an event may claim to be",
    )
    p.add_argument(
        "--progress", action="store_true", help="show progress even when not on a terminal"
    )
    identity.add_verify_options(p)

    p = command("trust", "pin trusted authors, publishers and chains in trust.json", _cmd_trust)
    p.add_argument("--author", action="append", default=[], metavar="ADDRESS")
    p.add_argument("--publisher", action="append", default=[], metavar="ADDRESS")
    identity.add_trust_options(p)
    p.add_argument("--chain", metavar="URL|embedded")
    p.add_argument("--chain-id", type=int, metavar="N")
    p.add_argument("--registry", metavar="ADDRESS")

    p = command("recipient", "create a recipient key and its signed public binding", _cmd_recipient)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the private key file")
    p.add_argument(
        "--binding", metavar="FILE", help="the public binding (default FILE.binding.json)"
    )
    p.add_argument(
        "--suite",
        choices=("x25519", "mlkem768-x25519"),
        default="x25519",
        help="HPKE suite; mlkem768-x25519 is the post-quantum hybrid",
    )

    p = command("grant", "give a recipient access to a record (logs a GRANT)", _cmd_grant)
    p.add_argument("record_id", metavar="RECORD_ID")
    p.add_argument(
        "--recipient", required=True, metavar="BINDING", help="the recipient's binding file"
    )
    p.add_argument("--purpose", default="", help="why access is granted")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write the share")

    p = command("revoke", "stop a recipient's access (logs a REVOKE)", _cmd_revoke)
    p.add_argument("record_id", metavar="RECORD_ID")
    p.add_argument("--recipient", required=True, metavar="ADDRESS")
    p.add_argument("--purpose", default="")

    p = command("access", "log an access receipt: who read a record, and why", _cmd_access)
    p.add_argument("record_id", metavar="RECORD_ID")
    p.add_argument("--reader", required=True, metavar="ADDRESS")
    p.add_argument("--purpose", default="")

    p = command("erase", "crypto-shred a record (logs an ERASE)", _cmd_erase)
    p.add_argument("record_id", metavar="RECORD_ID")
    p.add_argument("--purpose", default="")

    p = command(
        "history", "list a record's events: versions, grants, revocations, erasure", _cmd_history
    )
    p.add_argument("record_id", metavar="RECORD_ID")

    p = command("disclose", "write a bundle revealing only some fields", _cmd_disclose)
    p.add_argument("record_id", metavar="RECORD_ID")
    p.add_argument(
        "--field", action="append", metavar="PATH", help="a JSON Pointer to disclose (repeatable)"
    )
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--format", choices=("binary", "json"), default="binary")

    p = command("decrypt", "open a share with a recipient key and verify it", _cmd_decrypt)
    p.add_argument("share", metavar="SHARE")
    p.add_argument("--key", required=True, metavar="FILE", help="the recipient's private key file")
    p.add_argument("-o", "--output", metavar="FILE", help="write the record here (default stdout)")
    p.add_argument("--chain", metavar="URL|embedded")
    p.add_argument("--chain-id", type=int, metavar="N")
    p.add_argument("--registry", metavar="ADDRESS")
    p.add_argument("--confirmations", type=int, default=1, metavar="N")
    p.add_argument("--author", action="append", default=[], metavar="ADDRESS")
    p.add_argument("--publisher", action="append", default=[], metavar="ADDRESS")
    p.add_argument("--any-author", action="store_true")
    p.add_argument("--any-publisher", action="store_true")

    p = command(
        "fhir", "a record's history as FHIR R4 Provenance and AuditEvent resources", _cmd_fhir
    )
    p.add_argument("record_id", metavar="RECORD_ID")
    p.add_argument("-o", "--output", metavar="FILE", help="default: stdout")

    p = command("log", "publish the log (entries and checkpoints) as an audit file", _cmd_log)
    p.add_argument("-o", "--output", required=True, metavar="FILE")

    p = command("audit", "audit a published log against a publisher's anchors", _cmd_audit)
    p.add_argument("--log", required=True, metavar="FILE", help="the publisher's log file")
    p.add_argument("--publisher", required=True, metavar="ADDRESS")
    p.add_argument("--chain", metavar="URL|embedded")
    p.add_argument("--registry", metavar="ADDRESS", help="default: the one pinned for --chain")
    p.add_argument(
        "--chain-id", type=int, metavar="N", help="the chain id the audit pins (with --registry)"
    )
    p.add_argument(
        "--author",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="allowed authors (default: any)",
    )
    p.add_argument(
        "--tolerance",
        type=int,
        default=24 * 3600,
        metavar="S",
        help="how long before its anchor an event may claim to be (default 1 day)",
    )
    p.add_argument("--html", metavar="FILE", help="also write an HTML report")
    p.add_argument("--progress", action="store_true")

    p = command("demo", "run the end-to-end demonstration on the embedded chain", _cmd_demo)
    p.add_argument("--out", metavar="DIR", help="where to write records and bundles")
    p.add_argument("--count", type=int, default=8, help="number of records (default 8)")

    p = command("canonical", "print a JSON file's okeios canonical bytes", _cmd_canonical)
    p.add_argument("file", metavar="FILE", help="JSON file, - for stdin")

    identity.register(command)  # authors, rotate-key (okeios/cli/identity.py)
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
        kind = "chain error" if isinstance(exc, ChainError) else "error"
        if getattr(args, "json", False):
            print(json.dumps({"result": "error", "error": type(exc).__name__, "message": str(exc)}))
        else:
            print(f"okeios: {kind}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(
            "okeios: interrupted; the store and journal are consistent, run again to resume",
            file=sys.stderr,
        )
        return 130
    return EXIT_USAGE  # pragma: no cover - parser.error does not return
