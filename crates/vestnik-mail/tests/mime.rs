//! What a mail client makes of the bytes `build_message` produces: parsed back with
//! `mail-parser`, as a receiving client would.

mod common;

use common::*;
use mail_parser::{MessageParser, MimeHeaders, PartType};
use vestnik_mail::{MailError, build_message};

#[test]
fn cyrillic_subject_and_names_decode_back_exactly() {
    let raw = build_message(&sample(7, 4_000)).unwrap();
    assert!(
        raw.is_ascii(),
        "headers and bodies are 7-bit encoded for any relay"
    );
    let msg = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(msg.subject(), Some(SUBJECT));
    let from = msg.from().and_then(|a| a.first()).unwrap();
    assert_eq!(from.name(), Some(FROM_NAME));
    assert_eq!(from.address(), Some("news@shop.example"));
    let to = msg.to().and_then(|a| a.first()).unwrap();
    assert_eq!(to.name(), Some("Анна Петрова"));
    assert_eq!(to.address(), Some("anna7@example.org"));
    let reply_to = msg.reply_to().and_then(|a| a.first()).unwrap();
    assert_eq!(reply_to.address(), Some("help@shop.example"));
    assert_eq!(msg.message_id(), Some("c12.r7.s3@shop.example"));
    assert_eq!(msg.date().map(|d| d.to_timestamp()), Some(1_760_000_000));
}

#[test]
fn bodies_are_multipart_alternative_text_first_and_round_trip() {
    let original = sample(1, 20_000);
    let raw = build_message(&original).unwrap();
    let msg = MessageParser::default().parse(&raw).unwrap();

    let ct = msg.content_type().unwrap();
    assert_eq!(
        (ct.ctype(), ct.subtype()),
        ("multipart", Some("alternative"))
    );
    let PartType::Multipart(children) = &msg.root_part().body else {
        panic!("root is not multipart");
    };
    let kinds: Vec<_> = children
        .iter()
        .map(|&id| {
            let part = msg.part(id).unwrap();
            let ct = part.content_type().unwrap();
            assert_eq!(ct.attribute("charset"), Some("utf-8"));
            format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default())
        })
        .collect();
    assert_eq!(kinds, ["text/plain", "text/html"]);

    // Line ends become CRLF on the wire; content is otherwise exact, dots included.
    assert_eq!(
        msg.body_text(0).unwrap().replace("\r\n", "\n"),
        original.text
    );
    assert_eq!(
        msg.body_html(0).unwrap().replace("\r\n", "\n"),
        original.html
    );
}

#[test]
fn both_transfer_encodings_round_trip_through_a_mail_client() {
    for (html, encoding) in [
        // Markup-heavy with a few Russian words: quoted-printable is smaller.
        (
            format!(
                "{}<p>Привет</p>\n",
                "<td style=\"padding:0 8px\"><a href=\"https://x.example/p\">x</a></td>\n"
                    .repeat(300)
            ),
            "quoted-printable",
        ),
        // Mostly Russian text: base64 is smaller.
        (
            "<p>Здравствуйте, Анна! Скидки до 15% на чайники.</p>\n".repeat(300),
            "base64",
        ),
    ] {
        let mut m = sample(8, 0);
        m.html = html;
        let raw = build_message(&m).unwrap();
        let msg = MessageParser::default().parse(&raw).unwrap();
        let part = msg.html_part(0).unwrap();
        assert_eq!(part.content_transfer_encoding(), Some(encoding));
        assert_eq!(msg.body_html(0).unwrap().replace("\r\n", "\n"), m.html);
    }
}

#[test]
fn list_unsubscribe_and_feedback_headers_are_exact() {
    let raw = build_message(&sample(2, 1_000)).unwrap();
    let msg = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        unfolded(msg.header_raw("List-Unsubscribe").unwrap()),
        format!("<mailto:{UNSUB_MAILTO}>, <{UNSUB_URL}>")
    );
    assert_eq!(
        unfolded(msg.header_raw("List-Unsubscribe-Post").unwrap()),
        "List-Unsubscribe=One-Click"
    );
    assert_eq!(
        unfolded(msg.header_raw("Feedback-ID").unwrap()),
        "12:3:campaign:vestnik"
    );
    assert_eq!(
        unfolded(msg.header_raw("X-Vestnik-Campaign").unwrap()),
        "12"
    );
    assert_eq!(unfolded(msg.header_raw("MIME-Version").unwrap()), "1.0");
}

#[test]
fn without_unsubscribe_values_there_are_no_list_headers() {
    let mut m = sample(3, 1_000);
    m.list_unsubscribe_url = None;
    m.list_unsubscribe_mailto = None;
    m.feedback_id = None;
    m.campaign_header = None;
    let raw = build_message(&m).unwrap();
    let msg = MessageParser::default().parse(&raw).unwrap();
    for header in [
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "Feedback-ID",
        "X-Vestnik-Campaign",
    ] {
        assert!(msg.header_raw(header).is_none(), "{header} present");
    }
}

#[test]
fn invalid_addresses_are_named() {
    let mut m = sample(4, 1_000);
    m.from.email = "news@".into();
    match build_message(&m) {
        Err(MailError::InvalidAddress { address, .. }) => assert_eq!(address, "news@"),
        other => panic!("expected InvalidAddress, got {other:?}"),
    }
    let mut m = sample(4, 1_000);
    m.reply_to = Some(vestnik_mail::Mailbox::address("help at shop"));
    let err = build_message(&m).unwrap_err().to_string();
    assert!(err.contains("\"help at shop\""), "{err}");
}
