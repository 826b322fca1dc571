//! A lexical pass over Jinja source: the names used inside `{{ … }}` and `{% … %}` with their
//! positions, and the text outside them. It works on templates that do not parse, which is
//! what save-time checks need to point at a line.

use crate::error::Position;

/// A name used inside a Jinja tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Name<'a> {
    pub(crate) name: &'a str,
    pub(crate) position: Position,
    /// Not after `.` or `|` or `is`, and not a keyword argument name: a variable or function.
    pub(crate) is_variable: bool,
    /// Followed by `(`: called.
    pub(crate) is_called: bool,
}

/// A stretch of template text outside Jinja tags and comments (raw blocks included), with
/// the byte offset where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Text<'a> {
    pub(crate) text: &'a str,
    pub(crate) offset: usize,
}

/// What one pass over a template finds.
#[derive(Debug, Default)]
pub(crate) struct Scan<'a> {
    pub(crate) names: Vec<Name<'a>>,
    pub(crate) texts: Vec<Text<'a>>,
}

impl<'a> Scan<'a> {
    /// The first use of `name` as a variable or function.
    pub(crate) fn first_use(&self, name: &str) -> Option<&Name<'a>> {
        self.names.iter().find(|n| n.is_variable && n.name == name)
    }
}

/// Scans `source` with the default Jinja delimiters.
pub(crate) fn scan(source: &str) -> Scan<'_> {
    let mut out = Scan::default();
    let bytes = source.as_bytes();
    let mut lines = LineIndex::new(source);
    let mut pos = 0;
    let mut text_start = 0;
    while pos < bytes.len() {
        let Some(open) = source[pos..].find('{').map(|i| pos + i) else {
            break;
        };
        let kind = bytes.get(open + 1).copied();
        match kind {
            Some(b'{') | Some(b'%') | Some(b'#') => {}
            _ => {
                pos = open + 1;
                continue;
            }
        }
        if text_start < open {
            out.texts.push(Text {
                text: &source[text_start..open],
                offset: text_start,
            });
        }
        if kind == Some(b'#') {
            let end = source[open + 2..]
                .find("#}")
                .map_or(source.len(), |i| open + 2 + i + 2);
            pos = end;
            text_start = end;
            continue;
        }
        let close = if kind == Some(b'{') { b'}' } else { b'%' };
        let (end, first_name) = scan_tag(source, open + 2, close, &mut lines, &mut out.names);
        pos = end;
        text_start = end;
        if kind == Some(b'%') && first_name == Some("raw") {
            // `{% raw %}…{% endraw %}`: the inside is text, whatever it looks like.
            let rest = &source[end..];
            let (inner_end, after) =
                find_endraw(rest).map_or((rest.len(), rest.len()), |(a, b)| (a, b));
            if inner_end > 0 {
                out.texts.push(Text {
                    text: &rest[..inner_end],
                    offset: end,
                });
            }
            pos = end + after;
            text_start = pos;
        }
    }
    if text_start < source.len() {
        out.texts.push(Text {
            text: &source[text_start..],
            offset: text_start,
        });
    }
    out
}

/// Scans the inside of a tag from `start` to its closing `}}` / `%}`, recording names.
/// Returns the offset after the tag and the tag's first name (the statement keyword).
fn scan_tag<'a>(
    source: &'a str,
    start: usize,
    close: u8,
    lines: &mut LineIndex<'a>,
    names: &mut Vec<Name<'a>>,
) -> (usize, Option<&'a str>) {
    let bytes = source.as_bytes();
    let mut i = start;
    let mut first_name = None;
    // The previous significant token when it was punctuation (`.`, `|`…).
    let mut prev_punct: Option<u8> = None;
    // After `is` or `is not`, a name is a test (`x is defined`), not a variable.
    let mut after_is = false;
    while i < bytes.len() {
        let b = bytes[i];
        if b == close && bytes.get(i + 1) == Some(&b'}') {
            return (i + 2, first_name);
        }
        if b == b'\'' || b == b'"' {
            i = skip_string(bytes, i);
            prev_punct = Some(b'\'');
            after_is = false;
            continue;
        }
        if b.is_ascii_alphabetic() || b == b'_' {
            let begin = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let name = &source[begin..i];
            first_name.get_or_insert(name);
            let next = next_significant(bytes, i);
            let is_kwarg_name =
                next == Some(b'=') && next_significant_after_eq(bytes, i) != Some(b'=');
            let is_variable = !matches!(prev_punct, Some(b'.' | b'|'))
                && !after_is
                && !is_kwarg_name
                && !is_keyword(name);
            names.push(Name {
                name,
                position: lines.position(begin),
                is_variable,
                is_called: next == Some(b'('),
            });
            after_is = name == "is" || (after_is && name == "not");
            prev_punct = None;
            continue;
        }
        if b.is_ascii_digit() {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
            {
                i += 1;
            }
            prev_punct = Some(b'0');
            after_is = false;
            continue;
        }
        if !b.is_ascii_whitespace() {
            prev_punct = Some(b);
            after_is = false;
        }
        i += 1;
    }
    (bytes.len(), first_name)
}

/// Jinja words that are syntax, not names.
fn is_keyword(name: &str) -> bool {
    matches!(
        name,
        "for"
            | "in"
            | "endfor"
            | "if"
            | "elif"
            | "else"
            | "endif"
            | "set"
            | "endset"
            | "macro"
            | "endmacro"
            | "call"
            | "endcall"
            | "filter"
            | "endfilter"
            | "with"
            | "endwith"
            | "autoescape"
            | "endautoescape"
            | "raw"
            | "endraw"
            | "and"
            | "or"
            | "not"
            | "is"
            | "true"
            | "false"
            | "none"
            | "True"
            | "False"
            | "None"
            | "recursive"
            | "do"
            | "break"
            | "continue"
            | "block"
            | "endblock"
            | "include"
            | "import"
            | "from"
            | "extends"
            | "as"
    )
}

/// The offset after a quoted string starting at `start` (backslash escapes honoured).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

fn next_significant(bytes: &[u8], from: usize) -> Option<u8> {
    bytes[from.min(bytes.len())..]
        .iter()
        .copied()
        .find(|b| !b.is_ascii_whitespace())
}

/// The byte after the `=` that follows position `from` (to tell `a=` from `a ==`).
fn next_significant_after_eq(bytes: &[u8], from: usize) -> Option<u8> {
    let eq = from
        + bytes[from.min(bytes.len())..]
            .iter()
            .position(|b| *b == b'=')?;
    bytes.get(eq + 1).copied()
}

/// In text after `{% raw %}`: the offset where `{% endraw %}` (or `{%- endraw -%}`) begins
/// and the offset after it.
fn find_endraw(rest: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(i) = rest[from..].find("{%").map(|i| from + i) {
        let inner = rest[i + 2..].trim_start_matches(['-', '+']).trim_start();
        if let Some(after) = inner.strip_prefix("endraw") {
            let close = after.find("%}")?;
            let end = rest.len() - after.len() + close + 2;
            return Some((i, end));
        }
        from = i + 2;
    }
    None
}

/// Turns byte offsets into positions for offsets that only grow, without rescanning.
struct LineIndex<'a> {
    source: &'a str,
    offset: usize,
    line: usize,
    line_start: usize,
}

impl<'a> LineIndex<'a> {
    fn new(source: &'a str) -> LineIndex<'a> {
        LineIndex {
            source,
            offset: 0,
            line: 1,
            line_start: 0,
        }
    }

    fn position(&mut self, offset: usize) -> Position {
        if offset < self.offset {
            return Position::at_byte(self.source, offset);
        }
        let chunk = &self.source[self.offset..offset];
        for (i, b) in chunk.bytes().enumerate() {
            if b == b'\n' {
                self.line += 1;
                self.line_start = self.offset + i + 1;
            }
        }
        self.offset = offset;
        Position {
            line: self.line,
            column: self.source[self.line_start..offset].chars().count() + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variables(source: &str) -> Vec<(&str, usize, usize, bool)> {
        scan(source)
            .names
            .into_iter()
            .filter(|n| n.is_variable)
            .map(|n| (n.name, n.position.line, n.position.column, n.is_called))
            .collect()
    }

    #[test]
    fn finds_functions_and_variables_with_positions() {
        let src = "Привет, {{ lead.name|upper }}!\n{% for item in get_cart_items() [0:2] %}\
                   {{ item.price }}{% endfor %}\n{{ exit() }}";
        assert_eq!(
            variables(src),
            vec![
                ("lead", 1, 12, false),
                ("item", 2, 8, false),
                ("get_cart_items", 2, 16, true),
                ("item", 2, 44, false),
                ("exit", 3, 4, true),
            ]
        );
    }

    #[test]
    fn skips_strings_comments_raw_blocks_and_keyword_arguments() {
        let src = "{# exit() #}{{ 'exit()' }}{% raw %}{{ exit() }}{% endraw %}\
                   {{ get_recommendations(service_name='top_offers') }}{{ x is defined }}";
        assert_eq!(
            variables(src),
            vec![("get_recommendations", 1, 63, true), ("x", 1, 115, false)]
        );
        let texts: Vec<&str> = scan(src).texts.iter().map(|t| t.text).collect();
        assert_eq!(texts, vec!["{{ exit() }}"]);
    }
}
