//! routeplane-aws: routeplane's [`RouteProvider`](routeplane_core::RouteProvider) for EC2 VPC
//! route tables, on aws-sdk-ec2 and the standard aws-config credential chain.
//!
//! Reading order: [`config`] and [`args`] (what can be configured), [`provider`] (the trait
//! implementation and its cost model), then [`tables`], [`instances`] and [`routes`] (the EC2
//! calls), [`call`] (budget, timeout, retry, counts for every request), [`classify`] (EC2 error
//! codes to provider error classes) and [`action`] (EC2's documented per-action budgets).
//! `docs/aws.md` lists the IAM permissions and the defaults with their sources.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod action;
pub mod args;
pub mod call;
pub mod classify;
pub mod config;
pub mod error;
pub mod instances;
pub mod provider;
pub mod routes;
pub mod tables;

pub use action::{Action, EC2_DEFAULT_BUCKETS, ec2_budget, ec2_default_budget};
pub use args::{AwsArgs, TableDiscovery};
pub use config::{AwsConfig, StaticCredentials, TableSelector};
pub use error::AwsError;
pub use provider::AwsProvider;
