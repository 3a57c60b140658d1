//! Node-side agent logic, synchronous and free of Kubernetes: the `routeplane agent` subcommand
//! feeds it from its Node watch.
//!
//! - [`conflist`]: render and atomically write `10-routeplane.conflist` from the node's podCIDRs;
//! - [`files`]: write-if-changed and install the plugin binary atomically;
//! - [`uplink`]: detect the MTU of the default route's interface;
//! - [`host_routes`]: keep kernel routes to peers' Pod CIDRs (host mode) under our own protocol;
//! - [`enable_forwarding`]: the v4/v6 forwarding sysctls.
//!
//! Every path is a parameter so tests can point them at a temp dir.

pub mod conflist;
pub mod files;
pub mod host_routes;
pub mod uplink;

pub use crate::sysctl::enable_forwarding;
