//! A recipient's template data read from the store: lead fields from the contact, cart and
//! viewed items from the contact's state resolved to catalog offers, recommendations, random
//! offers and promo codes.
//!
//! Template functions are synchronous (minijinja), the store is async: the render runs on a
//! blocking thread (`render_for_contact` does this) and each function waits for its store
//! call there, so a template that never calls `get_recommendations()` never pays for it.

use std::sync::{Arc, Mutex};
use vestnik_domain::{
    CatalogOffer, Contact, ContactState, SiteId, Store, StoreResult,
    recommend::{Algorithm, RecommendationRequest, product_ids},
};
use vestnik_render::{
    CompiledTemplate, Lead, Offer, OfferParam, RenderData, RenderError, RenderOptions, Rendered,
};

/// Most catalog offers one list function returns.
const MAX_ITEMS: u32 = vestnik_render::MAX_OFFER_COUNT as u32;

pub struct StoreRenderData {
    store: Arc<dyn Store>,
    site: SiteId,
    runtime: tokio::runtime::Handle,
    contact: Option<Contact>,
    state: ContactState,
    /// Recorded with each promo code handed out ("preview", "campaign:12", …).
    issued_for: String,
    webview_url: String,
    unsubscribe_url: String,
    /// The first store failure, if any: reported instead of the render's own error, since the
    /// template itself was fine.
    store_error: Mutex<Option<vestnik_domain::StoreError>>,
    /// Values passed with a single (transactional) message.
    variables: serde_json::Map<String, serde_json::Value>,
}

/// Links the message carries; campaigns sign real ones, previews show placeholders.
#[derive(Debug, Clone, Default)]
pub struct MessageLinks {
    pub webview_url: String,
    pub unsubscribe_url: String,
}

impl StoreRenderData {
    /// Loads what every render needs; list functions load the rest on demand.
    pub async fn load(
        store: Arc<dyn Store>,
        site: SiteId,
        contact: Option<Contact>,
        issued_for: impl Into<String>,
        links: MessageLinks,
    ) -> StoreResult<Self> {
        let state = match &contact {
            Some(c) => store.contact_state(&site, c.id).await?,
            None => ContactState::default(),
        };
        Ok(StoreRenderData {
            store,
            site,
            runtime: tokio::runtime::Handle::current(),
            contact,
            state,
            issued_for: issued_for.into(),
            webview_url: links.webview_url,
            unsubscribe_url: links.unsubscribe_url,
            store_error: Mutex::new(None),
            variables: serde_json::Map::new(),
        })
    }

    /// For a recipient whose contact and state are already loaded (a campaign loads a whole
    /// chunk's at once).
    pub fn with_state(
        store: Arc<dyn Store>,
        site: SiteId,
        contact: Option<Contact>,
        state: ContactState,
        issued_for: impl Into<String>,
        links: MessageLinks,
    ) -> Self {
        StoreRenderData {
            store,
            site,
            runtime: tokio::runtime::Handle::current(),
            contact,
            state,
            issued_for: issued_for.into(),
            webview_url: links.webview_url,
            unsubscribe_url: links.unsubscribe_url,
            store_error: Mutex::new(None),
            variables: serde_json::Map::new(),
        }
    }

    /// Adds the values of a single message (`{{ vars.name }}`, `{{ name }}`).
    pub fn with_variables(mut self, variables: serde_json::Map<String, serde_json::Value>) -> Self {
        self.variables = variables;
        self
    }

    /// The recipient, when it is a contact.
    pub fn contact_id(&self) -> Option<vestnik_domain::ContactId> {
        self.contact.as_ref().map(|c| c.id)
    }

    fn wait<T>(&self, work: impl Future<Output = StoreResult<T>>) -> Option<T> {
        match self.runtime.block_on(work) {
            Ok(value) => Some(value),
            Err(e) => {
                tracing::error!(error = %e, "a template function's store call failed");
                if let Ok(mut first) = self.store_error.lock() {
                    first.get_or_insert(e);
                }
                None
            }
        }
    }

    /// Offers for the product ids of a state list (`productId` of each item), in list order.
    fn offers_of(&self, items: &[serde_json::Value]) -> Vec<Offer> {
        let mut ids = product_ids(items);
        ids.truncate(MAX_ITEMS as usize);
        if ids.is_empty() {
            return Vec::new();
        }
        self.wait(self.store.offers_by_id(&self.site, &ids))
            .unwrap_or_default()
            .into_iter()
            .map(render_offer)
            .collect()
    }
}

impl RenderData for StoreRenderData {
    fn lead(&self) -> Lead {
        let Some(c) = &self.contact else {
            return Lead::default();
        };
        let f = &c.fields;
        Lead {
            name: f.name.clone(),
            last_name: f.last_name.clone(),
            position: f.position.clone(),
            email: c.email.as_ref().map(|e| e.as_str().to_string()),
            phone: c.phone.as_ref().map(|p| p.as_str().to_string()),
            region: f.region.clone(),
            country: f.country.clone(),
            city: f.city.clone(),
            address: f.address.clone(),
            company: f.company.clone(),
            birthday: f.birthday.clone(),
            sex: f.sex.clone(),
        }
    }

    fn cart_items(&self) -> Vec<Offer> {
        self.offers_of(&self.state.cart)
    }

    fn viewed_items(&self) -> Vec<Offer> {
        self.offers_of(&self.state.viewed)
    }

    fn recommendations(&self, service_name: &str, count: usize) -> Result<Vec<Offer>, String> {
        let algorithm = Algorithm::parse(service_name).map_err(|e| e.to_string())?;
        let count = u32::try_from(count).unwrap_or(MAX_ITEMS).min(MAX_ITEMS);
        let mut request = RecommendationRequest::new(algorithm, count);
        // Cross-sell never offers what is already in the cart.
        request.exclude = product_ids(&self.state.cart);
        let contact = self.contact.as_ref().map(|c| c.id);
        Ok(self
            .wait(self.store.recommend(&self.site, contact, &request))
            .unwrap_or_default()
            .into_iter()
            .map(render_offer)
            .collect())
    }

    fn random_offers(&self, count: usize) -> Vec<Offer> {
        let count = u32::try_from(count).unwrap_or(MAX_ITEMS).min(MAX_ITEMS);
        self.wait(self.store.random_offers(&self.site, count))
            .unwrap_or_default()
            .into_iter()
            .map(render_offer)
            .collect()
    }

    fn claim_promocode(&self, pool: Option<&str>) -> Result<String, String> {
        let pool = pool.unwrap_or(vestnik_domain::promo::DEFAULT_POOL);
        let contact = self.contact.as_ref().map(|c| c.id);
        match self.wait(
            self.store
                .claim_promo_code(&self.site, pool, contact, &self.issued_for),
        ) {
            Some(Some(code)) => Ok(code),
            Some(None) => Err(format!(
                "pool '{pool}' has no codes left: import more with `vestnik promocodes import --pool {pool}`"
            )),
            None => Err("the promo code store is unavailable".to_string()),
        }
    }

    fn preview_promocode(&self, pool: Option<&str>) -> Result<String, String> {
        let pool = pool.unwrap_or(vestnik_domain::promo::DEFAULT_POOL);
        match self.wait(self.store.peek_promo_code(&self.site, pool)) {
            Some(Some(code)) => Ok(code),
            Some(None) => Err(format!(
                "pool '{pool}' has no codes left: import more with `vestnik promocodes import --pool {pool}`"
            )),
            None => Err("the promo code store is unavailable".to_string()),
        }
    }

    fn webview_url(&self) -> String {
        self.webview_url.clone()
    }

    fn unsubscribe_url(&self) -> String {
        self.unsubscribe_url.clone()
    }

    fn variables(&self) -> serde_json::Map<String, serde_json::Value> {
        self.variables.clone()
    }
}

/// A catalog offer as templates see it.
pub fn render_offer(o: CatalogOffer) -> Offer {
    Offer {
        picture: o.pictures.first().cloned(),
        id: o.id,
        name: o.name,
        price: o.price,
        oldprice: o.oldprice,
        url: o.url,
        pictures: o.pictures,
        type_prefix: o.type_prefix,
        vendor: o.vendor,
        model: o.model,
        description: o.description,
        category_id: o.category_id,
        currency_id: o.currency_id,
        available: o.available,
        params: o
            .params
            .into_iter()
            .map(|p| OfferParam {
                name: p.name,
                unit: p.unit,
                value: p.value,
            })
            .collect(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderFailure {
    #[error(transparent)]
    Template(#[from] RenderError),
    #[error("the template's data could not be read: {0}")]
    Store(#[from] vestnik_domain::StoreError),
    #[error("the render stopped unexpectedly: {0}")]
    Crashed(String),
}

/// Renders `template` for one recipient on a blocking thread (see the module docs).
pub async fn render_for_contact(
    template: Arc<CompiledTemplate>,
    data: StoreRenderData,
    options: RenderOptions,
) -> Result<Rendered, RenderFailure> {
    tokio::task::spawn_blocking(move || render_blocking(&template, data, options))
        .await
        .map_err(|e| RenderFailure::Crashed(e.to_string()))?
}

/// The same, for a caller already on a blocking thread (a campaign renders and builds each
/// message in one blocking task, saving a thread hand-off per message).
pub fn render_blocking(
    template: &CompiledTemplate,
    data: StoreRenderData,
    options: RenderOptions,
) -> Result<Rendered, RenderFailure> {
    let data = Arc::new(data);
    let shared: Arc<dyn RenderData> = data.clone();
    let rendered = template.render(shared, options);
    if let Some(e) = data.store_error.lock().ok().and_then(|mut e| e.take()) {
        return Err(RenderFailure::Store(e));
    }
    Ok(rendered?)
}

/// A stored template's content as the renderer takes it.
pub fn render_template(
    content: &vestnik_domain::template::TemplateContent,
) -> vestnik_render::Template {
    vestnik_render::Template {
        subject: content.subject.clone(),
        body: content.body.clone(),
        kind: match content.kind {
            vestnik_domain::template::TemplateKind::Html => vestnik_render::TemplateKind::Html,
            vestnik_domain::template::TemplateKind::Mjml => vestnik_render::TemplateKind::Mjml,
        },
    }
}

/// Renders `template` as a preview for `contact`, or for the made-up sample contact when
/// `None`: promo codes are shown, not handed out, and the web-view and unsubscribe links are
/// placeholders (`#webview`, `#unsubscribe`).
pub async fn render_preview(
    store: Arc<dyn Store>,
    site: SiteId,
    template: Arc<CompiledTemplate>,
    contact: Option<Contact>,
) -> Result<Rendered, RenderFailure> {
    let options = RenderOptions { preview: true };
    let Some(contact) = contact else {
        return Ok(template.render(Arc::new(vestnik_render::SampleData), options)?);
    };
    let links = MessageLinks {
        webview_url: "#webview".into(),
        unsubscribe_url: "#unsubscribe".into(),
    };
    let data = StoreRenderData::load(store, site, Some(contact), "preview", links).await?;
    render_for_contact(template, data, options).await
}
