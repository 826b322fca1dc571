//! Files that are not YML feeds stop the import with a message that says what they are.

use vestnik_catalog::{FeedError, ParsedFeed, parse_feed_to_vec};

fn parse(bytes: &[u8]) -> Result<ParsedFeed, FeedError> {
    parse_feed_to_vec(bytes)
}

fn not_xml_reason(bytes: &[u8]) -> String {
    match parse(bytes) {
        Err(FeedError::NotXml { reason }) => reason,
        other => panic!("expected NotXml, got {other:?}"),
    }
}

#[test]
fn an_html_page_is_named_as_such() {
    for page in [
        &b"<!DOCTYPE html>\n<html><head><title>Shop</title></head><body>Hi</body></html>"[..],
        b"\n\n  <HTML lang=\"ru\"><body>Login</body></HTML>",
        b"<?xml version=\"1.0\"?>\n<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"x\">\n<html/>",
        b"<?xml version=\"1.0\"?>\n<html xmlns=\"http://www.w3.org/1999/xhtml\"><body/></html>",
    ] {
        let reason = not_xml_reason(page);
        assert!(reason.contains("HTML page"), "{reason}");
    }
    let message = parse(b"<html></html>").err().map(|e| e.to_string());
    assert_eq!(
        message.as_deref(),
        Some(
            "the feed is not an XML file: it is an HTML page, not a YML feed; the feed URL \
             probably points at a web page (a shop page, a login form or an error page) \
             instead of the XML file"
        )
    );
}

#[test]
fn json_is_named_as_such() {
    assert!(not_xml_reason(b"{\"offers\": []}").contains("looks like JSON"));
    assert!(not_xml_reason(b"  [1, 2]").contains("looks like JSON"));
}

#[test]
fn random_bytes_empty_files_and_archives_are_refused() {
    // A fixed pseudo-random sequence that does not start with `<` or whitespace.
    let mut state = 0x2545_f491_u32;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect();
    assert_ne!(noise[0], b'<');
    assert!(!noise[0].is_ascii_whitespace());
    let reason = not_xml_reason(&noise);
    assert!(reason.starts_with("it does not start with `<`"), "{reason}");

    assert!(not_xml_reason(b"").contains("empty"));
    assert!(not_xml_reason(b" \n\t").contains("empty"));
    assert!(not_xml_reason(&[0x1f, 0x8b, 8, 0, 0]).contains("gzip"));
    assert!(not_xml_reason(b"PK\x03\x04rest").contains("ZIP"));
    assert!(not_xml_reason(b"Internal Server Error").contains("`Internal Server Error`"));
}

#[test]
fn xml_that_is_not_yml_is_refused_with_its_root_element() {
    let rss = b"<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel/></rss>";
    match parse(rss) {
        Err(FeedError::NotYml { line, reason }) => {
            assert_eq!(line, 2);
            assert!(reason.starts_with("its root element is <rss>, not <yml_catalog>"));
            assert!(reason.contains("Google Merchant"));
        }
        other => panic!("expected NotYml, got {other:?}"),
    }
    let message = parse(b"<catalog><item/></catalog>")
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        message.as_deref(),
        Some(
            "the feed is not a YML (Yandex Market Language) feed: its root element is \
             <catalog>, not <yml_catalog> (line 1)"
        )
    );
}

#[test]
fn yml_catalog_without_shop_is_refused() {
    for xml in [
        &b"<yml_catalog date=\"2026-01-01\">\n<offers/>\n</yml_catalog>"[..],
        b"<yml_catalog/>",
    ] {
        match parse(xml) {
            Err(FeedError::NotYml { reason, .. }) => {
                assert!(reason.contains("<shop>"), "{reason}");
            }
            other => panic!("expected NotYml, got {other:?}"),
        }
    }
}

#[test]
fn broken_xml_is_reported_with_its_line() {
    let xml = b"<yml_catalog><shop>\n<offers>\n<offer id=\"1\"><price>1</price></offr>\n</offers></shop></yml_catalog>";
    match parse(xml) {
        Err(FeedError::Malformed { line, message }) => {
            assert_eq!(line, 3);
            assert!(message.contains("</offer>"), "{message}");
        }
        other => panic!("expected Malformed, got {other:?}"),
    }

    let cut_off = b"<yml_catalog><shop>\n<offers>\n<offer id=\"1\"><price>1</pr";
    match parse(cut_off) {
        Err(e @ FeedError::Malformed { line: 3, .. }) => {
            assert!(e.to_string().contains("fix the file there"), "{e}");
        }
        other => panic!("expected Malformed at line 3, got {other:?}"),
    }
}

#[test]
fn an_unknown_encoding_is_refused_by_name() {
    let xml = b"<?xml version=\"1.0\" encoding=\"x-klingon\"?><yml_catalog/>";
    match parse(xml) {
        Err(e @ FeedError::UnsupportedEncoding { .. }) => {
            let message = e.to_string();
            assert!(message.contains("\"x-klingon\""), "{message}");
            assert!(message.contains("save the feed as UTF-8"), "{message}");
        }
        other => panic!("expected UnsupportedEncoding, got {other:?}"),
    }
}

#[test]
fn windows_1251_bytes_in_a_feed_declared_utf8_point_at_the_encoding() {
    let mut xml =
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<yml_catalog><shop>\n<name>".to_vec();
    xml.extend_from_slice(&[0xcc, 0xe0, 0xe3, 0xe0, 0xe7, 0xe8, 0xed]); // «Магазин» in cp1251
    xml.extend_from_slice(b"</name></shop></yml_catalog>");
    match parse(&xml) {
        Err(e @ FeedError::InvalidUtf8 { line: 3 }) => {
            assert!(e.to_string().contains("windows-1251"), "{e}");
        }
        other => panic!("expected InvalidUtf8 at line 3, got {other:?}"),
    }
}

#[test]
fn a_utf16_feed_with_a_bom_is_decoded() {
    let text = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<yml_catalog><shop><name>Магазин</name>\
                <offers><offer id=\"1\"><price>1</price><name>Товар</name></offer></offers></shop></yml_catalog>";
    let mut bytes = vec![0xff, 0xfe];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    let feed = parse(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(feed.shop.and_then(|s| s.name).as_deref(), Some("Магазин"));
    assert_eq!(feed.offers[0].name, "Товар");
}
