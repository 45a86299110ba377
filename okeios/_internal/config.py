"""Opening chains by name, and the verifier's pinned trust settings in the okeios home.

``trust.json`` in the home holds what a verifier trusts, never taken from a bundle::

    {"authors": ["0x..."], "publishers": ["0x..."],
     "organisations": {"0x...": null, "0x...": ["physician", "nurse"]},
     "labels": {"0x...": "St Mary's, ward 7"},
     "chains": {"131277": {"chainId": 131277, "urls": ["embedded"]},
                "31337": {"chainId": 31337, "urls": ["http://127.0.0.1:8545"],
                          "registry": "0x...", "private": true}}}

Chains are pinned by **chain id**, never by the URL that reached them: two URLs of one node
(or two application servers with different URLs sharing one store) resolve to one pin. A pin
names the canonical registry of its chain (``docs/anchoring.md``) unless it carries a private
``registry`` (an explicit opt-in, ``"private": true``). ``urls`` only remembers which ``--chain``
values reached that chain, so ``--chain URL`` finds its pin without asking the node.
A file of the previous shape (chains keyed by URL, each with an auto-deployed version 2
registry) is read as pins of those chain ids on the canonical registry.

``okeios init`` trusts the store's own publisher; ``okeios anchor`` pins the chain it anchors
to; ``okeios trust`` edits the file by hand.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from okeios._internal.protocol.canonical import load_json_strict
from okeios._internal.protocol.jsonlimits import nesting_exceeds
from okeios._internal.protocol.signing import checksum_address
from okeios.errors import InputError, OkeiosError

__all__ = [
    "CHAIN_ENV",
    "EMBEDDED",
    "EMBEDDED_CHAIN_ID",
    "SETTINGS_FILE",
    "TRUST_FILE",
    "Settings",
    "TrustConfig",
    "resolve_home",
]

TRUST_FILE = "trust.json"
SETTINGS_FILE = "okeios.toml"
CHAIN_ENV = "OKEIOS_CHAIN"
MAX_TRUST_FILE = 1024 * 1024
EMBEDDED = "embedded"
EMBEDDED_CHAIN_ID = 131277  # okeios._internal.chain.embedded.CHAIN_ID, without importing the chain


def _strings(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("expected a list of address strings")
    return value


def resolve_home(home: str | Path | None = None) -> Path:
    """The okeios home: the argument, else ``$OKEIOS_HOME``, else ``~/.okeios``."""
    if home is not None:
        return Path(home).expanduser()
    env = os.environ.get("OKEIOS_HOME")
    return Path(env).expanduser() if env else Path.home() / ".okeios"


@dataclass
class TrustConfig:
    """The verifier's pinned trust settings."""

    authors: list[str]
    publishers: list[str]
    chains: dict[str, dict[str, Any]]
    organisations: dict[str, list[str] | None] = field(default_factory=dict)
    """Pinned organisations (``docs/identity.md``): address to accepted roles (None: any)."""
    logs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Imported trust descriptors (``docs/trust-descriptor.md``), by log id (0x lower hex)."""
    labels: dict[str, str] = field(default_factory=dict)
    """An address book: address to a name people know it by (reports show it beside it)."""

    @classmethod
    def load(cls, home: Path) -> TrustConfig:
        """Read ``home/trust.json`` (an empty config if absent); anything malformed, too large
        or of the wrong types is an :class:`~okeios.errors.InputError` naming the file."""
        path = home / TRUST_FILE
        if not path.exists():
            return cls([], [], {})
        from okeios._internal.files import read_limited

        data = read_limited(path, MAX_TRUST_FILE, "trust file")
        if nesting_exceeds(data, 8):
            raise InputError(f"{path} is not a valid trust file: it nests too deep")
        try:
            raw = load_json_strict(data.decode("utf-8"))
            if not isinstance(raw, dict):
                raise TypeError("not a JSON object")
            authors = [checksum_address(a) for a in _strings(raw.get("authors", []))]
            publishers = [checksum_address(a) for a in _strings(raw.get("publishers", []))]
            chains = raw.get("chains", {})
            if not isinstance(chains, dict):
                raise TypeError("chains is not an object")
            organisations = _organisations(raw.get("organisations", {}))
            logs = raw.get("logs", {})
            if not isinstance(logs, dict) or not all(isinstance(v, dict) for v in logs.values()):
                raise TypeError("logs must map log ids to trust descriptors")
            labels = _labels(raw.get("labels", {}))
            return cls(authors, publishers, _chains(chains), organisations, logs, labels)
        except (ValueError, TypeError, RecursionError, OkeiosError) as exc:
            raise InputError(f"{path} is not a valid trust file: {exc}") from exc

    def save(self, home: Path) -> None:
        from okeios._internal.files import private_dir, write_atomic

        private_dir(home)
        data: dict[str, Any] = {
            "authors": self.authors,
            "publishers": self.publishers,
            "chains": self.chains,
        }
        if self.organisations:
            data["organisations"] = self.organisations
        if self.logs:
            data["logs"] = self.logs
        if self.labels:
            data["labels"] = self.labels
        write_atomic(home / TRUST_FILE, (json.dumps(data, indent=2) + "\n").encode())

    def trust_author(self, address: str) -> None:
        a = checksum_address(address)
        if a not in self.authors:
            self.authors.append(a)

    def trust_publisher(self, address: str) -> None:
        a = checksum_address(address)
        if a not in self.publishers:
            self.publishers.append(a)

    def trust_organisation(self, address: str, roles: list[str] | None = None) -> None:
        """Pin an organisation (its first publisher key), accepting ``roles`` (None: any)."""
        self.organisations[checksum_address(address)] = sorted(set(roles)) if roles else None

    def pin_chain(self, spec: str, chain_id: int, registry: str | None = None) -> None:
        """Pin chain ``chain_id`` (reached as ``spec``) on its canonical registry, or on the
        private ``registry`` (an explicit opt-in) when it is another address."""
        from okeios._internal.protocol.anchors import CANONICAL_REGISTRY

        entry = self.chains.setdefault(str(chain_id), {"chainId": chain_id})
        entry["chainId"] = chain_id
        urls = entry.setdefault("urls", [])
        for other in self.chains.values():  # one spec reaches one chain
            if other is not entry and spec in other.get("urls", []):
                other["urls"].remove(spec)
        if spec not in urls:
            urls.append(spec)
        if registry is not None and checksum_address(registry) != CANONICAL_REGISTRY:
            entry["registry"] = checksum_address(registry)
            entry["private"] = True
        elif registry is not None:
            entry.pop("registry", None)
            entry.pop("private", None)

    def chain_entry(self, spec: str, *, fallback: bool = True) -> dict[str, Any] | None:
        """The pin that ``spec`` reaches: by a remembered URL, else (``embedded``) by the
        embedded chain's id, else (with ``fallback``: a verifier pinned to one chain) the only
        pinned chain; None if unknown."""
        for entry in self.chains.values():
            if spec in entry.get("urls", []):
                return entry
        if spec == EMBEDDED:
            return self.chains.get(str(EMBEDDED_CHAIN_ID))
        if fallback and len(self.chains) == 1:
            return next(iter(self.chains.values()))
        return None

    def chain_by_id(self, chain_id: int) -> tuple[int, str] | None:
        """The pin of chain ``chain_id``: its id and registry (the canonical one unless a
        private registry is pinned), or None if that chain is not pinned."""
        entry = self.chains.get(str(chain_id))
        return None if entry is None else _pin(entry)

    def chain(self, spec: str, *, fallback: bool = True) -> tuple[int, str] | None:
        """The pin ``--chain spec`` reaches: its chain id and registry, or None."""
        entry = self.chain_entry(spec, fallback=fallback)
        return None if entry is None else _pin(entry)

    def is_private(self, chain_id: int) -> bool:
        """Whether chain ``chain_id`` is pinned on a private registry (not the canonical one)."""
        entry = self.chains.get(str(chain_id))
        return entry is not None and "registry" in entry


def _pin(entry: dict[str, Any]) -> tuple[int, str]:
    from okeios._internal.protocol.anchors import CANONICAL_REGISTRY

    registry = entry.get("registry") or CANONICAL_REGISTRY
    return int(entry["chainId"]), checksum_address(registry)


def _chains(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The chain pins of a trust file, keyed by chain id; legacy URL-keyed pins converted."""
    out: dict[str, dict[str, Any]] = {}
    for key, entry in raw.items():
        if not isinstance(entry, dict):
            raise TypeError(f"chain {key!r} is not an object")
        chain_id = entry.get("chainId")
        if not isinstance(chain_id, int) or isinstance(chain_id, bool) or chain_id <= 0:
            raise TypeError(f"chain {key!r} has no positive integer chainId")
        urls = entry.get("urls", [])
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise TypeError(f"the urls of chain {key!r} must be a list of strings")
        legacy = key != str(chain_id)
        pin = out.setdefault(str(chain_id), {"chainId": chain_id, "urls": []})
        for url in [*urls, *([key] if legacy else [])]:
            if url not in pin["urls"]:
                pin["urls"].append(url)
        if entry.get("private") is True and not legacy:
            pin["registry"] = checksum_address(entry.get("registry"))
            pin["private"] = True
        elif "private" in entry and entry["private"] is not False:
            raise TypeError(f"chain {key!r}: private must be true or false")
    return out


def _labels(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(isinstance(v, str) and v for v in raw.values()):
        raise TypeError("labels must map addresses to non-empty names")
    return {checksum_address(address): name for address, name in raw.items()}


def _organisations(raw: Any) -> dict[str, list[str] | None]:
    if not isinstance(raw, dict):
        raise TypeError("organisations must map addresses to role lists or null")
    out: dict[str, list[str] | None] = {}
    for address, roles in raw.items():
        if roles is not None and (
            not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles)
        ):
            raise TypeError(f"the roles of organisation {address} must be a list of names or null")
        out[checksum_address(address)] = roles
    return out


@dataclass(frozen=True, slots=True)
class Settings:
    """The defaults a service sets once, in ``okeios.toml`` in the home::

        [chain]
        url = "http://127.0.0.1:8545"   # or "embedded"; $OKEIOS_CHAIN overrides it
        confirmations = 2               # blocks that make an anchor final
        timeout = 30                    # seconds for a run's chain reads (--chain-timeout)
        anchor-timeout = 120            # seconds to wait for an anchor to become final

    Each is used where no flag or argument gives it; a missing file means no defaults (the
    built-in ones apply). Anything else in the file, or of the wrong type, is an
    :class:`~okeios.errors.InputError` naming the file.
    """

    chain: str | None = None
    confirmations: int | None = None
    timeout: float | None = None
    anchor_timeout: float | None = None

    @classmethod
    def load(cls, home: Path) -> Settings:
        import tomllib

        path = home / SETTINGS_FILE
        values: dict[str, Any] = {}
        if path.exists():
            from okeios._internal.files import read_limited

            try:
                raw = tomllib.loads(read_limited(path, MAX_TRUST_FILE, "settings file").decode())
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise InputError(f"{path} is not valid TOML: {exc}") from None
            unknown = set(raw) - {"chain"}
            chain = raw.get("chain", {})
            if not isinstance(chain, dict):
                raise InputError(f"{path}: [chain] must be a table")
            unknown |= {f"chain.{k}" for k in set(chain) - _SETTING_TYPES.keys()}
            if unknown:
                raise InputError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}")
            for key, value in chain.items():  # value: Any from TOML
                kinds = _SETTING_TYPES[key]
                if isinstance(value, bool) or not isinstance(value, kinds):
                    raise InputError(f"{path}: chain.{key} has the wrong type ({value!r})")
                if isinstance(value, int | float) and value <= 0:
                    raise InputError(f"{path}: chain.{key} must be positive")
                values[key.replace("-", "_").replace("url", "chain")] = value
        env = os.environ.get(CHAIN_ENV)
        if env:
            values["chain"] = env
        return cls(**values)


_SETTING_TYPES: dict[str, tuple[type, ...]] = {
    "url": (str,),
    "confirmations": (int,),
    "timeout": (int, float),
    "anchor-timeout": (int, float),
}
