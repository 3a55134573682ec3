"""The Merkle tree (RFC 9162 §2.1) against published vectors and a second, naive implementation."""

from __future__ import annotations

import hashlib
import random

import pytest

from ews_cases.audit import merkle

# RFC 6962's reference test data (certificate-transparency's merkle_tree_test): eight leaf inputs and the
# tree heads of their first 1…8 leaves.
CT_LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


# -- a naive implementation, written from the RFC's definitions over plain lists --------------------


def naive_mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:])).digest()


def naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_mth(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_mth(leaves[:k])]


def naive_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [naive_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*naive_subproof(m, leaves[:k], whole), naive_mth(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), naive_mth(leaves[:k])]


def naive_proof(m: int, leaves: list[bytes]) -> list[bytes]:
    return [] if m in (0, len(leaves)) else naive_subproof(m, leaves, True)


def stored_nodes(leaves: list[bytes]) -> merkle.NodeSource:
    """The nodes an append-only log stores, built with `nodes_completed_by` one leaf at a time."""
    table: dict[tuple[int, int], bytes] = {}
    for index, leaf in enumerate(leaves):
        for level, position, digest in merkle.nodes_completed_by(index, leaf, lambda lv, ix: table[(lv, ix)]):
            table[(level, position)] = digest
    return lambda level, index: table[(level, index)]


def random_leaves(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    return [merkle.leaf_hash(rng.randbytes(32)) for _ in range(count)]


def test_roots_match_the_published_rfc6962_vectors() -> None:
    leaves = [hashlib.sha256(b"\x00" + bytes.fromhex(data)).digest() for data in CT_LEAVES]
    nodes = stored_nodes(leaves)
    for size, expected in enumerate(CT_ROOTS, start=1):
        assert merkle.root(nodes, size).hex() == expected
        assert naive_mth(leaves[:size]).hex() == expected
    assert merkle.root(nodes, 0).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_leaf_and_node_hashes_are_rfc9162() -> None:
    event_hash = "ab" * 32
    assert merkle.leaf_hash(event_hash) == hashlib.sha256(b"\x00" + bytes.fromhex(event_hash)).digest()
    assert merkle.node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    with pytest.raises(ValueError):
        merkle.leaf_hash("ab" * 31)


def test_roots_inclusion_and_consistency_proofs_agree_with_the_naive_implementation() -> None:
    leaves = random_leaves(70)
    nodes = stored_nodes(leaves)
    for size in range(1, len(leaves) + 1):
        tree_root = merkle.root(nodes, size)
        assert tree_root == naive_mth(leaves[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(nodes, index, size)
            assert proof == naive_path(index, leaves[:size])
            assert merkle.verify_inclusion(leaves[index], index, size, proof, tree_root)
        for old in range(0, size + 1):
            proof = merkle.consistency_proof(nodes, old, size)
            assert proof == naive_proof(old, leaves[:size])
            assert merkle.verify_consistency(old, size, merkle.root(nodes, old), tree_root, proof)


def test_wrong_proofs_are_refused() -> None:
    leaves = random_leaves(21)
    nodes = stored_nodes(leaves)
    tree_root = merkle.root(nodes, 21)
    proof = merkle.inclusion_proof(nodes, 5, 21)
    assert not merkle.verify_inclusion(leaves[6], 5, 21, proof, tree_root)  # another leaf
    assert not merkle.verify_inclusion(leaves[5], 6, 21, proof, tree_root)  # another index
    assert not merkle.verify_inclusion(leaves[5], 5, 40, proof, tree_root)  # a size of another shape
    assert not merkle.verify_inclusion(leaves[5], 5, 21, proof[:-1], tree_root)  # shortened
    assert not merkle.verify_inclusion(leaves[5], 5, 21, [*proof, proof[0]], tree_root)  # lengthened
    flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
    assert not merkle.verify_inclusion(leaves[5], 5, 21, flipped, tree_root)

    old_root = merkle.root(nodes, 13)
    consistency = merkle.consistency_proof(nodes, 13, 21)
    assert merkle.verify_consistency(13, 21, old_root, tree_root, consistency)
    assert not merkle.verify_consistency(13, 21, merkle.root(nodes, 12), tree_root, consistency)
    assert not merkle.verify_consistency(12, 21, old_root, tree_root, consistency)
    assert not merkle.verify_consistency(13, 21, old_root, tree_root, consistency[:-1])
    assert not merkle.verify_consistency(13, 21, old_root, tree_root, [])
    assert not merkle.verify_consistency(8, 21, merkle.root(nodes, 8), tree_root, [])  # a power of two too
    # A log whose old part was rewritten is not consistent with the old root.
    rewritten = list(leaves)
    rewritten[3] = merkle.leaf_hash(b"\x00" * 32)
    other = stored_nodes(rewritten)
    assert not merkle.verify_consistency(
        13, 21, old_root, merkle.root(other, 21), merkle.consistency_proof(other, 13, 21)
    )


def test_the_frontier_gives_every_root_in_one_pass() -> None:
    leaves = random_leaves(300, seed=3)
    frontier = merkle.Frontier()
    assert frontier.root() == merkle.EMPTY_ROOT
    for size, leaf in enumerate(leaves, start=1):
        frontier.append(leaf)
        assert frontier.root() == naive_mth(leaves[:size])


def test_appending_stores_one_node_per_leaf_on_average() -> None:
    leaves = random_leaves(1024, seed=5)
    table: dict[tuple[int, int], bytes] = {}
    most = 0
    for index, leaf in enumerate(leaves):
        added = merkle.nodes_completed_by(index, leaf, lambda lv, ix: table[(lv, ix)])
        most = max(most, len(added))
        table.update({(lv, ix): digest for lv, ix, digest in added})
    assert len(table) == 2 * 1024 - 1  # every perfect subtree exactly once
    assert most == 11  # log2(1024) + 1 at the leaf that completes the whole tree
    assert merkle.frontier(1024) == [(10, 0)]
    assert merkle.frontier(11) == [(0, 10), (1, 4), (3, 0)]
