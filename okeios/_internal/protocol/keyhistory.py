"""The key-history file a publisher writes (``application/vnd.okeios.keys+json``,
``docs/identity.md``): one organisation's identity events as bundles, all proven against one
tree, and for each handover the link from the old key's last anchored tree to it.

Writing it is format only; reading it (verifying every bundle and computing the organisation's
authorisation state) is :func:`okeios._internal.verify.keyhistory.load_authority`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from okeios._internal.protocol.bundle import Bundle
from okeios._internal.protocol.events import SignedEvent
from okeios._internal.protocol.hexcodec import to_hex
from okeios._internal.protocol.signing import checksum_address

__all__ = ["KEYS_MEDIA_TYPE", "KEYS_VERSION", "Continuity", "TailEntry", "dump_key_history"]

KEYS_MEDIA_TYPE = "application/vnd.okeios.keys+json"
KEYS_VERSION = 2


Continuity = tuple[str, int, bytes, Sequence[bytes]]
"""For a handover: the old key, its last anchored tree size and root, and the RFC 9162
consistency proof from that tree to the key history's tree."""

TailEntry = tuple[int, SignedEvent, Sequence[bytes]]
"""An entry after the last identity event: its index, its signed event and its RFC 9162
inclusion proof in the key history's tree (they show no identity event was left out at the
end: ``docs/identity.md`` section 5)."""


def dump_key_history(
    organisation: str,
    tree_size: int,
    bundles: Sequence[Bundle],
    continuity: Sequence[Continuity] = (),
    tail: Sequence[TailEntry] | None = (),
) -> str:
    """The key-history file of ``organisation`` at ``tree_size`` (bundles in log order; the
    ``tail`` entries in log order; ``None`` writes a file without a tail, which a reader cannot
    show complete)."""
    doc: dict[str, object] = {
        "mediaType": KEYS_MEDIA_TYPE,
        "version": KEYS_VERSION,
        "organisation": checksum_address(organisation),
        "treeSize": tree_size,
        "bundles": [b.to_json_dict() for b in bundles],
        "continuity": [
            {
                "publisher": checksum_address(key),
                "treeSize": size,
                "root": to_hex(root),
                "proof": [to_hex(p) for p in proof],
            }
            for key, size, root, proof in continuity
        ],
    }
    if tail is not None:
        doc["tail"] = [
            {
                "index": index,
                "event": signed.event.message(),
                "signature": to_hex(signed.signature),
                "proof": [to_hex(p) for p in proof],
            }
            for index, signed, proof in tail
        ]
    return json.dumps(doc, indent=2)
