"""The identity verbs of the ``okeios`` command line (``docs/identity.md``).

* ``okeios authors add ADDRESS --role ROLE [--from T] [--until T]``: authorise an author key;
* ``okeios authors revoke ADDRESS [--from T]``: deauthorise it (``--from`` in the past for a
  compromised key: its events not anchored before then stop verifying);
* ``okeios authors list``: the log's author keys and their state;
* ``okeios authors keygen -o FILE``: a clinician's own key file (passphrase-protected), used
  with ``okeios add --author-key FILE`` to sign events as that author;
* ``okeios authors export -o keys.json``: the key history a verifier needs;
* ``okeios authors affected ADDRESS``: the events of a key that no longer verify;
* ``okeios authors audit --log FILE --org ADDRESS --chain URL``: every author of a published
  log checked against the identity events of the whole log;
* ``okeios rotate-key --chain URL [--abort]``: hand the log over to a new publisher key
  (resumable: run it again after any failure);
* ``okeios verify --org ADDRESS --keys keys.json`` and ``okeios trust --org ADDRESS``: trust an
  organisation instead of listing its authors.

Times are Unix seconds or ISO 8601 (``2026-11-29T12:00:00Z``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from okeios._internal.config import TrustConfig
from okeios._internal.protocol.anchors import ChainView
from okeios._internal.protocol.hexcodec import from_hex, to_hex
from okeios._internal.verify.identity import Authority
from okeios._internal.verify.policy import TrustPolicy
from okeios.errors import InputError

__all__ = [
    "add_trust_options",
    "add_verify_options",
    "apply_trust_options",
    "load_authorities",
    "organisations",
    "register",
]

Command = Callable[[str, str, Callable[[argparse.Namespace], int]], argparse.ArgumentParser]


def parse_time(text: str) -> int:
    """Unix seconds, or an ISO 8601 date-time (UTC unless it names a zone)."""
    if text.isdigit():
        return int(text)
    try:
        when = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{text!r} is neither Unix seconds nor an ISO 8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return int(when.timestamp())


def _store(args: argparse.Namespace) -> Any:
    from okeios._internal.cli.options import open_store

    return open_store(args)


def _print(args: argparse.Namespace, payload: Any, text: str) -> None:
    print(json.dumps(payload, indent=2) if args.json else text)


def _cmd_authors_add(args: argparse.Namespace) -> int:
    with _store(args) as store:
        logged = store.keys.authorise(
            args.address,
            args.role,
            not_before=None if args.not_before is None else parse_time(args.not_before),
            not_after=None if args.not_after is None else parse_time(args.not_after),
            purpose=args.purpose,
        )
    e = logged.signed.event
    _print(
        args,
        {"event": to_hex(logged.id), "index": logged.index, **e.message()},
        f"authorised {e.subject} as {e.role} (entry {logged.index}, event {to_hex(logged.id)})",
    )
    return 0


def _cmd_authors_revoke(args: argparse.Namespace) -> int:
    with _store(args) as store:
        logged = store.keys.deauthorise(
            args.address,
            effective=None if args.effective is None else parse_time(args.effective),
            purpose=args.purpose,
        )
    e = logged.signed.event
    when = _dt.datetime.fromtimestamp(e.not_before, _dt.UTC).isoformat()
    _print(
        args,
        {"event": to_hex(logged.id), "index": logged.index, **e.message()},
        f"deauthorised {e.subject} from {when} (entry {logged.index}, event {to_hex(logged.id)})",
    )
    return 0


def _authority(store: Any) -> Authority:
    return Authority.from_events(
        store.keys.organisation,
        ((logged.index, logged.signed) for logged in store.keys.events()),
        size=store.size,
    )


def _cmd_authors_list(args: argparse.Namespace) -> int:
    with _store(args) as store:
        authority = _authority(store)
    at = parse_time(args.at) if args.at else int(_dt.datetime.now(_dt.UTC).timestamp())
    rows = authority.authors(at)
    keys = authority.publishers()
    payload = {"organisation": authority.genesis, "publishers": keys, "authors": rows}
    lines = [f"organisation {authority.genesis}; publisher keys {', '.join(keys)}"]
    lines += [f"  {r['key']}  {r['role']:<14} {r['state']}" for r in rows]
    _print(args, payload, "\n".join(lines))
    return 0


def _cmd_authors_export(args: argparse.Namespace) -> int:
    from okeios._internal.cli.options import check_writable, write_output

    if args.output and args.output != "-":
        check_writable(args.output)
    with _store(args) as store:
        text = store.keys.key_history()
    if args.output and args.output != "-":
        write_output(args.output, (text + "\n").encode("utf-8"))
    else:
        print(text)
    return 0


def _cmd_authors_affected(args: argparse.Namespace) -> int:
    from okeios._internal.verify.identity import affected_events

    with _store(args) as store:
        authority = _authority(store)
        events = []
        for signed in store.iter_events():
            index = store.publisher.event(signed.id).index
            entry = store.journal.anchored_for(index)
            events.append((index, signed, None if entry is None else entry.timestamp))
    found = affected_events(authority, events, args.address)
    rows = [
        {"index": i, "event": to_hex(eid), "reason": reason, "detail": detail}
        for i, eid, reason, detail in found
    ]
    text = "\n".join(f"  entry {r['index']} {r['event']} [{r['reason']}]" for r in rows)
    _print(
        args,
        {"key": args.address, "affected": rows},
        f"{len(rows)} event(s) of {args.address} no longer verify" + ("\n" + text if rows else ""),
    )
    return 0


class _ChainStep:
    """The chain step of ``rotate-key --chain URL``
    (:class:`~okeios._internal.publish.keys.HandoverChain`): each method opens the chain for itself
    (the embedded chain admits one opener at a time, and anchoring opens it too)."""

    def __init__(self, store: Any, url: str, timeout: float) -> None:
        self.store = store
        self.url = url
        self.timeout = timeout

    def _registry(self, store: Any, chain: Any) -> Any:
        from okeios._internal.chain.registry import Registry

        pinned = TrustConfig.load(store.home).chain(self.url)
        return None if pinned is None else Registry(chain.w3, pinned[1], label=chain.label)

    def check(self, new: str) -> None:
        from okeios._internal.chain.connect import open_chain
        from okeios._internal.publish.anchoring import RegistryHandover
        from okeios.errors import ChainError, KeyRotationError

        store = self.store
        trust = TrustConfig.load(store.home)
        pinned = trust.chain(self.url)
        anchored = {
            (int(cid), str(reg).lower())
            for cid, reg in store.db.execute(
                "SELECT DISTINCT chain_id, registry FROM journal WHERE state = 'final'"
            ).fetchall()
        }
        if anchored and (pinned is None or (pinned[0], pinned[1].lower()) not in anchored):
            raise KeyRotationError(
                f"the log is anchored on a registry that trust.json does not pin for {self.url}: "
                "give --chain with the chain the log was anchored on; nothing was logged"
            )
        with open_chain(self.url, store.home, timeout=self.timeout) as chain:
            try:
                actual = int(chain.w3.eth.chain_id)
                balance = int(chain.w3.eth.get_balance(store.address))
            except Exception as exc:  # any transport failure: nothing is logged
                raise ChainError(
                    f"{chain.label} does not answer ({type(exc).__name__}): nothing was logged; "
                    "run rotate-key again when it does"
                ) from exc
            if pinned is not None and actual != pinned[0]:
                raise KeyRotationError(
                    f"{chain.label} answers chain id {actual}, but the log is pinned on chain "
                    f"{pinned[0]}: nothing was logged"
                )
            if chain.embedded is None and balance == 0:
                raise ChainError(
                    f"the publisher {store.address} has no funds on {chain.label}: the old key "
                    "pays for its last anchor and the handover; fund it, then run rotate-key "
                    "again (nothing was logged)"
                )
            registry = self._registry(store, chain)
            if registry is not None:
                if not registry.has_code():
                    raise ChainError(f"no contract at {registry.address} on {chain.label}")
                RegistryHandover(store, registry).check(new)

    def anchor_old(self) -> None:
        from okeios._internal.chain.connect import open_chain
        from okeios.errors import ChainError
        from okeios.service import anchor_home

        store = self.store
        with open_chain(self.url, store.home, timeout=self.timeout) as chain:
            registry = self._registry(store, chain)
            if registry is not None and registry.successor_of(store.address, store.log_id):
                return  # handed over already
        # the log's first anchor deploys and pins a registry when none is pinned yet
        result = anchor_home(store, self.url, rpc_timeout=self.timeout)
        if not result.final:
            raise ChainError(
                f"the anchor of the tree ending with the handover ({result.tree_size} entries) "
                "is not final yet: run rotate-key again to finish the rotation"
            )

    def hand_over(self, new: str) -> None:
        from okeios._internal.chain.connect import open_chain
        from okeios._internal.publish.anchoring import RegistryHandover

        store = self.store
        with open_chain(self.url, store.home, timeout=self.timeout) as chain:
            try:
                registry = self._registry(store, chain)
                if registry is None:
                    raise InputError(f"no registry pinned for {self.url}: run okeios anchor first")
                RegistryHandover(store, registry).hand_over(new)
            finally:
                chain.save()


def _cmd_authors_audit(args: argparse.Namespace) -> int:
    from okeios._internal.cli import options as o
    from okeios._internal.cli.options import home as resolve_home
    from okeios._internal.verify.identity_audit import audit_identity

    home = resolve_home(args)
    try:
        lines = Path(args.log).read_text().splitlines()
    except OSError as exc:
        raise InputError(f"cannot read {args.log}: {exc.strerror}") from exc
    at = parse_time(args.at) if args.at else int(_dt.datetime.now(_dt.UTC).timestamp())
    if args.chain:
        from okeios._internal.chain.connect import open_chain
        from okeios._internal.chain.registry import Registry

        pinned = TrustConfig.load(home).chain(args.chain)
        address = args.registry or (pinned[1] if pinned else None)
        if address is None:
            raise InputError(f"no registry pinned for {args.chain}: pass --registry")
        with open_chain(args.chain, home) as chain:
            registry = Registry(chain.w3, address, label=chain.label)
            report = audit_identity(lines, organisation=args.org, chain=registry, at=at)
    else:
        report = audit_identity(lines, organisation=args.org, chain=None, at=at)
    safe = o.safe  # everything below came from the log file
    text = [
        f"identity audit of {safe(report.organisation)}: {'PASS' if report.passed else 'FAIL'} "
        f"({report.events} events, publisher keys {safe(', '.join(report.publishers))}"
        + ("" if report.chain_checked else "; no chain: times not proven")
        + ")"
    ]
    text += [
        f"  [{f.kind}] "
        + (
            f"entry {f.index} {to_hex(f.event_id)} by {safe(f.author)}: "
            if f.index is not None and f.event_id is not None and f.author is not None
            else ""
        )
        + safe(f.detail)
        for f in report.findings
    ]
    _print(args, report.to_dict(), "\n".join(text))
    return 0 if report.passed else 1


def _cmd_rotate_key(args: argparse.Namespace) -> int:
    key = from_hex(args.key, "--key", size=32, prefix=False, any_case=True) if args.key else None
    with _store(args) as store:
        if args.abort:
            abandoned = store.keys.abort()
            _print(
                args,
                {"aborted": abandoned, "publisher": store.address},
                f"rolled back the rotation to {abandoned} (kept in retired-keys/ as abandoned); "
                f"{store.address} stays the publisher key",
            )
            return 0
        if not args.chain:
            raise InputError(
                "rotate-key needs --chain URL|embedded: the old key anchors the tree ending with "
                "the handover (the log's first anchor if it was never anchored) and hands the log "
                "over in the registry; without that no key could anchor the log again"
            )
        old = store.address
        logged = store.keys.rotate(
            key, purpose=args.purpose, chain=_ChainStep(store, args.chain, args.chain_timeout)
        )
        new, home, org = store.address, store.home, store.keys.organisation
    trust = TrustConfig.load(home)
    trust.trust_publisher(new)
    trust.save(home)
    _print(
        args,
        {
            "organisation": org,
            "old": old,
            "new": new,
            "event": to_hex(logged.id),
            "index": logged.index,
        },
        f"handed the log over from {old} to {new} (entry {logged.index}); the old key anchored "
        "it and handed the log over on chain, and is kept in retired-keys/; fund the new key "
        "before its first anchor",
    )
    return 0


AUTHOR_PASSPHRASE_ENV = "OKEIOS_AUTHOR_PASSPHRASE"


def _author_passphrase(path: str, *, confirm: bool = False) -> str:
    import os

    from okeios._internal.cli.options import ask_passphrase

    passphrase = os.environ.get(AUTHOR_PASSPHRASE_ENV) or ask_passphrase(
        f"passphrase of the author key {path}: ", confirm=confirm
    )
    if not passphrase:
        raise InputError(
            f"the author key {path} is protected by a passphrase: set {AUTHOR_PASSPHRASE_ENV} "
            "or run on a terminal"
        )
    return passphrase


def load_author_key(path: str) -> Any:
    """The author key in ``path``, opened with its passphrase (``$OKEIOS_AUTHOR_PASSPHRASE``,
    else asked on the terminal): an okeios key file (``okeios authors keygen``) or an Ethereum
    keystore (Web3 Secret Storage, as wallets export it)."""
    from okeios._internal.crypto.keyfile import unprotect_secret
    from okeios._internal.protocol.signing import LocalSigner
    from okeios.errors import OkeiosError

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    passphrase = _author_passphrase(path)
    try:
        doc = json.loads(data)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and ("crypto" in doc or "Crypto" in doc):
        from eth_account import Account

        try:
            key = bytes(Account.decrypt(doc, passphrase))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"cannot open the keystore {path}: {exc}") from exc
        return LocalSigner.from_key(key)
    try:
        return LocalSigner.from_key(unprotect_secret(data, passphrase))
    except OkeiosError as exc:
        raise InputError(f"cannot open the author key {path}: {exc}") from exc


def _cmd_authors_keygen(args: argparse.Namespace) -> int:
    from okeios._internal.crypto.keyfile import protect_secret
    from okeios._internal.files import write_atomic
    from okeios._internal.protocol.signing import LocalSigner

    if Path(args.output).exists():
        raise InputError(f"{args.output} exists: an author key is never overwritten")
    signer = LocalSigner.generate()
    passphrase = _author_passphrase(args.output, confirm=True)
    write_atomic(args.output, protect_secret(signer.private_key, passphrase), private=True)
    _print(
        args,
        {"address": signer.address, "file": args.output},
        f"author key {signer.address} written to {args.output} (mode 0600); the organisation "
        f"authorises it with: okeios authors add {signer.address} --role ROLE",
    )
    return 0


def register(command: Command) -> None:
    """Add the identity verbs to the parser (``command`` is main's sub-command factory)."""
    from okeios._internal.cli import options as o

    p = command("authors", "authorise, revoke and list the log's author keys", _no_verb)
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(
        name: str, help_: str, func: Callable[[argparse.Namespace], int]
    ) -> argparse.ArgumentParser:
        q: argparse.ArgumentParser = verbs.add_parser(
            name, help=help_, description=help_, epilog=o.EXIT_CODES_HELP
        )
        # SUPPRESS: ``okeios authors --json list`` and ``okeios authors list --json`` both work
        q.add_argument(
            "--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object"
        )
        o.home_option(q)
        o.verbosity_options(q)
        q.set_defaults(func=func)
        return q

    q = verb("add", "authorise an author key (logs an AUTHORISE)", _cmd_authors_add)
    q.add_argument("address", metavar="ADDRESS", help="the author key's address")
    q.add_argument("--role", required=True, help="for example physician, nurse, device")
    q.add_argument("--from", dest="not_before", metavar="TIME", help="default: now")
    q.add_argument("--until", dest="not_after", metavar="TIME", help="default: no end")
    o.purpose_option(q)
    q = verb("revoke", "deauthorise an author key (logs a DEAUTHORISE)", _cmd_authors_revoke)
    q.add_argument("address", metavar="ADDRESS", help="the author key's address")
    q.add_argument(
        "--from",
        dest="effective",
        metavar="TIME",
        help="when the key stops being valid (default now; earlier for a compromised key)",
    )
    o.purpose_option(q, "for example 'left' or 'key compromised'")
    q = verb(
        "keygen",
        "make an author key file protected by a passphrase (a clinician's own key)",
        _cmd_authors_keygen,
    )
    q.add_argument("-o", "--output", required=True, metavar="FILE", help="the key file to write")
    q = verb("list", "the log's author keys and their state", _cmd_authors_list)
    q.add_argument("--at", metavar="TIME", help="state at this time (default now)")
    q = verb("export", "write the key history verifiers need", _cmd_authors_export)
    o.output_option(q)
    q = verb("affected", "the events of a key that no longer verify (audit)", _cmd_authors_affected)
    q.add_argument("address", metavar="ADDRESS", help="the author key's address")
    q = verb(
        "audit",
        "check every author of a published log (okeios log) against its identity events",
        _cmd_authors_audit,
    )
    q.add_argument("--log", required=True, metavar="FILE", help="the organisation's log file")
    q.add_argument("--org", required=True, metavar="ADDRESS", help="its first publisher key")
    q.add_argument("--chain", metavar="URL|embedded", help="read every key's anchors here")
    q.add_argument("--registry", metavar="ADDRESS", help="default: the one pinned for --chain")
    q.add_argument("--at", metavar="TIME", help="state of the authors at this time")

    p = command("rotate-key", "hand the log over to a new publisher key", _cmd_rotate_key)
    p.add_argument("--key", metavar="HEX", help="the new key (default: a fresh one)")
    o.purpose_option(p)
    p.add_argument(
        "--chain",
        metavar="URL|embedded",
        help="anchor the handover with the old key on this chain's pinned registry (the log's "
        "first anchor if it was never anchored), then hand the log over there (required)",
    )
    p.add_argument(
        "--chain-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="RPC timeout (default 10)",
    )
    p.add_argument(
        "--abort",
        action="store_true",
        help="roll back a rotation whose handover is not logged yet (the staged key is kept, "
        "marked abandoned); one whose handover is logged can only be finished: run again",
    )


def _no_verb(args: argparse.Namespace) -> int:  # pragma: no cover - argparse requires a verb
    return 2


def add_verify_options(p: argparse.ArgumentParser) -> None:
    """``--org``, ``--role`` and ``--keys`` for ``okeios verify``."""
    p.add_argument(
        "--org",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="a trusted organisation (its first publisher key; repeatable; default trust.json)",
    )
    p.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="ROLE",
        help="with --org: accept only these roles (repeatable)",
    )
    p.add_argument(
        "--keys",
        action="append",
        default=[],
        metavar="FILE",
        help="an organisation's key history (okeios authors export; repeatable)",
    )


def add_trust_options(p: argparse.ArgumentParser) -> None:
    """``--org`` and ``--role`` for ``okeios trust``."""
    p.add_argument(
        "--org",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="pin this organisation (its first publisher key) as trusted (repeatable)",
    )
    p.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="ROLE",
        help="with --org: a role its authors may hold (repeatable; default: any role)",
    )


def apply_trust_options(args: argparse.Namespace, trust: TrustConfig) -> None:
    for org in args.org:
        trust.trust_organisation(org, args.role or None)


def organisations(
    args: argparse.Namespace, trust: TrustConfig
) -> dict[str, Sequence[str] | None] | None:
    """The organisations to pin: ``--org`` (with ``--role``), else trust.json's."""
    orgs, roles = getattr(args, "org", []), getattr(args, "role", [])
    if orgs:
        return {org: (roles or None) for org in orgs}
    if roles:
        raise InputError("--role goes with --org")
    return dict(trust.organisations) or None


def load_authorities(
    args: argparse.Namespace, policy: TrustPolicy, chain: ChainView | None
) -> dict[bytes, Authority] | None:
    """The authorisation state of each ``--keys`` file, verified under ``policy``
    (:func:`okeios._internal.verify.trust.load_authorities`)."""
    from okeios._internal.verify.trust import load_authorities as load

    if not getattr(args, "keys", None):
        return None
    histories: list[bytes] = []
    for name in args.keys:
        try:
            histories.append(Path(name).read_bytes())
        except OSError as exc:
            raise InputError(f"cannot read {name}: {exc.strerror}") from exc
    return load(histories, policy, chain)
