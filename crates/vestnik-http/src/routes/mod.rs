//! One file per API area. Each handler is thin: extract, call the store or engine, map.

pub mod admin;
pub mod campaigns;
pub mod catalog;
pub mod contacts;
pub mod events;
pub mod health;
pub mod lists;
pub mod messages;
pub mod meta;
pub mod multilead;
pub mod orders;
pub mod promo;
pub mod segments;
pub mod site;
pub mod templates;
pub mod tracking;
