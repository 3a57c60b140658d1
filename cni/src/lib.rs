//! routeplane-cni: the `routeplane-bridge` CNI plugin and the node agent's logic.
//!
//! Reading order: [`plugin`] (verbs, error JSON) → [`config`] and [`env`] (inputs) → [`ipam`]
//! (the reservation store) → [`netlink`] and [`netns`] (kernel access) → [`masq`] (nftables) →
//! [`result`]. The [`agent`] module is the synchronous node-side library that `routeplane agent`
//! drives from its Node watch. Nothing here depends on Kubernetes or on routeplane-core: the
//! plugin is a short-lived process per pod and must start fast.

pub mod agent;
pub mod config;
pub mod env;
pub mod error;
pub mod ipam;
pub mod killpoint;
pub mod masq;
pub mod names;
pub mod netlink;
pub mod netns;
pub mod plugin;
pub mod result;
pub mod sysctl;

pub use error::{Error, Result};
