//! Offers that arrive whole in one read take the parser's shortcut; offers read a byte at a
//! time never can. Both must yield the same records, errors and lines, for plain offers and
//! for every oddity that makes the shortcut hand an offer back to the event reader.

use std::io::{self, Read};

use vestnik_catalog::parse_feed_to_vec;

/// Hands out one byte per read, so no offer is ever whole in the parser's buffer (past the
/// first kilobyte, which the parser reads in one piece to sniff the format).
struct ByteByByte<'a>(&'a [u8]);

impl Read for ByteByByte<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.0.len().min(out.len()).min(1);
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

const OFFERS: &[&str] = &[
    "<offer id=\"plain\" available=\"false\" group_id=\"g\" bid=\"5\">\n<url>https://x.example/p?a=1&amp;b=2</url>\n\
     <price>10.50</price><oldprice>12</oldprice><currencyId>RUR</currencyId><categoryId>2</categoryId>\n\
     <picture>https://x.example/1.jpg</picture><picture> </picture><name>Платье &quot;Лето&quot;</name>\n\
     <vendor>Urban&Co</vendor><description><![CDATA[<p>Хлопок & лён</p>]]></description>\n\
     <param name=\"Размер\" unit=\"RU\">46</param><param>без имени</param><vendorCode>VC-1</vendorCode>\n\
     <age unit=\"year\">16</age></offer>",
    "<offer id=\"crlf\"><price>1</price><name>A\r\nB\rC</name><sales_notes>x&amp;\r\ny</sales_notes></offer>",
    "<offer id=\"refs\"><price>1</price><name>N&#0;&#x44F;&#xZZ;&;&#;&nbsp; & ;&amp</name></offer>",
    "<offer id=\"cdata-end-inside\"><price>1</price><name>A ]]> B</name>\
     <description><![CDATA[ </offer> ]]></description></offer>",
    "<offer id=\"cdata-mixed\"><price>1</price><name>N</name>\
     <description>a<![CDATA[b]]>c<![CDATA[]]>&lt;<![CDATA[x]]]></description></offer>",
    "<offer id=\"markup\"><price>1</price><name>N</name>\
     <description>Текст <br/><p class=\"x\">абзац</p></description></offer>",
    "<offer id=\"nested-offer\"><price>1</price><name>N</name><offer>inner</offer></offer>",
    "<offer id=\"spaced-end\"><price>1</price><name >N</name ></offer >",
    "<offer id=\"quoted-gt\" x='a>b'><price>1</price><name a=\">\">N</name></offer>",
    "<offer id=\"empty-children\"><price>1</price><name>N</name><name/><picture/><oldprice/></offer>",
    "<offer id=\"bad-attributes\"><price>1</price><name>N</name><param name=\"a\" name=\"b\">v</param>\
     <picture x>p</picture><url bad>u</url></offer>",
    "<offer id=\"d\" id=\"e\"><price>1</price><name>N</name></offer>",
    "<offer\tid=\"multi-line\"\n><price>\n1\n</price><name>N</name></offer\n>",
    "<offer id=\"between\"><price>1</price><name>N</name>text<!-- c --><![CDATA[x]]><?pi?></offer>",
    "<offer id=\"no-price\"><name>N</name></offer>",
    "<offer id=\"self-closed\"/>",
    "<offerx id=\"other\"><price>1</price></offerx>",
    "<offer id=\"spaces\"><price>1</price><name>N</name><picture>\u{a0}a\u{2003}</picture></offer>",
    "<!-- between offers --><offer id=\"after-comment\"><price>1</price><name>N</name></offer>",
];

/// A feed around `offers`, which start on line 4, past the first kilobyte.
fn feed(offers: &str) -> String {
    let padding = "x".repeat(1024);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<yml_catalog>\n<shop><name>{padding}</name><offers>\n{offers}\n</offers></shop>\n</yml_catalog>\n"
    )
}

#[test]
fn tricky_offers_parse_the_same_whole_and_a_byte_at_a_time() {
    let xml = feed(&OFFERS.join("\n"));
    let whole = parse_feed_to_vec(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let trickled = parse_feed_to_vec(ByteByByte(xml.as_bytes())).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(whole, trickled);
    assert_eq!(whole.summary.offers + whole.summary.skipped, 18);
    assert_eq!(whole.offers[0].id, "plain");
    assert_eq!(whole.offers[0].line, 4);
}

#[test]
fn a_broken_end_tag_is_reported_the_same_whole_and_a_byte_at_a_time() {
    for broken in [
        "<offer id=\"1\"><price>1</price><name>N</nam></offer>",
        "<offer id=\"1\"><price>1</price><name>N</vendor></offer>",
        "<offer id=\"1\"><price>1</price><name>N</name></name></offer>",
        "<offer id=\"1\"><price>1</price><name>\u{fffd}N</name></offer><offer id=\"2\">",
    ] {
        let xml = feed(broken);
        let whole = parse_feed_to_vec(xml.as_bytes()).map_err(|e| e.to_string());
        let trickled = parse_feed_to_vec(ByteByByte(xml.as_bytes())).map_err(|e| e.to_string());
        assert!(whole.is_err(), "{broken}");
        assert_eq!(whole, trickled, "{broken}");
    }
}

#[test]
fn bytes_that_are_not_utf8_in_an_offer_are_reported_the_same_whole_and_a_byte_at_a_time() {
    let (before, after) = feed("<offer id=\"1\"><price>1</price><name>@</name></offer>")
        .split_once('@')
        .map(|(b, a)| (b.to_string(), a.to_string()))
        .unwrap_or_default();
    let mut xml = before.into_bytes();
    xml.extend_from_slice(&[0xcc, 0xe0, 0xe3]);
    xml.extend_from_slice(after.as_bytes());
    let whole = parse_feed_to_vec(&xml[..]).map_err(|e| e.to_string());
    let trickled = parse_feed_to_vec(ByteByByte(&xml)).map_err(|e| e.to_string());
    assert!(
        whole
            .as_ref()
            .is_err_and(|e| e.contains("line 4 is not valid UTF-8")),
        "{whole:?}"
    );
    assert_eq!(whole, trickled);
}
