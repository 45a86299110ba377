"""A signer that is not in this process: ``eth_signTypedData_v4`` over JSON-RPC (EIP-1193).

A hospital keeps its publisher and clinician keys in a wallet, a signing service or a node
(an account a node holds unlocked, as Anvil and Geth's clef provide). :class:`JsonRpcSigner`
sends the full EIP-712 document the event or checkpoint is (so the holder can show what it
signs) and takes back the 65-byte signature; :func:`okeios._internal.protocol.signing.sign_typed`
then checks that it recovers to the signer's address before anything is logged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from okeios._internal.protocol.hexcodec import from_hex
from okeios._internal.protocol.signing import checksum_address, signature_from_rs
from okeios.errors import SignatureError

__all__ = ["JsonRpcSigner"]

Request = Callable[[str, list[Any]], Any]
"""An EIP-1193 ``request``: a method name and its parameters in, the ``result`` out."""


class JsonRpcSigner:
    """Signs with the account ``address`` of a JSON-RPC endpoint, through
    ``eth_signTypedData_v4``. ``request`` performs one call (see :meth:`http`)."""

    def __init__(self, request: Request, address: str) -> None:
        self._request = request
        self._address = checksum_address(address)

    @classmethod
    def http(cls, url: str, address: str, *, timeout: float = 30.0) -> JsonRpcSigner:
        """A signer for ``address`` on the JSON-RPC endpoint at ``url`` (http or https)."""
        from web3 import Web3

        provider = Web3.HTTPProvider(url, request_kwargs={"timeout": timeout})

        def request(method: str, params: list[Any]) -> Any:
            try:
                response = provider.make_request(method, params)
            except Exception as exc:  # transport failures of any kind
                raise SignatureError(f"{method} on {url} failed: {exc}") from exc
            if "error" in response:
                raise SignatureError(f"{method} on {url} refused: {response['error']}")
            return response.get("result")

        return cls(request, address)

    @property
    def address(self) -> str:
        return self._address

    def sign_typed_data(self, typed_data: Mapping[str, Any], digest: bytes) -> bytes:
        result = self._request(
            "eth_signTypedData_v4", [self._address, json.dumps(typed_data, separators=(",", ":"))]
        )
        if not isinstance(result, str) or not result.startswith("0x") or len(result) != 132:
            raise SignatureError(f"eth_signTypedData_v4 returned {result!r}, not 65 bytes")
        raw = from_hex(result, "eth_signTypedData_v4's answer", error=SignatureError, any_case=True)
        # Wallets return v as 27/28 or 0/1 and may return a high s: normalise both (the
        # signature is checked against the address either way).
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big")
        return signature_from_rs(digest, r, s, self._address)
