//! The XML side of a feed: walks quick-xml events through
//! `yml_catalog/shop/{currencies,categories,offers}` and hands each finished record to the
//! sink. Only the record being read is held in memory. Offers plain enough for
//! `plain_offer` skip the events and are read from the buffered bytes directly.

use std::io::{BufRead, Read};

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::reader::Reader;

use crate::content::{Content, push_resolved};
use crate::error::{FeedError, FeedSummary};
use crate::model::{Category, Currency, ExtraField, Shop};
use crate::offer::OfferDraft;
use crate::plain_offer::PlainOffers;
use crate::sink::FeedSink;
use crate::source::{self, HTML_REASON, LineCountingReader, Utf8Bytes, count_newlines};
use crate::tag::Tag;

pub(crate) type Attributes = Vec<(String, String)>;
type Xml<R> = Reader<LineCountingReader<Utf8Bytes<R>>>;

pub(crate) struct FeedParser<R: Read> {
    xml: Xml<R>,
    /// quick-xml's event buffer, reused for every event.
    buf: Vec<u8>,
    /// The element being read, reused from one element to the next so that a field costs
    /// one allocation of its final size rather than a growing string per element.
    content: Content,
    /// Tried before each offer; falls back to the events for anything it does not handle.
    plain_offers: PlainOffers,
    summary: FeedSummary,
}

/// What a start tag is, taken out of the event so the reader can move on.
struct Opened {
    tag: Tag,
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
            content: Content::default(),
            plain_offers: PlainOffers::default(),
            summary: FeedSummary::default(),
        })
    }

    pub(crate) fn run(mut self, sink: &mut impl FeedSink) -> Result<FeedSummary, FeedError> {
        let (generated_at, root_line) = self.read_root()?;
        let mut generated_at = Some(generated_at);
        let mut shop_seen = false;
        loop {
            match self.next_open_or_close(keep_all)? {
                Some(el) if el.tag == Tag::Shop => {
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

    /// Skips text, comments and the like up to the next start tag (`Some`) or the end tag of
    /// the current element (`None`). Attributes of tags for which `keeps_attributes` is false
    /// are only checked, not copied.
    fn next_open_or_close(
        &mut self,
        keeps_attributes: impl Fn(&Tag) -> bool,
    ) -> Result<Option<Opened>, FeedError> {
        loop {
            let (e, empty) = match next_event(&mut self.xml, &mut self.buf)? {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(_) => return Ok(None),
                Event::Eof => {
                    let line = self.xml.get_mut().line();
                    return Err(FeedError::Malformed {
                        line,
                        message: "the file ends before its elements are closed (is it cut off?)"
                            .into(),
                    });
                }
                _ => continue,
            };
            let tag = Tag::of(e.name().as_ref());
            let attributes = if keeps_attributes(&tag) {
                attributes(&e)
            } else {
                check_attributes(&e)
            };
            return Ok(Some(Opened {
                tag,
                attributes,
                empty,
                line: start_line(&mut self.xml, &e),
            }));
        }
    }

    /// Finds `<yml_catalog>` and returns its `date` and line, or says what the file is instead.
    fn read_root(&mut self) -> Result<(Option<String>, u64), FeedError> {
        loop {
            let (e, empty) = match next_event(&mut self.xml, &mut self.buf)? {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::DocType(d) if d.trim().to_ascii_lowercase().starts_with("html") => {
                    return Err(FeedError::NotXml {
                        reason: HTML_REASON.into(),
                    });
                }
                Event::Text(t) if t.trim().is_empty() => continue,
                Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) => {
                    let line = self.xml.get_mut().line();
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
            let line = start_line(&mut self.xml, &e);
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
        while let Some(el) = self.next_open_or_close(keep_all)? {
            let section = matches!(el.tag, Tag::Currencies | Tag::Categories | Tag::Offers);
            if section {
                if let Some(shop) = pending.take() {
                    self.deliver_shop(shop, el.line, sink)?;
                }
                if el.empty {
                    continue;
                }
                match el.tag {
                    Tag::Currencies => self.read_currencies(sink)?,
                    Tag::Categories => self.read_categories(sink)?,
                    _ => self.read_offers(sink)?,
                }
                continue;
            }
            self.read_content_unless_empty(&el)?;
            let Some(shop) = pending.as_mut() else {
                continue;
            };
            if self.content.has_children || self.content.too_long {
                continue;
            }
            let value = self.content.trimmed();
            match el.tag {
                Tag::Name => shop.name = Some(value),
                Tag::Company => shop.company = Some(value),
                Tag::Url => shop.url = Some(value),
                other => shop.extra.push(ExtraField {
                    name: other.into_name(),
                    attributes: el.attributes.unwrap_or_default().into_iter().collect(),
                    value,
                }),
            }
        }
        if let Some(shop) = pending.take() {
            let line = self.xml.get_mut().line();
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
        while let Some(el) = self.next_open_or_close(keep_all)? {
            self.skip_unless_empty(&el)?;
            if el.tag != Tag::Currency {
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
        while let Some(el) = self.next_open_or_close(keep_all)? {
            self.read_content_unless_empty(&el)?;
            if el.tag != Tag::Category {
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
            let name = self.content.trimmed();
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
        loop {
            let reader = self.xml.get_mut();
            let line = reader.line();
            let plain = self
                .plain_offers
                .read(reader.buffered(), line, &mut self.content);
            if let Some((draft, len)) = plain {
                // quick-xml is between elements here and holds no bytes of its own, so taking
                // a whole element from under it leaves it where it would have been.
                self.xml.get_mut().consume(len);
                self.deliver_offer(draft, sink)?;
                continue;
            }
            let Some(el) = self.next_open_or_close(keep_all)? else {
                return Ok(());
            };
            if el.tag != Tag::Offer {
                self.skip_unless_empty(&el)?;
                continue;
            }
            let mut draft = OfferDraft::from_start_tag(el.line, el.attributes);
            if !el.empty {
                self.read_offer_children(&mut draft)?;
            }
            self.deliver_offer(draft, sink)?;
        }
    }

    fn deliver_offer(
        &mut self,
        draft: OfferDraft,
        sink: &mut impl FeedSink,
    ) -> Result<(), FeedError> {
        let line = draft.line();
        match draft.into_offer() {
            Ok(offer) => {
                sink.offer(offer)
                    .map_err(|source| FeedError::Sink { line, source })?;
                self.summary.offers += 1;
            }
            Err((id, reason)) => self.summary.record_skipped(id, line, reason),
        }
        Ok(())
    }

    fn read_offer_children(&mut self, draft: &mut OfferDraft) -> Result<(), FeedError> {
        while let Some(el) = self.next_open_or_close(OfferDraft::keeps_attributes_of)? {
            self.read_content_unless_empty(&el)?;
            draft.add_read_child(el.tag, el.attributes, &self.content);
        }
        Ok(())
    }

    /// Reads the element's content into `self.content` (nothing for `<tag/>`).
    fn read_content_unless_empty(&mut self, el: &Opened) -> Result<(), FeedError> {
        if el.empty {
            self.content.clear();
            Ok(())
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
            match next_event(&mut self.xml, &mut self.buf)? {
                Event::Start(_) => depth += 1,
                Event::End(_) if depth == 0 => return Ok(()),
                Event::End(_) => depth -= 1,
                Event::Eof => return Err(cut_off(&mut self.xml)),
                _ => {}
            }
        }
    }

    /// Reads up to the end tag of the element just opened: its text with references resolved
    /// and CDATA as is, or its inner XML as written once a child element appears.
    fn read_content(&mut self) -> Result<(), FeedError> {
        let content = &mut self.content;
        content.clear();
        let mut depth = 0usize;
        loop {
            match next_event(&mut self.xml, &mut self.buf)? {
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
                Event::GeneralRef(r) => push_resolved(content, &r),
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
                Event::End(_) if depth == 0 => return Ok(()),
                Event::End(e) => {
                    depth -= 1;
                    content.push("</");
                    content.push(&e);
                    content.push(">");
                }
                Event::Eof => return Err(cut_off(&mut self.xml)),
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
    }
}

fn keep_all(_: &Tag) -> bool {
    true
}

/// The next event. It borrows only `buf`, so the reader can still be asked for its line.
fn next_event<'b, R: Read>(xml: &mut Xml<R>, buf: &'b mut Vec<u8>) -> Result<Event<'b>, FeedError> {
    buf.clear();
    match xml.read_event_into(buf) {
        Ok(event) => Ok(event),
        Err(quick_xml::Error::Io(e)) => {
            Err(FeedError::Io(std::io::Error::new(e.kind(), e.to_string())))
        }
        // Only UTF-8 input reaches quick-xml undecoded, so this is always about UTF-8.
        Err(quick_xml::Error::Encoding(_)) => Err(FeedError::InvalidUtf8 {
            line: xml.get_mut().line(),
        }),
        Err(e) => Err(FeedError::Malformed {
            line: xml.get_mut().line(),
            message: e.to_string(),
        }),
    }
}

/// The line of a start tag's `<`, the reader being just past its `>`: a tag may span lines.
/// Asked only of start tags, as other events need no line of their own.
fn start_line<R: Read>(xml: &mut Xml<R>, tag: &BytesStart<'_>) -> u64 {
    let tag: &str = tag;
    xml.get_mut()
        .line()
        .saturating_sub(count_newlines(tag.as_bytes()))
}

fn cut_off<R: Read>(xml: &mut Xml<R>) -> FeedError {
    FeedError::Malformed {
        line: xml.get_mut().line(),
        message: "the file ends inside an element (is it cut off?)".into(),
    }
}

/// The start tag's attributes with values unescaped, or what is wrong with them.
pub(crate) fn attributes(e: &BytesStart<'_>) -> Result<Attributes, String> {
    if e.attributes_raw().is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| err.to_string())?;
        out.push((attr.key.as_ref().to_string(), unescape_lenient(&attr.value)));
    }
    Ok(out)
}

/// Whether the start tag's attributes are well-formed, for an element whose attributes are
/// not kept: reported the same as by [`attributes`], without copying any.
pub(crate) fn check_attributes(e: &BytesStart<'_>) -> Result<Attributes, String> {
    if e.attributes_raw().is_empty() {
        return Ok(Vec::new());
    }
    for attr in e.attributes() {
        attr.map_err(|err| err.to_string())?;
    }
    Ok(Vec::new())
}

fn find(attrs: &Attributes, key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
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
