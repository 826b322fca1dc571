//! A broken or runaway template fails fast, with an error that says where and what to do.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Recipient, html_template};
use vestnik_render::{
    CompiledTemplate, Part, Position, RenderError, RenderOptions, Template, TemplateKind, render,
};

fn render_error(body: &str) -> RenderError {
    match render(
        &html_template(body),
        Arc::new(Recipient::default()),
        RenderOptions::default(),
    ) {
        Err(err) => err,
        Ok(other) => panic!("expected an error, got {other:?}"),
    }
}

/// Runs a runaway template and checks it stops with an error well within `limit`.
fn stops_quickly(body: &str, limit: Duration) -> RenderError {
    let started = Instant::now();
    let err = render_error(body);
    assert!(
        started.elapsed() < limit,
        "took {:?} for {body}",
        started.elapsed()
    );
    err
}

#[test]
fn nested_loops_run_out_of_fuel_quickly() {
    let err = stops_quickly(
        "line one\n{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}",
        Duration::from_secs(5),
    );
    assert!(matches!(err, RenderError::TooLong { .. }), "{err:?}");
    assert_eq!(
        err.location().and_then(|l| l.position).map(|p| p.line),
        Some(2)
    );
    assert!(err.to_string().contains("check loops"), "{err}");
}

#[test]
fn a_huge_range_is_refused() {
    let err = stops_quickly(
        "{% for i in range(1000000000) %}x{% endfor %}",
        Duration::from_secs(5),
    );
    assert!(err.to_string().contains("range"), "{err}");
}

#[test]
fn a_huge_string_runs_out_of_fuel() {
    let err = stops_quickly("{{ 'x' * 1000000000 }}", Duration::from_secs(5));
    assert!(matches!(err, RenderError::TooLong { .. }), "{err:?}");
}

#[test]
fn endless_macro_recursion_stops() {
    let err = stops_quickly(
        "{% macro card(n) %}{{ card(n + 1) }}{% endmacro %}{{ card(1) }}",
        Duration::from_secs(5),
    );
    assert!(err.to_string().contains("recursion"), "{err}");
}

#[test]
fn a_syntax_error_names_the_line_and_column() {
    let template = Template {
        subject: "ok".into(),
        body: "<p>Привет</p>\n<p>{{ lead.name }}</p>\n{% for item in get_cart_items() %}\n{{ item.name }}\n".into(),
        kind: TemplateKind::Mjml,
    };
    let err = CompiledTemplate::compile(&template).unwrap_err();
    match &err {
        RenderError::Syntax { at, message } => {
            assert_eq!(at.part, Part::Body);
            // The end of the last line with code: the unclosed loop runs to the end.
            assert_eq!(at.position.map(|p| p.line), Some(4), "{err}");
            assert!(message.contains("is not closed"), "{message}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }

    let err = render_error("ab\nc {{ lead.name + }}");
    assert_eq!(
        err.location().and_then(|l| l.position),
        Some(Position {
            line: 2,
            column: 18
        }),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("body, line 2, column 18: syntax error"),
        "{err}"
    );
}

#[test]
fn a_syntax_error_in_the_subject_names_the_subject() {
    let template = Template {
        subject: "Скидка {{ lead.name".into(),
        body: "ok".into(),
        kind: TemplateKind::Html,
    };
    let err = CompiledTemplate::compile(&template).unwrap_err();
    assert_eq!(err.location().map(|l| l.part), Some(Part::Subject), "{err}");
}

#[test]
fn an_unknown_function_lists_the_available_ones() {
    let err = render_error("<p>\n  {{ get_card_items() }}</p>");
    match &err {
        RenderError::UnknownFunction { at, name } => {
            assert_eq!(name, "get_card_items");
            assert_eq!(at.position, Some(Position { line: 2, column: 6 }));
        }
        other => panic!("expected an unknown function error, got {other:?}"),
    }
    let text = err.to_string();
    for function in [
        "get_cart_items()",
        "get_viewed_items()",
        "get_recommendations(",
        "get_random_offers(",
        "get_promocode()",
        "exit()",
    ] {
        assert!(text.contains(function), "{function} missing from: {text}");
    }
}

#[test]
fn include_and_extends_are_not_available() {
    for source in [
        "{% include 'footer.html' %}",
        "{% extends 'base.html' %}",
        "{% import 'm' as m %}",
    ] {
        let err = CompiledTemplate::compile(&html_template(source)).unwrap_err();
        assert!(
            matches!(err, RenderError::Syntax { .. }),
            "{source}: {err:?}"
        );
        assert!(err.to_string().contains("self-contained"), "{err}");
    }
}

#[test]
fn a_compiled_template_is_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<CompiledTemplate>();

    let compiled = Arc::new(
        CompiledTemplate::compile(&html_template("{{ lead.name }}:{{ get_promocode() }}")).unwrap(),
    );
    let recipient = Arc::new(Recipient::default());
    let codes: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let compiled = compiled.clone();
                let recipient = recipient.clone();
                s.spawn(move || {
                    common::email(compiled.render(recipient, RenderOptions::default())).html
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut codes = codes;
    codes.sort();
    assert_eq!(codes, vec!["Анна:CODE-1", "Анна:CODE-2"]);
}
