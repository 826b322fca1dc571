//! Renders per second of a typical campaign email: an MJML template with a ten-product loop,
//! compiled once and rendered for many recipients, as a mailing does.
//!
//! `cargo bench -p vestnik-render --bench render [-- N]` (N renders, default 3000). Also
//! prints the HTML-template rate and the cost of each step, to show where time goes.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use vestnik_render::{
    CompiledTemplate, Lead, Offer, RenderData, RenderOptions, Rendered, Template, TemplateKind,
};

const MJML: &str = r##"<mjml>
  <mj-head><mj-title>Подборка для вас</mj-title><mj-preview>Новинки недели</mj-preview></mj-head>
  <mj-body background-color="#f4f4f4">
    <mj-section><mj-column><mj-text font-size="20px">Здравствуйте, {{ lead.name|default('друг') }}!</mj-text></mj-column></mj-section>
    {% for item in get_cart_items() [0:10] %}
    <mj-section background-color="#ffffff">
      <mj-column width="40%"><mj-image src="{{ item.picture }}" alt="{{ item.name }}" href="{{ item.url }}" /></mj-column>
      <mj-column width="60%">
        <mj-text font-weight="bold">{{ item.type_prefix }} {{ item.vendor }} {{ item.model }}</mj-text>
        <mj-text>{{ item.name }}</mj-text>
        <mj-text color="#c00">{{ item.price }} ₽{% if item.oldprice %} <s>{{ item.oldprice }} ₽</s>{% endif %}</mj-text>
        <mj-button href="{{ item.url }}" background-color="#c00">Купить</mj-button>
      </mj-column>
    </mj-section>
    {% endfor %}
    <mj-section><mj-column>
      <mj-text>Ваш промокод: <b>{{ get_promocode() }}</b></mj-text>
      <mj-text font-size="11px"><a href="{{ webview_url }}">Веб-версия</a> · <a href="{{ unsubscribe_url }}">Отписаться</a></mj-text>
    </mj-column></mj-section>
  </mj-body>
</mjml>"##;

struct Recipient {
    cart: Vec<Offer>,
}

impl RenderData for Recipient {
    fn lead(&self) -> Lead {
        Lead {
            name: Some("Анна".into()),
            email: Some("anna@example.com".into()),
            city: Some("Москва".into()),
            ..Lead::default()
        }
    }
    fn cart_items(&self) -> Vec<Offer> {
        self.cart.clone()
    }
    fn viewed_items(&self) -> Vec<Offer> {
        Vec::new()
    }
    fn recommendations(&self, _: &str, _: usize) -> Result<Vec<Offer>, String> {
        Ok(Vec::new())
    }
    fn random_offers(&self, _: usize) -> Vec<Offer> {
        Vec::new()
    }
    fn claim_promocode(&self, _: Option<&str>) -> Result<String, String> {
        Ok("SUMMER-2024-ABCD".into())
    }
    fn webview_url(&self) -> String {
        "https://mail.shop.example/w/0123456789abcdef".into()
    }
    fn unsubscribe_url(&self) -> String {
        "https://mail.shop.example/u/0123456789abcdef".into()
    }
}

fn offers() -> Vec<Offer> {
    (1..=10)
        .map(|i| Offer {
            id: format!("{i}"),
            name: format!("Кроссовки беговые модель {i}"),
            price: format!("{}990.00", i + 2),
            oldprice: (i % 2 == 0).then(|| format!("{}490.00", i + 4)),
            url: Some(format!(
                "https://shop.example/catalog/shoes/{i}?utm_source=email"
            )),
            picture: Some(format!("https://cdn.shop.example/images/{i}/main.jpg")),
            pictures: vec![format!("https://cdn.shop.example/images/{i}/main.jpg")],
            type_prefix: Some("Кроссовки".into()),
            vendor: Some("Runner".into()),
            model: Some(format!("R{i}")),
            available: true,
            ..Offer::default()
        })
        .collect()
}

/// Renders `n` messages in ten rounds; prints the overall rate and the best round's, since
/// a shared machine's other work only ever slows a round down.
fn rate(label: &str, n: usize, template: &CompiledTemplate, data: &Arc<dyn RenderData>) {
    // Warm up allocator and caches.
    for _ in 0..n / 10 + 1 {
        let _ = black_box(template.render(data.clone(), RenderOptions::default()));
    }
    let rounds = 10;
    let per_round = (n / rounds).max(1);
    let mut total = 0.0;
    let mut best = f64::MAX;
    let mut bytes = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        for _ in 0..per_round {
            match template.render(data.clone(), RenderOptions::default()) {
                Ok(Rendered::Email(email)) => bytes = email.html.len() + email.text.len(),
                other => panic!("render failed: {other:?}"),
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        total += seconds;
        best = best.min(seconds);
    }
    let each = |seconds: f64| seconds * 1e6 / per_round as f64;
    println!(
        "{label}: {} renders: {:.0} renders/s overall ({:.0} µs each), best round {:.0} renders/s \
         ({:.0} µs each); {} KiB of HTML + text per message",
        per_round * rounds,
        (per_round * rounds) as f64 / total,
        each(total / rounds as f64),
        per_round as f64 / best,
        each(best),
        bytes / 1024
    );
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3000);
    let data: Arc<dyn RenderData> = Arc::new(Recipient { cart: offers() });

    let started = Instant::now();
    let mjml = CompiledTemplate::compile(&Template {
        subject: "{{ lead.name }}, подборка для вас".into(),
        body: MJML.into(),
        kind: TemplateKind::Mjml,
    })
    .expect("the bench template compiles");
    println!("compile: {:.1?}", started.elapsed());
    rate("MJML, 10 products", n, &mjml, &data);

    // The same body as HTML-kind (the Jinja output is not MJML-rendered), to split the cost.
    let jinja_only = CompiledTemplate::compile(&Template {
        subject: "{{ lead.name }}".into(),
        body: MJML.replace("mj-", "x-"),
        kind: TemplateKind::Html,
    })
    .expect("compiles");
    rate("Jinja + text part only", n, &jinja_only, &data);
}
