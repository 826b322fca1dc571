//! Turning a rendered email (subject, HTML, plain text, addresses, list headers) into the bytes of
//! a MIME message. lettre's builder does the header work (RFC 2047 for non-ASCII subjects and
//! display names, folding) and the MIME structure; the bodies' transfer encoding is ours
//! (`body`), because lettre's is most of the cost.
//!
//! The values we add ourselves (Message-ID, List-Unsubscribe, Feedback-ID) are checked here,
//! because a stray CR/LF or `>` in them would break the header or let a template inject others.

use std::time::SystemTime;

use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox as LettreMailbox, MultiPart, SinglePart};

use crate::MailError;
use crate::body::text_body;

/// A display name and an address, e.g. `"Магазин Ромашка" <news@shop.example>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// Shown by mail clients instead of the address; any Unicode (encoded per RFC 2047).
    pub name: Option<String>,
    pub email: String,
}

impl Mailbox {
    pub fn new(name: Option<impl Into<String>>, email: impl Into<String>) -> Self {
        Mailbox {
            name: name.map(Into::into),
            email: email.into(),
        }
    }

    /// Just an address, no display name.
    pub fn address(email: impl Into<String>) -> Self {
        Mailbox {
            name: None,
            email: email.into(),
        }
    }

    fn to_lettre(&self) -> Result<LettreMailbox, MailError> {
        let address = parse_address(&self.email)?;
        let name = self
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        Ok(LettreMailbox::new(name.map(str::to_owned), address))
    }
}

/// Parses an address as lettre (and so the SMTP envelope) will use it, with an error naming it.
pub(crate) fn parse_address(email: &str) -> Result<lettre::Address, MailError> {
    email
        .trim()
        .parse::<lettre::Address>()
        .map_err(|e| MailError::InvalidAddress {
            address: email.to_owned(),
            reason: e.to_string(),
        })
}

/// One rendered email to one recipient, everything the MIME message needs.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    pub from: Mailbox,
    pub to: Mailbox,
    /// Where replies go when that is not the sender (e.g. a support inbox).
    pub reply_to: Option<Mailbox>,
    pub subject: String,
    pub html: String,
    /// The plain-text alternative; clients that cannot show HTML and spam filters read it.
    pub text: String,
    /// The part inside `<>`, e.g. `c12.r345.site@shop.example`. Deterministic per (campaign,
    /// contact) so a resend after a crash is the same message to the receiver.
    pub message_id: String,
    /// The https (or http) unsubscribe link. When https, the message also carries
    /// `List-Unsubscribe-Post` (RFC 8058 one-click), which Gmail and Yahoo require of bulk senders.
    pub list_unsubscribe_url: Option<String>,
    /// An address (with or without `mailto:`) that unsubscribes whoever writes to it.
    pub list_unsubscribe_mailto: Option<String>,
    /// Gmail's feedback loop id (`campaign:customer:type:sender`), so complaints can be traced.
    pub feedback_id: Option<String>,
    /// Sent as `X-Vestnik-Campaign`, so a bounce or a forwarded copy can be tied to its campaign.
    pub campaign_header: Option<String>,
    pub date: SystemTime,
}

const LIST_UNSUBSCRIBE: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe");
const LIST_UNSUBSCRIBE_POST: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe-Post");
const FEEDBACK_ID: HeaderName = HeaderName::new_from_ascii_str("Feedback-ID");
const CAMPAIGN: HeaderName = HeaderName::new_from_ascii_str("X-Vestnik-Campaign");

/// Builds the complete message: `multipart/alternative` with the plain-text part first and the
/// HTML part second (clients show the last part they understand), UTF-8 throughout.
pub fn build_message(msg: &OutgoingMessage) -> Result<Vec<u8>, MailError> {
    let message_id = checked_message_id(&msg.message_id)?;
    let mut builder = Message::builder()
        .from(msg.from.to_lettre()?)
        .to(msg.to.to_lettre()?)
        .subject(msg.subject.as_str())
        .date(msg.date)
        .message_id(Some(message_id));
    if let Some(reply_to) = &msg.reply_to {
        builder = builder.reply_to(reply_to.to_lettre()?);
    }

    let mailto = msg
        .list_unsubscribe_mailto
        .as_deref()
        .map(checked_mailto)
        .transpose()?;
    let url = msg
        .list_unsubscribe_url
        .as_deref()
        .map(checked_unsubscribe_url)
        .transpose()?;
    let one_click = url.is_some_and(|u| u.starts_with("https://"));
    let list_unsubscribe = match (&mailto, url) {
        (Some(m), Some(u)) => Some(format!("<{m}>, <{u}>")),
        (Some(m), None) => Some(format!("<{m}>")),
        (None, Some(u)) => Some(format!("<{u}>")),
        (None, None) => None,
    };
    if let Some(value) = list_unsubscribe {
        builder = builder.raw_header(HeaderValue::new(LIST_UNSUBSCRIBE, value));
        if one_click {
            builder = builder.raw_header(HeaderValue::new(
                LIST_UNSUBSCRIBE_POST,
                "List-Unsubscribe=One-Click".to_owned(),
            ));
        }
    }
    if let Some(id) = &msg.feedback_id {
        builder = builder.raw_header(HeaderValue::new(
            FEEDBACK_ID,
            checked_token("Feedback-ID", id)?.to_owned(),
        ));
    }
    if let Some(campaign) = &msg.campaign_header {
        builder = builder.raw_header(HeaderValue::new(
            CAMPAIGN,
            checked_token("X-Vestnik-Campaign", campaign)?.to_owned(),
        ));
    }

    // The bodies are encoded straight from the caller's strings (see `body`), no copies first.
    let alternative = MultiPart::alternative()
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(text_body(&msg.text)),
        )
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(text_body(&msg.html)),
        );
    let message = builder
        .multipart(alternative)
        .map_err(|e| MailError::Build(e.to_string()))?;
    Ok(message.formatted())
}

/// `<id-left@id-right>`; the caller gives the inside.
fn checked_message_id(id: &str) -> Result<String, MailError> {
    let bad = |reason: &str| MailError::InvalidHeader {
        header: "Message-ID",
        reason: format!("{id:?} {reason}"),
    };
    if id.is_empty() {
        return Err(bad("is empty"));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
    {
        return Err(bad(
            "may hold only printable ASCII without spaces or angle brackets",
        ));
    }
    match id.split_once('@') {
        Some((left, right)) if !left.is_empty() && !right.is_empty() && !right.contains('@') => {
            Ok(format!("<{id}>"))
        }
        _ => Err(bad(
            "must look like left@right, e.g. c12.r345.site@shop.example",
        )),
    }
}

/// A URI inside `<...>` of List-Unsubscribe: printable ASCII, and nothing that ends the bracket
/// or starts the next entry.
fn checked_uri<'a>(header: &'static str, uri: &'a str) -> Result<&'a str, MailError> {
    let uri = uri.trim();
    if uri.is_empty()
        || !uri
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b','))
    {
        return Err(MailError::InvalidHeader {
            header,
            reason: format!(
                "{uri:?} must be non-empty printable ASCII without spaces, commas or angle brackets \
                 (percent-encode them)"
            ),
        });
    }
    Ok(uri)
}

fn checked_unsubscribe_url(url: &str) -> Result<&str, MailError> {
    let url = checked_uri("List-Unsubscribe", url)?;
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        Ok(url)
    } else {
        Err(MailError::InvalidHeader {
            header: "List-Unsubscribe",
            reason: format!("the unsubscribe link {url:?} must start with https://"),
        })
    }
}

fn checked_mailto(mailto: &str) -> Result<String, MailError> {
    let mailto = checked_uri("List-Unsubscribe", mailto)?;
    let bare = mailto
        .strip_prefix("mailto:")
        .or_else(|| mailto.strip_prefix("MAILTO:"))
        .unwrap_or(mailto);
    let address = bare.split('?').next().unwrap_or(bare);
    parse_address(address)?;
    Ok(format!("mailto:{bare}"))
}

/// A single-line header value we pass through as given.
fn checked_token<'a>(header: &'static str, value: &'a str) -> Result<&'a str, MailError> {
    let value = value.trim();
    if value.is_empty() || value.chars().any(char::is_control) {
        return Err(MailError::InvalidHeader {
            header,
            reason: format!("{value:?} must be a non-empty single line"),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> OutgoingMessage {
        OutgoingMessage {
            from: Mailbox::new(Some("Shop"), "news@shop.example"),
            to: Mailbox::address("anna@example.org"),
            reply_to: None,
            subject: "Hello".into(),
            html: "<p>Hi</p>".into(),
            text: "Hi".into(),
            message_id: "c1.r2.s3@shop.example".into(),
            list_unsubscribe_url: None,
            list_unsubscribe_mailto: None,
            feedback_id: None,
            campaign_header: None,
            date: SystemTime::UNIX_EPOCH,
        }
    }

    fn header_block(raw: &[u8]) -> String {
        let raw = String::from_utf8_lossy(raw);
        raw.split("\r\n\r\n").next().unwrap_or_default().to_owned()
    }

    #[test]
    fn invalid_recipient_is_named_in_the_error() {
        let mut m = sample();
        m.to = Mailbox::address("anna at example.org");
        match build_message(&m) {
            Err(MailError::InvalidAddress { address, .. }) => {
                assert_eq!(address, "anna at example.org")
            }
            other => panic!("expected InvalidAddress, got {other:?}"),
        }
    }

    #[test]
    fn header_injection_through_list_values_is_refused() {
        let mut m = sample();
        m.list_unsubscribe_url = Some("https://x.example/u\r\nBcc: victim@example.org".into());
        assert!(matches!(
            build_message(&m),
            Err(MailError::InvalidHeader { .. })
        ));
        let mut m = sample();
        m.feedback_id = Some("a:b\r\nBcc: v@example.org".into());
        assert!(matches!(
            build_message(&m),
            Err(MailError::InvalidHeader { .. })
        ));
        let mut m = sample();
        m.message_id = "no-at-sign".into();
        assert!(matches!(
            build_message(&m),
            Err(MailError::InvalidHeader { .. })
        ));
    }

    #[test]
    fn one_click_header_only_with_an_https_link() {
        let mut m = sample();
        m.list_unsubscribe_mailto = Some("unsub@shop.example".into());
        let headers = header_block(&build_message(&m).unwrap());
        assert!(
            headers.contains("List-Unsubscribe: <mailto:unsub@shop.example>"),
            "{headers}"
        );
        assert!(!headers.contains("List-Unsubscribe-Post"), "{headers}");

        m.list_unsubscribe_url = Some("https://shop.example/u/tok".into());
        let headers = header_block(&build_message(&m).unwrap());
        assert!(
            headers.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
            "{headers}"
        );
    }
}
