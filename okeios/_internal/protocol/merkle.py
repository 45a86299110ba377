"""An append-only Merkle log with RFC 9162 (RFC 6962) hashing, proofs and proof verification.

Hashed bytes (kept here and nowhere else):

* leaf hash: ``SHA-256(0x00 || data)``
* node hash: ``SHA-256(0x01 || left || right)``
* the hash of the empty tree: ``SHA-256("")``

The tree over ``n`` leaves is the one RFC 9162 section 2.1.1 defines: the left subtree always
holds the largest power of two strictly below ``n`` leaves. :class:`MerkleLog` stores every
complete subtree hash, level by level, as lists of 32-byte strings, so an
append costs one leaf hash plus, on average, one node hash, and a proof for any past tree size
is read off the stored nodes with ``O(log n)`` extra hashes for the ragged right edge.

The proof *walks* (RFC 9162 sections 2.1.3.1 and 2.1.4.1) are written once, as functions of how
the hash of a complete subtree is obtained (:data:`SubtreeHash`): :class:`MerkleLog` reads its
in-memory levels, :class:`~okeios._internal.publish.tree.StoredTree` the nodes of a store. Both
trees therefore give the same proofs by construction, and a tree keeps only its storage.

Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2; proof lengths and hash lengths are
checked before any hashing. A proof that does not verify raises :class:`ProofMismatchError`; a
request or proof that is malformed raises :class:`~okeios.errors.ProofError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from hashlib import sha256

from okeios.errors import ProofError, ProofMismatchError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleLog",
    "ProofMismatchError",
    "SubtreeHash",
    "check_leaf_index",
    "consistency_path",
    "consistency_proof_length",
    "inclusion_path",
    "inclusion_proof_length",
    "leaf_hash",
    "node_hash",
    "range_root",
    "resolve_tree_size",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = sha256(b"").digest()


_U64 = 1 << 64


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash: ``SHA-256(0x00 || data)``."""
    return sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: ``SHA-256(0x01 || left || right)``."""
    return sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


# --- the proof walks, over any storage of complete subtrees -----------------------------------

SubtreeHash = Callable[[int, int], bytes]
"""How a tree gives the hash of its complete subtree ``(level, index)``: the subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``. The walks below ask only for subtrees that lie
entirely inside the tree size they are walking."""


def range_root(node: SubtreeHash, start: int, end: int) -> bytes:
    """RFC 9162 ``MTH`` of leaves ``[start, end)``, where ``start`` is aligned as an RFC 9162
    subtree is (a multiple of the largest power of two not above ``end - start``): the hashes
    of the complete subtrees that tile the range, largest first, folded from the right."""
    width = end - start
    if width <= 0:
        return EMPTY_ROOT
    parts: list[bytes] = []
    pos = start
    while width:
        k = width.bit_length() - 1
        parts.append(node(k, pos >> k))
        pos += 1 << k
        width -= 1 << k
    digest = parts[-1]
    for left in reversed(parts[:-1]):
        digest = sha256(NODE_PREFIX + left + digest).digest()
    return digest


def _audit_path(
    node: SubtreeHash,
    level: int,
    index: int,
    size: int,
    ragged: Callable[[int, int], bytes] | None,
) -> list[bytes]:
    """Siblings of node ``(level, index)`` up to the root of the tree of ``size``, bottom-up.

    A node with no sibling at some level (the last node, a left child) is carried up
    unchanged, as RFC 9162's unbalanced trees require; a sibling that covers the ragged right
    edge (leaves ``[start, size)``, not a complete subtree) is hashed by ``ragged``, default
    :func:`range_root` over ``node``.
    """
    path: list[bytes] = []
    last = (size - 1) >> level
    while last:
        sibling = index ^ 1
        if sibling <= last:
            start = sibling << level
            if start + (1 << level) <= size:
                path.append(node(level, sibling))
            elif ragged is not None:
                path.append(ragged(start, size))
            else:
                path.append(range_root(node, start, size))
        index >>= 1
        last >>= 1
        level += 1
    return path


def inclusion_path(
    node: SubtreeHash,
    index: int,
    size: int,
    *,
    ragged: Callable[[int, int], bytes] | None = None,
) -> list[bytes]:
    """RFC 9162 inclusion proof (``PATH``, section 2.1.3.1) of leaf ``index`` in the tree of
    ``size``, read off the complete subtrees ``node`` gives (``ragged``: see
    :func:`_audit_path`)."""
    check_leaf_index(index, size)
    return _audit_path(node, 0, index, size, ragged)


def consistency_path(
    node: SubtreeHash,
    old_size: int,
    new_size: int,
    *,
    ragged: Callable[[int, int], bytes] | None = None,
) -> list[bytes]:
    """RFC 9162 consistency proof (``PROOF``, section 2.1.4.1) from ``old_size`` to
    ``new_size``.

    Computed as the node of the largest complete subtree ending at ``old_size`` (left out
    when ``old_size`` is a power of two: the verifier knows it as the old root), followed by
    that node's audit path in the new tree; this equals RFC 9162's ``SUBPROOF``.
    """
    if not 0 < old_size <= new_size:
        raise ProofError(
            f"a consistency proof needs 0 < old size <= new size, got {old_size} and {new_size}"
        )
    if old_size == new_size:
        return []
    level = (old_size & -old_size).bit_length() - 1
    index = (old_size - 1) >> level
    path = _audit_path(node, level, index, new_size, ragged)
    if index == 0:
        return path
    return [node(level, index), *path]


def resolve_tree_size(size: int | None, current: int) -> int:
    """``size`` (default: ``current``), refused unless an integer in ``0..current``."""
    if size is None:
        return current
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= current:
        raise ProofError(f"tree size {size!r} is outside 0..{current}")
    return size


def check_leaf_index(index: int, size: int) -> None:
    """Refuse a leaf index that is not an integer in ``0..size-1``."""
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < size:
        raise ProofError(f"leaf index {index!r} is outside 0..{size - 1}")


class MerkleLog:
    """An in-memory append-only RFC 9162 Merkle log.

    ``append``/``extend`` add entries (raw leaf data; the log hashes them). ``root``,
    ``inclusion_proof`` and ``consistency_proof`` work for the current size or any past size.
    """

    __slots__ = ("_levels", "_ragged", "_size")

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = [[]]
        # Hashes of ragged right-edge subtrees, by (start, end): immutable once computed, and
        # shared by every proof for the same tree size.
        self._ragged: dict[tuple[int, int], bytes] = {}
        self._size = 0

    @classmethod
    def from_leaf_hashes(cls, hashes: Iterable[bytes]) -> MerkleLog:
        """Rebuild a log from stored leaf hashes (for example when loading a store)."""
        log = cls()
        log.extend_leaf_hashes(hashes)
        return log

    def __len__(self) -> int:
        return self._size

    @property
    def size(self) -> int:
        """Number of entries in the log."""
        return self._size

    # -- appending -------------------------------------------------------------------------

    def append(self, data: bytes) -> int:
        """Append one entry; return its index."""
        return self.append_leaf_hash(sha256(LEAF_PREFIX + data).digest())

    def append_leaf_hash(self, digest: bytes) -> int:
        """Append an already computed leaf hash; return its index."""
        if not isinstance(digest, bytes) or len(digest) != HASH_SIZE:
            raise ProofError(f"a leaf hash is {HASH_SIZE} bytes")
        index = self._size
        levels = self._levels
        levels[0].append(digest)
        i = index
        k = 0
        while i & 1:
            level = levels[k]
            k += 1
            if k == len(levels):
                levels.append([])
            levels[k].append(sha256(NODE_PREFIX + level[-2] + level[-1]).digest())
            i >>= 1
        self._size = index + 1
        return index

    def extend(self, items: Iterable[bytes]) -> range:
        """Append many entries at once (much faster than repeated ``append``).

        Returns the range of indices the entries received.
        """
        return self._extend([sha256(LEAF_PREFIX + d).digest() for d in items])

    def extend_leaf_hashes(self, hashes: Iterable[bytes]) -> range:
        """Append many already computed leaf hashes at once."""
        batch = [bytes(h) for h in hashes]
        if any(len(h) != HASH_SIZE for h in batch):
            raise ProofError(f"leaf hashes must be {HASH_SIZE} bytes each")
        return self._extend(batch)

    def _extend(self, batch: list[bytes]) -> range:
        start = self._size
        levels = self._levels
        levels[0].extend(batch)
        k = 0
        while len(levels[k]) >= 2:
            level = levels[k]
            if k + 1 == len(levels):
                levels.append([])
            parent = levels[k + 1]
            done, todo = len(parent), len(level) // 2
            if todo > done:
                parent.extend(
                    [
                        sha256(NODE_PREFIX + level[j] + level[j + 1]).digest()
                        for j in range(2 * done, 2 * todo, 2)
                    ]
                )
            k += 1
        self._size = start + len(batch)
        return range(start, self._size)

    # -- reading ---------------------------------------------------------------------------

    def leaf_hash_at(self, index: int) -> bytes:
        """The stored leaf hash of entry ``index``."""
        check_leaf_index(index, self._size)
        return self._levels[0][index]

    def _node(self, level: int, index: int) -> bytes:
        return self._levels[level][index]

    def _ragged_hash(self, start: int, end: int) -> bytes:
        """The hash of a ragged right-edge subtree, computed once per ``(start, end)``."""
        key = (start, end)
        ragged = self._ragged.get(key)
        if ragged is None:
            if len(self._ragged) >= 4096:
                self._ragged.clear()
            ragged = self._ragged[key] = range_root(self._node, start, end)
        return ragged

    def root(self, size: int | None = None) -> bytes:
        """The tree head (root hash) at ``size`` entries (default: the current size)."""
        return range_root(self._node, 0, resolve_tree_size(size, self._size))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 inclusion proof (audit path) for entry ``index`` in the tree of ``size``."""
        n = resolve_tree_size(size, self._size)
        return inclusion_path(self._node, index, n, ragged=self._ragged_hash)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 9162 consistency proof between the trees of ``old_size`` and ``new_size``
        (see :func:`consistency_path`)."""
        n = resolve_tree_size(new_size, self._size)
        return consistency_path(self._node, old_size, n, ragged=self._ragged_hash)


# --- verification ---------------------------------------------------------------------------


def inclusion_proof_length(index: int, size: int) -> int:
    """The exact number of hashes in an inclusion proof for ``index`` in a tree of ``size``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside 0..{size - 1}")
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner + border


def consistency_proof_length(old_size: int, new_size: int) -> int:
    """The exact number of hashes in a consistency proof from ``old_size`` to ``new_size``."""
    if not 0 < old_size <= new_size:
        raise ProofError(f"need 0 < old size <= new size, got {old_size} and {new_size}")
    if old_size == new_size:
        return 0
    count, width, m, complete = 0, new_size, old_size, True
    while m != width:
        k = _split(width)
        count += 1
        if m <= k:
            width = k
        else:
            width -= k
            m -= k
            complete = False
    return count + (0 if complete else 1)


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for p in proof:
        if not isinstance(p, bytes | bytearray) or len(p) != HASH_SIZE:
            i = list(proof).index(p)
            _check_hash(f"proof hash {i}", p)


def _check_hash(name: str, value: bytes) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        got = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ProofError(f"{name} must be {HASH_SIZE} bytes, got {got}")


def _check_size(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 64:
        raise ProofError(f"{name} must be an integer in 0..2^64-1, got {value!r}")


def root_from_inclusion_proof(
    index: int, size: int, digest: bytes, proof: Sequence[bytes]
) -> bytes:
    """Recompute the root an inclusion proof leads to (RFC 9162 section 2.1.3.2).

    One pass: RFC 9162's own loop notices a proof that is too long (``sn`` reaches 0 before
    the path ends) or too short (``sn`` is not 0 after it), so a well-formed proof costs its
    SHA-256 compressions and little else; anything unusual (a wrong length, a hash that is not
    32 ``bytes``) is handed to the checks below, which name the defect.
    """
    if not (
        index.__class__ is int
        and size.__class__ is int
        and 0 <= index < size < _U64
        and digest.__class__ is bytes
        and len(digest) == HASH_SIZE
    ):
        return _root_checked(index, size, digest, proof)
    fn, sn, r = index, size - 1, digest
    prefix = NODE_PREFIX
    for p in proof:
        if not sn or p.__class__ is not bytes or len(p) != HASH_SIZE:
            return _root_checked(index, size, digest, proof)
        if fn & 1 or fn == sn:
            r = sha256(prefix + p + r).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = sha256(prefix + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn:
        return _root_checked(index, size, digest, proof)
    return r


def _root_checked(index: int, size: int, digest: bytes, proof: Sequence[bytes]) -> bytes:
    """:func:`root_from_inclusion_proof` with every check first (the path for odd input)."""
    _check_size("leaf index", index)
    _check_size("tree size", size)
    _check_hash("leaf hash", digest)
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    expected = inclusion_proof_length(index, size)
    if len(proof) != expected:
        raise ProofError(
            f"inclusion proof for index {index} in a tree of {size} has {expected} hashes, "
            f"got {len(proof)}"
        )
    _check_proof_hashes(proof)
    fn, sn, r = index, size - 1, bytes(digest)
    for p in proof:
        if fn & 1 or fn == sn:
            r = sha256(NODE_PREFIX + p + r).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = sha256(NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    return r


def verify_inclusion(
    index: int, size: int, digest: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that leaf hash ``digest`` sits at ``index`` in the tree of ``size`` with ``root``.

    Returns ``None`` on success; raises :class:`ProofError` (malformed) or
    :class:`ProofMismatchError` (well-formed but wrong).
    """
    if root.__class__ is not bytes or len(root) != HASH_SIZE:
        _check_hash("root", root)
    got = root_from_inclusion_proof(index, size, digest, proof)
    if got != root:
        raise ProofMismatchError(
            f"inclusion proof for index {index} leads to root {got.hex()}, expected {root.hex()}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``new_size`` extends the tree of ``old_size`` (RFC 9162 2.1.4.2).

    A proof from the empty tree proves nothing and is refused, as are equal sizes with a
    non-empty proof. Returns ``None`` on success, raises like :func:`verify_inclusion`.
    """
    _check_size("old size", old_size)
    _check_size("new size", new_size)
    if old_size == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")
    expected = consistency_proof_length(old_size, new_size)
    if len(proof) != expected:
        raise ProofError(
            f"consistency proof from {old_size} to {new_size} has {expected} hashes, "
            f"got {len(proof)}"
        )
    if old_size == new_size:
        # Nothing to hash: the roots are compared as given (as the RFC 6962 vectors expect).
        if old_root != new_root:
            raise ProofMismatchError("equal tree sizes with different roots")
        return
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    _check_proof_hashes(proof)
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the tree allows")
        if fn & 1 or fn == sn:
            fr = sha256(NODE_PREFIX + c + fr).digest()
            sr = sha256(NODE_PREFIX + c + sr).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = sha256(NODE_PREFIX + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the tree requires")
    if fr != old_root:
        raise ProofMismatchError(f"consistency proof does not lead to old root {old_root.hex()}")
    if sr != new_root:
        raise ProofMismatchError(f"consistency proof does not lead to new root {new_root.hex()}")
