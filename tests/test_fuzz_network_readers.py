"""Fuzzing every reader of what comes over the network: witness requests, the tiled log's
files (okeios/log.json, checkpoints, tiles, entry bundles, event files), SD-JWTs and key
histories (trust.json is fuzzed with the other decoders in test_fuzz_decoders.py). The suite
runs 40 examples per property; ``OKEIOS_FUZZ_EXAMPLES=5000`` runs a long session.

A reader may accept its input, refuse it with an :class:`~okeios.errors.OkeiosError` or (the
witness, the tile audit) answer with its own verdict; anything else escaping is a bug. Each
example has one deadline (``DEADLINE``), and inputs crafted to blow up must stay within a
memory bound.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from okeios._internal.protocol.merkle import MerkleLog
from okeios._internal.protocol.note import CosignatureSigner, Ed25519NoteSigner, NoteCheckpoint
from okeios._internal.protocol.sdjwt import verify_sd_jwt
from okeios._internal.publish.sdjwt import export_sd_jwt
from okeios._internal.verify.keyhistory import load_authority
from okeios._internal.verify.policy import TrustPolicy
from okeios._internal.verify.tiles import TileFetcher, audit_tiles
from okeios._internal.verify.witness import MAX_REQUEST, Witness, add_checkpoint_request
from okeios.errors import OkeiosError
from tests.helpers import SMALL_RECORD, make_publisher, publish_log
from tests.test_fuzz_decoders import fuzz_arbitrary_bytes, fuzz_byte_mutations

DEADLINE = 2.0  # seconds for one example of any reader
FUZZ = settings(
    max_examples=int(os.environ.get("OKEIOS_FUZZ_EXAMPLES", "40")),
    deadline=int(DEADLINE * 1000),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ORIGIN = "okeios/0x" + "ef" * 32  # a log's one origin
LOG_KEY = Ed25519NoteSigner(ORIGIN, b"\x07" * 32)


# --- the readers -------------------------------------------------------------------------


def _witness() -> Witness:
    w = Witness(CosignatureSigner("w.example", b"\x09" * 32), clock=lambda: 1_760_000_000)
    w.add_log(ORIGIN, LOG_KEY.vkey())
    return w


def _witness_request(data: bytes) -> Any:
    status, _, body = _witness().add_checkpoint(data)
    assert status in (200, 400, 403, 404, 409, 422), status
    assert isinstance(body, bytes)
    return status


_PUBLISHER = make_publisher()
for _i in range(3):
    _PUBLISHER.create(SMALL_RECORD.replace(b'"hba1c"', b'"h%d"' % _i))
_TILES = Path(tempfile.mkdtemp(prefix="okeios-fuzz-tiles-"))
publish_log(_PUBLISHER, _TILES)
TILE_FILES = sorted(str(p.relative_to(_TILES)) for p in _TILES.rglob("*") if p.is_file())


class _OneFileChanged(TileFetcher):
    """The published tiles, with one file's bytes replaced (as a hostile server would)."""

    def __init__(self, rel: str, data: bytes) -> None:
        super().__init__(_TILES)
        self._rel, self._data = rel, data

    def _origin_read(self, rel: str) -> bytes:
        return self._data if rel == self._rel else super()._origin_read(rel)


def _tiles(rel: str) -> Callable[[bytes], Any]:
    def read(data: bytes) -> Any:
        return audit_tiles(_OneFileChanged(rel, data), publisher=_PUBLISHER.address, chain=None)

    return read


_LOGGED = _PUBLISHER.events[1]
_SD_JWT = export_sd_jwt(_PUBLISHER, _LOGGED.id, ["/status", "/valueQuantity/value"]).encode()


def _sd_jwt(data: bytes) -> Any:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None  # the command line reads SD-JWTs as ASCII and refuses the rest
    return verify_sd_jwt(text.strip(), [_PUBLISHER.address])


def _key_history_seed() -> tuple[bytes, str]:
    from okeios._internal.protocol.signing import LocalSigner
    from okeios._internal.publish.store import Store

    with tempfile.TemporaryDirectory() as home, Store.init(home, passphrase="") as store:
        store.keys.authorise(LocalSigner.generate().address, "physician")
        return store.keys.key_history().encode(), store.keys.organisation


_KEYS, _ORG = _key_history_seed()
_POLICY = TrustPolicy(organisations=[_ORG])


def _key_history(data: bytes) -> Any:
    return load_authority(data, _POLICY)


READERS: dict[str, Callable[[bytes], Any]] = {
    "witness-request": _witness_request,
    "sd-jwt": _sd_jwt,
    "key-history": _key_history,
    **{f"tiles:{rel}": _tiles(rel) for rel in TILE_FILES},
}


def _seed(name: str) -> bytes:
    if name == "witness-request":
        log = MerkleLog()
        for i in range(5):
            log.append(b"e%d" % i)
        note = LOG_KEY.sign_note(NoteCheckpoint(ORIGIN, 5, log.root()).text())
        return add_checkpoint_request(0, [], note)
    if name == "sd-jwt":
        return _SD_JWT
    if name == "key-history":
        return _KEYS
    return (_TILES / name.removeprefix("tiles:")).read_bytes()


SEEDS = {name: _seed(name) for name in READERS}


def _only_typed(read: Callable[[bytes], Any], data: bytes) -> None:
    started = time.monotonic()
    with contextlib.suppress(OkeiosError):
        read(data)
    assert time.monotonic() - started < DEADLINE


# --- the properties ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(READERS))
def test_the_seeds_are_read(name: str) -> None:
    """The fuzzing starts from inputs the readers accept (else it tests only refusals)."""
    result = READERS[name](SEEDS[name])
    if name == "witness-request":
        assert result == 200
    elif name.startswith("tiles:"):
        assert result.defect_kinds() <= {"no-chain"}
    else:
        assert result is not None


@pytest.mark.parametrize("name", sorted(READERS))
def test_byte_mutations_give_only_typed_refusals(name: str) -> None:
    fuzz_byte_mutations(FUZZ, SEEDS[name], functools.partial(_only_typed, READERS[name]))


@pytest.mark.parametrize("name", sorted(READERS))
def test_arbitrary_bytes_give_only_typed_refusals(name: str) -> None:
    fuzz_arbitrary_bytes(FUZZ, functools.partial(_only_typed, READERS[name]))


MiB = 1 << 20


def _peak(read: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        with contextlib.suppress(OkeiosError):
            read()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


BOMBS: dict[str, Callable[[], Any]] = {
    # a request at the size limit, all proof lines: refused without growing with them
    "witness-request": lambda: _witness_request(
        b"old 1\n" + b"A" * 43 + b"=\n" * (MAX_REQUEST // 2)
    ),
    # an SD-JWT of a million empty disclosures
    "sd-jwt": lambda: _sd_jwt(_SD_JWT.split(b"~")[0] + b"~" * 1_000_000),
    # a key history of a deeply nested document
    "key-history": lambda: _key_history(b"[" * 200_000 + b"]" * 200_000),
    # okeios/log.json claiming a huge tree with a padded header
    "tiles:okeios/log.json": lambda: _tiles("okeios/log.json")(
        json.dumps({"format": "x", "pad": "a" * (4 * MiB)}).encode()
    ),
    # a checkpoint note of one line repeated
    "tiles:checkpoint": lambda: _tiles("checkpoint")(b"x\n" * (2 * MiB)),
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_crafted_inputs_stay_within_a_memory_bound(name: str) -> None:
    started = time.monotonic()
    peak = _peak(BOMBS[name])
    assert time.monotonic() - started < 10 * DEADLINE
    assert peak < 64 * MiB, f"{name}: {peak / MiB:.1f} MiB"
