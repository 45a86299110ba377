// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title AnchorRegistry (interface version 3)
/// @notice Public, append-only anchors of RFC 9162 Merkle log roots.
/// @dev A publisher (the transaction sender) anchors `(logId, treeSize, root)` tree heads of its
/// own logs. Tree sizes strictly grow, and from the second anchor on every new tree head must
/// come with an RFC 9162 consistency proof from the publisher's previous anchor of that log,
/// which the contract checks before changing anything: a rewritten or forked history cannot be
/// anchored. Logs are keyed by `(publisher, logId)`, and nobody can append to someone else's log.
///
/// Storage keeps only the latest tree head of each log, the one the next consistency check
/// needs; the whole history is the contract's `Anchored` events (the tree size is an indexed
/// topic, so `eth_getLogs` finds the anchor of one exact size), which cost a fraction of a
/// storage write per anchor and are as permanent as the chain itself.
///
/// One history per publisher: a key holds at most one log in its lifetime, either the one whose
/// id is bound to it, `logIdOf(key) = SHA-256("okeios/log/v2" || 0x00 || key)`, opened by its
/// first anchor, or one handed over to it; the first anchor of any other log id is refused. So
/// a publisher cannot keep a second, diverging history in the registry, and another key cannot
/// replay a publisher's log under its own address. A log changes hands only through `handover`,
/// sent by its current key: the log is closed for that key, its latest tree head becomes the
/// first anchor of the successor's log under the same id, and both keys are recorded
/// (`successorOf`, `predecessorOf`), so the chain of keys of a log is on chain.
///
/// Hashing is RFC 9162 section 2.1.1 with SHA-256 (the 0x02 precompile): an interior node is
/// `SHA-256(0x01 || left || right)`. Leaf hashes (`SHA-256(0x00 || data)`) are computed off-chain.
///
/// The contract has no owner, no constructor arguments, no upgrade path and no funds; nothing
/// can be deleted or edited. It is meant to be deployed once per chain through the deterministic
/// CREATE2 deployment proxy with a zero salt, which puts it at the same address on every chain.
///
/// Conventions of the proof checkers: a `verify*` function reverts with a custom error when
/// its inputs are malformed (impossible sizes or indices, a proof of the wrong length) and
/// returns `false` when a well-formed proof does not match; the matching `tryVerify*` function
/// never reverts and returns `false` for both. Proof lengths are always checked before any
/// hashing.
contract AnchorRegistry {
    // ---------------------------------------------------------------------------------------
    // Storage
    // ---------------------------------------------------------------------------------------

    /// @dev The latest tree head of one `(publisher, logId)` log: two storage slots.
    /// Slot 0: the root. Slot 1: `treeSize` (bits 0..63), `blockNumber` (bits 64..127),
    /// `timestamp` (bits 128..191), `count` (bits 192..254: how many anchors the log has) and
    /// `closed` (bit 255: the log was handed over), written with a single SSTORE.
    struct Head {
        bytes32 root;
        uint256 packed;
    }

    /// @dev Every log's latest head, by publisher then log id (slot 0); the head of `(p, id)`
    /// starts at `keccak256(id . keccak256(p . 0))`.
    mapping(address publisher => mapping(bytes32 logId => Head)) private _heads;

    /// @dev The key a log was handed over to, by its previous key and log id (slot 1).
    mapping(address publisher => mapping(bytes32 logId => address)) private _successors;

    /// @dev The key a log was handed over from, by its new key and log id (slot 2).
    mapping(address publisher => mapping(bytes32 logId => address)) private _predecessors;

    /// @dev The one log a key holds, set by its first anchor or a handover to it (slot 3).
    mapping(address publisher => bytes32 logId) private _holds;

    /// @notice The version of the registry interface (storage, events, functions): 3.
    /// Version 2 kept every tree head in storage and had no `VERSION` function.
    uint256 public constant VERSION = 3;

    /// @dev The domain tag of `logIdOf`: "okeios/log/v2" and a zero byte.
    bytes14 private constant _LOG_TAG = "okeios/log/v2\x00";

    /// @dev Selects the 63 bits of the `count` of a packed head, once shifted down by 192.
    uint256 private constant _COUNT_MASK = 0x7fffffffffffffff;

    /// @dev The `closed` bit of a packed head.
    uint256 private constant _CLOSED = 1 << 255;

    // ---------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------

    /// @notice A tree head was anchored (also emitted for the successor's first anchor by
    /// `handover`). These events are the registry's history: storage keeps the latest head only.
    /// @param publisher The account that anchored it (the owner of the log).
    /// @param logId The publisher's identifier of the log.
    /// @param treeSize The number of entries the anchored tree has.
    /// @param root The RFC 9162 root hash of that tree.
    /// @param index The position of this anchor in the log's anchor history (0 for the first).
    /// @param timestamp The timestamp of the block that anchored it.
    event Anchored(
        address indexed publisher,
        bytes32 indexed logId,
        uint64 indexed treeSize,
        bytes32 root,
        uint64 index,
        uint64 timestamp
    );

    /// @notice A log was handed over to a new key.
    /// @param publisher The key that held the log and sent the handover.
    /// @param logId The log id (unchanged: it stays bound to the log's first key).
    /// @param successor The key that holds the log from now on.
    /// @param treeSize The latest anchored size, the successor's first anchor.
    /// @param root The latest anchored root.
    event HandedOver(
        address indexed publisher,
        bytes32 indexed logId,
        address indexed successor,
        uint64 treeSize,
        bytes32 root
    );

    // ---------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------

    /// @notice A tree of size 0 cannot be anchored: it has no entries to prove anything about.
    error AnchorRegistryEmptyTree();

    /// @notice A key tried to open a log other than the one it may hold.
    /// @param publisher The key that sent the anchor.
    /// @param logId The log id it tried to open.
    /// @param bound The one log id that key may anchor: the log it holds, or else
    /// `logIdOf(publisher)`.
    error AnchorRegistryLogNotBound(address publisher, bytes32 logId, bytes32 bound);

    /// @notice The log was handed over: its previous key can no longer anchor or hand it over.
    /// @param publisher The previous key.
    /// @param logId The log id.
    /// @param successor The key that holds the log now.
    error AnchorRegistryLogHandedOver(address publisher, bytes32 logId, address successor);

    /// @notice A handover to the zero address, to the sender itself, or to a key that already
    /// holds a log.
    /// @param successor The refused successor.
    error AnchorRegistryBadSuccessor(address successor);

    /// @notice The proposed tree size is not strictly greater than the latest anchored one.
    /// @param previous The latest anchored tree size of the log.
    /// @param proposed The tree size that was refused.
    error AnchorRegistryTreeSizeNotIncreasing(uint64 previous, uint64 proposed);

    /// @notice The consistency proof does not show that the new tree extends the anchored one.
    /// @param previousSize The latest anchored tree size of the log.
    /// @param previousRoot The latest anchored root of the log.
    /// @param treeSize The proposed tree size.
    /// @param root The proposed root.
    error AnchorRegistryInconsistentHistory(
        uint64 previousSize, bytes32 previousRoot, uint64 treeSize, bytes32 root
    );

    /// @notice The first anchor of a log came with a proof; it must have none.
    /// @param length The number of hashes that were supplied.
    error AnchorRegistryUnexpectedProof(uint256 length);

    /// @notice A proof has the wrong number of hashes for the sizes or index it is about.
    /// @param expected The number of hashes RFC 9162 prescribes.
    /// @param actual The number of hashes that were supplied.
    error AnchorRegistryProofLength(uint256 expected, uint256 actual);

    /// @notice The sizes of a consistency check are impossible (`oldSize` is 0 or exceeds
    /// `newSize`).
    /// @param oldSize The size of the older tree.
    /// @param newSize The size of the newer tree.
    error AnchorRegistryConsistencySizes(uint64 oldSize, uint64 newSize);

    /// @notice A leaf index is not inside the tree.
    /// @param leafIndex The index that was asked about.
    /// @param treeSize The size of the tree.
    error AnchorRegistryLeafIndexOutOfRange(uint64 leafIndex, uint64 treeSize);

    /// @notice The log has no anchor at all.
    /// @param publisher The publisher that was asked about.
    /// @param logId The log id that was asked about.
    error AnchorRegistryNoAnchor(address publisher, bytes32 logId);

    // ---------------------------------------------------------------------------------------
    // Anchoring
    // ---------------------------------------------------------------------------------------

    /// @notice Anchor the tree head `(treeSize, root)` of the caller's log `logId`.
    /// @dev The first anchor of a log takes an empty proof. Every later anchor needs a tree
    /// size strictly greater than the latest anchored one (an equal size, even with the same
    /// root, is refused rather than ignored, so a replayed or duplicated anchor is visible to
    /// its sender) and an RFC 9162 consistency proof from the latest anchored tree head to the
    /// new one. All checks happen before any state changes; `Anchored` is emitted right after.
    /// @param logId The log id: `logIdOf(msg.sender)` for a log's first anchor
    /// (`AnchorRegistryLogNotBound` otherwise); a log handed over to the caller keeps its id.
    /// @param treeSize The number of entries of the tree being anchored; must be at least 1.
    /// @param root The RFC 9162 root hash of that tree.
    /// @param consistencyProof The RFC 9162 consistency proof from the latest anchored tree
    /// head of this log to `(treeSize, root)`; empty for the first anchor.
    function anchor(
        bytes32 logId,
        uint64 treeSize,
        bytes32 root,
        bytes32[] calldata consistencyProof
    ) external {
        if (treeSize == 0) revert AnchorRegistryEmptyTree();
        Head storage head = _heads[msg.sender][logId];
        uint256 packed = head.packed;
        if (packed & _CLOSED != 0) {
            revert AnchorRegistryLogHandedOver(msg.sender, logId, _successors[msg.sender][logId]);
        }
        uint256 count = (packed >> 192) & _COUNT_MASK;
        if (count == 0) {
            bytes32 held = _holds[msg.sender];
            bytes32 bound = held == bytes32(0) ? logIdOf(msg.sender) : held;
            if (logId != bound || held != bytes32(0)) {
                revert AnchorRegistryLogNotBound(msg.sender, logId, bound);
            }
            _holds[msg.sender] = logId;
            if (consistencyProof.length != 0) {
                revert AnchorRegistryUnexpectedProof(consistencyProof.length);
            }
        } else {
            uint64 previousSize = uint64(packed);
            if (treeSize <= previousSize) {
                revert AnchorRegistryTreeSizeNotIncreasing(previousSize, treeSize);
            }
            bytes32 previousRoot = head.root;
            _requireProofLength(_consistencyProofLength(previousSize, treeSize), consistencyProof);
            if (!_consistent(previousSize, treeSize, previousRoot, root, consistencyProof)) {
                revert AnchorRegistryInconsistentHistory(
                    previousSize, previousRoot, treeSize, root
                );
            }
        }
        head.root = root;
        head.packed = _pack(treeSize, count + 1);
        emit Anchored(msg.sender, logId, treeSize, root, uint64(count), uint64(block.timestamp));
    }

    /// @notice Hand the caller's log `logId` over to `successor` (a publisher key rotation).
    /// @dev The caller must hold the log (at least one anchor, not handed over). The log's
    /// latest tree head becomes anchor 0 of `successor`'s log under the same id (with this
    /// block's number and time, and an `Anchored` event for it), from which `successor`
    /// anchors on with consistency proofs as usual; the caller's log is closed. The successor
    /// must hold no log (a fresh key): a key holds one log in its lifetime.
    /// @param logId The log to hand over.
    /// @param successor The key that holds the log from now on.
    function handover(bytes32 logId, address successor) external {
        Head storage head = _heads[msg.sender][logId];
        uint256 packed = head.packed;
        if ((packed >> 192) & _COUNT_MASK == 0) revert AnchorRegistryNoAnchor(msg.sender, logId);
        if (packed & _CLOSED != 0) {
            revert AnchorRegistryLogHandedOver(msg.sender, logId, _successors[msg.sender][logId]);
        }
        if (successor == address(0) || successor == msg.sender || _holds[successor] != bytes32(0)) {
            revert AnchorRegistryBadSuccessor(successor);
        }
        bytes32 root = head.root;
        uint64 size = uint64(packed);
        Head storage next = _heads[successor][logId];
        next.root = root;
        next.packed = _pack(size, 1);
        head.packed = packed | _CLOSED;
        _successors[msg.sender][logId] = successor;
        _predecessors[successor][logId] = msg.sender;
        _holds[successor] = logId;
        emit HandedOver(msg.sender, logId, successor, size, root);
        emit Anchored(successor, logId, size, root, 0, uint64(block.timestamp));
    }

    // ---------------------------------------------------------------------------------------
    // Reading anchors
    // ---------------------------------------------------------------------------------------

    /// @notice The one log id a key can open: `SHA-256("okeios/log/v2" || 0x00 || key)`.
    /// @param publisher The key.
    /// @return logId The log id bound to it.
    function logIdOf(address publisher) public pure returns (bytes32 logId) {
        return sha256(abi.encodePacked(_LOG_TAG, publisher));
    }

    /// @notice The one log `publisher` holds or held: opened by its first anchor or handed over
    /// to it (zero if none). A key never holds a second one.
    /// @param publisher The key.
    /// @return logId The log id.
    function logOf(address publisher) external view returns (bytes32 logId) {
        return _holds[publisher];
    }

    /// @notice The key `publisher` handed its log `logId` over to (zero if none).
    /// @param publisher The previous key.
    /// @param logId The log id.
    /// @return successor The next key.
    function successorOf(address publisher, bytes32 logId)
        external
        view
        returns (address successor)
    {
        return _successors[publisher][logId];
    }

    /// @notice The key that handed log `logId` over to `publisher` (zero if none).
    /// @param publisher The current key.
    /// @param logId The log id.
    /// @return predecessor The previous key.
    function predecessorOf(address publisher, bytes32 logId)
        external
        view
        returns (address predecessor)
    {
        return _predecessors[publisher][logId];
    }

    /// @notice The latest anchor of `publisher`'s log `logId`.
    /// @dev Reverts with `AnchorRegistryNoAnchor` if the log has never been anchored. Older
    /// anchors are the log's `Anchored` events.
    /// @param publisher The owner of the log.
    /// @param logId The log id.
    /// @return treeSize The anchored tree size.
    /// @return root The anchored root.
    /// @return blockNumber The number of the block that anchored it.
    /// @return timestamp The timestamp of that block.
    function latest(address publisher, bytes32 logId)
        external
        view
        returns (uint64 treeSize, bytes32 root, uint64 blockNumber, uint64 timestamp)
    {
        Head storage head = _heads[publisher][logId];
        uint256 packed = head.packed;
        if ((packed >> 192) & _COUNT_MASK == 0) revert AnchorRegistryNoAnchor(publisher, logId);
        return (uint64(packed), head.root, uint64(packed >> 64), uint64(packed >> 128));
    }

    /// @notice How many anchors `publisher`'s log `logId` has (the successor's copied first
    /// anchor included); the `index` of the next `Anchored` event of the log.
    /// @param publisher The owner of the log.
    /// @param logId The log id.
    /// @return count The number of anchors (0 if the log was never anchored).
    function anchorCount(address publisher, bytes32 logId) external view returns (uint256 count) {
        return (_heads[publisher][logId].packed >> 192) & _COUNT_MASK;
    }

    // ---------------------------------------------------------------------------------------
    // Proof checks on raw values (usable by other contracts)
    // ---------------------------------------------------------------------------------------

    /// @notice Check an RFC 9162 (section 2.1.3.2) inclusion proof.
    /// @dev Reverts with `AnchorRegistryLeafIndexOutOfRange` if `leafIndex >= treeSize` and
    /// with `AnchorRegistryProofLength` if the proof has the wrong number of hashes; returns
    /// false if a well-formed proof does not lead to `root`.
    /// @param treeSize The number of entries of the tree.
    /// @param leafIndex The index of the entry.
    /// @param leafHash The entry's leaf hash.
    /// @param root The tree's root hash.
    /// @param proof The audit path, from the leaf up.
    /// @return ok True if the proof leads from `leafHash` to `root`.
    function verifyInclusionProof(
        uint64 treeSize,
        uint64 leafIndex,
        bytes32 leafHash,
        bytes32 root,
        bytes32[] calldata proof
    ) public pure returns (bool ok) {
        if (leafIndex >= treeSize) revert AnchorRegistryLeafIndexOutOfRange(leafIndex, treeSize);
        _requireProofLength(_inclusionProofLength(leafIndex, treeSize), proof);
        return _includedPure(treeSize, leafIndex, leafHash, root, proof);
    }

    /// @notice Like `verifyInclusionProof`, but never reverts: malformed input returns false.
    /// @param treeSize The number of entries of the tree.
    /// @param leafIndex The index of the entry.
    /// @param leafHash The entry's leaf hash.
    /// @param root The tree's root hash.
    /// @param proof The audit path, from the leaf up.
    /// @return ok True if the proof is well formed and leads from `leafHash` to `root`.
    function tryVerifyInclusionProof(
        uint64 treeSize,
        uint64 leafIndex,
        bytes32 leafHash,
        bytes32 root,
        bytes32[] calldata proof
    ) external pure returns (bool ok) {
        if (leafIndex >= treeSize) return false;
        if (proof.length != _inclusionProofLength(leafIndex, treeSize)) return false;
        return _includedPure(treeSize, leafIndex, leafHash, root, proof);
    }

    /// @notice Check an RFC 9162 (section 2.1.4.2) consistency proof: that the tree of
    /// `newSize` entries with root `newRoot` extends the tree of `oldSize` entries with root
    /// `oldRoot`.
    /// @dev Equal sizes take an empty proof and compare the roots. Reverts with
    /// `AnchorRegistryConsistencySizes` if `oldSize` is 0 or larger than `newSize` and with
    /// `AnchorRegistryProofLength` if the proof has the wrong number of hashes; returns false
    /// if a well-formed proof does not match.
    /// @param oldSize The size of the older tree.
    /// @param newSize The size of the newer tree.
    /// @param oldRoot The root of the older tree.
    /// @param newRoot The root of the newer tree.
    /// @param proof The consistency proof.
    /// @return ok True if the proof shows the newer tree extends the older one.
    function verifyConsistency(
        uint64 oldSize,
        uint64 newSize,
        bytes32 oldRoot,
        bytes32 newRoot,
        bytes32[] calldata proof
    ) external pure returns (bool ok) {
        if (oldSize == 0 || oldSize > newSize) {
            revert AnchorRegistryConsistencySizes(oldSize, newSize);
        }
        if (oldSize == newSize) {
            _requireProofLength(0, proof);
            return oldRoot == newRoot;
        }
        _requireProofLength(_consistencyProofLength(oldSize, newSize), proof);
        return _consistentPure(oldSize, newSize, oldRoot, newRoot, proof);
    }

    /// @notice Like `verifyConsistency`, but never reverts: malformed input returns false.
    /// @param oldSize The size of the older tree.
    /// @param newSize The size of the newer tree.
    /// @param oldRoot The root of the older tree.
    /// @param newRoot The root of the newer tree.
    /// @param proof The consistency proof.
    /// @return ok True if the proof is well formed and shows the newer tree extends the older.
    function tryVerifyConsistency(
        uint64 oldSize,
        uint64 newSize,
        bytes32 oldRoot,
        bytes32 newRoot,
        bytes32[] calldata proof
    ) external pure returns (bool ok) {
        if (oldSize == 0 || oldSize > newSize) return false;
        if (oldSize == newSize) return proof.length == 0 && oldRoot == newRoot;
        if (proof.length != _consistencyProofLength(oldSize, newSize)) return false;
        return _consistentPure(oldSize, newSize, oldRoot, newRoot, proof);
    }

    // ---------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------

    /// @dev A packed head word for `treeSize` anchored in this block, the log's `count`-th anchor.
    function _pack(uint64 treeSize, uint256 count) private view returns (uint256) {
        return uint256(treeSize) | (block.number << 64) | (block.timestamp << 128) | (count << 192);
    }

    /// @dev Revert with `AnchorRegistryProofLength` unless `proof` has `expected` hashes.
    function _requireProofLength(uint256 expected, bytes32[] calldata proof) private pure {
        if (proof.length != expected) revert AnchorRegistryProofLength(expected, proof.length);
    }

    /// @dev The number of hashes in an inclusion proof for `leafIndex` in a tree of `treeSize`
    /// (`leafIndex < treeSize`). The audit path has `inner` hashes below the level where the
    /// paths to `leafIndex` and to the last leaf meet, then one hash for each 1 bit of
    /// `leafIndex` above that level (left siblings on the tree's right border).
    function _inclusionProofLength(uint256 leafIndex, uint256 treeSize)
        private
        pure
        returns (uint256)
    {
        uint256 inner = _bitLength(leafIndex ^ (treeSize - 1));
        return inner + _popCount(leafIndex >> inner);
    }

    /// @dev The number of hashes in a consistency proof from `oldSize` to `newSize`
    /// (`0 < oldSize < newSize`). The proof is the inclusion proof, in the new tree, of the
    /// largest complete subtree ending at leaf `oldSize`, preceded by that subtree's hash
    /// unless it is the whole old tree (`oldSize` a power of two).
    function _consistencyProofLength(uint256 oldSize, uint256 newSize)
        private
        pure
        returns (uint256)
    {
        uint256 last = oldSize - 1;
        uint256 inner = _bitLength(last ^ (newSize - 1));
        uint256 shift = _trailingZeros(oldSize);
        uint256 seeded = oldSize == (1 << shift) ? 0 : 1;
        return seeded + (inner - shift) + _popCount(last >> inner);
    }

    // The two checkers below hash in assembly: each node hash `SHA-256(0x01 || left || right)`
    // lays its 65 input bytes out past the free memory pointer (without moving it, so memory
    // does not grow) and calls the SHA-256 precompile at address 0x02, whose digest lands in
    // scratch space at 0x00. This costs about half the gas of Solidity's
    // `sha256(abi.encodePacked(...))`. Both are `view` only because Solidity counts every
    // assembly `staticcall` as a state read; see `_includedPure`.

    /// @dev Hash an inclusion proof up to the root and compare (RFC 9162 section 2.1.3.2).
    /// Precondition: `leafIndex < treeSize` and `proof.length` is
    /// `_inclusionProofLength(leafIndex, treeSize)`. The first `inner` hashes are siblings
    /// on the side the index bit says (1: the sibling is on the left); the rest are the left
    /// siblings met along the tree's right border.
    function _included(
        uint256 treeSize,
        uint256 leafIndex,
        bytes32 leafHash,
        bytes32 root,
        bytes32[] calldata proof
    ) private view returns (bool ok) {
        uint256 inner = _bitLength(leafIndex ^ (treeSize - 1));
        assembly ("memory-safe") {
            let input := mload(0x40)
            mstore8(input, 0x01)
            let left := add(input, 0x01)
            let right := add(input, 0x21)
            function hashInput(buffer) -> digest {
                if iszero(staticcall(gas(), 0x02, buffer, 0x41, 0x00, 0x20)) { revert(0, 0) }
                digest := mload(0x00)
            }
            let r := leafHash
            let node := leafIndex
            let p := proof.offset
            let innerEnd := add(p, shl(5, inner))
            let end := add(p, shl(5, proof.length))
            for {} lt(p, innerEnd) { p := add(p, 0x20) } {
                switch and(node, 1)
                case 0 {
                    mstore(left, r)
                    mstore(right, calldataload(p))
                }
                default {
                    mstore(left, calldataload(p))
                    mstore(right, r)
                }
                r := hashInput(input)
                node := shr(1, node)
            }
            for {} lt(p, end) { p := add(p, 0x20) } {
                mstore(left, calldataload(p))
                mstore(right, r)
                r := hashInput(input)
            }
            ok := eq(r, root)
        }
    }

    /// @dev Hash a consistency proof and compare with both roots (RFC 9162 section 2.1.4.2,
    /// restated). Precondition: `0 < oldSize < newSize` and `proof.length` is
    /// `_consistencyProofLength(oldSize, newSize)`. The seed is the largest complete subtree
    /// ending at leaf `oldSize` (the old root itself when `oldSize` is a power of two, else the
    /// proof's first hash). Climbing the seed's inclusion path in the new tree rebuilds the
    /// new root from every hash, and the old root from the left siblings only, since those
    /// are exactly the complete subtrees that make up the old tree to the seed's left.
    function _consistent(
        uint256 oldSize,
        uint256 newSize,
        bytes32 oldRoot,
        bytes32 newRoot,
        bytes32[] calldata proof
    ) private view returns (bool ok) {
        uint256 shift = _trailingZeros(oldSize);
        // The seed's index at its level, and where its inner path ends in `proof`.
        uint256 node = (oldSize - 1) >> shift;
        uint256 innerEnd = _bitLength((oldSize - 1) ^ (newSize - 1)) - shift;
        bool seeded = oldSize != (1 << shift);
        assembly ("memory-safe") {
            function hashInput(buffer) -> digest {
                if iszero(staticcall(gas(), 0x02, buffer, 0x41, 0x00, 0x20)) { revert(0, 0) }
                digest := mload(0x00)
            }
            let input := mload(0x40)
            mstore8(input, 0x01)
            let p := proof.offset
            let fr := oldRoot
            if seeded {
                fr := calldataload(p)
                p := add(p, 0x20)
            }
            let sr := fr
            innerEnd := add(p, shl(5, innerEnd))
            for {} lt(p, innerEnd) { p := add(p, 0x20) } {
                switch and(node, 1)
                case 0 {
                    // A right sibling: part of the new tree only.
                    mstore(add(input, 0x01), sr)
                    mstore(add(input, 0x21), calldataload(p))
                    sr := hashInput(input)
                }
                default {
                    // A left sibling: part of both trees.
                    mstore(add(input, 0x01), calldataload(p))
                    mstore(add(input, 0x21), fr)
                    fr := hashInput(input)
                    mstore(add(input, 0x21), sr)
                    sr := hashInput(input)
                }
                node := shr(1, node)
            }
            // Above the inner path every hash is a left sibling on the new tree's right border.
            for {} lt(p, add(proof.offset, shl(5, proof.length))) { p := add(p, 0x20) } {
                mstore(add(input, 0x01), calldataload(p))
                mstore(add(input, 0x21), fr)
                fr := hashInput(input)
                mstore(add(input, 0x21), sr)
                sr := hashInput(input)
            }
            ok := and(eq(fr, oldRoot), eq(sr, newRoot))
        }
    }

    /// @dev `_included` for pure callers. It only reads its arguments and calls the SHA-256
    /// precompile, a pure function of its input (Solidity's own `sha256` is allowed in pure
    /// code), so calling it through a pure-typed pointer is sound. Hashing through `sha256`
    /// itself would cost about twice as much gas per node.
    function _includedPure(
        uint256 treeSize,
        uint256 leafIndex,
        bytes32 leafHash,
        bytes32 root,
        bytes32[] calldata proof
    ) private pure returns (bool) {
        function(uint256, uint256, bytes32, bytes32, bytes32[] calldata) view returns (bool)
            check = _included;
        function(uint256, uint256, bytes32, bytes32, bytes32[] calldata) pure returns (bool)
            pureCheck;
        assembly ("memory-safe") {
            pureCheck := check
        }
        return pureCheck(treeSize, leafIndex, leafHash, root, proof);
    }

    /// @dev `_consistent` for pure callers; see `_includedPure`.
    function _consistentPure(
        uint256 oldSize,
        uint256 newSize,
        bytes32 oldRoot,
        bytes32 newRoot,
        bytes32[] calldata proof
    ) private pure returns (bool) {
        function(uint256, uint256, bytes32, bytes32, bytes32[] calldata) view returns (bool)
            check = _consistent;
        function(uint256, uint256, bytes32, bytes32, bytes32[] calldata) pure returns (bool)
            pureCheck;
        assembly ("memory-safe") {
            pureCheck := check
        }
        return pureCheck(oldSize, newSize, oldRoot, newRoot, proof);
    }

    /// @dev The number of bits needed to write `x` (0 for 0); `x` below 2**128.
    function _bitLength(uint256 x) private pure returns (uint256 n) {
        unchecked {
            if (x >> 64 != 0) {
                x >>= 64;
                n += 64;
            }
            if (x >> 32 != 0) {
                x >>= 32;
                n += 32;
            }
            if (x >> 16 != 0) {
                x >>= 16;
                n += 16;
            }
            if (x >> 8 != 0) {
                x >>= 8;
                n += 8;
            }
            if (x >> 4 != 0) {
                x >>= 4;
                n += 4;
            }
            if (x >> 2 != 0) {
                x >>= 2;
                n += 2;
            }
            if (x >> 1 != 0) {
                x >>= 1;
                n += 1;
            }
            return n + x;
        }
    }

    /// @dev The number of 1 bits of `x`; `x` below 2**64.
    function _popCount(uint256 x) private pure returns (uint256) {
        unchecked {
            x = x - ((x >> 1) & 0x5555555555555555);
            x = (x & 0x3333333333333333) + ((x >> 2) & 0x3333333333333333);
            x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0f;
            return ((x * 0x0101010101010101) & 0xffffffffffffffff) >> 56;
        }
    }

    /// @dev The number of trailing zero bits of `x`; `x` nonzero and below 2**64.
    function _trailingZeros(uint256 x) private pure returns (uint256) {
        unchecked {
            return _bitLength(x & (~x + 1)) - 1;
        }
    }
}
