//! Transfer-encoding a text body part (7bit, quoted-printable or base64), done here rather than
//! by lettre because this is most of the cost of building a message: lettre's encoders take
//! ~200 µs (quoted-printable) and ~80 µs (base64) for a 20 KB HTML body, these a few µs.
//!
//! The choice also differs: lettre picks quoted-printable whenever at most a third of the bytes
//! need escaping, but each escaped byte costs three, so for Russian text (two escaped bytes per
//! letter, plus every `=` of the HTML attributes) quoted-printable ends up ~20 % larger than
//! base64. Here it is quoted-printable only while that is the smaller of the two.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use lettre::message::Body;
use lettre::message::header::ContentTransferEncoding;

/// The longest line SMTP allows (RFC 5321 §4.5.3.1.6), without its CRLF.
const MAX_LINE: usize = 998;
/// Encoded lines of quoted-printable and base64 stay within 76 characters (RFC 2045).
const QP_LINE: usize = 76;
const B64_CHUNK: usize = 57; // 57 bytes → 76 base64 characters

/// Encodes `text` with CRLF line ends in the cheapest valid transfer encoding.
pub(crate) fn text_body(text: &str) -> Body {
    // One pass over the lines: how many bytes quoted-printable must escape, how many of those
    // are other than '=' (any such byte rules out 7bit), and the longest line.
    let (mut escaped, mut unsafe_bytes, mut longest) = (0usize, 0usize, 0usize);
    for line in lines(text) {
        longest = longest.max(line.len());
        for &b in line {
            let class = CLASS[usize::from(b)];
            escaped += usize::from(class != LITERAL);
            unsafe_bytes += usize::from(class == UNSAFE);
        }
    }
    let bytes = text.as_bytes();
    if unsafe_bytes == 0 && longest <= MAX_LINE {
        return Body::dangerous_pre_encoded(crlf(text), ContentTransferEncoding::SevenBit);
    }
    // Quoted-printable: n + 2·escaped, plus a soft break per 75; base64: 4/3·n plus CRLF per 76.
    let qp_size = (bytes.len() + 2 * escaped) * 77 / 75;
    let b64_size = bytes.len() * 4 / 3 * 78 / 76;
    if qp_size <= b64_size {
        Body::dangerous_pre_encoded(
            quoted_printable(text),
            ContentTransferEncoding::QuotedPrintable,
        )
    } else {
        Body::dangerous_pre_encoded(base64(&crlf(text)), ContentTransferEncoding::Base64)
    }
}

/// The lines of `text`, split on LF (found with memchr by `str::split`), without their line ends
/// (a CR before the LF is dropped).
fn lines(text: &str) -> impl Iterator<Item = &[u8]> {
    text.split('\n').map(|line| {
        let line = line.as_bytes();
        line.strip_suffix(b"\r").unwrap_or(line)
    })
}

/// Byte classes for quoted-printable: written as itself (anywhere but at a line's end), '='
/// (escaped, yet fine in 7bit), and everything else (escaped, and not 7bit-safe: 8-bit bytes and
/// control characters, a stray CR included).
const LITERAL: u8 = 0;
const EQUALS: u8 = 1;
const UNSAFE: u8 = 2;
static CLASS: [u8; 256] = {
    let mut table = [UNSAFE; 256];
    let mut b = b' ';
    while b <= b'~' {
        table[b as usize] = LITERAL;
        b += 1;
    }
    table[b'\t' as usize] = LITERAL;
    table[b'=' as usize] = EQUALS;
    table
};

/// `text` with every line end as CRLF (text parts must be in canonical form, RFC 2046 §4.1.1).
fn crlf(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 32);
    for (i, line) in lines(text).enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(line);
    }
    out
}

fn quoted_printable(text: &str) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(text.len() + text.len() / 2);
    for (i, line) in lines(text).enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        let mut column = 0;
        for (j, &b) in line.iter().enumerate() {
            let last = j + 1 == line.len();
            // Whitespace at the end of a line would be lost in transit, so it is escaped there.
            let literal = CLASS[usize::from(b)] == LITERAL && !(last && (b == b' ' || b == b'\t'));
            let width = if literal { 1 } else { 3 };
            // Keep room for the soft break's '=' unless this is the line's last character.
            let limit = if last { QP_LINE } else { QP_LINE - 1 };
            if column + width > limit {
                out.extend_from_slice(b"=\r\n");
                column = 0;
            }
            if literal {
                out.push(b);
            } else {
                out.extend_from_slice(&[b'=', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            }
            column += width;
        }
    }
    out
}

fn base64(data: &[u8]) -> Vec<u8> {
    let chunks = data.len().div_ceil(B64_CHUNK);
    let mut out = Vec::with_capacity(chunks * (QP_LINE + 2));
    let mut line = [0u8; QP_LINE];
    for (i, chunk) in data.chunks(B64_CHUNK).enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        // 57 input bytes always fit the 76-byte line buffer, so this cannot fail.
        let written = B64.encode_slice(chunk, &mut line).unwrap_or(0);
        out.extend_from_slice(&line[..written]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(text: &str) -> (ContentTransferEncoding, String) {
        let body = text_body(text);
        let encoding = body.encoding();
        (encoding, String::from_utf8(body.into_vec()).unwrap())
    }

    fn qp_decode(encoded: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let bytes = encoded.replace("=\r\n", "");
        let bytes = bytes.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn plain_ascii_stays_7bit_with_crlf() {
        assert_eq!(
            encoded("Hello,\nworld\r\n"),
            (
                ContentTransferEncoding::SevenBit,
                "Hello,\r\nworld\r\n".to_owned()
            )
        );
    }

    #[test]
    fn mostly_ascii_html_is_quoted_printable_within_76_columns_and_round_trips() {
        let html = format!(
            "{}<p>Привет</p> trailing space \n{}=\n",
            "<a href=\"https://shop.example/x\">link</a> ".repeat(40),
            "x".repeat(200)
        );
        let (encoding, out) = encoded(&html);
        assert_eq!(encoding, ContentTransferEncoding::QuotedPrintable);
        for line in out.split("\r\n") {
            assert!(line.len() <= 76, "{} chars: {line}", line.len());
            assert!(!line.ends_with(' '), "{line:?}");
        }
        assert_eq!(qp_decode(&out), html.replace('\n', "\r\n").into_bytes());
    }

    #[test]
    fn russian_text_is_base64_and_round_trips() {
        let text = "Здравствуйте, Анна!\nСкидки до 15% на чайники.\n".repeat(10);
        let (encoding, out) = encoded(&text);
        assert_eq!(encoding, ContentTransferEncoding::Base64);
        assert!(out.split("\r\n").all(|l| l.len() <= 76));
        let decoded = B64.decode(out.replace("\r\n", "")).unwrap();
        assert_eq!(decoded, text.replace('\n', "\r\n").into_bytes());
    }

    #[test]
    fn long_ascii_lines_are_wrapped_not_sent_over_the_smtp_limit() {
        let (encoding, out) = encoded(&"a".repeat(2000));
        assert_eq!(encoding, ContentTransferEncoding::QuotedPrintable);
        assert_eq!(qp_decode(&out), "a".repeat(2000).into_bytes());
        let (encoding, _) = encoded(&"a".repeat(998));
        assert_eq!(encoding, ContentTransferEncoding::SevenBit);
    }

    #[test]
    fn control_characters_never_go_out_raw() {
        let (encoding, out) = encoded("bell\u{7}\rcr\n");
        assert_ne!(encoding, ContentTransferEncoding::SevenBit);
        assert!(!out.bytes().any(|b| b == 7));
    }
}
