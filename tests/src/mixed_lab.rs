//! A ring of our `totem-node`s and, optionally, real corosync daemons of one old generation
//! (2.4.6 or 1.4.10 from `../shared/old-corosync/`), every node in its own namespace, all
//! reading one configuration of the [`Shape`] asked for: udpu or udp multicast, IPv4 or
//! IPv6, corosync crypto or none, one ring or two (the Redundant Ring Protocol, `rrp_mode:
//! passive | active`). Ring 0 is the lab's first network (192.0.2.0/24, fd00:db8::/64), ring
//! 1 its second (198.51.100.0/24); a ring is broken by taking a node's port on that network
//! down at the hub's bridge. Real daemons are judged by their own tools
//! (`corosync-cfgtool -s`, `corosync-quorumtool -s`, cmapctl/objctl members, their log's
//! membership lines), ours by `totem-node status`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::load::{assert_one_order, LoadResult};
use crate::netns::{Lab, LabError};
use crate::quorum_lab::QuorumView;
use crate::{oldcs, oldcs1, wait};

/// The real daemons of the ring, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Old {
    /// corosync 2.4.6 (G2): nodelist with ring0_addr/ring1_addr.
    V246,
    /// corosync 1.4.10 (G1): interface member lists, nodeid in totem.
    V1410,
}

impl Old {
    pub fn generation(self) -> &'static str {
        match self {
            Old::V246 => "g2",
            Old::V1410 => "g1",
        }
    }

    fn prefix(self) -> PathBuf {
        match self {
            Old::V246 => PathBuf::from(oldcs::PREFIX),
            Old::V1410 => oldcs1::prefix(),
        }
    }

    /// Whether its build is in `../shared/old-corosync/`.
    pub fn available(self) -> bool {
        match self {
            Old::V246 => oldcs::tarball().exists(),
            Old::V1410 => oldcs1::available(),
        }
    }

    fn install(self) -> Result<(), LabError> {
        match self {
            Old::V246 => oldcs::install(),
            Old::V1410 => oldcs1::install(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Old::V246 => "2.4.6",
            Old::V1410 => "1.4.10",
        }
    }
}

/// Whether a live test with `old`'s daemons can run here: root, and `old`'s build in
/// `../shared/old-corosync/`. Without the build it says so in one loud line naming `what`
/// did not run and skips, except under `CI=true`, where that is a failure.
pub fn runnable(old: Option<Old>, what: &str) -> bool {
    if !crate::netns::is_root() {
        eprintln!("skipped: live tests need root");
        return false;
    }
    if let Some(o) = old {
        if !o.available() {
            let msg = format!(
                "!!! corosync {} build missing in ../shared/old-corosync: {what} NOT RUN !!!",
                o.name()
            );
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
            eprintln!("{msg}");
            return false;
        }
    }
    true
}

/// What the ring's configuration is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// `rrp_mode` (`passive`/`active`) with a second ring; `None`: one ring.
    pub rrp: Option<String>,
    /// udp multicast instead of udpu.
    pub udp: bool,
    /// corosync crypto: 2.x `aes256`/`sha1`, 1.x `secauth: on`, with a shared authkey.
    pub crypto: bool,
    /// Ring 0 on IPv6.
    pub ipv6: bool,
    /// More `totem` lines (`key: value`), for every node.
    pub totem: Vec<String>,
    /// More `quorum` lines, for every node.
    pub quorum: Vec<String>,
}

impl Shape {
    /// Two udpu rings in `mode`.
    pub fn rrp(mode: &str) -> Self {
        Shape {
            rrp: Some(mode.to_string()),
            ..Shape::default()
        }
    }
}

/// One ring's state as a node shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingState {
    pub ring: usize,
    pub faulty: bool,
    pub status: String,
}

/// The lab.
pub struct MixedLab {
    pub lab: Lab,
    pub dir: PathBuf,
    pub old: Option<Old>,
    pub shape: Shape,
    pub n: usize,
    /// Lab indices running our node; every other runs `old`.
    pub ours: Vec<usize>,
    node_bin: PathBuf,
    load_bin: PathBuf,
    /// Pid of every running node, by lab index.
    pub pids: BTreeMap<usize, u32>,
    starts: BTreeMap<usize, u32>,
}

impl MixedLab {
    /// A lab of `n` namespaces on two networks; nothing runs yet. Installs `old` first.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        prefix: &str,
        old: Option<Old>,
        shape: Shape,
        n: usize,
        ours: &[usize],
        node_bin: &Path,
        load_bin: &Path,
        dir: &Path,
    ) -> Result<MixedLab, LabError> {
        if let Some(o) = old {
            o.install()?;
        }
        let mut lab = Lab::new(prefix, n)?;
        if shape.rrp.is_some() {
            lab.add_second_link()?;
        }
        if shape.crypto {
            // One authkey for every node (2.x and 1.x read 128 bytes).
            let key = dir.join("authkey");
            let bytes: Vec<u8> = (0..128u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect();
            let write = || -> std::io::Result<()> {
                std::fs::write(&key, bytes)?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            };
            write().map_err(|source| LabError::Spawn {
                cmd: key.display().to_string(),
                source,
            })?;
        }
        // MIXED_LAB_PCAP=FILE: node 1's view of both rings, for a failure's post-mortem.
        if let Ok(pcap) = std::env::var("MIXED_LAB_PCAP") {
            lab.spawn(
                1,
                &["tcpdump", "-i", "any", "-U", "-w", &pcap, "udp"],
                &dir.join("tcpdump.log"),
            )?;
        }
        Ok(MixedLab {
            lab,
            dir: dir.to_path_buf(),
            old,
            shape,
            n,
            ours: ours.to_vec(),
            node_bin: node_bin.to_path_buf(),
            load_bin: load_bin.to_path_buf(),
            pids: BTreeMap::new(),
            starts: BTreeMap::new(),
        })
    }

    pub fn is_ours(&self, i: usize) -> bool {
        self.ours.contains(&i)
    }

    fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("n{i}"))
    }

    /// Our node's generation: the old daemons', else G2.
    fn generation(&self) -> &'static str {
        self.old.map_or("g2", Old::generation)
    }

    /// The corosync.conf of node `i`.
    pub fn conf(&self, i: usize) -> String {
        let dir = self.node_dir(i);
        let logging = if self.is_ours(i) {
            "logging {\n    to_stderr: yes\n}\n".to_string()
        } else {
            format!(
                "logging {{\n    to_stderr: no\n    to_syslog: no\n    to_logfile: yes\n    logfile: {}\n    timestamp: on\n    debug: off\n}}\n",
                dir.join("corosync.log").display()
            )
        };
        if self.old == Some(Old::V1410) {
            return self.conf_g1(i, &logging);
        }
        let sh = &self.shape;
        let mut nodes = String::new();
        for k in 1..=self.n {
            let node = self.lab.node(k);
            let ring0 = if sh.ipv6 {
                node.ipv6.to_string()
            } else {
                node.ipv4.to_string()
            };
            let ring1 = if sh.rrp.is_some() {
                format!("        ring1_addr: {}\n", node.ipv4_1)
            } else {
                String::new()
            };
            nodes += &format!(
                "    node {{\n        ring0_addr: {ring0}\n{ring1}        nodeid: {k}\n    }}\n"
            );
        }
        let mut totem = format!(
            "    version: 2\n    cluster_name: mixed\n{}    token: 1000\n    token_coefficient: 0\n",
            self.shape_totem()
        );
        if sh.crypto {
            totem += &format!(
                "    crypto_cipher: aes256\n    crypto_hash: sha1\n    keyfile: {}\n",
                self.dir.join("authkey").display()
            );
        } else {
            totem += "    crypto_cipher: none\n    crypto_hash: none\n";
        }
        if sh.ipv6 {
            totem += "    ip_version: ipv6\n";
        }
        let bind0 = if sh.ipv6 { "fd00:db8::" } else { "192.0.2.0" };
        totem += &iface(0, bind0, sh.udp.then_some("239.255.51.1"));
        if sh.rrp.is_some() {
            totem += &iface(1, "198.51.100.0", sh.udp.then_some("239.255.51.2"));
        }
        format!(
            "totem {{\n{totem}}}\nnodelist {{\n{nodes}}}\nquorum {{\n    provider: corosync_votequorum\n{}}}\n{logging}",
            self.shape_quorum()
        )
    }

    /// The `totem` lines every generation's form shares: the transport, `rrp_mode` and the
    /// shape's extra lines.
    fn shape_totem(&self) -> String {
        let sh = &self.shape;
        let mut t = format!("    transport: {}\n", if sh.udp { "udp" } else { "udpu" });
        if let Some(m) = &sh.rrp {
            t += &format!("    rrp_mode: {m}\n");
        }
        for l in &sh.totem {
            t += &format!("    {l}\n");
        }
        t
    }

    /// The shape's extra `quorum` lines.
    fn shape_quorum(&self) -> String {
        self.shape
            .quorum
            .iter()
            .map(|l| format!("    {l}\n"))
            .collect()
    }

    /// corosync 1.4's form: member lists per interface, our own address as bindnetaddr on
    /// our node (it takes it as is), nodeid in totem.
    fn conf_g1(&self, i: usize, logging: &str) -> String {
        let sh = &self.shape;
        let members = |net: usize| -> String {
            if sh.udp {
                return format!(
                    "        mcastaddr: 239.255.51.{}\n        ttl: 1\n",
                    net + 1
                );
            }
            (1..=self.n)
                .map(|k| {
                    let n = self.lab.node(k);
                    let a = if net == 0 { n.ipv4 } else { n.ipv4_1 };
                    format!("        member {{\n            memberaddr: {a}\n        }}\n")
                })
                .collect()
        };
        let me = self.lab.node(i);
        let (b0, b1) = if self.is_ours(i) {
            (me.ipv4.to_string(), me.ipv4_1.to_string())
        } else {
            ("192.0.2.0".to_string(), "198.51.100.0".to_string())
        };
        let iface = |ring: usize, bind: &str| {
            format!(
                "    interface {{\n        ringnumber: {ring}\n        bindnetaddr: {bind}\n        mcastport: 5405\n{}    }}\n",
                members(ring)
            )
        };
        let mut totem = format!(
            "    version: 2\n    nodeid: {i}\n{}    threads: 0\n",
            self.shape_totem()
        );
        if sh.crypto {
            totem += &format!(
                "    secauth: on\n    keyfile: {}\n",
                self.dir.join("authkey").display()
            );
        } else {
            totem += "    secauth: off\n";
        }
        totem += &iface(0, &b0);
        if sh.rrp.is_some() {
            totem += &iface(1, &b1);
        }
        format!(
            "compatibility: whitetank\n\ntotem {{\n{totem}}}\n\nquorum {{\n    provider: corosync_votequorum\n    expected_votes: {n}\n{quorum}}}\n\n{logging}",
            n = self.n,
            quorum = self.shape_quorum(),
        )
    }

    /// Our node `i`'s control socket.
    pub fn control(&self, i: usize) -> PathBuf {
        self.node_dir(i).join("totem.sock")
    }

    /// Starts (or restarts) node `i`.
    pub fn start(&mut self, i: usize) -> Result<u32, LabError> {
        let dir = self.node_dir(i);
        for sub in ["state", "run"] {
            let _ = std::fs::create_dir_all(dir.join(sub));
        }
        let path = dir.join("corosync.conf");
        std::fs::write(&path, self.conf(i)).map_err(|source| LabError::Spawn {
            cmd: path.display().to_string(),
            source,
        })?;
        let k = {
            let k = self.starts.entry(i).or_insert(0);
            *k += 1;
            *k
        };
        let pid = if self.is_ours(i) {
            let log = dir.join(format!("totem.{k}.log"));
            let control = self.control(i);
            self.lab.spawn(
                i,
                &[
                    &self.node_bin.display().to_string(),
                    "-c",
                    &path.display().to_string(),
                    "--generation",
                    self.generation(),
                    "--nodeid",
                    &i.to_string(),
                    "--control",
                    &control.display().to_string(),
                ],
                &log,
            )?
        } else {
            let old = self.old.expect("a real daemon's version");
            oldcs::spawn_daemon(&mut self.lab, i, &dir, &old.prefix())?
        };
        self.pids.insert(i, pid);
        Ok(pid)
    }

    /// kill -9 of node `i`.
    pub fn kill9(&mut self, i: usize) {
        if let Some(pid) = self.pids.remove(&i) {
            self.lab.signal(pid, "KILL");
        }
    }

    /// Runs a tool of the old daemons in node `i`'s namespace (stdout, whatever its exit
    /// status: cfgtool exits 1 while a ring is faulty).
    pub fn old_tool(&self, i: usize, tool: &str, args: &[&str]) -> String {
        let Some(old) = self.old else {
            return String::new();
        };
        Command::new("ip")
            .args(["netns", "exec", &self.lab.node(i).netns, "timeout", "5"])
            .arg(old.prefix().join("sbin").join(tool))
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default()
    }

    fn our_status(&self, i: usize) -> Option<serde_json::Value> {
        crate::ring::status_json(&self.node_bin, &self.control(i))
    }

    /// Members of node `i`'s ring as it shows them (sorted).
    pub fn members(&self, i: usize) -> Vec<u32> {
        if self.is_ours(i) {
            return self
                .our_status(i)
                .and_then(|v| crate::ring::status_members(&v))
                .unwrap_or_default();
        }
        match self.old {
            Some(Old::V246) => oldcs::members_of(&Some(self.old_tool(
                i,
                "corosync-cmapctl",
                &["runtime.totem.pg.mrp.srp.members"],
            ))),
            Some(Old::V1410) => oldcs1::objctl_members(&Some(self.old_tool(
                i,
                "corosync-objctl",
                &["runtime.totem.pg.mrp.srp.members"],
            ))),
            None => Vec::new(),
        }
    }

    /// Both rings as node `i` shows them: `corosync-cfgtool -s` of a real daemon, `rrp` of
    /// our status.
    pub fn rings(&self, i: usize) -> Vec<RingState> {
        if self.is_ours(i) {
            let Some(v) = self.our_status(i) else {
                return Vec::new();
            };
            let Some(rings) = v
                .get(0)
                .and_then(|s| s.get("rrp"))
                .and_then(|r| r.get("rings"))
                .and_then(|r| r.as_array())
            else {
                return Vec::new();
            };
            return rings
                .iter()
                .filter_map(|r| {
                    Some(RingState {
                        ring: r.get("ring")?.as_u64()? as usize,
                        faulty: r.get("faulty")?.as_bool()?,
                        status: r.get("status")?.as_str()?.to_string(),
                    })
                })
                .collect();
        }
        parse_cfgtool(&self.old_tool(i, "corosync-cfgtool", &["-s"]))
    }

    /// How many memberships node `i` has formed so far: our engine's `operational_entered`;
    /// a real daemon's log lines for a new membership.
    pub fn memberships(&self, i: usize) -> Option<u64> {
        if self.is_ours(i) {
            let v = self.our_status(i)?;
            let engine = v.get(0)?.get("engine")?.as_array()?;
            return engine.iter().find_map(|kv| {
                let kv = kv.as_array()?;
                (kv.first()?.as_str()? == "operational_entered").then(|| kv.get(1)?.as_u64())?
            });
        }
        let log = std::fs::read_to_string(self.node_dir(i).join("corosync.log")).ok()?;
        let pat = match self.old? {
            Old::V246 => "] A new membership (",
            Old::V1410 => "a new membership was formed",
        };
        Some(log.matches(pat).count() as u64)
    }

    /// What node `i`'s quorum looks like: a real daemon's `corosync-quorumtool -s`, our
    /// votequorum's status.
    pub fn quorum(&self, i: usize) -> Option<QuorumView> {
        if self.is_ours(i) {
            let v = self.our_status(i)?;
            return QuorumView::from_status(v.get(2)?.get("quorum")?);
        }
        QuorumView::parse(&self.old_tool(i, "corosync-quorumtool", &["-s"]))
    }

    /// Waits (bounded) until every node of `who` lists exactly `want`.
    pub fn wait_members(
        &self,
        who: &[usize],
        want: &[u32],
        timeout: Duration,
    ) -> Result<(), String> {
        wait::until(timeout, Duration::from_millis(250), || {
            who.iter().all(|&i| self.members(i) == want).then_some(())
        })
        .ok_or_else(|| format!("{want:?} not seen on {who:?}:\n{}", self.describe()))
    }

    /// Starts a CPG load client on every running node in group `tag`, each sending `n`
    /// messages of `size` bytes at `rate` msgs/s once all are in the group.
    pub fn start_load(
        &mut self,
        client: Option<&Path>,
        tag: &str,
        n: u64,
        size: usize,
        rate: u64,
    ) -> Vec<(usize, u32, PathBuf)> {
        let (n_s, size_s, rate_s) = (n.to_string(), size.to_string(), rate.to_string());
        let k = self.pids.len().to_string();
        let args = [
            "-g", tag, "-S", "-n", &n_s, "-s", &size_s, "-r", &rate_s, "-m", &k, "-e", &k, "-T",
            "120",
        ];
        let nodes: Vec<usize> = self.pids.keys().copied().collect();
        nodes
            .into_iter()
            .map(|i| {
                let (pid, out) = self
                    .spawn_load(i, client, tag, &args)
                    .expect("load client starts");
                (i, pid, out)
            })
            .collect()
    }

    /// Waits for the clients of [`MixedLab::start_load`] and checks that each delivered every
    /// message of every sender (`n` each) without gap or duplicate, in one order.
    pub fn finish_load(
        &mut self,
        tag: &str,
        clients: &[(usize, u32, PathBuf)],
        n: u64,
    ) -> Vec<(usize, LoadResult)> {
        let mut results = Vec::new();
        for (i, pid, out) in clients {
            if !self.lab.wait_exit(*pid, Duration::from_secs(150)) {
                self.lab.signal(*pid, "KILL");
            }
            let text = std::fs::read_to_string(out).unwrap_or_default();
            let r = LoadResult::find(&text)
                .unwrap_or_else(|e| panic!("{tag}: n{i}: {e}\n{text}\n{}", self.describe()));
            eprintln!("{tag}: n{i} {:?}", r.fields);
            results.push((*i, r));
        }
        assert_one_order(tag, &results, n * clients.len() as u64);
        results
    }

    /// Starts every node and waits (bounded by `timeout`) until all of them form one ring
    /// ([`MixedLab::wait_formed`]).
    pub fn start_all(&mut self, timeout: Duration) -> Result<(), String> {
        for i in 1..=self.n {
            self.start(i)
                .map_err(|e| format!("node {i} does not start: {e}"))?;
        }
        let all: Vec<usize> = (1..=self.n).collect();
        self.wait_formed(&all, timeout)
    }

    /// Waits (bounded) until every node of `who` lists `1..=n` and shows both rings without
    /// a fault.
    pub fn wait_formed(&self, who: &[usize], timeout: Duration) -> Result<(), String> {
        let want: Vec<u32> = (1..=self.n as u32).collect();
        wait::until(timeout, Duration::from_millis(250), || {
            who.iter()
                .all(|&i| {
                    self.members(i) == want
                        && (self.shape.rrp.is_none() || {
                            let r = self.rings(i);
                            r.len() == 2 && r.iter().all(|r| !r.faulty)
                        })
                })
                .then_some(())
        })
        .ok_or_else(|| {
            format!(
                "ring of {want:?} not formed on {who:?}:\n{}",
                self.describe()
            )
        })
    }

    /// Every node's members and rings, and the tail of each log.
    pub fn describe(&self) -> String {
        // MIXED_LAB_TAIL: how many log lines per node (default 12).
        let tail: usize = std::env::var("MIXED_LAB_TAIL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(12);
        let mut s = String::new();
        for i in 1..=self.n {
            s += &format!(
                "n{i} ({}): members {:?}, rings {:?}, memberships {:?}\n",
                if self.is_ours(i) {
                    "ours"
                } else {
                    self.old.map_or("?", Old::name)
                },
                self.members(i),
                self.rings(i),
                self.memberships(i)
            );
            if !self.is_ours(i) {
                s += &format!(
                    "corosync-cfgtool -s: {:?}\n",
                    self.old_tool(i, "corosync-cfgtool", &["-s"])
                );
            }
            let log = if self.is_ours(i) {
                let k = self.starts.get(&i).copied().unwrap_or(1);
                self.node_dir(i).join(format!("totem.{k}.log"))
            } else {
                self.node_dir(i).join("corosync.log")
            };
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            s += &lines[lines.len().saturating_sub(tail)..].join("\n");
            s.push('\n');
        }
        s
    }

    /// Builds `tests/bench/cpgload.c` against the old daemons' libcpg.
    pub fn build_client(&self) -> Option<PathBuf> {
        let old = self.old?;
        let bin = self.dir.join(format!("cpgload-{}", old.name()));
        oldcs::build_cpgload(&old.prefix(), old.name(), &bin);
        Some(bin)
    }

    /// Starts one CPG load client on node `i` with `args` (libcpg on a real daemon,
    /// `totem-cpgload` on ours); its pid and output file.
    pub fn spawn_load(
        &mut self,
        i: usize,
        client: Option<&Path>,
        name: &str,
        args: &[&str],
    ) -> Result<(u32, PathBuf), LabError> {
        let out = self.node_dir(i).join(format!("{name}.out"));
        let mut v: Vec<String> = if self.is_ours(i) {
            vec![
                self.load_bin.display().to_string(),
                "--control".into(),
                self.control(i).display().to_string(),
            ]
        } else {
            vec![client
                .expect("the old daemons' libcpg client")
                .display()
                .to_string()]
        };
        v.extend(args.iter().map(|a| a.to_string()));
        let v: Vec<&str> = v.iter().map(String::as_str).collect();
        let pid = self.lab.spawn(i, &v, &out)?;
        Ok((pid, out))
    }
}

impl Drop for MixedLab {
    fn drop(&mut self) {
        for (_, pid) in std::mem::take(&mut self.pids) {
            self.lab.signal(pid, "KILL");
        }
    }
}

/// An `interface` section of a 2.x configuration.
fn iface(ring: usize, bind: &str, mcast: Option<&str>) -> String {
    let mcast = mcast
        .map(|m| format!("        mcastaddr: {m}\n"))
        .unwrap_or_default();
    format!(
        "    interface {{\n        ringnumber: {ring}\n        bindnetaddr: {bind}\n{mcast}        mcastport: 5405\n    }}\n"
    )
}

/// The rings in a `corosync-cfgtool -s` output (1.4 and 2.4 print the same).
pub fn parse_cfgtool(out: &str) -> Vec<RingState> {
    let mut rings = Vec::new();
    let mut ring = None;
    for l in out.lines() {
        let t = l.trim();
        if let Some(r) = t.strip_prefix("RING ID ") {
            ring = r.trim().parse::<usize>().ok();
        } else if let (Some(r), Some(s)) = (ring, t.strip_prefix("status")) {
            let status = s.trim_start().trim_start_matches('=').trim().to_string();
            rings.push(RingState {
                ring: r,
                faulty: status.contains("FAULTY"),
                status,
            });
            ring = None;
        }
    }
    rings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cfgtool_output_parses() {
        let out = "Printing ring status.\nLocal node ID 1\nRING ID 0\n\tid\t= 192.0.2.11\n\tstatus\t= ring 0 active with no faults\nRING ID 1\n\tid\t= 198.51.100.11\n\tstatus\t= Marking ringid 1 interface 198.51.100.11 FAULTY\n";
        let r = parse_cfgtool(out);
        assert_eq!(r.len(), 2);
        assert!(!r[0].faulty);
        assert_eq!(r[0].status, "ring 0 active with no faults");
        assert!(r[1].faulty);
        assert_eq!(r[1].ring, 1);
    }
}
