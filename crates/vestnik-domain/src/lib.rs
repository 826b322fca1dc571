//! Vestnik's domain: the types every other crate speaks in, their validation, and the
//! storage traits the backends implement.
//!
//! Values are parsed at the edge (`Email::parse`, `SiteId::parse`, `LeadStatus::from_str`) so
//! that a value which exists is valid; everything inside trusts them. Nothing here performs I/O
//! apart from drawing random bytes for new secrets.
//!
//! Layout:
//! - [`ids`], [`time`]: identifiers and UTC millisecond timestamps.
//! - [`contact`]: contacts ("multileads"), their identity (email/phone), status, subscriptions.
//! - [`site`], [`user`]: tenants, API keys (stored hashed), admin users and their roles.
//! - [`job`]: background jobs and the retry policy.
//! - [`order`]: shop orders, their statuses and history, money as exact decimal text.
//! - [`segment`]: the condition language of segments and automation filters, its JSON form,
//!   and an in-memory evaluator over a contact's facts.
//! - [`tracking`]: signed tokens of campaign tracking links, UTM tags, the banner marker.
//! - [`store`]: the `Store` traits and the one error type every backend returns.

pub mod campaign;
pub mod catalog;
pub mod contact;
pub mod event;
pub mod ids;
pub mod ingest;
pub mod job;
pub mod order;
pub mod promo;
pub mod recommend;
pub mod segment;
pub mod site;
pub mod store;
pub mod template;
pub mod time;
pub mod tracking;
pub mod user;

pub use catalog::{
    CatalogCategory, CatalogImport, CatalogOffer, EncodedOffer, FeedPart, FeedSettings, ImportId,
    ImportOutcome, ImportState, ImportSummary, OfferExtra, OfferIssue, OfferParam,
};
pub use contact::{
    Bonus, Contact, ContactFields, ContactList, Email, LeadStatus, NewContact, Phone, Subscription,
    ValidationError,
};
pub use event::{ContactState, EventToStore, EventTypeInfo, Ingested, StandardEvent};
pub use ids::{ApiKeyId, ContactId, JobId, ListId, SiteId, UserId};
pub use job::{Job, JobState, NewJob, RetryPolicy};
pub use order::{
    Money, NewOrder, Order, OrderItem, OrderStatus, OrderStatusChange, OrderStatusEntry,
    StatusUpdate,
};
pub use site::{ApiKeyRecord, IssuedApiKey, PlainApiKey, Site};
pub use store::{Store, StoreError, StoreResult};
pub use time::Timestamp;
pub use user::{Role, SessionToken, SiteRole, User};
