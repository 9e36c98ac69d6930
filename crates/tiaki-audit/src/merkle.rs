//! RFC 9162 Merkle tree hashing: leaf = SHA-256(0x00 ‖ data), node = SHA-256(0x01 ‖
//! left ‖ right), with inclusion and consistency proofs and their verification.
//!
//! Proof generation here works from the leaf hashes of the tree it proves over (the
//! log keeps every leaf hash in the database); verification needs only the proof.

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The hash of a leaf's data.
#[must_use]
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node.
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree.
#[must_use]
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly less than `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH over leaf hashes.
#[must_use]
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [one] => *one,
        _ => {
            let k = split(leaves.len());
            let (l, r) = leaves.split_at(k);
            node_hash(&root(l), &root(r))
        }
    }
}

/// The inclusion proof for leaf `index` in the tree of `leaves`, or `None` if the index
/// is outside the tree.
#[must_use]
pub fn inclusion_proof(index: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    path(index, leaves, &mut proof);
    Some(proof)
}

fn path(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split(leaves.len());
    let (l, r) = leaves.split_at(k);
    if m < k {
        path(m, l, out);
        out.push(root(r));
    } else {
        path(m - k, r, out);
        out.push(root(l));
    }
}

/// Inclusion proofs for many leaves of one tree, each in O(log n) after one O(n) pass:
/// the hashes of every aligned perfect subtree are kept level by level, and the few
/// subtrees on the tree's right edge are computed on demand from them. An incident's
/// scope proves thousands of events against one checkpoint this way.
#[derive(Debug, Clone)]
pub struct Prover {
    /// `levels[h][i]` is the root of leaves `[i·2^h, (i+1)·2^h)`.
    levels: Vec<Vec<Hash>>,
    size: usize,
}

impl Prover {
    /// Builds the levels over the tree of `leaves`.
    #[must_use]
    pub fn new(leaves: Vec<Hash>) -> Self {
        let size = leaves.len();
        let mut levels = vec![leaves];
        while let Some(below) = levels.last() {
            if below.len() < 2 {
                break;
            }
            let up: Vec<Hash> = below
                .chunks_exact(2)
                .filter_map(|pair| match pair {
                    [l, r] => Some(node_hash(l, r)),
                    _ => None,
                })
                .collect();
            levels.push(up);
        }
        Self { levels, size }
    }

    #[must_use]
    pub fn size(&self) -> usize {
        self.size
    }

    /// The leaf hash at `index`.
    #[must_use]
    pub fn leaf(&self, index: usize) -> Option<Hash> {
        self.levels.first().and_then(|l| l.get(index)).copied()
    }

    /// The root of the whole tree.
    #[must_use]
    pub fn root(&self) -> Hash {
        if self.size == 0 {
            return empty_root();
        }
        self.subtree(0, self.size)
    }

    /// The inclusion proof for leaf `index`, equal to [`inclusion_proof`]'s.
    #[must_use]
    pub fn inclusion(&self, index: usize) -> Option<Vec<Hash>> {
        if index >= self.size {
            return None;
        }
        let mut out = Vec::new();
        self.path(index, 0, self.size, &mut out);
        Some(out)
    }

    fn path(&self, m: usize, start: usize, n: usize, out: &mut Vec<Hash>) {
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            self.path(m, start, k, out);
            out.push(self.subtree(start + k, n - k));
        } else {
            self.path(m - k, start + k, n - k, out);
            out.push(self.subtree(start, k));
        }
    }

    /// The root of leaves `[start, start + n)`, a node of the tree (n ≥ 1).
    fn subtree(&self, start: usize, n: usize) -> Hash {
        if n.is_power_of_two() && start.is_multiple_of(n) {
            let height = n.trailing_zeros() as usize;
            if let Some(hash) = self.levels.get(height).and_then(|l| l.get(start / n)) {
                return *hash;
            }
        }
        if n <= 1 {
            return self.leaf(start).unwrap_or_else(empty_root);
        }
        let k = split(n);
        node_hash(&self.subtree(start, k), &self.subtree(start + k, n - k))
    }
}

/// The consistency proof from the tree of the first `old_size` leaves to the tree of
/// all `leaves`, or `None` if `old_size` is not within it.
#[must_use]
pub fn consistency_proof(old_size: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    if old_size > leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    if old_size > 0 && old_size < leaves.len() {
        subproof(old_size, leaves, true, &mut proof);
    }
    Some(proof)
}

fn subproof(m: usize, leaves: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete {
            out.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    let (l, r) = leaves.split_at(k);
    if m <= k {
        subproof(m, l, complete, out);
        out.push(root(r));
    } else {
        subproof(m - k, r, false, out);
        out.push(root(l));
    }
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
#[must_use]
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && &r == root
}

/// Verifies a consistency proof between two tree heads (RFC 9162 §2.1.4.2).
#[must_use]
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && &fr == old_root && &sr == new_root
}

/// The right edge of a tree: the roots of its perfect subtrees, largest first. Appending
/// a leaf and computing the root are O(log n), so the log need not reread old leaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// (height, hash) of each perfect subtree, left to right.
    peaks: Vec<(u32, Hash)>,
}

impl Frontier {
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn push(&mut self, leaf: Hash) {
        let mut node = (0u32, leaf);
        while let Some(&(height, hash)) = self.peaks.last() {
            if height != node.0 {
                break;
            }
            self.peaks.pop();
            node = (height + 1, node_hash(&hash, &node.1));
        }
        self.peaks.push(node);
        self.size += 1;
    }

    /// The root of the tree so far.
    #[must_use]
    pub fn root(&self) -> Hash {
        let mut iter = self.peaks.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return empty_root();
        };
        for (_, hash) in iter {
            acc = node_hash(hash, &acc);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The leaves of the RFC 6962 / transparency-dev reference tree.
    fn reference_leaves() -> Vec<Hash> {
        let data: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        data.iter().map(|d| leaf_hash(d)).collect()
    }

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn reference_roots() {
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let leaves = reference_leaves();
        let mut frontier = Frontier::default();
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(hex(&root(&leaves[..=i])), *want, "size {}", i + 1);
            frontier.push(leaves[i]);
            assert_eq!(hex(&frontier.root()), *want, "frontier size {}", i + 1);
        }
        assert_eq!(
            hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn reference_proofs() {
        let leaves = reference_leaves();
        let short = |p: Vec<Hash>| p.iter().map(|h| hex(h)[..8].to_owned()).collect::<Vec<_>>();
        assert_eq!(
            short(inclusion_proof(0, &leaves).unwrap()),
            ["96a296d2", "5f083f0a", "6b47aaf2"]
        );
        assert_eq!(
            short(inclusion_proof(5, &leaves).unwrap()),
            ["bc1a0643", "ca854ea1", "d37ee418"]
        );
        assert_eq!(
            short(inclusion_proof(2, &leaves[..3]).unwrap()),
            ["fac54203"]
        );
        assert_eq!(
            short(consistency_proof(1, &leaves).unwrap()),
            ["96a296d2", "5f083f0a", "6b47aaf2"]
        );
        assert_eq!(
            short(consistency_proof(6, &leaves).unwrap()),
            ["0ebc5d34", "ca854ea1", "d37ee418"]
        );
        assert_eq!(
            short(consistency_proof(2, &leaves[..5]).unwrap()),
            ["5f083f0a", "bc1a0643"]
        );
        assert!(inclusion_proof(8, &leaves).is_none());
        assert!(consistency_proof(9, &leaves).is_none());
    }

    proptest! {
        #[test]
        fn every_proof_verifies_and_tampering_fails(
            data in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..8), 1..70),
            pick in any::<proptest::sample::Index>(),
            old in any::<proptest::sample::Index>(),
            flip in any::<u8>(),
        ) {
            let leaves: Vec<Hash> = data.iter().map(|d| leaf_hash(d)).collect();
            let n = leaves.len();
            let top = root(&leaves);
            let i = pick.index(n);
            let proof = inclusion_proof(i, &leaves).unwrap();
            prop_assert!(verify_inclusion(i as u64, n as u64, &leaves[i], &proof, &top));
            // A different leaf, index or root fails.
            let mut wrong = leaves[i];
            wrong[usize::from(flip) % 32] ^= 1;
            prop_assert!(!verify_inclusion(i as u64, n as u64, &wrong, &proof, &top));
            if n > 1 {
                prop_assert!(!verify_inclusion(((i + 1) % n) as u64, n as u64, &leaves[i], &proof, &top) || leaves[(i + 1) % n] == leaves[i]);
            }
            let prover = Prover::new(leaves.clone());
            prop_assert_eq!(prover.root(), top);
            for j in 0..n {
                prop_assert_eq!(prover.inclusion(j), inclusion_proof(j, &leaves));
            }
            prop_assert_eq!(prover.inclusion(n), None);
            let m = old.index(n + 1);
            let consistency = consistency_proof(m, &leaves).unwrap();
            let old_root = root(&leaves[..m]);
            prop_assert!(verify_consistency(m as u64, n as u64, &old_root, &top, &consistency));
            if m > 0 && m < n {
                let mut forked = old_root;
                forked[0] ^= 0x80;
                prop_assert!(!verify_consistency(m as u64, n as u64, &forked, &top, &consistency));
            }
            let mut frontier = Frontier::default();
            for l in &leaves {
                frontier.push(*l);
            }
            prop_assert_eq!(frontier.root(), top);
        }
    }
}
