"""Quick start: commit, sign, log and verify one FHIR record, then disclose a single field.

Run with `python examples/quickstart.py`.
"""

from okeios import LocalSigner, Publisher, TrustPolicy, verify_bundle

record = b"""{"resourceType": "Observation", "id": "hba1c", "status": "final",
  "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
  "valueQuantity": {"value": 6.10, "unit": "%"}}"""

hospital = LocalSigner.generate()  # or any okeios.Signer: a wallet, a hardware key
publisher = Publisher(hospital)
logged = publisher.create(record)  # salted commitment, EIP-712 signed event, log entry
bundle = publisher.bundle(logged.id)  # event + disclosure + inclusion proof + checkpoint

policy = TrustPolicy(authors=[hospital.address], publishers=[hospital.address])
report = verify_bundle(bundle.to_bytes(), policy, record=record)
print(report.passed, {str(v.property): str(v.status) for v in report.verdicts})
assert report.passed

# Show one lab value and nothing else.
partial = publisher.bundle(logged.id, fields=["/valueQuantity/value"])
shown = verify_bundle(partial.to_bytes(), policy)
print(shown.passed, dict(shown.disclosed))  # {'/valueQuantity/value': '6.10'}
assert dict(shown.disclosed) == {"/valueQuantity/value": "6.10"}

# Any change to the record is caught, with a named reason.
tampered = record.replace(b"6.10", b"6.01")
failed = verify_bundle(bundle, policy, record=tampered).verdict("integrity")
print(failed.status, failed.reason, failed.detail)
assert failed.reason == "record-mismatch"
