//! Fault injection for the mock EC2: the shared plan ([`crate::common::faults`]), keyed by
//! `Action`. A server error is `InternalError` (500), unavailable is `Unavailable` (503) and a
//! throttle burst answers `RequestLimitExceeded` (503).

pub use crate::common::faults::{Fault, FaultSpec, FaultState, Faults};
