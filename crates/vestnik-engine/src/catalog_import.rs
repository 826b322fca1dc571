//! Importing a site's YML feed into its catalog, from a file or a URL.
//!
//! The parser (`vestnik-catalog`) is synchronous and streaming; it runs on a blocking thread
//! and hands offers over in chunks, already encoded for the store, to the store's import
//! transaction (`CatalogStore::import_catalog`) running on the other core. A download is
//! first streamed into an anonymous temporary file under a size cap and timeouts, so neither a
//! file nor a download is ever held whole in memory and a slow server cannot hold the store's
//! transaction open. Only when the feed has been read to the end does the transaction
//! commit; any failure before that rolls it back and leaves the previous catalog as it was.

use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use vestnik_catalog::{FeedSink, SinkError};
use vestnik_domain::store::FeedParts;
use vestnik_domain::{
    CatalogCategory, CatalogImport, CatalogOffer, EncodedOffer, FeedPart, ImportOutcome,
    ImportSummary, NewJob, OfferExtra, OfferIssue, OfferParam, SiteId, Store,
};

use crate::runner::{JobError, JobHandler};

/// Offers per part handed to the store.
const CHUNK: usize = 5_000;
/// Parts parsed ahead of the store: enough to keep both threads busy, little memory.
const PARTS_IN_FLIGHT: usize = 2;

/// Where a feed comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedSource {
    File(PathBuf),
    Url(String),
}

impl FeedSource {
    /// `http://` and `https://` are URLs; anything else is a path.
    pub fn parse(text: &str) -> Self {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            FeedSource::Url(text.to_string())
        } else {
            FeedSource::File(PathBuf::from(text))
        }
    }

    fn describe(&self) -> String {
        match self {
            FeedSource::File(p) => p.display().to_string(),
            FeedSource::Url(u) => u.clone(),
        }
    }
}

/// Limits for downloads.
#[derive(Debug, Clone)]
pub struct DownloadLimits {
    /// Most bytes a feed may have.
    pub max_bytes: u64,
    /// Longest wait for the server to answer or to send the next chunk.
    pub idle_timeout: Duration,
    /// Longest a whole download may take.
    pub total_timeout: Duration,
}

impl Default for DownloadLimits {
    fn default() -> Self {
        DownloadLimits {
            max_bytes: 2 * 1024 * 1024 * 1024,
            idle_timeout: Duration::from_secs(60),
            total_timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// Counters a caller may watch while an import runs (the CLI's progress bar).
#[derive(Debug, Default)]
pub struct ImportProgress {
    pub offers: AtomicU64,
    pub bytes: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The feed could not be read or is not a YML feed; the catalog was left as it was.
    #[error("{0}")]
    Feed(String),
    /// The store failed; the catalog was left as it was.
    #[error("storing the catalog failed: {0}")]
    Store(#[from] vestnik_domain::StoreError),
}

/// Imports `source` into `site`'s catalog; see the module docs.
pub async fn import_feed(
    store: Arc<dyn Store>,
    site: &SiteId,
    source: &FeedSource,
    limits: &DownloadLimits,
    progress: Option<Arc<ImportProgress>>,
) -> Result<CatalogImport, ImportError> {
    let progress = progress.unwrap_or_default();
    let import = store.begin_import(site, &source.describe()).await?;
    let input: Box<dyn Read + Send> = match open_source(source, limits).await {
        Ok(input) => input,
        Err(e) => {
            if let Err(fail) = store.fail_import(site, import, &e.to_string()).await {
                tracing::error!(error = %fail, "recording a failed catalog import failed");
            }
            return Err(e);
        }
    };
    let (tx, rx) = mpsc::channel::<Result<FeedPart, String>>(PARTS_IN_FLIGHT);
    let parsing = tokio::task::spawn_blocking(move || parse_into(input, tx, progress));
    let outcome = store
        .import_catalog(site, import, Box::new(ParsedParts { rx }))
        .await;
    // The parser stops by itself once the store side has hung up.
    let _ = parsing.await;
    match outcome? {
        ImportOutcome::Done(import) => Ok(import),
        ImportOutcome::Abandoned(reason) => Err(ImportError::Feed(reason)),
    }
}

/// A reader over the feed: the file itself, or a local copy of the download.
async fn open_source(
    source: &FeedSource,
    limits: &DownloadLimits,
) -> Result<Box<dyn Read + Send>, ImportError> {
    let file = match source {
        FeedSource::File(path) => std::fs::File::open(path).map_err(|e| {
            ImportError::Feed(format!("cannot open the feed {}: {e}", path.display()))
        })?,
        FeedSource::Url(url) => download(url, limits).await?,
    };
    Ok(Box::new(file))
}

fn describe_empty(summary: &ImportSummary, message: String) -> String {
    match summary.errors.first() {
        Some(first) => format!(
            "{message} ({} offers skipped; the first at line {}: {})",
            summary.skipped, first.line, first.reason
        ),
        None => message,
    }
}

/// Parses `input` on this (blocking) thread, sending its parts to the store side; the last
/// message is the summary, or why the feed cannot be imported.
fn parse_into(
    input: Box<dyn Read + Send>,
    tx: mpsc::Sender<Result<FeedPart, String>>,
    progress: Arc<ImportProgress>,
) {
    let input = CountingReader {
        inner: input,
        progress: progress.clone(),
    };
    let mut sink = PartsSink {
        tx: tx.clone(),
        offers: Vec::with_capacity(CHUNK),
        categories: Vec::new(),
        progress,
    };
    let parsed = vestnik_catalog::parse_feed(input, &mut sink);
    let last = match parsed.map_err(|e| e.to_string()).and_then(|summary| {
        sink.flush_all().map_err(|e| e.to_string())?;
        Ok(summary)
    }) {
        Ok(summary) => {
            let summary = import_summary(summary);
            if summary.offers == 0 {
                let message =
                    "the feed lists no valid offers; the catalog was left as it was".to_string();
                Err(describe_empty(&summary, message))
            } else {
                Ok(FeedPart::End(summary))
            }
        }
        Err(reason) => Err(reason),
    };
    // A closed channel means the store side failed and reports its own error.
    let _ = tx.blocking_send(last);
}

fn import_summary(summary: vestnik_catalog::FeedSummary) -> ImportSummary {
    ImportSummary {
        offers: summary.offers as u64,
        categories: summary.categories as u64,
        skipped: summary.skipped as u64,
        errors: summary
            .errors
            .into_iter()
            .map(|e| OfferIssue {
                offer_id: e.offer_id,
                line: e.line,
                reason: e.reason,
            })
            .collect(),
    }
}

/// The store's view of the parsing thread.
struct ParsedParts {
    rx: mpsc::Receiver<Result<FeedPart, String>>,
}

#[async_trait::async_trait]
impl FeedParts for ParsedParts {
    async fn next_part(&mut self) -> Result<FeedPart, String> {
        match self.rx.recv().await {
            Some(part) => part,
            None => Err("the feed parser stopped unexpectedly".to_string()),
        }
    }
}

/// Collects the parser's records into parts, encoding each offer for the store here, on the
/// parsing thread, so the store's thread only writes.
struct PartsSink {
    tx: mpsc::Sender<Result<FeedPart, String>>,
    offers: Vec<EncodedOffer>,
    categories: Vec<CatalogCategory>,
    progress: Arc<ImportProgress>,
}

impl PartsSink {
    fn send(&self, part: FeedPart) -> Result<(), SinkError> {
        self.tx
            .blocking_send(Ok(part))
            .map_err(|_| "the catalog store stopped taking offers".into())
    }

    fn flush_all(&mut self) -> Result<(), SinkError> {
        if !self.categories.is_empty() {
            let categories = std::mem::take(&mut self.categories);
            self.send(FeedPart::Categories(categories))?;
        }
        if !self.offers.is_empty() {
            let offers = std::mem::take(&mut self.offers);
            self.send(FeedPart::Offers(offers))?;
        }
        Ok(())
    }
}

impl FeedSink for PartsSink {
    fn category(&mut self, c: vestnik_catalog::Category) -> Result<(), SinkError> {
        self.categories.push(CatalogCategory {
            id: c.id,
            parent_id: c.parent_id,
            name: c.name,
        });
        Ok(())
    }

    fn offer(&mut self, o: vestnik_catalog::Offer) -> Result<(), SinkError> {
        let line = o.line;
        let encoded = EncodedOffer::encode(catalog_offer(o))
            .map_err(|e| SinkError::from(format!("encoding the offer at line {line}: {e}")))?;
        self.offers.push(encoded);
        self.progress.offers.fetch_add(1, Ordering::Relaxed);
        if self.offers.len() >= CHUNK {
            // Categories come before offers in a feed; send them first all the same.
            if !self.categories.is_empty() {
                let categories = std::mem::take(&mut self.categories);
                self.send(FeedPart::Categories(categories))?;
            }
            let offers = std::mem::replace(&mut self.offers, Vec::with_capacity(CHUNK));
            self.send(FeedPart::Offers(offers))?;
        }
        Ok(())
    }
}

/// The parser's offer as the catalog stores it.
pub fn catalog_offer(o: vestnik_catalog::Offer) -> CatalogOffer {
    CatalogOffer {
        id: o.id,
        available: o.available,
        offer_type: o.offer_type,
        group_id: o.group_id,
        url: o.url,
        price: o.price.to_string(),
        oldprice: o.old_price.map(|p| p.to_string()),
        currency_id: o.currency_id,
        category_id: o.category_id,
        pictures: o.pictures,
        name: o.name,
        type_prefix: o.type_prefix,
        vendor: o.vendor,
        model: o.model,
        description: o.description,
        params: o
            .params
            .into_iter()
            .map(|p| OfferParam {
                name: p.name,
                unit: p.unit,
                value: p.value,
            })
            .collect(),
        extra: o
            .extra
            .into_iter()
            .map(|e| OfferExtra {
                name: e.name,
                attributes: e.attributes,
                value: e.value,
            })
            .collect(),
    }
}

struct CountingReader {
    inner: Box<dyn Read + Send>,
    progress: Arc<ImportProgress>,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Downloads the feed into an anonymous temporary file and returns it, rewound. The import
/// then reads a local file: on SQLite the import holds the write lock while it reads, and a
/// slow server must not stretch that. The size cap and timeouts hold during the download.
async fn download(url: &str, limits: &DownloadLimits) -> Result<std::fs::File, ImportError> {
    use std::io::{Seek, Write};
    let client = reqwest::Client::builder()
        .connect_timeout(limits.idle_timeout)
        .read_timeout(limits.idle_timeout)
        .timeout(limits.total_timeout)
        .build()
        .map_err(|e| ImportError::Feed(format!("cannot start a download: {e}")))?;
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| ImportError::Feed(format!("cannot download the feed from {url}: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        return Err(ImportError::Feed(format!(
            "downloading the feed from {url} failed: the server answered {status}"
        )));
    }
    let too_large = || {
        ImportError::Feed(format!(
            "the feed at {url} is larger than the limit of {} bytes",
            limits.max_bytes
        ))
    };
    if response
        .content_length()
        .is_some_and(|l| l > limits.max_bytes)
    {
        return Err(too_large());
    }
    let local = |e: io::Error| ImportError::Feed(format!("cannot keep a copy of the feed: {e}"));
    // Unlinked from the start: nothing is left behind, whatever happens to this process.
    let mut file = tempfile::tempfile().map_err(local)?;
    let mut total: u64 = 0;
    loop {
        let chunk = response
            .chunk()
            .await
            .map_err(|e| ImportError::Feed(format!("the download from {url} broke off: {e}")))?;
        let Some(chunk) = chunk else { break };
        total += chunk.len() as u64;
        if total > limits.max_bytes {
            return Err(too_large());
        }
        // Small writes into the page cache; not worth a trip to the blocking pool each.
        file.write_all(&chunk).map_err(local)?;
    }
    file.rewind().map_err(local)?;
    Ok(file)
}

/// The job kind that imports a site's feed from its configured URL.
pub const FEED_IMPORT_JOB: &str = "feed.import";

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct FeedImportPayload {
    /// For scheduled runs: the save time of the settings that scheduled it. A run whose
    /// settings were saved again since then is stale and ends its chain, so each save starts
    /// exactly one schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schedule: Option<i64>,
}

/// A job that imports `site`'s feed now: once (`schedule: None`), or as the first run of
/// the refresh schedule of the settings saved at `schedule`.
pub fn feed_import_job(site: &SiteId, schedule: Option<vestnik_domain::Timestamp>) -> NewJob {
    let payload = FeedImportPayload {
        schedule: schedule.map(|t| t.millis()),
    };
    NewJob::new(
        FEED_IMPORT_JOB,
        serde_json::to_value(&payload).unwrap_or_default(),
    )
    .for_site(site.clone())
    // A broken feed is recorded as a failed import, not retried; retries are for the store.
    .max_attempts(3)
}

/// Runs `feed.import` jobs: imports from the site's feed URL and, for scheduled runs,
/// enqueues the next run `refresh_minutes` later.
pub struct FeedImportJob {
    pub store: Arc<dyn Store>,
    pub limits: DownloadLimits,
}

#[async_trait::async_trait]
impl JobHandler for FeedImportJob {
    async fn run(&self, job: &vestnik_domain::Job) -> Result<(), JobError> {
        let site = job
            .site_id
            .clone()
            .ok_or_else(|| JobError::Permanent("a feed import job without a site".into()))?;
        let payload: FeedImportPayload = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Permanent(format!("bad feed import payload: {e}")))?;
        let Some((settings, saved_at)) = self.store.feed_settings(&site).await? else {
            return Ok(());
        };
        if payload.schedule.is_some_and(|s| s != saved_at.millis()) {
            return Ok(()); // Superseded by a later save, which runs its own schedule.
        }
        let Some(url) = settings.url.as_deref() else {
            return Ok(());
        };
        match import_feed(
            self.store.clone(),
            &site,
            &FeedSource::Url(url.to_string()),
            &self.limits,
            None,
        )
        .await
        {
            Ok(_) => {}
            Err(ImportError::Feed(reason)) => {
                tracing::warn!(site = %site.as_str(), %reason, "feed import failed");
            }
            Err(ImportError::Store(e)) => return Err(e.into()),
        }
        if let (Some(_), Some(minutes)) = (payload.schedule, settings.refresh_minutes) {
            let next = feed_import_job(&site, Some(saved_at)).run_at(
                vestnik_domain::Timestamp::now()
                    .plus(std::time::Duration::from_secs(u64::from(minutes) * 60)),
            );
            self.store.enqueue(&next).await?;
        }
        Ok(())
    }
}
