"""RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing, proofs and proof verification.

Pure functions over 32-byte SHA-256 hashes, no storage:

* ``leaf_hash(data) = SHA-256(0x00 || data)``, ``node_hash(l, r) = SHA-256(0x01 || l || r)`` (§2.1.1);
* ``mth(leaves)`` is the Merkle Tree Hash of a list of leaf hashes, computed level by level (an odd
  node at the end of a level is carried up unchanged, which gives exactly the RFC's split at the largest
  power of two below n);
* ``inclusion_path`` / ``consistency_proof`` follow the RFC's PATH and PROOF/SUBPROOF (§2.1.3.1,
  §2.1.4.1); ``verify_inclusion`` / ``verify_consistency`` its verification algorithms (§2.1.3.2, §2.1.4.2);
* ``RootAccumulator`` takes leaves one at a time and answers the root of the first n so far in O(log n):
  how ``AuditTrail.verify`` gets the root at every checkpoint's size in one pass.
"""

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The k of the RFC: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def mth(leaves: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash of the given leaf hashes (SHA-256 of the empty string for none)."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    sha = hashlib.sha256
    while len(level) > 1:
        pairs = iter(level)  # zipped with itself: consecutive pairs (an odd last node is carried up below)
        nxt = [sha(_NODE + left + right).digest() for left, right in zip(pairs, pairs, strict=False)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def inclusion_path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1: the audit path of leaf `index`, nearest sibling first."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf index {index} is outside a tree of size {len(leaves)}")
    path: list[bytes] = []
    lo, hi, m = 0, len(leaves), index
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if m < k:
            path.append(mth(leaves[lo + k : hi]))
            hi = lo + k
        else:
            path.append(mth(leaves[lo : lo + k]))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1 between the first `old_size` leaves and all of them."""
    n = len(leaves)
    if not 0 <= old_size <= n:
        raise ValueError(f"old size {old_size} is outside 0..{n}")
    if old_size in (0, n):
        return []
    proof: list[bytes] = []
    lo, hi, m, whole = 0, n, old_size, True
    while m != hi - lo:
        k = _largest_power_of_two_below(hi - lo)
        if m <= k:
            proof.append(mth(leaves[lo + k : hi]))
            hi = lo + k
        else:
            proof.append(mth(leaves[lo : lo + k]))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        proof.append(mth(leaves[lo:hi]))
    proof.reverse()
    return proof


def _valid_hashes(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def verify_inclusion(leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does `proof` show the leaf with hash `leaf_hash` at `index` in the tree `root`?"""
    if not _valid_hashes(leaf_hash, root, *proof) or not 0 <= index < tree_size:
        return False
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: does `proof` show that the tree `new_root` of `new_size` extends `old_root`?

    The RFC's algorithm covers 0 < old_size < new_size; equal sizes are consistent when the roots are
    equal and the proof is empty, and the empty tree is a prefix of every tree.
    """
    if not _valid_hashes(old_root, new_root, *proof) or not 0 <= old_size <= new_size:
        return False
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


class RootAccumulator:
    """Leaves in, root of everything so far out: a compact range (RFC 9162 §2.1: the roots of the perfect
    subtrees that the binary digits of the size split the tree into, largest first).

    Besides the compact range it keeps `last_path`, the last leaf's audit path inside the last (smallest)
    perfect subtree, nearest sibling first: with it the last leaf can be checked against the compact
    range (and so against a signed root) in O(log n), which is what lets the next entry's chain link be
    checked without reading the log. `frontier()` / `resume()` persist and restore both.
    """

    def __init__(self) -> None:
        self._hashes: list[bytes] = []
        self._sizes: list[int] = []
        self.size = 0
        self.last_path: list[bytes] = []

    def add(self, leaf: bytes) -> None:
        h, size = leaf, 1
        hashes, sizes = self._hashes, self._sizes
        path = []
        while sizes and sizes[-1] == size:
            sizes.pop()
            left = hashes.pop()
            path.append(left)
            h = hashlib.sha256(_NODE + left + h).digest()
            size <<= 1
        hashes.append(h)
        sizes.append(size)
        self.size += 1
        self.last_path = path

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        r = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            r = node_hash(h, r)
        return r

    def frontier(self) -> tuple[list[bytes], list[bytes]]:
        """The compact range (largest subtree first) and the last leaf's path inside the last subtree."""
        return list(self._hashes), list(self.last_path)

    @classmethod
    def resume(cls, size: int, nodes: Sequence[bytes], last_path: Sequence[bytes]) -> "RootAccumulator":
        """An accumulator at `size` leaves from a stored `frontier()`; ValueError if the shapes do not fit
        the size (one node per binary digit 1 of the size, and as many path hashes as the last subtree has
        levels)."""
        if size < 0:
            raise ValueError(f"negative tree size {size}")
        sizes = [1 << bit for bit in range(size.bit_length() - 1, -1, -1) if size >> bit & 1]
        if len(nodes) != len(sizes) or not _valid_hashes(*nodes, *last_path):
            raise ValueError(f"a compact range of {size} leaves has {len(sizes)} subtree roots, not {len(nodes)}")
        if size and len(last_path) != sizes[-1].bit_length() - 1:
            raise ValueError(
                f"the last leaf's path in a subtree of {sizes[-1]} leaves has {sizes[-1].bit_length() - 1} hashes"
            )
        if not size and last_path:
            raise ValueError("an empty tree has no last leaf")
        acc = cls()
        acc._hashes, acc._sizes, acc.size, acc.last_path = list(nodes), sizes, size, list(last_path)
        return acc

    def holds_last(self, leaf: bytes) -> bool:
        """Whether `leaf` is the last leaf (its path leads to the root of the last subtree)."""
        if not self._hashes:
            return False
        h = leaf
        for sibling in self.last_path:
            h = node_hash(sibling, h)
        return h == self._hashes[-1]
