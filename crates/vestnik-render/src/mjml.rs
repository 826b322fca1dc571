//! MJML to HTML with mrml, and the check for MJML tags mrml would not render.
//!
//! mrml copies a tag it does not know (`<mj-colum>`, a typo) into the HTML as it is, and has
//! no `mj-html-attributes`; both fail silently in the reader's mail client. [`unknown_tags`]
//! finds them in the template source so the author hears about it at save time.

use std::sync::LazyLock;

use mrml::prelude::parser::{Error as ParseError, ParserOptions, noop_loader::NoopIncludeLoader};
use mrml::prelude::render::RenderOptions;

use crate::error::{Position, RenderError};
use crate::scan::Text;

/// Every tag mrml parses and renders; the MJML 4 set less `mj-html-attributes`.
const KNOWN_TAGS: [&str; 34] = [
    "mjml",
    "mj-head",
    "mj-body",
    "mj-attributes",
    "mj-all",
    "mj-class",
    "mj-breakpoint",
    "mj-font",
    "mj-preview",
    "mj-style",
    "mj-title",
    "mj-raw",
    "mj-include",
    "mj-accordion",
    "mj-accordion-element",
    "mj-accordion-title",
    "mj-accordion-text",
    "mj-button",
    "mj-carousel",
    "mj-carousel-image",
    "mj-column",
    "mj-divider",
    "mj-group",
    "mj-hero",
    "mj-image",
    "mj-navbar",
    "mj-navbar-link",
    "mj-section",
    "mj-social",
    "mj-social-element",
    "mj-spacer",
    "mj-table",
    "mj-text",
    "mj-wrapper",
];

/// MJML tags that exist in MJML but not in mrml.
const UNSUPPORTED_TAGS: [&str; 3] = ["mj-html-attributes", "mj-html-attribute", "mj-selector"];

/// Built once: render options hold a map of default fonts.
static RENDER_OPTIONS: LazyLock<RenderOptions> = LazyLock::new(RenderOptions::default);

/// Renders MJML (the output of the Jinja step) to HTML, with mrml's warnings.
pub(crate) fn to_html(mjml: &str) -> Result<(String, Vec<String>), RenderError> {
    // The no-op loader: `mj-include` would read files or URLs, and a render reads nothing.
    let options = ParserOptions {
        include_loader: Box::new(NoopIncludeLoader),
    };
    let parsed = mrml::parse_with_options(mjml, &options).map_err(|e| parse_error(mjml, &e))?;
    let warnings = parsed
        .warnings
        .iter()
        .map(|w| {
            format!(
                "MJML: {} at {} of the MJML produced by the template (near `{}`)",
                w.kind,
                Position::at_byte(mjml, w.span.start),
                near(mjml, w.span.start)
            )
        })
        .collect();
    let html = parsed
        .element
        .render(&RENDER_OPTIONS)
        .map_err(|e| RenderError::MjmlDocument {
            message: e.to_string(),
        })?;
    Ok((html, warnings))
}

fn parse_error(mjml: &str, err: &ParseError) -> RenderError {
    let (span, message) = match err {
        ParseError::UnexpectedElement { position, .. } => {
            (*position, "an element that is not allowed here".to_owned())
        }
        ParseError::UnexpectedToken { position, .. } => (
            *position,
            "unexpected markup (an unclosed or mismatched tag?)".to_owned(),
        ),
        ParseError::MissingAttribute { name, position, .. } => {
            (*position, format!("the element needs the attribute {name}"))
        }
        ParseError::InvalidAttribute { position, .. } => {
            (*position, "invalid attribute".to_owned())
        }
        ParseError::InvalidFormat { position, .. } => (*position, "invalid value".to_owned()),
        ParseError::IncludeLoaderError { position, .. } => (
            *position,
            "mj-include is not available: paste the included MJML into the template".to_owned(),
        ),
        ParseError::NoRootNode => {
            return RenderError::MjmlDocument {
                message: "no <mjml> root element: an MJML template starts with <mjml> and \
                          holds <mj-body>"
                    .to_owned(),
            };
        }
        ParseError::EndOfStream { .. } => {
            return RenderError::MjmlDocument {
                message: "the MJML ends before every tag is closed: check that each <mj-…> has \
                          its </mj-…> and that empty tags such as <mj-image …/> end with />"
                    .to_owned(),
            };
        }
        ParseError::ParserError { source, .. } => {
            return RenderError::MjmlDocument {
                message: format!(
                    "{source} (line:column in the MJML produced by the template; attribute \
                     values need quotes)"
                ),
            };
        }
        other => {
            return RenderError::MjmlDocument {
                message: other.to_string(),
            };
        }
    };
    RenderError::Mjml {
        position: Position::at_byte(mjml, span.start),
        near: near(mjml, span.start),
        message,
    }
}

/// Up to 40 characters of `source` from `offset`, on one line, to quote in a message.
fn near(source: &str, offset: usize) -> String {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let line = source[offset..].lines().next().unwrap_or_default();
    let mut quoted: String = line.chars().take(40).collect();
    if quoted.len() < line.len() {
        quoted.push('…');
    }
    quoted
}

/// An `<mj-…>` tag in a template that mrml would not render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownTag {
    pub(crate) name: String,
    pub(crate) position: Position,
    /// The known tag it most likely means, for typos.
    pub(crate) suggestion: Option<&'static str>,
    /// A real MJML tag that mrml lacks (as opposed to a typo).
    pub(crate) unsupported: bool,
}

/// Finds opening `<mj-…>` tags outside Jinja tags and HTML comments whose name mrml does not
/// know; each name is reported once, at its first use.
pub(crate) fn unknown_tags(source: &str, texts: &[Text<'_>]) -> Vec<UnknownTag> {
    let mut found: Vec<UnknownTag> = Vec::new();
    let mut in_comment = false;
    for text in texts {
        let mut rest = text.text;
        let mut base = text.offset;
        loop {
            if in_comment {
                match rest.find("-->") {
                    Some(end) => {
                        in_comment = false;
                        base += end + 3;
                        rest = &rest[end + 3..];
                    }
                    None => break,
                }
            }
            let Some(lt) = rest.find('<') else { break };
            let after = &rest[lt + 1..];
            if let Some(comment) = after.strip_prefix("!--") {
                in_comment = true;
                base += lt + 4;
                rest = comment;
                continue;
            }
            let name_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(after.len());
            let name = after[..name_len].to_ascii_lowercase();
            if (name.starts_with("mj-") || name == "mjml")
                && !KNOWN_TAGS.contains(&name.as_str())
                && !found.iter().any(|f| f.name == name)
            {
                let unsupported = UNSUPPORTED_TAGS.contains(&name.as_str());
                found.push(UnknownTag {
                    suggestion: (!unsupported).then(|| closest_known(&name)).flatten(),
                    unsupported,
                    position: Position::at_byte(source, base + lt),
                    name,
                });
            }
            base += lt + 1;
            rest = after;
        }
    }
    found
}

/// The known tag within two edits of `name`, if one is.
fn closest_known(name: &str) -> Option<&'static str> {
    KNOWN_TAGS
        .iter()
        .map(|known| (edit_distance(name, known), *known))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, known)| known)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::scan;

    #[test]
    fn reports_typos_and_unsupported_tags_once_with_positions() {
        let src = "<mjml>\n<mj-head><mj-html-attributes></mj-html-attributes></mj-head>\n\
                   <mj-body><!-- <mj-bogus> --><mj-section>\n  <mj-colum>{{ x }}</mj-colum><mj-colum>";
        let tags = unknown_tags(src, &scan(src).texts);
        assert_eq!(tags.len(), 2, "{tags:?}");
        assert_eq!(tags[0].name, "mj-html-attributes");
        assert!(tags[0].unsupported);
        assert_eq!(
            tags[0].position,
            Position {
                line: 2,
                column: 10
            }
        );
        assert_eq!(tags[1].name, "mj-colum");
        assert_eq!(tags[1].suggestion, Some("mj-column"));
        assert_eq!(tags[1].position, Position { line: 4, column: 3 });
    }
}
