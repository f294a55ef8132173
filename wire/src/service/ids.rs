//! Service ids per generation and function names (spec §6.2, §7, §9).

use crate::generation::Generation;

/// Which numbering of services a node uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceTable {
    /// openais 0.80.
    Openais,
    /// corosync 0.90–1.4 (the default for [`Generation::G1`]).
    Corosync1,
    /// corosync 2.x and 3.x.
    Corosync2,
}

impl ServiceTable {
    /// The table a generation uses (G1 → corosync 1.x; pick `Openais` explicitly for 0.80).
    pub const fn for_generation(gen: Generation) -> Self {
        match gen {
            Generation::G1 => ServiceTable::Corosync1,
            Generation::G2 | Generation::G3 => ServiceTable::Corosync2,
        }
    }
}

/// A service of the executive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Evs,
    Clm,
    Amf,
    Ckpt,
    Evt,
    Lck,
    Msg,
    Cfg,
    Cpg,
    Cman,
    Pcmk,
    Confdb,
    Quorum,
    Pload,
    Tmr,
    Votequorum,
    Ntf,
    AmfV2,
    Cmap,
    Mon,
    Wd,
}

/// openais 0.80 ids 0..=10 (9 unused).
const OPENAIS: [Option<Service>; 11] = {
    use Service::*;
    [
        Some(Evs),
        Some(Clm),
        Some(Amf),
        Some(Ckpt),
        Some(Evt),
        Some(Lck),
        Some(Msg),
        Some(Cfg),
        Some(Cpg),
        None,
        Some(Confdb),
    ]
};
/// corosync 1.x ids 0..=17.
const COROSYNC1: [Service; 18] = {
    use Service::*;
    [
        Evs, Clm, Amf, Ckpt, Evt, Lck, Msg, Cfg, Cpg, Cman, Pcmk, Confdb, Quorum, Pload, Tmr,
        Votequorum, Ntf, AmfV2,
    ]
};
/// corosync 2.x/3.x ids 0..=7.
const COROSYNC2: [Service; 8] = {
    use Service::*;
    [Cmap, Cfg, Cpg, Quorum, Pload, Votequorum, Mon, Wd]
};

impl Service {
    /// The service with wire id `id` in `table`.
    pub fn from_id(table: ServiceTable, id: u16) -> Option<Self> {
        let i = usize::from(id);
        match table {
            ServiceTable::Openais => OPENAIS.get(i).copied().flatten(),
            ServiceTable::Corosync1 => COROSYNC1.get(i).copied(),
            ServiceTable::Corosync2 => COROSYNC2.get(i).copied(),
        }
    }
    /// The wire id of this service in `table`, if it exists there.
    pub fn id(self, table: ServiceTable) -> Option<u16> {
        let pos = match table {
            ServiceTable::Openais => OPENAIS.iter().position(|s| *s == Some(self)),
            ServiceTable::Corosync1 => COROSYNC1.iter().position(|s| *s == self),
            ServiceTable::Corosync2 => COROSYNC2.iter().position(|s| *s == self),
        };
        pos.map(|p| p as u16)
    }
    /// Lower-case name used in dumps.
    pub const fn name(self) -> &'static str {
        use Service::*;
        match self {
            Evs => "evs",
            Clm => "clm",
            Amf => "amf",
            Ckpt => "ckpt",
            Evt => "evt",
            Lck => "lck",
            Msg => "msg",
            Cfg => "cfg",
            Cpg => "cpg",
            Cman => "cman",
            Pcmk => "pcmk",
            Confdb => "confdb",
            Quorum => "quorum",
            Pload => "pload",
            Tmr => "tmr",
            Votequorum => "votequorum",
            Ntf => "ntf",
            AmfV2 => "amf_v2",
            Cmap => "cmap",
            Mon => "mon",
            Wd => "wd",
        }
    }
    /// Name of exec function `fn_id` of this service in `table`, where we know it.
    pub fn fn_name(self, table: ServiceTable, fn_id: u16) -> Option<&'static str> {
        let names: &[&str] = match (self, table) {
            (Service::Cpg, ServiceTable::Openais) => {
                &["procjoin", "procleave", "joinlist", "mcast", "downlist"]
            }
            (Service::Cpg, ServiceTable::Corosync1) => &[
                "procjoin",
                "procleave",
                "joinlist",
                "mcast",
                "downlist_old",
                "downlist",
            ],
            (Service::Cpg, ServiceTable::Corosync2) => &[
                "procjoin",
                "procleave",
                "joinlist",
                "mcast",
                "downlist_old",
                "downlist",
                "partial_mcast",
            ],
            (Service::Votequorum, ServiceTable::Corosync1) => {
                &["nodeinfo", "reconfigure", "killnode"]
            }
            (Service::Votequorum, _) => &[
                "nodeinfo",
                "reconfigure",
                "qdevice_reg",
                "qdevice_reconfigure",
                "qdevice_extra_nodeinfo",
            ],
            (Service::Cmap, _) => &["mcast"],
            (Service::Cfg, ServiceTable::Corosync2) => &[
                "ringreenable",
                "killnode",
                "shutdown",
                "reload_config",
                "crypto_reconfig",
            ],
            (Service::Pload, ServiceTable::Corosync2) => &["start", "mcast"],
            (Service::Clm, _) => &["nodejoin"],
            (Service::Evt, _) if fn_id == 1 => return Some("chancmd"),
            _ => &[],
        };
        names.get(usize::from(fn_id)).copied()
    }
}

/// Name of a sync-engine message (groups "sync" and "syncv2", spec §7).
pub fn sync_fn_name(id: u32) -> Option<&'static str> {
    match id {
        0 => Some("barrier"),
        1 => Some("service_build"),
        2 => Some("memb_determine"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Spec §6.2 table.
    #[test]
    fn table_matches_spec() {
        use ServiceTable::*;
        assert_eq!(Service::Cpg.id(Openais), Some(8));
        assert_eq!(Service::Cpg.id(Corosync1), Some(8));
        assert_eq!(Service::Cpg.id(Corosync2), Some(2));
        assert_eq!(Service::Votequorum.id(Corosync1), Some(15));
        assert_eq!(Service::Votequorum.id(Corosync2), Some(5));
        assert_eq!(Service::Confdb.id(Openais), Some(10));
        assert_eq!(Service::Confdb.id(Corosync1), Some(11));
        assert_eq!(Service::from_id(Corosync1, 10), Some(Service::Pcmk));
        assert_eq!(Service::from_id(Openais, 9), None);
        assert_eq!(Service::from_id(Corosync2, 0), Some(Service::Cmap));
        assert_eq!(Service::from_id(Corosync2, 8), None);
        assert_eq!(Service::Cmap.id(Corosync1), None);
        assert_eq!(Service::Cpg.fn_name(Corosync2, 6), Some("partial_mcast"));
        assert_eq!(Service::Cpg.fn_name(Openais, 5), None);
        assert_eq!(Service::Votequorum.fn_name(Corosync1, 2), Some("killnode"));
        assert_eq!(
            Service::Votequorum.fn_name(Corosync2, 2),
            Some("qdevice_reg")
        );
        assert_eq!(Service::Evt.fn_name(Corosync1, 1), Some("chancmd"));
        assert_eq!(sync_fn_name(1), Some("service_build"));
        for t in [Openais, Corosync1, Corosync2] {
            for id in 0..20 {
                if let Some(s) = Service::from_id(t, id) {
                    assert_eq!(s.id(t), Some(id));
                }
            }
        }
    }
}
