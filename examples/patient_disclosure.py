"""A patient discloses one lab value to a researcher, then shares and revokes the full record.

The patient keeps a few synthetic lab results in an okeios store and anchors the log on the
embedded chain. For a study, the patient exports a bundle that discloses only an HbA1c result's
value and its LOINC code; every other field stays behind a salted digest. The researcher, who
trusts only the patient's address, the chain id and the registry address, verifies the bundle
(every verdict) and checks that no undisclosed value is anywhere in the bytes received. Later
the patient grants the researcher's post-quantum hybrid key (ML-KEM-768 + X25519) the whole
record, the researcher opens and verifies it, and the patient revokes the grant. The record's
history shows every step.

Run with `python examples/patient_disclosure.py` (no arguments; everything happens in a
temporary folder that is removed at the end). `examples/patient_disclosure.ipynb` tells the
same story with a plot.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from okeios import (
    LocalSigner,
    RecipientPrivateKey,
    Report,
    Share,
    Suite,
    TrustPolicy,
    bind_recipient_key,
    canonicalize,
    chain_view,
    iter_leaves,
    open_share,
    parse_json,
    synthetic_records,
    verify_bundle,
    verify_lineage,
)
from okeios.errors import AccessError, DecryptionError
from okeios.service import EventId, Okeios

DISCLOSED = ["/valueQuantity/value", "/code/coding/0/code"]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verdicts(report: Report) -> str:
    """A report's verdicts as a table (long details shortened)."""
    rows = [
        [v.property, v.status, v.reason or "", v.detail[:80] + ("…" if len(v.detail) > 80 else "")]
        for v in report.verdicts
    ]
    return table(["verdict", "result", "reason", "detail"], rows)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="okeios-patient-") as tmp:
        home = Path(tmp) / "patient"  # the patient's store; its embedded chain lives here too
        with Okeios.open(home, create=True, log_name="my-health-record") as ok:
            # --- The patient's store, anchored -------------------------------------------
            records = synthetic_records(5, seed=4)  # a Patient, then four lab results
            logged = ok.add(records)
            ok.anchor()  # the embedded chain: funded, registry deployed and pinned
            i = next(
                n
                for n, raw in enumerate(records)
                if b'"code": "4548-4"' in raw  # LOINC 4548-4: Hemoglobin A1c
            )
            hba1c, hba1c_record = "0x" + logged[i].record_id.hex(), records[i]
            print(f"patient {ok.address}: {len(records)} records, HbA1c is {hba1c[:18]}…")

            # --- A bundle disclosing two fields ----------------------------------------------
            bundle = ok.disclose(hba1c, DISCLOSED)
            bundle_bytes, bundle_json = bundle.to_bytes(), bundle.to_json()
            print(f"disclosure bundle: {len(bundle_bytes)} bytes")

            # --- The researcher verifies it ---------------------------------------------------
            # Trusted: the patient's address, the chain id and the registry address; no more.
            pin = ok.policy("embedded")
            policy = TrustPolicy(
                authors=[ok.address],
                publishers=[ok.address],
                chain_id=pin.chain_id,
                registry=pin.registry,
            )
            with chain_view("embedded", home) as view:
                report = verify_bundle(bundle_bytes, policy, chain=view)
            print(verdicts(report))
            assert report.passed
            assert all(v.status == "pass" for v in report.verdicts)  # none skipped
            shown = dict(report.disclosed)
            print("disclosed:", shown, f"(anchored in block {report.anchored_block})")
            leaves = dict(iter_leaves(parse_json(hba1c_record)))
            assert shown == {
                "/valueQuantity/value": canonicalize(leaves["/valueQuantity/value"]).decode(),
                "/code/coding/0/code": '"4548-4"',
            }

            # No undisclosed value is in the bundle. The JSON form carries binary data as hex,
            # so any hidden text would stand out; the binary form is searched for each hidden
            # value of 4 bytes or more (shorter strings occur in random hashes by chance).
            hidden = {p: v for p, v in leaves.items() if p not in DISCLOSED}
            for path, leaf in hidden.items():
                text = leaf if isinstance(leaf, str) else canonicalize(leaf).decode()
                assert text not in bundle_json, path
                assert len(text.encode()) < 4 or text.encode() not in bundle_bytes, path
            print(
                f"{len(leaves)} fields committed, {len(shown)} disclosed, {len(hidden)} hidden:"
                f" none of the hidden values is in the bundle"
            )

            # --- A grant of the full record to the researcher's hybrid key -------------------
            researcher = LocalSigner.generate()
            key = RecipientPrivateKey.generate(Suite.HYBRID)
            binding = bind_recipient_key(key.public_key(), researcher)
            share_text = ok.grant(hba1c, binding, purpose="HbA1c study").to_json()
            with chain_view("embedded", home) as view:
                full, share_report = open_share(
                    Share.from_json(share_text), key, policy, chain=view
                )
            print(f"\nshare for {researcher.address} ({Suite.HYBRID}), opened:")
            print(verdicts(share_report))
            print("share opened and verified:", share_report.to_dict()["result"])
            assert share_report.passed
            assert full == canonicalize(parse_json(hba1c_record))
            assert dict(share_report.disclosed)["/valueQuantity/value"] == shown[DISCLOSED[0]]
            try:  # a stranger's key cannot open it
                open_share(
                    Share.from_json(share_text), RecipientPrivateKey.generate(Suite.HYBRID), policy
                )
                raise AssertionError("a stranger opened the share")
            except DecryptionError as exc:
                print(f"a stranger's key: {type(exc).__name__}")

            # --- The patient revokes ---------------------------------------------------------
            revoked = ok.revoke(hba1c, researcher.address, purpose="study closed")
            try:
                ok.share(hba1c, researcher.address)
                raise AssertionError("a revoked grant still gave a share")
            except AccessError as exc:
                print(f"after revoking: {exc}")
            ok.anchor()  # the grant and the revocation are anchored too
            with chain_view("embedded", home) as view:
                revoke_report = verify_bundle(
                    ok.export(EventId(revoked.id), reveal_all=True), policy, chain=view
                )
            assert revoke_report.passed
            assert "revoke" in revoke_report.verdict("confidentiality").detail

            # --- The history, and its lineage ------------------------------------------------
            history = ok.history(hba1c)
            print(
                table(
                    ["index", "kind", "version", "subject", "purpose"],
                    [[h.index, h.kind, h.version, h.subject, h.purpose] for h in history],
                )
            )
            assert [h.kind for h in history] == ["create", "grant", "revoke"]
            with chain_view("embedded", home) as view:
                lineage = verify_lineage(ok.bundles(hba1c, reveal_all=True), policy, chain=view)
            print("lineage:", lineage.to_dict()["result"], "-", lineage.verdict.detail)
            assert lineage.passed
        print("\npatient disclosure example: one value shown, the rest hidden, all verified")


if __name__ == "__main__":
    main()
