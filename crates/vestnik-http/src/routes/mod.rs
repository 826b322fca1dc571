//! One file per API area. Each handler is thin: extract, call the store or engine, map.

pub mod admin;
pub mod health;
pub mod meta;
pub mod multilead;
pub mod site;
