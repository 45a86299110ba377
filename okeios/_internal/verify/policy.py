"""Whom a verifier trusts: the caller's policy, never the bundle's word."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from okeios._internal.protocol.events import derive_log_id
from okeios._internal.protocol.signing import checksum_address
from okeios._internal.verify.report import CHAIN_PROPERTIES, OFFLINE_PROPERTIES, Property
from okeios.errors import (
    OkeiosError,
    PolicyError,
)


class _Anyone:
    """The explicit "trust any address" policy value."""

    def __repr__(self) -> str:
        return "ANYONE"


ANYONE = _Anyone()


@dataclass(frozen=True, slots=True, init=False)
class TrustPolicy:
    """Which authors and publishers a verifier accepts.

    Pass address lists, or :data:`ANYONE` to accept any signer explicitly. An empty list is
    refused as likely misuse (it would reject everything, or, worse, be read as "no limit").

    ``required`` names the properties that must pass for a report to pass (default: the
    offline ones, integrity, authenticity, inclusion and confidentiality, and also anchoring
    and consistency when a chain is pinned). Require ``anchoring`` and ``consistency`` to
    refuse a bundle whose anchor was not checked against a chain: a
    required property that was skipped, or could not be decided, makes the report
    ``undecided``, never ``pass``. A property not required is still checked when it can be, and
    its failure still fails the report.
    ``organisations`` pins organisations instead (``docs/identity.md``): each is named by the
    key that opened its log (its log id is derived from it) and maps to the roles accepted from
    it (None: any role). An event of a pinned organisation's log is accepted when its author was
    authorised by the organisation at the event's proven time, and a checkpoint when it is signed
    by the key holding the log at that size (the organisation's keys after any handover). The
    explicit ``authors`` and ``publishers`` lists stay available, alone or alongside (an author
    in the list is accepted without delegation; a publisher in the list for any log).
    """

    authors: frozenset[str] | _Anyone
    publishers: frozenset[str] | _Anyone
    chain_id: int | None
    registry: str | None
    confirmations: int
    required: frozenset[Property]
    organisations: Mapping[str, frozenset[str] | None]
    organisation_logs: Mapping[bytes, str]

    def __init__(
        self,
        *,
        authors: Iterable[str] | _Anyone | None = None,
        publishers: Iterable[str] | _Anyone | None = None,
        chain_id: int | None = None,
        registry: str | None = None,
        confirmations: int = 1,
        required: Iterable[Property | str] | None = None,
        organisations: Mapping[str, Iterable[str] | None] | Iterable[str] | None = None,
    ) -> None:
        orgs = self._organisations(organisations)
        object.__setattr__(self, "organisations", orgs)
        object.__setattr__(self, "organisation_logs", {derive_log_id(o): o for o in orgs})
        if not orgs and (authors is None or publishers is None):
            raise PolicyError("pin organisations, or both authors and publishers")
        none: frozenset[str] = frozenset()
        object.__setattr__(
            self, "authors", none if authors is None else self._normalise("authors", authors)
        )
        object.__setattr__(
            self,
            "publishers",
            none if publishers is None else self._normalise("publishers", publishers),
        )
        if (chain_id is None) != (registry is None):
            raise PolicyError("pin both the chain id and the registry address, or neither")
        if chain_id is not None and (not isinstance(chain_id, int) or chain_id <= 0):
            raise PolicyError(f"chain id must be a positive integer, got {chain_id!r}")
        try:
            pinned = None if registry is None else checksum_address(registry)
        except OkeiosError as exc:
            raise PolicyError(f"registry: {exc}") from exc
        if not isinstance(confirmations, int) or confirmations < 1:
            raise PolicyError(f"confirmations must be at least 1, got {confirmations!r}")
        object.__setattr__(self, "chain_id", chain_id)
        object.__setattr__(self, "registry", pinned)
        object.__setattr__(self, "confirmations", confirmations)
        if required is None:  # the offline properties, and the chain's when one is pinned
            required = OFFLINE_PROPERTIES | (CHAIN_PROPERTIES if chain_id is not None else set())
        object.__setattr__(self, "required", self._properties(required))

    @staticmethod
    def _properties(value: Iterable[Property | str]) -> frozenset[Property]:
        if isinstance(value, str):
            raise PolicyError("required must be a collection of property names, not one string")
        out = set()
        for item in value:
            try:
                prop = Property(item)
            except ValueError:
                known = ", ".join(p.value for p in Property if p is not Property.LINEAGE)
                raise PolicyError(f"unknown property {item!r} (known: {known})") from None
            if prop is Property.LINEAGE:
                raise PolicyError("lineage is checked by verify_lineage, not required per bundle")
            out.add(prop)
        return frozenset(out)

    def requiring(self, *props: Property | str) -> TrustPolicy:
        """This policy with ``props`` required as well."""
        return TrustPolicy(
            authors=self.authors if self.authors else None,
            publishers=self.publishers if self.publishers else None,
            chain_id=self.chain_id,
            registry=self.registry,
            confirmations=self.confirmations,
            required=self.required | self._properties(props),
            organisations=dict(self.organisations) if self.organisations else None,
        )

    @staticmethod
    def _organisations(
        value: Mapping[str, Iterable[str] | None] | Iterable[str] | None,
    ) -> dict[str, frozenset[str] | None]:
        if value is None:
            return {}
        if isinstance(value, str):
            raise PolicyError("organisations must be a list or mapping of addresses, not a string")
        pairs = value.items() if isinstance(value, Mapping) else ((v, None) for v in value)
        out: dict[str, frozenset[str] | None] = {}
        for org, roles in pairs:
            try:
                address = checksum_address(org)
            except OkeiosError as exc:
                raise PolicyError(f"organisations: {exc}") from exc
            if roles is None:
                out[address] = None
                continue
            if isinstance(roles, str):
                raise PolicyError(f"roles of {address} must be a list, not one string")
            found = frozenset(roles)
            if not found or not all(isinstance(r, str) and r for r in found):
                raise PolicyError(f"roles of {address}: pass role names, or None for any role")
            out[address] = found
        if not out:
            raise PolicyError("organisations is empty: pass at least one, or None")
        return out

    def organisation_of(self, log_id: bytes) -> str | None:
        """The pinned organisation whose log ``log_id`` is, if any."""
        return self.organisation_logs.get(log_id)

    @staticmethod
    def _normalise(name: str, value: Iterable[str] | _Anyone) -> frozenset[str] | _Anyone:
        if isinstance(value, _Anyone):
            return value
        if isinstance(value, str):
            raise PolicyError(f"{name} must be a list of addresses, not one string")
        try:
            found = frozenset(checksum_address(a) for a in value)
        except OkeiosError as exc:
            raise PolicyError(f"{name}: {exc}") from exc
        if not found:
            raise PolicyError(f"{name} is empty: pass addresses, or ANYONE to trust any")
        return found

    def allows_author(self, address: str) -> bool:
        return isinstance(self.authors, _Anyone) or address in self.authors

    def allows_publisher(self, address: str) -> bool:
        return isinstance(self.publishers, _Anyone) or address in self.publishers
