//! The fast path for the offers nearly every feed is made of: an `<offer>` whose children
//! hold only text, references and CDATA, lying whole in the reader's buffer. Such an offer is
//! read straight from the buffered bytes with one UTF-8 check for the lot, instead of as
//! quick-xml events that are each copied out of the buffer and checked on their own, which
//! took most of the parse.
//!
//! Anything else (a child with elements inside, a comment, an offer cut by the end of the
//! buffer, bytes that are not UTF-8, a tag written in an unusual way) is left untouched for
//! the event reader in `parser`, which stays the reference. This module accepts only what
//! that reader would read without error, splits text where it would, and builds the offer
//! from the same pieces (quick-xml's tag scanner and attribute parser, `Content`,
//! `OfferDraft`), so an offer comes out the same whichever path read it.

use memchr::{memchr2, memchr3, memmem};
use quick_xml::events::{BytesRef, BytesStart, BytesText};
use quick_xml::parser::{ElementParser, Parser};
use quick_xml::utils::{is_whitespace, name_len};

use crate::content::{Content, push_resolved};
use crate::offer::OfferDraft;
use crate::parser::{attributes, check_attributes};
use crate::source::count_newlines;
use crate::tag::Tag;

const OFFER_END: &[u8] = b"</offer>";
const CDATA_START: &[u8] = b"<![CDATA[";
const CDATA_END: &[u8] = b"]]>";

/// Reads plain offers; holds the substring searchers, which are worth building only once.
pub(crate) struct PlainOffers {
    offer_end: memmem::Finder<'static>,
    cdata_end: memmem::Finder<'static>,
}

impl Default for PlainOffers {
    fn default() -> Self {
        PlainOffers {
            offer_end: memmem::Finder::new(OFFER_END),
            cdata_end: memmem::Finder::new(CDATA_END),
        }
    }
}

impl PlainOffers {
    /// Reads the offer at the start of `buffered`, which the XML reader has yet to see; the
    /// reader is between elements, on `line`. `content` is scratch space. Returns the offer
    /// and how many bytes it took (up to and including `</offer>`), or `None` to leave the
    /// offer to the event reader.
    pub(crate) fn read(
        &self,
        buffered: &[u8],
        line: u64,
        content: &mut Content,
    ) -> Option<(OfferDraft, usize)> {
        let start = buffered.iter().position(|b| !is_whitespace(*b))?;
        let from_tag = &buffered[start..];
        if !from_tag.starts_with(b"<offer") {
            return None;
        }
        // A plain offer has no other `</offer>` inside it; when the first one found is not
        // its end after all (one in CDATA), the walk below does not come out there and gives up.
        let end = start + self.offer_end.find(from_tag)? + OFFER_END.len();
        let text = std::str::from_utf8(&buffered[..end]).ok()?;
        let mut cursor = Cursor {
            text,
            pos: start,
            cdata_end: &self.cdata_end,
        };

        let (tag, empty) = cursor.start_tag()?;
        if empty || tag.name().as_ref() != "offer" {
            return None;
        }
        let line = line + count_newlines(&buffered[..start]);
        let mut draft = OfferDraft::from_start_tag(line, attributes(&tag));
        loop {
            cursor.skip_whitespace();
            if cursor.rest().starts_with(b"</") {
                return (cursor.rest() == OFFER_END).then_some((draft, end));
            }
            let (child, empty) = cursor.start_tag()?;
            let name = child.name();
            let tag = Tag::of(name.as_ref());
            let attrs = if OfferDraft::keeps_attributes_of(&tag) {
                attributes(&child)
            } else {
                check_attributes(&child)
            };
            content.clear();
            if !empty {
                cursor.text_until_end(name.as_ref(), content)?;
            }
            draft.add_read_child(tag, attrs, content);
        }
    }
}

/// A position in the offer's text; every step either understands what is there or gives up.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
    cdata_end: &'a memmem::Finder<'static>,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a [u8] {
        &self.text.as_bytes()[self.pos..]
    }

    fn skip_whitespace(&mut self) {
        let rest = self.rest();
        self.pos += rest
            .iter()
            .position(|b| !is_whitespace(*b))
            .unwrap_or(rest.len());
    }

    /// The start tag at the cursor and whether it is `<…/>`, found as quick-xml finds it: up
    /// to the first `>` outside a quoted value.
    fn start_tag(&mut self) -> Option<(BytesStart<'a>, bool)> {
        let rest = self.rest();
        if rest.first() != Some(&b'<') || matches!(rest.get(1), None | Some(b'!' | b'/' | b'?')) {
            return None;
        }
        let gt = ElementParser::Outside.feed(&rest[1..])?;
        let inner = &self.text[self.pos + 1..self.pos + 1 + gt];
        self.pos += gt + 2;
        let (inner, empty) = match inner.strip_suffix('/') {
            Some(inner) => (inner, true),
            None => (inner, false),
        };
        let name_len = name_len(inner.as_bytes());
        (name_len > 0).then(|| (BytesStart::from_content(inner, name_len), empty))
    }

    /// Collects the text of the element just opened into `content` and steps past its end
    /// tag, which must be exactly `</name>`. Gives up at any markup other than CDATA.
    fn text_until_end(&mut self, name: &str, content: &mut Content) -> Option<()> {
        loop {
            let rest = self.rest();
            let at = memchr2(b'<', b'&', rest)?;
            push_text(content, &self.text[self.pos..self.pos + at]);
            self.pos += at;
            let rest = &rest[at..];
            if rest[0] == b'&' {
                // As quick-xml reads with `allow_dangling_amp`: a reference runs to the next
                // `;`, unless a `&` or `<` comes first and makes this `&` plain text.
                let stop = 1 + memchr3(b';', b'&', b'<', &rest[1..])?;
                if rest[stop] == b';' {
                    let reference = &self.text[self.pos + 1..self.pos + stop];
                    push_resolved(content, &BytesRef::new(reference));
                    self.pos += stop + 1;
                } else {
                    push_text(content, &self.text[self.pos..self.pos + stop]);
                    self.pos += stop;
                }
            } else if let Some(after) = rest.strip_prefix(b"</") {
                let closes = after
                    .strip_prefix(name.as_bytes())
                    .is_some_and(|tail| tail.starts_with(b">"));
                if !closes {
                    return None;
                }
                self.pos += 2 + name.len() + 1;
                return Some(());
            } else if rest.starts_with(CDATA_START) {
                let body = self.pos + CDATA_START.len();
                let len = self.cdata_end.find(&self.text.as_bytes()[body..])?;
                content.push(&self.text[body..body + len]);
                self.pos = body + len + CDATA_END.len();
            } else {
                return None;
            }
        }
    }
}

/// Text between markup and references, with line ends normalised as quick-xml's text
/// events give it.
fn push_text(content: &mut Content, text: &str) {
    if !text.is_empty() {
        content.push(&BytesText::from_escaped(text).xml10_content());
    }
}
