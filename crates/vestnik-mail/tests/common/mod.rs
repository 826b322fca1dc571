//! Shared by the integration tests: a realistic Russian marketing email, and helpers to read
//! what arrived.

#![allow(dead_code)]

use std::time::{Duration, SystemTime};

use vestnik_mail::{Mailbox, OutgoingMessage};

pub const SUBJECT: &str = "Скидки для вас, Анна";
pub const FROM_NAME: &str = "Магазин «Ромашка»";
pub const UNSUB_URL: &str = "https://shop.example/u/Zm9vYmFy";
pub const UNSUB_MAILTO: &str = "unsubscribe+c12.r345@shop.example";

/// Every network test is bounded by this, so a bug shows as a failure, not a hung CI run.
pub const NET_TIMEOUT: Duration = Duration::from_secs(30);

pub fn html_body(bytes: usize) -> String {
    let mut html = String::from(
        "<!doctype html><html><body><h1>Здравствуйте, Анна!</h1>\n<table width=\"100%\">\n",
    );
    let mut i = 0;
    while html.len() < bytes {
        i += 1;
        html.push_str(&format!(
            "<tr><td><a href=\"https://shop.example/t/abc{i}\">Товар №{i}: чайник «Заря»</a> \
             — <b>{} ₽</b> <span style=\"color:#c00\">−15%</span></td></tr>\n",
            990 + i
        ));
    }
    html.push_str("</table>\n<p>.Строка, начинающаяся с точки</p>\n</body></html>\n");
    html
}

pub fn sample(i: usize, html_bytes: usize) -> OutgoingMessage {
    OutgoingMessage {
        from: Mailbox::new(Some(FROM_NAME), "news@shop.example"),
        to: Mailbox::new(Some("Анна Петрова"), format!("anna{i}@example.org")),
        reply_to: Some(Mailbox::new(Some("Поддержка"), "help@shop.example")),
        subject: SUBJECT.to_owned(),
        html: html_body(html_bytes),
        text: "Здравствуйте, Анна!\n\nСкидки до 15% на чайники.\n.точка в начале строки\n"
            .to_owned(),
        message_id: format!("c12.r{i}.s3@shop.example"),
        list_unsubscribe_url: Some(UNSUB_URL.to_owned()),
        list_unsubscribe_mailto: Some(UNSUB_MAILTO.to_owned()),
        feedback_id: Some("12:3:campaign:vestnik".to_owned()),
        campaign_header: Some("12".to_owned()),
        date: SystemTime::UNIX_EPOCH + Duration::from_secs(1_760_000_000),
    }
}

/// A header's value with folding undone, as a receiving client reads it.
pub fn unfolded(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut lines = raw.split("\r\n");
    if let Some(first) = lines.next() {
        out.push_str(first);
    }
    for line in lines {
        if line.starts_with([' ', '\t']) {
            out.push(' ');
            out.push_str(line.trim_start());
        }
    }
    out.trim().to_owned()
}
