//! Email templates as stored: a name per site, and every saved version of its subject and
//! body (HTML or MJML with Jinja syntax; `vestnik-render` renders them).

use serde::{Deserialize, Serialize};

use crate::contact::ValidationError;
use crate::ids::SiteId;
use crate::time::Timestamp;

/// Longest body accepted: far above any real email, low enough that a pasted binary or a
/// runaway generator is refused before it reaches the renderer.
pub const MAX_BODY_BYTES: usize = 512 * 1024;
pub const MAX_SUBJECT_CHARS: usize = 998;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TemplateId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateKind {
    Html,
    Mjml,
}

impl TemplateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateKind::Html => "html",
            TemplateKind::Mjml => "mjml",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "html" => Some(TemplateKind::Html),
            "mjml" => Some(TemplateKind::Mjml),
            _ => None,
        }
    }

    /// MJML when the body's first tag is `<mjml`, else HTML.
    pub fn detect(body: &str) -> Self {
        if body.trim_start().to_ascii_lowercase().starts_with("<mjml") {
            TemplateKind::Mjml
        } else {
            TemplateKind::Html
        }
    }
}

/// What a save sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateContent {
    pub subject: String,
    pub body: String,
    pub kind: TemplateKind,
}

impl TemplateContent {
    /// Size limits; the syntax is `vestnik-render`'s to check.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.body.trim().is_empty() {
            return Err(ValidationError::new("body", "the template body is empty"));
        }
        if self.body.len() > MAX_BODY_BYTES {
            return Err(ValidationError::new(
                "body",
                format!(
                    "the template body is {} bytes; at most {MAX_BODY_BYTES} are accepted",
                    self.body.len()
                ),
            ));
        }
        if self.subject.chars().count() > MAX_SUBJECT_CHARS {
            return Err(ValidationError::new(
                "subject",
                format!("the subject is longer than {MAX_SUBJECT_CHARS} characters"),
            ));
        }
        Ok(())
    }
}

/// A name: 1–200 characters, no control characters.
pub fn validate_name(name: &str) -> Result<(), ValidationError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 200 || trimmed.chars().any(char::is_control)
    {
        return Err(ValidationError::new(
            "name",
            "a template name is 1-200 characters without control characters",
        ));
    }
    Ok(())
}

/// A template at one of its versions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Template {
    pub id: TemplateId,
    pub site_id: SiteId,
    pub name: String,
    pub version: i64,
    /// The version new sends use.
    pub current_version: i64,
    #[serde(flatten)]
    pub content: TemplateContent,
    pub saved_by: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One entry of a template's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateVersionInfo {
    pub version: i64,
    pub saved_by: String,
    pub created_at: Timestamp,
}
