//! The storage traits. Two backends implement them (`vestnik-store`: SQLite and PostgreSQL) and
//! one conformance suite checks that both behave the same.
//!
//! Every method that touches tenant data takes the `SiteId` first: the caller got it from an
//! authenticated extractor, and no query runs without it.

mod audit;
mod campaign;
mod catalog;
mod delivery;
mod events;
mod mail_settings;
mod orders;
mod promo;
mod recommend;
mod segment;
mod template;
mod tracking;

pub use audit::{AuditEntry, AuditRecord, AuditStore};
pub use campaign::CampaignStore;
pub use catalog::{CatalogStore, FeedParts};
pub use delivery::DeliveryStore;
pub use events::{BlockingIngester, EventStore, OutboxRow};
pub use mail_settings::MailSettingsStore;
pub use orders::OrderStore;
pub use promo::PromoStore;
pub use recommend::RecommendationStore;
pub use segment::SegmentStore;
pub use template::TemplateStore;
pub use tracking::TrackingStore;

use async_trait::async_trait;
use std::time::Duration;

use crate::contact::{
    Bonus, Contact, ContactExport, ContactList, ContactUpsert, Email, ErasureReport, LeadStatus,
    MembershipChange, NewContact, OverwriteRule, Phone, UpsertOutcome, ValidationError,
};
use crate::ids::{ApiKeyId, ContactId, JobId, ListId, SiteId, UserId};
use crate::job::{Job, JobState, NewJob};
use crate::site::{ApiKeyRecord, IssuedApiKey, Site};
use crate::time::Timestamp;
use crate::user::{Role, SiteRole, User};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing does not exist, or exists in another site (the two are indistinguishable on purpose).
    #[error("{0} not found")]
    NotFound(String),
    /// A uniqueness rule was violated (an email already taken, a list name in use).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The database could not be reached or timed out; retrying later may work.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a corrupted database. Logged in full, shown to users as a 500.
    #[error("database error: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait SiteStore: Send + Sync {
    /// Creates a site together with its first API key, in one transaction.
    async fn create_site(&self, name: &str) -> StoreResult<(Site, IssuedApiKey)>;
    async fn list_sites(&self) -> StoreResult<Vec<Site>>;
    async fn get_site(&self, site: &SiteId) -> StoreResult<Site>;
    async fn create_api_key(&self, site: &SiteId, label: &str) -> StoreResult<IssuedApiKey>;
    async fn list_api_keys(&self, site: &SiteId) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Revoking twice is fine; the first revocation time is kept.
    async fn revoke_api_key(&self, site: &SiteId, key: ApiKeyId) -> StoreResult<ApiKeyRecord>;
    /// Looks a key up by its hash, revoked or not (the caller says why it is refused).
    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user and their roles in one transaction: an unknown site leaves no user behind.
    async fn create_user(
        &self,
        email: &Email,
        password_hash: &str,
        roles: &[SiteRole],
    ) -> StoreResult<User>;
    async fn set_role(&self, user: UserId, site: &SiteId, role: Role) -> StoreResult<()>;
    async fn set_password(&self, user: UserId, password_hash: &str) -> StoreResult<()>;
    /// The user and their password hash.
    async fn find_user_by_email(&self, email: &Email) -> StoreResult<Option<(User, String)>>;
    async fn user_roles(&self, user: UserId) -> StoreResult<Vec<SiteRole>>;
    async fn create_session(
        &self,
        user: UserId,
        token_hash: &str,
        expires_at: Timestamp,
    ) -> StoreResult<()>;
    /// The session's user, when the session exists and has not expired at `now`.
    async fn find_session(&self, token_hash: &str, now: Timestamp) -> StoreResult<Option<User>>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
}

#[async_trait]
pub trait ContactStore: Send + Sync {
    /// Fails with `Conflict` when the email or phone already belongs to a contact of the site.
    async fn insert_contact(&self, site: &SiteId, contact: &NewContact) -> StoreResult<Contact>;
    /// All or nothing: one invalid or conflicting contact leaves none of them stored.
    async fn insert_contacts(
        &self,
        site: &SiteId,
        contacts: &[NewContact],
    ) -> StoreResult<Vec<Contact>>;
    async fn get_contact(&self, site: &SiteId, id: ContactId) -> StoreResult<Contact>;
    /// Matches by email first, then by phone.
    async fn find_contact(
        &self,
        site: &SiteId,
        email: Option<&Email>,
        phone: Option<&Phone>,
    ) -> StoreResult<Option<Contact>>;
    /// Replaces every mutable field with the given contact's.
    async fn update_contact(&self, site: &SiteId, contact: &Contact) -> StoreResult<Contact>;
    /// Returns whether a contact was deleted; list memberships go with it.
    async fn delete_contact(&self, site: &SiteId, id: ContactId) -> StoreResult<bool>;
    async fn count_contacts(&self, site: &SiteId) -> StoreResult<i64>;
    /// Sets the status of the site's contact with this email; false when there is none.
    async fn set_status_by_email(
        &self,
        site: &SiteId,
        email: &Email,
        status: LeadStatus,
    ) -> StoreResult<bool>;
    /// Sets bonus balances by email in one transaction; for each item, whether a contact
    /// with that email exists (and was updated).
    async fn set_bonuses_by_email(
        &self,
        site: &SiteId,
        bonuses: &[(Email, Bonus)],
    ) -> StoreResult<Vec<bool>>;
    /// Creates or updates each item, matched by email, then phone, under `rule`, and joins it
    /// to its lists. Each item is all or nothing; a failing item (invalid, an unknown list, an
    /// email and a phone of two different contacts) is reported in its slot and does not stop
    /// the others. The outer `Err` is a database failure, and then nothing at all is stored.
    async fn upsert_contacts(
        &self,
        site: &SiteId,
        items: &[ContactUpsert],
        rule: OverwriteRule,
    ) -> StoreResult<Vec<StoreResult<(Contact, UpsertOutcome)>>>;
    /// Everything stored about the contact (GDPR access), read in the transaction that writes
    /// `audit`, so no export goes unrecorded.
    async fn export_contact(
        &self,
        site: &SiteId,
        id: ContactId,
        audit: &AuditEntry,
    ) -> StoreResult<ContactExport>;
    /// GDPR erasure in one transaction: the contact, their events, state and memberships go;
    /// their orders stay with email and phone removed; `audit` is written. `NotFound` when
    /// the site has no such contact (and then nothing is written).
    async fn erase_contact(
        &self,
        site: &SiteId,
        id: ContactId,
        audit: &AuditEntry,
    ) -> StoreResult<ErasureReport>;
}

#[async_trait]
pub trait ListStore: Send + Sync {
    async fn create_list(&self, site: &SiteId, name: &str) -> StoreResult<ContactList>;
    async fn lists(&self, site: &SiteId) -> StoreResult<Vec<ContactList>>;
    async fn find_list(&self, site: &SiteId, name: &str) -> StoreResult<Option<ContactList>>;
    /// Adds contacts in one transaction and returns how many were new members. A contact that
    /// is not in the site fails the whole call with `NotFound`, adding nobody.
    async fn add_to_list(
        &self,
        site: &SiteId,
        list: ListId,
        contacts: &[ContactId],
    ) -> StoreResult<u64>;
    async fn remove_from_list(
        &self,
        site: &SiteId,
        list: ListId,
        contacts: &[ContactId],
    ) -> StoreResult<u64>;
    /// Members in id order, paged by the last id seen, so a huge list never sits in memory.
    async fn list_members(
        &self,
        site: &SiteId,
        list: ListId,
        after: Option<ContactId>,
        limit: u32,
    ) -> StoreResult<Vec<ContactId>>;
    async fn contact_lists(
        &self,
        site: &SiteId,
        contact: ContactId,
    ) -> StoreResult<Vec<ContactList>>;
    async fn get_list(&self, site: &SiteId, list: ListId) -> StoreResult<ContactList>;
    /// Adds the site's contacts with these emails or phones, in one transaction; identifiers
    /// that match nobody are reported, not created. `NotFound` for another site's list.
    async fn add_to_list_by_identity(
        &self,
        site: &SiteId,
        list: ListId,
        emails: &[Email],
        phones: &[Phone],
    ) -> StoreResult<MembershipChange>;
    async fn remove_from_list_by_identity(
        &self,
        site: &SiteId,
        list: ListId,
        emails: &[Email],
        phones: &[Phone],
    ) -> StoreResult<MembershipChange>;
}

#[async_trait]
pub trait JobStore: Send + Sync {
    async fn enqueue(&self, job: &NewJob) -> StoreResult<JobId>;
    /// One transaction for many jobs.
    async fn enqueue_many(&self, jobs: &[NewJob]) -> StoreResult<Vec<JobId>>;
    /// Atomically takes up to `limit` jobs of the given kinds that are due at `now` (pending
    /// with `run_at <= now`, or running with an expired lease), marks them running under
    /// `owner` until `now + lease`, and increments their attempts. Two concurrent callers never
    /// receive the same job.
    async fn claim_jobs(
        &self,
        owner: &str,
        kinds: &[String],
        limit: u32,
        lease: Duration,
        now: Timestamp,
    ) -> StoreResult<Vec<Job>>;
    /// Pushes the lease of jobs still held by `owner`; returns how many it still holds.
    async fn extend_leases(
        &self,
        owner: &str,
        jobs: &[JobId],
        until: Timestamp,
    ) -> StoreResult<u64>;
    /// Each of these returns false when `owner` no longer holds the job (its lease expired and
    /// another runner took it): the caller's outcome is then discarded.
    async fn complete_job(&self, job: JobId, owner: &str, now: Timestamp) -> StoreResult<bool>;
    /// `retry_at = None` marks the job dead.
    async fn fail_job(
        &self,
        job: JobId,
        owner: &str,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Gives a claimed job back untouched (on shutdown): pending again, the attempt not counted.
    async fn release_job(&self, job: JobId, owner: &str) -> StoreResult<bool>;
    async fn get_job(&self, job: JobId) -> StoreResult<Option<Job>>;
    /// The newest jobs first, optionally of one state: for inspecting dead ones.
    async fn list_jobs(&self, state: Option<JobState>, limit: u32) -> StoreResult<Vec<Job>>;
    async fn job_counts(&self) -> StoreResult<Vec<(JobState, i64)>>;
}

/// Everything a node needs from its database.
#[async_trait]
pub trait Store:
    SiteStore
    + UserStore
    + ContactStore
    + ListStore
    + JobStore
    + OrderStore
    + EventStore
    + AuditStore
    + CatalogStore
    + PromoStore
    + RecommendationStore
    + TemplateStore
    + SegmentStore
    + TrackingStore
    + CampaignStore
    + DeliveryStore
    + MailSettingsStore
{
    /// `sqlite` or `postgres`, for logs and `/health`.
    fn backend(&self) -> &'static str;
    /// A round trip to the database, for `/health`.
    async fn ping(&self) -> StoreResult<()>;
}
