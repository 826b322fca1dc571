//! Helpers shared by the integration tests and the parse benchmark.

pub mod generated;
