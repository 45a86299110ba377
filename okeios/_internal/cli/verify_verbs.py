"""The verifier's verbs: ``verify`` (and ``verify --lineage``), ``decrypt``, ``audit``.

Each resolves its chain and trust pins through :mod:`okeios._internal.cli.options` and follows the
one exit-code rule: 0 every required verdict passed, 1 a verdict failed, 2 could not decide.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

from okeios._internal.cli import identity
from okeios._internal.cli import options as o
from okeios._internal.config import TrustConfig
from okeios._internal.protocol.hexcodec import to_hex
from okeios.errors import OkeiosError

__all__ = ["register"]


def exit_code(outcome: str) -> int:
    """The exit code of a verification outcome (``pass``, ``fail``, ``undecided``)."""
    return {"pass": o.EXIT_OK, "fail": o.EXIT_FAILED}.get(str(outcome), o.EXIT_UNDECIDED)


def combine(outcomes: list[str]) -> str:
    """A run's outcome: fail if any failed, else undecided if any was, else pass."""
    if "fail" in outcomes:
        return "fail"
    if any(x != "pass" for x in outcomes):
        return "undecided"
    return "pass"


def report_text(name: str, report: Any, show_fields: bool) -> str:
    """A report for the terminal: the headline names what was not checked; every string that
    came from the bundle is escaped; fields are shown only when integrity passed."""
    lines = [f"{o.safe(name)}: {report.headline()}"]
    for v in report.verdicts:
        reason = f" [{v.reason}]" if v.reason else ""
        lines.append(f"  {v.property:<15} {v.status}{reason} {o.safe(v.detail)}")
    if show_fields:
        if report.verdict("integrity").passed:
            lines.extend(
                f"  field {o.safe(path)} = {o.safe(value)}" for path, value in report.disclosed
            )
        else:
            lines.append("  (fields not shown: integrity did not pass)")
    return "\n".join(lines)


def report_dict(report: Any, show_fields: bool) -> dict[str, Any]:
    out: dict[str, Any] = report.to_dict()
    if not show_fields or not report.verdict("integrity").passed:
        out["disclosed"] = sorted(out["disclosed"])  # paths only, values only when asked
    return out


def _cmd_verify(args: argparse.Namespace) -> int:
    where = o.home(args)
    pin = o.resolve_pin(args, where)
    policy = o.trust_policy(args, where, pin)
    if args.record and len(args.bundles) != 1:
        raise o.UsageError("--record goes with exactly one bundle")
    if args.lineage and args.record:
        raise o.UsageError("--record does not go with --lineage")
    record = o.read_input(args.record, what="record") if args.record else None
    if pin is None:
        return _verify_all(args, policy, record, None)
    with o.open_pinned(pin, where, timeout=args.chain_timeout) as (_handle, view):
        return _verify_all(args, policy, record, view)


def _verify_all(args: argparse.Namespace, policy: Any, record: bytes | None, view: Any) -> int:
    from okeios._internal.verify.bundle import verify_bundle

    if args.lineage:
        return _lineage(args, policy, view)
    authorities = identity.load_authorities(args, policy, view)
    results: list[tuple[str, Any, str | None]] = []  # (name, report or None, error)
    with o.Progress("verifying", len(args.bundles), force=args.progress) as progress:
        for name in args.bundles:
            try:
                data = o.read_input(name, what="bundle")
                report = verify_bundle(
                    data, policy, record=record, chain=view, authorities=authorities
                )
                results.append((name, report, None))
            except OkeiosError as exc:  # this file could not be checked: say so, go on
                results.append((name, None, f"{type(exc).__name__}: {exc}"))
            progress()
    # Bundles of one event that disagree are the author's equivocation, whichever passed alone.
    from okeios._internal.verify.bulk import mark_equivocations

    read = [i for i, (_, r, _) in enumerate(results) if r is not None]
    marked = mark_equivocations([results[i][1] for i in read])
    for i, report in zip(read, marked, strict=True):
        results[i] = (results[i][0], report, None)
    outcomes = [str(r.outcome) if r is not None else "undecided" for _, r, _ in results]
    overall = combine(outcomes)
    if args.json:
        entries = [
            report_dict(r, args.show_fields)
            if r is not None
            else {"result": "undecided", "error": err}
            for _, r, err in results
        ]
        if len(results) == 1:
            o.print_json({"file": results[0][0], **entries[0]})
        else:
            o.print_json(
                {
                    "result": overall,
                    "count": len(results),
                    "passed": outcomes.count("pass"),
                    "failed": outcomes.count("fail"),
                    "undecided": outcomes.count("undecided"),
                    "bundles": {
                        name: entry for (name, _, _), entry in zip(results, entries, strict=True)
                    },
                }
            )
    else:
        for (name, report, err), outcome in zip(results, outcomes, strict=True):
            if args.quiet and outcome == "pass":
                continue
            if report is None:
                print(f"{o.safe(name)}: UNDECIDED (could not be read: {o.safe(err)})")
            else:
                print(report_text(name, report, args.show_fields))
        if len(results) > 1:
            print(
                f"{outcomes.count('pass')} of {len(results)} bundles pass, "
                f"{outcomes.count('fail')} fail, {outcomes.count('undecided')} undecided"
            )
    return exit_code(overall)


def _lineage(args: argparse.Namespace, policy: Any, view: Any) -> int:
    from okeios._internal.verify.lineage import verify_lineage

    bundles = [o.read_input(n, what="bundle") for n in args.bundles]
    lineage = verify_lineage(
        bundles,
        policy,
        chain=view,
        tolerance=args.tolerance,
        authorities=identity.load_authorities(args, policy, view),
    )
    outcomes = [str(r.outcome) for r in lineage.reports]
    verdict = lineage.verdict
    outcomes.append(str(verdict.status) if str(verdict.status) in ("pass", "fail") else "undecided")
    overall = combine(outcomes)
    if args.json:
        o.print_json({**lineage.to_dict(), "result": overall})
    else:
        reason = f" [{verdict.reason}]" if verdict.reason else ""
        print(f"lineage {overall.upper()}: {verdict.status}{reason}: {o.safe(verdict.detail)}")
    return exit_code(overall)


def _load_recipient_key(path: str) -> Any:
    """A recipient key file, opened with its passphrase first when it is sealed under one
    (``okeios recipient --passphrase``)."""
    from okeios._internal.crypto.keyfile import PROTECTED_FORMAT, unprotect_secret
    from okeios._internal.crypto.recipient_file import load_recipient_key

    data = o.read_input(path, limit=1 << 20, what="key file")
    if f'"format": "{PROTECTED_FORMAT}"'.encode() in data:  # load_* then checks it whole
        data = unprotect_secret(data, o.recipient_passphrase(path))
    return load_recipient_key(data, path)


def _cmd_decrypt(args: argparse.Namespace) -> int:
    from okeios._internal.crypto.share import Share
    from okeios._internal.verify.share import open_share

    where = o.home(args)
    pin = o.resolve_pin(args, where)
    policy = o.trust_policy(args, where, pin)
    if args.output:
        o.check_writable(args.output)
    key = _load_recipient_key(args.key)
    share = Share.from_json(o.read_input(args.share, what="share"))
    if pin is None:
        authorities = identity.load_authorities(args, policy, None)
        record, report = open_share(share, key, policy, authorities=authorities)
    else:
        with o.open_pinned(pin, where, timeout=args.chain_timeout) as (_handle, view):
            authorities = identity.load_authorities(args, policy, view)
            record, report = open_share(share, key, policy, chain=view, authorities=authorities)
    outcome = str(report.outcome)
    revocation = _revocation(args, share)
    if revocation.get("revoked"):
        outcome = "fail"  # the publisher withdrew this recipient's access: not to be used
    written = None
    if outcome == "pass" and args.output:  # only verified plaintext is ever written
        o.write_output(args.output, record + b"\n", private=True)
        written = args.output
    if args.json:
        o.print_json(
            {
                **report_dict(report, False),
                "result": outcome,
                "output": written,
                "revocation": revocation,
            }
        )
    else:
        print(report_text(args.share, report, False), file=sys.stderr if not args.output else None)
        o.note(f"revocation: {revocation['detail']}")
        if outcome != "pass":
            o.note("the record is not shown or written: it did not verify")
        elif not args.output:
            sys.stdout.buffer.write(record + b"\n")
    return exit_code(outcome)


def _revocation(args: argparse.Namespace, share: Any) -> dict[str, Any]:
    """Whether the share's grant was revoked, as far as the publisher's published log
    (``--log FILE``) tells: a REVOKE of this recipient for this record after the GRANT, signed
    by the share's publisher. Without ``--log``, not checked, and said so."""
    event = share.bundle.event.event
    if not args.log:
        return {
            "checked": False,
            "detail": "NOT CHECKED: a share opens after its grant was revoked too; pass --log "
            "FILE (the publisher's published log, okeios log -o) to check it was not",
        }
    from okeios._internal.protocol.events import EventKind
    from okeios._internal.protocol.logfile import read_log

    with open(args.log, encoding="utf-8") as fh:
        parsed = read_log(fh)
    publisher = share.bundle.checkpoint.publisher
    if parsed.publisher != publisher:
        raise o.UsageError(
            f"{args.log} is the log of {parsed.publisher}, the share's publisher is {publisher}"
        )
    last: tuple[int, Any] | None = None  # the latest GRANT or REVOKE of this recipient
    for position, signed, _ in parsed.entries:
        if signed is None:
            continue
        e = signed.event
        if (
            e.kind in (EventKind.GRANT, EventKind.REVOKE)
            and e.record_id == event.record_id
            and e.subject == share.recipient
            and signed.recover() in (e.author, publisher)
        ):
            last = (position, signed)
    if last is not None and last[1].event.kind is EventKind.REVOKE:
        position, signed = last
        return {
            "checked": True,
            "revoked": True,
            "event": to_hex(signed.id),
            "index": position,
            "detail": f"REVOKED: the publisher revoked {share.recipient}'s access at entry "
            f"{position} ({signed.event.purpose or 'no purpose given'}): do not use this "
            "record",
        }
    return {
        "checked": True,
        "revoked": False,
        "entries": len(parsed.entries),
        "detail": f"not revoked in the {len(parsed.entries)} entries of {args.log} (a later "
        "log may say otherwise)",
    }


def _cmd_audit(args: argparse.Namespace) -> int:
    from okeios._internal.cli import interop
    from okeios._internal.verify.audit import audit_log

    if bool(args.log) == bool(args.tiles):
        raise o.UsageError("give --log FILE or --tiles DIR|URL")
    where = o.home(args)
    pin = o.resolve_pin(args, where)
    lines: list[str] = []
    data = b""
    if args.log:
        data = o.read_input(args.log, limit=1 << 32, what="log file")
        try:
            lines = data.decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise o.UsageError(f"{args.log} is not UTF-8 text (byte {exc.start})") from exc
    required = o.required_properties(args, pin)
    progress = o.Progress("auditing", max(len(lines) - 1, 1), force=args.progress)

    def run(registry: Any) -> Any:
        chain_id = pin.chain_id if pin is not None else None
        if args.tiles:
            return interop.tiles_audit(args, registry, None, chain_id=chain_id)
        with progress:
            return audit_log(
                lines,
                publisher=args.publisher,
                chain=registry,
                chain_id=chain_id,
                authors=args.author or None,
                tolerance=args.tolerance,
                progress=progress,
                require_anchoring="anchoring" in required,
            )

    if pin is None:
        report = run(None)
    else:
        from okeios._internal.chain.registry import Registry

        with o.open_pinned(pin, where, timeout=args.chain_timeout) as (handle, view):
            o.check_chain_id(view, pin)
            report = run(Registry(handle.w3, pin.registry, label=handle.label))
    source = args.log or args.tiles
    if args.html or args.pdf:
        from okeios._internal.cli.report import write_audit_report

        write_audit_report(
            report,
            lines,
            html=args.html,
            pdf=args.pdf,
            chain_id=pin.chain_id if pin is not None else None,
            registry=pin.registry if pin is not None else None,
            chain_url=pin.spec if pin is not None else None,
            log_sha256=hashlib.sha256(data).hexdigest() if args.log else None,
            labels=TrustConfig.load(where).labels,
            source=Path(source).name,
        )
    d = report.to_dict()
    outcome, headline = report.outcome, report.headline()
    if args.json:
        o.print_json(d)
    else:
        print(
            f"audit of {o.safe(source)}: {headline}  ({d['counts']['entries']} entries, "
            f"{d['counts']['records']} records, {d['counts']['anchors']} anchors vouching for "
            f"the first {d['counts']['anchoredEntries']} entries)"
        )
        for kind, first in d["firstOfEachKind"].items():
            at = "" if first["index"] is None else f" at entry {first['index']}"
            print(f"  {kind} x{d['defectCounts'][kind]}: first{at}: {o.safe(first['detail'])}")
    return exit_code(outcome)


def verify_page() -> bytes:
    """The verify page: one self-contained HTML file (the TypeScript verifier of ``js/``,
    built by ``npm run build --prefix js`` and shipped as package data), which checks a bundle
    in the reader's browser and makes no network request unless the reader enters a chain URL."""
    from importlib.resources import files

    return files("okeios").joinpath("assets", "verify-page.html").read_bytes()


def _cmd_verify_page(args: argparse.Namespace) -> int:
    page = verify_page()
    if args.output:
        o.check_writable(args.output)
        o.write_output(args.output, page)
        if args.json:
            o.print_json({"output": args.output, "bytes": len(page)})
        else:
            o.note(f"wrote {args.output}: open it in a browser and drop a bundle on it")
    else:
        sys.stdout.buffer.write(page)
    return o.EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from okeios._internal.cli.report import run_report

    return run_report(args, o.home(args))


def register(sub: Any) -> None:
    from okeios._internal.cli import interop
    from okeios._internal.cli.report import configure_report_parser

    p = o.command(sub, "verify", "verify proof bundles, offline or against a chain", _cmd_verify)
    p.add_argument(
        "bundles", nargs="+", metavar="BUNDLE", help="bundle files (binary or JSON), - for stdin"
    )
    p.add_argument("--record", metavar="FILE", help="the record the (single) bundle is about")
    o.chain_options(p)
    o.trust_options(p)
    identity.add_verify_options(p)
    o.require_option(p)
    p.add_argument(
        "--show-fields",
        action="store_true",
        help="print the disclosed field values (only when integrity passed; escaped)",
    )
    p.add_argument(
        "--lineage",
        action="store_true",
        help="the bundles are one record's events: check its whole history",
    )
    o.tolerance_option(p, "with --lineage: ")
    o.progress_option(p)

    p = o.command(
        sub,
        "verify-page",
        "write the verify page: one HTML file that checks a bundle in any browser, offline",
        _cmd_verify_page,
    )
    o.output_option(p, "write the page here (default: stdout)")

    p = o.command(sub, "decrypt", "open a share with a recipient key and verify it", _cmd_decrypt)
    p.add_argument("share", metavar="SHARE", help="the share file a grant wrote (okeios grant -o)")
    p.add_argument("--key", required=True, metavar="FILE", help="the recipient's private key file")
    p.add_argument(
        "--log",
        metavar="FILE",
        help="the publisher's published log (okeios log -o): check the grant was not revoked "
        "(default: not checked, and said so)",
    )
    o.output_option(p, "write the record here, mode 0600, only if it verified (default stdout)")
    o.chain_options(p)
    o.trust_options(p)
    identity.add_verify_options(p)
    o.require_option(p)

    p = o.command(sub, "audit", "audit a published log against a publisher's anchors", _cmd_audit)
    p.add_argument("--log", metavar="FILE", help="the publisher's log file")
    interop.add_audit_options(p)
    p.add_argument(
        "--publisher",
        required=True,
        metavar="ADDRESS",
        help="the publisher whose log is audited (its first key, as pinned)",
    )
    o.chain_options(p)
    o.require_option(p)
    o.authors_option(p, "allowed authors (default: any)")
    o.tolerance_option(p)
    p.add_argument("--html", metavar="FILE", help="also write the report as an HTML page")
    p.add_argument("--pdf", metavar="FILE", help="also write the report as PDF (needs Chromium)")
    o.progress_option(p)

    p = o.command(
        sub,
        "report",
        "a record's history for its patient: versions, sharing, every access, erasure",
        _cmd_report,
    )
    configure_report_parser(p)
