//! routeplane-gce: routeplane's [`RouteProvider`](routeplane_core::RouteProvider) for GCE VPC
//! routes, on google-cloud-compute-v1 and Application Default Credentials ([`credentials`]).
//!
//! Reading order: [`config`] and [`args`] (what can be configured), [`naming`] (route names,
//! the ownership mark and the list filter), [`provider`] (the trait implementation and its cost
//! model), then [`routes`], [`operations`] and [`instances`] (the Compute calls), [`call`]
//! (budget, timeout, retry and counts for every request), [`classify`] (Compute error reasons
//! to provider error classes) and [`method`] (the methods, their budget classes and IAM
//! permissions). `docs/gce.md` lists the permissions and the limits.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod args;
pub mod call;
pub mod classify;
pub mod config;
pub mod credentials;
pub mod error;
pub mod instances;
pub mod metadata;
pub mod method;
pub mod naming;
pub mod operations;
pub mod provider;
pub mod routes;
pub mod urls;

pub use args::GceArgs;
pub use config::GceConfig;
pub use error::GceError;
pub use method::{Class, GCE_DEFAULT_BUCKETS, Method, gce_budget};
pub use naming::RouteNaming;
pub use provider::GceProvider;
