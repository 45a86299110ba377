"""What every ``okeios`` verb shares: exit codes, option blocks, the chain and trust resolver,
reading input, the store passphrase, safe terminal output.

**One resolver for chain and trust pins** (:func:`resolve_pin`, :func:`trust_policy`), used by
every verb that talks to a chain (``verify``, ``decrypt``, ``audit``, ``anchor``, ``verify
--lineage``): each setting comes from its flag first, then from ``trust.json`` in the home; a
chain id and registry must both be known; and the chain id is checked against what the node
answers (:func:`open_pinned`), so a verb never reads anchors from a chain it did not mean.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from okeios._internal.config import EMBEDDED, TrustConfig
from okeios.errors import ChainError, ChainMismatchError, InputError, UsageError

if TYPE_CHECKING:
    from okeios._internal.chain.connect import ChainHandle
    from okeios._internal.verify.policy import TrustPolicy

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_UNDECIDED",
    "EXIT_USAGE",
    "ChainPin",
    "UsageError",
    "command",
]

EXIT_OK = 0  # every required verdict passed (or the command did what it was asked)
EXIT_FAILED = 1  # a verdict failed
EXIT_UNDECIDED = 2  # could not decide: bad input, usage, an unreachable chain
EXIT_USAGE = EXIT_UNDECIDED

EXIT_CODES_HELP = (
    "Exit codes: 0 every required verdict passed (or the command did its job); 1 a verdict "
    "failed; 2 could not decide: bad input, usage, an unreachable chain, or a required "
    "property that was not checked."
)

#: The largest input file a verb reads whole (a bundle, a record, a share, a key).
MAX_INPUT = 64 * 1024 * 1024
DEFAULT_CHAIN_TIMEOUT = 30.0

log = logging.getLogger("okeios")


#: The help of a verb's RECORD argument: every verb resolves it with ``Store.find_event``.
RECORD_HELP = "the record: its id or one of its event ids (0x-hex), or its FHIR Type/id"

FORMAT_HELP = "binary (compact, the default) or json (readable, the same bundle)"

# --- option blocks ----------------------------------------------------------------------------


def command(
    sub: Any, name: str, help_: str, func: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    """Add a verb with the options every verb has (``--json``, ``--home``, ``-v``, ``-q``)."""
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=help_, description=help_, epilog=EXIT_CODES_HELP
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    home_option(p)
    verbosity_options(p)
    p.set_defaults(func=func)
    return p


def home_option(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: a --home given after the verb overrides the one before it, and an absent one
    # leaves the global value alone.
    p.add_argument(
        "--home",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="the okeios home (default $OKEIOS_HOME or ~/.okeios); also before the verb",
    )


def verbosity_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="log more to stderr (-vv for debug; -vvv also the libraries' own debug lines)",
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print less: no warnings, progress notes, or (verify) passing bundles",
    )


def progress_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress", action="store_true", help="show progress even when not on a terminal"
    )


def purpose_option(
    p: argparse.ArgumentParser, help_: str = "why, recorded in the signed event (default: none)"
) -> None:
    """``--purpose``: the free-text purpose of the event a verb logs."""
    p.add_argument("--purpose", default="", help=help_)


def output_option(
    p: argparse.ArgumentParser, help_: str = "default: stdout", *, required: bool = False
) -> None:
    """``-o``/``--output FILE``: where a verb writes what it makes."""
    p.add_argument("-o", "--output", required=required, metavar="FILE", help=help_)


def share_output_option(p: argparse.ArgumentParser) -> None:
    """``-o``/``--output`` of the verbs that write a recipient's share."""
    output_option(p, "where to write the share (0600)", required=True)


def tolerance_option(p: argparse.ArgumentParser, when: str = "") -> None:
    """``--tolerance S``: how far before its anchor an event's claimed time may lie."""
    p.add_argument(
        "--tolerance",
        type=int,
        default=24 * 3600,
        metavar="S",
        help=when + "how long before its anchor an event may claim to be (default 1 day)",
    )


def authors_option(p: argparse.ArgumentParser, help_: str) -> None:
    """``--author ADDRESS`` (repeatable)."""
    p.add_argument("--author", action="append", default=[], metavar="ADDRESS", help=help_)


def publishers_option(p: argparse.ArgumentParser, help_: str) -> None:
    """``--publisher ADDRESS`` (repeatable)."""
    p.add_argument("--publisher", action="append", default=[], metavar="ADDRESS", help=help_)


def trust_options(p: argparse.ArgumentParser) -> None:
    """``--author``/``--publisher`` (default: trust.json) and their explicit "anyone" forms."""
    authors_option(p, "a trusted author (repeatable; default: trust.json)")
    publishers_option(p, "a trusted publisher (repeatable; default: trust.json)")
    any_options(p)


def any_options(p: argparse.ArgumentParser, *, when: str = "", publisher: bool = True) -> None:
    """``--any-author``/``--any-publisher`` (aliases ``--insecure-any-...``): trust anyone,
    with a warning on stderr and an ``insecure`` member in the JSON, as the result then proves
    only that *someone* signed."""
    p.add_argument(
        "--any-author",
        "--insecure-any-author",
        dest="any_author",
        action="store_true",
        help=when + "trust any author (INSECURE: proves only that someone signed; warns)",
    )
    if publisher:
        p.add_argument(
            "--any-publisher",
            "--insecure-any-publisher",
            dest="any_publisher",
            action="store_true",
            help=when + "trust any publisher (INSECURE: proves only that someone logged; warns)",
        )


_ANYONE: list[str] = []


def warn_anyone(args: argparse.Namespace) -> None:
    """Say loudly (stderr, even with ``-q``) that ``--any-author``/``--any-publisher`` trusted
    nobody in particular; :func:`print_json` then adds an ``insecure`` member."""
    who = [w for w in ("author", "publisher") if getattr(args, f"any_{w}", False)]
    _ANYONE[:] = who
    if who:
        print(f"okeios: WARNING: {insecure_text(who)}", file=sys.stderr)


def insecure_text(who: list[str]) -> str:
    names = " and ".join(f"--any-{w}" for w in who)
    roles = " or ".join(f"{w}s" for w in who)
    return (
        f"{names}: no {roles} were trusted; a pass proves only that some key signed, "
        "not that anyone you trust did"
    )


def chain_options(p: argparse.ArgumentParser, *, default: str | None = None) -> None:
    """``--chain``, ``--chain-id``, ``--registry``, ``--confirmations``, ``--chain-timeout``.
    With a ``default`` chain (``anchor``), ``$OKEIOS_CHAIN`` and ``okeios.toml`` come first
    (:func:`apply_settings`)."""
    p.add_argument(
        "--chain",
        metavar="URL|embedded",
        default=None,
        help="an http(s) JSON-RPC URL, or 'embedded' (the in-process chain of this home)"
        + (
            f" (default: $OKEIOS_CHAIN, else okeios.toml's chain.url, else {default})"
            if default
            else ""
        ),
    )
    if default:
        p.set_defaults(chain_default=default)
    p.add_argument(
        "--chain-id",
        type=int,
        metavar="N",
        help="the chain id to expect (default: trust.json's pin for --chain)",
    )
    p.add_argument(
        "--registry",
        metavar="ADDRESS",
        help="the AnchorRegistry contract (default: trust.json's pin for --chain)",
    )
    p.add_argument(
        "--confirmations",
        type=int,
        default=None,
        metavar="N",
        help="blocks that make an anchor final (default: okeios.toml's chain.confirmations, "
        "else 1)",
    )
    p.add_argument(
        "--chain-timeout",
        type=float,
        default=None,
        metavar="S",
        help="give up on the chain after S seconds for the whole run (default: okeios.toml's "
        "chain.timeout, else 30): exit 2",
    )


def require_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="PROPERTY",
        help="a property that must pass (repeatable or comma-separated: integrity, "
        "authenticity, inclusion, anchoring, consistency, confidentiality). Default: the "
        "offline four, plus anchoring and consistency when --chain is given. A required "
        "property that was not checked gives exit 2, never a pass",
    )


# --- home, input, output ----------------------------------------------------------------------


def home(args: argparse.Namespace) -> Path:
    from okeios._internal.config import resolve_home

    return resolve_home(getattr(args, "home", None))


def read_input(path: str, *, limit: int = MAX_INPUT, what: str = "file") -> bytes:
    """A whole input file (``-`` for stdin), at most ``limit`` bytes; errors name the file."""
    if path == "-":
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise InputError(f"stdin: the {what} is larger than the {limit}-byte limit")
        return data
    from okeios._internal.files import read_limited

    return read_limited(path, limit, what)


def print_json(payload: Any) -> None:
    if _ANYONE and isinstance(payload, dict):
        payload = {
            **payload,
            "insecure": {"anyone": list(_ANYONE), "warning": insecure_text(_ANYONE)},
        }
    from okeios._internal.protocol.canonical import dumps_exact

    print(dumps_exact(payload, indent=2))


def done(args: argparse.Namespace, payload: dict[str, Any], text: str) -> int:
    """Print a command's result (JSON with --json, else ``text``); exit 0."""
    if args.json:
        print_json(payload)
    else:
        print(text)
    return EXIT_OK


_QUIET = [False]


def note(text: str) -> None:
    """A message for the person at the terminal (stderr), silenced by ``-q``."""
    if not _QUIET[0]:
        print(text, file=sys.stderr)


def safe(text: object) -> str:
    """``text`` with every control character escaped, so that untrusted strings (a field path,
    a value, a detail read from a file) cannot move the cursor or repaint the screen."""
    s = str(text)
    if s.isprintable():  # no control, format or separator character: nothing to escape
        return s
    out = []
    for ch in s:
        o = ord(ch)
        if (
            o < 0x20
            or 0x7F <= o < 0xA0
            or ch
            in "\u2028\u2029\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
        ):
            out.append(f"\\u{o:04x}" if o > 0xFF else f"\\x{o:02x}")
        else:
            out.append(ch)
    return "".join(out)


def safe_lines(text: str) -> str:
    """Multi-line text made by okeios (e.g. indented JSON, whose strings escape their own
    newlines) with each line passed through :func:`safe`: its line breaks are kept, and
    nothing else can act on the terminal."""
    return "\n".join(safe(line) for line in text.split("\n"))


def write_output(path: str, data: bytes, *, private: bool = False) -> None:
    """Write an output file atomically (mode 0600 with ``private``)."""
    from okeios._internal.files import write_atomic

    write_atomic(path, data, private=private)


def check_writable(path: str) -> None:
    """Refuse early (exit 2) an output path whose folder is missing, before any side effect."""
    folder = Path(path).parent
    if not folder.is_dir():
        raise UsageError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {path}: the folder {folder} is not writable")


class Progress:
    """A progress bar on stderr (rich), shown only on a terminal or with ``--progress``."""

    def __init__(self, label: str, total: int, *, force: bool = False) -> None:
        self.enabled = force or sys.stderr.isatty()
        self._bar: Any = None
        if self.enabled:
            from rich.console import Console
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                console=Console(stderr=True, force_terminal=None if not force else True),
                transient=False,
            )
            self._task = self._bar.add_task(label, total=total)
            self._bar.start()

    def __call__(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the store and its passphrase ---------------------------------------------------------------


def ask_passphrase(prompt: str, *, confirm: bool = False) -> str | None:
    """Read a passphrase on the terminal without echo; None when stdin is not a terminal."""
    if not sys.stdin.isatty():
        return None
    import getpass

    first = getpass.getpass(prompt)
    if confirm and first and getpass.getpass("again: ") != first:
        raise UsageError("the passphrases differ")
    return first


def store_passphrase(store_home: Path) -> str | None:
    """``$OKEIOS_PASSPHRASE`` if set, else a prompt on a terminal when the store needs one."""
    from okeios._internal.publish.store import KEYFILE_NAME, MASTER_NAME, PASSPHRASE_ENV

    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]
    if (store_home / MASTER_NAME).exists() and not (store_home / KEYFILE_NAME).exists():
        return ask_passphrase(f"passphrase of the okeios store in {store_home}: ")
    return None


RECIPIENT_PASSPHRASE_ENV = "OKEIOS_RECIPIENT_PASSPHRASE"


def recipient_passphrase(path: str, *, confirm: bool = False) -> str:
    """The passphrase of a recipient key file: ``$OKEIOS_RECIPIENT_PASSPHRASE``, else asked on
    a terminal (no echo); without either, a usage error (exit 2)."""
    if os.environ.get(RECIPIENT_PASSPHRASE_ENV):
        return os.environ[RECIPIENT_PASSPHRASE_ENV]
    asked = ask_passphrase(f"passphrase of the recipient key {path}: ", confirm=confirm)
    if not asked:
        raise UsageError(
            f"{path} needs a passphrase: set ${RECIPIENT_PASSPHRASE_ENV}, or run on a terminal"
        )
    return asked


def open_store(args: argparse.Namespace) -> Any:
    from okeios._internal.publish.store import Store

    where = home(args)
    return Store.open(where, passphrase=store_passphrase(where))


def confirm(args: argparse.Namespace, question: str) -> None:
    """Ask ``question`` on a terminal unless ``--yes``; without a terminal, demand ``--yes``."""
    if getattr(args, "yes", False):
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question}: refusing without a terminal to confirm on; pass --yes")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise UsageError("not confirmed; nothing was done")


# --- the chain and trust resolver ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainPin:
    """A chain the caller means: its name, the chain id it must answer, the registry to read."""

    spec: str
    chain_id: int
    registry: str


def resolve_pin(args: argparse.Namespace, where: Path) -> ChainPin | None:
    """The chain pin of a verb: ``--chain-id``/``--registry`` first, then ``trust.json``'s pin
    for ``--chain``; None without ``--chain``. Both must be known (else exit 2)."""
    spec = getattr(args, "chain", None)
    if not spec:
        if getattr(args, "chain_id", None) is not None or getattr(args, "registry", None):
            raise UsageError("--chain-id and --registry go with --chain")
        return None
    chain_id, registry = partial_pin(args, where)
    if chain_id is None or registry is None:
        raise UsageError(
            f"no chain id and registry pinned for {spec}: pass --chain-id N and --registry "
            f"ADDRESS, or pin them with `okeios trust` (or anchor from this home first)"
        )
    from okeios._internal.protocol.signing import checksum_address

    if chain_id <= 0:
        raise UsageError(f"--chain-id must be positive, got {chain_id}")
    from okeios._internal.protocol.anchors import CANONICAL_REGISTRY

    if checksum_address(registry) != CANONICAL_REGISTRY:
        note(
            f"warning: checking against the private registry {checksum_address(registry)} on "
            f"chain {chain_id}, not the chain's canonical registry {CANONICAL_REGISTRY} "
            "(an explicit opt-in: anchors elsewhere are not seen)"
        )
    return ChainPin(spec, chain_id, checksum_address(registry))


def partial_pin(args: argparse.Namespace, where: Path) -> tuple[int | None, str | None]:
    """The chain id and registry for ``--chain``, each from its flag first, then from
        ``trust.json`` (whose pin names the chain's canonical registry unless a private one was
    pinned); either may be unknown."""
    pinned = TrustConfig.load(where).chain(args.chain)
    flag_id = getattr(args, "chain_id", None)
    chain_id = flag_id if flag_id is not None else (pinned[0] if pinned else None)
    registry = getattr(args, "registry", None) or (pinned[1] if pinned else None)
    return chain_id, registry


def required_properties(args: argparse.Namespace, pin: ChainPin | None) -> set[str]:
    from okeios._internal.verify.report import CHAIN_PROPERTIES, OFFLINE_PROPERTIES

    required = {str(p) for p in OFFLINE_PROPERTIES}
    if pin is not None:
        required |= {str(p) for p in CHAIN_PROPERTIES}
    for item in getattr(args, "require", []) or []:
        required |= {x.strip() for x in item.split(",") if x.strip()}
    return required


def trust_policy(args: argparse.Namespace, where: Path, pin: ChainPin | None) -> TrustPolicy:
    """The verifier's policy: authors and publishers from flags first, then trust.json; or
    the organisations pinned by ``--org`` or trust.json (docs/identity.md), with the lists as
    optional extras."""
    from okeios._internal.cli.identity import organisations
    from okeios._internal.verify.policy import ANYONE
    from okeios._internal.verify.trust import build_policy
    from okeios.errors import PolicyError

    trust = TrustConfig.load(where)
    warn_anyone(args)
    authors: Any = ANYONE if args.any_author else (args.author or trust.authors)
    publishers: Any = ANYONE if args.any_publisher else (args.publisher or trust.publishers)
    orgs = organisations(args, trust)
    for who, value in (("author", authors), ("publisher", publishers)):
        if not value and not orgs:
            raise UsageError(
                f"say whom to trust: --{who} ADDRESS (repeatable), --any-{who}, "
                "or a trust.json in the okeios home"
            )
    try:
        return build_policy(
            trust,
            authors=authors,
            publishers=publishers,
            organisations=orgs,
            chain_id=pin.chain_id if pin else None,
            registry=pin.registry if pin else None,
            confirmations=getattr(args, "confirmations", 1),
            required=required_properties(args, pin),
        )
    except PolicyError as exc:
        raise UsageError(str(exc)) from exc


def open_chain_for(
    spec: str, where: Path, *, create: bool, timeout: float = DEFAULT_CHAIN_TIMEOUT
) -> ChainHandle:
    """Open a chain by name. ``create=False`` (every verb that only reads) never creates the
    embedded chain: it is local to the home that anchored, and a missing one is an error."""
    from okeios._internal.chain.connect import open_chain

    if spec == EMBEDDED and not create and not (where / "chains" / EMBEDDED).is_dir():
        raise ChainError(
            f"the embedded chain is local to the okeios home that anchored; {where} has none. "
            "Verify from that home (--home DIR), or against a node URL the publisher anchored to"
        )
    return open_chain(spec, where, timeout=timeout)


@contextmanager
def open_pinned(
    pin: ChainPin, where: Path, *, timeout: float = DEFAULT_CHAIN_TIMEOUT
) -> Iterator[tuple[ChainHandle, Any]]:
    """Open a pinned chain for reading: the handle and a :class:`RegistryView` bounded by one
    deadline for the run. The chain id is checked against the node by the verdicts (verify,
    decrypt) or by :func:`check_chain_id` (audit, anchor)."""
    from okeios._internal.chain.registry import RegistryView

    # A request and its one retry fit in the run's deadline.
    handle = open_chain_for(pin.spec, where, create=False, timeout=min(timeout / 2, 10.0))
    try:
        view = RegistryView(handle.w3, label=handle.label, deadline=time.monotonic() + timeout)
        yield handle, view
    finally:
        handle.close()


def check_chain_id(view: Any, pin: ChainPin) -> None:
    """Raise unless the node answers the pinned chain id (a ChainError when unreachable)."""
    actual = view.chain_id()
    if actual != pin.chain_id:
        raise ChainMismatchError(
            f"{pin.spec} answers chain id {actual}, but {pin.chain_id} is pinned for it"
        )


# --- settings -----------------------------------------------------------------------------------


def apply_settings(args: argparse.Namespace) -> None:
    """Fill the chain options no flag gave from ``okeios.toml`` in the home and
    ``$OKEIOS_CHAIN`` (:class:`okeios._internal.config.Settings`), then from the built-in
    defaults."""
    anchoring = hasattr(args, "chain_default")  # anchor: the chain and its wait too
    unset = [n for n in ("confirmations", "chain_timeout") if getattr(args, n, 0) is None]
    if not unset and not anchoring:
        return
    from okeios._internal.config import Settings

    settings = Settings.load(home(args))
    if getattr(args, "confirmations", 0) is None:
        args.confirmations = settings.confirmations or 1
    if getattr(args, "chain_timeout", 0) is None:
        args.chain_timeout = settings.timeout or DEFAULT_CHAIN_TIMEOUT
    if anchoring:
        if args.timeout is None:
            args.timeout = settings.anchor_timeout or 60.0
        if not args.chain:
            args.chain = settings.chain or args.chain_default


# --- logging ------------------------------------------------------------------------------------


def setup_logging(args: argparse.Namespace) -> None:
    verbose = getattr(args, "verbose", 0) or 0
    quiet = getattr(args, "quiet", False)
    level = (
        logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    )
    _QUIET[0] = bool(quiet)
    _ANYONE.clear()
    # Each line names its logger: okeios's own lines are "okeios...", a library's its own.
    # Libraries (web3, urllib3) log below WARNING only from -vvv on.
    library = logging.DEBUG if verbose >= 3 else logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(level=library, format="%(name)s: %(levelname)s: %(message)s", force=True)
    log.setLevel(level)
