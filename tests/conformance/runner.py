"""Runs one conformance vector (``docs/spec/vectors.md``) through the Python verifier and
returns what the vector format records as its outcome, so that a test can compare it with the
vector's ``expect`` member. The chain a chain-dependent vector reads is the recorded view the
vector carries (:class:`RecordedChain`): no node is needed."""

from __future__ import annotations

from typing import Any

from okeios._internal.protocol.anchors import AnchorEntry
from okeios._internal.protocol.bundle import Bundle
from okeios._internal.protocol.hexcodec import from_hex
from okeios._internal.protocol.signing import checksum_address
from okeios._internal.verify.bundle import verify_bundle
from okeios._internal.verify.identity import Authority
from okeios._internal.verify.keyhistory import load_authority
from okeios._internal.verify.lineage import verify_lineage
from okeios._internal.verify.policy import ANYONE, TrustPolicy
from okeios._internal.verify.report import Report, Status
from okeios.errors import (
    BadMagicError,
    BundleError,
    ChainError,
    EncodingError,
    IdentityError,
    NonCanonicalEncodingError,
    RegistryMissingError,
    TrailingGarbageError,
    TruncationError,
    UnknownFieldError,
    UnsupportedVersionError,
)

#: The decoding error classes of docs/spec/bundle.md, most specific first.
ERROR_NAMES: tuple[tuple[type[BundleError], str], ...] = (
    (BadMagicError, "bad-magic"),
    (UnsupportedVersionError, "unsupported-version"),
    (TruncationError, "truncated"),
    (TrailingGarbageError, "trailing-bytes"),
    (UnknownFieldError, "unknown-field"),
    (NonCanonicalEncodingError, "non-canonical"),
    (EncodingError, "malformed"),
)


def error_name(exc: BundleError) -> str:
    for cls, name in ERROR_NAMES:
        if isinstance(exc, cls):
            return name
    raise AssertionError(f"unnamed bundle error {type(exc).__name__}")


class RecordedChain:
    """A :class:`~okeios._internal.protocol.anchors.ChainView` answering from a vector's recorded
    chain
    facts: ``{"chainId", "head", "registries": {address: [anchor, ...]}}`` or
    ``{"unavailable": "why"}``."""

    def __init__(self, facts: dict[str, Any]) -> None:
        self.facts = facts

    def _up(self) -> None:
        if "unavailable" in self.facts:
            raise ChainError(self.facts["unavailable"])

    def chain_id(self) -> int:
        self._up()
        return int(self.facts["chainId"])

    def head(self) -> int:
        self._up()
        return int(self.facts["head"])

    def _anchors(self, registry: str, publisher: str, log_id: bytes) -> list[AnchorEntry]:
        self._up()
        found = self.facts["registries"].get(checksum_address(registry))
        if found is None:
            raise RegistryMissingError(f"no contract at registry {registry}")
        out = []
        for a in found:
            if checksum_address(a["publisher"]) == checksum_address(publisher) and from_hex(
                a["logId"]
            ) == bytes(log_id):
                out.append(
                    AnchorEntry(
                        len(out), a["treeSize"], from_hex(a["root"]), a["block"], a["timestamp"]
                    )
                )
        return out

    def anchor_at(
        self, registry: str, publisher: str, log_id: bytes, tree_size: int
    ) -> AnchorEntry | None:
        for a in self._anchors(registry, publisher, log_id):
            if a.tree_size == tree_size:
                return a
        return None

    def latest(self, registry: str, publisher: str, log_id: bytes) -> AnchorEntry | None:
        found = self._anchors(registry, publisher, log_id)
        return found[-1] if found else None


def make_policy(raw: dict[str, Any]) -> TrustPolicy:
    def who(value: Any) -> Any:
        return ANYONE if value == "*" else value

    return TrustPolicy(
        authors=who(raw.get("authors")),
        publishers=who(raw.get("publishers")),
        organisations=raw.get("organisations"),
        chain_id=raw.get("chainId"),
        registry=raw.get("registry"),
        confirmations=raw.get("confirmations", 1),
        required=raw.get("required"),
    )


def load_bundle(item: dict[str, Any]) -> Bundle:
    """A bundle input: ``{"binary": hex}`` or ``{"json": text}``."""
    if "binary" in item:
        return Bundle.from_bytes(bytes.fromhex(item["binary"]))
    return Bundle.from_json(item["json"])


def _verdicts(report: Report) -> dict[str, dict[str, str]]:
    return {
        str(v.property): {"result": str(v.status)}
        | ({"reason": str(v.reason)} if v.reason is not None else {})
        for v in report.verdicts
    }


def _exit(result: str) -> int:
    return {"pass": 0, "fail": 1, "undecided": 2}[result]


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """The outcome of one bundle or lineage case, in the shape of its ``expect`` member."""
    policy = make_policy(case["policy"])
    chain = RecordedChain(case["chain"]) if "chain" in case else None
    authorities: Authority | None = None
    if "keyHistory" in case:
        try:
            authorities = load_authority(case["keyHistory"], policy, chain=chain)
        except IdentityError:
            return {"keyHistoryError": True, "result": "undecided", "exit": 2}
    if "bundles" in case:  # a lineage case
        try:
            bundles = [load_bundle(b) for b in case["bundles"]]
        except BundleError as exc:
            return {"error": error_name(exc), "result": "undecided", "exit": 2}
        lineage = verify_lineage(
            bundles,
            policy,
            chain=chain,
            authorities=authorities,
            **({"tolerance": case["tolerance"]} if "tolerance" in case else {}),
        )
        v = lineage.verdict
        verdict = {"result": str(v.status)} | ({"reason": str(v.reason)} if v.reason else {})
        outcomes = [r.outcome for r in lineage.reports]
        if v.status is Status.FAIL or Status.FAIL in outcomes:
            result = "fail"
        elif Status.UNDECIDED in outcomes:
            result = "undecided"
        else:
            result = "pass"
        return {"result": result, "exit": _exit(result), "lineage": verdict}
    try:
        bundle = load_bundle(case["bundle"])
    except BundleError as exc:
        return {"error": error_name(exc), "result": "undecided", "exit": 2}
    report = verify_bundle(
        bundle,
        policy,
        record=None if "record" not in case else case["record"].encode("utf-8"),
        chain=chain,
        ciphertext=None if "ciphertext" not in case else from_hex(case["ciphertext"]),
        authorities=authorities,
    )
    result = str(report.outcome)
    return {"result": result, "exit": _exit(result), "verdicts": _verdicts(report)}


# --- shares, key histories, the log ---------------------------------------------------------------


def run_share(case: dict[str, Any]) -> dict[str, Any]:
    """A share case: open ``share`` (JSON text) with ``recipientKey`` (hex of the encoded
    private key) under ``policy``; the record's canonical text and the report, or the error."""
    from okeios._internal.crypto.recipients import RecipientPrivateKey
    from okeios._internal.crypto.share import Share
    from okeios._internal.verify.share import open_share
    from okeios.errors import DecryptionError, RecipientError

    policy = make_policy(case["policy"])
    chain = RecordedChain(case["chain"]) if "chain" in case else None
    try:
        share = Share.from_json(case["share"])
    except BundleError as exc:
        return {"error": error_name(exc), "result": "undecided", "exit": 2}
    key = RecipientPrivateKey.from_bytes(bytes.fromhex(case["recipientKey"]))
    try:
        record, report = open_share(share, key, policy, chain=chain)
    except RecipientError:
        return {"error": "wrong-suite", "result": "undecided", "exit": 2}
    except DecryptionError:
        return {"error": "decryption-failed", "result": "undecided", "exit": 2}
    result = str(report.outcome)
    return {
        "result": result,
        "exit": _exit(result),
        "record": record.decode("utf-8"),
        "verdicts": _verdicts(report),
    }


def run_key_history(case: dict[str, Any]) -> dict[str, Any]:
    """A key-history case: load it under ``policy``; refused, or the outcome of each author
    check of ``checks`` (identity.md rule 3)."""
    policy = make_policy(case["policy"])
    try:
        authority = load_authority(case["keyHistory"], policy)
    except IdentityError:
        return {"refused": True}
    out = []
    for check in case.get("checks", []):
        roles = check.get("roles")
        got = authority.check_author(
            check["author"],
            index=check["index"],
            time=check["time"],
            proven_time=check.get("provenTime"),
            roles=None if roles is None else frozenset(roles),
        )
        out.append("pass" if got.reason is None else got.reason)
    checkpoints = []
    for check in case.get("checkpointChecks", []):
        why = authority.check_checkpoint(check["publisher"], check["treeSize"])
        checkpoints.append("pass" if why is None else "refused")
    return {"refused": False, "checks": out, "checkpointChecks": checkpoints}


def run_proof(case: dict[str, Any]) -> str:
    """A log case: an inclusion or consistency proof, ``pass`` or the reason it fails."""
    from okeios._internal.protocol.merkle import (
        ProofMismatchError,
        leaf_hash,
        verify_consistency,
        verify_inclusion,
    )
    from okeios.errors import ProofError

    path = [from_hex(p) for p in case["proof"]]
    try:
        if case["type"] == "inclusion":
            verify_inclusion(
                case["index"],
                case["treeSize"],
                leaf_hash(from_hex(case["entry"])),
                path,
                from_hex(case["root"]),
            )
        else:
            verify_consistency(
                case["oldSize"],
                case["newSize"],
                from_hex(case["oldRoot"]),
                from_hex(case["newRoot"]),
                path,
            )
    except ProofMismatchError:
        return "root-mismatch"
    except ProofError:
        return "proof-malformed"
    return "pass"


def run_tiles(case: dict[str, Any]) -> dict[str, Any]:
    """A tiled-log case: the files of a tiled log (``{path: {"text"} | {"base64"}}``) audited
    for ``publisher`` without a chain; the defect kinds found, in order of first occurrence,
    or ``{"error": "not-a-tiled-log"}``."""
    import base64
    import tempfile
    from pathlib import Path

    from okeios._internal.verify.tiles import TileFetcher, audit_tiles
    from okeios.errors import TileError

    with tempfile.TemporaryDirectory() as tmp:
        for rel, content in case["files"].items():
            path = Path(tmp) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if "text" in content:
                path.write_bytes(content["text"].encode("utf-8"))
            else:
                path.write_bytes(base64.b64decode(content["base64"]))
        try:
            report = audit_tiles(
                TileFetcher(tmp), publisher=case["publisher"], chain=None, now=case["now"]
            )
        except TileError:
            return {"error": "not-a-tiled-log"}
    kinds: list[str] = []
    for d in report.defects:
        if str(d.kind) not in kinds:
            kinds.append(str(d.kind))
    return {"entries": report.entries, "defects": kinds}
