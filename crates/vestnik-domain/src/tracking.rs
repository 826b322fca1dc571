//! Tracking in campaign mail: the signed tokens behind the open pixel, click redirects,
//! unsubscribe and web-view pages, and what a click's destination gets added (UTM tags, the
//! banner marker). Pure functions: the sender builds links with them, the HTTP routes verify.
//!
//! # Token format (version 1)
//!
//! ```text
//! payload = version (1 byte, = 1)
//!         ‖ kind (1 byte: 1 open, 2 click, 3 unsubscribe, 4 web view)
//!         ‖ site id (12 bytes: its 24 hex digits decoded)
//!         ‖ campaign id (LEB128 varint)
//!         ‖ contact id (LEB128 varint; 0 = a test send to an address that is no contact)
//!         ‖ the destination URL, UTF-8, to the end (click tokens only)
//! token   = base64url without padding (payload ‖ first 16 bytes of HMAC-SHA256(key, payload))
//! ```
//!
//! An open token is about 50 characters; a click token adds 4/3 of its URL's length.
//!
//! **Why the URL is inside the token** (HARD-PARTS §5 sketched an index into a per-campaign
//! link list): templates are personalised — product links differ per contact — so a campaign
//! has no fixed link list to index. Signing the URL keeps both promises without one: only URLs
//! we signed can be reached (no open redirect), and verifying needs no database lookup.
//!
//! The MAC is checked before anything in the payload is interpreted, in constant time; 128
//! bits of tag leave forgery out of reach. The key is an installation secret every node reads
//! from the store (`TrackingStore::install_secret("tracking")`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::borrow::Cow;
use std::fmt;

use crate::campaign::UtmTags;
use crate::ids::{ContactId, SiteId};

/// The format version written into every token; bump it when the layout changes.
const VERSION: u8 = 1;
/// Bytes of HMAC-SHA256 kept in a token.
const TAG_LEN: usize = 16;
const SITE_LEN: usize = 12;
/// version + kind + site + two one-byte varints.
const MIN_PAYLOAD: usize = 2 + SITE_LEN + 2;
/// Longer tokens are refused before decoding: no URL in a real email comes near it.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The name of the installation secret the tracking key is made from
/// (`TrackingStore::install_secret`): the HTTP routes and the sender must use the same one.
pub const TRACKING_SECRET: &str = "tracking";

/// The query parameter added to click destinations of a campaign with "disable the banner
/// after a click" set. The site snippet reads it on landing and keeps the banner ("Смартоффер")
/// hidden for that visit.
pub const BANNER_OFF_PARAM: &str = "vstk_nobanner";

/// What a token opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackingKind {
    /// The 1×1 pixel: an open.
    Open,
    /// A rewritten link: a click, then a redirect to the signed URL.
    Click,
    /// The unsubscribe page and its one-click POST.
    Unsubscribe,
    /// The message shown in a browser (`{{ webview_url }}`).
    WebView,
}

impl TrackingKind {
    fn code(self) -> u8 {
        match self {
            TrackingKind::Open => 1,
            TrackingKind::Click => 2,
            TrackingKind::Unsubscribe => 3,
            TrackingKind::WebView => 4,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => TrackingKind::Open,
            2 => TrackingKind::Click,
            3 => TrackingKind::Unsubscribe,
            4 => TrackingKind::WebView,
            _ => return None,
        })
    }

    /// The route prefix a token of this kind is served under (the token follows).
    pub fn path(self) -> &'static str {
        match self {
            TrackingKind::Open => "/t/o/",
            TrackingKind::Click => "/t/c/",
            TrackingKind::Unsubscribe => "/t/u/",
            TrackingKind::WebView => "/t/w/",
        }
    }
}

/// Why a token was refused. Every variant means "not a link we made" to the visitor; the
/// distinction is for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not base64url or is too short or too long")]
    Malformed,
    /// Tampered with, truncated, or signed with another key.
    #[error("the token's signature does not match")]
    BadSignature,
    #[error("token format version {0} is unknown")]
    UnknownVersion(u8),
    /// Signed by us but not decodable: a bug in the encoder, or a newer node's kind.
    #[error("the token's payload is invalid: {0}")]
    BadPayload(&'static str),
}

/// The HMAC key for tracking tokens. Its `Debug` hides the secret.
#[derive(Clone)]
pub struct TrackingKey {
    /// Keyed once: cloning a keyed HMAC skips the two key-block compressions per token.
    mac: Hmac<Sha256>,
}

impl TrackingKey {
    /// A key from the installation's secret (any length; ours are 32 random bytes).
    pub fn new(secret: &[u8]) -> Self {
        // HMAC accepts keys of every length (long ones are hashed), so this cannot fail.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .expect("HMAC-SHA256 accepts keys of any length");
        TrackingKey { mac }
    }

    fn tag(&self, payload: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.mac.clone();
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }
}

impl fmt::Debug for TrackingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TrackingKey(<secret>)")
    }
}

/// What a tracking link says: who received which campaign, and for a click, where to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingToken {
    pub kind: TrackingKind,
    pub site: SiteId,
    pub campaign: i64,
    /// 0 for a test send to an address that is no contact.
    pub contact: i64,
    /// The destination of a click (UTM tags and the banner marker already added); `None` for
    /// the other kinds.
    pub url: Option<String>,
}

impl TrackingToken {
    pub fn new(
        kind: TrackingKind,
        site: SiteId,
        campaign: i64,
        contact: Option<ContactId>,
    ) -> Self {
        TrackingToken {
            kind,
            site,
            campaign,
            contact: contact.map_or(0, |c| c.0),
            url: None,
        }
    }

    pub fn click(site: SiteId, campaign: i64, contact: Option<ContactId>, url: &str) -> Self {
        TrackingToken {
            url: Some(url.to_string()),
            ..TrackingToken::new(TrackingKind::Click, site, campaign, contact)
        }
    }

    /// The contact, or `None` for a test send.
    pub fn contact_id(&self) -> Option<ContactId> {
        (self.contact > 0).then_some(ContactId(self.contact))
    }

    pub fn encode(&self, key: &TrackingKey) -> String {
        let mut out = String::new();
        self.encode_into(key, &mut out);
        out
    }

    /// `base` (the server's public URL, e.g. `https://mail.shop.ru`) + the kind's route + the token.
    pub fn url(&self, base: &str, key: &TrackingKey) -> String {
        let mut out = String::with_capacity(base.len() + 64);
        out.push_str(base.trim_end_matches('/'));
        out.push_str(self.kind.path());
        self.encode_into(key, &mut out);
        out
    }

    fn encode_into(&self, key: &TrackingKey, out: &mut String) {
        let mut payload = payload_head(self.kind, &self.site, self.campaign, self.contact);
        if self.kind == TrackingKind::Click {
            payload.extend_from_slice(self.url.as_deref().unwrap_or_default().as_bytes());
        }
        seal_into(payload, key, out);
    }

    /// Checks the signature, then decodes. Never touches the database.
    pub fn verify(token: &str, key: &TrackingKey) -> Result<TrackingToken, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| TokenError::Malformed)?;
        if bytes.len() < MIN_PAYLOAD + TAG_LEN {
            return Err(TokenError::Malformed);
        }
        let (payload, tag) = bytes.split_at(bytes.len() - TAG_LEN);
        let mut mac = key.mac.clone();
        mac.update(payload);
        // Constant time: how much of a forged tag matched must not show in the response time.
        mac.verify_truncated_left(tag)
            .map_err(|_| TokenError::BadSignature)?;

        if payload[0] != VERSION {
            return Err(TokenError::UnknownVersion(payload[0]));
        }
        let kind =
            TrackingKind::from_code(payload[1]).ok_or(TokenError::BadPayload("unknown kind"))?;
        let site = SiteId::from_trusted(hex::encode(&payload[2..2 + SITE_LEN]));
        let mut rest = &payload[2 + SITE_LEN..];
        let campaign = read_varint(&mut rest).ok_or(TokenError::BadPayload("campaign id"))?;
        let contact = read_varint(&mut rest).ok_or(TokenError::BadPayload("contact id"))?;
        let url = match kind {
            TrackingKind::Click => {
                let url = std::str::from_utf8(rest)
                    .map_err(|_| TokenError::BadPayload("the URL is not UTF-8"))?;
                // We only ever sign http(s) links; anything else (javascript:, data:) is refused
                // even with a valid signature, so a redirect can never run script.
                if !is_http_url(url) {
                    return Err(TokenError::BadPayload("the URL is not http(s)"));
                }
                Some(url.to_string())
            }
            _ if !rest.is_empty() => return Err(TokenError::BadPayload("trailing bytes")),
            _ => None,
        };
        Ok(TrackingToken {
            kind,
            site,
            campaign: campaign as i64,
            contact: contact as i64,
            url,
        })
    }
}

/// Whether `url` starts with `http://` or `https://` (any case) and names something after it.
pub fn is_http_url(url: &str) -> bool {
    let b = url.as_bytes();
    let after = if b.len() > 7 && b[..7].eq_ignore_ascii_case(b"http://") {
        7
    } else if b.len() > 8 && b[..8].eq_ignore_ascii_case(b"https://") {
        8
    } else {
        return false;
    };
    !b[after..].starts_with(b"/")
}

/// A site id's 12 bytes. Every `SiteId` is 24 hex digits (`SiteId::parse`/`generate`); one that
/// is not could only come from a corrupted row, and then its links name no site and record
/// nothing, while clicks still reach their destination.
fn site_bytes(site: &SiteId) -> [u8; SITE_LEN] {
    let mut out = [0u8; SITE_LEN];
    if hex::decode_to_slice(site.as_str(), &mut out).is_err() {
        debug_assert!(false, "site id {site} is not 24 hex digits");
        out = [0u8; SITE_LEN];
    }
    out
}

/// Everything of a payload but a click's URL.
fn payload_head(kind: TrackingKind, site: &SiteId, campaign: i64, contact: i64) -> Vec<u8> {
    // Room for the URL of a typical link too, so a click payload grows without moving.
    let mut payload = Vec::with_capacity(MIN_PAYLOAD + 18 + 256 + TAG_LEN);
    payload.push(VERSION);
    payload.push(kind.code());
    payload.extend_from_slice(&site_bytes(site));
    write_varint(&mut payload, campaign as u64);
    write_varint(&mut payload, contact as u64);
    payload
}

/// Appends the tag to `payload` and the whole as base64url to `out`.
fn seal_into(mut payload: Vec<u8>, key: &TrackingKey, out: &mut String) {
    let tag = key.tag(&payload);
    payload.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode_string(&payload, out);
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(input: &mut &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for (i, &b) in input.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *input = &input[i + 1..];
            return Some(v);
        }
    }
    None
}

/// What a campaign adds to every click destination before it is signed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkDecoration {
    pub utm: Option<UtmTags>,
    /// The campaign's "disable the banner after a click" flag: adds [`BANNER_OFF_PARAM`].
    pub disable_banner: bool,
}

impl LinkDecoration {
    pub fn apply<'a>(&self, url: &'a str) -> Cow<'a, str> {
        let mut params: [(&str, &str); 6] = [("", ""); 6];
        let mut n = 0;
        if let Some(utm) = &self.utm {
            n = utm_params(utm, &mut params);
        }
        if self.disable_banner {
            params[n] = (BANNER_OFF_PARAM, "1");
            n += 1;
        }
        if n == 0 {
            return Cow::Borrowed(url);
        }
        Cow::Owned(add_query_params(url, &params[..n]))
    }
}

/// Appends the set `utm_*` tags to `url`'s query, except tags the link already has (the
/// marketer's own tag wins). The rest of the URL — existing query, fragment, encoding — is
/// kept byte for byte; values are percent-encoded.
pub fn add_utm(url: &str, utm: &UtmTags) -> String {
    let mut params: [(&str, &str); 5] = [("", ""); 5];
    let n = utm_params(utm, &mut params);
    add_query_params(url, &params[..n])
}

/// The set (non-empty) tags as query parameters, into `out`; returns how many.
fn utm_params<'a>(utm: &'a UtmTags, out: &mut [(&'static str, &'a str)]) -> usize {
    let mut n = 0;
    for (name, value) in [
        ("utm_source", &utm.source),
        ("utm_medium", &utm.medium),
        ("utm_campaign", &utm.campaign),
        ("utm_content", &utm.content),
        ("utm_term", &utm.term),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            out[n] = (name, v);
            n += 1;
        }
    }
    n
}

/// Appends `name=value` pairs before the fragment, skipping names the query already has.
/// Small string surgery rather than a URL parser: a parser would normalise the marketer's
/// link (host case, percent-encoding), and this runs for every link of every message.
fn add_query_params(url: &str, params: &[(&str, &str)]) -> String {
    let (base, fragment) = url.split_at(url.find('#').unwrap_or(url.len()));
    let query = base.find('?').map(|i| &base[i + 1..]);
    // Which of `params` the query already names, in one pass over it (bit i = params[i]).
    let mut present = 0u64;
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        for (i, (wanted, _)) in params.iter().enumerate().take(64) {
            if name == *wanted {
                present |= 1 << i;
            }
        }
    }
    let mut out = String::with_capacity(url.len() + 16 * params.len() + 32);
    out.push_str(base);
    let mut has_query = query.is_some();
    let mut needs_amp = query.is_some_and(|q| !q.is_empty() && !q.ends_with('&'));
    for (i, (name, value)) in params.iter().enumerate() {
        if i < 64 && present & (1 << i) != 0 {
            continue;
        }
        if !has_query {
            out.push('?');
            has_query = true;
        } else if needs_amp {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        percent_encode_into(value, &mut out);
        needs_amp = true;
    }
    out.push_str(fragment);
    out
}

/// RFC 3986 unreserved characters stay; every other byte becomes `%XX`.
fn percent_encode_into(value: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut run = 0;
    for (i, b) in value.bytes().enumerate() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            continue;
        }
        // `run..i` holds unreserved ASCII only, so both ends are character boundaries; an
        // empty run may start inside a multi-byte character and must not be sliced.
        if run < i {
            out.push_str(&value[run..i]);
        }
        out.push('%');
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
        run = i + 1;
    }
    out.push_str(&value[run..]);
}

/// The tracking URLs of one message, for the sender: the pixel, each rewritten link (with the
/// campaign's decoration applied first), the unsubscribe and web-view pages. Built once per
/// message; what every click token of the message shares is prepared here.
#[derive(Debug, Clone)]
pub struct MessageLinks<'a> {
    key: &'a TrackingKey,
    /// The server's public URL without a trailing slash.
    base_url: &'a str,
    site: SiteId,
    campaign: i64,
    contact: i64,
    decoration: &'a LinkDecoration,
    /// A click payload up to its URL.
    click_head: Vec<u8>,
}

impl<'a> MessageLinks<'a> {
    /// `base_url` is the server's public URL, e.g. `https://mail.shop.ru`; `contact` is
    /// `None` for a test send to an address that is no contact.
    pub fn new(
        key: &'a TrackingKey,
        base_url: &'a str,
        site: SiteId,
        campaign: i64,
        contact: Option<ContactId>,
        decoration: &'a LinkDecoration,
    ) -> Self {
        let contact = contact.map_or(0, |c| c.0);
        MessageLinks {
            click_head: payload_head(TrackingKind::Click, &site, campaign, contact),
            key,
            base_url: base_url.trim_end_matches('/'),
            site,
            campaign,
            contact,
            decoration,
        }
    }

    fn url(&self, kind: TrackingKind, payload: Vec<u8>) -> String {
        let path = kind.path();
        let mut out =
            String::with_capacity(self.base_url.len() + path.len() + payload.len() * 4 / 3 + 24);
        out.push_str(self.base_url);
        out.push_str(path);
        seal_into(payload, self.key, &mut out);
        out
    }

    fn page_url(&self, kind: TrackingKind) -> String {
        self.url(
            kind,
            payload_head(kind, &self.site, self.campaign, self.contact),
        )
    }

    pub fn open_url(&self) -> String {
        self.page_url(TrackingKind::Open)
    }

    pub fn unsubscribe_url(&self) -> String {
        self.page_url(TrackingKind::Unsubscribe)
    }

    pub fn webview_url(&self) -> String {
        self.page_url(TrackingKind::WebView)
    }

    /// The redirect link for `destination` (an http(s) URL as written in the message).
    pub fn click_url(&self, destination: &str) -> String {
        let target = self.decoration.apply(destination);
        let mut payload = Vec::with_capacity(self.click_head.len() + target.len() + TAG_LEN);
        payload.extend_from_slice(&self.click_head);
        payload.extend_from_slice(target.as_bytes());
        self.url(TrackingKind::Click, payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> SiteId {
        SiteId::parse("6b03b3b1762edc10a8f90c56").unwrap()
    }

    fn key() -> TrackingKey {
        TrackingKey::new(b"0123456789abcdef0123456789abcdef")
    }

    fn click() -> TrackingToken {
        TrackingToken::click(
            site(),
            42,
            Some(ContactId(1_234_567)),
            "https://shop.example/p/1?a=1&b=%D0%B0#top",
        )
    }

    /// Flips one bit of the decoded token and encodes it again.
    fn tamper(token: &str, byte: usize) -> String {
        let mut bytes = URL_SAFE_NO_PAD.decode(token).unwrap();
        bytes[byte] ^= 0x01;
        URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn every_kind_round_trips() {
        for kind in [
            TrackingKind::Open,
            TrackingKind::Unsubscribe,
            TrackingKind::WebView,
        ] {
            let t = TrackingToken::new(kind, site(), 7, Some(ContactId(99)));
            assert_eq!(TrackingToken::verify(&t.encode(&key()), &key()), Ok(t));
        }
        let c = click();
        assert_eq!(TrackingToken::verify(&c.encode(&key()), &key()), Ok(c));
    }

    #[test]
    fn site_campaign_and_contact_survive_at_their_extremes() {
        for (campaign, contact) in [(0, 0), (1, 1), (127, 128), (i64::MAX, i64::MAX - 1)] {
            let t = TrackingToken {
                kind: TrackingKind::Open,
                site: SiteId::parse("ffffffffffffffffffffffff").unwrap(),
                campaign,
                contact,
                url: None,
            };
            let back = TrackingToken::verify(&t.encode(&key()), &key()).unwrap();
            assert_eq!(back, t);
        }
        let test_send = TrackingToken::new(TrackingKind::Open, site(), 3, None);
        let back = TrackingToken::verify(&test_send.encode(&key()), &key()).unwrap();
        assert_eq!(back.contact_id(), None);
        assert_eq!(back.site, site());
    }

    #[test]
    fn an_open_token_is_compact() {
        let t = TrackingToken::new(
            TrackingKind::Open,
            site(),
            12_345,
            Some(ContactId(9_999_999)),
        );
        assert!(t.encode(&key()).len() <= 50, "{}", t.encode(&key()));
    }

    #[test]
    fn any_flipped_byte_is_refused() {
        let token = click().encode(&key());
        let len = URL_SAFE_NO_PAD.decode(&token).unwrap().len();
        for i in 0..len {
            assert_eq!(
                TrackingToken::verify(&tamper(&token, i), &key()),
                Err(TokenError::BadSignature),
                "byte {i}"
            );
        }
    }

    #[test]
    fn truncated_or_garbage_tokens_are_refused() {
        let token = click().encode(&key());
        for cut in [1, 5, token.len() / 2, token.len() - 1] {
            assert!(
                TrackingToken::verify(&token[..cut], &key()).is_err(),
                "cut at {cut}"
            );
        }
        assert_eq!(
            TrackingToken::verify("", &key()),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            TrackingToken::verify("not base64!", &key()),
            Err(TokenError::Malformed)
        );
        let huge = "A".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(
            TrackingToken::verify(&huge, &key()),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn another_key_is_refused() {
        let token = click().encode(&key());
        let other = TrackingKey::new(b"another installation's secret");
        assert_eq!(
            TrackingToken::verify(&token, &other),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_signed_non_http_url_is_still_refused() {
        let t = TrackingToken::click(site(), 1, None, "javascript:alert(1)");
        assert_eq!(
            TrackingToken::verify(&t.encode(&key()), &key()),
            Err(TokenError::BadPayload("the URL is not http(s)"))
        );
        assert!(is_http_url("HTTPS://shop.example"));
        assert!(!is_http_url("https:///evil"));
        assert!(!is_http_url("https://"));
        assert!(!is_http_url("mailto:a@b.ru"));
    }

    #[test]
    fn the_key_stays_out_of_logs() {
        assert_eq!(format!("{:?}", key()), "TrackingKey(<secret>)");
    }

    fn utm() -> UtmTags {
        UtmTags {
            source: Some("vestnik".into()),
            medium: Some("email".into()),
            campaign: Some("Весна 2026".into()),
            content: None,
            term: Some(String::new()),
        }
    }

    #[test]
    fn utm_tags_are_appended_to_the_query_before_the_fragment() {
        assert_eq!(
            add_utm("https://shop.example/p/1", &utm()),
            "https://shop.example/p/1?utm_source=vestnik&utm_medium=email&utm_campaign=%D0%92%D0%B5%D1%81%D0%BD%D0%B0%202026"
        );
        assert_eq!(
            add_utm("https://shop.example/p?id=5&amp=x#reviews", &utm()),
            "https://shop.example/p?id=5&amp=x&utm_source=vestnik&utm_medium=email&utm_campaign=%D0%92%D0%B5%D1%81%D0%BD%D0%B0%202026#reviews"
        );
        assert_eq!(
            add_utm("https://shop.example/?", &utm()),
            "https://shop.example/?utm_source=vestnik&utm_medium=email&utm_campaign=%D0%92%D0%B5%D1%81%D0%BD%D0%B0%202026"
        );
        assert_eq!(
            add_utm(
                "https://shop.example/?a=1&",
                &UtmTags {
                    source: Some("x".into()),
                    ..Default::default()
                }
            ),
            "https://shop.example/?a=1&utm_source=x"
        );
    }

    #[test]
    fn a_tag_the_link_already_has_is_kept() {
        assert_eq!(
            add_utm("https://shop.example/?utm_source=partner&x=1#f", &utm()),
            "https://shop.example/?utm_source=partner&x=1&utm_medium=email&utm_campaign=%D0%92%D0%B5%D1%81%D0%BD%D0%B0%202026#f"
        );
        // A name that merely contains the tag's name is another parameter.
        assert!(
            add_utm("https://s.example/?my_utm_source=a", &utm()).contains("&utm_source=vestnik")
        );
        assert_eq!(
            add_utm("https://s.example/", &UtmTags::default()),
            "https://s.example/"
        );
    }

    #[test]
    fn the_banner_marker_follows_the_utm_tags_once() {
        let d = LinkDecoration {
            utm: Some(UtmTags {
                source: Some("vestnik".into()),
                ..Default::default()
            }),
            disable_banner: true,
        };
        assert_eq!(
            d.apply("https://shop.example/p#x"),
            "https://shop.example/p?utm_source=vestnik&vstk_nobanner=1#x"
        );
        assert_eq!(
            d.apply("https://shop.example/p?vstk_nobanner=1"),
            "https://shop.example/p?vstk_nobanner=1&utm_source=vestnik"
        );
        let plain = LinkDecoration::default();
        assert!(matches!(
            plain.apply("https://a.example/"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn message_links_sign_the_decorated_destination() {
        let d = LinkDecoration {
            utm: Some(UtmTags {
                medium: Some("email".into()),
                ..Default::default()
            }),
            disable_banner: false,
        };
        let k = key();
        let links = MessageLinks::new(
            &k,
            "https://mail.shop.example/",
            site(),
            5,
            Some(ContactId(8)),
            &d,
        );
        let click = links.click_url("https://shop.example/p/1");
        let token = click
            .strip_prefix("https://mail.shop.example/t/c/")
            .expect("a click route URL");
        let t = TrackingToken::verify(token, &k).unwrap();
        assert_eq!(
            t.url.as_deref(),
            Some("https://shop.example/p/1?utm_medium=email")
        );
        assert_eq!((t.campaign, t.contact), (5, 8));
        assert!(
            links
                .open_url()
                .starts_with("https://mail.shop.example/t/o/")
        );
        assert!(
            links
                .unsubscribe_url()
                .starts_with("https://mail.shop.example/t/u/")
        );
        assert!(
            links
                .webview_url()
                .starts_with("https://mail.shop.example/t/w/")
        );
        let open = links.open_url();
        let open = TrackingToken::verify(open.rsplit('/').next().unwrap(), &k).unwrap();
        assert_eq!(
            open,
            TrackingToken::new(TrackingKind::Open, site(), 5, Some(ContactId(8)))
        );
    }
}
