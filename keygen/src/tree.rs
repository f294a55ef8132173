//! The TGDH key tree: a full binary tree stored in preorder, with blinded keys on every
//! resolved node and secrets on the owning member's path.
//!
//! The arena index of a node is its preorder index; that index names nodes on the wire.

use std::collections::BTreeSet;

use x25519_dalek::StaticSecret;

use crate::ids::NodeId;

/// One node of the key tree.
#[derive(Clone)]
pub struct Node {
    /// `Some(nodeid)` for a leaf, `None` for an internal node.
    pub leaf: Option<NodeId>,
    /// Left child (internal nodes only).
    pub left: usize,
    /// Right child (internal nodes only).
    pub right: usize,
    /// Parent, `None` for the root.
    pub parent: Option<usize>,
    /// Blinded key; `None` while the node is stale (for a leaf: its owner must refresh).
    pub bk: Option<[u8; 32]>,
    /// Secret, known only to members below this node.
    pub secret: Option<StaticSecret>,
}

impl Node {
    fn leaf(id: NodeId, bk: Option<[u8; 32]>) -> Self {
        Node {
            leaf: Some(id),
            left: 0,
            right: 0,
            parent: None,
            bk,
            secret: None,
        }
    }

    fn internal(left: usize, right: usize, bk: Option<[u8; 32]>) -> Self {
        Node {
            leaf: None,
            left,
            right,
            parent: None,
            bk,
            secret: None,
        }
    }
}

/// A key tree. `nodes[0]` is the root and nodes are in preorder.
#[derive(Clone)]
pub struct Tree {
    /// Nodes in preorder.
    pub nodes: Vec<Node>,
}

/// Shape of one node as carried in a tree announcement (preorder list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireNode {
    /// Leaf nodeid, or `None` for an internal node.
    pub leaf: Option<NodeId>,
    /// Blinded key if resolved.
    pub bk: Option<[u8; 32]>,
}

impl Tree {
    /// A one-leaf tree for a fresh member.
    pub fn singleton(id: NodeId, secret: StaticSecret, bk: [u8; 32]) -> Self {
        let mut n = Node::leaf(id, Some(bk));
        n.secret = Some(secret);
        Tree { nodes: vec![n] }
    }

    /// Builds a tree from a validated preorder list (see `wire::parse_tree`).
    pub fn from_wire(list: &[WireNode]) -> Self {
        let mut nodes: Vec<Node> = Vec::with_capacity(list.len());
        // Stack of internal nodes still waiting for a child.
        let mut open: Vec<usize> = Vec::new();
        for (i, w) in list.iter().enumerate() {
            let mut n = match w.leaf {
                Some(id) => Node::leaf(id, w.bk),
                None => Node::internal(usize::MAX, usize::MAX, w.bk),
            };
            if let Some(&p) = open.last() {
                n.parent = Some(p);
                if nodes[p].left == usize::MAX {
                    nodes[p].left = i;
                } else {
                    nodes[p].right = i;
                    open.pop();
                }
            }
            let internal = n.leaf.is_none();
            nodes.push(n);
            if internal {
                open.push(i);
            }
        }
        Tree { nodes }
    }

    /// The preorder list used by tree announcements.
    pub fn to_wire(&self) -> Vec<WireNode> {
        self.nodes
            .iter()
            .map(|n| WireNode {
                leaf: n.leaf,
                bk: n.bk,
            })
            .collect()
    }

    /// Index of the root.
    pub const ROOT: usize = 0;

    /// Member nodeids from left to right.
    pub fn members(&self) -> Vec<NodeId> {
        self.nodes.iter().filter_map(|n| n.leaf).collect()
    }

    /// Index of the leaf of `id`.
    pub fn find_leaf(&self, id: NodeId) -> Option<usize> {
        self.nodes.iter().position(|n| n.leaf == Some(id))
    }

    /// Rightmost leaf of the subtree rooted at `i`.
    pub fn rightmost_leaf(&self, mut i: usize) -> usize {
        while self.nodes[i].leaf.is_none() {
            i = self.nodes[i].right;
        }
        i
    }

    /// Nodeid owning the rightmost leaf below `i`.
    pub fn rightmost_member(&self, i: usize) -> NodeId {
        let l = self.rightmost_leaf(i);
        self.nodes[l].leaf.unwrap_or_default()
    }

    /// The other child of `i`'s parent.
    pub fn sibling(&self, i: usize) -> Option<usize> {
        let p = self.nodes[i].parent?;
        let n = &self.nodes[p];
        Some(if n.left == i { n.right } else { n.left })
    }

    /// Indices from `i` up to the root, `i` first.
    pub fn path(&self, i: usize) -> Vec<usize> {
        let mut v = vec![i];
        let mut c = i;
        while let Some(p) = self.nodes[c].parent {
            v.push(p);
            c = p;
        }
        v
    }

    /// Whether `a` is `d` or an ancestor of `d`.
    pub fn is_ancestor_or_self(&self, a: usize, d: usize) -> bool {
        let mut c = d;
        loop {
            if c == a {
                return true;
            }
            match self.nodes[c].parent {
                Some(p) => c = p,
                None => return false,
            }
        }
    }

    /// Height of every node (leaves 0).
    pub fn heights(&self) -> Vec<u32> {
        let mut h = vec![0u32; self.nodes.len()];
        // Children come after parents in preorder, so a reverse sweep sees children first.
        for i in (0..self.nodes.len()).rev() {
            let n = &self.nodes[i];
            if n.leaf.is_none() {
                h[i] = 1 + h[n.left].max(h[n.right]);
            }
        }
        h
    }

    /// Depth of every node (root 0).
    pub fn depths(&self) -> Vec<u32> {
        let mut d = vec![0u32; self.nodes.len()];
        for i in 0..self.nodes.len() {
            if let Some(p) = self.nodes[i].parent {
                d[i] = d[p] + 1;
            }
        }
        d
    }

    /// Marks `i` and its ancestors stale: blinded keys and secrets are forgotten.
    pub fn mark_stale_upwards(&mut self, i: usize) {
        let mut c = Some(i);
        while let Some(x) = c {
            self.nodes[x].bk = None;
            self.nodes[x].secret = None;
            c = self.nodes[x].parent;
        }
    }

    /// Flags the rightmost leaf below `i` for refresh (its owner is the sponsor).
    pub fn flag_sponsor(&mut self, i: usize) {
        let l = self.rightmost_leaf(i);
        self.mark_stale_upwards(l);
    }

    /// Removes the leaves of every member not in `keep`; returns how many were removed.
    ///
    /// For each removed leaf its sibling takes the parent's place and the rightmost leaf
    /// under that sibling is flagged to refresh (TGDH leave sponsor).
    pub fn prune(&mut self, keep: &BTreeSet<NodeId>) -> usize {
        let mut removed = 0;
        let gone: Vec<NodeId> = self
            .members()
            .into_iter()
            .filter(|m| !keep.contains(m))
            .collect();
        for id in gone {
            let Some(l) = self.find_leaf(id) else {
                continue;
            };
            removed += 1;
            let Some(p) = self.nodes[l].parent else {
                // Last leaf: the tree becomes empty.
                self.nodes.clear();
                return removed;
            };
            let s = if self.nodes[p].left == l {
                self.nodes[p].right
            } else {
                self.nodes[p].left
            };
            let g = self.nodes[p].parent;
            self.nodes[s].parent = g;
            match g {
                Some(g) => {
                    if self.nodes[g].left == p {
                        self.nodes[g].left = s;
                    } else {
                        self.nodes[g].right = s;
                    }
                    self.mark_stale_upwards(g);
                }
                None => {
                    // The sibling becomes the root; move it into slot 0 by compaction.
                    self.nodes[s].parent = None;
                }
            }
            let root = if g.is_some() { Self::ROOT } else { s };
            let map = self.compact(root);
            self.flag_sponsor(map[s]);
        }
        removed
    }

    /// TGDH insertion point for a subtree of height `hs`: the shallowest, then rightmost,
    /// node `N` with `depth(N) + 1 + max(height(N), hs) <= height(tree)`; else the root.
    pub fn insertion_point(&self, hs: u32) -> usize {
        let h = self.heights();
        let d = self.depths();
        let total = h[Self::ROOT];
        let mut best: Option<(u32, usize)> = None;
        for i in 0..self.nodes.len() {
            if d[i] + 1 + h[i].max(hs) <= total {
                // Same depth: a later preorder index lies further right.
                match best {
                    Some((bd, _)) if d[i] > bd => {}
                    Some((bd, _)) if d[i] == bd => best = Some((bd, i)),
                    _ => best = Some((d[i], i)),
                }
            }
        }
        best.map(|(_, i)| i).unwrap_or(Self::ROOT)
    }

    /// Inserts `other` as the right sibling of node `n` under a new internal node, marks the
    /// new node and its ancestors stale and flags the rightmost leaf under `n` as sponsor.
    pub fn insert(&mut self, n: usize, other: Tree) {
        let off = self.nodes.len();
        for mut node in other.nodes {
            node.parent = node.parent.map(|p| p + off);
            if node.leaf.is_none() {
                node.left += off;
                node.right += off;
            }
            self.nodes.push(node);
        }
        let s = off;
        let p_idx = self.nodes.len();
        let parent = self.nodes[n].parent;
        let mut pn = Node::internal(n, s, None);
        pn.parent = parent;
        self.nodes.push(pn);
        self.nodes[n].parent = Some(p_idx);
        self.nodes[s].parent = Some(p_idx);
        if let Some(g) = parent {
            if self.nodes[g].left == n {
                self.nodes[g].left = p_idx;
            } else {
                self.nodes[g].right = p_idx;
            }
        }
        let root = if parent.is_some() { Self::ROOT } else { p_idx };
        let map = self.compact(root);
        self.mark_stale_upwards(map[p_idx]);
        self.flag_sponsor(map[n]);
    }

    /// Whether the node's blinded key is known to every member.
    pub fn resolved(&self, i: usize) -> bool {
        self.nodes[i].bk.is_some()
    }

    /// Members that must broadcast in the next round: owners of leaves waiting for a
    /// refresh, and the rightmost member under every stale non-root node whose two children
    /// are resolved. Empty once only the root is left to compute.
    pub fn round_sponsors(&self) -> BTreeSet<NodeId> {
        let mut s = BTreeSet::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if n.bk.is_some() {
                continue;
            }
            match n.leaf {
                Some(id) => {
                    if i != Self::ROOT {
                        s.insert(id);
                    }
                }
                None => {
                    if i != Self::ROOT && self.resolved(n.left) && self.resolved(n.right) {
                        s.insert(self.rightmost_member(i));
                    }
                }
            }
        }
        s
    }

    /// Whether every node but the root is resolved, so every member can compute the root.
    pub fn ready_for_root(&self) -> bool {
        self.nodes.iter().skip(1).all(|n| n.bk.is_some())
    }

    /// Rebuilds the arena in preorder starting at `root`, dropping unreachable nodes.
    fn compact(&mut self, root: usize) -> Vec<usize> {
        let mut map = vec![usize::MAX; self.nodes.len()];
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut stack = vec![root];
        while let Some(i) = stack.pop() {
            map[i] = order.len();
            order.push(i);
            if self.nodes[i].leaf.is_none() {
                stack.push(self.nodes[i].right);
                stack.push(self.nodes[i].left);
            }
        }
        let mut new_nodes = Vec::with_capacity(order.len());
        for &i in &order {
            let mut n = self.nodes[i].clone();
            n.parent = n.parent.map(|p| map[p]);
            if n.leaf.is_none() {
                n.left = map[n.left];
                n.right = map[n.right];
            }
            new_nodes.push(n);
        }
        if let Some(r) = new_nodes.first_mut() {
            r.parent = None;
        }
        self.nodes = new_nodes;
        map
    }
}
