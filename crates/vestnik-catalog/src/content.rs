//! The text of one element as it is collected from the events (or bytes) that make it up:
//! references resolved, CDATA kept as is, inner XML once a child element appears, and a cap
//! on its length.

use std::borrow::Cow;

use quick_xml::escape::{minimal_escape, resolve_predefined_entity};
use quick_xml::events::BytesRef;

/// Longest text of one field. Keeps one hostile or broken offer (a description with a video
/// pasted in as base64) from taking the importer's memory; such an offer is skipped.
pub const MAX_FIELD_BYTES: usize = 1024 * 1024;

/// The text of an element, or its inner XML when it has child elements.
#[derive(Default)]
pub(crate) struct Content {
    pub(crate) value: String,
    /// `value` is inner XML rather than text.
    pub(crate) has_children: bool,
    /// The element went past [`MAX_FIELD_BYTES`]; `value` holds only its beginning.
    pub(crate) too_long: bool,
}

impl Content {
    pub(crate) fn clear(&mut self) {
        self.value.clear();
        self.has_children = false;
        self.too_long = false;
    }

    pub(crate) fn push(&mut self, text: &str) {
        if self.value.len() + text.len() > MAX_FIELD_BYTES {
            self.too_long = true;
        } else if !self.too_long {
            self.value.push_str(text);
        }
    }

    /// From here on `value` is inner XML: the text read so far is escaped to match.
    pub(crate) fn switch_to_markup(&mut self) {
        if !self.has_children {
            self.has_children = true;
            if let Cow::Owned(escaped) = minimal_escape(self.value.as_str()) {
                self.value = escaped;
            }
        }
    }

    /// The value without surrounding whitespace, as a string of its own.
    pub(crate) fn trimmed(&self) -> String {
        self.value.trim().to_string()
    }
}

/// The text a reference stands for; an unknown one (`&nbsp;` in a feed without a DTD) stays
/// as written rather than failing the feed.
pub(crate) fn push_resolved(content: &mut Content, reference: &BytesRef<'_>) {
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
