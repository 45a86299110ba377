"""The service API as a hospital engineer meets it on day one (issues 21 and 25): every store
verb on :class:`~okeios.service.Okeios`, values ``json.dumps`` takes, typed history, readable
reprs, and a chain connection that is not rebuilt per verified bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from okeios import verify_bundle
from okeios.errors import AccessError, InputError
from okeios.service import HistoryEntry, Okeios
from tests.conftest import shared_dir


@pytest.fixture
def ok(tmp_path: Path) -> Any:
    with Okeios.open(tmp_path / "home", create=True) as opened:
        yield opened


def test_show_returns_values_json_dumps_takes_with_decimals_kept(ok: Okeios) -> None:
    bmi = shared_dir("fhir", "r4-examples") / "Observation-bmi.json"
    ok.add_file(bmi)
    shown = ok.show("Observation/bmi")
    assert json.loads(json.dumps(shown)) == json.loads(bmi.read_text())
    assert shown["valueQuantity"]["value"] == 16.2
    ok.add([b'{"resourceType": "Observation", "id": "x", "valueQuantity": {"value": 1.50}}'])
    assert '"value": 1.50' in ok.show_json("Observation/x")
    assert json.dumps(ok.show("Observation/x", version=1)["valueQuantity"]) == '{"value": 1.5}'


def test_history_is_typed(ok: Okeios) -> None:
    ok.add([{"resourceType": "Patient", "id": "p", "gender": "female"}])
    ok.amend("Patient/p", {"resourceType": "Patient", "id": "p", "gender": "other"})
    history = ok.history("Patient/p")
    assert all(isinstance(e, HistoryEntry) for e in history)
    assert [(e.kind, e.version) for e in history] == [("create", 1), ("amend", 2)]
    assert history[1].event.startswith("0x")
    assert history[0].to_dict()["kind"] == "create"


def test_results_print_hex_not_raw_bytes(ok: Okeios) -> None:
    (put,) = ok.add([{"resourceType": "Patient", "id": "p"}])
    anchored = ok.anchor()
    report = ok.verify(ok.export("Patient/p"))
    for value in (put, anchored, report):
        shown = repr(value)
        assert "=b'" not in shown, shown[:300]
        assert '=b"' not in shown, shown[:300]
    assert f"record_id=0x{put.record_id.hex()}" in repr(put)
    assert "kind='create'" in repr(put)
    assert f"event_id=0x{report.event_id.hex()}" in repr(report)
    assert "property='integrity', status='pass'" in repr(report)
    assert "…(" in repr(anchored)  # the raw transaction: its start and its length


def test_every_store_verb_is_on_the_service(ok: Okeios, tmp_path: Path) -> None:
    from okeios._internal.crypto.recipients import RecipientPrivateKey, Suite, bind_recipient_key
    from okeios._internal.protocol.signing import LocalSigner

    (put,) = ok.add(
        [{"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "x"}}]
    )
    signer = LocalSigner.generate()
    key = RecipientPrivateKey.generate(Suite.X25519)
    binding = bind_recipient_key(key.public_key(), signer)
    share = ok.grant("Observation/o", binding.to_json(), purpose="study")
    assert share.recipient == signer.address
    assert ok.share("Observation/o", signer.address).recipient == signer.address
    ok.access("Observation/o", signer.address, purpose="read for the study")
    ok.revoke("Observation/o", signer.address, purpose="study closed")
    with pytest.raises(AccessError):
        ok.share("Observation/o", signer.address)

    disclosed = ok.disclose("Observation/o", ["/status"])
    assert [f.path for f in disclosed.disclosure.fields] == ["/status"]
    with pytest.raises(InputError):
        ok.disclose("Observation/o", [])

    author = LocalSigner.generate().address
    authorised = ok.authorise(author, "physician", purpose="joined")
    assert authorised.signed.event.kind == "authorise"
    assert ok.deauthorise(author, purpose="left").signed.event.kind == "deauthorise"

    ok.erase("Observation/o", purpose="patient request")
    kinds = [e.kind for e in ok.history("0x" + put.record_id.hex())]  # Type/id is forgotten
    assert kinds == ["create", "grant", "access", "revoke", "erase"]
    assert verify_bundle(disclosed, ok.policy()).verdict("integrity").passed


def test_verify_against_a_chain_opens_it_once(ok: Okeios, monkeypatch: pytest.MonkeyPatch) -> None:
    import okeios._internal.chain.connect as connect

    ok.add([{"resourceType": "Patient", "id": f"p{i}"} for i in range(5)])
    ok.anchor()
    bundles = [ok.export(f"Patient/p{i}") for i in range(5)]
    opened: list[str] = []
    real = connect.open_chain

    def counting(spec: str, *args: Any, **kwargs: Any) -> Any:
        opened.append(spec)
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(connect, "open_chain", counting)
    assert all(ok.verify(b, chain="embedded").passed for b in bundles)
    assert opened == ["embedded"]
    reports = ok.verify_many(bundles, chain="embedded")
    assert [r.passed for r in reports] == [True] * 5
    assert opened == ["embedded"]
    assert [r.event_id for r in reports] == [b.event.id for b in bundles]


def test_a_bundle_verified_right_after_adding_is_pending_not_failed(ok: Okeios) -> None:
    from okeios import Reason, Status

    ok.add([{"resourceType": "Patient", "id": "old"}])
    ok.anchor()
    (fresh,) = ok.add([{"resourceType": "Patient", "id": "new"}])  # after the anchor
    bundle = ok.export("Patient/new")
    assert bundle.anchor is None
    for report in (
        ok.verify(bundle, chain="embedded"),
        *ok.verify_many([bundle], chain="embedded"),
    ):
        assert report.outcome is Status.UNDECIDED
        assert report.failures == ()
        anchoring = report.verdict("anchoring")
        assert anchoring.reason is Reason.ANCHOR_PENDING
        assert "decidable once the publisher anchors a tree of size 2" in anchoring.detail
        assert report.verdict("consistency").reason is Reason.ANCHOR_PENDING
    ok.anchor()
    assert ok.verify(ok.export("Patient/new"), chain="embedded").passed
    # A bundle that claims an anchor the chain does not hold still fails.
    claimed = ok.export("Patient/old")
    assert claimed.anchor is not None
    assert fresh.record_id != claimed.event.event.record_id


def test_a_log_never_anchored_is_pending_too(ok: Okeios, tmp_path: Path) -> None:
    from okeios import Reason

    ok.add([{"resourceType": "Patient", "id": "a"}])
    ok.anchor()
    with Okeios.open(tmp_path / "other", create=True) as other:
        other.add([{"resourceType": "Patient", "id": "b"}])
        stranger = other.export("Patient/b")
    policy_home = ok  # trusts only itself: authenticity fails, anchoring is still pending
    report = policy_home.verify(stranger, chain="embedded")
    assert report.verdict("anchoring").reason is Reason.ANCHOR_PENDING
    assert "never anchored yet" in report.verdict("anchoring").detail
