//! Building one [`Offer`] from the pieces of its `<offer>` element, and deciding whether it is
//! usable. Problems are collected rather than stopping at the first, so the shop sees every
//! fault of a skipped offer at once.

use std::collections::BTreeMap;

use crate::content::{Content, MAX_FIELD_BYTES};
use crate::model::{ExtraField, Offer, Param};
use crate::price::{Price, PriceError};
use crate::tag::Tag;

/// Offer type whose name may be composed from typePrefix, vendor and model.
const VENDOR_MODEL: &str = "vendor.model";

/// An offer being read: everything as written, checked only in [`OfferDraft::finish`].
#[derive(Debug, Default)]
pub(crate) struct OfferDraft {
    line: u64,
    id: Option<String>,
    available: Option<String>,
    offer_type: Option<String>,
    group_id: Option<String>,
    other_attributes: BTreeMap<String, String>,
    url: Option<String>,
    /// Parsed as soon as it is read, so the text need not be kept; a failure is reported by
    /// `into_offer`, in its place among the other problems.
    price: Option<Result<Price, PriceError>>,
    /// `None` also for an empty `<oldprice/>`, which is how many feed generators say "no old
    /// price".
    old_price: Option<Result<Price, PriceError>>,
    currency_id: Option<String>,
    category_id: Option<String>,
    pictures: Vec<String>,
    name: Option<String>,
    type_prefix: Option<String>,
    vendor: Option<String>,
    model: Option<String>,
    description: Option<String>,
    params: Vec<Param>,
    extra: Vec<ExtraField>,
    problems: Vec<String>,
}

impl OfferDraft {
    /// Starts an offer from the attributes of its start tag at `line`.
    pub(crate) fn new(line: u64, attributes: Vec<(String, String)>) -> Self {
        let mut draft = OfferDraft {
            line,
            ..OfferDraft::default()
        };
        for (key, value) in attributes {
            match key.as_str() {
                "id" => draft.id = Some(value),
                "available" => draft.available = Some(value),
                "type" => draft.offer_type = Some(value),
                "group_id" => draft.group_id = Some(value),
                _ => {
                    draft.other_attributes.insert(key, value);
                }
            }
        }
        draft
    }

    /// Starts an offer from its start tag at `line`, whose attributes may be malformed.
    pub(crate) fn from_start_tag(
        line: u64,
        attributes: Result<Vec<(String, String)>, String>,
    ) -> Self {
        match attributes {
            Ok(attributes) => OfferDraft::new(line, attributes),
            Err(e) => {
                let mut draft = OfferDraft::new(line, Vec::new());
                draft.add_problem(format!("<offer> has a malformed attribute: {e}"));
                draft
            }
        }
    }

    /// The id as far as it is known, for error reports.
    fn id(&self) -> Option<String> {
        self.id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_string)
    }

    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    /// Something wrong that was found while reading (an over-long field, a bad attribute).
    pub(crate) fn add_problem(&mut self, problem: String) {
        self.problems.push(problem);
    }

    /// Takes one child element as read, or notes why it cannot: it is too long, or its
    /// attributes are malformed.
    pub(crate) fn add_read_child(
        &mut self,
        tag: Tag,
        attributes: Result<Vec<(String, String)>, String>,
        content: &Content,
    ) {
        if content.too_long {
            let problem = format!("<{}> is longer than {MAX_FIELD_BYTES} bytes", tag.name());
            self.add_problem(problem);
            return;
        }
        match attributes {
            // A price is parsed where it lies; its text is not needed afterwards.
            Ok(_) if matches!(tag, Tag::Price | Tag::OldPrice) => {
                self.set_price(&tag, content.value.trim());
            }
            Ok(attributes) => self.add_child(tag, attributes, content.trimmed()),
            Err(e) => self.add_problem(format!("<{}> has a malformed attribute: {e}", tag.name())),
        }
    }

    fn set_price(&mut self, tag: &Tag, text: &str) {
        if *tag == Tag::Price {
            self.price = Some(Price::parse(text));
        } else {
            self.old_price = (!text.trim().is_empty()).then(|| Price::parse(text));
        }
    }

    /// Whether `add_child` uses the attributes of a child with this tag; the parser only
    /// checks the others, without copying them.
    pub(crate) fn keeps_attributes_of(tag: &Tag) -> bool {
        !matches!(
            tag,
            Tag::Url
                | Tag::Price
                | Tag::OldPrice
                | Tag::CurrencyId
                | Tag::CategoryId
                | Tag::Name
                | Tag::TypePrefix
                | Tag::Vendor
                | Tag::Model
                | Tag::Description
                | Tag::Picture
        )
    }

    /// Takes one child element. Single-valued fields keep the last occurrence.
    pub(crate) fn add_child(
        &mut self,
        tag: impl Into<Tag>,
        attributes: Vec<(String, String)>,
        value: String,
    ) {
        let tag = tag.into();
        let slot = match tag {
            Tag::Url => &mut self.url,
            Tag::Price | Tag::OldPrice => {
                self.set_price(&tag, &value);
                return;
            }
            Tag::CurrencyId => &mut self.currency_id,
            Tag::CategoryId => &mut self.category_id,
            Tag::Name => &mut self.name,
            Tag::TypePrefix => &mut self.type_prefix,
            Tag::Vendor => &mut self.vendor,
            Tag::Model => &mut self.model,
            Tag::Description => &mut self.description,
            Tag::Picture => {
                if !value.is_empty() {
                    self.pictures.push(value);
                }
                return;
            }
            Tag::Param => {
                let mut name = String::new();
                let mut unit = None;
                for (key, v) in attributes {
                    match key.as_str() {
                        "name" => name = v,
                        "unit" => unit = Some(v).filter(|u| !u.is_empty()),
                        _ => {}
                    }
                }
                self.params.push(Param { name, unit, value });
                return;
            }
            other => {
                self.extra.push(ExtraField {
                    name: other.into_name(),
                    attributes: attributes.into_iter().collect(),
                    value,
                });
                return;
            }
        };
        *slot = Some(value);
    }

    /// The offer, or the reason it cannot be imported.
    #[cfg(test)]
    pub(crate) fn finish(self) -> Result<Offer, String> {
        self.into_offer().map_err(|(_, reason)| reason)
    }

    /// The offer, or its id as far as it is known (for the error report) and the reason it
    /// cannot be imported. The id is only copied for a skipped offer.
    pub(crate) fn into_offer(mut self) -> Result<Offer, (Option<String>, String)> {
        let has_id = self.id.as_deref().is_some_and(|id| !id.trim().is_empty());
        if !has_id {
            self.problems.push("no id (add id=\"…\" to <offer>)".into());
        }

        let available = match self.available.as_deref().map(str::trim) {
            None => true,
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => true,
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => false,
            Some(v) => {
                self.problems
                    .push(format!("available is `{v}`; write true or false"));
                true
            }
        };

        let price = match self.price.take() {
            None => {
                self.problems.push("no price".into());
                None
            }
            Some(parsed) => parsed
                .map_err(|e| self.problems.push(format!("price {e}")))
                .ok(),
        };
        let old_price = match self.old_price.take() {
            None => None,
            Some(parsed) => parsed
                .map_err(|e| self.problems.push(format!("oldprice {e}")))
                .ok(),
        };

        let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
        let name = non_empty(self.name.take());
        let type_prefix = non_empty(self.type_prefix.take());
        let vendor = non_empty(self.vendor.take());
        let model = non_empty(self.model.take());
        let is_vendor_model = self.offer_type.as_deref() == Some(VENDOR_MODEL);
        let name = match (name, &model) {
            (Some(name), _) => Some(name),
            (None, Some(model)) if is_vendor_model => Some(
                [
                    type_prefix.as_deref(),
                    vendor.as_deref(),
                    Some(model.as_str()),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
            ),
            (None, _) if is_vendor_model => {
                self.problems
                    .push("no name and no model (a vendor.model offer needs <model>)".into());
                None
            }
            (None, _) => {
                self.problems.push("no name".into());
                None
            }
        };

        match (price, name) {
            (Some(price), Some(name)) if has_id && self.problems.is_empty() => Ok(Offer {
                id: self.id.take().map(trimmed).unwrap_or_default(),
                available,
                offer_type: non_empty(self.offer_type),
                group_id: non_empty(self.group_id),
                url: non_empty(self.url),
                price,
                old_price,
                currency_id: non_empty(self.currency_id),
                category_id: non_empty(self.category_id),
                pictures: self.pictures,
                name,
                type_prefix,
                vendor,
                model,
                description: non_empty(self.description),
                params: self.params,
                extra: self.extra,
                other_attributes: self.other_attributes,
                line: self.line,
            }),
            _ => Err((self.id(), self.problems.join("; "))),
        }
    }
}

/// `text` without surrounding whitespace, reusing its allocation when there is none.
fn trimmed(text: String) -> String {
    let trim = text.trim();
    if trim.len() == text.len() {
        text
    } else {
        trim.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(attrs: &[(&str, &str)], children: &[(&str, &str)]) -> OfferDraft {
        let attrs = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut d = OfferDraft::new(7, attrs);
        for (tag, value) in children {
            d.add_child(tag, Vec::new(), value.to_string());
        }
        d
    }

    #[test]
    fn composes_the_name_of_a_vendor_model_offer() {
        let offer = draft(
            &[("id", "1"), ("type", "vendor.model")],
            &[
                ("price", "10"),
                ("typePrefix", "Кроссовки"),
                ("vendor", "Pikfoot"),
                ("model", "Run 17"),
            ],
        )
        .finish();
        assert_eq!(
            offer.map(|o| o.name).as_deref(),
            Ok("Кроссовки Pikfoot Run 17")
        );
    }

    #[test]
    fn lists_every_problem_of_a_broken_offer() {
        let reason = draft(&[("available", "maybe")], &[("price", "12,5a")]).finish();
        assert_eq!(
            reason.map(|o| o.id),
            Err(
                "no id (add id=\"…\" to <offer>); available is `maybe`; write true or false; \
                 price is not a number: `12,5a` (write digits with an optional decimal point, \
                 e.g. 1500.50); no name"
                    .to_string()
            )
        );
    }

    #[test]
    fn treats_an_empty_oldprice_as_none_and_a_bad_one_as_an_error() {
        let ok = draft(
            &[("id", "1")],
            &[("price", "5"), ("name", "n"), ("oldprice", "")],
        );
        assert_eq!(ok.finish().map(|o| o.old_price), Ok(None));
        let bad = draft(
            &[("id", "1")],
            &[("price", "5"), ("name", "n"), ("oldprice", "x")],
        );
        assert!(
            bad.finish()
                .is_err_and(|r| r.starts_with("oldprice is not a number"))
        );
    }
}
