//! Save-time checks: what the template editor tells the author before anything is sent.

use vestnik_render::{Part, Position, Template, TemplateKind, Usage, check, uses_exit};

fn mjml(body: &str) -> Template {
    Template {
        subject: "Тема".into(),
        body: body.into(),
        kind: TemplateKind::Mjml,
    }
}

const GOOD: &str = "<mjml>\n<mj-body>\n<mj-section>\n\
    {% set rec_offers = get_recommendations(service_name='top_offers') %}\n\
    {% for item in rec_offers[0:2] %}\n<mj-column>\n<mj-image src=\"{{ item.picture }}\" />\n\
    <mj-text>{{ item.name }} {{ item.price }} {{ loop.index }}</mj-text>\n\
    <mj-button href=\"{{ item.url }}\">Купить</mj-button>\n</mj-column>\n{% endfor %}\n\
    </mj-section>\n<mj-section><mj-column><mj-text>{{ lead.name|default('') }} {{ get_promocode() }}\
    {% for i in range(2) %}{{ i }}{% endfor %}\
    <a href='{{ unsubscribe_url }}'>x</a> <a href='{{ webview_url }}'>y</a></mj-text>\
    </mj-column></mj-section>\n</mj-body>\n</mjml>";

#[test]
fn a_seed_style_template_passes_without_findings() {
    let report = check(&mjml(GOOD), Usage::MassMailing);
    assert!(report.is_ok(), "{:?}", report.errors);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.exit_at, None);
}

#[test]
fn an_unknown_mjml_tag_is_a_warning_with_its_line() {
    let body = "<mjml>\n<mj-body>\n<mj-section>\n  <mj-colum>\n<mj-text>x</mj-text>\n</mj-colum>\n\
                </mj-section>\n</mj-body>\n</mjml>";
    let report = check(&mjml(body), Usage::Triggered);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    let warning = &report.warnings[0];
    assert_eq!(warning.part, Part::Body);
    assert_eq!(warning.position, Some(Position { line: 4, column: 3 }));
    let text = warning.to_string();
    assert!(
        text.starts_with("body, line 4, column 3: <mj-colum> is not an MJML tag"),
        "{text}"
    );
    assert!(text.contains("did you mean <mj-column>?"), "{text}");
}

#[test]
fn mj_html_attributes_is_refused_since_mrml_lacks_it() {
    let body = "<mjml>\n<mj-head>\n<mj-html-attributes><mj-selector path=\".x\">\
                <mj-html-attribute name=\"data-x\">1</mj-html-attribute></mj-selector>\
                </mj-html-attributes>\n</mj-head>\n<mj-body></mj-body>\n</mjml>";
    let report = check(&mjml(body), Usage::Triggered);
    assert!(!report.is_ok());
    let first = report.errors[0].to_string();
    assert!(
        first.starts_with("body, line 3, column 1: <mj-html-attributes> is not supported"),
        "{first}"
    );
}

#[test]
fn exit_is_refused_for_a_mass_mailing_and_allowed_for_a_triggered_email() {
    let template = mjml(
        "<mjml><mj-body>\n{% if not get_cart_items() %}{{ exit() }}{% endif %}\n</mj-body></mjml>",
    );
    let mass = check(&template, Usage::MassMailing);
    assert_eq!(
        mass.exit_at,
        Some((
            Part::Body,
            Position {
                line: 2,
                column: 33
            }
        ))
    );
    assert_eq!(mass.errors.len(), 1, "{:?}", mass.errors);
    let message = mass.errors[0].to_string();
    assert!(
        message.starts_with("body, line 2, column 33: exit() does not work in mass mailings"),
        "{message}"
    );

    let triggered = check(&template, Usage::Triggered);
    assert!(triggered.is_ok(), "{:?}", triggered.errors);
    assert_eq!(triggered.exit_at, mass.exit_at);
}

#[test]
fn uses_exit_sees_calls_but_not_text_or_strings() {
    assert!(uses_exit("{{ exit() }}"));
    assert!(uses_exit("{%- if x -%}{{exit()}}{% endif %}"));
    assert!(
        uses_exit("{% if x %}\n{{ exit( ) }}"),
        "works on broken templates"
    );
    assert!(!uses_exit(
        "<p>exit() here is text</p>{{ 'exit()' }}{# exit() #}"
    ));
    assert!(!uses_exit("{{ item.exit }}{{ lead.name|exit_filter }}"));
}

#[test]
fn syntax_errors_in_both_parts_are_reported() {
    let template = Template {
        subject: "Привет {{ lead.name".into(),
        body: "<mjml>\n{% for x in get_cart_items() %}\n</mjml>".into(),
        kind: TemplateKind::Mjml,
    };
    let report = check(&template, Usage::Triggered);
    let parts: Vec<Part> = report.errors.iter().map(|e| e.part).collect();
    assert_eq!(
        parts,
        vec![Part::Subject, Part::Body],
        "{:?}",
        report.errors
    );
    assert!(
        report.errors[0].message.contains("syntax error"),
        "{:?}",
        report.errors
    );
}

#[test]
fn an_unknown_function_is_an_error_and_unknown_names_are_warnings() {
    let body = "<mjml><mj-body><mj-section><mj-column><mj-text>\n\
                {{ get_cart_item() }}\n{{ lead.nmae }} {{ unsubscribe }}\n\
                </mj-text></mj-column></mj-section></mj-body></mjml>";
    let report = check(&mjml(body), Usage::Triggered);
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    let error = report.errors[0].to_string();
    assert!(
        error.starts_with("body, line 2, column 4: unknown function get_cart_item()"),
        "{error}"
    );
    assert!(error.contains("get_cart_items()"), "{error}");

    let warnings: Vec<String> = report.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].starts_with("body, line 3, column 4: lead.nmae is not a lead field"),
        "{warnings:?}"
    );
    assert!(
        warnings[1].starts_with("body, line 3, column 20: unsubscribe is not defined"),
        "{warnings:?}"
    );
}

#[test]
fn broken_mjml_is_caught_by_the_trial_render() {
    let report = check(
        &mjml(
            "<mjml><mj-body><mj-section><mj-column><mj-image src=\"{{ webview_url }}\">\
               </mj-column></mj-section></mj-body></mjml>",
        ),
        Usage::Triggered,
    );
    assert_eq!(report.errors.len(), 1, "{:?}", report);
    assert!(
        report.errors[0].message.contains("MJML"),
        "{:?}",
        report.errors
    );
}

#[test]
fn a_runtime_failure_with_sample_data_is_a_warning() {
    let report = check(
        &mjml("<mjml><mj-body>{{ get_random_offers(count=500) }}</mj-body></mjml>"),
        Usage::Triggered,
    );
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(
        report.warnings[0].message.contains("count must be"),
        "{:?}",
        report.warnings
    );
}
