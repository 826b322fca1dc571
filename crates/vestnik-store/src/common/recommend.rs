//! `RecommendationStore` on both backends: one query per algorithm, written once here from a
//! few backend fragments (`Fragments`: JSON extraction, JSON lists, byte-order collation).
//! The ranking rules are the domain's (`vestnik_domain::recommend`); these queries apply them
//! and the results are re-checked against `rank_order` after decoding.
//!
//! Cost, per call (N = `productViewed` events of the site in the window, O = its orders in
//! the window):
//! - `top_offers`, `same_category`: a range scan of `events_site_type_time` over the window
//!   (O(N), reading each event's params) and of `orders_site_created` (O(O)), grouped per
//!   offer, then primary-key lookups of the scored offers; `same_category` reads only the
//!   category's offers (`offers_site_category`).
//! - `also_viewed`: one window scan to find co-viewers (capped at `MAX_CO_VIEWERS`), then
//!   those co-viewers' events in the window (through `contact_events` on SQLite, `events_contact`
//!   on PostgreSQL when the planner finds that cheaper; at worst a second window scan).
//! - `new_arrivals`: a backward walk of `offers_site_first_seen`, stopping at the limit.
//!
//! Every query ends in `LIMIT` ≤ `MAX_COUNT`. Nothing here depends on the contact for
//! `top_offers` besides the exclusions, so a caller rendering a whole campaign may compute it
//! once per send with a larger count and filter per contact.

use vestnik_domain::recommend::Scored;
use vestnik_domain::{CatalogOffer, StoreResult};

use crate::common::catalog::offer_from_row;
use crate::rows::Columns;

/// The SQL that differs between backends. The fragments refer to the site as `$1` and the
/// window start as `$2`.
pub(crate) struct Fragments {
    /// The product id of a `productViewed` event aliased `e`, as text.
    pub viewed_product_id: &'static str,
    /// A subquery with one row `(order_pk, offer_id)` per item of the site's orders created
    /// since `$2`, cancelled ones left out.
    pub order_lines: &'static str,
    /// A subquery with one row per string of the JSON array bound as parameter `n`, in a
    /// column named `value`.
    pub json_text_list: fn(usize) -> String,
    /// Appended to `ORDER BY offer_id` so ids compare byte by byte.
    pub offer_id_order: &'static str,
    /// A FROM clause of the events `e` of the contacts in `co` (`co.contact_id`).
    pub events_of_co: &'static str,
}

impl Fragments {
    /// `views`, `buys`, `scores (offer_id, score)` CTEs: the `top_offers` score of every offer
    /// viewed or bought in the window. View and purchase weights are `$5` and `$6`.
    fn score_ctes(&self) -> String {
        let Fragments {
            viewed_product_id: pid,
            order_lines,
            ..
        } = self;
        format!(
            "views AS (SELECT {pid} AS offer_id, count(*) AS n FROM events e \
                 WHERE e.site_id = $1 AND e.event_type = 'productViewed' AND e.received_at >= $2 \
                 GROUP BY 1), \
             buys AS (SELECT l.offer_id, count(DISTINCT l.order_pk) AS n FROM ({order_lines}) l \
                 GROUP BY l.offer_id), \
             scores AS (SELECT offer_id, CAST(sum(n) AS BIGINT) AS score FROM \
                 (SELECT offer_id, n * $5 AS n FROM views UNION ALL SELECT offer_id, n * $6 AS n FROM buys) s \
                 GROUP BY offer_id)"
        )
    }

    /// `$1` site, `$2` since, `$3` excluded ids (JSON), `$4` limit, `$5`/`$6` weights.
    pub(crate) fn top_offers(&self) -> String {
        format!(
            "WITH {ctes} \
             SELECT o.offer_id, o.available, o.data, s.score FROM scores s \
             JOIN offers o ON o.site_id = $1 AND o.offer_id = s.offer_id \
             WHERE o.available = true AND o.offer_id NOT IN {never} \
             ORDER BY s.score DESC, o.offer_id{order} LIMIT $4",
            ctes = self.score_ctes(),
            never = (self.json_text_list)(3),
            order = self.offer_id_order,
        )
    }

    /// As `top_offers`, plus `$7` the category; offers of the category with no score rank
    /// after scored ones, by id.
    pub(crate) fn same_category(&self) -> String {
        format!(
            "WITH {ctes} \
             SELECT o.offer_id, o.available, o.data, coalesce(s.score, 0) AS score FROM offers o \
             LEFT JOIN scores s ON s.offer_id = o.offer_id \
             WHERE o.site_id = $1 AND o.category_id = $7 AND o.available = true \
                 AND o.offer_id NOT IN {never} \
             ORDER BY coalesce(s.score, 0) DESC, o.offer_id{order} LIMIT $4",
            ctes = self.score_ctes(),
            never = (self.json_text_list)(3),
            order = self.offer_id_order,
        )
    }

    /// `$1` site, `$2` since, `$3` excluded ids (JSON), `$4` limit, `$5` seeds (JSON),
    /// `$6` the contact, `$7` the co-viewer cap.
    pub(crate) fn also_viewed(&self) -> String {
        format!(
            "WITH co AS (SELECT e.contact_id FROM events e \
                 WHERE e.site_id = $1 AND e.event_type = 'productViewed' AND e.received_at >= $2 \
                     AND e.contact_id IS NOT NULL AND e.contact_id <> $6 AND {pid} IN {seeds} \
                 GROUP BY e.contact_id ORDER BY max(e.received_at) DESC, e.contact_id LIMIT $7), \
             pairs AS (SELECT DISTINCT e.contact_id, {pid} AS offer_id \
                 FROM {events_of_co} \
                 WHERE e.site_id = $1 AND e.event_type = 'productViewed' AND e.received_at >= $2), \
             scores AS (SELECT offer_id, count(*) AS score FROM pairs \
                 WHERE offer_id NOT IN {seeds} GROUP BY offer_id) \
             SELECT o.offer_id, o.available, o.data, s.score FROM scores s \
             JOIN offers o ON o.site_id = $1 AND o.offer_id = s.offer_id \
             WHERE o.available = true AND o.offer_id NOT IN {never} \
             ORDER BY s.score DESC, o.offer_id{order} LIMIT $4",
            pid = self.viewed_product_id,
            events_of_co = self.events_of_co,
            seeds = (self.json_text_list)(5),
            never = (self.json_text_list)(3),
            order = self.offer_id_order,
        )
    }

    /// `$1` site, `$2` excluded ids (JSON), `$3` limit.
    pub(crate) fn new_arrivals(&self) -> String {
        format!(
            "SELECT offer_id, available, data, first_seen_at AS score FROM offers \
             WHERE site_id = $1 AND available = true AND offer_id NOT IN {never} \
             ORDER BY first_seen_at DESC, offer_id{order} LIMIT $3",
            never = (self.json_text_list)(2),
            order = self.offer_id_order,
        )
    }
}

/// A JSON array of strings, bound as text (both backends parse it in SQL).
pub(crate) fn json_list(ids: &[String]) -> StoreResult<String> {
    serde_json::to_string(ids)
        .map_err(|e| crate::error::internal(format!("encoding an id list: {e}")))
}

/// Decodes `offer_id, available, data, score` rows and puts them in the domain's ranking
/// order (the SQL already sorted them so; sorting again keeps the rule in one place).
pub(crate) fn ranked_offers(rows: &[impl Columns]) -> StoreResult<Vec<CatalogOffer>> {
    let mut scored = rows
        .iter()
        .map(|r| {
            Ok((
                Scored {
                    offer_id: r.text("offer_id")?,
                    score: r.int("score")?,
                },
                offer_from_row(r)?,
            ))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    scored.sort_by(|a, b| vestnik_domain::recommend::rank_order(&a.0, &b.0));
    Ok(scored.into_iter().map(|(_, offer)| offer).collect())
}

macro_rules! impl_recommendation_store {
    ($store:ty, $dialect:path) => {
        use async_trait::async_trait;
        use sqlx::AssertSqlSafe;
        use vestnik_domain::recommend::{self, Algorithm, RecommendationRequest};
        use vestnik_domain::store::{CatalogStore, EventStore, RecommendationStore};
        use vestnik_domain::{CatalogOffer, ContactId, SiteId, StoreResult, Timestamp};

        use crate::common::recommend::{json_list, ranked_offers};
        use crate::error::map_err;
        use $dialect as dialect;

        #[async_trait]
        impl RecommendationStore for $store {
            async fn recommend(
                &self,
                site: &SiteId,
                contact: Option<ContactId>,
                request: &RecommendationRequest,
            ) -> StoreResult<Vec<CatalogOffer>> {
                let limit = i64::from(request.limit());
                if limit == 0 || (request.algorithm.needs_contact() && contact.is_none()) {
                    return Ok(Vec::new());
                }
                // The contact's own state is settled by `contact_state`. Co-viewers are found
                // through the contact index without settling it: a second's lag in who else
                // viewed a product changes nothing, and a shop asks for recommendations on
                // every page view, while events stream in.
                let state = match contact {
                    Some(c) => Some(self.contact_state(site, c).await?),
                    None => None,
                };
                let sql = dialect::recommend_fragments();
                let since = request.since(Timestamp::now()).millis();
                let mut never = request.excluded_ids(state.as_ref());
                let rows = match (request.algorithm, state, contact) {
                    (Algorithm::TopOffers, ..) => {
                        sqlx::query(AssertSqlSafe(sql.top_offers()))
                            .bind(site.as_str())
                            .bind(since)
                            .bind(json_list(&never)?)
                            .bind(limit)
                            .bind(recommend::VIEW_WEIGHT)
                            .bind(recommend::PURCHASE_WEIGHT)
                            .fetch_all(self.reads())
                            .await
                    }
                    (Algorithm::AlsoViewed, Some(state), Some(contact)) => {
                        let seeds = recommend::seeds(&state);
                        if seeds.is_empty() {
                            return Ok(Vec::new());
                        }
                        sqlx::query(AssertSqlSafe(sql.also_viewed()))
                            .bind(site.as_str())
                            .bind(since)
                            .bind(json_list(&never)?)
                            .bind(limit)
                            .bind(json_list(&seeds)?)
                            .bind(contact.0)
                            .bind(recommend::MAX_CO_VIEWERS)
                            .fetch_all(self.reads())
                            .await
                    }
                    (Algorithm::SameCategory, Some(state), _) => {
                        let viewed = recommend::product_ids(&state.viewed);
                        let viewed_offers = if state.last_category_id.is_some() {
                            Vec::new()
                        } else {
                            self.offers_by_id(site, &viewed).await?
                        };
                        let Some(category) = recommend::seed_category(&state, &viewed_offers)
                        else {
                            return Ok(Vec::new());
                        };
                        never.extend(viewed);
                        sqlx::query(AssertSqlSafe(sql.same_category()))
                            .bind(site.as_str())
                            .bind(since)
                            .bind(json_list(&never)?)
                            .bind(limit)
                            .bind(recommend::VIEW_WEIGHT)
                            .bind(recommend::PURCHASE_WEIGHT)
                            .bind(category)
                            .fetch_all(self.reads())
                            .await
                    }
                    (Algorithm::NewArrivals, ..) => {
                        sqlx::query(AssertSqlSafe(sql.new_arrivals()))
                            .bind(site.as_str())
                            .bind(json_list(&never)?)
                            .bind(limit)
                            .fetch_all(self.reads())
                            .await
                    }
                    // Needs a contact, and there is none (handled above).
                    (Algorithm::AlsoViewed | Algorithm::SameCategory, ..) => return Ok(Vec::new()),
                };
                ranked_offers(&rows.map_err(map_err("recommendation"))?)
            }
        }
    };
}
pub(crate) use impl_recommendation_store;
