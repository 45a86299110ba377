"""Organisation trust everywhere a signature is judged, and a clinician who signs from the
command line: a clinician's own key file signs an event (``okeios add --author-key``); a
recipient that trusts only the organisation decrypts the clinician-signed share, checks the
SD-JWT's bundle and reads the record's report, all with ``--org``/``--keys``; the API takes
the same inputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from okeios._internal.cli.demo import synthetic_records
from okeios._internal.cli.identity import AUTHOR_PASSPHRASE_ENV
from tests.helpers import run_cli

okeios = run_cli


@pytest.fixture
def clinician_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv(AUTHOR_PASSPHRASE_ENV, "correct horse battery staple")
    org_home, verifier = tmp_path / "org", tmp_path / "verifier"
    okeios(org_home, "init")
    org = json.loads(okeios(org_home, "authors", "list", "--json").stdout)["organisation"]
    key = tmp_path / "doctor.key"
    made = json.loads(okeios(org_home, "authors", "keygen", "-o", str(key), "--json").stdout)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    doctor = made["address"]
    okeios(org_home, "authors", "add", doctor, "--role", "physician")
    record = tmp_path / "obs.json"
    record.write_bytes(synthetic_records(1, seed=401)[0])
    added = json.loads(
        okeios(org_home, "add", str(record), "--author-key", str(key), "--json").stdout
    )
    event = added["results"][0]["event"]
    history = json.loads(okeios(org_home, "history", event, "--json").stdout)["events"]
    assert [e["author"] for e in history] == [doctor]  # signed with the clinician's own key
    okeios(org_home, "authors", "export", "-o", str(tmp_path / "keys.json"))
    okeios(verifier, "trust", "--org", org)
    return {
        "org_home": str(org_home),
        "verifier": str(verifier),
        "org": org,
        "doctor": doctor,
        "event": event,
        "keys": str(tmp_path / "keys.json"),
        "tmp": str(tmp_path),
    }


def test_a_wrong_passphrase_signs_nothing(
    clinician_world: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    w = clinician_world
    tmp = Path(w["tmp"])
    record = tmp / "other.json"
    record.write_bytes(synthetic_records(1, seed=402)[0])
    monkeypatch.setenv(AUTHOR_PASSPHRASE_ENV, "wrong")
    before = json.loads(okeios(w["org_home"], "authors", "list", "--json").stdout)
    done = okeios(
        w["org_home"], "add", str(record), "--author-key", str(tmp / "doctor.key"), expect=2
    )
    assert "cannot open the author key" in done.stderr
    after = json.loads(okeios(w["org_home"], "authors", "list", "--json").stdout)
    assert before == after


def test_decrypt_with_organisation_trust(clinician_world: dict[str, str]) -> None:
    w = clinician_world
    tmp = Path(w["tmp"])
    key = tmp / "recipient.key"
    made = json.loads(okeios(w["verifier"], "recipient", "-o", str(key), "--json").stdout)
    share = tmp / "share.json"
    okeios(
        w["org_home"],
        "grant",
        w["event"],
        "--recipient",
        made["binding"],
        "--purpose",
        "referral",
        "-o",
        str(share),
    )
    # without the key history the clinician is not known
    done = okeios(w["verifier"], "decrypt", str(share), "--key", str(key), "--json", expect=1)
    assert json.loads(done.stdout)["verdicts"]["authenticity"]["reason"] == (
        "authorisations-missing"
    )
    done = okeios(
        w["verifier"], "decrypt", str(share), "--key", str(key), "--keys", w["keys"], "--json"
    )
    report = json.loads(done.stdout)
    assert report["result"] == "pass"
    assert "authorised as physician" in report["verdicts"]["authenticity"]["detail"]


def test_sd_jwt_verify_with_organisation_trust(clinician_world: dict[str, str]) -> None:
    w = clinician_world
    tmp = Path(w["tmp"])
    token, bundle = tmp / "value.sd-jwt", tmp / "bundle.json"
    okeios(w["org_home"], "sd-jwt", "export", w["event"], "--field", "/birthDate", "-o", str(token))
    okeios(w["org_home"], "export", w["event"], "--format", "json", "-o", str(bundle))
    args = ["sd-jwt", "verify", str(token), "--publisher", w["org"], "--bundle", str(bundle)]
    done = okeios(w["verifier"], *args, "--org", w["org"], "--json", expect=1)
    assert "authorisations-missing" in json.loads(done.stdout)["reason"]
    done = okeios(w["verifier"], *args, "--org", w["org"], "--keys", w["keys"], "--json")
    assert json.loads(done.stdout)["result"] == "pass"


def test_report_with_organisation_trust(clinician_world: dict[str, str]) -> None:
    w = clinician_world
    home = w["org_home"]
    # the publisher's own trust.json lists only its key: the clinician's event is not trusted
    done = okeios(home, "report", w["event"], "--json", expect=1)
    assert json.loads(done.stdout)["lineage"]["reason"] == "event-unverified"
    # trusting the organisation, the store's own log says who may sign
    done = okeios(home, "report", w["event"], "--org", w["org"], "--json")
    assert json.loads(done.stdout)["result"] == "pass"


def test_the_api_verifies_with_organisation_trust(clinician_world: dict[str, str]) -> None:
    from okeios.service import Okeios

    w = clinician_world
    okeios(w["org_home"], "trust", "--org", w["org"])
    env_home = os.environ.get("OKEIOS_HOME")
    try:
        with Okeios.open(w["org_home"]) as api:
            bundle = api.store.export(w["event"])
            without = api.verify(bundle)
            assert str(without.verdict("authenticity").reason) == "authorisations-missing"
            keys = Path(w["keys"]).read_bytes()
            report = api.verify(bundle, keys=[keys])
            assert report.passed, report.verdicts
    finally:
        if env_home is not None:
            os.environ["OKEIOS_HOME"] = env_home
