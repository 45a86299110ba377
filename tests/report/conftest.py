"""A published hospital log with every kind of event, anchored in five rounds hours apart
(a fake clock for the store, eth-tester's time travel for the chain), and a tampered copy."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from okeios._internal.chain.registry import Registry
from okeios._internal.cli.demo import synthetic_records
from okeios._internal.crypto.recipients import RecipientPrivateKey, Suite, bind_recipient_key
from okeios._internal.protocol.events import event_from_message
from okeios._internal.protocol.signing import LocalSigner
from okeios._internal.publish.anchoring import anchor
from okeios._internal.publish.store import Store
from okeios._internal.verify.audit import AuditReport
from tests.helpers import CountingRng, audit_own_log

HOUR = 3600


class Clock:
    def __init__(self, start: int) -> None:
        self.now = start

    def __call__(self) -> float:
        return float(self.now)

    def tick(self, seconds: int) -> None:
        self.now += seconds


@dataclass
class Published:
    store: Store
    registry: Registry
    lines: list[str]
    tampered: list[str]
    featured: str  # a record amended, granted, revoked and read
    erased: str
    reader: str
    recipient: str

    def audit(self, lines: list[str]) -> AuditReport:
        return audit_own_log(self.store, lines, self.registry)


def _positions(lines: list[str], record: str, kind: str) -> list[int]:
    out = []
    for i, line in enumerate(lines):
        event = json.loads(line).get("event")
        if event and event["recordId"] == record and event["kind"] == kind:
            out.append(i)
    return out


def build_published(home: Path) -> Published:
    clock = Clock(int(time.time()) + HOUR)
    store = Store.init(home / "hospital", key=CountingRng(b"report-hospital")(32), clock=clock)
    w3 = Web3(EthereumTesterProvider())
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": store.address, "value": 10**21})
    tester = w3.provider.ethereum_tester  # type: ignore[attr-defined]
    registry = Registry.deploy(w3, store.signer)
    records = synthetic_records(40, seed=5)
    nurse = LocalSigner.generate().address
    team = LocalSigner.generate()
    team_key = RecipientPrivateKey.generate(Suite.X25519)

    def anchor_now() -> None:
        clock.tick(120)
        tester.time_travel(clock.now)
        anchor(store, registry)
        clock.tick(5 * HOUR)

    logged = []
    for batch in range(4):
        for r in records[batch * 10 : batch * 10 + 10]:
            logged.extend(store.add([r]))
            clock.tick(300)
        anchor_now()
    featured = "0x" + logged[1].record_id.hex()
    erased = "0x" + logged[5].record_id.hex()
    store.amend(featured, records[1].replace(b'"status": "final"', b'"status": "amended"'))
    clock.tick(600)
    store.access.receipt(featured, nurse, purpose="treatment")
    store.access.receipt("0x" + logged[2].record_id.hex(), nurse, purpose="care")
    store.access.grant(featured, bind_recipient_key(team_key.public_key(), team), purpose="study")
    store.access.grant(erased, bind_recipient_key(team_key.public_key(), team), purpose="study")
    clock.tick(900)
    store.access.receipt(featured, team.address, purpose="study")
    anchor_now()
    store.amend(featured, records[1].replace(b'"status": "final"', b'"status": "corrected"'))
    store.access.revoke(featured, team.address, purpose="study closed")
    store.access.erase(erased, purpose="patient request")
    store.access.receipt("0x" + logged[3].record_id.hex(), nurse, purpose="care")
    anchor_now()
    lines: list[str] = []
    store.write_log(lines.append)

    tampered = list(lines)
    del tampered[_positions(tampered, featured, "amend")[1]]  # drop the correction
    i = _positions(tampered, "0x" + logged[2].record_id.hex(), "access")[0]
    item = json.loads(tampered[i])
    event = event_from_message({**item["event"], "purpose": "marketing"})
    item["event"] = event.message()
    item["signature"] = "0x" + event.sign(store.signer).signature.hex()
    tampered[i] = json.dumps(item)
    return Published(store, registry, lines, tampered, featured, erased, nurse, team.address)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Published:
    return build_published(tmp_path_factory.mktemp("published"))
