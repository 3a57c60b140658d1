//! Machinery the mock clouds share: the library error ([`error`]), fault injection ([`faults`]), the HTTP/1.1 accept loop that
//! can cut a live connection ([`server`]), the in-order call log ([`record`]), the builder and
//! running handle ([`mock`]) and world file reading (`world_file`). Each mock keeps its own wire
//! format, API surface and call type.

pub mod error;
pub mod faults;
pub mod mock;
pub mod record;
pub mod server;
pub(crate) mod world_file;
