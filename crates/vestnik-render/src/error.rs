//! Errors of compiling and rendering a template, each naming the part, line and column it
//! comes from and what the author can do about it.

use std::fmt;

use minijinja::ErrorKind;

use crate::functions::{self, ExitRequested, PromocodeUnavailable, RecommendationsUnavailable};

/// Which template of a message a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    Subject,
    Body,
}

impl Part {
    /// The minijinja template name of this part; also decides auto-escaping.
    pub(crate) fn template_name(self) -> &'static str {
        match self {
            Part::Subject => "subject",
            Part::Body => "body",
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Subject => "subject",
            Part::Body => "body",
        })
    }
}

/// A place in a source text, both 1-based; the column counts characters, not bytes, so it
/// matches what an editor shows for Cyrillic text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `source` (clamped to the source, moved back to a
    /// character boundary).
    pub fn at_byte(source: &str, offset: usize) -> Position {
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &source[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Where an error is, for messages: "body, line 3, column 7" or just "body".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub part: Part,
    /// `None` when the engine could not tell (rare: errors outside any instruction).
    pub position: Option<Position>,
}

impl Location {
    /// A bare line, for when minijinja gave a line but no span.
    fn line_only(part: Part, line: Option<usize>) -> Location {
        Location {
            part,
            position: line.map(|line| Position { line, column: 1 }),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(position) => write!(f, "{}, {}", self.part, position),
            None => write!(f, "{}", self.part),
        }
    }
}

/// Why a template could not be compiled or rendered for one recipient.
///
/// `exit()` is not here: it is the [`Rendered::Skipped`](crate::Rendered::Skipped) outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The Jinja does not parse (`{% for %}` without `{% endfor %}`, an unclosed `{{`…).
    #[error("{at}: syntax error: {message}")]
    Syntax { at: Location, message: String },

    /// The template calls a function that does not exist, usually a typo.
    #[error(
        "{at}: unknown function {name}(); the functions are: {}",
        functions::AVAILABLE_FUNCTIONS
    )]
    UnknownFunction { at: Location, name: String },

    /// The template ran out of fuel: a loop over a huge range, nested loops, or a huge string.
    #[error(
        "{at}: the template ran too long and was stopped: check loops (nested loops, huge ranges) \
         and repeated strings"
    )]
    TooLong { at: Location },

    /// `get_promocode()` found no code for this recipient; the message is not sent.
    #[error("{at}: no promo code{}: {message}", pool_suffix(.pool))]
    Promocode {
        at: Location,
        pool: Option<String>,
        /// The caller's reason, e.g. "pool 'summer' is exhausted: import more codes".
        message: String,
    },

    /// `get_recommendations()` was refused by the caller (unknown `service_name`…).
    #[error("{at}: get_recommendations(): {message}")]
    Recommendations { at: Location, message: String },

    /// Any other failure while rendering: a bad argument, an undefined value used as an
    /// object, a type error, too deep recursion.
    #[error("{at}: {message}")]
    Template { at: Location, message: String },

    /// The MJML produced by the Jinja step is not valid MJML. The position is in that
    /// produced MJML (where the template's loops are already unrolled), so `near` quotes it.
    #[error(
        "MJML error at {position} of the MJML produced by the template (near `{near}`): {message}"
    )]
    Mjml {
        position: Position,
        near: String,
        message: String,
    },

    /// MJML structure that mrml cannot render at all (no `<mjml>` root, an MJML render fault).
    #[error("MJML error: {message}")]
    MjmlDocument { message: String },
}

impl RenderError {
    /// Where in the template source the error is, when it is in the source (not for MJML
    /// errors, whose positions are in the produced MJML).
    pub fn location(&self) -> Option<Location> {
        match self {
            RenderError::Syntax { at, .. }
            | RenderError::UnknownFunction { at, .. }
            | RenderError::TooLong { at }
            | RenderError::Promocode { at, .. }
            | RenderError::Recommendations { at, .. }
            | RenderError::Template { at, .. } => Some(*at),
            RenderError::Mjml { .. } | RenderError::MjmlDocument { .. } => None,
        }
    }
}

/// What a failed minijinja render turned out to be.
pub(crate) enum JinjaFailure {
    /// `exit()` was called at this line.
    Exit {
        line: Option<usize>,
    },
    Error(RenderError),
}

/// Maps a minijinja error from compiling or rendering `part` (whose source is `source`) to
/// our error, recognising the markers our functions attach.
pub(crate) fn from_jinja(part: Part, source: &str, err: &minijinja::Error) -> JinjaFailure {
    let at = match err.range() {
        Some(range) => Location {
            part,
            position: Some(Position::at_byte(source, range.start)),
        },
        None => Location::line_only(part, err.line()),
    };
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(current) = cause {
        if current.downcast_ref::<ExitRequested>().is_some() {
            return JinjaFailure::Exit { line: err.line() };
        }
        if let Some(promo) = current.downcast_ref::<PromocodeUnavailable>() {
            return JinjaFailure::Error(RenderError::Promocode {
                at,
                pool: promo.pool.clone(),
                message: promo.message.clone(),
            });
        }
        if let Some(rec) = current.downcast_ref::<RecommendationsUnavailable>() {
            return JinjaFailure::Error(RenderError::Recommendations {
                at,
                message: rec.message.clone(),
            });
        }
        cause = current.source();
    }
    let detail = err.detail().unwrap_or_default().to_owned();
    JinjaFailure::Error(match err.kind() {
        ErrorKind::SyntaxError => RenderError::Syntax {
            at,
            message: syntax_hint(&detail),
        },
        ErrorKind::UnknownFunction => RenderError::UnknownFunction {
            at,
            name: detail
                .strip_suffix(" is unknown")
                .unwrap_or(&detail)
                .to_owned(),
        },
        ErrorKind::OutOfFuel => RenderError::TooLong { at },
        ErrorKind::UnknownFilter => RenderError::Template {
            at,
            message: format!("unknown filter: {detail}"),
        },
        ErrorKind::UnknownTest => RenderError::Template {
            at,
            message: format!("unknown test: {detail}"),
        },
        _ if detail == "recursion limit exceeded" => RenderError::Template {
            at,
            message: "recursion too deep: check macros that call themselves".to_owned(),
        },
        kind => RenderError::Template {
            at,
            message: if detail.is_empty() {
                kind.to_string()
            } else {
                format!("{kind}: {detail}")
            },
        },
    })
}

fn pool_suffix(pool: &Option<String>) -> String {
    pool.as_deref()
        .map(|p| format!(" from pool '{p}'"))
        .unwrap_or_default()
}

/// minijinja's syntax messages, with a pointer for the ones authors of seed templates meet.
fn syntax_hint(detail: &str) -> String {
    if detail.starts_with("unexpected end of input") {
        format!(
            "{detail}: a {{% for %}}, {{% if %}} or {{% macro %}} is not closed with its {{% end… %}}"
        )
    } else if detail.starts_with("unknown statement") {
        // `include`, `extends`, `import` are not compiled in: templates are self-contained.
        format!(
            "{detail} (include, import and extends are not available: templates are self-contained)"
        )
    } else {
        detail.to_owned()
    }
}
