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
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
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

/// A submission's answer, one result per event, with its events handed back: freeing an event
/// (its decoded params) was a twentieth of the writer thread's time, which the submitter's task
/// spends instead.
type Answer = (Vec<Result<Ingested, IngestError>>, Vec<EventToStore>);
type Reply = oneshot::Sender<Answer>;

/// One submission (a request's events) in the queue: one entry and one answer for all of its
/// events, not one per event, so a batch request costs the writer one hand-off, not a hundred.
struct Pending {
    items: Vec<EventToStore>,
    reply: Reply,
    /// The submission's share of the queue, one permit per event, given back when the writer
    /// takes its events.
    _room: OwnedSemaphorePermit,
}

/// The submitting side; cheap to clone. The writer ends after the last clone is dropped
/// and everything queued has been written.
#[derive(Clone)]
pub struct EventWriter {
    queue: mpsc::UnboundedSender<Pending>,
    /// Room in the queue, counted in events (`EventWriterConfig::queue`): the channel itself is
    /// unbounded, the permits bound it.
    room: Arc<Semaphore>,
}

impl EventWriter {
    /// Starts the writer: on a thread of its own when the store can write on the calling
    /// thread (SQLite), else as a task on the current tokio runtime.
    pub fn start(store: Arc<dyn Store>, config: EventWriterConfig) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(
            config.queue.clamp(1, Semaphore::MAX_PERMITS),
        ));
        let max_batch = config.max_batch.max(1);
        match store.blocking_ingester() {
            Some(ingester) => {
                // The thread owns the receiver; if it cannot start, nothing was moved yet
                // that the task could not take instead.
                let (handoff, rx_slot) =
                    std::sync::mpsc::sync_channel::<mpsc::UnboundedReceiver<Pending>>(1);
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
        EventWriter { queue, room }
    }

    /// Queues one event and waits until its batch is committed.
    pub async fn submit(&self, item: EventToStore) -> Result<Ingested, IngestError> {
        self.submit_all(vec![item])
            .await
            .pop()
            .unwrap_or(Err(IngestError::Stopped))
    }

    /// Queues several events, all or none (a queue without room for all of them refuses them
    /// all), and waits until they are committed, all in the same batch.
    pub async fn submit_all(&self, items: Vec<EventToStore>) -> Vec<Result<Ingested, IngestError>> {
        let refuse = |error: IngestError, n: usize| vec![Err(error); n];
        let n = items.len();
        if n == 0 {
            return Vec::new();
        }
        let room = u32::try_from(n)
            .ok()
            .and_then(|permits| self.room.clone().try_acquire_many_owned(permits).ok());
        let Some(room) = room else {
            return refuse(IngestError::Overloaded, n);
        };
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            items,
            reply,
            _room: room,
        };
        if self.queue.send(pending).is_err() {
            return refuse(IngestError::Stopped, n);
        }
        match answer.await {
            Ok((results, _events)) if results.len() == n => results,
            _ => refuse(IngestError::Stopped, n),
        }
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

/// Takes the submissions queued behind `first` while the batch holds fewer than `max_batch`
/// events (a submission is never split, so the last one may take it past), and splits them
/// into the events to store and, in the same order, the submitters to answer with how many
/// events each sent.
fn take_batch(
    first: Pending,
    rx: &mut mpsc::UnboundedReceiver<Pending>,
    max_batch: usize,
) -> (Vec<EventToStore>, Vec<(Reply, usize)>) {
    let mut items = Vec::with_capacity(max_batch.max(first.items.len()));
    let mut replies = Vec::new();
    let mut next = Some(first);
    while let Some(p) = next {
        replies.push((p.reply, p.items.len()));
        items.extend(p.items);
        // `p._room` is dropped here: the events are the writer's now.
        next = if items.len() < max_batch {
            rx.try_recv().ok()
        } else {
            None
        };
    }
    (items, replies)
}

/// Answers every submitter of a batch: each its own results, or all the same failure, with
/// its events when the writer still has them.
fn answer(
    replies: Vec<(Reply, usize)>,
    events: Option<Vec<EventToStore>>,
    outcome: StoreResult<Vec<Ingested>>,
) {
    let mut events = events.unwrap_or_default().into_iter();
    let mut give_back = |n: usize| -> Vec<EventToStore> { events.by_ref().take(n).collect() };
    match outcome {
        Ok(results) => {
            let mut results = results.into_iter();
            for (reply, n) in replies {
                let mine: Vec<_> = results.by_ref().take(n).map(Ok).collect();
                let _ = reply.send((mine, give_back(n)));
            }
        }
        Err(e) => {
            let total: usize = replies.iter().map(|(_, n)| n).sum();
            tracing::error!(error = %e, events = total, "storing a batch of events failed");
            let message = e.to_string();
            for (reply, n) in replies {
                let failed = vec![Err(IngestError::Store(message.clone())); n];
                let _ = reply.send((failed, give_back(n)));
            }
        }
    }
}

async fn write_batches(
    store: Arc<dyn Store>,
    mut rx: mpsc::UnboundedReceiver<Pending>,
    max_batch: usize,
) {
    while let Some(first) = rx.recv().await {
        let (items, replies) = take_batch(first, &mut rx, max_batch);
        answer(replies, None, store.ingest(items).await);
    }
}

/// The writer on its own thread: it sleeps in `blocking_recv` while the queue is empty and
/// is never queued behind request handlers on the runtime.
fn write_batches_on_thread(
    mut ingester: Box<dyn BlockingIngester>,
    mut rx: mpsc::UnboundedReceiver<Pending>,
    max_batch: usize,
) {
    while let Some(first) = rx.blocking_recv() {
        let (items, replies) = take_batch(first, &mut rx, max_batch);
        let outcome = ingester.ingest(&items);
        answer(replies, Some(items), outcome);
    }
}
