//! What can go wrong with a feed: fatal problems ([`FeedError`], the import stops) and
//! per-record problems ([`OfferError`], the record is skipped and the import goes on), plus the
//! [`FeedSummary`] a parse returns.

use serde::Serialize;

/// Errors a [`crate::FeedSink`] returns to stop the parse (the database failed, the import was
/// cancelled). Boxed so that every sink can use its own error type.
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// A problem that stops the whole import. Each message says what the feed is instead and what
/// to do about it; `line` is 1-based in the feed as the shop serves it.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("could not read the feed: {0}; check the file or the download and try again")]
    Io(#[from] std::io::Error),

    /// Empty, HTML, JSON, an archive, or binary: nothing to parse.
    #[error("the feed is not an XML file: {reason}")]
    NotXml { reason: String },

    /// XML that breaks the rules (unclosed tag, mismatched end tag, bad markup).
    #[error(
        "the feed is not well-formed XML near line {line}: {message}; fix the file there \
         (any XML validator shows the exact spot) and import it again"
    )]
    Malformed { line: u64, message: String },

    /// Well-formed XML, but not Yandex Market Language.
    #[error("the feed is not a YML (Yandex Market Language) feed: {reason} (line {line})")]
    NotYml { line: u64, reason: String },

    #[error(
        "the feed declares encoding \"{label}\", which is not an encoding Vestnik can decode; \
         save the feed as UTF-8 (or windows-1251) and declare that in its <?xml … encoding=\"…\"?> line"
    )]
    UnsupportedEncoding { label: String },

    /// Bytes that are not UTF-8 in a feed that declares UTF-8 or no encoding at all.
    #[error(
        "line {line} is not valid UTF-8, which the feed must be as it declares no other \
         encoding; the file is probably in another encoding (often windows-1251): declare it \
         in the first line, e.g. <?xml version=\"1.0\" encoding=\"windows-1251\"?>, or re-save \
         the file as UTF-8"
    )]
    InvalidUtf8 { line: u64 },

    /// The sink refused a record; nothing after `line` was read.
    #[error("the import stopped at line {line} of the feed: {source}")]
    Sink {
        line: u64,
        #[source]
        source: SinkError,
    },
}

/// A record (usually an offer) that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfferError {
    /// The offer's `id` attribute when it had one, so the shop can find it in its own system.
    /// For a skipped category or currency this is `None` and `reason` names the record kind.
    pub offer_id: Option<String>,
    /// Line of the record's start tag, so the shop can find it in the file.
    pub line: u64,
    /// Every problem with the record, joined by "; " (e.g. "no price; no name").
    pub reason: String,
}

/// How many skipped records keep their details; the count in [`FeedSummary::skipped`] goes
/// on past it. A feed with a systematic fault would otherwise hold a million messages.
pub const MAX_ERROR_DETAILS: usize = 1000;

/// The outcome of a parse that ran to the end. Serialises as
/// `{"offers": N, "categories": N, "skipped": N, "errors": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FeedSummary {
    /// Offers handed to the sink.
    pub offers: usize,
    /// Categories handed to the sink.
    pub categories: usize,
    /// Records left out because they were broken (all of them, not only those in `errors`).
    pub skipped: usize,
    /// Details of the first [`MAX_ERROR_DETAILS`] skipped records, in feed order.
    pub errors: Vec<OfferError>,
}

impl FeedSummary {
    pub(crate) fn record_skipped(&mut self, offer_id: Option<String>, line: u64, reason: String) {
        self.skipped += 1;
        if self.errors.len() < MAX_ERROR_DETAILS {
            self.errors.push(OfferError {
                offer_id,
                line,
                reason,
            });
        }
    }
}
