//! MJML bodies become responsive HTML, and every message gets a readable plain-text part.

mod common;

use std::sync::Arc;

use common::{Recipient, email};
use vestnik_render::{RenderError, RenderOptions, Template, TemplateKind, render};

/// The seed's example block: two products in a row with image, name, price and a button.
const SEED_MJML: &str = r#"<mjml>
  <mj-head><mj-title>Корзина</mj-title><mj-preview>Вы забыли товары</mj-preview></mj-head>
  <mj-body>
    <mj-section><mj-column><mj-text>Здравствуйте, {{ lead.name }}!</mj-text></mj-column></mj-section>
    <mj-section>
      {% for item in get_cart_items() [0:2] %}
      <mj-column>
        <mj-image src="{{item.picture}}" alt="{{ item.name }}" />
        <mj-text>
          {{item.name}}
        </mj-text>
        <mj-text>
          {{item.price}} ₽
        </mj-text>
        <mj-button href="{{item.url}}">Купить</mj-button>
      </mj-column>
      {% endfor %}
    </mj-section>
    <mj-section><mj-column>
      <mj-text><a href='{{ unsubscribe_url }}'>Отписаться</a></mj-text>
    </mj-column></mj-section>
  </mj-body>
</mjml>"#;

fn mjml(body: &str) -> Template {
    Template {
        subject: "{{ lead.name }}, товары ждут".into(),
        body: body.into(),
        kind: TemplateKind::Mjml,
    }
}

#[test]
fn the_seed_product_row_renders_to_html_with_names_and_images() {
    let email = email(render(
        &mjml(SEED_MJML),
        Arc::new(Recipient::default()),
        RenderOptions::default(),
    ));
    assert!(
        email.html.starts_with("<!doctype html>"),
        "{}",
        &email.html[..80]
    );
    assert!(!email.html.contains("<mj-"), "MJML tags left in the HTML");
    for expected in [
        "Кроссовки",
        "Носки",
        "4990.00 ₽",
        r#"src="https://cdn.shop.example/c1.jpg""#,
        r#"src="https://cdn.shop.example/c2.jpg""#,
        r#"href="https://shop.example/p/c1""#,
        "Здравствуйте, Анна!",
        "<title>Корзина</title>",
    ] {
        assert!(email.html.contains(expected), "{expected} missing");
    }
    assert!(
        !email.html.contains("Шнурки"),
        "the slice [0:2] was ignored"
    );
    assert_eq!(email.subject, "Анна, товары ждут");
    assert!(email.warnings.is_empty(), "{:?}", email.warnings);
}

#[test]
fn the_text_part_has_no_tags_keeps_links_and_cyrillic() {
    let email = email(render(
        &mjml(SEED_MJML),
        Arc::new(Recipient::default()),
        RenderOptions::default(),
    ));
    let text = &email.text;
    assert!(
        !text.contains('<') && !text.contains('>'),
        "tags in:\n{text}"
    );
    assert!(
        !text.contains("mso") && !text.contains("{"),
        "styles in:\n{text}"
    );
    for expected in [
        "Здравствуйте, Анна!",
        "Кроссовки",
        "4990.00 ₽",
        "Купить (https://shop.example/p/c1)",
        "Отписаться (https://mail.example/u/abc?s=1&t=2)",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert!(!text.contains("\n\n\n"), "runs of blank lines in:\n{text}");
}

#[test]
fn an_html_body_is_sent_as_it_renders() {
    let template = Template {
        subject: "s".into(),
        body: "<html><body><h1>Привет, {{ lead.name }}</h1><p>Строка<br>вторая</p>\
               <a href=\"{{ webview_url }}\">Открыть в браузере</a></body></html>"
            .into(),
        kind: TemplateKind::Html,
    };
    let email = email(render(
        &template,
        Arc::new(Recipient::default()),
        RenderOptions::default(),
    ));
    assert_eq!(
        email.html,
        "<html><body><h1>Привет, Анна</h1><p>Строка<br>вторая</p>\
         <a href=\"https://mail.example/w/abc\">Открыть в браузере</a></body></html>"
    );
    assert_eq!(
        email.text,
        "Привет, Анна\n\nСтрока\nвторая\n\nОткрыть в браузере (https://mail.example/w/abc)"
    );
}

#[test]
fn broken_mjml_is_an_error_with_a_position_in_the_produced_mjml() {
    let body = "<mjml><mj-body>\n<mj-section>\n</mj-column></mj-section>\n</mj-body></mjml>";
    let result = render(
        &mjml(body),
        Arc::new(Recipient::default()),
        RenderOptions::default(),
    );
    match result {
        Err(err @ RenderError::Mjml { .. }) => {
            let text = err.to_string();
            // mrml notices the stray </mj-column> at the next closing tag.
            assert!(text.contains("line 4, column 1"), "{text}");
            assert!(text.contains("near `"), "{text}");
        }
        other => panic!("expected an MJML error, got {other:?}"),
    }
}

#[test]
fn an_unclosed_mjml_tag_is_explained() {
    let body = "<mjml><mj-body><mj-section><mj-column>\n<mj-image src=\"{{ webview_url }}\">\n\
                </mj-column></mj-section></mj-body></mjml>";
    let result = render(
        &mjml(body),
        Arc::new(Recipient::default()),
        RenderOptions::default(),
    );
    match result {
        Err(err @ RenderError::MjmlDocument { .. }) => {
            assert!(err.to_string().contains("end with />"), "{err}")
        }
        other => panic!("expected an MJML error, got {other:?}"),
    }
}

#[test]
fn a_body_without_an_mjml_root_is_an_error() {
    let result = render(
        &mjml("<p>just html</p>"),
        Arc::new(Recipient::default()),
        RenderOptions::default(),
    );
    match result {
        Err(err) => assert!(err.to_string().contains("MJML"), "{err}"),
        other => panic!("expected an MJML error, got {other:?}"),
    }
}

#[test]
fn lead_data_with_markup_stays_text_through_mjml() {
    let recipient = Arc::new(Recipient {
        lead: vestnik_render::Lead {
            name: Some("<mj-raw><script>x</script></mj-raw>".into()),
            ..Default::default()
        },
        ..Recipient::default()
    });
    let email = email(render(
        &mjml(
            "<mjml><mj-body><mj-section><mj-column><mj-text>{{ lead.name }}</mj-text></mj-column></mj-section></mj-body></mjml>",
        ),
        recipient,
        RenderOptions::default(),
    ));
    assert!(!email.html.contains("<script>"), "{}", email.html);
    assert!(email.html.contains("&lt;script&gt;"), "{}", email.html);
}
