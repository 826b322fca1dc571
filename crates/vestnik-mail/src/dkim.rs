//! DKIM: keys (generate, store, publish) and signing with `mail-auth` on aws-lc-rs.
//!
//! Why not lettre's `dkim` feature: it signs with the pure-Rust `rsa` crate, which is several
//! times slower than aws-lc for RSA-2048 (see `benches/dkim_sign.rs`), and signing is on the hot
//! path of every message. Keys are generated with aws-lc-rs, the crypto library mail-auth and
//! rustls already build, so DKIM adds no crypto code of its own.
//!
//! Key formats: a key is stored as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, what
//! `openssl genpkey` writes). [`DkimKey::from_stored`] also takes PKCS#1 RSA PEM
//! (`-----BEGIN RSA PRIVATE KEY-----`, from `openssl genrsa`) and bare base64 of PKCS#8 DER.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use mail_auth::common::crypto::{DkimKey as SigningKey, Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter as _;
use mail_auth::common::parse::TxtRecordParser as _;
use mail_auth::common::verify::DomainKey;
use mail_auth::dkim::{Canonicalization, Done};
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters, Txt};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::MailError;

/// The signing algorithms we offer. RSA-2048 is what every receiver checks; Ed25519 (RFC 8463)
/// is small and fast but not verified everywhere yet, so senders who use it usually publish both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DkimAlgorithm {
    Rsa2048,
    Ed25519,
}

impl DkimAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            DkimAlgorithm::Rsa2048 => "rsa2048",
            DkimAlgorithm::Ed25519 => "ed25519",
        }
    }
}

impl FromStr for DkimAlgorithm {
    type Err = MailError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rsa2048" | "rsa" | "rsa-sha256" => Ok(DkimAlgorithm::Rsa2048),
            "ed25519" | "ed25519-sha256" => Ok(DkimAlgorithm::Ed25519),
            other => Err(MailError::DkimKey {
                reason: format!("unknown DKIM algorithm {other:?}; use \"rsa2048\" or \"ed25519\""),
            }),
        }
    }
}

/// The headers covered by the signature when the message has them. From is mandatory per
/// RFC 6376; the list headers are signed because RFC 8058 one-click only counts when they are.
const SIGNED_HEADERS: [&str; 11] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Reply-To",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Feedback-ID",
];

/// A DKIM private key with the domain and selector it signs for.
#[derive(Clone)]
pub struct DkimKey {
    algorithm: DkimAlgorithm,
    domain: String,
    selector: String,
    /// PKCS#8 DER of the private key (the one format both aws-lc-rs and mail-auth read).
    pkcs8: Vec<u8>,
    /// Exactly the bytes the DNS record's `p=` carries: SubjectPublicKeyInfo for RSA, the raw
    /// 32-byte key for Ed25519 (RFC 8463 §4.2).
    public_key: Vec<u8>,
}

impl fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimKey")
            .field("algorithm", &self.algorithm)
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .finish_non_exhaustive()
    }
}

impl DkimKey {
    /// Makes a new key pair. RSA-2048 generation takes tens of milliseconds.
    pub fn generate(
        algorithm: DkimAlgorithm,
        domain: &str,
        selector: &str,
    ) -> Result<Self, MailError> {
        let failed = |what: &str| MailError::DkimKey {
            reason: format!("could not generate a new {what} key"),
        };
        let pkcs8 = match algorithm {
            DkimAlgorithm::Rsa2048 => {
                aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .and_then(|k| k.as_der())
                    .map(|der| der.as_ref().to_vec())
                    .map_err(|_| failed("RSA-2048"))?
            }
            DkimAlgorithm::Ed25519 => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8v1())
                .map(|doc| doc.as_ref().to_vec())
                .map_err(|_| failed("Ed25519"))?,
        };
        Self::from_pkcs8(algorithm, domain, selector, pkcs8)
    }

    /// Reads a key saved by [`private_key_for_storage`](Self::private_key_for_storage) or made
    /// with openssl (PKCS#8 PEM, PKCS#1 RSA PEM, or base64 PKCS#8 DER).
    pub fn from_stored(
        algorithm: DkimAlgorithm,
        domain: &str,
        selector: &str,
        stored: &str,
    ) -> Result<Self, MailError> {
        let bad = |reason: &str| MailError::DkimKey {
            reason: format!(
                "the stored {} key for {selector}._domainkey.{domain} {reason}",
                algorithm.as_str()
            ),
        };
        let stored = stored.trim();
        let (label, der) = if stored.starts_with("-----BEGIN ") {
            decode_pem(stored).ok_or_else(|| bad("is not valid PEM"))?
        } else {
            let compact: String = stored.split_whitespace().collect();
            let der = B64
                .decode(compact.as_bytes())
                .map_err(|_| bad("is neither PEM nor base64 of a PKCS#8 key"))?;
            ("PRIVATE KEY".to_owned(), der)
        };
        let pkcs8 = match (label.as_str(), algorithm) {
            ("PRIVATE KEY", _) => der,
            ("RSA PRIVATE KEY", DkimAlgorithm::Rsa2048) => aws_lc_rs::rsa::KeyPair::from_der(&der)
                .map_err(|e| bad(&format!("is not a usable PKCS#1 RSA key ({e})")))?
                .as_der()
                .map(|p| p.as_ref().to_vec())
                .map_err(|_| bad("could not be converted to PKCS#8"))?,
            ("ENCRYPTED PRIVATE KEY", _) => {
                return Err(bad(
                    "is encrypted; store it unencrypted (openssl pkcs8 -topk8 -nocrypt)",
                ));
            }
            (other, _) => return Err(bad(&format!("is a PEM {other:?}, not a private key"))),
        };
        Self::from_pkcs8(algorithm, domain, selector, pkcs8)
    }

    fn from_pkcs8(
        algorithm: DkimAlgorithm,
        domain: &str,
        selector: &str,
        pkcs8: Vec<u8>,
    ) -> Result<Self, MailError> {
        let domain = checked_dns_name("domain", domain)?;
        let selector = checked_dns_name("selector", selector)?;
        let bad = |reason: String| MailError::DkimKey {
            reason: format!("the key for {selector}._domainkey.{domain} {reason}"),
        };
        let public_key = match algorithm {
            DkimAlgorithm::Rsa2048 => {
                let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(&pkcs8)
                    .map_err(|e| bad(format!("is not a usable RSA key ({e})")))?;
                if pair.public_modulus_len() < 256 {
                    return Err(bad(format!(
                        "has only {} bits; receivers ignore RSA keys under 2048 bits",
                        pair.public_modulus_len() * 8
                    )));
                }
                pair.public_key()
                    .as_der()
                    .map(|spki| spki.as_ref().to_vec())
                    .map_err(|_| bad("has a public key that cannot be encoded".to_owned()))?
            }
            DkimAlgorithm::Ed25519 => Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
                .map_err(|e| bad(format!("is not a usable Ed25519 key ({e})")))?
                .public_key()
                .as_ref()
                .to_vec(),
        };
        Ok(DkimKey {
            algorithm,
            domain,
            selector,
            pkcs8,
            public_key,
        })
    }

    pub fn algorithm(&self) -> DkimAlgorithm {
        self.algorithm
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn selector(&self) -> &str {
        &self.selector
    }

    /// The private key as PKCS#8 PEM, to keep in the store (it is a secret: encrypt at rest if
    /// the store does).
    pub fn private_key_for_storage(&self) -> String {
        encode_pem("PRIVATE KEY", &self.pkcs8)
    }

    /// The TXT record to publish: `(name, value)`, e.g.
    /// `("s1._domainkey.shop.example", "v=DKIM1; k=rsa; p=MIIB…")`. An RSA-2048 value is about
    /// 410 characters; DNS panels split it into 255-character strings themselves, raw zone files
    /// need it written as several quoted strings.
    pub fn dns_record(&self) -> (String, String) {
        let k = match self.algorithm {
            DkimAlgorithm::Rsa2048 => "rsa",
            DkimAlgorithm::Ed25519 => "ed25519",
        };
        (
            format!("{}._domainkey.{}", self.selector, self.domain),
            format!("v=DKIM1; k={k}; p={}", B64.encode(&self.public_key)),
        )
    }
}

/// Signs messages with one key. Build it once per key and share it (`&self`, `Send + Sync`).
pub struct DkimSigner {
    inner: mail_auth::dkim::DkimSigner<SigningKey, Done>,
}

impl fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimSigner")
            .field("domain", &self.inner.template.d)
            .field("selector", &self.inner.template.s)
            .finish_non_exhaustive()
    }
}

impl DkimSigner {
    /// Relaxed/relaxed canonicalization: survives the header re-folding and trailing-space
    /// changes relays make, which `simple` does not.
    pub fn new(key: &DkimKey) -> Result<Self, MailError> {
        let bad = |e: mail_auth::Error| MailError::DkimKey {
            reason: format!("mail-auth refused the {} key: {e}", key.algorithm.as_str()),
        };
        let signing_key = match key.algorithm {
            DkimAlgorithm::Rsa2048 => SigningKey::Rsa(
                RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                    key.pkcs8.clone(),
                )))
                .map_err(bad)?,
            ),
            DkimAlgorithm::Ed25519 => SigningKey::Ed25519(
                Ed25519Key::from_pkcs8_maybe_unchecked_der(&key.pkcs8).map_err(bad)?,
            ),
        };
        let inner = mail_auth::dkim::DkimSigner::from_key(signing_key)
            .domain(key.domain.as_str())
            .selector(key.selector.as_str())
            .headers(SIGNED_HEADERS)
            .header_canonicalization(Canonicalization::Relaxed)
            .body_canonicalization(Canonicalization::Relaxed);
        Ok(DkimSigner { inner })
    }

    /// Returns the message with its `DKIM-Signature` header first. The input must be a complete
    /// message with CRLF line ends (what [`build_message`](crate::build_message) returns).
    pub fn sign(&self, raw_message: &[u8]) -> Result<Vec<u8>, MailError> {
        let signature = self
            .inner
            .sign(raw_message)
            .map_err(|e| MailError::DkimSign {
                reason: e.to_string(),
            })?;
        let mut out = Vec::with_capacity(raw_message.len() + 700);
        signature.write_header(&mut out);
        out.extend_from_slice(raw_message);
        Ok(out)
    }
}

/// Checks a signed message against a DKIM TXT record given as text, without asking DNS: the
/// self-test behind "is my published record right?" and the tests of this crate.
pub async fn verify_dkim(
    raw_message: &[u8],
    record_name: &str,
    record_value: &str,
) -> Result<(), MailError> {
    let failed = |reason: String| MailError::DkimVerify { reason };
    let key = DomainKey::parse(record_value.as_bytes()).map_err(|e| {
        failed(format!(
            "the record {record_value:?} is not a DKIM key record: {e}"
        ))
    })?;
    let name = record_name
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let records = OneRecord(HashMap::from([(
        format!("{name}.").into_boxed_str(),
        Txt::from(key),
    )]));
    let message = AuthenticatedMessage::parse(raw_message)
        .ok_or_else(|| failed("the message could not be parsed".to_owned()))?;
    // The resolver is never asked: the record above answers the only lookup.
    let authenticator = MessageAuthenticator::new_cloudflare()
        .map_err(|e| failed(format!("could not set up the verifier: {e}")))?;
    let outputs = authenticator
        .verify_dkim(Parameters::new(&message).with_txt_cache(&records))
        .await;
    match outputs.first().map(|o| o.result()) {
        Some(DkimResult::Pass) => Ok(()),
        Some(other) => Err(failed(format!("{other:?}"))),
        None => Err(failed(
            "the message has no DKIM-Signature header".to_owned(),
        )),
    }
}

/// A resolver cache holding the one TXT record under test.
struct OneRecord(HashMap<Box<str>, Txt>);

impl mail_auth::ResolverCache<Box<str>, Txt> for OneRecord {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.get(name).cloned()
    }

    fn remove<Q>(&self, _name: &Q) -> Option<Txt>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        None
    }

    fn insert(&self, _key: Box<str>, _value: Txt, _valid_until: std::time::Instant) {}
}

/// Lowercased DNS name made of letters, digits, `-`, `_` and dots.
fn checked_dns_name(what: &str, name: &str) -> Result<String, MailError> {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(name)
    } else {
        Err(MailError::DkimKey {
            reason: format!(
                "the DKIM {what} {name:?} is not a DNS name (letters, digits, '-', '_' and dots; \
                 write an internationalised domain in its xn-- form)"
            ),
        })
    }
}

fn encode_pem(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 64);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every 64-byte chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Returns the PEM label and the decoded body of the first block.
fn decode_pem(pem: &str) -> Option<(String, Vec<u8>)> {
    let rest = pem.strip_prefix("-----BEGIN ")?;
    let (label, rest) = rest.split_once("-----")?;
    let end = format!("-----END {label}-----");
    let (body, _) = rest.split_once(end.as_str())?;
    let compact: String = body.split_whitespace().collect();
    let der = B64.decode(compact.as_bytes()).ok()?;
    Some((label.to_owned(), der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_key_round_trips_and_keeps_its_dns_record() {
        for alg in [DkimAlgorithm::Ed25519, DkimAlgorithm::Rsa2048] {
            let key = DkimKey::generate(alg, "Shop.Example", "s1").unwrap();
            let stored = key.private_key_for_storage();
            assert!(
                stored.starts_with("-----BEGIN PRIVATE KEY-----\n"),
                "{stored}"
            );
            let again = DkimKey::from_stored(alg, "shop.example", "s1", &stored).unwrap();
            assert_eq!(again.dns_record(), key.dns_record());
            let bare: String = stored.lines().filter(|l| !l.starts_with("-----")).collect();
            let from_bare = DkimKey::from_stored(alg, "shop.example", "s1", &bare).unwrap();
            assert_eq!(from_bare.dns_record(), key.dns_record());
        }
    }

    #[test]
    fn dns_record_names_the_selector_and_key_type() {
        let key = DkimKey::generate(DkimAlgorithm::Ed25519, "shop.example", "ed1").unwrap();
        let (name, value) = key.dns_record();
        assert_eq!(name, "ed1._domainkey.shop.example");
        let p = value.strip_prefix("v=DKIM1; k=ed25519; p=").unwrap();
        assert_eq!(
            B64.decode(p).unwrap().len(),
            32,
            "RFC 8463 publishes the raw 32-byte key"
        );

        let key = DkimKey::generate(DkimAlgorithm::Rsa2048, "shop.example", "rsa1").unwrap();
        let (_, value) = key.dns_record();
        assert!(
            value.starts_with("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"),
            "{value}"
        );
    }

    #[test]
    fn garbage_and_mismatched_keys_are_refused_with_the_selector_named() {
        let err = DkimKey::from_stored(DkimAlgorithm::Rsa2048, "shop.example", "s1", "not a key")
            .unwrap_err()
            .to_string();
        assert!(err.contains("s1._domainkey.shop.example"), "{err}");
        let ed = DkimKey::generate(DkimAlgorithm::Ed25519, "shop.example", "s1").unwrap();
        let err = DkimKey::from_stored(
            DkimAlgorithm::Rsa2048,
            "shop.example",
            "s1",
            &ed.private_key_for_storage(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a usable RSA key"), "{err}");
        assert!(DkimKey::generate(DkimAlgorithm::Ed25519, "shop example", "s1").is_err());
    }

    #[test]
    fn debug_does_not_show_the_private_key() {
        let key = DkimKey::generate(DkimAlgorithm::Ed25519, "shop.example", "s1").unwrap();
        let pem_body: String = key
            .private_key_for_storage()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        assert!(!format!("{key:?}").contains(&pem_body[..20]));
    }
}
