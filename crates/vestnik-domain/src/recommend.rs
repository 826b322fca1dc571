//! Product recommendations behind the template function `get_recommendations(service_name=…)`:
//! the algorithms a template may name, what a request asks for, and the rules each algorithm
//! ranks by. The store computes the candidates (`store::RecommendationStore`); the rules and
//! their constants live here so the SQL and the documentation cannot drift apart.
//!
//! Rules every algorithm follows:
//! - Only available offers of the site's catalog are returned.
//! - Never an id of `RecommendationRequest::exclude`, and, when a contact is given, never an
//!   item of the contact's cart (cross-sell must not suggest what they are about to buy).
//! - At most `count` offers, and never more than [`MAX_COUNT`].
//! - Ranked by a score, highest first, ties broken by offer id in byte order, so the same
//!   stored state always gives the same answer, on either backend.
//!
//! The algorithms (`Algorithm::description` is the short form shown in docs and errors):
//! - `top_offers`: the site's most popular offers within the window. Score = views
//!   ([`VIEW_WEIGHT`] per `productViewed` event) + purchases ([`PURCHASE_WEIGHT`] per order
//!   that lists the offer, whatever the quantity; cancelled orders do not count). A purchase
//!   weighs more because it is a far stronger signal than a glance. Offers with no view and no
//!   purchase in the window are not listed. No contact needed.
//! - `also_viewed`: "people who viewed this also viewed". Seeds = the contact's
//!   [`MAX_SEEDS`] most recently viewed products. Co-viewers = other contacts who viewed a seed
//!   within the window (the [`MAX_CO_VIEWERS`] who did so most recently). Score = the number of
//!   co-viewers who viewed the offer within the window. Seeds themselves are never returned.
//!   Empty without a contact or when the contact viewed nothing.
//! - `same_category`: the category the contact last browsed (`productCategoryViewed`), else
//!   the category of the most recently viewed product that is in the catalog. Its available
//!   offers (that category only, not its subcategories) that the contact has not viewed, by
//!   `top_offers` score. Empty without a contact or when no category is known.
//! - `new_arrivals`: offers by when the catalog first listed them, newest first. Offers of one
//!   import share that time, so within an import they come in offer id order. No window.

use serde_json::Value;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::catalog::CatalogOffer;
use crate::event::ContactState;
use crate::time::Timestamp;

/// The most offers one request returns: an email shows a handful, and every extra offer is
/// another catalog row decoded per message.
pub const MAX_COUNT: u32 = 100;
/// The look-back window when the template names none.
pub const DEFAULT_DAYS: u32 = 30;
/// The longest window: events older than a year say little about today's shop, and the cost
/// of `top_offers` grows with the events in the window.
pub const MAX_DAYS: u32 = 365;
/// Score of one `productViewed` event.
pub const VIEW_WEIGHT: i64 = 1;
/// Score of one order listing the offer: a purchase says much more than a view.
pub const PURCHASE_WEIGHT: i64 = 5;
/// How many of the contact's recently viewed products seed `also_viewed`.
pub const MAX_SEEDS: usize = 20;
/// How many co-viewers `also_viewed` looks at (the most recent ones): keeps the query bounded
/// for a bestseller that thousands of people viewed.
pub const MAX_CO_VIEWERS: i64 = 1000;

/// A recommendation algorithm, as templates name it in `service_name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    TopOffers,
    AlsoViewed,
    SameCategory,
    NewArrivals,
}

impl Algorithm {
    pub const ALL: [Algorithm; 4] = [
        Algorithm::TopOffers,
        Algorithm::AlsoViewed,
        Algorithm::SameCategory,
        Algorithm::NewArrivals,
    ];

    /// The `service_name` templates use.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::TopOffers => "top_offers",
            Algorithm::AlsoViewed => "also_viewed",
            Algorithm::SameCategory => "same_category",
            Algorithm::NewArrivals => "new_arrivals",
        }
    }

    /// One line for docs and error messages.
    pub fn description(self) -> &'static str {
        match self {
            Algorithm::TopOffers => "the most viewed and bought offers of the last `days` days",
            Algorithm::AlsoViewed => {
                "offers viewed by people who viewed the contact's recently viewed products"
            }
            Algorithm::SameCategory => {
                "popular offers of the category the contact last browsed, not yet viewed by them"
            }
            Algorithm::NewArrivals => "the offers the catalog listed most recently",
        }
    }

    /// Whether the algorithm says anything without a contact (`top_offers`, `new_arrivals`).
    pub fn needs_contact(self) -> bool {
        matches!(self, Algorithm::AlsoViewed | Algorithm::SameCategory)
    }

    /// Exact, case-sensitive names, as templates must spell them.
    pub fn parse(name: &str) -> Result<Self, UnknownAlgorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| UnknownAlgorithm {
                given: name.to_string(),
            })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::parse(s)
    }
}

/// A `service_name` no algorithm answers to; the message lists the ones that do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown recommendation service_name `{given}`; use one of: {}",
    valid_names()
)]
pub struct UnknownAlgorithm {
    pub given: String,
}

fn valid_names() -> String {
    Algorithm::ALL
        .iter()
        .map(|a| format!("{} ({})", a.name(), a.description()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a template asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecommendationRequest {
    pub algorithm: Algorithm,
    /// How many offers the template shows; capped at [`MAX_COUNT`].
    pub count: u32,
    /// The look-back window in days for the event- and order-based algorithms; 1 to
    /// [`MAX_DAYS`] (values outside are clamped).
    pub days: u32,
    /// Offer ids never to return: what the message already shows elsewhere (the cart block
    /// of an abandoned-cart email), so one email does not list an offer twice.
    pub exclude: Vec<String>,
}

impl RecommendationRequest {
    /// `count` offers of `algorithm` over the default window, excluding nothing.
    pub fn new(algorithm: Algorithm, count: u32) -> Self {
        RecommendationRequest {
            algorithm,
            count,
            days: DEFAULT_DAYS,
            exclude: Vec::new(),
        }
    }

    /// How many offers to return at most.
    pub fn limit(&self) -> u32 {
        self.count.min(MAX_COUNT)
    }

    pub fn window_days(&self) -> u32 {
        self.days.clamp(1, MAX_DAYS)
    }

    /// The start of the window ending at `now`.
    pub fn since(&self, now: Timestamp) -> Timestamp {
        now.minus(Duration::from_secs(u64::from(self.window_days()) * 86_400))
    }

    /// Ids never to return: `exclude` and the contact's cart, sorted and de-duplicated.
    pub fn excluded_ids(&self, state: Option<&ContactState>) -> Vec<String> {
        let mut ids: BTreeSet<String> = self.exclude.iter().cloned().collect();
        if let Some(state) = state {
            ids.extend(product_ids(&state.cart));
        }
        ids.into_iter().collect()
    }
}

/// The product ids of a contact-state list (`viewed`, `cart`), in list order, each once.
/// Numeric ids become their decimal text, as the ingestion stored them.
pub fn product_ids(items: &[Value]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    items
        .iter()
        .filter_map(|item| match item.get("productId")? {
            Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .filter(|id| seen.insert(id.clone()))
        .collect()
}

/// The seeds of `also_viewed`: the contact's most recently viewed products, newest first.
pub fn seeds(state: &ContactState) -> Vec<String> {
    let mut ids = product_ids(&state.viewed);
    ids.truncate(MAX_SEEDS);
    ids
}

/// The category `same_category` draws from: the one last browsed, else that of the most
/// recently viewed product in the catalog. `viewed_offers` are the catalog's offers for the
/// contact's viewed products, most recent first (unknown ids skipped).
pub fn seed_category(state: &ContactState, viewed_offers: &[CatalogOffer]) -> Option<String> {
    state
        .last_category_id
        .clone()
        .or_else(|| viewed_offers.iter().find_map(|o| o.category_id.clone()))
}

/// A candidate offer and its score under the request's algorithm (`new_arrivals`: when the
/// catalog first listed it, in unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scored {
    pub offer_id: String,
    pub score: i64,
}

/// The ranking order: score descending, then offer id ascending in byte order. The store's
/// SQL sorts the same way (byte order on PostgreSQL too, whatever the database collation).
pub fn rank_order(a: &Scored, b: &Scored) -> Ordering {
    b.score
        .cmp(&a.score)
        .then_with(|| a.offer_id.as_bytes().cmp(b.offer_id.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_name_it_prints() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::parse(a.name()), Ok(a));
            assert_eq!(a.to_string().parse::<Algorithm>(), Ok(a));
        }
    }

    #[test]
    fn unknown_name_error_lists_the_valid_ones() {
        let err = Algorithm::parse("bestsellers").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`bestsellers`"), "{msg}");
        for a in Algorithm::ALL {
            assert!(msg.contains(a.name()), "{msg} should name {}", a.name());
        }
        assert!(
            Algorithm::parse("TOP_OFFERS").is_err(),
            "names are exact, as templates must spell them"
        );
    }

    #[test]
    fn caps_count_and_clamps_window() {
        let mut r = RecommendationRequest::new(Algorithm::TopOffers, 1000);
        assert_eq!(r.limit(), MAX_COUNT);
        assert_eq!(r.window_days(), DEFAULT_DAYS);
        r.days = 0;
        assert_eq!(r.window_days(), 1);
        r.days = 10_000;
        assert_eq!(r.window_days(), MAX_DAYS);
        assert_eq!(
            r.since(Timestamp(400 * 86_400_000)),
            Timestamp(35 * 86_400_000)
        );
    }

    #[test]
    fn excludes_the_request_list_and_the_cart() {
        let mut r = RecommendationRequest::new(Algorithm::TopOffers, 5);
        r.exclude = vec!["b".into(), "a".into()];
        let state = ContactState {
            cart: vec![
                json!({"productId": "c"}),
                json!({"productId": 7}),
                json!({}),
            ],
            ..Default::default()
        };
        assert_eq!(r.excluded_ids(None), ["a", "b"]);
        assert_eq!(r.excluded_ids(Some(&state)), ["7", "a", "b", "c"]);
    }

    #[test]
    fn seeds_are_the_newest_views_each_once() {
        let state = ContactState {
            viewed: (0..30)
                .map(|i| json!({"productId": format!("p{i}")}))
                .chain([json!({"productId": "p0"})])
                .collect(),
            ..Default::default()
        };
        let s = seeds(&state);
        assert_eq!(s.len(), MAX_SEEDS);
        assert_eq!(s[0], "p0");
        assert_eq!(s[19], "p19");
    }

    #[test]
    fn category_comes_from_browsing_before_views() {
        let offer = |id: &str, category: Option<&str>| CatalogOffer {
            id: id.into(),
            available: true,
            offer_type: None,
            group_id: None,
            url: None,
            price: "1".into(),
            oldprice: None,
            currency_id: None,
            category_id: category.map(str::to_string),
            pictures: vec![],
            name: id.into(),
            type_prefix: None,
            vendor: None,
            model: None,
            description: None,
            params: vec![],
            extra: vec![],
        };
        let viewed = [
            offer("a", None),
            offer("b", Some("7")),
            offer("c", Some("8")),
        ];
        let mut state = ContactState::default();
        assert_eq!(seed_category(&state, &viewed).as_deref(), Some("7"));
        assert_eq!(seed_category(&state, &[]), None);
        state.last_category_id = Some("3".into());
        assert_eq!(seed_category(&state, &viewed).as_deref(), Some("3"));
    }

    #[test]
    fn ranks_by_score_then_offer_id_bytes() {
        let s = |id: &str, score| Scored {
            offer_id: id.into(),
            score,
        };
        let mut v = [s("b", 2), s("a", 1), s("Z", 2), s("a", 2), s("c", 9)];
        v.sort_by(rank_order);
        let ids: Vec<&str> = v.iter().map(|x| x.offer_id.as_str()).collect();
        assert_eq!(ids, ["c", "Z", "a", "b", "a"]);
    }
}
