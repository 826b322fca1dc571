//! The records a feed yields, in YML's own terms. Field docs say what each is for in Vestnik;
//! the YML tag or attribute each comes from is named in brackets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::price::Price;

/// The shop the feed describes: `<shop>`'s own text children that come before its first
/// section (`currencies`, `categories`, `offers`), which is where every feed puts them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shop {
    /// Short shop name, as shown to customers (`<name>`).
    pub name: Option<String>,
    /// Legal name of the company (`<company>`).
    pub company: Option<String>,
    /// Shop home page, the base for relative links (`<url>`).
    pub url: Option<String>,
    /// When the shop generated the feed (`<yml_catalog date="…">`), as written; lets the
    /// importer notice a feed that has stopped updating.
    pub generated_at: Option<String>,
    /// Other text-only children of `<shop>` (`platform`, `email`, …) in feed order. Sections
    /// with child elements (`delivery-options`, `promos`, `gifts`) are not kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<ExtraField>,
}

/// A currency the offers' prices may be in (`<currency id rate plus/>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Currency {
    /// Code offers refer to by `currencyId` (`RUR`, `RUB`, `USD`, …).
    pub id: String,
    /// Rate to the shop's base currency as written: a number (`1`, `92.5`) or the name of a
    /// central bank whose rate applies (`CBRF`, `NBU`, `NBK`, `CB`).
    pub rate: Option<String>,
    /// Percent added to a central-bank rate (`plus`), as written.
    pub plus: Option<String>,
}

/// One catalogue category (`<category id parentId>name</category>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    /// What offers' `categoryId` refers to.
    pub id: String,
    /// The enclosing category; `None` for a top-level one. See
    /// [`crate::check_category_tree`] for unknown parents and cycles.
    pub parent_id: Option<String>,
    /// Shown in emails and used by category-based recommendations.
    pub name: String,
}

/// One product offer (`<offer>`), valid: it has an id, an exact price and a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The shop's product id; events and orders refer to offers by it (`id`).
    pub id: String,
    /// Whether the product can be bought now; unavailable ones are left out of
    /// recommendations (`available`, absent means true).
    pub available: bool,
    /// The YML offer type, e.g. `vendor.model`; `None` for the simplified type (`type`).
    #[serde(rename = "type")]
    pub offer_type: Option<String>,
    /// Variants of one product (sizes, colours) share it, so recommendations can show one
    /// card per product (`group_id`).
    pub group_id: Option<String>,
    /// Product page the email links to (`<url>`).
    pub url: Option<String>,
    /// Current price (`<price>`).
    pub price: Price,
    /// Price before a discount, for "was / now" blocks (`<oldprice>`).
    pub old_price: Option<Price>,
    /// Currency of both prices (`<currencyId>`).
    pub currency_id: Option<String>,
    /// Category for category-based recommendations (`<categoryId>`).
    pub category_id: Option<String>,
    /// Image URLs in feed order; the first one is the main image (`<picture>`, repeated).
    pub pictures: Vec<String>,
    /// Display name: `<name>`, or for `vendor.model` offers without one, typePrefix, vendor and
    /// model joined by spaces, as Yandex composes it.
    pub name: String,
    /// Kind of product, first part of a composed name (`<typePrefix>`).
    pub type_prefix: Option<String>,
    /// Brand (`<vendor>`).
    pub vendor: Option<String>,
    /// Model name (`<model>`).
    pub model: Option<String>,
    /// HTML description as the shop wrote it, unescaped text or CDATA content
    /// (`<description>`).
    pub description: Option<String>,
    /// Characteristics such as size and colour, in feed order (`<param name unit>`).
    pub params: Vec<Param>,
    /// Every other child element (`vendorCode`, `barcode`, `sales_notes`, …) in feed order,
    /// repeats included, so nothing the shop sent is lost and templates can use it.
    pub extra: Vec<ExtraField>,
    /// Other attributes of `<offer>` (`bid`, `cbid`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other_attributes: BTreeMap<String, String>,
    /// Line of `<offer` in the feed, so later checks (duplicate ids, unknown categories) can
    /// point the shop at the right place.
    pub line: u64,
}

impl Offer {
    /// The first `extra` value of a tag, e.g. `offer.extra_value("vendorCode")`.
    pub fn extra_value(&self, name: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.as_str())
    }
}

/// One characteristic (`<param name="Размер" unit="EU">42</param>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    /// Characteristic name; empty when the shop left out the `name` attribute.
    pub name: String,
    /// Unit of the value (`unit`), e.g. `EU`, `см`.
    pub unit: Option<String>,
    pub value: String,
}

/// A child element the parser has no field for, kept as it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraField {
    /// Tag name as written.
    pub name: String,
    /// The element's attributes (`<age unit="year">`), if any.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// Unescaped text content; for an element with child elements, its inner XML as written
    /// (`<option cost="300" days="1"/>`).
    pub value: String,
}
