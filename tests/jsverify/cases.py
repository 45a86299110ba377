"""Agreement cases for the TypeScript verifier: bundles made by this package from the shared FHIR
examples, honest and tampered, each with the verdict ``okeios verify --json`` gives.

``python -m tests.jsverify.cases OUTDIR --fhir DIR`` writes ``OUTDIR/cases.json`` (a list of
``{"name", "argv", "exit", "output"}``, the file arguments relative to OUTDIR) and the bundle and
record files it names; ``js/test/agreement.test.js`` runs each argv through the TypeScript command
line and compares exit code and JSON. ``OUTDIR/mutations.json`` holds, for a small bundle in binary
and JSON form, the verdict summary of every single-byte mutation (:func:`mutations_of`), so the
two decoders are compared byte by byte as well.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import sys
import tempfile
from hashlib import sha256
from pathlib import Path
from typing import Any

from okeios._internal.protocol.bundle import Bundle, InclusionProof
from okeios._internal.protocol.canonical import parse_json
from okeios._internal.protocol.commitment import DisclosedField, Disclosure, field_digest
from okeios._internal.protocol.events import Checkpoint, EventKind, SignedCheckpoint, SignedEvent
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.publisher import Publisher
from tests.helpers import SMALL_RECORD, CountingRng, with_floats

AUTHOR = LocalSigner.from_key(sha256(b"okeios js agreement author").digest())
PUBLISHER = LocalSigner.from_key(sha256(b"okeios js agreement publisher").digest())
STRANGER = LocalSigner.from_key(sha256(b"okeios js agreement stranger").digest())

#: Examples chosen for what they exercise: decimals kept as written, deep nesting, non-ASCII
#: text, many fields; the rest of the set is sampled evenly.
PREFERRED = (
    "Observation-example.json",
    "Patient-example.json",
    "Observation-example-genetics-1.json",
    "Questionnaire-f201.json",
    "Bundle-bundle-example.json",
)


def run_python_cli(argv: list[str], cwd: Path) -> tuple[int, Any]:
    """``okeios ARGV`` in this process (the same code path as the shell), its exit code and
    parsed JSON output."""
    from okeios._internal.cli.main import main

    out = io.StringIO()
    here = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            try:
                code = main(argv)
            except SystemExit as exc:  # usage errors exit through argparse
                code = int(exc.code or 0)
    finally:
        os.chdir(here)
    text = out.getvalue()
    return code, (json.loads(text) if text.strip() else None)


def _examples(fhir: Path, count: int) -> list[Path]:
    files = sorted(p for p in fhir.glob("*.json") if p.stat().st_size < 40_000)
    chosen = [fhir / name for name in PREFERRED if (fhir / name).exists()]
    step = max(1, len(files) // max(1, count - len(chosen)))
    for p in files[::step]:
        if p not in chosen and len(chosen) < count:
            chosen.append(p)
    return chosen


class Writer:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.cases: list[dict[str, Any]] = []
        self.trust = [
            "--author",
            AUTHOR.address,
            "--author",
            PUBLISHER.address,
            "--publisher",
            PUBLISHER.address,
        ]

    def file(self, name: str, data: bytes) -> str:
        (self.out / name).write_bytes(data)
        return name

    def case(
        self, name: str, files: list[str], *extra: str, trust: list[str] | None = None
    ) -> None:
        argv = [*files, *(self.trust if trust is None else trust), *extra, "--json"]
        code, output = run_python_cli(["verify", *argv], self.out)
        self.cases.append({"name": name, "argv": argv, "exit": code, "output": output})


def _resign_event(b: Bundle, signer: LocalSigner, **changes: Any) -> Bundle:
    event = dataclasses.replace(b.event.event, **changes)
    return dataclasses.replace(b, event=SignedEvent(event, signer.unsafe_sign_digest(event.id)))


def _tampered(w: Writer, tag: str, pub: Publisher, b: Bundle) -> None:
    """One bundle per failure a tampered bundle can show, each re-encoded canonically."""
    d = b.disclosure
    cp = b.checkpoint
    variants: dict[str, Bundle] = {}
    if d.fields:
        f = d.fields[0]
        changed = DisclosedField(f.tokens, f.salt, b'"tampered"')
        variants["field-not-committed"] = dataclasses.replace(
            b, disclosure=Disclosure(d.digests, (changed, *d.fields[1:]))
        )
        # A value that is committed but not canonical JSON: its digest replaces a real one and
        # the event is re-signed over the new commitment.
        loose = DisclosedField(f.tokens, f.salt, b' "x"')
        digests = tuple(sorted((field_digest(f.salt, f.tokens, loose.value), *d.digests[1:])))
        commit = Disclosure(digests, (loose,)).commitment()
        variants["field-malformed"] = _resign_event(
            dataclasses.replace(b, disclosure=Disclosure(digests, (loose,))),
            AUTHOR,
            commitment=commit,
        )
    if len(d.digests) > 1:
        swapped = (d.digests[1], d.digests[0], *d.digests[2:])
        variants["digests-malformed"] = dataclasses.replace(
            b, disclosure=Disclosure(swapped, d.fields)
        )
        variants["commitment-mismatch"] = dataclasses.replace(
            b, disclosure=Disclosure(d.digests[1:], ())
        )
    variants["signature-mismatch"] = dataclasses.replace(
        b, event=SignedEvent(b.event.event, STRANGER.unsafe_sign_digest(b.event.id))
    )
    bad_v = b.event.signature[:64] + bytes([29])
    variants["signature-malformed"] = dataclasses.replace(
        b, event=SignedEvent(b.event.event, bad_v)
    )
    variants["author-not-trusted"] = _resign_event(b, STRANGER, author=STRANGER.address)
    variants["checkpoint-signature-mismatch"] = dataclasses.replace(
        b,
        checkpoint=SignedCheckpoint(
            cp.checkpoint, cp.publisher, STRANGER.unsafe_sign_digest(cp.checkpoint.id)
        ),
    )
    stranger_cp = cp.checkpoint.sign(STRANGER)
    variants["log-not-bound"] = dataclasses.replace(b, checkpoint=stranger_cp)
    inc = b.inclusion
    if inc.path:
        variants["root-mismatch"] = dataclasses.replace(
            b, inclusion=InclusionProof(inc.index, inc.tree_size, (bytes(32), *inc.path[1:]))
        )
        variants["proof-malformed"] = dataclasses.replace(
            b, inclusion=InclusionProof(inc.index, inc.tree_size, inc.path[1:])
        )
    variants["tree-size-mismatch"] = dataclasses.replace(
        b, inclusion=InclusionProof(inc.index, inc.tree_size + 1, inc.path)
    )
    other = Checkpoint(cp.checkpoint.log_id, cp.checkpoint.tree_size, bytes(32)).sign(PUBLISHER)
    variants["checkpoint-root"] = dataclasses.replace(b, checkpoint=other)
    for name, v in variants.items():
        fname = w.file(f"{tag}-{name}.okb", v.to_bytes())
        w.case(f"{tag} {name}", [fname])
        jname = w.file(f"{tag}-{name}.json", v.to_json().encode())
        w.case(f"{tag} {name} (json)", [jname])


def _organisation(w: Writer) -> None:
    """An organisation's log: an author authorised, one event of it before and one after its
    revocation, a stranger's event; verified with ``--org`` and the key history, by role."""
    from okeios._internal.protocol.keyhistory import dump_key_history

    clock = [1_750_000_000.0]
    org = Publisher(PUBLISHER, clock=lambda: clock[0], rng=CountingRng(b"org"))
    grant = org.authorise(AUTHOR.address, "physician")
    clock[0] += 100
    ok = org.create(SMALL_RECORD, author=AUTHOR)
    clock[0] += 100
    revoke = org.deauthorise(AUTHOR.address, purpose="left")
    clock[0] += 100
    late = org.create(SMALL_RECORD.replace(b"hba1c", b"hba1c-late"), author=AUTHOR)
    rogue = org.create(SMALL_RECORD.replace(b"hba1c", b"hba1c-rogue"), author=STRANGER)
    size = org.log.size
    checkpoint = org.checkpoint(size)
    history = [org.bundle(e.id, checkpoint=checkpoint) for e in (grant, revoke)]
    keys = w.file("keys.json", dump_key_history(PUBLISHER.address, size, history).encode())
    trust = ["--org", PUBLISHER.address, "--keys", keys]
    for name, ev in (("authorised", ok), ("revoked", late), ("never authorised", rogue)):
        b = w.file(f"org-{name.replace(' ', '-')}.okb", org.bundle(ev.id).to_bytes())
        w.case(f"organisation: {name}", [b], trust=trust)
    early = org.checkpoint(2)  # the authorisation and the first event only
    keys2 = dump_key_history(PUBLISHER.address, 2, [org.bundle(grant.id, checkpoint=early)])
    trust2 = ["--org", PUBLISHER.address, "--keys", w.file("keys-early.json", keys2.encode())]
    b = w.file("org-early.okb", org.bundle(ok.id, checkpoint=early).to_bytes())
    w.case("organisation: authorised, history before the revocation", [b], trust=trust2)
    w.case("organisation: role not trusted", [b], trust=[*trust2, "--role", "nurse"])
    w.case("organisation: no key history", [b], trust=["--org", PUBLISHER.address])


def mutations_of(data: bytes) -> list[bytes]:
    """Every single-byte mutation the agreement and fuzz tests use, in a fixed order: each
    byte set to itself XOR 0x01, XOR 0x80, 0x00 and 0xFF (skipping no-ops), then every
    truncation. ``js/test/mutations.js`` enumerates the same list."""
    out = []
    for i, byte in enumerate(data):
        for value in (byte ^ 0x01, byte ^ 0x80, 0x00, 0xFF):
            if value != byte:
                out.append(data[:i] + bytes([value]) + data[i + 1 :])
    out.extend(data[:n] for n in range(len(data)))
    return out


def summary(entry: dict[str, Any]) -> str:
    """One line a verdict of ``okeios verify --json`` is compared by: the outcome and each
    property's status and reason, or the error class of an input that does not decode."""
    if "error" in entry:
        return f"{entry['result']}:{str(entry['error']).split(':')[0]}"
    verdicts = ",".join(
        f"{k}={v['result']}/{v.get('reason', '')}" for k, v in entry["verdicts"].items()
    )
    return f"{entry['result']}:{verdicts}"


def _mutation_summaries(data: bytes) -> list[str]:
    from okeios._internal.cli.verify_verbs import report_dict
    from okeios._internal.verify.bundle import verify_bundle
    from okeios._internal.verify.policy import TrustPolicy
    from okeios.errors import OkeiosError

    policy = TrustPolicy(
        authors=[AUTHOR.address, PUBLISHER.address], publishers=[PUBLISHER.address]
    )
    out = []
    for mutated in mutations_of(data):
        try:
            entry = report_dict(verify_bundle(mutated, policy), False)
        except OkeiosError as exc:
            entry = {"result": "undecided", "error": type(exc).__name__}
        out.append(summary(entry))
    return out


def build(out: Path, fhir: Path, *, count: int = 24, mutations: int = 2) -> int:
    out.mkdir(parents=True, exist_ok=True)
    w = Writer(out)
    pub = Publisher(PUBLISHER, clock=lambda: 1_750_000_000.0, rng=CountingRng(b"js"))
    examples = _examples(fhir, count)
    logged = []
    for path in examples:
        raw = path.read_bytes()
        logged.append((path, raw, pub.create(raw, author=AUTHOR)))
    first = logged[0][2]
    extra = [
        pub.record_event(
            EventKind.GRANT,
            first.record_id,
            subject=STRANGER.address,
            purpose="care",
        )
    ]
    for k, (path, raw, ev) in enumerate(logged):
        tag = f"e{k:02d}"
        full = pub.bundle(ev.id)
        fields = [f.path for f in full.disclosure.fields]
        record = w.file(f"{tag}-record.json", raw)
        b = w.file(f"{tag}.okb", full.to_bytes())
        w.case(f"{tag} {path.name} full, with record", [b], "--record", record)
        w.case(f"{tag} {path.name} full", [b], "--show-fields")
        j = w.file(f"{tag}.json", full.to_json().encode())
        w.case(f"{tag} {path.name} full json, with record", [j], "--record", record)
        partial = pub.bundle(ev.id, fields=fields[: max(1, len(fields) // 3)])
        pj = w.file(f"{tag}-partial.json", partial.to_json(indent=None).encode())
        w.case(f"{tag} partial", [pj], "--show-fields")
        w.case(f"{tag} partial with record", [pj], "--record", record)
        value = parse_json(raw)
        if isinstance(value, dict):
            value["okeiosTamper"] = "x"
            changed = json.dumps(with_floats(value)).encode()
            rec2 = w.file(f"{tag}-rec2.json", changed)
            w.case(f"{tag} record with an extra field", [b], "--record", rec2)
        w.case(
            f"{tag} author not trusted",
            [b],
            trust=["--author", STRANGER.address, "--publisher", PUBLISHER.address],
        )
        w.case(
            f"{tag} publisher not trusted",
            [b],
            trust=["--any-author", "--publisher", STRANGER.address],
        )
        w.case(f"{tag} anchoring required offline", [b], "--require", "anchoring")
        if k < 3:
            _tampered(w, tag, pub, full)
    # A record's history: create, grant, amend, access; then the same bundles checked as a
    # lineage (in another order, and with an event left out).
    rid = first.record_id
    amended = pub.amend(rid, logged[0][1].replace(b"{", b'{"okeiosNote": "v2", ', 1), author=AUTHOR)
    extra.append(amended)
    extra.append(pub.record_event(EventKind.ACCESS, rid, subject=STRANGER.address))
    history = [first, *extra]
    names = [w.file(f"h{k}.okb", pub.bundle(ev.id).to_bytes()) for k, ev in enumerate(history)]
    w.case("lineage", list(reversed(names)), "--lineage")
    w.case("lineage with a gap", [names[0], *names[2:]], "--lineage")
    w.case(
        "lineage of two records",
        [names[0], w.file("other.okb", pub.bundle(logged[1][2].id).to_bytes())],
        "--lineage",
    )
    for k, ev in enumerate(extra):
        w.case(
            f"{ev.signed.event.kind} {k}", [w.file(f"extra{k}.okb", pub.bundle(ev.id).to_bytes())]
        )
    _organisation(w)
    w.case("usage: nobody trusted", [w.file("u.okb", pub.bundle(first.id).to_bytes())], trust=[])
    w.case("not a bundle", [w.file("junk.bin", b"hello")])
    w.case("version 1", [w.file("v1.okb", b"\x89OKEIOS\x01\x80")])
    small = Publisher(PUBLISHER, clock=lambda: 1_750_000_000.0, rng=CountingRng(b"small"))
    seed = small.create(SMALL_RECORD, author=AUTHOR)
    small.create(SMALL_RECORD, author=AUTHOR)
    bases = {"mutation-base.okb": small.bundle(seed.id).to_bytes()}
    if mutations > 1:
        bases["mutation-base.json"] = small.bundle(seed.id).to_json(indent=None).encode()
    expected = {w.file(name, data): _mutation_summaries(data) for name, data in bases.items()}
    (out / "mutations.json").write_text(json.dumps(expected))
    (out / "cases.json").write_text(json.dumps(w.cases, indent=1))
    return len(w.cases)


def write_fixtures(out: Path) -> None:
    """The seeds of the TypeScript fuzz test (js/test/fixtures): a small bundle in both forms
    and an identity event's bundle."""

    out.mkdir(parents=True, exist_ok=True)
    small = Publisher(PUBLISHER, clock=lambda: 1_750_000_000.0, rng=CountingRng(b"small"))
    seed = small.create(SMALL_RECORD, author=AUTHOR)
    small.create(SMALL_RECORD, author=AUTHOR)
    (out / "small.okb").write_bytes(small.bundle(seed.id).to_bytes())
    (out / "small.json").write_bytes(small.bundle(seed.id).to_json(indent=None).encode())
    hostile = (
        b'{"resourceType":"Observation","status":"final","note":[{"text":'
        b'"<img src=x onerror=alert(1)><script>alert(2)</script>\\u001b[2J\\u202eevil"}]}'
    )
    shown = small.create(hostile, author=AUTHOR)
    (out / "markup.okb").write_bytes(small.bundle(shown.id).to_bytes())
    ident = small.authorise(STRANGER.address, "physician", not_after=2**64 - 1)
    (out / "identity.okb").write_bytes(small.bundle(ident.id).to_bytes())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("out", type=Path)
    p.add_argument("--fixtures", action="store_true", help="write the fuzz seeds to OUT instead")
    p.add_argument("--fhir", type=Path)
    p.add_argument("--count", type=int, default=24)
    p.add_argument("--mutations", type=int, default=2)
    args = p.parse_args(argv)
    if args.fixtures:
        write_fixtures(args.out)
        return 0
    with tempfile.TemporaryDirectory() as home:
        os.environ["OKEIOS_HOME"] = home
        n = build(args.out, args.fhir, count=args.count, mutations=args.mutations)
    print(f"{n} cases written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
