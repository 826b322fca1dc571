//! The shared sample feeds (/work/shared/testdata/feeds, `shared/` beside the checkout): one
//! shop saved in UTF-8 and in windows-1251 must import identically.

use std::fs::File;
use std::path::PathBuf;

use vestnik_catalog::{ParsedFeed, check_category_tree, parse_feed_to_vec};

fn feed_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/feeds")
        .join(name)
}

fn parse(name: &str) -> ParsedFeed {
    let path = feed_path(name);
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_feed_to_vec(file).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn utf8_and_windows_1251_copies_of_a_feed_import_identically() {
    let utf8 = parse("shop-utf8.xml");
    let cp1251 = parse("shop-cp1251.xml");
    assert_eq!(utf8, cp1251);
    assert_eq!(cp1251.categories[1].name, "Платья");
    assert_eq!(cp1251.offers[0].name, "Кроссовки модель 1");
}

#[test]
fn sample_feed_yields_every_valid_offer_and_category() {
    // grep -c '<offer ' → 24, '<category ' → 6; offer 1011 (line 140) has no <price>.
    let feed = parse("shop-utf8.xml");
    assert_eq!(feed.summary.offers, 23);
    assert_eq!(feed.offers.len(), 23);
    assert_eq!(feed.summary.categories, 6);
    assert_eq!(feed.categories.len(), 6);
    assert_eq!(feed.summary.skipped, 1);
    assert!(feed.offers.iter().all(|o| o.id != "1011"));

    let json = serde_json::to_value(&feed.summary).unwrap_or_default();
    assert_eq!(
        json,
        serde_json::json!({
            "offers": 23, "categories": 6, "skipped": 1,
            "errors": [{"offer_id": "1011", "line": 140, "reason": "no price"}]
        })
    );
}

#[test]
fn sample_feed_shop_currencies_and_category_tree() {
    let feed = parse("shop-utf8.xml");
    let shop = feed.shop.unwrap_or_default();
    assert_eq!(shop.name.as_deref(), Some("Пример магазина"));
    assert_eq!(shop.company.as_deref(), Some("ООО «Пример»"));
    assert_eq!(shop.url.as_deref(), Some("https://shop.example"));
    assert_eq!(shop.generated_at.as_deref(), Some("2026-11-20 10:00"));
    assert_eq!(feed.currencies.len(), 1);
    assert_eq!(feed.currencies[0].id, "RUR");
    assert_eq!(feed.currencies[0].rate.as_deref(), Some("1"));

    let dresses = &feed.categories[1];
    assert_eq!(
        (dresses.id.as_str(), dresses.parent_id.as_deref()),
        ("2", Some("1"))
    );
    assert_eq!(feed.categories[0].parent_id, None);
    assert_eq!(check_category_tree(&feed.categories), vec![]);
}

#[test]
fn sample_feed_offer_fields_come_through_exactly() {
    let feed = parse("shop-utf8.xml");
    let offer = |id: &str| {
        feed.offers
            .iter()
            .find(|o| o.id == id)
            .unwrap_or_else(|| panic!("offer {id} missing"))
    };

    let first = offer("1001");
    assert!(first.available);
    assert_eq!(first.line, 20);
    assert_eq!(first.url.as_deref(), Some("https://shop.example/p/1001"));
    assert_eq!(first.price.to_string(), "18973.37");
    assert_eq!(first.price.to_minor_units(2), Some(1_897_337));
    assert_eq!(first.old_price, None);
    assert_eq!(first.currency_id.as_deref(), Some("RUR"));
    assert_eq!(first.category_id.as_deref(), Some("5"));
    assert_eq!(first.pictures, ["https://cdn.shop.example/img/1001.jpg"]);
    assert_eq!(first.vendor.as_deref(), Some("Pikfoot"));
    assert_eq!(
        first.description.as_deref(),
        Some("<p>Описание товара 1: «хлопок» & лён</p>")
    );
    assert_eq!(first.params.len(), 1);
    assert_eq!(
        (
            first.params[0].name.as_str(),
            first.params[0].value.as_str()
        ),
        ("Цвет", "бежевый")
    );

    assert_eq!(
        offer("1003").old_price.map(|p| p.to_string()).as_deref(),
        Some("14817.96")
    );
    assert_eq!(offer("1005").price.to_string(), "2258.9");
    assert!(!offer("1007").available);
    // A bare `&` is not valid XML, but shops write it; it is kept as written.
    assert_eq!(offer("1016").vendor.as_deref(), Some("Urban&Co"));

    let composed = offer("1017");
    assert_eq!(composed.offer_type.as_deref(), Some("vendor.model"));
    assert_eq!(composed.name, "Кроссовки беговые Pikfoot Run 17 GTX");
    assert_eq!(
        composed.url.as_deref(),
        Some("https://shop.example/p/1017?utm=feed&x=1")
    );
    let size = &composed.params[0];
    assert_eq!(
        (
            size.name.as_str(),
            size.unit.as_deref(),
            size.value.as_str()
        ),
        ("Размер", Some("EU"), "42")
    );
}
