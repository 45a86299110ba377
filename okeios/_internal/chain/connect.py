"""Opening a chain by name: ``embedded`` (the in-process chain kept in the okeios home) or a
JSON-RPC URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from okeios._internal.config import EMBEDDED
from okeios.errors import ChainError, InputError

if TYPE_CHECKING:
    from okeios._internal.chain.registry import RegistryView

__all__ = ["ChainHandle", "chain_view", "open_chain"]


class ChainHandle:
    """An open chain: a web3 instance, a label for messages, and cleanup."""

    def __init__(self, spec: str, w3: Any, label: str, embedded: Any = None) -> None:
        self.spec = spec
        self.w3 = w3
        self.label = label
        self.embedded = embedded

    def fund(self, address: str, wei: int) -> None:
        """Give an address ether (the embedded chain only)."""
        if self.embedded is None:
            raise ChainError(f"cannot fund accounts on {self.label}")
        self.embedded.fund(address, wei)

    def save(self) -> None:
        if self.embedded is not None:
            self.embedded.save()

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.close()

    def __enter__(self) -> ChainHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_chain(spec: str, home: Path, *, timeout: float = 10.0) -> ChainHandle:
    """``embedded`` (the in-process chain kept under ``home/chains/embedded``) or a URL."""
    if spec == EMBEDDED:
        from okeios._internal.chain.embedded import EmbeddedChain

        chain = EmbeddedChain.open(home / "chains" / EMBEDDED)
        return ChainHandle(spec, chain.web3, "the embedded chain", chain)
    from web3 import HTTPProvider, Web3

    if spec.startswith(("http://", "https://")):
        import requests
        from web3.providers.rpc.utils import ExceptionRetryConfiguration

        # One retry at most: with web3's default (5 retries) a node that never answers costs
        # about five timeouts per read.
        retry = ExceptionRetryConfiguration(
            errors=(ConnectionError, requests.ConnectionError, requests.Timeout),
            retries=1,
            backoff_factor=0.1,
        )
        w3 = Web3(
            HTTPProvider(
                spec, request_kwargs={"timeout": timeout}, exception_retry_configuration=retry
            )
        )
    else:
        raise InputError(f"--chain takes 'embedded' or an http(s) URL, got {spec!r}")
    return ChainHandle(spec, w3, spec)


@contextmanager
def chain_view(
    spec: str, home: str | Path | None = None, *, timeout: float = 10.0
) -> Iterator[RegistryView]:
    """What a verifier reads anchors through: a cached view of the chain ``spec`` (a JSON-RPC
    URL, or ``embedded``: the in-process chain kept in the okeios home ``home``, default
    ``$OKEIOS_HOME`` or ``~/.okeios``), closed on leaving the block. Pass it as ``chain=`` to
    :func:`~okeios.verify_bundle`, :func:`~okeios.verify_lineage`, :func:`~okeios.audit_log` or
    :func:`~okeios.open_share`; the chain id and registry to trust come from the policy."""
    from okeios._internal.chain.registry import RegistryView
    from okeios._internal.config import resolve_home

    with open_chain(spec, resolve_home(home), timeout=timeout) as handle:
        yield RegistryView(handle.w3, label=handle.label)
