"""The recipient key file written by ``okeios recipient``: a recipient's Ethereum key (which
signs its key binding) and its HPKE private key, as strict JSON::

    {"format": "okeios-recipient-key", "version": 1, "address": "0x...",
     "ethereumKey": "0x...", "suite": "x25519", "hpkeKey": "0x..."}

It is a secret: the command line writes it with mode 0600, atomically, and with
``okeios recipient --passphrase`` sealed whole under a passphrase
(:func:`okeios._internal.crypto.keyfile.protect_secret`). Reading it is strict (no
unknown or missing members, no duplicate keys, hex byte strings, at most 64 KiB) and every
failure is a :class:`~okeios.errors.RecipientError` naming the file.
"""

from __future__ import annotations

import json
from typing import Any

from okeios._internal.crypto._common import _expect_members, _load_json
from okeios._internal.crypto.recipients import RecipientPrivateKey
from okeios._internal.protocol.hexcodec import from_hex, to_hex
from okeios.errors import OkeiosError, RecipientError

__all__ = ["MAX_KEY_FILE", "dump_recipient_key", "load_recipient_key"]

FORMAT = "okeios-recipient-key"
MAX_KEY_FILE = 64 * 1024
_MEMBERS = {"format", "version", "address", "ethereumKey", "suite", "hpkeKey"}


def dump_recipient_key(address: str, ethereum_key: bytes, key: RecipientPrivateKey) -> bytes:
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": 1,
        "address": address,
        "ethereumKey": to_hex(ethereum_key),
        "suite": str(key.suite),
        "hpkeKey": to_hex(key.to_bytes()),
    }
    return json.dumps(document, indent=2).encode() + b"\n"


def load_recipient_key(data: bytes, name: str = "the key file") -> RecipientPrivateKey:
    """The HPKE private key of a recipient key file."""
    if len(data) > MAX_KEY_FILE:
        raise RecipientError(f"{name} is larger than {MAX_KEY_FILE} bytes: not a key file")
    try:
        doc = _load_json(data, RecipientError, f"{name} (a recipient key file)")
        _expect_members(doc, _MEMBERS, RecipientError, name)
        if doc["format"] != FORMAT or doc["version"] != 1:
            raise RecipientError(f"{name} is not an {FORMAT} file of version 1")
        raw = from_hex(doc["hpkeKey"], f"{name}: hpkeKey", error=RecipientError)
        key = RecipientPrivateKey.from_bytes(raw)
        if str(key.suite) != doc["suite"]:
            raise RecipientError(f"{name}: the key is {key.suite}, the file says {doc['suite']}")
        return key
    except RecipientError:
        raise
    except OkeiosError as exc:
        raise RecipientError(f"{name}: {exc}") from exc
