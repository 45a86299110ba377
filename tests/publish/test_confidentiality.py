"""Confidentiality: an encrypted store, grants and revocations, shares, erasure, selective
disclosure, and what an attacker who sees everything public can and cannot learn."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from okeios._internal.chain.registry import Registry, RegistryView
from okeios._internal.cli.demo import synthetic_records
from okeios._internal.crypto.recipients import RecipientPrivateKey, Suite, bind_recipient_key
from okeios._internal.crypto.share import Share
from okeios._internal.protocol.canonical import canonicalize, iter_leaves, parse_json
from okeios._internal.protocol.commitment import field_digest
from okeios._internal.protocol.events import EventKind
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.anchoring import anchor
from okeios._internal.publish.store import Store
from okeios._internal.verify.bundle import verify_bundle
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.report import Property
from okeios._internal.verify.share import open_share
from okeios.errors import AccessError, DecryptionError, InputError, OkeiosError, RecipientError
from tests.helpers import CountingRng

RECORDS = synthetic_records(12, seed=5)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.init(tmp_path / "home", key=CountingRng(b"owner")(32)) as s:
        yield s


def _policy(store: Store) -> TrustPolicy:
    return TrustPolicy(authors=[store.address], publishers=[store.address])


def _recipient(suite: Suite = Suite.X25519) -> tuple[LocalSigner, RecipientPrivateKey, object]:
    who = LocalSigner.generate()
    key = RecipientPrivateKey.generate(suite)
    return who, key, bind_recipient_key(key.public_key(), who)


def _secret_values(records: list[bytes]) -> set[bytes]:
    """Every value of the records that would identify them: strings of 6+ characters and the
    lab values, as they appear in the records' text."""
    found: set[bytes] = set()
    for raw in records:
        for _, value in iter_leaves(parse_json(raw)):
            text = canonicalize(value).strip(b'"')
            if len(text) >= 6 or (text[:1].isdigit() and len(text) >= 4):
                found.add(text)
    return found


def _home_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def test_the_store_holds_no_plaintext(store: Store) -> None:
    store.add(RECORDS)
    store.amend("0x" + store.record_ids()[3].hex(), RECORDS[3].replace(b"final", b"amended"))
    store.checkpoints.current()
    home = store.home
    store.close()
    secrets = _secret_values(RECORDS)
    assert len(secrets) > 40
    blob = _home_bytes(home)
    leaked = sorted(s for s in secrets if s in blob)
    assert leaked == [], f"plaintext found in the store: {leaked[:5]}"
    # ...and yet everything is there for the owner.
    with Store.open(home) as again:
        rid = again.record_ids()[0]
        payload, _ = again.versions.get_version(rid, 1)
        assert payload == canonicalize(parse_json(RECORDS[0]))


def test_grant_share_decrypt_verify(store: Store) -> None:
    logged = store.add(RECORDS[:3])
    ident = "0x" + logged[1].record_id.hex()
    for suite in Suite:
        who, key, binding = _recipient(suite)
        share = store.access.grant(ident, binding, purpose="second opinion")
        again = Share.from_json(share.to_json())
        record, report = open_share(again, key, _policy(store))
        assert record == canonicalize(parse_json(RECORDS[1]))
        assert report.passed, report.failures
        conf = report.verdict(Property.CONFIDENTIALITY)
        assert conf.passed
        assert "the ciphertext given is that payload" in conf.detail
        assert report.verdict(Property.INTEGRITY).detail.startswith("the record matches")
        # The share file itself holds none of the record's values.
        assert not any(s in share.to_json().encode() for s in _secret_values([RECORDS[1]]))
        history = store.history(ident)
        assert history[-1]["kind"] == "grant"
        assert history[-1]["subject"] == who.address


def test_wrong_keys_tampering_and_revocation(store: Store) -> None:
    logged = store.add(RECORDS[:2])
    ident = "0x" + logged[0].record_id.hex()
    who, key, binding = _recipient()
    share = store.access.grant(ident, binding)
    _, other_key, _ = _recipient()
    with pytest.raises(DecryptionError):
        open_share(share, other_key, _policy(store))
    bad_payload = bytearray(share.payload)
    bad_payload[len(bad_payload) // 2] ^= 1
    with pytest.raises(DecryptionError):
        open_share(dataclasses.replace(share, payload=bytes(bad_payload)), key, _policy(store))
    bad_wrap = bytearray(share.wrapped_key)
    bad_wrap[-1] ^= 1
    with pytest.raises(DecryptionError):
        open_share(dataclasses.replace(share, wrapped_key=bytes(bad_wrap)), key, _policy(store))
    # A binding whose key was swapped is refused before anything is wrapped.
    _, stranger_key, _ = _recipient()
    forged = dataclasses.replace(binding, public_key=stranger_key.public_key().raw)
    size = store.size
    with pytest.raises(RecipientError):
        store.access.grant(ident, forged)
    assert store.size == size  # nothing logged, nothing lost
    # Revocation: no share any more; the next version has a new key the old share cannot open.
    store.access.revoke(ident, who.address, purpose="treatment ended")
    with pytest.raises(AccessError, match="revoked"):
        store.access.share(ident, who.address)
    store.amend(ident, RECORDS[0].replace(b"final", b"corrected"))
    with pytest.raises(AccessError, match="never granted"):
        store.access.share(ident, who.address)
    sealed_v2, _, _ = store.versions.secrets(logged[0].record_id, 2)
    with pytest.raises(DecryptionError):
        open_share(dataclasses.replace(share, payload=sealed_v2), key, _policy(store))
    kinds = [e["kind"] for e in store.history(ident)]
    assert kinds == ["create", "grant", "revoke", "amend"]


@pytest.mark.sqlite_only(reason="reads the SQLite file to show the keys are gone from it")
def test_erasure_keeps_history_verifiable(store: Store, tmp_path: Path) -> None:
    w3 = Web3(EthereumTesterProvider())
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": store.address, "value": 10**21})
    registry = Registry.deploy(w3, store.signer)
    logged = store.add(RECORDS[:4])
    ident = "0x" + logged[2].record_id.hex()
    who, _, binding = _recipient()
    store.access.grant(ident, binding)
    anchor(store, registry)
    before = store.export(ident, reveal_all=True)
    erased = store.access.erase(ident, purpose="patient request")
    anchor(store, registry)
    with pytest.raises(AccessError, match="erased"):
        store.versions.get_version(logged[2].record_id, 1)
    with pytest.raises(AccessError):
        store.access.share(ident, who.address)
    with pytest.raises(AccessError):
        store.export(ident, fields=["/status"])
    policy = TrustPolicy(authors=[store.address], publishers=[store.address],
                         chain_id=registry.chain_id, registry=registry.address)  # fmt: skip
    view = RegistryView(w3)
    # Every event of the erased record still verifies, against the chain too.
    for event_id in store.event_ids_of(logged[2].record_id):
        report = verify_bundle(
            store.export("0x" + event_id.hex(), reveal_all=True), policy, chain=view
        )
        assert report.passed, report.failures
    erase_report = verify_bundle(
        store.export("0x" + erased.id.hex(), reveal_all=True), policy, chain=view
    )
    assert "erasure" in erase_report.verdict(Property.CONFIDENTIALITY).detail
    assert erase_report.kind == str(EventKind.ERASE)
    # A bundle exported before erasure keeps verifying (it carries its own disclosure).
    assert verify_bundle(before, policy, chain=RegistryView(w3)).verdict(Property.INTEGRITY).passed
    # The keys are gone from the database, not just flagged.
    home = store.home
    store.close()
    db = sqlite3.connect(home / "store.sqlite")
    rows = db.execute(
        "SELECT data_key, seed FROM versions WHERE record_id = ?", (logged[2].record_id,)
    ).fetchall()
    assert rows == [(None, None)]
    db.close()


@pytest.mark.sqlite_only(reason="damages the SQLite file")
def test_a_failed_open_or_a_damaged_store_is_a_typed_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Store.init(home, passphrase="correct horse battery staple") as s:
        s.add(RECORDS[:2])
    with pytest.raises(OkeiosError):
        Store.open(home, passphrase="wrong")
    with Store.open(home, passphrase="correct horse battery staple") as s:
        assert s.size == 2
    db = home / "store.sqlite"
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3])
    (home / "store.sqlite-wal").unlink(missing_ok=True)
    with pytest.raises(OkeiosError, match=r"damaged|not a readable"):
        Store.open(home, passphrase="correct horse battery staple")


# --- what an attacker who sees everything public cannot learn ---------------------------------


def _public_hashes(blobs: list[bytes]) -> set[bytes]:
    """Every 32-byte window of the public material: any digest it holds is among them."""
    found: set[bytes] = set()
    for blob in blobs:
        found.update(blob[i : i + 32] for i in range(len(blob) - 31))
    return found


def _appears(value: bytes, public: bytes) -> bool:
    """Whether the canonical text ``value`` shows in the public bytes as a value would be
    written: bare when it is long enough that a chance match in random bytes (signatures,
    hashes, ciphertext) is negligible, else framed as a MessagePack string, a JSON member value
    or a JSON string. A bare 3-byte "4.7" is found by chance in about 1 run in 25 in the ~20 KB
    of random bytes a run makes public; a framed one is 1 in 10^5."""
    bare = value.strip(b'"')
    if len(bare) >= 8:
        return bare in public
    framed = [bytes([0xA0 + len(value)]) + value, b":" + value, b'"' + bare + b'"']
    return any(f in public for f in framed)


def test_a_dictionary_attack_confirms_no_hidden_field(store: Store) -> None:
    w3 = Web3(EthereumTesterProvider())
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": store.address, "value": 10**21})
    registry = Registry.deploy(w3, store.signer)
    patient = json.dumps({"resourceType": "Patient", "id": "p1", "birthDate": "1961-07-14"})
    lab = json.dumps({"resourceType": "Observation", "status": "final",
                      "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
                      "valueQuantity": {"value": 7.3, "unit": "%"}})  # fmt: skip
    logged = store.add([patient.encode(), lab.encode()])
    anchor(store, registry)
    # Everything public: bundles disclosing only non-sensitive fields, the chain's state and
    # transactions, and every log entry.
    public = [
        store.export("0x" + logged[0].record_id.hex(), fields=["/resourceType"]).to_bytes(),
        store.export("0x" + logged[1].record_id.hex(), fields=["/code"]).to_bytes(),
    ]
    for n in range(w3.eth.block_number + 1):
        block = w3.eth.get_block(n, full_transactions=True)
        public += [bytes(tx.get("input", tx.get("data"))) for tx in block["transactions"]]
    public += [store.publisher.log.leaf_hash_at(i) for i in range(store.size)]
    hashes = _public_hashes(public)
    joined = b"".join(public)

    hba1c = [f"{v / 10:.1f}" for v in range(40, 151)] + [f"{v / 100:.2f}" for v in range(400, 1501)]
    dates = []
    for year in range(1925, 2025):
        for month in range(1, 13):
            dates += [f"{year}-{month:02d}-{day:02d}" for day in range(1, 32)]
    guesses = [(("valueQuantity", "value"), v.encode()) for v in hba1c]
    guesses += [(("birthDate",), f'"{d}"'.encode()) for d in dates]
    confirmed = []
    for path, value in guesses:
        candidates = [
            hashlib.sha256(value).digest(),
            hashlib.sha256("/".join(path).encode() + value).digest(),
            field_digest(b"\x00" * 16, path, value),  # an attacker's best unsalted guess
            Web3.keccak(value),
        ]
        if any(c in hashes for c in candidates) or _appears(value, joined):
            confirmed.append(value)
    assert confirmed == []
    # Control: a value written into the public bytes in any of those forms would be caught.
    assert _appears(b"7.3", joined + b'{"value":7.3}')
    assert _appears(b"7.3", joined + b"\xa37.3")
    assert _appears(b'"1961-07-14"', joined + b"born 1961-07-14")
    # Control: with the salts (which never leave the owner), the same search does find them.
    commitment = store.publisher.commitment(logged[1].id)
    salt = commitment.fields[("valueQuantity", "value")].salt
    assert field_digest(salt, ("valueQuantity", "value"), b"7.3") in hashes
    birth_salt = store.publisher.commitment(logged[0].id).fields[("birthDate",)].salt
    assert field_digest(birth_salt, ("birthDate",), b'"1961-07-14"') in hashes


def test_export_discloses_nothing_unless_asked(store: Store) -> None:
    """The Python export is private by default, as ``okeios export`` is: a caller who forgets
    to choose fields hands out digests only, never the record."""
    logged = store.add(RECORDS[:1])[0]
    ident = "0x" + logged.record_id.hex()
    secrets = _secret_values(RECORDS[:1])

    quiet = store.export(ident)
    assert quiet.disclosure.fields == ()
    assert len(quiet.disclosure.digests) == len(list(iter_leaves(parse_json(RECORDS[0]))))
    assert not any(value in quiet.to_bytes() for value in secrets)

    everything = store.export(ident, reveal_all=True)
    assert len(everything.disclosure.fields) == len(everything.disclosure.digests) > 0
    assert any(value in everything.to_bytes() for value in secrets)

    one = store.export(ident, fields=[everything.disclosure.fields[0].path])
    assert [f.path for f in one.disclosure.fields] == [everything.disclosure.fields[0].path]

    with pytest.raises(InputError, match="not both"):
        store.export(ident, fields=[everything.disclosure.fields[0].path], reveal_all=True)
    with pytest.raises(InputError, match="not one string"):
        store.export(ident, fields="/status")
