//! Compiling a template once and rendering it per recipient: Jinja, then MJML, then text.

use std::sync::Arc;

use minijinja::{AutoEscape, Environment, Error, Output, State, UndefinedBehavior, Value};

use crate::data::RenderData;
use crate::error::{JinjaFailure, Part, RenderError, from_jinja};
use crate::functions::{self, ClaimedPromocode, Session};
use crate::{mjml, text};

/// The markup of a template body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TemplateKind {
    /// The body is HTML after the Jinja step.
    Html,
    /// The body is MJML after the Jinja step, turned into responsive HTML by mrml.
    #[default]
    Mjml,
}

/// A message template as the author wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    /// A Jinja template for the Subject header (no markup, no escaping); newlines in what it
    /// renders become spaces, since a header is one line.
    pub subject: String,
    /// A Jinja template producing HTML or MJML, per `kind`; auto-escaped.
    pub body: String,
    pub kind: TemplateKind,
}

/// Bounds on what one render may cost, so a broken or hostile template cannot hold a sender
/// thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// minijinja fuel: every instruction costs one, and so does every 64 bytes of data the
    /// template makes. A product email uses a few thousand; the default stops a runaway loop
    /// in well under a second.
    pub fuel: u64,
    /// How deep macros may call macros (and recursive loops may nest).
    pub recursion: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 2_000_000,
            recursion: 100,
        }
    }
}

/// How to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RenderOptions {
    /// A preview for the author: `get_promocode()` asks
    /// [`RenderData::preview_promocode`] instead of claiming a code.
    pub preview: bool,
}

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// One line, trimmed.
    pub subject: String,
    pub html: String,
    /// The plain-text alternative, derived from `html`.
    pub text: String,
    /// Things that did not stop the message but the author should fix (MJML attributes mrml
    /// ignored…).
    pub warnings: Vec<String>,
    /// Codes claimed for this message, to record against the recipient.
    pub promocodes: Vec<ClaimedPromocode>,
}

/// The outcome of rendering for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Rendered {
    Email(RenderedEmail),
    /// The template called `exit()`: this recipient gets no message. Report it as "skipped by
    /// the template", not as an error.
    Skipped {
        /// The template line of the `exit()`.
        line: Option<usize>,
        /// Codes claimed before the `exit()`; the caller may give them back.
        promocodes: Vec<ClaimedPromocode>,
    },
}

/// A template compiled once, rendered for many recipients.
///
/// Compiling parses both Jinja templates; rendering only runs them, so a mailing compiles
/// once and calls [`render`](Self::render) per recipient, possibly from several threads
/// (it is `Send + Sync`; share it in an `Arc`).
pub struct CompiledTemplate {
    env: Environment<'static>,
    kind: TemplateKind,
}

impl std::fmt::Debug for CompiledTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledTemplate")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl CompiledTemplate {
    /// Compiles with the default [`Limits`].
    pub fn compile(template: &Template) -> Result<CompiledTemplate, RenderError> {
        Self::compile_with(template, Limits::default())
    }

    /// Compiles both parts; a syntax error names the part, line and column.
    pub fn compile_with(
        template: &Template,
        limits: Limits,
    ) -> Result<CompiledTemplate, RenderError> {
        let mut env = environment(limits);
        for (part, source) in [
            (Part::Body, &template.body),
            (Part::Subject, &template.subject),
        ] {
            env.add_template_owned(part.template_name(), source.clone())
                .map_err(|e| failure(part, source, &e))?;
        }
        Ok(CompiledTemplate {
            env,
            kind: template.kind,
        })
    }

    /// Renders the message for one recipient: the body (Jinja, then MJML when the template is
    /// MJML), then the subject, then the text part.
    ///
    /// The body goes first so that an `exit()` in it stops the message before the subject
    /// claims anything.
    pub fn render(
        &self,
        data: Arc<dyn RenderData>,
        options: RenderOptions,
    ) -> Result<Rendered, RenderError> {
        let session = Session::new(data, options.preview);
        let context = functions::context(&session);
        let skipped = |line| Rendered::Skipped {
            line,
            promocodes: session.claimed_promocodes(),
        };

        let body = match self.run(Part::Body, &context) {
            Ok(body) => body,
            Err(JinjaFailure::Exit { line }) => return Ok(skipped(line)),
            Err(JinjaFailure::Error(e)) => return Err(e),
        };
        let (html, warnings) = match self.kind {
            TemplateKind::Mjml => mjml::to_html(&body)?,
            TemplateKind::Html => (body, Vec::new()),
        };
        let subject = match self.run(Part::Subject, &context) {
            Ok(subject) => one_line(&subject),
            Err(JinjaFailure::Exit { line }) => return Ok(skipped(line)),
            Err(JinjaFailure::Error(e)) => return Err(e),
        };
        let text = text::from_html(&html);
        Ok(Rendered::Email(RenderedEmail {
            subject,
            html,
            text,
            warnings,
            promocodes: session.claimed_promocodes(),
        }))
    }

    /// The Jinja step of one part.
    fn run(&self, part: Part, context: &Value) -> Result<String, JinjaFailure> {
        let template = self
            .env
            .get_template(part.template_name())
            .map_err(|e| from_jinja(part, "", &e))?;
        template
            .render(context)
            .map_err(|e| from_jinja(part, template.source(), &e))
    }

    /// The Jinja template of `part`, for static analysis.
    pub(crate) fn jinja(&self, part: Part) -> Option<minijinja::Template<'_, '_>> {
        self.env.get_template(part.template_name()).ok()
    }
}

/// Compiles and renders in one go, for a single message (a preview, one transactional
/// email). A mailing should compile once with [`CompiledTemplate::compile`] instead.
pub fn render(
    template: &Template,
    data: Arc<dyn RenderData>,
    options: RenderOptions,
) -> Result<Rendered, RenderError> {
    CompiledTemplate::compile(template)?.render(data, options)
}

fn failure(part: Part, source: &str, err: &Error) -> RenderError {
    match from_jinja(part, source, err) {
        JinjaFailure::Error(e) => e,
        // Only rendering can call exit(); compiling cannot.
        JinjaFailure::Exit { line } => RenderError::Template {
            at: crate::error::Location {
                part,
                position: line.map(|line| crate::error::Position { line, column: 1 }),
            },
            message: "exit() while compiling".to_owned(),
        },
    }
}

/// The environment every template runs in: no loader (nothing is read from disk or network;
/// `include`/`import`/`extends` are not even compiled in), fuel and a recursion limit,
/// HTML auto-escaping for the body and none for the subject.
fn environment(limits: Limits) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(limits.fuel));
    env.set_recursion_limit(limits.recursion);
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    // Debug mode copies template state into every error; our errors carry their own position.
    env.set_debug(false);
    env.set_auto_escape_callback(|name| {
        if name == Part::Body.template_name() {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_formatter(format_value);
    env
}

/// Writes a `{{ … }}` value: `none` and undefined as nothing (a missing `item.oldprice` must
/// not print "none"), HTML-escaped in the body unless marked safe. Unlike minijinja's own
/// escaper this leaves `/` alone, so URLs in `href` stay readable for link tracking.
fn format_value(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    if value.is_none() || value.is_undefined() {
        return Ok(());
    }
    let escape = *state.auto_escape() == AutoEscape::Html && !value.is_safe();
    match (value.as_str(), escape) {
        (Some(s), true) => write_escaped(out, s),
        (Some(s), false) => out.write_str(s).map_err(Error::from),
        (None, true) => write_escaped(out, &value.to_string()),
        (None, false) => write!(out, "{value}").map_err(Error::from),
    }
}

fn write_escaped(out: &mut Output, s: &str) -> Result<(), Error> {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let entity = match b {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.write_str(&s[start..i])?;
        out.write_str(entity)?;
        start = i + 1;
    }
    out.write_str(&s[start..]).map_err(Error::from)
}

/// The subject as one header line: line breaks and the blanks around them become one space.
fn one_line(subject: &str) -> String {
    let mut out = String::with_capacity(subject.len());
    let lines = subject.split(['\r', '\n']).map(str::trim);
    for (i, line) in lines.filter(|l| !l.is_empty()).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn subject_becomes_one_line() {
        assert_eq!(
            one_line("\n  Скидка для {{x}}\r\n  только сегодня \n"),
            "Скидка для {{x}} только сегодня"
        );
    }
}
