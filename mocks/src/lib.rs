//! placeholder
pub mod ec2;
pub mod kube_api;
pub mod lab_router;
