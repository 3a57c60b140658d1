//! DEL: idempotent teardown that needs neither the netns nor the veth to exist.
//!
//! Order is the reverse of ADD and keeps one invariant for crash safety: a masquerade element or
//! a veth only exists while its IPAM reservation does. So the reservation goes last; a DEL killed
//! half-way is simply repeated by the runtime (or the leftovers are found by GC).

use super::Network;
use crate::config::NetConf;
use crate::env::Env;
use crate::error::{Error, Result};
use crate::ipam::{self, Owner};
use crate::killpoint;
use crate::netlink::Socket;

pub(super) fn del(env: &Env, conf: &NetConf) -> Result<()> {
    let net = Network::new(conf)?;
    let owner = Owner {
        container_id: env.container_id.clone(),
        ifname: env.ifname.clone(),
    };
    let addrs = ipam::owned_by(&net.store, &owner)?;
    killpoint::reached("del_lookup")?;
    // The masquerade transaction and the link deletion each wait out an RCU grace period in the
    // kernel (~10-20 ms) and take different locks (nfnl mutex, RTNL), so run them side by side.
    // Deleting the host end takes the pod end with it, wherever the pod's netns is (or isn't).
    let host_veth = net.host_veth(&owner);
    let (masq, link) = std::thread::scope(|s| {
        let masq = s.spawn(|| {
            if conf.ip_masq && !addrs.is_empty() {
                net.masq.remove_pod(&addrs)?;
            }
            killpoint::reached("del_masq_removed")
        });
        let link = Socket::new()
            .and_then(|mut host| host.delete_link(&host_veth))
            .and_then(|_| killpoint::reached("del_link_removed"));
        let masq = masq
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("masquerade thread panicked".into())));
        (masq, link)
    });
    masq?;
    link?;
    killpoint::reached("del_teardown_done")?;
    ipam::release(&net.store, &owner)?;
    killpoint::reached("del_done")
}
