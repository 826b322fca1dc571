//! The group-commit event writer (HARD-PARTS §1): many requests, one transaction.
//!
//! Handlers validate an event and `submit` it; a single writer takes everything queued at
//! that moment (up to `max_batch`), stores it in one transaction — one commit — and only then
//! answers each submitter. The writer is a thread of its own when the store can write on the
//! calling thread (`EventStore::blocking_ingester`, SQLite), else a task calling
//! `EventStore::ingest`. So a 2xx always means "committed", and under load the commit's cost
//! is shared by the whole batch: while one batch commits, the next one queues up. A full
//! queue is refused at once (`Overloaded`, which the API turns into 503 + Retry-After)
//! instead of growing memory without bound.

use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use vestnik_domain::store::BlockingIngester;
use vestnik_domain::{EventToStore, Ingested, Store, StoreResult};

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

/// A submitter's answer, with its event handed back: freeing an event (its decoded params)
/// was a twentieth of the writer thread's time, which the submitter's task spends instead.
type Answer = (Result<Ingested, IngestError>, Option<EventToStore>);
type Reply = oneshot::Sender<Answer>;

struct Pending {
    item: EventToStore,
    reply: Reply,
}

/// The submitting side; cheap to clone. The writer ends after the last clone is dropped
/// and everything queued has been written.
#[derive(Clone)]
pub struct EventWriter {
    queue: mpsc::Sender<Pending>,
}

impl EventWriter {
    /// Starts the writer: on a thread of its own when the store can write on the calling
    /// thread (SQLite), else as a task on the current tokio runtime.
    pub fn start(store: Arc<dyn Store>, config: EventWriterConfig) -> Self {
        let (queue, rx) = mpsc::channel(config.queue.max(1));
        let max_batch = config.max_batch.max(1);
        match store.blocking_ingester() {
            Some(ingester) => {
                // The thread owns the receiver; if it cannot start, nothing was moved yet
                // that the task could not take instead.
                let (handoff, rx_slot) =
                    std::sync::mpsc::sync_channel::<mpsc::Receiver<Pending>>(1);
                let spawned = std::thread::Builder::new()
                    .name("vestnik-ingest".into())
                    .spawn(move || {
                        favour_this_thread();
                        if let Ok(rx) = rx_slot.recv() {
                            write_batches_on_thread(ingester, rx, max_batch);
                        }
                    });
                match spawned {
                    Ok(_) => {
                        let _ = handoff.send(rx);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "no thread for the event writer; writing from a task");
                        tokio::spawn(write_batches(store, rx, max_batch));
                    }
                }
            }
            None => {
                tokio::spawn(write_batches(store, rx, max_batch));
            }
        }
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
        answer
            .await
            .map_or(Err(IngestError::Stopped), |(result, _event)| result)
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
                Ok(answer) => answer
                    .await
                    .map_or(Err(IngestError::Stopped), |(result, _event)| result),
                Err(e) => Err(e),
            });
        }
        out
    }
}

/// How far the writer thread's nice value goes below the rest of the process (Linux).
const WRITER_NICE_BOOST: i32 = 5;

/// Gives the writer thread precedence over request handlers. It is the one serial stage of
/// ingestion: when the CPU is saturated (two cores, handlers parsing as fast as they can), a
/// writer that waits for a core while handlers queue more events behind it caps throughput;
/// one that runs whenever it has a batch lets handlers use whatever time it leaves. On the
/// 2-core benchmark machine this was 6-12 % more events per second in the batch phase, in
/// runs alternating with and without it. Raising a priority needs `CAP_SYS_NICE` (or an
/// `RLIMIT_NICE` allowance); without it the writer keeps the default priority.
fn favour_this_thread() {
    #[cfg(target_os = "linux")]
    {
        // On Linux the nice value is per thread, and PRIO_PROCESS with a thread id sets it
        // for that thread alone.
        let tid = rustix::thread::gettid();
        let raised = rustix::process::getpriority_process(Some(tid)).and_then(|nice| {
            rustix::process::setpriority_process(Some(tid), nice - WRITER_NICE_BOOST)
        });
        match raised {
            Ok(()) => tracing::debug!("event writer thread runs at a raised priority"),
            Err(e) => tracing::debug!(
                error = %e,
                "event writer thread keeps the default priority (raising it needs CAP_SYS_NICE)"
            ),
        }
    }
}

/// Takes what is queued behind `first`, up to `max_batch` in all, and splits it into the
/// events to store and the submitters to answer.
fn take_batch(
    first: Pending,
    rx: &mut mpsc::Receiver<Pending>,
    max_batch: usize,
) -> (Vec<EventToStore>, Vec<Reply>) {
    let mut items = Vec::with_capacity(max_batch.min(rx.len() + 1));
    let mut replies = Vec::with_capacity(items.capacity());
    let mut next = Some(first);
    while let Some(p) = next {
        items.push(p.item);
        replies.push(p.reply);
        next = if items.len() < max_batch {
            rx.try_recv().ok()
        } else {
            None
        };
    }
    (items, replies)
}

/// Answers every submitter of a batch: each its own result, or all the same failure, with
/// its event when the writer still has it.
fn answer(
    replies: Vec<Reply>,
    events: Option<Vec<EventToStore>>,
    outcome: StoreResult<Vec<Ingested>>,
) {
    let mut events = events.into_iter().flatten();
    match outcome {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send((Ok(result), events.next()));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, events = replies.len(), "storing a batch of events failed");
            let message = e.to_string();
            for reply in replies {
                let _ = reply.send((Err(IngestError::Store(message.clone())), events.next()));
            }
        }
    }
}

async fn write_batches(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Pending>, max_batch: usize) {
    while let Some(first) = rx.recv().await {
        let (items, replies) = take_batch(first, &mut rx, max_batch);
        answer(replies, None, store.ingest(items).await);
    }
}

/// The writer on its own thread: it sleeps in `blocking_recv` while the queue is empty and
/// is never queued behind request handlers on the runtime.
fn write_batches_on_thread(
    mut ingester: Box<dyn BlockingIngester>,
    mut rx: mpsc::Receiver<Pending>,
    max_batch: usize,
) {
    while let Some(first) = rx.blocking_recv() {
        let (items, replies) = take_batch(first, &mut rx, max_batch);
        let outcome = ingester.ingest(&items);
        answer(replies, Some(items), outcome);
    }
}
