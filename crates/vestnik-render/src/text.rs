//! The plain-text part of a message, derived from its HTML: the visible text, links as
//! `text (url)`, image alt texts, a line per block and a blank line per paragraph or table.
//!
//! A single pass over the markup, written here rather than taken from html2text: html2text
//! builds a DOM and lays out MJML's nested tables, which took about 2 ms per message (more
//! than the rest of the render together); this takes a few dozen microseconds. It never fails:
//! any byte sequence gives some text. What it skips: comments (and so Outlook conditional
//! blocks), `<head>` matter (`<style>`, `<script>`, `<title>`), and elements hidden with
//! `display:none` or `hidden` (the MJML preview text). Lines are not wrapped.

/// Elements whose content is not text for the reader.
const RAW_TEXT: [&str; 6] = ["style", "script", "title", "template", "xml", "noscript"];

/// Elements that start and end a paragraph (a blank line around them).
const PARAGRAPHS: [&str; 14] = [
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "table",
    "blockquote",
    "pre",
    "hr",
    "dl",
];

/// Elements that start and end a line.
const BLOCKS: [&str; 20] = [
    "div",
    "tr",
    "td",
    "th",
    "li",
    "dt",
    "dd",
    "section",
    "article",
    "header",
    "footer",
    "nav",
    "aside",
    "main",
    "center",
    "address",
    "caption",
    "figure",
    "figcaption",
    "form",
];

/// Elements without an end tag.
const VOID: [&str; 13] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// The text part for `html`.
pub(crate) fn from_html(html: &str) -> String {
    let mut w = TextWriter::default();
    let mut hidden: Option<(&str, usize)> = None;
    let mut lists: Vec<Option<u32>> = Vec::new();
    let mut links: Vec<(String, usize)> = Vec::new();
    let mut pos = 0;
    while pos < html.len() {
        let Some(lt) = html[pos..].find('<').map(|i| pos + i) else {
            if hidden.is_none() {
                w.text(&html[pos..]);
            }
            break;
        };
        if lt > pos && hidden.is_none() {
            w.text(&html[pos..lt]);
        }
        let (markup, end) = markup_at(html, lt);
        pos = end;
        let tag = match markup {
            Markup::Skip => continue,
            Markup::Literal => {
                if hidden.is_none() {
                    w.text("<");
                }
                continue;
            }
            Markup::Tag(tag) => tag,
        };
        let name = tag.name;
        if !tag.end && !tag.self_closing && is_one_of(name, &RAW_TEXT) {
            pos = after_end_tag(html, pos, name);
            continue;
        }
        if let Some((hidden_name, depth)) = hidden.as_mut() {
            if name.eq_ignore_ascii_case(hidden_name) && !tag.self_closing {
                if tag.end {
                    *depth -= 1;
                } else {
                    *depth += 1;
                }
                if *depth == 0 {
                    hidden = None;
                }
            }
            continue;
        }
        if !tag.end && tag.is_hidden() {
            if !tag.self_closing && !is_one_of(name, &VOID) {
                hidden = Some((name, 1));
            }
            continue;
        }
        if name.eq_ignore_ascii_case("br") {
            w.line_break();
        } else if name.eq_ignore_ascii_case("img") {
            if let Some(alt) = tag.attr("alt") {
                w.space();
                w.plain(&alt);
                w.space();
            }
        } else if name.eq_ignore_ascii_case("a") {
            if tag.end {
                if let Some((href, start)) = links.pop() {
                    w.end_link(&href, start);
                }
            } else if !tag.self_closing {
                links.push((tag.attr("href").unwrap_or_default(), w.out.len()));
            }
        } else if is_one_of(name, &PARAGRAPHS) {
            w.paragraph();
            if name.eq_ignore_ascii_case("ul") || name.eq_ignore_ascii_case("ol") {
                if tag.end {
                    lists.pop();
                } else {
                    lists.push(name.eq_ignore_ascii_case("ol").then_some(0));
                }
            } else if name.eq_ignore_ascii_case("pre") {
                w.pre = if tag.end {
                    w.pre.saturating_sub(1)
                } else {
                    w.pre + 1
                };
            }
        } else if is_one_of(name, &BLOCKS) {
            w.block();
            if !tag.end && name.eq_ignore_ascii_case("li") {
                let marker = match lists.last_mut() {
                    Some(Some(n)) => {
                        *n += 1;
                        format!("{n}.")
                    }
                    _ => "*".to_owned(),
                };
                w.plain(&marker);
                w.space();
            }
        }
    }
    w.out
}

fn is_one_of(name: &str, set: &[&str]) -> bool {
    set.iter().any(|s| name.eq_ignore_ascii_case(s))
}

/// Builds the text: collapses whitespace and turns block boundaries into line breaks.
#[derive(Default)]
struct TextWriter {
    out: String,
    /// A space is due before the next visible character (not at a line start).
    pending_space: bool,
    /// Line breaks due before the next visible character: 1 a new line, 2 a blank line.
    pending_breaks: u8,
    /// Inside `<pre>`: whitespace is kept.
    pre: usize,
}

impl TextWriter {
    fn text(&mut self, raw: &str) {
        // MJML's HTML is mostly indentation between tags: a run of ASCII blanks only sets
        // the pending space, so it is not walked character by character.
        if self.pre == 0 && raw.bytes().all(|b| b.is_ascii_whitespace()) {
            self.pending_space |= !raw.is_empty();
            return;
        }
        let mut rest = raw;
        while let Some(c) = rest.chars().next() {
            if c == '&'
                && let Some((decoded, len)) = decode_entity(rest)
            {
                for d in decoded.chars() {
                    self.char(d);
                }
                rest = &rest[len..];
                continue;
            }
            self.char(c);
            rest = &rest[c.len_utf8()..];
        }
    }

    /// Text that is already decoded (attribute values, our own markers).
    fn plain(&mut self, s: &str) {
        for c in s.chars() {
            self.char(c);
        }
    }

    fn char(&mut self, c: char) {
        if self.pre > 0 && (c == '\n' || c == ' ' || c == '\t') {
            match c {
                '\n' => self.line_break(),
                _ => {
                    self.flush_breaks();
                    self.out.push(c);
                }
            }
            return;
        }
        if c.is_whitespace() {
            self.pending_space = true;
            return;
        }
        // Invisible characters mail generators pad with (MJML's preview filler, soft hyphens).
        if matches!(
            c,
            '\u{034F}' | '\u{00AD}' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{FEFF}'
        ) {
            return;
        }
        if !self.flush_breaks() && self.pending_space && !self.at_line_start() {
            self.out.push(' ');
        }
        self.pending_space = false;
        self.out.push(c);
    }

    /// Writes the due line breaks, if there is text before them; true if it wrote any.
    fn flush_breaks(&mut self) -> bool {
        let breaks = std::mem::take(&mut self.pending_breaks);
        if breaks == 0 || self.out.is_empty() {
            return false;
        }
        self.out.push('\n');
        if breaks > 1 {
            self.out.push('\n');
        }
        self.pending_space = false;
        true
    }

    fn at_line_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with('\n')
    }

    fn space(&mut self) {
        self.pending_space = true;
    }

    fn block(&mut self) {
        self.pending_breaks = self.pending_breaks.max(1);
    }

    fn paragraph(&mut self) {
        self.pending_breaks = 2;
    }

    /// `<br>`: a new line; a second one in a row, a blank line.
    fn line_break(&mut self) {
        self.pending_breaks = (self.pending_breaks + 1).min(2);
    }

    /// At `</a>`: adds ` (url)` after the link text, or the URL alone for a link without
    /// text (an image without alt), or nothing when the text already is the URL.
    fn end_link(&mut self, href: &str, start: usize) {
        let url = href.trim();
        let lower = url.to_ascii_lowercase();
        if url.is_empty() || url.starts_with('#') || lower.starts_with("javascript:") {
            return;
        }
        let text = self.out.get(start..).unwrap_or_default().trim();
        if text == url || url.get(7..).filter(|_| lower.starts_with("mailto:")) == Some(text) {
            return;
        }
        if text.is_empty() {
            self.plain(url);
        } else {
            self.space();
            self.char('(');
            for c in url.chars() {
                self.out.push(c);
            }
            self.out.push(')');
        }
        self.space();
    }
}

/// What starts at a `<`.
enum Markup<'a> {
    Tag(Tag<'a>),
    /// A comment, doctype, processing instruction or bogus end tag.
    Skip,
    /// A `<` that starts no markup (`a < b`).
    Literal,
}

struct Tag<'a> {
    name: &'a str,
    end: bool,
    self_closing: bool,
    /// The text between the name and the closing `>`.
    attrs: &'a str,
}

impl Tag<'_> {
    /// The decoded value of attribute `name` (case-insensitive); `Some("")` for a bare one.
    fn attr(&self, name: &str) -> Option<String> {
        let mut attrs = Attributes::new(self.attrs);
        attrs
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| {
                let mut w = String::with_capacity(v.len());
                let mut rest = v;
                while let Some(c) = rest.chars().next() {
                    if c == '&'
                        && let Some((decoded, len)) = decode_entity(rest)
                    {
                        w.push_str(&decoded);
                        rest = &rest[len..];
                    } else {
                        w.push(c);
                        rest = &rest[c.len_utf8()..];
                    }
                }
                w
            })
    }

    /// `hidden`, `display:none` or `mso-hide:all`: not shown to the reader.
    fn is_hidden(&self) -> bool {
        // Most tags hide nothing; this skips walking their attributes again. Both tests are
        // complete: a `hidden` name or a hiding style value is text within `attrs`.
        if !mentions_hiding(self.attrs) && !contains_ignore_ascii_case(self.attrs, b"hidden") {
            return false;
        }
        let mut attrs = Attributes::new(self.attrs);
        attrs.any(|(name, value)| {
            name.eq_ignore_ascii_case("hidden")
                || (name.eq_ignore_ascii_case("style") && mentions_hiding(value) && {
                    let compact: String = value
                        .chars()
                        .filter(|c| !c.is_whitespace())
                        .map(|c| c.to_ascii_lowercase())
                        .collect();
                    compact.contains("display:none") || compact.contains("mso-hide:all")
                })
        })
    }
}

/// A quick test before the exact one: MJML puts long styles on every tag, and few hide.
/// (`str::contains` is much faster than a case-insensitive window scan; CSS in any other case
/// than these is not seen in mail.)
fn mentions_hiding(style: &str) -> bool {
    ["none", "hide", "NONE", "HIDE", "None", "Hide"]
        .iter()
        .any(|needle| style.contains(needle))
}

/// Whether `haystack` contains `needle` (lower-case ASCII) in any ASCII case.
fn contains_ignore_ascii_case(haystack: &str, needle: &[u8]) -> bool {
    let bytes = haystack.as_bytes();
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    bytes.iter().enumerate().any(|(i, b)| {
        b.to_ascii_lowercase() == first
            && bytes
                .get(i + 1..i + 1 + rest.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(rest))
    })
}

/// The markup starting at `lt` (a `<`) and the offset after it.
fn markup_at(html: &str, lt: usize) -> (Markup<'_>, usize) {
    let rest = &html[lt + 1..];
    if let Some(comment) = rest.strip_prefix("!--") {
        let end = comment.find("-->").map_or(html.len(), |i| lt + 4 + i + 3);
        return (Markup::Skip, end);
    }
    let to_gt = |from: usize| html[from..].find('>').map_or(html.len(), |i| from + i + 1);
    match rest.as_bytes().first() {
        Some(b'!') | Some(b'?') => (Markup::Skip, to_gt(lt + 1)),
        Some(b'/') => match rest.as_bytes().get(1) {
            Some(c) if c.is_ascii_alphabetic() => tag_at(html, lt + 2, true),
            _ => (Markup::Skip, to_gt(lt + 1)),
        },
        Some(c) if c.is_ascii_alphabetic() => tag_at(html, lt + 1, false),
        _ => (Markup::Literal, lt + 1),
    }
}

/// A tag whose name starts at `start`.
fn tag_at(html: &str, start: usize, end: bool) -> (Markup<'_>, usize) {
    let name_len = html[start..]
        .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
        .unwrap_or(html.len() - start);
    let name = &html[start..start + name_len];
    let attrs_start = start + name_len;
    let mut attrs = Attributes::new(&html[attrs_start..]);
    for _ in attrs.by_ref() {}
    let attrs_end = attrs_start + attrs.pos;
    let attrs_text = &html[attrs_start..attrs_end];
    let self_closing = attrs.self_closing;
    let after = (attrs_end + 1).min(html.len());
    (
        Markup::Tag(Tag {
            name,
            end,
            self_closing,
            attrs: attrs_text,
        }),
        after,
    )
}

/// The attributes of a tag as (name, raw value); stops at the tag's `>`, leaving `pos` on it.
struct Attributes<'a> {
    s: &'a str,
    pos: usize,
    /// The tag ended with `/>` (set when the iterator reaches the `>`).
    self_closing: bool,
}

impl<'a> Attributes<'a> {
    fn new(s: &'a str) -> Attributes<'a> {
        Attributes {
            s,
            pos: 0,
            self_closing: false,
        }
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.s.as_bytes();
        let mut slash = false;
        while self.pos < b.len() && (b[self.pos].is_ascii_whitespace() || b[self.pos] == b'/') {
            slash = b[self.pos] == b'/';
            self.pos += 1;
        }
        if self.pos >= b.len() || b[self.pos] == b'>' {
            self.self_closing = slash;
            return None;
        }
        let name_start = self.pos;
        while self.pos < b.len()
            && !matches!(b[self.pos], b'=' | b'>' | b'/')
            && !b[self.pos].is_ascii_whitespace()
        {
            self.pos += 1;
        }
        let name = &self.s[name_start..self.pos];
        let mut look = self.pos;
        while look < b.len() && b[look].is_ascii_whitespace() {
            look += 1;
        }
        if b.get(look) != Some(&b'=') {
            return Some((name, ""));
        }
        look += 1;
        while look < b.len() && b[look].is_ascii_whitespace() {
            look += 1;
        }
        let value = match b.get(look) {
            Some(&q @ (b'"' | b'\'')) => {
                let value_start = look + 1;
                let value_end = self.s[value_start..]
                    .find(q as char)
                    .map_or(b.len(), |i| value_start + i);
                self.pos = (value_end + 1).min(b.len());
                &self.s[value_start..value_end]
            }
            _ => {
                let value_start = look;
                while look < b.len() && !b[look].is_ascii_whitespace() && b[look] != b'>' {
                    look += 1;
                }
                self.pos = look;
                &self.s[value_start..look]
            }
        };
        Some((name, value))
    }
}

/// The offset after `</name…>` following `from`, or the end of the text.
fn after_end_tag(html: &str, from: usize, name: &str) -> usize {
    let mut search = from;
    while let Some(i) = html[search..].find("</").map(|i| search + i) {
        let candidate = html.get(i + 2..i + 2 + name.len());
        if candidate.is_some_and(|c| c.eq_ignore_ascii_case(name)) {
            return html[i..].find('>').map_or(html.len(), |j| i + j + 1);
        }
        search = i + 2;
    }
    html.len()
}

/// Decodes the character reference at the start of `s` (which starts with `&`): the text it
/// stands for and its length. Unknown names are left as they are.
fn decode_entity(s: &str) -> Option<(String, usize)> {
    let end = s
        .get(1..)?
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))?
        + 1;
    let body = &s[1..end];
    let len = if s[end..].starts_with(';') {
        end + 1
    } else {
        end
    };
    if let Some(number) = body.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return Some((char::from_u32(code).unwrap_or('\u{FFFD}').to_string(), len));
    }
    if len == end {
        // Named references need their `;` here: "&copy" in a URL query is text.
        return None;
    }
    let text = match body {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" | "ensp" | "emsp" | "thinsp" => " ",
        "zwnj" | "zwj" | "shy" => "",
        "laquo" => "«",
        "raquo" => "»",
        "ldquo" => "“",
        "rdquo" => "”",
        "bdquo" => "„",
        "lsquo" => "‘",
        "rsquo" => "’",
        "mdash" => "—",
        "ndash" => "–",
        "hellip" => "…",
        "middot" => "·",
        "bull" => "•",
        "copy" => "©",
        "reg" => "®",
        "trade" => "™",
        "euro" => "€",
        "deg" => "°",
        "times" => "×",
        "numero" => "№",
        "rarr" => "→",
        "larr" => "←",
        _ => return None,
    };
    Some((text.to_owned(), len))
}

#[cfg(test)]
mod tests {
    use super::from_html;

    #[test]
    fn keeps_link_targets_and_drops_markup() {
        let html = "<!doctype html><html><head><title>T</title><style>p{color:red}</style></head><body>\
                    <!--[if mso]><table><tr><td>outlook only</td></tr></table><![endif]-->\
                    <div style=\"display: none; max-height:0\">превью<div>вложенный</div></div>\
                    <p>Привет,\n   <b>Анна</b>!</p><p><a href=\"https://shop.example/x?a=1&amp;b=2\">Купить</a></p>\
                    <table><tr><td>Ячейка</td></tr></table><a href=\"#top\">наверх</a></body></html>";
        assert_eq!(
            from_html(html),
            "Привет, Анна!\n\nКупить (https://shop.example/x?a=1&b=2)\n\nЯчейка\n\nнаверх"
        );
    }

    #[test]
    fn links_without_text_or_with_the_url_as_text_are_not_doubled() {
        let html = "<a href=\"https://a.example/\"><img src=\"x.png\"></a> \
                    <a href='https://b.example/'>https://b.example/</a> \
                    <a href=\"mailto:shop@example.com\">shop@example.com</a> \
                    <a href=https://c.example/><img alt=\"Баннер\" src=x></a>";
        assert_eq!(
            from_html(html),
            "https://a.example/ https://b.example/ shop@example.com Баннер (https://c.example/)"
        );
    }

    #[test]
    fn line_breaks_lists_and_entities() {
        let html = "a<br>b<br/><br>c<ul><li>один</li><li>два</li></ul><ol><li>x</li><li>y</li></ol>\
                    &laquo;Цена&raquo;&nbsp;&mdash; 5&#160;000&#x20bd; &copy AT&T &bogus; 1 < 2";
        assert_eq!(
            from_html(html),
            "a\nb\n\nc\n\n* один\n* два\n\n1. x\n2. y\n\n«Цена» — 5 000₽ &copy AT&T &bogus; 1 < 2"
        );
    }

    #[test]
    fn preformatted_text_keeps_its_lines() {
        assert_eq!(from_html("<pre>a  b\n c</pre>d"), "a  b\n c\n\nd");
    }

    #[test]
    fn broken_markup_still_gives_text() {
        assert_eq!(from_html("<p>unclosed <b attr=\"x"), "unclosed");
        assert_eq!(from_html("<div>a</span></div><!-- never closed"), "a");
        assert_eq!(from_html("<script>if (a < b) { x() }</script>ok"), "ok");
        assert_eq!(from_html(""), "");
    }
}
