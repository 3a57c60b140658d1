//! placeholder
pub mod kube_api;
