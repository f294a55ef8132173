//! A virtually synchronous group simulator: every member of a configuration sees the same
//! configuration change and the same totally ordered message stream.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};

use rand_core::OsRng;
use totem_keygen::{ConfigChange, Credentials, Member, NodeId, RingId};

pub const AUTHKEY: [u8; 128] = [0x5a; 128];

pub fn creds() -> Credentials {
    Credentials::from_authkey(&AUTHKEY).expect("authkey")
}

/// All members ever created, by nodeid; `log` keeps every message sent after `mark`.
pub struct Sim {
    pub members: BTreeMap<NodeId, Member>,
    pub seq: u64,
    pub log: Vec<Vec<u8>>,
    pub next_id: NodeId,
}

impl Sim {
    pub fn new() -> Self {
        Sim {
            members: BTreeMap::new(),
            seq: 0,
            log: Vec::new(),
            next_id: 1,
        }
    }

    /// Creates fresh members and returns their nodeids.
    pub fn spawn(&mut self, n: usize) -> Vec<NodeId> {
        (0..n)
            .map(|_| {
                let id = self.next_id;
                self.next_id += 1;
                self.members
                    .insert(id, Member::new(id, creds(), &mut OsRng));
                id
            })
            .collect()
    }

    /// Installs a configuration with `group` (in this order) and runs the agreement to the
    /// end; returns the number of messages exchanged.
    pub fn config(&mut self, group: &[NodeId]) -> usize {
        self.seq += 1;
        let cfg = ConfigChange {
            ring: RingId {
                rep: *group.iter().min().expect("non-empty group"),
                seq: self.seq,
            },
            members: group.to_vec(),
        };
        let mut queue = VecDeque::new();
        for id in group {
            let m = self.members.get_mut(id).expect("member");
            queue.extend(m.config_change(&cfg, &mut OsRng).expect("config change"));
        }
        self.run(group, queue)
    }

    /// Installs a configuration but delivers only the first `deliver` messages it causes
    /// (the ring then changes again mid-agreement).
    pub fn config_interrupted(&mut self, group: &[NodeId], deliver: usize) {
        self.seq += 1;
        let cfg = ConfigChange {
            ring: RingId {
                rep: *group.iter().min().expect("non-empty group"),
                seq: self.seq,
            },
            members: group.to_vec(),
        };
        let mut queue = VecDeque::new();
        for id in group {
            let m = self.members.get_mut(id).expect("member");
            queue.extend(m.config_change(&cfg, &mut OsRng).expect("config change"));
        }
        for _ in 0..deliver {
            let Some(msg) = queue.pop_front() else { break };
            for id in group {
                let m = self.members.get_mut(id).expect("member");
                queue.extend(m.receive(&msg, &mut OsRng).expect("receive"));
            }
        }
    }

    /// Delivers `queue` and everything it triggers to `group` in one total order.
    pub fn run(&mut self, group: &[NodeId], mut queue: VecDeque<Vec<u8>>) -> usize {
        let mut count = 0;
        while let Some(msg) = queue.pop_front() {
            count += 1;
            assert!(count < 10_000, "agreement does not terminate");
            for id in group {
                let m = self.members.get_mut(id).expect("member");
                let out = m.receive(&msg, &mut OsRng).expect("receive");
                queue.extend(out);
            }
            self.log.push(msg);
        }
        count
    }

    /// Member `who` refreshes its leaf; the group is `group`.
    pub fn refresh(&mut self, group: &[NodeId], who: NodeId) -> usize {
        let m = self.members.get_mut(&who).expect("member");
        let out = m.start_refresh(&mut OsRng).expect("refresh");
        self.run(group, out.into_iter().collect())
    }

    /// Asserts every member of `group` finished with one identical key and returns it.
    pub fn common_key(&self, group: &[NodeId]) -> [u8; 32] {
        let first = &self.members[&group[0]];
        let k = first.group_key().expect("key").clone();
        for id in group {
            let m = &self.members[id];
            assert!(!m.in_progress(), "member {id} still in progress");
            let mk = m.group_key().expect("key");
            assert_eq!(mk.epoch, k.epoch, "member {id} epoch");
            assert_eq!(
                *mk.key, *k.key,
                "member {id} computed a different group key"
            );
        }
        let mut tree_members = first.tree().members();
        tree_members.sort_unstable();
        let mut g = group.to_vec();
        g.sort_unstable();
        assert_eq!(tree_members, g, "tree leaves are the configuration");
        *k.key
    }
}
