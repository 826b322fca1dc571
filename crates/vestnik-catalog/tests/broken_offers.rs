//! Broken offers are skipped with their id, line and reasons; the rest of the feed imports.

use vestnik_catalog::{MAX_ERROR_DETAILS, OfferError, parse_feed_to_vec};

/// A feed around `offers`, which start on line 4.
fn feed(offers: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<yml_catalog>\n<shop><offers>\n{offers}</offers></shop>\n</yml_catalog>\n"
    )
}

fn error(offer_id: Option<&str>, line: u64, reason: &str) -> OfferError {
    OfferError {
        offer_id: offer_id.map(Into::into),
        line,
        reason: reason.into(),
    }
}

#[test]
fn skips_offers_without_price_or_id_or_with_a_bad_price_and_keeps_the_rest() {
    let xml = feed(concat!(
        "<offer id=\"ok-1\"><price>100</price><name>One</name></offer>\n", // line 4
        "<offer id=\"no-price\">\n<name>Two</name>\n</offer>\n",           // line 5
        "<offer id=\"bad-price\"><price>12,5a</price><name>Three</name></offer>\n", // line 8
        "<offer><price>5</price><name>Four</name></offer>\n",              // line 9
        "<offer id=\"neg\"><price>-10</price><name>Five</name></offer>\n", // line 10
        "<offer id=\"empty\"><price> </price><name>Six</name></offer>\n",  // line 11
        "<offer\n  id=\"ok-2\"\n  available=\"false\"><price>7.50</price><name>Seven</name></offer>\n", // line 12
    ));
    let feed = parse_feed_to_vec(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}"));

    let ids: Vec<&str> = feed.offers.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, ["ok-1", "ok-2"]);
    assert_eq!(
        feed.offers[1].line, 12,
        "a multi-line start tag counts from its `<`"
    );
    assert_eq!(feed.summary.offers, 2);
    assert_eq!(feed.summary.skipped, 5);
    let not_a_number = "price is not a number: `12,5a` (write digits with an optional decimal \
                        point, e.g. 1500.50)";
    assert_eq!(
        feed.summary.errors,
        [
            error(Some("no-price"), 5, "no price"),
            error(Some("bad-price"), 8, not_a_number),
            error(None, 9, "no id (add id=\"…\" to <offer>)"),
            error(Some("neg"), 10, "price is negative: `-10`"),
            error(Some("empty"), 11, "price is empty"),
        ]
    );
}

#[test]
fn an_offer_without_name_is_skipped_unless_it_is_vendor_model() {
    let xml = feed(concat!(
        "<offer id=\"1\"><price>1</price><vendor>V</vendor></offer>\n",
        "<offer id=\"2\" type=\"vendor.model\"><price>1</price><vendor>V</vendor><model>M 2</model></offer>\n",
        "<offer id=\"3\" type=\"vendor.model\"><price>1</price><vendor>V</vendor></offer>\n",
        "<offer id=\"4\" type=\"vendor.model\"><price>1</price><name>Own name</name><model>M</model></offer>\n",
    ));
    let feed = parse_feed_to_vec(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<(&str, &str)> = feed
        .offers
        .iter()
        .map(|o| (o.id.as_str(), o.name.as_str()))
        .collect();
    assert_eq!(names, [("2", "V M 2"), ("4", "Own name")]);
    assert_eq!(
        feed.summary.errors,
        [
            error(Some("1"), 4, "no name"),
            error(
                Some("3"),
                6,
                "no name and no model (a vendor.model offer needs <model>)"
            ),
        ]
    );
}

#[test]
fn reports_all_reasons_of_one_offer_together() {
    let xml = feed("<offer available=\"yes please\"/>\n");
    let feed = parse_feed_to_vec(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        feed.summary.errors,
        [error(
            None,
            4,
            "no id (add id=\"…\" to <offer>); available is `yes please`; write true or false; \
             no price; no name"
        )]
    );
}

#[test]
fn keeps_the_details_of_the_first_thousand_skipped_offers_but_counts_all() {
    let broken = "<offer id=\"x\"><name>No price</name></offer>\n".repeat(MAX_ERROR_DETAILS + 5);
    let xml = feed(&format!(
        "{broken}<offer id=\"ok\"><price>1</price><name>n</name></offer>\n"
    ));
    let feed = parse_feed_to_vec(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(feed.summary.skipped, MAX_ERROR_DETAILS + 5);
    assert_eq!(feed.summary.errors.len(), MAX_ERROR_DETAILS);
    assert_eq!(feed.summary.errors[999].line, 4 + 999);
    assert_eq!(feed.summary.offers, 1);
}

#[test]
fn skips_categories_and_currencies_without_id_and_keeps_the_rest() {
    let xml = "<yml_catalog><shop>\n<currencies><currency rate=\"1\"/><currency id=\"USD\" rate=\"CBRF\" plus=\"3\"/></currencies>\n\
               <categories>\n<category>Без id</category>\n<category id=\"2\">Обувь</category>\n</categories>\n\
               <offers/></shop></yml_catalog>";
    let feed = parse_feed_to_vec(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(feed.categories.len(), 1);
    assert_eq!(feed.summary.categories, 1);
    assert_eq!(feed.currencies.len(), 1);
    assert_eq!(feed.currencies[0].plus.as_deref(), Some("3"));
    assert_eq!(feed.summary.skipped, 2);
    assert_eq!(feed.summary.errors[0].line, 2);
    assert!(
        feed.summary.errors[0]
            .reason
            .starts_with("currency skipped: no id")
    );
    assert_eq!(feed.summary.errors[1].line, 4);
    assert!(
        feed.summary.errors[1]
            .reason
            .starts_with("category \"Без id\" skipped: no id")
    );
}
