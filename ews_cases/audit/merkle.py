"""The Merkle tree over the audit log: RFC 9162 (Certificate Transparency 2.0) §2.1, pure Python.

Leaves are audit events in the order the log took them in (`ews_cases.audit.log`). A leaf's hash is
`SHA-256(0x00 ‖ event hash)`, with the event's 32-byte hash (not its hex text); an inner node's is
`SHA-256(0x01 ‖ left ‖ right)`. The tree of `n` leaves splits at `k`, the largest power of two below `n`,
exactly as `MTH` in RFC 9162 §2.1.1; inclusion proofs are its `PATH`, consistency proofs its `PROOF`
(§2.1.3.1, §2.1.4.1), and the verification algorithms are those of §2.1.3.2 and §2.1.4.2.

Stored are the **perfect subtrees**: node `(level, index)` is the root of leaves
`[index·2^level, (index+1)·2^level)`. Every subtree the RFC's recursion visits is either such a node or
splits into them, so any root or proof is computed from O(log² n) stored nodes, and appending a leaf adds
the leaf and the perfect nodes it completes (one on average, at most log₂ n): `nodes_completed_by`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

#: Node lookup: `(level, index) → hash` of a perfect subtree of the log.
NodeSource = Callable[[int, int], bytes]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(event_hash: str | bytes) -> bytes:
    """`SHA-256(0x00 ‖ event hash)`; the event hash as 64 hex digits or its 32 bytes."""
    raw = bytes.fromhex(event_hash) if isinstance(event_hash, str) else event_hash
    if len(raw) != HASH_SIZE:
        raise ValueError("an event hash has 32 bytes")
    return hashlib.sha256(b"\x00" + raw).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(size: int) -> int:
    """The largest power of two smaller than `size` (`size` ≥ 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def is_perfect(start: int, size: int) -> bool:
    """Whether leaves `[start, start + size)` are a stored perfect subtree."""
    return size & (size - 1) == 0 and start % size == 0


def subtree_root(nodes: NodeSource, start: int, end: int) -> bytes:
    """`MTH(D[start:end])` for a range the RFC recursion produces (its perfect parts are stored)."""
    size = end - start
    if size <= 0:
        raise ValueError("empty range")
    if is_perfect(start, size):
        return nodes(size.bit_length() - 1, start // size)
    k = split_point(size)
    return node_hash(subtree_root(nodes, start, start + k), subtree_root(nodes, start + k, end))


def root(nodes: NodeSource, size: int) -> bytes:
    """The tree head of the first `size` leaves (the hash of the empty string for no leaves)."""
    return EMPTY_ROOT if size == 0 else subtree_root(nodes, 0, size)


def inclusion_proof(nodes: NodeSource, index: int, size: int) -> list[bytes]:
    """`PATH(index, D[0:size])`: the audit path of leaf `index` in the tree of `size` leaves."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            path.append(subtree_root(nodes, start + k, end))
            end = start + k
        else:
            path.append(subtree_root(nodes, start, start + k))
            start += k
    path.reverse()  # the RFC lists the path from the leaf upwards
    return path


def consistency_proof(nodes: NodeSource, old_size: int, new_size: int) -> list[bytes]:
    """`PROOF(old_size, D[0:new_size])` (RFC 9162 §2.1.4.1); empty when the sizes are equal or old is 0."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from {old_size} to {new_size} leaves")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    _subproof(nodes, old_size, 0, new_size, True, proof)
    return proof


def _subproof(nodes: NodeSource, m: int, start: int, end: int, whole: bool, proof: list[bytes]) -> None:
    """`SUBPROOF(m, D[start:end], whole)`, appending to `proof` in the RFC's order."""
    size = end - start
    if m == size:
        if not whole:
            proof.append(subtree_root(nodes, start, end))
        return
    k = split_point(size)
    if m <= k:
        _subproof(nodes, m, start, start + k, whole, proof)
        proof.append(subtree_root(nodes, start + k, end))
    else:
        _subproof(nodes, m - k, start + k, end, False, proof)
        proof.append(subtree_root(nodes, start, start + k))


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: whether `proof` shows leaf hash `leaf` at `index` in the tree with that root."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == expected_root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: whether `proof` shows the tree `old_root` is a prefix of the tree `new_root`."""
    if old_size < 0 or old_size > new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof  # everything extends the empty tree
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node of the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


def nodes_completed_by(index: int, leaf: bytes, nodes: NodeSource) -> list[tuple[int, int, bytes]]:
    """The nodes to store when leaf `index` is appended: the leaf itself and each perfect subtree it completes.

    `nodes` supplies the left siblings (already stored, or returned by an earlier call in the same batch)."""
    added = [(0, index, leaf)]
    level, position, current = 0, index, leaf
    while position & 1:
        current = node_hash(nodes(level, position - 1), current)
        level, position = level + 1, position >> 1
        added.append((level, position, current))
    return added


def frontier(size: int) -> list[tuple[int, int]]:
    """The perfect subtrees along the right edge of a tree of `size` leaves: all later appends need."""
    return [(level, (size >> level) - 1) for level in range(size.bit_length()) if size >> level & 1]


class Frontier:
    """A tree kept as its right edge only (O(log n) memory): append leaves, read the root at any size.

    What verification uses to recompute a log of any length from its leaves in one pass."""

    __slots__ = ("_edge", "size")

    def __init__(self) -> None:
        self.size = 0
        self._edge: list[bytes] = []  # perfect subtrees, largest first; their sizes are the bits of `size`

    def append(self, leaf: bytes) -> None:
        current, position = leaf, self.size
        while position & 1:
            current = node_hash(self._edge.pop(), current)
            position >>= 1
        self._edge.append(current)
        self.size += 1

    def root(self) -> bytes:
        if not self._edge:
            return EMPTY_ROOT
        current = self._edge[-1]
        for left in reversed(self._edge[:-1]):
            current = node_hash(left, current)
        return current
