//! What a template can see of one recipient: the lead record, product lists, promo codes and
//! the two service links. The caller implements [`RenderData`]; this crate never reads a
//! database itself.

use serde::Serialize;

/// Shown instead of a real code when a preview calls `get_promocode()` and the caller did not
/// override [`RenderData::preview_promocode`], so a preview never consumes a code.
pub const PREVIEW_PROMOCODE: &str = "PROMO-PREVIEW";

/// How many offers `get_recommendations()` and `get_random_offers()` ask for when the template
/// gives no `count`.
pub const DEFAULT_OFFER_COUNT: usize = 10;

/// The largest `count` a template may ask for: more offers than this do not fit in an email,
/// and a typo such as `count=10000` should not turn into a catalogue-wide query.
pub const MAX_OFFER_COUNT: usize = 100;

/// The names of the lead fields, in the order of the seed's table; `{{ lead.<name> }}`.
pub const LEAD_FIELDS: [&str; 12] = [
    "name",
    "last_name",
    "position",
    "email",
    "phone",
    "region",
    "country",
    "city",
    "address",
    "company",
    "birthday",
    "sex",
];

/// The contact the message goes to, as `{{ lead.* }}` sees it.
///
/// A missing field is left out of the template's `lead` object, so it renders as nothing,
/// is false in `{% if lead.name %}` and takes `{{ lead.name|default('друг') }}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Lead {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// As the store sent it (the seed does not fix a format), so the template shows it unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
}

/// One product as `{{ item.* }}` sees it inside a product loop. Field names are the seed's
/// (`type_prefix`, not the feed's `typePrefix`); a catalog crate converts its offers into this.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Offer {
    /// The shop's product id, for links the template builds itself.
    pub id: String,
    pub name: String,
    /// A decimal as written in the feed ("1990.00"): a float would print "1990" or "1989.999".
    pub price: String,
    /// The price before a discount, for "was / now" blocks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldprice: Option<String>,
    /// The product page; tracking rewrites it after rendering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The first of `pictures`, since almost every template shows one image (`{{ item.picture }}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// Every image in feed order, for galleries.
    pub pictures: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency_id: Option<String>,
    /// Lets a template mark or hide sold-out products in a cart reminder.
    pub available: bool,
    /// The feed's `<param>` characteristics (size, colour…), in feed order.
    pub params: Vec<OfferParam>,
}

/// One `<param name="…" unit="…">value</param>` of an offer: `{{ p.name }}: {{ p.value }}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OfferParam {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub value: String,
}

/// The data of one recipient, implemented by the caller (the campaign sender, the bundle
/// engine, the preview page).
///
/// The template calls these methods while it renders, each time it calls the matching
/// function: `get_cart_items()` twice means two calls of [`cart_items`](Self::cart_items)
/// (the seed says each call returns a new list, which matters for random and recommended
/// offers). The methods are synchronous because minijinja is; a caller whose data lives in
/// a database runs the render inside `tokio::task::spawn_blocking` or loads the data first.
///
/// `Send + Sync` because template functions are shared values inside minijinja.
pub trait RenderData: Send + Sync {
    /// The contact the message goes to (`{{ lead.* }}`); asked once per render.
    fn lead(&self) -> Lead;

    /// The contact's current cart (`get_cart_items()`), in cart order.
    fn cart_items(&self) -> Vec<Offer>;

    /// Products the contact viewed (`get_viewed_items()`), most recent first.
    fn viewed_items(&self) -> Vec<Offer>;

    /// Offers from the recommendation algorithm `service_name`
    /// (`get_recommendations(service_name='top_offers')`), at most `count` of them.
    ///
    /// An unknown or unusable algorithm is an `Err` whose message names the valid ones; it
    /// stops the message with that message.
    fn recommendations(&self, service_name: &str, count: usize) -> Result<Vec<Offer>, String>;

    /// `count` random offers from the feed (`get_random_offers(count=10)`).
    fn random_offers(&self, count: usize) -> Vec<Offer>;

    /// Claims one unused code from the pool (`None`: the site's default pool) for this
    /// recipient, atomically, so no two messages get the same code
    /// (`{{ get_promocode() }}`, `{{ get_promocode(pool='summer') }}`).
    ///
    /// An exhausted or unknown pool is an `Err` whose message says so; it stops the message,
    /// since sending a promised code that is not there would be worse than not sending.
    fn claim_promocode(&self, pool: Option<&str>) -> Result<String, String>;

    /// What `get_promocode()` shows in a preview, where no code may be consumed. A caller can
    /// override it to check that the pool exists or to show a real-looking sample.
    fn preview_promocode(&self, _pool: Option<&str>) -> Result<String, String> {
        Ok(PREVIEW_PROMOCODE.to_owned())
    }

    /// The link to this message's web version (`{{ webview_url }}`).
    fn webview_url(&self) -> String;

    /// The link that unsubscribes this recipient (`{{ unsubscribe_url }}`).
    fn unsubscribe_url(&self) -> String;

    /// Values the sender passes with one message (a transactional email's order number…),
    /// readable as `{{ vars.order_id }}` and, unless a built-in name is taken, as
    /// `{{ order_id }}`.
    fn variables(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::new()
    }
}
