//! The byte side of a feed: recognising what the bytes are, choosing their encoding, decoding
//! them to UTF-8 as they stream past, and counting lines on the way.
//!
//! Only the first [`HEAD_LEN`] bytes are looked at up front (a BOM, the `<?xml … encoding=…?>`
//! prolog, or the tell-tale start of HTML, JSON or an archive); everything after them is
//! decoded chunk by chunk, so a feed of any size passes through a fixed amount of memory.

use std::io::{self, BufRead, Chain, Cursor, Read};

use encoding_rs::Encoding;
use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};

use crate::error::FeedError;

/// Enough for any real XML prolog plus a DOCTYPE line; the rest of the feed is never buffered
/// beyond one read chunk.
const HEAD_LEN: usize = 1024;
/// Size of the decoded-text buffer the XML reader pulls from.
const CHUNK_LEN: usize = 64 * 1024;

/// The feed's head (already read for sniffing) followed by the rest of the input.
type Rejoined<R> = Chain<Cursor<Vec<u8>>, R>;

/// The feed as UTF-8 bytes: passed through when it already is UTF-8 (quick-xml validates it),
/// transcoded by encoding_rs otherwise.
pub(crate) enum Utf8Bytes<R: Read> {
    AsIs(Rejoined<R>),
    Transcoded(Box<DecodeReaderBytes<Rejoined<R>, Vec<u8>>>),
}

impl<R: Read> Read for Utf8Bytes<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            Utf8Bytes::AsIs(r) => r.read(out),
            Utf8Bytes::Transcoded(r) => r.read(out),
        }
    }
}

/// Opens a feed: rejects what is plainly not XML, picks the encoding, and returns a UTF-8
/// stream that counts lines.
pub(crate) fn open<R: Read>(mut input: R) -> Result<LineCountingReader<Utf8Bytes<R>>, FeedError> {
    let mut head = Vec::with_capacity(HEAD_LEN);
    input
        .by_ref()
        .take(HEAD_LEN as u64)
        .read_to_end(&mut head)?;

    let (encoding, bom_len) = match Encoding::for_bom(&head) {
        Some((enc, len)) => (enc, len),
        None => (detect_without_bom(&head)?, 0),
    };
    if encoding == encoding_rs::UTF_8 {
        reject_non_xml(&head[bom_len..])?;
        // quick-xml skips a UTF-8 BOM itself.
        let bytes = Utf8Bytes::AsIs(Cursor::new(head).chain(input));
        return Ok(LineCountingReader::new(bytes));
    }
    if !is_utf16(encoding) {
        // Every other encoding encoding_rs decodes is ASCII-compatible, so the same sniffing
        // applies to the raw bytes.
        reject_non_xml(&head[bom_len..])?;
    }
    let decoder = DecodeReaderBytesBuilder::new()
        .encoding(Some(encoding))
        .strip_bom(true)
        .build(Cursor::new(head).chain(input));
    let bytes = Utf8Bytes::Transcoded(Box::new(decoder));
    Ok(LineCountingReader::new(bytes))
}

fn is_utf16(encoding: &'static Encoding) -> bool {
    encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE
}

/// Without a BOM: UTF-16 shows itself by NUL bytes around `<?`; anything else is read as
/// ASCII far enough to find the prolog's `encoding` label. No prolog or no label means UTF-8,
/// as the XML specification says.
fn detect_without_bom(head: &[u8]) -> Result<&'static Encoding, FeedError> {
    if head.starts_with(&[b'<', 0, b'?', 0]) {
        return Ok(encoding_rs::UTF_16LE);
    }
    if head.starts_with(&[0, b'<', 0, b'?']) {
        return Ok(encoding_rs::UTF_16BE);
    }
    let Some(label) = declared_encoding(head) else {
        return Ok(encoding_rs::UTF_8);
    };
    match Encoding::for_label(label.as_bytes()) {
        // "replacement" stands for encodings that are unsafe to decode (ISO-2022-KR and kin).
        Some(enc) if enc == encoding_rs::REPLACEMENT => Err(unsupported(label)),
        // The prolog was readable as ASCII, so the bytes are not UTF-16 whatever the label
        // says; the Encoding Standard treats such a label as UTF-8.
        Some(enc) => Ok(enc.output_encoding()),
        None => Err(unsupported(label)),
    }
}

fn unsupported(label: String) -> FeedError {
    FeedError::UnsupportedEncoding { label }
}

/// The `encoding="…"` value of an `<?xml …?>` prolog at the very start of `head`.
fn declared_encoding(head: &[u8]) -> Option<String> {
    let rest = head.strip_prefix(b"<?xml")?;
    let end = rest.windows(2).position(|w| w == b"?>")?;
    let prolog = std::str::from_utf8(&rest[..end]).ok()?;
    let after_key = &prolog[prolog.find("encoding")? + "encoding".len()..];
    let after_eq = after_key.trim_start().strip_prefix('=')?.trim_start();
    let quote = after_eq
        .chars()
        .next()
        .filter(|c| *c == '"' || *c == '\'')?;
    let value = &after_eq[1..];
    let close = value.find(quote)?;
    Some(value[..close].trim().to_string())
}

/// Gives the common non-feeds (an empty body, an HTML page, JSON, an archive) a message that
/// says what they are, before the XML reader would call them merely "ill-formed".
fn reject_non_xml(head: &[u8]) -> Result<(), FeedError> {
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    let body = &head[start..];
    let not_xml = |reason: String| Err(FeedError::NotXml { reason });
    match body.first() {
        None => {
            not_xml("the file is empty; check that the feed URL returns the YML file itself".into())
        }
        Some(b'{' | b'[') => not_xml(
            "it looks like JSON (it starts with `{` or `[`); a YML feed is an XML file that \
             starts with <?xml … ?> and <yml_catalog>"
                .into(),
        ),
        Some(0x1f) if body.get(1) == Some(&0x8b) => not_xml(
            "it is gzip-compressed; decompress it (or serve it uncompressed) and import again"
                .into(),
        ),
        Some(b'P') if body.starts_with(b"PK\x03\x04") => {
            not_xml("it is a ZIP archive; extract the .xml file from it and import that".into())
        }
        Some(b'<') if looks_like_html(body) => not_xml(HTML_REASON.into()),
        Some(b'<') => Ok(()),
        Some(_) => not_xml(format!(
            "it does not start with `<` (it starts with {}); check that the feed URL \
             returns the YML file and not an error page or a different format",
            describe_bytes(body)
        )),
    }
}

pub(crate) const HTML_REASON: &str = "it is an HTML page, not a YML feed; the feed URL \
    probably points at a web page (a shop page, a login form or an error page) instead of \
    the XML file";

fn looks_like_html(body: &[u8]) -> bool {
    let prefix: Vec<u8> = body.iter().take(32).map(u8::to_ascii_lowercase).collect();
    prefix.starts_with(b"<!doctype html") || prefix.starts_with(b"<html")
}

/// The first few bytes: as text when they read as text (an error page, CSV), in hex otherwise.
fn describe_bytes(body: &[u8]) -> String {
    let sample = &body[..body.len().min(40)];
    let text = match std::str::from_utf8(sample) {
        Ok(text) => text,
        // A sample cut inside a multi-byte character is still text.
        Err(e) => std::str::from_utf8(&sample[..e.valid_up_to()]).unwrap_or_default(),
    };
    let text = text.lines().next().unwrap_or_default();
    if text.len() >= 4.min(body.len()) && !text.chars().any(char::is_control) {
        let more = if text.len() < body.len() { "…" } else { "" };
        return format!("`{text}{more}`");
    }
    let hex: Vec<String> = body.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("the bytes {}", hex.join(" "))
}

/// A buffered reader that knows the line of the byte the XML reader will consume next.
///
/// quick-xml consumes exactly up to the end of each event, so after an event is returned
/// `line()` is the line on which that event ends. Newlines are counted when a line is asked
/// for (and before a refill), not on every `consume`: quick-xml consumes a few bytes at a
/// time, and counting each piece separately cost more than the rest of the line bookkeeping.
pub(crate) struct LineCountingReader<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    /// Newlines in everything before `buf[counted..]`.
    newlines: u64,
    /// How far into `buf` `newlines` has counted; never past `pos`.
    counted: usize,
}

impl<R: Read> LineCountingReader<R> {
    fn new(inner: R) -> Self {
        LineCountingReader {
            inner,
            buf: vec![0; CHUNK_LEN].into_boxed_slice(),
            pos: 0,
            filled: 0,
            newlines: 0,
            counted: 0,
        }
    }

    /// 1-based line of the next unconsumed byte.
    pub(crate) fn line(&mut self) -> u64 {
        self.newlines += count_newlines(&self.buf[self.counted..self.pos]);
        self.counted = self.pos;
        self.newlines + 1
    }
}

pub(crate) fn count_newlines(bytes: &[u8]) -> u64 {
    // memchr counts with vector instructions, not a branch per byte.
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

impl<R: Read> Read for LineCountingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for LineCountingReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.filled {
            // The buffer is about to be overwritten: count what is left of it first.
            self.line();
            self.filled = loop {
                match self.inner.read(&mut self.buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            self.pos = 0;
            self.counted = 0;
        }
        Ok(&self.buf[self.pos..self.filled])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.filled);
    }
}

impl<R> LineCountingReader<R> {
    /// The bytes read but not yet consumed, without reading more: a fast path may take whole
    /// records from here when they are entirely in memory already.
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..self.filled]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_encoding_label_from_the_prolog() {
        let head = br#"<?xml version="1.0" encoding='windows-1251' standalone="yes"?><a/>"#;
        assert_eq!(declared_encoding(head).as_deref(), Some("windows-1251"));
        assert_eq!(declared_encoding(b"<?xml version=\"1.0\"?><a/>"), None);
        assert_eq!(declared_encoding(b"<a/>"), None);
    }

    #[test]
    fn counts_lines_of_consumed_bytes_only() {
        let mut r = LineCountingReader::new(&b"a\nb\nc"[..]);
        assert_eq!(r.line(), 1);
        let n = r.fill_buf().map(|b| b.len()).unwrap_or(0);
        assert_eq!(n, 5);
        r.consume(2);
        assert_eq!(r.line(), 2);
        r.consume(3);
        assert_eq!(r.line(), 3);
    }

    #[test]
    fn describes_binary_starts_in_hex() {
        assert_eq!(describe_bytes(&[0, 1, 0xff]), "the bytes 00 01 ff");
        assert_eq!(describe_bytes(b"Hello"), "`Hello`");
        assert_eq!(describe_bytes(b"id;name\n1;x"), "`id;name…`");
    }
}
