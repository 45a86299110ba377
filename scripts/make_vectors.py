"""Write tests/vectors/okeios-v2.json: pinned test vectors for the okeios v2 formats.

The file pins, for a fixed record, seed and keys: canonical bytes, every salt and field digest,
the record commitment, the event id and signature, the log root, the checkpoint id and the full
binary bundle. Independent implementations can test against it; `tests/test_vectors.py` checks
the library still reproduces it byte for byte, and re-derives every value from the documents
with hashlib, hmac and eth-account only. (``okeios-v1.json`` stays as the record of version 1:
its bundles must be refused, never misread.) Regenerate only with a deliberate format change:

    python scripts/make_vectors.py
"""

from __future__ import annotations

import json
from hashlib import sha256
from pathlib import Path
from typing import Any

from okeios._internal.protocol.canonical import canonicalize, parse_json
from okeios._internal.protocol.commitment import commit
from okeios._internal.protocol.events import derive_log_id
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.publisher import Publisher

OUT = Path(__file__).resolve().parents[1] / "tests" / "vectors" / "okeios-v2.json"

RECORD = (
    '{"resourceType": "Observation", "status": "final", "valueQuantity": '
    '{"value": 6.10, "unit": "%"}, "code": {"coding": [{"system": "http://loinc.org", '
    '"code": "4548-4"}]}, "note": [], "issued": "2026-11-24T09:00:00Z", "a/b~c": true}'
)
SEED = sha256(b"okeios vector seed").digest()
AUTHOR_KEY = sha256(b"okeios vector author").digest()
PUBLISHER_KEY = sha256(b"okeios vector publisher").digest()
RECORD_ID = sha256(b"okeios vector record").digest()
TIME = 1_795_000_000


def build() -> dict[str, Any]:
    value = parse_json(RECORD)
    commitment, _ = commit(value, seed=SEED)
    author = LocalSigner.from_key(AUTHOR_KEY)
    publisher_key = LocalSigner.from_key(PUBLISHER_KEY)
    log_id = derive_log_id(publisher_key.address)
    counter = iter(range(1 << 30))

    def rng(n: int) -> bytes:  # deterministic data keys and nonces, for pinned vectors only
        blocks = (
            sha256(b"okeios vector rng" + next(counter).to_bytes(8, "big")).digest()
            for _ in range((n + 31) // 32)
        )
        return b"".join(blocks)[:n]

    publisher = Publisher(publisher_key, log_name="vectors", clock=lambda: TIME, rng=rng)
    for i in range(4):  # some earlier entries, so the proof is not empty
        publisher.create(
            f'{{"n": {i}}}'.encode(),
            seed=sha256(bytes([i])).digest(),
            record_id=sha256(b"r" + bytes([i])).digest(),
        )
    logged = publisher.create(
        RECORD.encode(), author=author, seed=SEED, record_id=RECORD_ID, time=TIME
    )
    signed = logged.signed
    event = signed.event
    assert event.commitment == commitment.root
    assert event.log_id == log_id
    checkpoint = publisher.checkpoint()
    bundle = publisher.bundle(signed.id, checkpoint=checkpoint)
    partial = publisher.bundle(signed.id, fields=["/valueQuantity"], checkpoint=checkpoint)
    return {
        "description": "okeios v2 test vectors; see docs/commitments.md, docs/events.md, "
        "docs/log.md, docs/bundle.md",
        "record": RECORD,
        "canonical": canonicalize(value).decode(),
        "seed": SEED.hex(),
        "fields": [
            {
                "path": list(f.tokens),
                "pointer": f.path,
                "salt": f.salt.hex(),
                "value": f.value.decode(),
                "digest": f.digest.hex(),
            }
            for f in commitment.fields.values()
        ],
        "commitment": commitment.root.hex(),
        "authorKey": AUTHOR_KEY.hex(),
        "author": author.address,
        "publisherKey": PUBLISHER_KEY.hex(),
        "publisher": publisher_key.address,
        "logId": log_id.hex(),
        "event": event.message(),
        "sealedPayload": publisher.versions.sealed_payload(RECORD_ID, 1).hex(),
        "eventId": signed.id.hex(),
        "signature": signed.signature.hex(),
        "leafHash": sha256(b"\x00" + signed.leaf_data()).hexdigest(),
        "checkpoint": checkpoint.checkpoint.message(),
        "checkpointId": checkpoint.checkpoint.id.hex(),
        "checkpointSignature": checkpoint.signature.hex(),
        "bundle": bundle.to_bytes().hex(),
        "partialBundle": partial.to_bytes().hex(),
    }


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(build(), indent=2) + "\n")
    print(f"wrote {OUT}")
