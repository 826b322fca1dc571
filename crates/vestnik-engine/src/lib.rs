//! Vestnik's background work. Today: the job runner every later feature schedules through
//! (campaign batches, bundle delays, feed refreshes, purges).
//!
//! A job's life: `enqueue` (a row in `jobs`) → a runner on any node claims it under a lease →
//! its handler runs while the runner renews the lease → the outcome is written back only if
//! this runner still holds the lease. A runner that dies stops renewing; after the lease
//! expires another node claims the job again. Handlers must therefore tolerate a repeat run
//! after a crash (key side effects by job id), which is the price of never losing work.

pub mod campaign;
pub mod catalog_import;
pub mod ingest;
pub mod render_data;
pub mod runner;

pub use catalog_import::{
    DownloadLimits, FEED_IMPORT_JOB, FeedImportJob, FeedSource, ImportError, ImportProgress,
    feed_import_job, import_feed,
};
pub use ingest::{EventWriter, EventWriterConfig, IngestError};
pub use render_data::{
    MessageLinks, RenderFailure, StoreRenderData, render_for_contact, render_offer, render_preview,
    render_template,
};
pub use runner::{JobError, JobHandler, JobRunner, RunnerConfig, RunnerStats};
