//! placeholder
pub mod common;
pub mod ec2;
pub mod gce;
pub mod kube_api;
pub mod lab_router;
