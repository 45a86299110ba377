"""Fuzzing every decoder of untrusted input: bundles (binary and JSON), shares, recipient key
bindings, recipient key files, protected key files, published log files and trust.json.

A decoder may accept its input or raise an :class:`~okeios.errors.OkeiosError`; anything else
(a ``KeyError``, ``UnicodeEncodeError``, ``RecursionError`` ...) escaping is a bug. Crafted
inputs built to blow up the decoded form must stay within a memory bound proportional to the
input.
"""

from __future__ import annotations

import contextlib
import functools
import json
import struct
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from okeios._internal.config import TrustConfig
from okeios._internal.crypto.keyfile import protect_secret_with_key, unprotect_secret_with_key
from okeios._internal.crypto.recipient_file import dump_recipient_key, load_recipient_key
from okeios._internal.crypto.recipients import (
    RecipientBinding,
    RecipientPrivateKey,
    bind_recipient_key,
)
from okeios._internal.crypto.share import Share
from okeios._internal.protocol.bundle import MAGIC, MAX_ELEMENTS, Bundle
from okeios._internal.protocol.logfile import read_log
from okeios._internal.protocol.signing import LocalSigner
from okeios.errors import OkeiosError
from tests.helpers import SMALL_RECORD, json_paths, make_publisher, replace_at

FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _seeds() -> dict[str, bytes]:
    publisher = make_publisher()
    logged = publisher.create(SMALL_RECORD)
    bundle = publisher.bundle(logged.id)
    signer = LocalSigner.generate()
    key = RecipientPrivateKey.generate()
    binding = bind_recipient_key(key.public_key(), signer)
    share, log = _store_seeds(binding)
    return {
        "bundle-bin": bundle.to_bytes(),
        "bundle-json": bundle.to_json().encode(),
        "binding": binding.to_json().encode(),
        "keyfile": dump_recipient_key(signer.address, signer.private_key, key),
        "protected": protect_secret_with_key(b"s" * 32, b"k" * 32),
        "log": log,
        "trust": json.dumps(
            {
                "authors": [publisher.address],
                "publishers": [publisher.address],
                "chains": {"embedded": {"chainId": 131277, "registry": publisher.address}},
            }
        ).encode(),
        "share": share,
    }


def _store_seeds(binding: RecipientBinding) -> tuple[bytes, bytes]:
    """A share and a published log file, from a real store."""
    from okeios._internal.publish.store import Store

    with tempfile.TemporaryDirectory() as home, Store.init(home, passphrase="") as store:
        (logged,) = store.add([SMALL_RECORD])
        share = store.access.grant("0x" + logged.record_id.hex(), binding)
        store.checkpoints.current()
        lines: list[str] = []
        store.write_log(lines.append)
    return share.to_json().encode(), "".join(lines).encode()


SEEDS = _seeds()


def _trust(data: bytes, tmp: Path) -> Any:
    (tmp / "trust.json").write_bytes(data)
    return TrustConfig.load(tmp)


def _log(data: bytes) -> Any:
    # The command line decodes UTF-8 first (and refuses what is not); the parser sees text.
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return read_log(text.splitlines())


DECODERS: dict[str, Callable[[bytes], Any]] = {
    "bundle-bin": Bundle.load,
    "bundle-json": Bundle.load,
    "share": Share.from_json,
    "binding": RecipientBinding.from_json,
    "keyfile": load_recipient_key,
    "protected": lambda d: unprotect_secret_with_key(d, b"k" * 32),
    "log": _log,
}


def _mutate(seed: bytes, edits: list[tuple[int, int, bytes]], cut: int | None) -> bytes:
    data = bytearray(seed)
    for kind, pos, chunk in edits:
        at = pos % (len(data) + 1)
        if kind == 0 and data:
            data[at % len(data)] = chunk[0] if chunk else 0
        elif kind == 1:
            data[at:at] = chunk
        else:
            del data[at : at + len(chunk) + 1]
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    return bytes(data)


EDITS = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 1 << 20), st.binary(min_size=1, max_size=8)),
    max_size=6,
)

_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["0x", "0x0", "0xzz", "\ud800", "0x" + "00" * 32, "0x" + "ab" * 20]),
)
JSON_VALUES = st.recursive(
    _json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


def _only_typed(decode: Callable[[bytes], Any], data: bytes) -> None:
    with contextlib.suppress(OkeiosError):
        decode(data)


def fuzz_byte_mutations(fuzz: settings, seed: bytes, check: Callable[[bytes], None]) -> None:
    """``check`` every input hypothesis makes by editing and cutting ``seed``."""

    @fuzz
    @given(edits=EDITS, cut=st.none() | st.integers(0, 1 << 20))
    def run(edits: list[tuple[int, int, bytes]], cut: int | None) -> None:
        check(_mutate(seed, edits, cut))

    run()


def fuzz_arbitrary_bytes(fuzz: settings, check: Callable[[bytes], None]) -> None:
    """``check`` every input of up to 512 arbitrary bytes hypothesis makes."""

    @fuzz
    @given(data=st.binary(max_size=512))
    def run(data: bytes) -> None:
        check(data)

    run()


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_byte_mutations_raise_only_typed_errors(name: str) -> None:
    fuzz_byte_mutations(FUZZ, SEEDS[name], functools.partial(_only_typed, DECODERS[name]))


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_arbitrary_bytes_raise_only_typed_errors(name: str) -> None:
    fuzz_arbitrary_bytes(FUZZ, functools.partial(_only_typed, DECODERS[name]))


JSON_DECODERS = ["bundle-json", "share", "binding", "keyfile", "protected", "trust"]


@pytest.mark.parametrize("name", JSON_DECODERS)
def test_structured_json_mutations_raise_only_typed_errors(name: str, tmp_path: Path) -> None:
    """Replace one member anywhere in a valid document by any JSON value (wrong types, lone
    surrogates, huge integers, bad hex), or drop it."""
    seed = json.loads(SEEDS[name])
    paths = json_paths(seed)
    decode = (lambda d: _trust(d, tmp_path)) if name == "trust" else DECODERS[name]

    @FUZZ
    @given(which=st.integers(0, len(paths) - 1), value=JSON_VALUES, drop=st.booleans())
    def run(which: int, value: Any, drop: bool) -> None:
        path = paths[which]
        if drop and path and isinstance(path[-1], str):
            parent = replace_at(seed, path[:-1], None)
            parent_doc = seed
            for p in path[:-1]:
                parent_doc = parent_doc[p]
            trimmed = {k: v for k, v in parent_doc.items() if k != path[-1]}
            doc = replace_at(seed, path[:-1], trimmed) if path[:-1] else trimmed
            del parent
        else:
            doc = replace_at(seed, path, value)
        text = json.dumps(doc, ensure_ascii=True).encode()
        _only_typed(decode, text)

    run()


def test_trust_file_bytes_raise_only_typed_errors(tmp_path: Path) -> None:
    @FUZZ
    @given(edits=EDITS, cut=st.none() | st.integers(0, 1 << 12))
    def run(edits: list[tuple[int, int, bytes]], cut: int | None) -> None:
        _only_typed(lambda d: _trust(d, tmp_path), _mutate(SEEDS["trust"], edits, cut))

    run()


# --- memory ------------------------------------------------------------------------------------

MiB = 1024 * 1024


def _peak(decode: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(OkeiosError):
            decode()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _header() -> bytes:
    return SEEDS["bundle-bin"][: len(MAGIC) + 1]


def _array32(n: int, item: bytes) -> bytes:
    return b"\xdd" + struct.pack(">I", n) + item * n


BOMBS = {
    # 8 MiB of one-byte empty arrays once gave ~650 MB of Python objects
    "binary: one array of empty arrays": lambda: _header() + _array32(8 * MiB, b"\x90"),
    "binary: arrays of empty maps, each under the cap": lambda: (
        _header() + b"\x94" + _array32(MAX_ELEMENTS - 1, b"\x80") * 4
    ),
    "binary: arrays of two-letter strings": lambda: (
        _header() + b"\x94" + _array32(MAX_ELEMENTS - 1, b"\xa2ab") * 4
    ),
    "binary: deep nesting": lambda: _header() + b"\x91" * (8 * MiB) + b"\x90",
    "json: many empty arrays": lambda: (
        b'{"mediaType": "application/vnd.okeios.bundle+json", "x": [' + b"[]," * (3 * MiB) + b"[]]}"
    ),
    "json: deep nesting": lambda: b'{"x":' + b"[" * (8 * MiB),
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_bundle_decoder_memory_is_bounded(name: str) -> None:
    data = BOMBS[name]()
    peak = _peak(lambda: Bundle.load(data))
    # the input (and its copies) plus a fixed allowance; never a multiple of the input
    assert peak < 2 * len(data) + 64 * MiB, f"{name}: {peak / MiB:.0f} MiB for {len(data)} bytes"


def test_share_and_small_documents_are_capped() -> None:
    big = b'{"a": [' + b"0," * (4 * MiB) + b"0]}"
    for decode in (
        Share.from_json,
        RecipientBinding.from_json,
        load_recipient_key,
        lambda d: unprotect_secret_with_key(d, b"k" * 32),
    ):
        peak = _peak(lambda decode=decode: decode(big))
        assert peak < 2 * len(big) + 16 * MiB


def test_log_lines_are_capped() -> None:
    header = SEEDS["log"].decode().splitlines()[0]
    parsed = read_log([header, "[" * (2 * MiB)])
    assert [position for position, _ in parsed.malformed] == [0]
    assert "longer than" in parsed.malformed[0][1]


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_the_seeds_decode(name: str) -> None:
    """The mutations start from valid documents (else the fuzzing would test only refusals)."""
    assert DECODERS[name](SEEDS[name]) is not None
    if name == "log":
        parsed = read_log(SEEDS["log"].decode().splitlines())
        assert len(parsed.entries) == 2  # the CREATE and the GRANT
        assert not parsed.malformed
        assert parsed.checkpoints


def test_the_trust_seed_decodes(tmp_path: Path) -> None:
    assert _trust(SEEDS["trust"], tmp_path).chain("embedded") is not None


def test_deep_nesting_is_refused_before_parsing_even_with_web3_loaded() -> None:
    """web3 raises the interpreter's recursion limit to 100,000; the C JSON scanner would then
    overflow the C stack on a few hundred thousand brackets instead of raising."""
    import web3  # noqa: F401  (its import raises the recursion limit)

    from okeios._internal.protocol.canonical import parse_json
    from okeios._internal.protocol.jsonlimits import nesting_exceeds

    bomb = b'{"mediaType": "application/vnd.okeios.bundle+json", "x": ' + b"[" * 500_000
    for decode in (
        Bundle.load,
        Share.from_json,
        RecipientBinding.from_json,
        load_recipient_key,
        parse_json,
    ):
        with pytest.raises(OkeiosError):
            decode(bomb)
    parsed = read_log([SEEDS["log"].decode().splitlines()[0], bomb.decode()])
    assert "nests deeper" in parsed.malformed[0][1]
    assert nesting_exceeds('[[["]]]]]"]]]', 3) is False  # brackets in strings do not count
    assert nesting_exceeds("[[[[]]]]", 3) is True
    assert nesting_exceeds("[" * 50 + "]" * 50, 100) is False
