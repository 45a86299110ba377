"""The end-to-end demonstration behind ``okeios demo``: records in, bundles out, verified, and
tampering caught. Synthetic FHIR R4 records are generated here (no real patient data)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from okeios._internal.chain.connect import open_chain
from okeios._internal.chain.registry import Registry, RegistryView
from okeios._internal.crypto.recipients import RecipientPrivateKey, Suite, bind_recipient_key
from okeios._internal.crypto.share import Share
from okeios._internal.protocol.canonical import canonicalize, parse_json
from okeios._internal.protocol.hexcodec import from_hex, to_hex
from okeios._internal.protocol.ids import EventId, RecordId
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.anchoring import anchor
from okeios._internal.publish.store import Store
from okeios._internal.samples import synthetic_records
from okeios._internal.verify.bundle import verify_bundle
from okeios._internal.verify.keyhistory import load_authority
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import Property
from okeios._internal.verify.share import open_share
from okeios.errors import AccessError, BundleError

__all__ = ["run_demo", "synthetic_records"]


def run_demo(
    out_dir: Path,
    *,
    count: int = 8,
    echo: Callable[[str], None] = print,
    chain_spec: str = "embedded",
    fund: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the story on a chain (the embedded one by default); write records, bundles and a
    store under ``out_dir``; return a summary whose ``ok`` is true when every honest bundle
    verified and every tampering was caught.

    ``fund`` gives the publisher ether on a URL chain (the embedded chain funds itself).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    home = out_dir / "home"
    clinician = LocalSigner.generate()
    records = synthetic_records(count)
    results: dict[str, Any] = {"records": [], "tamper": {}}
    checks: list[bool] = []
    with Store.init(home, log_name="demo") as store, open_chain(chain_spec, home) as chain:
        echo(f"publisher (hospital) {store.address}")
        echo(f"author (clinician)   {clinician.address}")
        if chain.embedded is not None:
            chain.fund(store.address, 10**20)
        elif fund is not None:
            fund(store.address)
        from okeios._internal.chain.canonical import deploy_canonical

        embedded_fund = chain.fund if chain.embedded is not None else None
        registry, _ = deploy_canonical(
            chain.w3, store.signer, label=chain.label, fund=embedded_fund
        )
        echo(
            f"the canonical AnchorRegistry at {registry.address} on {chain.label} "
            f"(chain id {registry.chain_id})"
        )
        policy = TrustPolicy(
            authors=[store.address, clinician.address],
            publishers=[store.address],
            chain_id=registry.chain_id,
            registry=registry.address,
        )

        half = max(1, count // 2)
        logged = store.add(records[:half], author=clinician)
        first = anchor(store, registry)
        logged += store.add(records[half:], author=clinician)
        second = anchor(store, registry)
        chain.save()
        echo(
            f"logged {store.size} records; anchored sizes {first.tree_size} and "
            f"{second.tree_size} in blocks {first.entry and first.entry.block_number} and "
            f"{second.entry and second.entry.block_number}"
        )

        view = RegistryView(chain.w3, label=chain.label)
        for i, (raw, item) in enumerate(zip(records, logged, strict=True)):
            (out_dir / f"record-{i}.json").write_bytes(raw)
            path = out_dir / f"record-{i}.okb"
            path.write_bytes(store.export(RecordId(item.record_id), reveal_all=True).to_bytes())
            report = verify_bundle(path.read_bytes(), policy, record=raw, chain=view)
            checks.append(report.passed and all(v.status == "pass" for v in report.verdicts))
            results["records"].append({"bundle": path.name, "result": report.to_dict()["result"]})
            echo(
                f"  {path.name:<14} {path.stat().st_size:>6} bytes  "
                + "  ".join(f"{v.property}={v.status}" for v in report.verdicts)
            )

        # Selective disclosure: one lab value, nothing else.
        lab = logged[1]
        partial = store.export(
            RecordId(lab.record_id), fields=["/valueQuantity/value", "/code/coding/0/code"]
        )
        (out_dir / "disclosure.okb").write_bytes(partial.to_bytes())
        shown = verify_bundle(partial.to_bytes(), policy, chain=view)
        checks.append(shown.passed)
        hidden = len(partial.disclosure.digests) - len(partial.disclosure.fields)
        echo(
            f"selective disclosure: {dict(shown.disclosed)} ({hidden} fields hidden) "
            f"-> {'pass' if shown.passed else 'FAIL'}"
        )

        # A grant: the clinic shares one record with a researcher's post-quantum hybrid key.
        researcher = LocalSigner.generate()
        research_key = RecipientPrivateKey.generate(Suite.HYBRID)
        binding = bind_recipient_key(research_key.public_key(), researcher)
        share = store.access.grant(RecordId(lab.record_id), binding, purpose="HbA1c study")
        (out_dir / "share.json").write_text(share.to_json())
        opened, share_report = open_share(
            Share.from_json((out_dir / "share.json").read_text()), research_key, policy, chain=view
        )
        checks.append(share_report.passed and opened == canonicalize(parse_json(records[1])))
        echo(
            f"grant to {researcher.address} ({Suite.HYBRID}): share opened and verified -> "
            f"{'pass' if share_report.passed else 'FAIL'}"
        )
        store.access.revoke(RecordId(lab.record_id), researcher.address, purpose="study closed")
        try:
            store.access.share(RecordId(lab.record_id), researcher.address)
            checks.append(False)
        except AccessError as exc:
            echo(f"revoked: {exc}")

        # Erasure by crypto-shredding: the keys and salts go, the history keeps verifying.
        gone = logged[3]
        erase_event = store.access.erase(RecordId(gone.record_id), purpose="patient request")
        anchor(store, registry)
        chain.save()
        view = RegistryView(chain.w3, label=chain.label)
        try:
            store.versions.get_version(gone.record_id, 1)
            checks.append(False)
        except AccessError:
            pass
        erased_ok = all(
            verify_bundle(store.export(EventId(eid)), policy, chain=view).passed
            for eid in store.event_ids_of(gone.record_id)
        )
        checks.append(erased_ok)
        echo(
            f"erased record {gone.record_id.hex()[:16]}…: unreadable now; its "
            f"{len(store.event_ids_of(gone.record_id))} events, ERASE "
            f"{to_hex(erase_event.id)[:18]}… included, still verify -> "
            f"{'pass' if erased_ok else 'FAIL'}"
        )

        # Identity: a clinician joins, signs, and her key is stolen and revoked. The verifier
        # trusts the hospital (an organisation), not a list of its clinicians.
        joiner = LocalSigner.generate()
        store.keys.authorise(joiner.address, "physician", purpose="joined cardiology")
        signed_before = store.add(synthetic_records(1, seed=31), author=joiner)[0]
        before = anchor(store, registry)
        assert before.entry is not None
        assert before.entry.timestamp is not None
        theft = before.entry.timestamp + 1  # her laptop is stolen right after that anchor
        signed_by_thief = store.add(synthetic_records(1, seed=32), author=joiner)[0]
        anchor(store, registry)
        store.keys.deauthorise(joiner.address, effective=theft, purpose="key compromised")
        anchor(store, registry)
        chain.save()
        view = RegistryView(chain.w3, label=chain.label)
        org_policy = TrustPolicy(
            organisations=[store.keys.organisation],
            chain_id=registry.chain_id,
            registry=registry.address,
        )
        keys = store.keys.key_history()
        (out_dir / "keys.json").write_text(keys + "\n")
        authority = load_authority(keys, org_policy, chain=view)
        echo(
            f"clinician {joiner.address} joins as physician; her key is stolen at "
            f"{_dt.datetime.fromtimestamp(theft, _dt.UTC).isoformat()} and revoked from then on "
            "(the hospital's key history is in keys.json)"
        )
        for label, item, expect in (
            ("signed before the theft", signed_before, None),
            ("signed by the thief   ", signed_by_thief, "author-revoked"),
        ):
            report = verify_bundle(
                store.export(EventId(item.id)), org_policy, chain=view, authorities=authority
            )
            auth = report.verdict(Property.AUTHENTICITY)
            checks.append(
                report.passed if expect is None else (not auth.passed and auth.reason == expect)
            )
            results.setdefault("identity", {})[label.strip()] = auth.to_dict()
            why = f": {auth.reason}" if auth.reason else ""
            echo(f"  {label} -> authenticity {auth.status}{why}")

        # Tampering 1: someone edits the lab value in the record file.
        bundle = store.export(RecordId(lab.record_id), reveal_all=True)
        edited = records[1].replace(b'"value": ', b'"value": 1', 1)
        caught = verify_bundle(bundle, policy, record=edited, chain=view).verdict(
            Property.INTEGRITY
        )
        checks.append(not caught.passed)
        results["tamper"]["record"] = caught.to_dict()
        echo(f"tampered record     -> integrity {caught.status}: {caught.reason} ({caught.detail})")

        # Tampering 2: one bit of a bundle flipped inside the signed event (its commitment).
        damaged = bytearray((out_dir / "record-2.okb").read_bytes())
        damaged[damaged.index(logged[2].signed.event.commitment)] ^= 0x01
        try:
            flipped = verify_bundle(bytes(damaged), policy, record=records[2], chain=view)
            failures = [f"{v.property}: {v.reason}" for v in flipped.failures]
        except BundleError as exc:
            failures = [f"{type(exc).__name__}: {exc}"]
        checks.append(bool(failures))
        results["tamper"]["bundle"] = failures
        echo(f"flipped bundle bit  -> {'; '.join(failures) or 'NOT CAUGHT'}")

        # Tampering 3: an impostor signs the checkpoint as if it were the hospital's.
        impostor = LocalSigner.generate()
        fake_cp = dataclasses.replace(
            bundle, checkpoint=bundle.checkpoint.checkpoint.sign(impostor)
        )
        verdict = verify_bundle(fake_cp, policy, chain=view).verdict(Property.INCLUSION)
        checks.append(not verdict.passed)
        results["tamper"]["checkpoint"] = verdict.to_dict()
        echo(f"impostor checkpoint -> inclusion {verdict.status}: {verdict.reason}")

        # Tampering 4: the bundle points at a look-alike registry an attacker deployed.
        assert bundle.anchor is not None
        if chain.embedded is not None:
            chain.fund(impostor.address, 10**19)
        elif fund is not None:
            fund(impostor.address)
        lookalike = Registry.deploy(chain.w3, impostor, label=chain.label)
        moved = dataclasses.replace(
            bundle,
            anchor=dataclasses.replace(
                bundle.anchor, registry=from_hex(lookalike.address, any_case=True)
            ),
        )
        verdict = verify_bundle(moved, policy, chain=view).verdict(Property.ANCHORING)
        checks.append(not verdict.passed)
        results["tamper"]["registry"] = verdict.to_dict()
        echo(f"look-alike registry -> anchoring {verdict.status}: {verdict.reason}")
        chain.save()

    results["ok"] = all(checks)
    results["out"] = str(out_dir)
    echo(f"store, records and bundles in {out_dir}")
    echo(
        "demo result: "
        + (
            "every honest bundle verified, every tampering caught"
            if results["ok"]
            else "UNEXPECTED RESULT"
        )
    )
    return results
