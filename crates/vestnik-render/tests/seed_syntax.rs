//! Every template form of seed 000 ("Шаблоны писем"), as a store's marketer writes it.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::{Recipient, body, body_for, email, html_template, offer};
use vestnik_render::{
    Lead, Offer, RenderError, RenderOptions, Rendered, Template, TemplateKind, render,
};

#[test]
fn cart_loop_with_a_space_before_the_slice_takes_the_first_two_items() {
    let html = body("{% for item in get_cart_items() [0:2] %}[{{ item.name }}]{% endfor %}");
    assert_eq!(html, "[Кроссовки][Носки]");
}

#[test]
fn viewed_items_loop() {
    let html =
        body("{% for item in get_viewed_items() %}{{ item.name }} {{ item.price }}{% endfor %}");
    assert_eq!(html, "Куртка 12990.00");
}

#[test]
fn recommendations_kept_in_a_variable_and_sliced_two_to_four() {
    let html = body(
        "{% set rec_offers = get_recommendations(service_name='top_offers') %}\
         {% for item in rec_offers[2:4] %}[{{ item.name }}]{% endfor %}\
         {% for item in rec_offers[0:1] %}[{{ item.name }}]{% endfor %}",
    );
    assert_eq!(html, "[Рекомендация 3][Рекомендация 4][Рекомендация 1]");
}

#[test]
fn recommendations_take_count_and_a_positional_service_name() {
    let recipient = Arc::new(Recipient::default());
    let html = body_for(
        &recipient,
        "{{ get_recommendations('top_offers', count=3)|length }}",
    )
    .html;
    assert_eq!(html, "3");
    assert_eq!(recipient.last_count.load(Ordering::SeqCst), 3);
}

#[test]
fn random_offers_pass_the_count_to_the_caller() {
    let recipient = Arc::new(Recipient::default());
    let html = body_for(
        &recipient,
        "{% set random_offers = get_random_offers(count=10) %}{{ random_offers|length }}:\
         {% for item in random_offers[0:2] %}[{{ item.name }}]{% endfor %}",
    )
    .html;
    assert_eq!(html, "10:[Случайный 1-1][Случайный 1-2]");
    assert_eq!(recipient.last_count.load(Ordering::SeqCst), 10);
}

#[test]
fn every_call_of_a_list_function_asks_the_caller_again() {
    let recipient = Arc::new(Recipient::default());
    let html = body_for(
        &recipient,
        "{% for item in get_random_offers(count=1) %}{{ item.name }}{% endfor %} \
         {% for item in get_random_offers(count=1) %}{{ item.name }}{% endfor %} \
         {{ get_cart_items()|length }}{{ get_cart_items()|length }}",
    )
    .html;
    assert_eq!(html, "Случайный 1-1 Случайный 2-1 33");
    assert_eq!(recipient.random_calls.load(Ordering::SeqCst), 2);
    assert_eq!(recipient.list_calls.load(Ordering::SeqCst), 2);
}

#[test]
fn all_item_variables_of_the_seed() {
    let recipient = Arc::new(Recipient {
        cart: vec![Offer {
            oldprice: Some("5990.00".to_owned()),
            type_prefix: Some("Кроссовки".to_owned()),
            vendor: Some("Nike".to_owned()),
            model: Some("Air Max".to_owned()),
            ..offer("c1", "Кроссовки Nike Air Max", "4990.00")
        }],
        ..Recipient::default()
    });
    let html = body_for(
        &recipient,
        "{% for item in get_cart_items() %}{{item.picture}}|{{item.name}}|{{item.price}}|\
         {{item.oldprice}}|{{item.url}}|{{item.type_prefix}}|{{item.vendor}}|{{item.model}}\
         {% endfor %}",
    )
    .html;
    assert_eq!(
        html,
        "https://cdn.shop.example/c1.jpg|Кроссовки Nike Air Max|4990.00|5990.00|\
         https://shop.example/p/c1|Кроссовки|Nike|Air Max"
    );
}

#[test]
fn a_missing_oldprice_prints_nothing_and_is_false() {
    let html = body(
        "{% for item in get_cart_items() [0:1] %}<s>{{ item.oldprice }}</s>\
         {% if item.oldprice %}sale{% else %}regular{% endif %}{% endfor %}",
    );
    assert_eq!(html, "<s></s>regular");
}

#[test]
fn all_twelve_lead_variables() {
    let lead = Lead {
        name: Some("Анна".into()),
        last_name: Some("Иванова".into()),
        position: Some("Директор".into()),
        email: Some("anna@example.com".into()),
        phone: Some("+79990001122".into()),
        region: Some("Московская обл.".into()),
        country: Some("Россия".into()),
        city: Some("Москва".into()),
        address: Some("Тверская, 1".into()),
        company: Some("Ромашка".into()),
        birthday: Some("1990-05-17".into()),
        sex: Some("female".into()),
    };
    let recipient = Arc::new(Recipient {
        lead,
        ..Recipient::default()
    });
    let html = body_for(
        &recipient,
        "{{ lead.name }}|{{ lead.last_name }}|{{ lead.position }}|{{ lead.email }}|\
         {{ lead.phone }}|{{ lead.region }}|{{ lead.country }}|{{ lead.city }}|{{ lead.address }}|\
         {{ lead.company }}|{{ lead.birthday }}|{{ lead.sex }}",
    )
    .html;
    assert_eq!(
        html,
        "Анна|Иванова|Директор|anna@example.com|+79990001122|Московская обл.|Россия|Москва|\
         Тверская, 1|Ромашка|1990-05-17|female"
    );
}

#[test]
fn missing_lead_fields_print_nothing_and_take_a_default() {
    let html = body(
        "[{{ lead.city }}] {{ lead.last_name|default('друг') }} {% if lead.phone %}tel{% endif %}",
    );
    assert_eq!(html, "[] друг ");
}

#[test]
fn webview_and_unsubscribe_links_in_single_quoted_hrefs() {
    let html = body("<a href='{{webview_url}}'>web</a><a href='{{ unsubscribe_url }}'>unsub</a>");
    assert_eq!(
        html,
        "<a href='https://mail.example/w/abc'>web</a>\
         <a href='https://mail.example/u/abc?s=1&amp;t=2'>unsub</a>"
    );
}

#[test]
fn lead_data_is_escaped_in_the_body_but_kept_as_text_in_the_subject() {
    let recipient = Arc::new(Recipient {
        lead: Lead {
            name: Some("<script>alert('x')</script> & Co".into()),
            ..Lead::default()
        },
        ..Recipient::default()
    });
    let template = Template {
        subject: "Привет, {{ lead.name }}".into(),
        body: "<p>{{ lead.name }}</p>".into(),
        kind: TemplateKind::Html,
    };
    let email = email(render(&template, recipient, RenderOptions::default()));
    assert_eq!(
        email.html,
        "<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co</p>"
    );
    assert_eq!(email.subject, "Привет, <script>alert('x')</script> & Co");
}

#[test]
fn the_subject_is_one_line() {
    let template = Template {
        subject: "{% if lead.name %}\n  {{ lead.name }}, \n{% endif %}скидка\r\nдля вас\n".into(),
        body: "x".into(),
        kind: TemplateKind::Html,
    };
    let email = email(render(
        &template,
        Arc::new(Recipient::default()),
        RenderOptions::default(),
    ));
    assert_eq!(email.subject, "Анна, скидка для вас");
}

#[test]
fn promocodes_from_the_default_and_a_named_pool() {
    let recipient = Arc::new(Recipient::default());
    let email = body_for(
        &recipient,
        "{{ get_promocode() }} {{get_promocode(pool='summer')}}",
    );
    assert_eq!(email.html, "CODE-1 SUMMER-1");
    assert_eq!(recipient.codes_left(None), 1);
    assert_eq!(recipient.codes_left(Some("summer")), 0);
    let pools: Vec<_> = email
        .promocodes
        .iter()
        .map(|c| (c.pool.clone(), c.code.clone()))
        .collect();
    assert_eq!(
        pools,
        vec![
            (None, "CODE-1".to_owned()),
            (Some("summer".to_owned()), "SUMMER-1".to_owned())
        ]
    );
}

#[test]
fn the_subject_and_the_body_show_the_same_code_and_claim_it_once() {
    let recipient = Arc::new(Recipient::default());
    let template = Template {
        subject: "Ваш код {{ get_promocode() }}".into(),
        body: "<b>{{ get_promocode() }}</b> {{ get_promocode() }}".into(),
        kind: TemplateKind::Html,
    };
    let email = email(render(
        &template,
        recipient.clone(),
        RenderOptions::default(),
    ));
    assert_eq!(email.subject, "Ваш код CODE-1");
    assert_eq!(email.html, "<b>CODE-1</b> CODE-1");
    assert_eq!(recipient.codes_left(None), 1);
}

#[test]
fn a_preview_shows_a_placeholder_and_consumes_no_code() {
    let recipient = Arc::new(Recipient::default());
    let result = render(
        &html_template("{{ get_promocode() }} {{ get_promocode(pool='summer') }}"),
        recipient.clone(),
        RenderOptions { preview: true },
    );
    let email = email(result);
    assert_eq!(email.html, "PROMO-PREVIEW PROMO-PREVIEW");
    assert!(email.promocodes.is_empty());
    assert_eq!(recipient.codes_left(None), 2);
    assert_eq!(recipient.codes_left(Some("summer")), 1);
}

#[test]
fn an_exhausted_pool_stops_the_message() {
    let recipient = Arc::new(Recipient::default());
    body_for(&recipient, "{{ get_promocode(pool='summer') }}");
    let result = render(
        &html_template("Hello\n{{ get_promocode(pool='summer') }}"),
        recipient,
        RenderOptions::default(),
    );
    match result {
        Err(RenderError::Promocode { at, pool, message }) => {
            assert_eq!(pool.as_deref(), Some("summer"));
            assert_eq!(at.position.map(|p| p.line), Some(2));
            assert!(message.contains("exhausted"), "{message}");
        }
        other => panic!("expected a promo code error, got {other:?}"),
    }
}

#[test]
fn exit_skips_this_message_and_says_where() {
    let template = html_template(
        "<p>Hi</p>\n{% if not get_viewed_items()|length > 5 %}{{ exit() }}{% endif %}<p>never</p>",
    );
    let result = render(
        &template,
        Arc::new(Recipient::default()),
        RenderOptions::default(),
    );
    assert_eq!(
        result,
        Ok(Rendered::Skipped {
            line: Some(2),
            promocodes: vec![]
        })
    );
}

#[test]
fn exit_reports_codes_claimed_before_it() {
    let result = render(
        &html_template("{{ get_promocode() }}{{ exit() }}"),
        Arc::new(Recipient::default()),
        RenderOptions::default(),
    );
    match result {
        Ok(Rendered::Skipped { promocodes, .. }) => assert_eq!(promocodes[0].code, "CODE-1"),
        other => panic!("expected a skip, got {other:?}"),
    }
}

#[test]
fn exit_not_reached_sends_the_message() {
    let html = body("{% if get_cart_items()|length == 0 %}{{ exit() }}{% endif %}ok");
    assert_eq!(html, "ok");
}

#[test]
fn an_unknown_recommendation_algorithm_stops_with_the_callers_list() {
    let result = render(
        &html_template("{% set r = get_recommendations(service_name='top') %}"),
        Arc::new(Recipient::default()),
        RenderOptions::default(),
    );
    match result {
        Err(err @ RenderError::Recommendations { .. }) => {
            let text = err.to_string();
            assert!(text.contains("top_offers, viewed_together"), "{text}");
            assert!(text.starts_with("body, line 1, column 12"), "{text}");
        }
        other => panic!("expected a recommendations error, got {other:?}"),
    }
}

#[test]
fn bad_arguments_are_explained() {
    for (source, expected) in [
        (
            "{{ get_random_offers(count=1000) }}",
            "count must be from 0 to 100, not 1000",
        ),
        ("{{ get_recommendations() }}", "needs an algorithm"),
        ("{{ get_random_offers(cnt=3) }}", "cnt"),
        ("{{ get_cart_items(2) }}", "too many arguments"),
    ] {
        let result = render(
            &html_template(source),
            Arc::new(Recipient::default()),
            RenderOptions::default(),
        );
        match result {
            Err(err @ RenderError::Template { .. }) => {
                assert!(err.to_string().contains(expected), "{source}: {err}")
            }
            other => panic!("{source}: expected a template error, got {other:?}"),
        }
    }
}
