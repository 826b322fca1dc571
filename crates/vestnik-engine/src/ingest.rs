//! The group-commit event writer (HARD-PARTS §1): many requests, one transaction.
//!
//! Handlers validate an event and `submit` it; a single writer task takes everything queued
//! at that moment (up to `max_batch`), stores it with one `EventStore::ingest` call — one
//! transaction, one commit — and only then answers each submitter. So a 2xx always means
//! "committed", and under load the fsync cost is shared by the whole batch: while one batch
//! commits, the next one queues up. A full queue is refused at once (`Overloaded`, which the
//! API turns into 503 + Retry-After) instead of growing memory without bound.

use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use vestnik_domain::{EventToStore, Ingested, Store};

#[derive(Debug, Clone)]
pub struct EventWriterConfig {
    /// Most events in one transaction.
    pub max_batch: usize,
    /// Events waiting for the writer before new ones are refused.
    pub queue: usize,
}

impl Default for EventWriterConfig {
    fn default() -> Self {
        EventWriterConfig {
            max_batch: 512,
            queue: 16_384,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    #[error("too many events are waiting to be written; retry in a moment")]
    Overloaded,
    #[error("the events could not be stored: {0}")]
    Store(String),
    #[error("the event writer has stopped (the server is shutting down)")]
    Stopped,
}

struct Pending {
    item: EventToStore,
    reply: oneshot::Sender<Result<Ingested, IngestError>>,
}

/// The submitting side; cheap to clone. The writer task ends after the last clone is dropped
/// and everything queued has been written.
#[derive(Clone)]
pub struct EventWriter {
    queue: mpsc::Sender<Pending>,
}

impl EventWriter {
    /// Spawns the writer task on the current tokio runtime.
    pub fn start(store: Arc<dyn Store>, config: EventWriterConfig) -> Self {
        let (queue, rx) = mpsc::channel(config.queue.max(1));
        tokio::spawn(write_batches(store, rx, config.max_batch.max(1)));
        EventWriter { queue }
    }

    /// Queues one event and waits until its batch is committed.
    pub async fn submit(&self, item: EventToStore) -> Result<Ingested, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .try_send(Pending { item, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => IngestError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => IngestError::Stopped,
            })?;
        answer.await.unwrap_or(Err(IngestError::Stopped))
    }

    /// Queues several events (they may land in one or more batches) and waits for all.
    pub async fn submit_all(&self, items: Vec<EventToStore>) -> Vec<Result<Ingested, IngestError>> {
        let mut answers = Vec::with_capacity(items.len());
        for item in items {
            let (reply, answer) = oneshot::channel();
            match self.queue.try_send(Pending { item, reply }) {
                Ok(()) => answers.push(Ok(answer)),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    answers.push(Err(IngestError::Overloaded))
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    answers.push(Err(IngestError::Stopped))
                }
            }
        }
        let mut out = Vec::with_capacity(answers.len());
        for a in answers {
            out.push(match a {
                Ok(answer) => answer.await.unwrap_or(Err(IngestError::Stopped)),
                Err(e) => Err(e),
            });
        }
        out
    }
}

async fn write_batches(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Pending>, max_batch: usize) {
    let mut batch: Vec<Pending> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (items, replies): (Vec<EventToStore>, Vec<_>) =
            batch.drain(..).map(|p| (p.item, p.reply)).unzip();
        let count = items.len();
        match store.ingest(items).await {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = count, "storing a batch of events failed");
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(IngestError::Store(message.clone())));
                }
            }
        }
    }
}
