"""``okeios inspect FILE``: what a bundle, a share, a key history or an SD-JWT *claims*, read
without checking anything, as ``openssl x509 -text`` prints a certificate.

Every line is what the file says about itself: nothing is verified, and the output says so
first (``"verified": false`` in JSON). ``okeios verify``, ``decrypt``, ``sd-jwt verify`` or
``authors audit`` check it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from okeios._internal.cli import options as o
from okeios._internal.protocol.hexcodec import to_hex
from okeios.errors import InputError, OkeiosError

__all__ = ["describe", "register"]

UNVERIFIED = "UNVERIFIED: what this file claims; nothing here was checked"
CHECK_WITH = {
    "bundle": "okeios verify FILE",
    "share": "okeios decrypt FILE --key KEY",
    "key history": "okeios verify BUNDLE --org ADDRESS --keys FILE",
    "sd-jwt": "okeios sd-jwt verify FILE --publisher ADDRESS",
}


def _iso(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bundle(bundle: Any) -> dict[str, Any]:
    """What a bundle claims: its event, who signed what, where it says it is anchored."""
    e = bundle.event.event
    cp = bundle.checkpoint.checkpoint
    shown = [f.path for f in bundle.disclosure.fields]
    out: dict[str, Any] = {
        "event": to_hex(bundle.event.id),
        "eventKind": str(e.kind),
        "record": to_hex(e.record_id),
        "version": e.version,
        "author": e.author,
        "time": _iso(e.time),
        "publisher": bundle.checkpoint.publisher,
        "logId": to_hex(e.log_id),
        "entry": bundle.inclusion.index,
        "treeSize": cp.tree_size,
        "disclosed": shown,
        "hidden": len(bundle.disclosure.digests) - len(shown),
        "anchor": None,
    }
    if e.purpose:
        out["purpose"] = e.purpose
    if int(e.subject, 16):
        out["subject"] = e.subject
    if e.role:
        out["role"] = e.role
    if e.sources:
        out["sources"] = [to_hex(s) for s in e.sources]
    if bundle.anchor is not None:
        a = bundle.anchor
        from okeios._internal.protocol.signing import checksum_address

        out["anchor"] = {
            "chainId": a.chain_id,
            "registry": checksum_address(a.registry),
            "block": a.block,
            "transaction": to_hex(a.transaction),
            "laterTreeSize": a.extension.tree_size if a.extension is not None else None,
        }
    return out


def _sd_jwt(text: str) -> dict[str, Any]:
    """What an SD-JWT claims: its issuer, times, the okeios event it names, and the paths its
    disclosures reveal (matched to the digests of the payload, without checking the
    signature)."""
    from okeios._internal.protocol.sdjwt import _digest, _field_path, _unb64u

    parts = text.strip().split("~")
    jwt, disclosures = parts[0], [p for p in parts[1:] if p]
    pieces = jwt.split(".")
    if len(pieces) != 3:
        raise InputError("not an SD-JWT: its first part is not a JWT (header.payload.signature)")
    header = json.loads(_unb64u(pieces[0], "the JWT header"))
    payload = json.loads(_unb64u(pieces[1], "the JWT payload"))
    by_digest = {_digest(d): json.loads(_unb64u(d, "a disclosure")) for d in disclosures}
    revealed: list[str] = []

    def walk(node: Any, tokens: tuple[str | int, ...]) -> None:
        if isinstance(node, dict):
            for digest in node.get("_sd", []):
                found = by_digest.get(digest)
                if isinstance(found, list) and len(found) == 3:
                    reached(found[2], (*tokens, found[1]))
            for key, value in node.items():
                if key not in ("_sd", "_sd_alg"):
                    walk(value, (*tokens, key))
        elif isinstance(node, list):
            for i, item in enumerate(node):
                if isinstance(item, dict) and set(item) == {"..."}:
                    found = by_digest.get(item["..."])
                    if isinstance(found, list) and len(found) == 2:
                        reached(found[1], (*tokens, i))
                else:
                    walk(item, (*tokens, i))

    def reached(value: Any, tokens: tuple[str | int, ...]) -> None:
        if isinstance(value, dict | list) and value:
            walk(value, tokens)
        else:
            revealed.append(_field_path(tokens))

    okeios_claim = payload.get("okeios") if isinstance(payload, dict) else None
    document = payload.get("record") if isinstance(payload.get("record"), dict | list) else None
    walk(document if document is not None else payload, ())
    out: dict[str, Any] = {
        "algorithm": header.get("alg"),
        "type": header.get("typ"),
        "issuer": payload.get("iss"),
        "issuedAt": _iso(payload["iat"]) if isinstance(payload.get("iat"), int) else None,
        "disclosures": len(disclosures),
        "disclosed": sorted(revealed),
    }
    if isinstance(okeios_claim, dict):
        out["event"] = okeios_claim.get("event")
        out["record"] = okeios_claim.get("recordId")
        out["version"] = okeios_claim.get("version")
        out["logId"] = okeios_claim.get("logId")
    return out


def describe(data: bytes) -> dict[str, Any]:
    """What ``data`` (a bundle in either form, a share, a key history or an SD-JWT) claims,
    with ``"verified": false``. :class:`~okeios.errors.InputError` for anything else."""
    head = data.lstrip()[:1]
    if head == b"{":
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"not JSON: {exc}") from None
        media = doc.get("mediaType") if isinstance(doc, dict) else None
        from okeios._internal.crypto.share import SHARE_MEDIA_TYPE, Share
        from okeios._internal.protocol.keyhistory import KEYS_MEDIA_TYPE

        if media == SHARE_MEDIA_TYPE:
            share = Share.from_json(data)
            claims = {
                "recipient": share.recipient,
                "suite": share.suite,
                "sealedBytes": len(share.payload),
                "bundle": _bundle(share.bundle),
            }
            return {"verified": False, "kind": "share", **claims}
        if media == KEYS_MEDIA_TYPE:
            from okeios._internal.protocol.bundle import Bundle

            events = [_bundle(Bundle.from_json(json.dumps(b))) for b in doc.get("bundles", [])]
            return {
                "verified": False,
                "kind": "key history",
                "organisation": doc.get("organisation"),
                "treeSize": doc.get("treeSize"),
                "events": [
                    {
                        k: e.get(k)
                        for k in ("eventKind", "subject", "role", "time", "entry", "anchor")
                    }
                    for e in events
                ],
                "handovers": len(doc.get("continuity", [])),
            }
    elif head and head not in (b"\x00",) and b"~" in data and data.count(b".") >= 2:
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        if text and "." in text.split("~")[0]:
            return {"verified": False, "kind": "sd-jwt", **_sd_jwt(text)}
    from okeios._internal.protocol.bundle import Bundle

    try:
        bundle = Bundle.load(data)
    except OkeiosError as exc:
        raise InputError(
            f"not a bundle, share, key history or SD-JWT okeios can read: {exc}"
        ) from None
    form = "json" if head == b"{" else "binary"
    return {"verified": False, "kind": "bundle", "form": form, **_bundle(bundle)}


def _lines(claims: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in claims.items():
        if key in ("verified",):
            continue
        if isinstance(value, dict):
            out.append(f"{prefix}{key}:")
            out.extend(_lines(value, prefix + "  "))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            out.append(f"{prefix}{key}: {len(value)}")
            for item in value:
                out.extend(_lines(item, prefix + "  - "))
        else:
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            out.append(f"{prefix}{key}: {o.safe('-' if shown in (None, '') else shown)}")
    return out


def _cmd_inspect(args: argparse.Namespace) -> int:
    claims = describe(o.read_input(args.file, what="file"))
    check = CHECK_WITH[claims["kind"]]
    if args.json:
        o.print_json({**claims, "checkWith": check})
    else:
        print(f"{UNVERIFIED} (check it: {check})")
        print("\n".join(_lines(claims)))
    return o.EXIT_OK


def register(
    command: Callable[[str, str, Callable[[argparse.Namespace], int]], argparse.ArgumentParser],
) -> None:
    """Add ``inspect`` through the main parser's ``command`` helper."""
    p = command(
        "inspect",
        "print what a bundle, share, key history or SD-JWT claims, UNVERIFIED (verify checks)",
        _cmd_inspect,
    )
    p.add_argument(
        "file", metavar="FILE", help="a bundle (binary or JSON), share, key history or SD-JWT"
    )
