//! A recipient whose data the tests control and whose calls they can count.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use vestnik_render::{
    Lead, Offer, RenderData, RenderOptions, Rendered, RenderedEmail, Template, TemplateKind, render,
};

pub fn offer(id: &str, name: &str, price: &str) -> Offer {
    Offer {
        id: id.to_owned(),
        name: name.to_owned(),
        price: price.to_owned(),
        url: Some(format!("https://shop.example/p/{id}")),
        picture: Some(format!("https://cdn.shop.example/{id}.jpg")),
        pictures: vec![format!("https://cdn.shop.example/{id}.jpg")],
        available: true,
        ..Offer::default()
    }
}

pub struct Recipient {
    pub lead: Lead,
    pub cart: Vec<Offer>,
    pub viewed: Vec<Offer>,
    /// Codes left per pool (`None` = default pool); claiming removes the first.
    pub pools: Mutex<HashMap<Option<String>, Vec<String>>>,
    pub list_calls: AtomicUsize,
    pub random_calls: AtomicUsize,
    pub last_count: AtomicUsize,
}

impl Default for Recipient {
    fn default() -> Self {
        let mut pools = HashMap::new();
        pools.insert(None, vec!["CODE-1".to_owned(), "CODE-2".to_owned()]);
        pools.insert(Some("summer".to_owned()), vec!["SUMMER-1".to_owned()]);
        Recipient {
            lead: Lead {
                name: Some("Анна".to_owned()),
                email: Some("anna@example.com".to_owned()),
                ..Lead::default()
            },
            cart: vec![
                offer("c1", "Кроссовки", "4990.00"),
                offer("c2", "Носки", "290.50"),
                offer("c3", "Шнурки", "99.00"),
            ],
            viewed: vec![offer("v1", "Куртка", "12990.00")],
            pools: Mutex::new(pools),
            list_calls: AtomicUsize::new(0),
            random_calls: AtomicUsize::new(0),
            last_count: AtomicUsize::new(0),
        }
    }
}

impl Recipient {
    pub fn codes_left(&self, pool: Option<&str>) -> usize {
        self.pools
            .lock()
            .unwrap()
            .get(&pool.map(str::to_owned))
            .map_or(0, Vec::len)
    }
}

impl RenderData for Recipient {
    fn lead(&self) -> Lead {
        self.lead.clone()
    }

    fn cart_items(&self) -> Vec<Offer> {
        self.list_calls.fetch_add(1, Ordering::SeqCst);
        self.cart.clone()
    }

    fn viewed_items(&self) -> Vec<Offer> {
        self.list_calls.fetch_add(1, Ordering::SeqCst);
        self.viewed.clone()
    }

    fn recommendations(&self, service_name: &str, count: usize) -> Result<Vec<Offer>, String> {
        self.list_calls.fetch_add(1, Ordering::SeqCst);
        self.last_count.store(count, Ordering::SeqCst);
        if service_name != "top_offers" {
            return Err(format!(
                "unknown algorithm '{service_name}'; use one of: top_offers, viewed_together"
            ));
        }
        Ok((1..=count)
            .map(|i| offer(&format!("r{i}"), &format!("Рекомендация {i}"), "100.00"))
            .collect())
    }

    fn random_offers(&self, count: usize) -> Vec<Offer> {
        let call = self.random_calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.last_count.store(count, Ordering::SeqCst);
        (1..=count)
            .map(|i| {
                offer(
                    &format!("x{call}-{i}"),
                    &format!("Случайный {call}-{i}"),
                    "1.00",
                )
            })
            .collect()
    }

    fn claim_promocode(&self, pool: Option<&str>) -> Result<String, String> {
        let mut pools = self.pools.lock().unwrap();
        match pools.get_mut(&pool.map(str::to_owned)) {
            None => Err("no such pool: import codes under Settings → Promo codes".to_owned()),
            Some(codes) if codes.is_empty() => {
                Err("the pool is exhausted: import more codes".to_owned())
            }
            Some(codes) => Ok(codes.remove(0)),
        }
    }

    fn webview_url(&self) -> String {
        "https://mail.example/w/abc".to_owned()
    }

    fn unsubscribe_url(&self) -> String {
        "https://mail.example/u/abc?s=1&t=2".to_owned()
    }
}

pub fn html_template(body: &str) -> Template {
    Template {
        subject: "Тема".to_owned(),
        body: body.to_owned(),
        kind: TemplateKind::Html,
    }
}

/// Renders an HTML-kind body for `recipient` and expects a message.
pub fn body_for(recipient: &Arc<Recipient>, body: &str) -> RenderedEmail {
    email(render(
        &html_template(body),
        recipient.clone(),
        RenderOptions::default(),
    ))
}

pub fn body(body: &str) -> String {
    body_for(&Arc::new(Recipient::default()), body).html
}

pub fn email(result: Result<Rendered, vestnik_render::RenderError>) -> RenderedEmail {
    match result {
        Ok(Rendered::Email(email)) => email,
        other => panic!("expected an email, got {other:?}"),
    }
}
