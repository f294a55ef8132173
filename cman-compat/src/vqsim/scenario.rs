//! Seeded random scenarios: a configuration plus a sequence of membership steps that both
//! vqsim and [`totem::quorum::Cluster`] can run.

use totem::quorum::{Cluster, NodeEntry, QuorumError, QuorumOptions};

/// SplitMix64: a tiny deterministic generator (no external crate needed).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeds the generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    /// True with probability `pct`%.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

/// One membership step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Bring a node up in a partition. Into a partition that already has members the node is
    /// started alone in [`STAGING_PARTITION`] and then joined, as a real corosync node first
    /// forms its own ring (vqsim would otherwise leak the new node's start-up nodeinfo into the
    /// partition with a timing race, see docs/vqsim-diff.md).
    Up {
        /// Node id.
        nodeid: u32,
        /// Partition.
        partition: usize,
        /// Start alone in the staging partition, then join `partition`.
        staged: bool,
    },
    /// Kill a node.
    Down {
        /// Node id.
        nodeid: u32,
    },
    /// Move nodes to a partition.
    Split {
        /// Target partition.
        partition: usize,
        /// Nodes moved.
        nodes: Vec<u32>,
    },
    /// Merge partition `from` into `into`.
    Join {
        /// Surviving partition.
        into: usize,
        /// Partition merged away.
        from: usize,
    },
}

impl Step {
    /// The vqsim commands for this step (vqsim must settle between them).
    pub fn commands(&self) -> Vec<String> {
        match self {
            Step::Up {
                nodeid,
                partition,
                staged: true,
            } => vec![
                format!("up {STAGING_PARTITION}:{nodeid}"),
                format!("join {partition} {STAGING_PARTITION}"),
            ],
            Step::Up {
                nodeid, partition, ..
            } => vec![format!("up {partition}:{nodeid}")],
            Step::Down { nodeid } => vec![format!("down {nodeid}")],
            Step::Split { partition, nodes } => vec![format!(
                "split {partition}:{}",
                nodes
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )],
            Step::Join { into, from } => vec![format!("join {into} {from}")],
        }
    }

    /// The step as one line (its vqsim commands joined with `; `).
    pub fn command(&self) -> String {
        self.commands().join("; ")
    }

    /// Applies the step to the engine's cluster.
    pub fn apply(&self, c: &mut Cluster) -> Result<(), QuorumError> {
        match self {
            Step::Up {
                nodeid,
                partition,
                staged: true,
            } => {
                c.up(*nodeid, STAGING_PARTITION)?;
                c.join(*partition, STAGING_PARTITION)
            }
            Step::Up {
                nodeid, partition, ..
            } => c.up(*nodeid, *partition),
            Step::Down { nodeid } => c.down(*nodeid),
            Step::Split { partition, nodes } => c.split(*partition, nodes),
            Step::Join { into, from } => c.join(*into, *from),
        }
    }
}

/// A configuration and its steps.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Seed it was generated from.
    pub seed: u64,
    /// Configuration.
    pub opts: QuorumOptions,
    /// Steps after start-up.
    pub steps: Vec<Step>,
}

/// Partition where staged `up` steps start a node before joining it to its target.
pub const STAGING_PARTITION: usize = 15;

/// Delay per membership position the shim adds to vqsim's sync timer (ms), see
/// `vqsim-shim/vqlog.c`: it makes each sync's message order deterministic.
pub const SYNC_STAGGER_MS: u32 = 15;

/// How long one staggered sync of `nodes` members takes in vqsim at most (ms), with margin.
pub fn sync_duration_ms(nodes: u32) -> u32 {
    10 + nodes.saturating_mul(SYNC_STAGGER_MS) + 60
}

/// LMS window used in generated scenarios for a nodelist of `n` nodes (ms): longer than a
/// whole staggered sync, so the timer always fires after the sync completed.
pub fn lms_window_ms(n: u32) -> u32 {
    sync_duration_ms(n + 2) + 40
}

/// Generates a valid scenario from `seed` (configurations votequorum refuses are re-drawn).
pub fn generate(seed: u64) -> Scenario {
    let mut rng = Rng::new(seed);
    loop {
        let opts = gen_options(&mut rng);
        let ok = opts
            .nodelist
            .iter()
            .all(|n| opts.resolve(n.nodeid, None).is_ok());
        if !ok {
            continue;
        }
        let steps = gen_steps(&mut rng, &opts);
        return Scenario { seed, opts, steps };
    }
}

fn gen_options(rng: &mut Rng) -> QuorumOptions {
    let n = if rng.chance(25) {
        2
    } else {
        1 + rng.below(16) as u32
    };
    let weighted = rng.chance(25);
    let nodelist: Vec<NodeEntry> = (1..=n)
        .map(|i| NodeEntry {
            nodeid: i,
            votes: if weighted { 1 + rng.below(3) as u32 } else { 1 },
        })
        .collect();
    let total: u32 = nodelist.iter().map(|x| x.votes).sum();
    let mut o = QuorumOptions {
        nodelist,
        ..QuorumOptions::default()
    };
    if rng.chance(20) {
        o.expected_votes = Some(1 + rng.below(u64::from(total) + 2) as u32);
    }
    o.two_node = n == 2 && rng.chance(60) || rng.chance(5);
    o.wait_for_all = match rng.below(3) {
        0 => None,
        1 => Some(true),
        _ => Some(false),
    };
    o.last_man_standing = rng.chance(30);
    if o.last_man_standing {
        o.last_man_standing_window_ms = Some(lms_window_ms(n));
    }
    o.auto_tie_breaker = rng.chance(35);
    if o.auto_tie_breaker {
        o.auto_tie_breaker_node = match rng.below(4) {
            0 => None,
            1 => Some("lowest".into()),
            2 => Some("highest".into()),
            _ => {
                let k = 1 + rng.below(3);
                let ids: Vec<String> = (0..k)
                    .map(|_| (1 + rng.below(u64::from(n))).to_string())
                    .collect();
                Some(ids.join(" "))
            }
        };
    }
    // allow_downscale is only combined without LMS (see the report's notes).
    o.allow_downscale = !o.last_man_standing && rng.chance(10);
    o
}

fn gen_steps(rng: &mut Rng, opts: &QuorumOptions) -> Vec<Step> {
    let mut part: Vec<Vec<u32>> = vec![
        opts.nodelist.iter().map(|n| n.nodeid).collect(),
        vec![],
        vec![],
        vec![],
    ];
    let maxid = opts.nodelist.iter().map(|n| n.nodeid).max().unwrap_or(0);
    let mut down: Vec<u32> = Vec::new();
    let count = 3 + rng.below(6);
    let mut steps = Vec::new();
    for _ in 0..count {
        let up: Vec<u32> = part.iter().flatten().copied().collect();
        let choice = rng.below(100);
        let step = if choice < 35 && !up.is_empty() {
            let id = up[rng.below(up.len() as u64) as usize];
            Step::Down { nodeid: id }
        } else if choice < 60 {
            let id = if !down.is_empty() && !rng.chance(15) {
                down.remove(rng.below(down.len() as u64) as usize)
            } else if rng.chance(50) {
                maxid + 1 + rng.below(2) as u32
            } else {
                continue;
            };
            if up.contains(&id) {
                continue;
            }
            let nonempty: Vec<usize> = (0..part.len()).filter(|&p| !part[p].is_empty()).collect();
            let p = if nonempty.is_empty() {
                0
            } else {
                nonempty[rng.below(nonempty.len() as u64) as usize]
            };
            Step::Up {
                nodeid: id,
                partition: p,
                staged: !part[p].is_empty(),
            }
        } else if choice < 82 && up.len() >= 2 {
            let p = 1 + rng.below(3) as usize;
            let k = 1 + rng.below(up.len() as u64 - 1);
            let mut pool = up.clone();
            let mut nodes = Vec::new();
            for _ in 0..k {
                let i = rng.below(pool.len() as u64) as usize;
                nodes.push(pool.remove(i));
            }
            Step::Split {
                partition: p,
                nodes,
            }
        } else {
            let nonempty: Vec<usize> = (1..part.len()).filter(|&p| !part[p].is_empty()).collect();
            if nonempty.is_empty() {
                continue;
            }
            let from = nonempty[rng.below(nonempty.len() as u64) as usize];
            Step::Join { into: 0, from }
        };
        match &step {
            Step::Down { nodeid } => {
                for p in part.iter_mut() {
                    p.retain(|x| x != nodeid);
                }
                down.push(*nodeid);
            }
            Step::Up {
                nodeid, partition, ..
            } => part[*partition].push(*nodeid),
            Step::Split { partition, nodes } => {
                for p in part.iter_mut() {
                    p.retain(|x| !nodes.contains(x));
                }
                part[*partition].extend(nodes.iter().copied());
            }
            Step::Join { into, from } => {
                let moved = std::mem::take(&mut part[*from]);
                part[*into].extend(moved);
            }
        }
        steps.push(step);
    }
    steps
}
