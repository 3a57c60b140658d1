//! routeplane-core: the model, the planner, the provider contract and the controller loop.
//!
//! The flow of one reconcile pass:
//!
//! ```text
//! Node watch → store (NodeInfo) → plan(spec, nodes, cloud routes) → provider ops
//!            → NetworkUnavailable condition / Events / metrics
//! ```
//!
//! Nothing here depends on a cloud SDK: providers implement [`provider::RouteProvider`] in their
//! own crates, and the controller is generic over it.

pub mod alloc;
pub mod budget;
pub mod call;
pub mod controller;
pub mod duration;
pub mod error;
pub mod model;
pub mod plan;
pub mod provider;
pub mod provider_id;
pub mod retry;
pub mod slot;
pub mod testing;

pub use error::ConfigError;
pub use model::{
    Cloud, CloudRoute, ClusterSpec, DesiredRoute, Family, Mode, NodeInfo, RouteSnapshot,
    RouteState, RouteTarget, TableId, TableInfo,
};
pub use plan::{Plan, plan};
pub use provider::{ErrorKind, ProviderError, RouteProvider};
pub use provider_id::{InstanceRef, ProviderIdError, parse_provider_id};
