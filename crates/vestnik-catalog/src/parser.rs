//! The XML side of a feed: walks quick-xml events through
//! `yml_catalog/shop/{currencies,categories,offers}` and hands each finished record to the
//! sink. Only the record being read is held in memory.

use std::io::Read;

use quick_xml::escape::{minimal_escape, resolve_predefined_entity};
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::reader::Reader;

use crate::error::{FeedError, FeedSummary};
use crate::model::{Category, Currency, ExtraField, Shop};
use crate::offer::OfferDraft;
use crate::sink::FeedSink;
use crate::source::{self, HTML_REASON, LineCountingReader, Utf8Bytes, count_newlines};

/// Longest text of one field. Keeps one hostile or broken offer (a description with a video
/// pasted in as base64) from taking the importer's memory; such an offer is skipped.
pub const MAX_FIELD_BYTES: usize = 1024 * 1024;

type Attributes = Vec<(String, String)>;

pub(crate) struct FeedParser<R: Read> {
    xml: Reader<LineCountingReader<Utf8Bytes<R>>>,
    /// quick-xml's event buffer, reused for every event.
    buf: Vec<u8>,
    summary: FeedSummary,
}

/// The text of an element, or its inner XML when it has child elements.
#[derive(Default)]
struct Content {
    value: String,
    has_children: bool,
    too_long: bool,
}

impl Content {
    fn push(&mut self, text: &str) {
        if self.value.len() + text.len() > MAX_FIELD_BYTES {
            self.too_long = true;
        } else if !self.too_long {
            self.value.push_str(text);
        }
    }

    /// From here on `value` is inner XML: the text read so far is escaped to match.
    fn switch_to_markup(&mut self) {
        if !self.has_children {
            self.has_children = true;
            self.value = minimal_escape(std::mem::take(&mut self.value)).into_owned();
        }
    }

    fn into_trimmed(self) -> String {
        let trimmed = self.value.trim();
        if trimmed.len() == self.value.len() {
            self.value
        } else {
            trimmed.to_string()
        }
    }
}

/// What a start tag is, taken out of the event so the reader can move on.
struct Opened {
    tag: String,
    attributes: Result<Attributes, String>,
    /// `<tag/>`: there is no content to read.
    empty: bool,
    line: u64,
}

impl<R: Read> FeedParser<R> {
    pub(crate) fn open(input: R) -> Result<Self, FeedError> {
        let bytes = source::open(input)?;
        let mut xml = Reader::from_reader(bytes);
        let config = xml.config_mut();
        // `Urban&Co` is common in real feeds; keep the `&` instead of refusing the feed.
        config.allow_dangling_amp = true;
        config.check_end_names = true;
        Ok(FeedParser {
            xml,
            buf: Vec::with_capacity(4096),
            summary: FeedSummary::default(),
        })
    }

    pub(crate) fn run(mut self, sink: &mut impl FeedSink) -> Result<FeedSummary, FeedError> {
        let (generated_at, root_line) = self.read_root()?;
        let mut generated_at = Some(generated_at);
        let mut shop_seen = false;
        loop {
            match self.next_open_or_close()? {
                Some(el) if el.tag == "shop" => {
                    shop_seen = true;
                    let shop = Shop {
                        generated_at: generated_at.take().flatten(),
                        ..Shop::default()
                    };
                    if el.empty {
                        self.deliver_shop(shop, el.line, sink)?;
                    } else {
                        self.read_shop(shop, sink)?;
                    }
                }
                Some(el) => self.skip_unless_empty(&el)?,
                None => break,
            }
        }
        if !shop_seen {
            return Err(FeedError::NotYml {
                line: root_line,
                reason: "<yml_catalog> has no <shop> element, and a YML feed keeps its \
                         currencies, categories and offers inside <shop>"
                    .into(),
            });
        }
        Ok(self.summary)
    }

    /// The next event, with the line a start tag starts on (for other events, the line the
    /// reader has reached).
    fn next(&mut self) -> Result<(Event<'_>, u64), FeedError> {
        self.buf.clear();
        let event = self.xml.read_event_into(&mut self.buf);
        let line_now = self.xml.get_ref().line();
        match event {
            // Only start tags need their own first line (a tag may span lines); for the
            // rest the current line is close enough and saves a scan of every text.
            Ok(event @ (Event::Start(_) | Event::Empty(_))) => {
                let line = line_now.saturating_sub(count_newlines(&event));
                Ok((event, line))
            }
            Ok(event) => Ok((event, line_now)),
            Err(quick_xml::Error::Io(e)) => {
                Err(FeedError::Io(std::io::Error::new(e.kind(), e.to_string())))
            }
            // Only UTF-8 input reaches quick-xml undecoded, so this is always about UTF-8.
            Err(quick_xml::Error::Encoding(_)) => Err(FeedError::InvalidUtf8 { line: line_now }),
            Err(e) => Err(FeedError::Malformed {
                line: line_now,
                message: e.to_string(),
            }),
        }
    }

    /// Skips text, comments and the like up to the next start tag (`Some`) or the end tag of
    /// the current element (`None`).
    fn next_open_or_close(&mut self) -> Result<Option<Opened>, FeedError> {
        loop {
            let (event, line) = self.next()?;
            let (e, empty) = match event {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(_) => return Ok(None),
                Event::Eof => {
                    let line = self.xml.get_ref().line();
                    return Err(FeedError::Malformed {
                        line,
                        message: "the file ends before its elements are closed (is it cut off?)"
                            .into(),
                    });
                }
                _ => continue,
            };
            return Ok(Some(Opened {
                tag: e.name().as_ref().to_string(),
                attributes: attributes(&e),
                empty,
                line,
            }));
        }
    }

    /// Finds `<yml_catalog>` and returns its `date` and line, or says what the file is instead.
    fn read_root(&mut self) -> Result<(Option<String>, u64), FeedError> {
        loop {
            let (event, line) = self.next()?;
            let (e, empty) = match event {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::DocType(d) if d.trim().to_ascii_lowercase().starts_with("html") => {
                    return Err(FeedError::NotXml {
                        reason: HTML_REASON.into(),
                    });
                }
                Event::Text(t) if t.trim().is_empty() => continue,
                Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) => {
                    return Err(FeedError::NotXml {
                        reason: format!(
                            "line {line} has text outside any element; an XML file starts \
                             with <?xml … ?> or its root element"
                        ),
                    });
                }
                Event::Eof => {
                    return Err(FeedError::NotXml {
                        reason: "it contains no elements".into(),
                    });
                }
                _ => continue,
            };
            let name = e.name().as_ref().to_string();
            if name == "yml_catalog" && empty {
                return Err(FeedError::NotYml {
                    line,
                    reason: "<yml_catalog/> is empty; a YML feed keeps its currencies, \
                             categories and offers in a <shop> inside it"
                        .into(),
                });
            }
            if name == "yml_catalog" {
                let date = attributes(&e)
                    .ok()
                    .and_then(|attrs| attrs.into_iter().find(|(k, _)| k == "date"))
                    .map(|(_, v)| v);
                return Ok((date, line));
            }
            if name.eq_ignore_ascii_case("html") {
                return Err(FeedError::NotXml {
                    reason: HTML_REASON.into(),
                });
            }
            let hint = match name.as_str() {
                "rss" | "feed" => {
                    "; it looks like an RSS/Atom or Google Merchant feed, export the \
                     catalogue in Yandex Market (YML) format instead"
                }
                _ => "",
            };
            return Err(FeedError::NotYml {
                line,
                reason: format!("its root element is <{name}>, not <yml_catalog>{hint}"),
            });
        }
    }

    fn read_shop(&mut self, shop: Shop, sink: &mut impl FeedSink) -> Result<(), FeedError> {
        // Delivered when the first section starts: what comes before is the shop's header.
        let mut pending = Some(shop);
        while let Some(el) = self.next_open_or_close()? {
            let section = matches!(el.tag.as_str(), "currencies" | "categories" | "offers");
            if section {
                if let Some(shop) = pending.take() {
                    self.deliver_shop(shop, el.line, sink)?;
                }
                if el.empty {
                    continue;
                }
                match el.tag.as_str() {
                    "currencies" => self.read_currencies(sink)?,
                    "categories" => self.read_categories(sink)?,
                    _ => self.read_offers(sink)?,
                }
                continue;
            }
            let content = self.read_content_unless_empty(&el)?;
            let Some(shop) = pending.as_mut() else {
                continue;
            };
            if content.has_children || content.too_long {
                continue;
            }
            let value = content.into_trimmed();
            match el.tag.as_str() {
                "name" => shop.name = Some(value),
                "company" => shop.company = Some(value),
                "url" => shop.url = Some(value),
                _ => shop.extra.push(ExtraField {
                    name: el.tag,
                    attributes: el.attributes.unwrap_or_default().into_iter().collect(),
                    value,
                }),
            }
        }
        if let Some(shop) = pending.take() {
            let line = self.xml.get_ref().line();
            self.deliver_shop(shop, line, sink)?;
        }
        Ok(())
    }

    fn deliver_shop(
        &mut self,
        shop: Shop,
        line: u64,
        sink: &mut impl FeedSink,
    ) -> Result<(), FeedError> {
        sink.shop(shop)
            .map_err(|source| FeedError::Sink { line, source })
    }

    fn read_currencies(&mut self, sink: &mut impl FeedSink) -> Result<(), FeedError> {
        while let Some(el) = self.next_open_or_close()? {
            self.skip_unless_empty(&el)?;
            if el.tag != "currency" {
                continue;
            }
            let attrs = match el.attributes {
                Ok(attrs) => attrs,
                Err(e) => {
                    let reason = format!("currency skipped: {e}");
                    self.summary.record_skipped(None, el.line, reason);
                    continue;
                }
            };
            let (id, rate, plus) = (
                find(&attrs, "id"),
                find(&attrs, "rate"),
                find(&attrs, "plus"),
            );
            let Some(id) = id else {
                let reason = "currency skipped: no id (add id=\"RUR\" or the like)".into();
                self.summary.record_skipped(None, el.line, reason);
                continue;
            };
            let line = el.line;
            sink.currency(Currency { id, rate, plus })
                .map_err(|source| FeedError::Sink { line, source })?;
        }
        Ok(())
    }

    fn read_categories(&mut self, sink: &mut impl FeedSink) -> Result<(), FeedError> {
        while let Some(el) = self.next_open_or_close()? {
            let content = self.read_content_unless_empty(&el)?;
            if el.tag != "category" {
                continue;
            }
            let attrs = match el.attributes {
                Ok(attrs) => attrs,
                Err(e) => {
                    let reason = format!("category skipped: {e}");
                    self.summary.record_skipped(None, el.line, reason);
                    continue;
                }
            };
            let name = content.into_trimmed();
            let Some(id) = find(&attrs, "id") else {
                let reason = format!(
                    "category \"{name}\" skipped: no id (add id=\"…\" so offers can refer to it)"
                );
                self.summary.record_skipped(None, el.line, reason);
                continue;
            };
            let parent_id = find(&attrs, "parentId");
            let line = el.line;
            sink.category(Category {
                id,
                parent_id,
                name,
            })
            .map_err(|source| FeedError::Sink { line, source })?;
            self.summary.categories += 1;
        }
        Ok(())
    }

    fn read_offers(&mut self, sink: &mut impl FeedSink) -> Result<(), FeedError> {
        while let Some(el) = self.next_open_or_close()? {
            if el.tag != "offer" {
                self.skip_unless_empty(&el)?;
                continue;
            }
            let mut draft = match el.attributes {
                Ok(attrs) => OfferDraft::new(el.line, attrs),
                Err(e) => {
                    let mut draft = OfferDraft::new(el.line, Vec::new());
                    draft.add_problem(format!("<offer> has a malformed attribute: {e}"));
                    draft
                }
            };
            if !el.empty {
                self.read_offer_children(&mut draft)?;
            }
            let (id, line) = (draft.id(), draft.line());
            match draft.finish() {
                Ok(offer) => {
                    sink.offer(offer)
                        .map_err(|source| FeedError::Sink { line, source })?;
                    self.summary.offers += 1;
                }
                Err(reason) => self.summary.record_skipped(id, line, reason),
            }
        }
        Ok(())
    }

    fn read_offer_children(&mut self, draft: &mut OfferDraft) -> Result<(), FeedError> {
        while let Some(el) = self.next_open_or_close()? {
            let content = self.read_content_unless_empty(&el)?;
            if content.too_long {
                draft.add_problem(format!(
                    "<{}> is longer than {MAX_FIELD_BYTES} bytes",
                    el.tag
                ));
                continue;
            }
            match el.attributes {
                Ok(attrs) => draft.add_child(&el.tag, attrs, content.into_trimmed()),
                Err(e) => draft.add_problem(format!("<{}> has a malformed attribute: {e}", el.tag)),
            }
        }
        Ok(())
    }

    fn read_content_unless_empty(&mut self, el: &Opened) -> Result<Content, FeedError> {
        if el.empty {
            Ok(Content::default())
        } else {
            self.read_content()
        }
    }

    fn skip_unless_empty(&mut self, el: &Opened) -> Result<(), FeedError> {
        if el.empty {
            return Ok(());
        }
        let mut depth = 0usize;
        loop {
            match self.next()?.0 {
                Event::Start(_) => depth += 1,
                Event::End(_) if depth == 0 => return Ok(()),
                Event::End(_) => depth -= 1,
                Event::Eof => return Err(self.cut_off()),
                _ => {}
            }
        }
    }

    /// Reads up to the end tag of the element just opened: its text with references resolved
    /// and CDATA as is, or its inner XML as written once a child element appears.
    fn read_content(&mut self) -> Result<Content, FeedError> {
        let mut content = Content::default();
        let mut depth = 0usize;
        loop {
            let (event, _) = self.next()?;
            match event {
                Event::Text(t) if content.has_children => content.push(&t),
                Event::Text(t) => content.push(&t.xml10_content()),
                Event::CData(t) if content.has_children => {
                    content.push("<![CDATA[");
                    content.push(&t);
                    content.push("]]>");
                }
                Event::CData(t) => content.push(&t),
                Event::GeneralRef(r) if content.has_children => {
                    content.push("&");
                    content.push(&r);
                    content.push(";");
                }
                Event::GeneralRef(r) => push_resolved(&mut content, &r),
                Event::Start(e) => {
                    depth += 1;
                    content.switch_to_markup();
                    content.push("<");
                    content.push(&e);
                    content.push(">");
                }
                Event::Empty(e) => {
                    content.switch_to_markup();
                    content.push("<");
                    content.push(&e);
                    content.push("/>");
                }
                Event::End(_) if depth == 0 => return Ok(content),
                Event::End(e) => {
                    depth -= 1;
                    content.push("</");
                    content.push(&e);
                    content.push(">");
                }
                Event::Eof => return Err(self.cut_off()),
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
    }

    fn cut_off(&self) -> FeedError {
        FeedError::Malformed {
            line: self.xml.get_ref().line(),
            message: "the file ends inside an element (is it cut off?)".into(),
        }
    }
}

/// The start tag's attributes with values unescaped, or what is wrong with them.
fn attributes(e: &BytesStart<'_>) -> Result<Attributes, String> {
    let mut out = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| err.to_string())?;
        out.push((attr.key.as_ref().to_string(), unescape_lenient(&attr.value)));
    }
    Ok(out)
}

fn find(attrs: &Attributes, key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The text a reference stands for; an unknown one (`&nbsp;` in a feed without a DTD) stays
/// as written rather than failing the feed.
fn push_resolved(content: &mut Content, reference: &BytesRef<'_>) {
    if let Some(text) = resolve_predefined_entity(reference) {
        content.push(text);
        return;
    }
    if let Ok(Some(ch)) = reference.resolve_char_ref() {
        content.push(ch.encode_utf8(&mut [0; 4]));
        return;
    }
    content.push("&");
    content.push(reference);
    content.push(";");
}

/// Attribute-value unescaping that keeps a lone `&` or an unknown entity as written.
fn unescape_lenient(raw: &str) -> String {
    if !raw.contains('&') {
        return raw.to_string();
    }
    let mut out = Content::default();
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push(&rest[..amp]);
        let after = &rest[amp + 1..];
        let name_end = after
            .find(|c: char| !(c.is_alphanumeric() || c == '#' || c == '_' || c == '-' || c == '.'));
        match name_end {
            Some(end) if end > 0 && after[end..].starts_with(';') => {
                push_resolved(&mut out, &BytesRef::new(&after[..end]));
                rest = &after[end + 1..];
            }
            _ => {
                out.push("&");
                rest = after;
            }
        }
    }
    out.push(rest);
    out.value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_attributes_leniently() {
        assert_eq!(unescape_lenient("a &amp; b"), "a & b");
        assert_eq!(unescape_lenient("Urban&Co"), "Urban&Co");
        assert_eq!(unescape_lenient("x&#1071;y&#x44F;"), "xЯyя");
        assert_eq!(unescape_lenient("a&nbsp;b"), "a&nbsp;b");
        assert_eq!(unescape_lenient("&"), "&");
    }
}
