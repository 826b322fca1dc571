//! Tracking links on the sending hot path: ten products with three links each (picture,
//! name, button) plus logo, web view and unsubscribe, every http(s) link rewritten and the
//! open pixel inserted. Two messages: an HTML template of about 20 KB, and the same offers
//! as an MJML template, which mrml renders to about 40 KB of nested tables.
//!
//! `cargo bench -p vestnik-render --bench link_rewrite` (criterion). For each message, the
//! scan alone (the rewrite returns a constant), and the real thing: each destination gets the
//! campaign's UTM tags and the banner marker and is signed into a click token
//! (`vestnik_domain::tracking`). `-- --print-html` prints the rewritten HTML message instead;
//! `-- --loop N` only rewrites it N times, to measure CPU time with `perf stat`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group};
use vestnik_domain::campaign::UtmTags;
use vestnik_domain::tracking::{LinkDecoration, MessageLinks, TrackingKey};
use vestnik_domain::{ContactId, SiteId};
use vestnik_render::{
    CompiledTemplate, Lead, Offer, OwnLinks, RenderData, RenderOptions, Rendered, Template,
    TemplateKind, rewrite_links,
};

const BASE: &str = "https://mail.shop.example";
const UNSUBSCRIBE: &str = "https://mail.shop.example/t/u/UNSUBSCRIBE-TOKEN";
const WEBVIEW: &str = "https://mail.shop.example/t/w/WEBVIEW-TOKEN";

const MJML: &str = r##"<mjml>
  <mj-head><mj-title>Подборка для вас</mj-title><mj-preview>Новинки недели</mj-preview></mj-head>
  <mj-body background-color="#f4f4f4">
    <mj-section><mj-column><mj-text font-size="11px" align="right"><a href="{{ webview_url }}">Открыть в браузере</a></mj-text>
      <mj-image width="160px" src="https://shop.example/logo.png" href="https://shop.example/?from=email&amp;x=1" alt="Shop" />
      <mj-text font-size="20px">Здравствуйте, {{ lead.name|default('друг') }}!</mj-text></mj-column></mj-section>
    {% set cart = get_cart_items() %}
    {% for row in cart|batch(2) %}
    <mj-section background-color="#ffffff">
      {% for item in row %}
      <mj-column>
        <mj-image src="{{ item.picture }}" alt="{{ item.name }}" href="{{ item.url }}" />
        <mj-text font-weight="bold"><a href="{{ item.url }}" style="color:#222">{{ item.name }}</a></mj-text>
        <mj-text color="#c00">{{ item.price }} ₽{% if item.oldprice %} <s>{{ item.oldprice }} ₽</s>{% endif %}</mj-text>
        <mj-button href="{{ item.url }}" background-color="#c00">Купить</mj-button>
      </mj-column>
      {% endfor %}
    </mj-section>
    {% endfor %}
    <mj-section><mj-column>
      <mj-text font-size="11px">Вы получили это письмо, потому что подписались на новости магазина.
        <a href="{{ unsubscribe_url }}">Отписаться</a> · <a href="mailto:help@shop.example">Написать нам</a></mj-text>
    </mj-column></mj-section>
  </mj-body>
</mjml>"##;

/// A hand-written table layout, as a code-editor template usually is.
const HTML: &str = r##"<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Подборка для вас</title>
<style>body{margin:0;background:#f4f4f4}a{color:#c00}.btn{display:inline-block;padding:10px 24px;border-radius:4px}
@media (max-width:480px){.col{display:block!important;width:100%!important}}</style></head>
<body style="margin:0;padding:0;background-color:#f4f4f4">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background-color:#f4f4f4">
<tr><td align="center" style="padding:12px 0;font-family:Arial,Helvetica,sans-serif;font-size:11px;color:#888">
<a href="{{ webview_url }}" style="color:#888">Открыть в браузере</a></td></tr>
<tr><td align="center"><table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" style="background-color:#ffffff;width:600px">
<tr><td align="center" style="padding:24px"><a href="https://shop.example/?from=email&amp;x=1" target="_blank"><img src="https://shop.example/logo.png" width="160" alt="Shop" style="display:block;border:0"></a></td></tr>
<tr><td style="padding:0 24px 16px;font-family:Arial,Helvetica,sans-serif;font-size:20px;color:#222">Здравствуйте, {{ lead.name|default('друг') }}!</td></tr>
{% for row in get_cart_items()|batch(2) %}
<tr><td style="padding:0 12px"><table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr>
{% for item in row %}
<td class="col" width="50%" valign="top" style="padding:12px;font-family:Arial,Helvetica,sans-serif">
<a href="{{ item.url }}" target="_blank"><img src="{{ item.picture }}" width="264" alt="{{ item.name }}" style="display:block;border:0;width:100%;max-width:264px;height:auto"></a>
<p style="margin:12px 0 4px;font-size:15px;line-height:20px;font-weight:bold"><a href="{{ item.url }}" target="_blank" style="color:#222;text-decoration:none">{{ item.name }}</a></p>
<p style="margin:0 0 8px;font-size:13px;line-height:18px;color:#555">{{ item.description }}</p>
<p style="margin:0 0 12px;font-size:15px;color:#c00">{{ item.price }} ₽{% if item.oldprice %} <s style="color:#888">{{ item.oldprice }} ₽</s>{% endif %}</p>
<table role="presentation" cellpadding="0" cellspacing="0" border="0"><tr><td align="center" bgcolor="#cc0000" style="border-radius:4px">
<a class="btn" href="{{ item.url }}" target="_blank" style="font-size:14px;font-weight:bold;color:#ffffff;text-decoration:none;padding:10px 24px;display:inline-block">Купить</a>
</td></tr></table></td>
{% endfor %}
</tr></table></td></tr>
{% endfor %}
<tr><td style="padding:24px;font-family:Arial,Helvetica,sans-serif;font-size:11px;line-height:16px;color:#888">
Вы получили это письмо, потому что подписались на новости магазина. Цены действительны на момент отправки письма,
наличие товара уточняйте на сайте. Доставка по всей России, самовывоз из 120 пунктов выдачи.<br>
<a href="{{ unsubscribe_url }}" style="color:#888">Отписаться</a> · <a href="mailto:help@shop.example" style="color:#888">Написать нам</a> · <a href="tel:+78000000000" style="color:#888">8 800 000-00-00</a>
</td></tr></table></td></tr></table>
</body></html>"##;

struct Recipient;

impl RenderData for Recipient {
    fn lead(&self) -> Lead {
        Lead {
            name: Some("Анна".into()),
            email: Some("anna@example.com".into()),
            ..Lead::default()
        }
    }
    fn cart_items(&self) -> Vec<Offer> {
        (1..=10)
            .map(|i| Offer {
                id: format!("WS{i:02}"),
                name: format!("Кроссовки беговые, модель {i}"),
                price: format!("{}.00", 4_990 + i * 100),
                oldprice: (i % 2 == 0).then(|| "7990.00".to_string()),
                url: Some(format!(
                    "https://shop.example/catalog/shoes/ws{i:02}?color=black&size=39&ref=email"
                )),
                picture: Some(format!("https://cdn.shop.example/img/ws{i:02}-600x600.jpg")),
                description: Some(
                    "Лёгкие беговые кроссовки с дышащим сетчатым верхом и амортизирующей \
                     подошвой для тренировок на асфальте и в зале. Подходят для широкой стопы."
                        .into(),
                ),
                available: true,
                ..Offer::default()
            })
            .collect()
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
        Ok("SPRING-1".into())
    }
    fn webview_url(&self) -> String {
        WEBVIEW.into()
    }
    fn unsubscribe_url(&self) -> String {
        UNSUBSCRIBE.into()
    }
}

/// The message as the sender has it before tracking.
fn email(kind: TemplateKind) -> String {
    let template = CompiledTemplate::compile(&Template {
        subject: "Подборка".into(),
        body: match kind {
            TemplateKind::Html => HTML.into(),
            TemplateKind::Mjml => MJML.into(),
        },
        kind,
    })
    .expect("the bench template compiles");
    match template.render(Arc::new(Recipient), RenderOptions::default()) {
        Ok(Rendered::Email(email)) => email.html,
        other => panic!("the bench template renders: {other:?}"),
    }
}

fn signed(html: &str, key: &TrackingKey, decoration: &LinkDecoration) -> String {
    let links = MessageLinks::new(
        key,
        BASE,
        SiteId::parse("6b03b3b1762edc10a8f90c56").expect("a site id"),
        1042,
        Some(ContactId(734_221)),
        decoration,
    );
    let own = OwnLinks {
        unsubscribe: Some(UNSUBSCRIBE),
        webview: Some(WEBVIEW),
    };
    rewrite_links(html, Some(&links.open_url()), |url| {
        (!own.contains(url)).then(|| links.click_url(url))
    })
}

fn decoration() -> LinkDecoration {
    LinkDecoration {
        utm: Some(UtmTags {
            source: Some("vestnik".into()),
            medium: Some("email".into()),
            campaign: Some("spring-sale".into()),
            ..UtmTags::default()
        }),
        disable_banner: true,
    }
}

fn link_rewrite(c: &mut Criterion) {
    let key = TrackingKey::new(b"0123456789abcdef0123456789abcdef");
    let decoration = decoration();
    for (label, kind) in [("HTML", TemplateKind::Html), ("MJML", TemplateKind::Mjml)] {
        let html = email(kind);
        let mut links = 0;
        let _ = rewrite_links(&html, None, |_| {
            links += 1;
            None
        });
        let label = format!("{label} {} KB, {links} links", html.len() / 1000);
        c.bench_function(&format!("{label}: scan only"), |b| {
            b.iter(|| {
                black_box(rewrite_links(
                    black_box(&html),
                    Some("https://t.example/o"),
                    |_| Some("https://t.example/c".to_string()),
                ))
            })
        });
        c.bench_function(&format!("{label}: UTM + signed clicks + pixel"), |b| {
            b.iter(|| black_box(signed(black_box(&html), &key, &decoration)))
        });
    }
}

criterion_group!(benches, link_rewrite);

fn main() {
    // `-- --loop N`: N signed rewrites of the HTML message and nothing else, for
    // `perf stat -e task-clock` — CPU time per message that other work on the machine does
    // not inflate, unlike criterion's wall-clock figures.
    let args: Vec<String> = std::env::args().collect();
    if let Some(n) = args
        .iter()
        .position(|a| a == "--loop")
        .and_then(|i| args.get(i + 1)?.parse::<u32>().ok())
    {
        let key = TrackingKey::new(b"0123456789abcdef0123456789abcdef");
        let (html, decoration) = (email(TemplateKind::Html), decoration());
        for _ in 0..n {
            black_box(signed(black_box(&html), &key, &decoration));
        }
        return;
    }
    if std::env::args().any(|a| a == "--print-html") {
        let key = TrackingKey::new(b"0123456789abcdef0123456789abcdef");
        println!(
            "{}",
            signed(&email(TemplateKind::Html), &key, &decoration())
        );
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
