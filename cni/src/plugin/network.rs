//! Everything a verb derives from the configuration: ranges, store, names, masquerade table.

use std::path::Path;

use crate::config::NetConf;
use crate::error::Result;
use crate::ipam::{self, Owner, Range, Store};
use crate::masq::MasqTable;
use crate::names;

/// The per-network view shared by ADD, DEL, CHECK and GC.
pub struct Network<'a> {
    /// The parsed configuration.
    pub conf: &'a NetConf,
    /// Validated range sets.
    pub sets: Vec<Vec<Range>>,
    /// The IPAM store.
    pub store: Store,
    /// The masquerade table definition.
    pub masq: MasqTable,
}

impl<'a> Network<'a> {
    /// Derives the network view (creates the store directory).
    ///
    /// # Errors
    /// Invalid ranges, store I/O.
    pub fn new(conf: &'a NetConf) -> Result<Self> {
        let sets = ipam::range_sets(&conf.ipam)?;
        let store = Store::open(&conf.data_dir(), &conf.name)?;
        let masq = MasqTable::new(&conf.name, &conf.non_masquerade_cidrs, &sets);
        Ok(Network {
            conf,
            sets,
            store,
            masq,
        })
    }

    /// The host-side veth of an attachment.
    pub fn host_veth(&self, owner: &Owner) -> String {
        names::host_veth(&self.conf.name, &owner.container_id, &owner.ifname)
    }

    /// Where the masquerade stamp and lock live.
    pub fn state_dir(&self) -> &Path {
        self.store.dir()
    }
}
