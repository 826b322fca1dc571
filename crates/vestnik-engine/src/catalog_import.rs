//! Importing a site's YML feed into its catalog, from a file or a URL.
//!
//! The parser (`vestnik-catalog`) is synchronous and streaming; it runs on a blocking thread
//! and hands offers over in chunks to the async side, which stages them in the store. A
//! download is streamed into the parser the same way, under a size cap and timeouts, so
//! neither a file nor a download is ever held whole in memory. Only when the feed has been
//! read to the end is the catalog switched (`CatalogStore::finish_import`); any failure
//! before that drops what was staged and leaves the previous catalog as it was.

use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use vestnik_catalog::{FeedSink, SinkError};
use vestnik_domain::{
    CatalogCategory, CatalogImport, CatalogOffer, ImportId, ImportSummary, NewJob, OfferExtra,
    OfferIssue, OfferParam, SiteId, Store,
};

use crate::runner::{JobError, JobHandler};

/// Offers per staging call.
const CHUNK: usize = 2_000;

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
    let outcome = run(store.clone(), site, import, source, limits, progress).await;
    match outcome {
        Ok(summary) if summary.offers == 0 => {
            let message =
                "the feed lists no valid offers; the catalog was left as it was".to_string();
            store.fail_import(site, import, &message).await?;
            Err(ImportError::Feed(describe_empty(&summary, message)))
        }
        Ok(summary) => Ok(store.finish_import(site, import, &summary).await?),
        Err(e) => {
            let message = e.to_string();
            if let Err(fail) = store.fail_import(site, import, &message).await {
                tracing::error!(error = %fail, "recording a failed catalog import failed");
            }
            Err(e)
        }
    }
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

/// What the parsing thread sends to the staging side.
enum Staged {
    Offers(Vec<CatalogOffer>),
    Categories(Vec<CatalogCategory>),
}

async fn run(
    store: Arc<dyn Store>,
    site: &SiteId,
    import: ImportId,
    source: &FeedSource,
    limits: &DownloadLimits,
    progress: Arc<ImportProgress>,
) -> Result<ImportSummary, ImportError> {
    let input: Box<dyn Read + Send> = match source {
        FeedSource::File(path) => Box::new(std::fs::File::open(path).map_err(|e| {
            ImportError::Feed(format!("cannot open the feed {}: {e}", path.display()))
        })?),
        FeedSource::Url(url) => Box::new(download(url, limits).await?),
    };
    let (tx, mut rx) = mpsc::channel::<Staged>(2);
    let counter = progress.clone();
    let parsing = tokio::task::spawn_blocking(move || {
        let input = CountingReader {
            inner: input,
            progress: counter.clone(),
        };
        let mut sink = StagingSink {
            tx,
            offers: Vec::with_capacity(CHUNK),
            categories: Vec::new(),
            progress: counter,
        };
        let parsed = vestnik_catalog::parse_feed(input, &mut sink);
        // The rest, after the last full chunk; a closed channel means the staging side failed
        // and has its own error to report.
        let flushed = sink.flush_all();
        (parsed, flushed)
    });
    let mut stage_error = None;
    while let Some(batch) = rx.recv().await {
        let staged = match &batch {
            Staged::Offers(offers) => store.stage_offers(site, import, offers).await,
            Staged::Categories(categories) => {
                store.stage_categories(site, import, categories).await
            }
        };
        if let Err(e) = staged {
            stage_error = Some(e);
            break;
        }
    }
    drop(rx);
    let (parsed, _) = parsing
        .await
        .map_err(|e| ImportError::Feed(format!("the feed parser stopped unexpectedly: {e}")))?;
    if let Some(e) = stage_error {
        return Err(ImportError::Store(e));
    }
    let summary = parsed.map_err(|e| ImportError::Feed(e.to_string()))?;
    Ok(ImportSummary {
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
    })
}

struct StagingSink {
    tx: mpsc::Sender<Staged>,
    offers: Vec<CatalogOffer>,
    categories: Vec<CatalogCategory>,
    progress: Arc<ImportProgress>,
}

impl StagingSink {
    fn send(&self, batch: Staged) -> Result<(), SinkError> {
        self.tx
            .blocking_send(batch)
            .map_err(|_| "the catalog store stopped taking offers".into())
    }

    fn flush_all(&mut self) -> Result<(), SinkError> {
        if !self.categories.is_empty() {
            let categories = std::mem::take(&mut self.categories);
            self.send(Staged::Categories(categories))?;
        }
        if !self.offers.is_empty() {
            let offers = std::mem::take(&mut self.offers);
            self.send(Staged::Offers(offers))?;
        }
        Ok(())
    }
}

impl FeedSink for StagingSink {
    fn category(&mut self, c: vestnik_catalog::Category) -> Result<(), SinkError> {
        self.categories.push(CatalogCategory {
            id: c.id,
            parent_id: c.parent_id,
            name: c.name,
        });
        Ok(())
    }

    fn offer(&mut self, o: vestnik_catalog::Offer) -> Result<(), SinkError> {
        self.offers.push(catalog_offer(o));
        self.progress.offers.fetch_add(1, Ordering::Relaxed);
        if self.offers.len() >= CHUNK {
            let offers = std::mem::replace(&mut self.offers, Vec::with_capacity(CHUNK));
            self.send(Staged::Offers(offers))?;
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

/// Starts a download and returns a blocking reader over its body. The HTTP status is
/// checked before parsing starts; the body arrives chunk by chunk through a small channel.
async fn download(url: &str, limits: &DownloadLimits) -> Result<ChannelReader, ImportError> {
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
    if let Some(length) = response.content_length().filter(|l| *l > limits.max_bytes) {
        return Err(ImportError::Feed(format!(
            "the feed at {url} is {length} bytes, more than the limit of {} bytes",
            limits.max_bytes
        )));
    }
    let (tx, rx) = mpsc::channel::<io::Result<Vec<u8>>>(8);
    let max_bytes = limits.max_bytes;
    let url = url.to_string();
    tokio::spawn(async move {
        let mut total: u64 = 0;
        loop {
            let next = match response.chunk().await {
                Ok(Some(chunk)) => {
                    total += chunk.len() as u64;
                    if total > max_bytes {
                        Err(io::Error::other(format!(
                            "the feed at {url} is larger than the limit of {max_bytes} bytes"
                        )))
                    } else {
                        Ok(chunk.to_vec())
                    }
                }
                Ok(None) => break,
                Err(e) => Err(io::Error::other(format!(
                    "the download from {url} broke off: {e}"
                ))),
            };
            let failed = next.is_err();
            if tx.send(next).await.is_err() || failed {
                break;
            }
        }
    });
    Ok(ChannelReader {
        rx,
        current: Vec::new(),
        position: 0,
    })
}

struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    position: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.position >= self.current.len() {
            match self.rx.blocking_recv() {
                Some(chunk) => {
                    self.current = chunk?;
                    self.position = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.position);
        buf[..n].copy_from_slice(&self.current[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
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
