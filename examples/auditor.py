"""An auditor verifies a hospital's log, and catches an edited copy of it.

The hospital keeps ~50 synthetic FHIR records in an okeios store, amends some, logs access
receipts, grants and revokes, and anchors its log in four rounds on the embedded chain. It then
publishes its log file. The auditor trusts only three things: the hospital's address, the chain
id and the AnchorRegistry address. With those it audits the published file (it passes), then an
edited copy in which one entry was removed and another re-signed (it fails, naming both).

Run with `python examples/auditor.py` (no arguments; everything happens in a temporary folder
that is removed at the end). `examples/auditor.ipynb` tells the same story with plots.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from okeios import (
    LocalSigner,
    RecipientPrivateKey,
    Suite,
    TrustPolicy,
    audit_log,
    bind_recipient_key,
    chain_view,
    event_from_message,
    synthetic_records,
    verify_lineage,
)
from okeios.service import Okeios


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def short(text: str) -> str:
    """Shorten the 32-byte hex ids in a message: 0x1234abcd5678…"""
    return re.sub(r"(0x[0-9a-f]{12})[0-9a-f]{52}", r"\1…", text)


def entry_lines(lines: list[str], record: str, kind: str) -> list[int]:
    """Positions (in the file) of one record's entries of one kind."""
    out = []
    for i, line in enumerate(lines):
        item = json.loads(line)
        event = item.get("event")
        if event and event["recordId"] == record and event["kind"] == kind:
            out.append(i)
    return out


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="okeios-auditor-") as tmp:
        work = Path(tmp)
        home = work / "hospital"  # the hospital's store; its embedded chain lives here too
        with Okeios.open(home, create=True, log_name="ward-7") as ok:
            # --- The hospital -------------------------------------------------------------
            records = synthetic_records(50, seed=11)
            nurse, doctor = LocalSigner.generate().address, LocalSigner.generate().address

            # Round 1: 20 records, three access receipts.
            first = ok.add(records[:20])
            featured = "0x" + first[1].record_id.hex()  # an HbA1c observation
            quiet = "0x" + first[2].record_id.hex()  # a record read once, then left alone
            ok.access(featured, nurse, purpose="treatment")
            ok.access(quiet, nurse, purpose="care")
            ok.access("0x" + first[3].record_id.hex(), doctor, purpose="care")
            rounds = [ok.anchor()]  # the embedded chain: funded, registry deployed and pinned

            # Round 2: 15 more records, two amendments, a receipt.
            second = ok.add(records[20:35])
            ok.amend(featured, records[1].replace(b'"status": "final"', b'"status": "amended"'))
            ok.amend("0x" + second[0].record_id.hex(), records[20].replace(b"final", b"amended"))
            ok.access(featured, doctor, purpose="follow-up")
            rounds.append(ok.anchor())

            # Round 3: 15 more records, a correction, a grant to a research team.
            ok.add(records[35:])
            ok.amend(featured, records[1].replace(b'"status": "final"', b'"status": "corrected"'))
            team = LocalSigner.generate()
            team_key = RecipientPrivateKey.generate(Suite.HYBRID)
            ok.grant(featured, bind_recipient_key(team_key.public_key(), team), purpose="study")
            rounds.append(ok.anchor())

            # Round 4: the grant is revoked, one record is erased at the patient's request.
            ok.revoke(featured, team.address, purpose="study closed")
            ok.erase("0x" + first[5].record_id.hex(), purpose="patient request")
            ok.access(featured, doctor, purpose="review")
            rounds.append(ok.anchor())
            assert all(r.final for r in rounds)
            print(f"hospital {ok.address}: {len(records)} records")
            print("anchored tree sizes:", [r.tree_size for r in rounds])

            # The hospital publishes its log file, and tells the auditor its chain pin.
            log_file = work / "ward-7.log.jsonl"
            size = ok.write_log(log_file)
            assert size == rounds[-1].tree_size
            pin, hospital = ok.policy("embedded"), ok.address
            hospital_key = ok.signer  # used below only to forge an edited copy
            bundles = ok.bundles(featured, reveal_all=True)
            history = ok.history(featured)

        # --- The auditor --------------------------------------------------------------------
        # What it trusts, and nothing else: an address, a chain id, a registry address.
        chain_id, registry_address = pin.chain_id, pin.registry
        assert chain_id is not None
        assert registry_address is not None
        with chain_view("embedded", home) as view:
            assert view.chain_id() == chain_id, "connected to the wrong chain"
            pinned = view.registry(registry_address)

            lines = log_file.read_text().splitlines()
            report = audit_log(
                lines, publisher=hospital, chain=pinned, chain_id=chain_id, authors=[hospital]
            )
            result = report.to_dict()
            print(f"\naudit of the published log: {result['result']}")
            print(
                table(
                    ["entries", "records", "anchors", "checkpoints", "defects"],
                    [
                        [
                            report.entries,
                            report.records,
                            len(report.anchors),
                            report.checkpoints,
                            len(report.defects),
                        ]
                    ],
                )
            )
            print("events by kind:", dict(sorted(report.kinds.items())))
            print(
                table(
                    ["tree size", "block", "time"],
                    [[t["treeSize"], t["block"], t["time"]] for t in result["timeline"]],
                )
            )
            assert report.passed, report.defects
            assert result["result"] == "pass"
            assert [t["treeSize"] for t in result["timeline"]] == [r.tree_size for r in rounds]
            assert report.records == 50
            assert report.kinds["amend"] == 3

            # --- An edited copy -------------------------------------------------------------
            # Whoever holds the hospital's key drops the featured record's correction and
            # rewrites an old access receipt ("care" becomes "marketing"), re-signing it.
            edited = list(lines)
            del edited[entry_lines(edited, featured, "amend")[1]]
            i = entry_lines(edited, quiet, "access")[0]
            item = json.loads(edited[i])
            event = event_from_message({**item["event"], "purpose": "marketing"})
            item["event"], item["signature"] = (
                event.message(),
                "0x" + event.sign(hospital_key).signature.hex(),
            )
            edited[i] = json.dumps(item)

            caught = audit_log(
                edited, publisher=hospital, chain=pinned, chain_id=chain_id, authors=[hospital]
            )
            print(f"\naudit of the edited copy: {caught.to_dict()['result']}")
            print(
                table(
                    ["defect", "index", "record", "detail"],
                    [
                        [
                            d.kind,
                            "" if d.index is None else d.index,
                            "" if d.record_id is None else "0x" + d.record_id.hex()[:12] + "…",
                            short(d.detail),
                        ]
                        for d in caught.defects
                    ],
                )
            )
            counts = Counter(d.kind for d in caught.defects)
            print("defects by kind:", dict(counts))
            assert not caught.passed
            assert caught.defect_kinds() == {
                "missing-entry",
                "history-mismatch",
                "checkpoint-mismatch",
            }, caught.defect_kinds()

            # --- One record's lineage, from the bundles of its events -----------------------
            policy = TrustPolicy(
                authors=[hospital],
                publishers=[hospital],
                chain_id=chain_id,
                registry=registry_address,
            )
            lineage = verify_lineage(bundles, policy, chain=view)
            print(f"\nlineage of {featured[:18]}…: {lineage.to_dict()['result']}")
            print(
                table(
                    ["index", "kind", "version", "purpose"],
                    [[h.index, h.kind, h.version, h.purpose] for h in history],
                )
            )
            print(lineage.verdict.detail)
            assert lineage.passed, lineage.verdict
        print("\nauditor example: the honest log passed, the edited copy was caught")


if __name__ == "__main__":
    main()
