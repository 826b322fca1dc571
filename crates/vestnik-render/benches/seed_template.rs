//! The seed's "2 products in a row" MJML block (seed 000, "Шаблоны писем") for one contact
//! with a cart, viewed items and recommendations: the issue's render target is ≤ 100 µs per
//! message on one core, Jinja + MJML + plain-text part.
//!
//! `cargo bench -p vestnik-render --bench seed_template` (criterion). Instead of
//! benchmarking, `-- --print-mjml` prints the Jinja output (the MJML that mrml gets, to feed
//! the reference `mjml` from npm the same document) and `-- --print-email` the message's HTML
//! and text part (to check that an optimisation changes no byte).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group};
use vestnik_render::{
    CompiledTemplate, Lead, Offer, RenderData, RenderOptions, Rendered, Template, TemplateKind,
};

/// Four rows of the seed's block: random offers (the seed's example as written), then the
/// cart, viewed items and recommendations in the same layout.
const SEED_TEMPLATE: &str = r#"<mjml><mj-body>
{% set random_offers = get_random_offers(count=10) %}
<mj-section>
  {% for item in random_offers[0:2] %}
  <mj-column>
    <mj-image src="{{item.picture}}" />
    <mj-text>{{item.name}}</mj-text>
    <mj-text>{{item.price}}</mj-text>
    <mj-button href="{{item.url}}">Купить</mj-button>
  </mj-column>
  {% endfor %}
</mj-section>
<mj-section>
  {% for item in get_cart_items()[0:2] %}
  <mj-column>
    <mj-image src="{{item.picture}}" />
    <mj-text>{{item.name}}</mj-text>
    <mj-text>{{item.price}}</mj-text>
    <mj-button href="{{item.url}}">Купить</mj-button>
  </mj-column>
  {% endfor %}
</mj-section>
<mj-section>
  {% for item in get_viewed_items()[0:2] %}
  <mj-column>
    <mj-image src="{{item.picture}}" />
    <mj-text>{{item.name}}</mj-text>
    <mj-text>{{item.price}}</mj-text>
    <mj-button href="{{item.url}}">Купить</mj-button>
  </mj-column>
  {% endfor %}
</mj-section>
{% set rec_offers = get_recommendations(service_name='top_offers') %}
<mj-section>
  {% for item in rec_offers[0:2] %}
  <mj-column>
    <mj-image src="{{item.picture}}" />
    <mj-text>{{item.name}}</mj-text>
    <mj-text>{{item.price}}</mj-text>
    <mj-button href="{{item.url}}">Купить</mj-button>
  </mj-column>
  {% endfor %}
</mj-section>
</mj-body></mjml>"#;

/// One contact held in memory, like `SampleData` but with lists of realistic length: a cart
/// of 3, 5 viewed items, 10 recommendations and 10 random offers.
struct Contact {
    cart: Vec<Offer>,
    viewed: Vec<Offer>,
    recommended: Vec<Offer>,
    random: Vec<Offer>,
}

fn offers(prefix: &str, n: usize) -> Vec<Offer> {
    (1..=n)
        .map(|i| {
            let picture = format!("https://cdn.shop.example/images/{prefix}{i}/main.jpg");
            Offer {
                id: format!("{prefix}{i}"),
                name: format!("Кроссовки беговые модель {prefix}{i}"),
                price: format!("{}990.00", i + 2),
                oldprice: (i % 2 == 0).then(|| format!("{}490.00", i + 4)),
                url: Some(format!(
                    "https://shop.example/catalog/shoes/{prefix}{i}?utm_source=email"
                )),
                picture: Some(picture.clone()),
                pictures: vec![picture],
                type_prefix: Some("Кроссовки".into()),
                vendor: Some("Runner".into()),
                model: Some(format!("R{i}")),
                available: true,
                ..Offer::default()
            }
        })
        .collect()
}

impl RenderData for Contact {
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
        self.viewed.clone()
    }
    fn recommendations(&self, _: &str, count: usize) -> Result<Vec<Offer>, String> {
        Ok(self.recommended.iter().take(count).cloned().collect())
    }
    fn random_offers(&self, count: usize) -> Vec<Offer> {
        self.random.iter().take(count).cloned().collect()
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

/// The seed's block exactly as the seed writes it: one row of two random offers.
const SEED_AS_WRITTEN: &str = r#"<mjml><mj-body>
{% set random_offers = get_random_offers(count=10) %}
<mj-section>
  {% for item in random_offers[0:2] %}
  <mj-column>
    <mj-image src="{{item.picture}}" />
    <mj-text>{{item.name}}</mj-text>
    <mj-text>{{item.price}}</mj-text>
    <mj-button href="{{item.url}}">Купить</mj-button>
  </mj-column>
  {% endfor %}
</mj-section>
</mj-body></mjml>"#;

fn contact() -> Arc<dyn RenderData> {
    Arc::new(Contact {
        cart: offers("c", 3),
        viewed: offers("v", 5),
        recommended: offers("r", 10),
        random: offers("x", 10),
    })
}

fn compiled(kind: TemplateKind) -> CompiledTemplate {
    CompiledTemplate::compile(&Template {
        subject: "{{ lead.name }}, подборка для вас".into(),
        body: SEED_TEMPLATE.into(),
        kind,
    })
    .expect("the seed template compiles")
}

fn seed_template(c: &mut Criterion) {
    let data = contact();
    let mjml = compiled(TemplateKind::Mjml);
    match mjml.render(data.clone(), RenderOptions::default()) {
        Ok(Rendered::Email(_)) => {}
        other => panic!("the seed template renders: {other:?}"),
    }
    c.bench_function("seed 2-in-a-row, MJML (Jinja + mrml + text)", |b| {
        b.iter(|| black_box(mjml.render(data.clone(), RenderOptions::default())))
    });
    let as_written = CompiledTemplate::compile(&Template {
        subject: "{{ lead.name }}, подборка для вас".into(),
        body: SEED_AS_WRITTEN.into(),
        kind: TemplateKind::Mjml,
    })
    .expect("the seed block compiles");
    c.bench_function("seed block as written (one row), MJML", |b| {
        b.iter(|| black_box(as_written.render(data.clone(), RenderOptions::default())))
    });
    // The same body as an HTML template: Jinja and the text part only, to split the cost.
    let jinja = compiled(TemplateKind::Html);
    c.bench_function("seed 2-in-a-row, Jinja + text only", |b| {
        b.iter(|| black_box(jinja.render(data.clone(), RenderOptions::default())))
    });
}

criterion_group!(benches, seed_template);

fn main() {
    for (flag, kind) in [
        ("--print-mjml", TemplateKind::Html),
        ("--print-email", TemplateKind::Mjml),
    ] {
        if std::env::args().any(|a| a == flag) {
            match compiled(kind).render(contact(), RenderOptions::default()) {
                Ok(Rendered::Email(email)) if kind == TemplateKind::Html => {
                    println!("{}", email.html)
                }
                Ok(Rendered::Email(email)) => {
                    println!("{}\n---- text ----\n{}", email.html, email.text)
                }
                other => panic!("the seed template renders: {other:?}"),
            }
            return;
        }
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
