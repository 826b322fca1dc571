//! Every piece of an offer reaches the sink: known fields in their slots, everything else in
//! `extra`, markup and entities as the shop meant them.

use std::collections::BTreeMap;

use vestnik_catalog::{ExtraField, Offer, parse_feed_to_vec};

fn single_offer(offer_xml: &str) -> Offer {
    let xml = format!("<yml_catalog><shop><offers>{offer_xml}</offers></shop></yml_catalog>");
    let mut feed = parse_feed_to_vec(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(feed.summary.errors, []);
    feed.offers
        .pop()
        .unwrap_or_else(|| panic!("no offer in {offer_xml}"))
}

#[test]
fn unknown_tags_land_in_extra_in_order_with_repeats_and_attributes() {
    let offer = single_offer(
        r#"<offer id="1" bid="80"><price>10</price><name>N</name>
             <vendorCode>VC-1</vendorCode>
             <barcode>4600000000011</barcode>
             <barcode>4600000000028</barcode>
             <age unit="year">16</age>
             <sales_notes>Предоплата &amp; самовывоз</sales_notes>
             <delivery-options><option cost="300" days="1-3"/></delivery-options>
           </offer>"#,
    );
    let field = |name: &str, attributes: &[(&str, &str)], value: &str| ExtraField {
        name: name.into(),
        attributes: attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        value: value.into(),
    };
    assert_eq!(
        offer.extra,
        [
            field("vendorCode", &[], "VC-1"),
            field("barcode", &[], "4600000000011"),
            field("barcode", &[], "4600000000028"),
            field("age", &[("unit", "year")], "16"),
            field("sales_notes", &[], "Предоплата & самовывоз"),
            field(
                "delivery-options",
                &[],
                r#"<option cost="300" days="1-3"/>"#
            ),
        ]
    );
    assert_eq!(offer.extra_value("barcode"), Some("4600000000011"));
    assert_eq!(
        offer.other_attributes,
        BTreeMap::from([("bid".to_string(), "80".to_string())])
    );
}

#[test]
fn all_pictures_and_params_with_units_are_kept() {
    let offer = single_offer(
        r#"<offer id="1" group_id="77"><price>10</price><name>N</name>
             <picture>https://cdn.example/1.jpg</picture>
             <picture> https://cdn.example/2.jpg </picture>
             <picture>https://cdn.example/3.jpg</picture>
             <param name="Размер" unit="RU">46</param>
             <param name="Цвет">синий</param>
             <param name="Вес" unit="кг">0,4</param>
           </offer>"#,
    );
    assert_eq!(
        offer.pictures,
        [
            "https://cdn.example/1.jpg",
            "https://cdn.example/2.jpg",
            "https://cdn.example/3.jpg"
        ]
    );
    let params: Vec<(&str, Option<&str>, &str)> = offer
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.unit.as_deref(), p.value.as_str()))
        .collect();
    assert_eq!(
        params,
        [
            ("Размер", Some("RU"), "46"),
            ("Цвет", None, "синий"),
            ("Вес", Some("кг"), "0,4")
        ]
    );
    assert_eq!(offer.group_id.as_deref(), Some("77"));
}

#[test]
fn descriptions_keep_their_html_from_cdata_escaped_text_or_inline_markup() {
    let from_cdata = single_offer(
        "<offer id=\"1\"><price>1</price><name>N</name>\
         <description><![CDATA[<p>Хлопок <b>100%</b> & лён</p>]]></description></offer>",
    );
    assert_eq!(
        from_cdata.description.as_deref(),
        Some("<p>Хлопок <b>100%</b> & лён</p>")
    );

    let escaped = single_offer(
        "<offer id=\"1\"><price>1</price><name>N</name>\
         <description>&lt;p&gt;Хлопок&lt;/p&gt; &#169; &nbsp;</description></offer>",
    );
    assert_eq!(
        escaped.description.as_deref(),
        Some("<p>Хлопок</p> © &nbsp;")
    );

    let inline = single_offer(
        "<offer id=\"1\"><price>1</price><name>N</name>\
         <description>Текст <br/><p class=\"x\">абзац &amp; ещё</p></description></offer>",
    );
    assert_eq!(
        inline.description.as_deref(),
        Some("Текст <br/><p class=\"x\">абзац &amp; ещё</p>")
    );
}

#[test]
fn text_is_trimmed_and_entities_resolved_in_names_and_urls() {
    let offer = single_offer(
        "<offer id=\" 42 \" available=\"FALSE\">\n  <price>\n 99.90 \n</price>\n\
         <name>\n  Футболка &quot;Лето&quot; &#x2014; хлопок\n</name>\n\
         <url>https://shop.example/p?a=1&amp;b=2</url><oldprice/></offer>",
    );
    assert_eq!(offer.id, "42");
    assert!(!offer.available);
    assert_eq!(offer.price.to_string(), "99.90");
    assert_eq!(offer.old_price, None);
    assert_eq!(offer.name, "Футболка \"Лето\" — хлопок");
    assert_eq!(offer.url.as_deref(), Some("https://shop.example/p?a=1&b=2"));
}

#[test]
fn offers_serialise_with_prices_as_strings() {
    let offer = single_offer(
        "<offer id=\"1\" type=\"vendor.model\"><price>1500.50</price><oldprice>2000</oldprice>\
         <model>M</model></offer>",
    );
    let json = serde_json::to_value(&offer).unwrap_or_default();
    assert_eq!(json["price"], "1500.50");
    assert_eq!(json["old_price"], "2000");
    assert_eq!(json["type"], "vendor.model");
    assert_eq!(json["name"], "M");
}
