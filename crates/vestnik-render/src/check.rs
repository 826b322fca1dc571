//! Save-time checks of a template: does it compile, does it call `exit()` where that is not
//! allowed, does it use names or MJML tags that would silently render as nothing, and does
//! a trial render with sample data produce valid MJML.

use std::fmt;
use std::sync::Arc;

use crate::data::{LEAD_FIELDS, Lead, Offer, OfferParam, RenderData};
use crate::error::{Location, Part, Position, RenderError};
use crate::functions::{AVAILABLE_FUNCTIONS, CONTEXT_NAMES, FUNCTION_NAMES};
use crate::mjml;
use crate::scan::{Scan, scan};
use crate::template::{CompiledTemplate, RenderOptions, Rendered, Template, TemplateKind};

/// Where the template will be used; decides whether `exit()` is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A campaign to a list or segment: `exit()` is refused (seed: "exit does not work in
    /// mass mailings"), since skipping recipients silently would falsify the campaign report.
    MassMailing,
    /// A triggered or transactional email (a bundle action), where `exit()` cancels one
    /// message.
    Triggered,
}

/// One finding of [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub part: Part,
    /// `None` when the finding is about the template as a whole or about the MJML produced
    /// by the trial render (whose positions are quoted in `message`).
    pub position: Option<Position>,
    pub message: String,
}

impl Diagnostic {
    fn at(part: Part, position: Option<Position>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            part,
            position,
            message: message.into(),
        }
    }

    /// The error's text without its location, which the diagnostic carries itself.
    fn from_error(part: Part, err: &RenderError) -> Diagnostic {
        let location = err.location();
        let text = err.to_string();
        let message = location
            .and_then(|at| text.strip_prefix(&format!("{at}: ")).map(str::to_owned))
            .unwrap_or(text);
        Diagnostic::at(part, location.and_then(|l| l.position), message)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let location = Location {
            part: self.part,
            position: self.position,
        };
        write!(f, "{location}: {}", self.message)
    }
}

/// What [`check`] found. A template with errors should not be saved (or not be used for a
/// mass mailing); warnings are shown to the author.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
    /// Where the template first uses `exit()`, whatever the usage.
    pub exit_at: Option<(Part, Position)>,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Whether `source` (a subject or body) uses `exit()`. Works on templates that do not parse.
pub fn uses_exit(source: &str) -> bool {
    scan(source).first_use("exit").is_some()
}

/// Checks a template for saving. Cheap enough to run on every save and preview: one compile
/// and one render with [`SampleData`].
pub fn check(template: &Template, usage: Usage) -> CheckReport {
    let mut report = CheckReport::default();
    let parts = [
        (Part::Subject, &template.subject),
        (Part::Body, &template.body),
    ];
    let scans: Vec<(Part, &String, Scan<'_>)> = parts
        .iter()
        .map(|(part, source)| (*part, *source, scan(source)))
        .collect();

    for (part, _, scanned) in &scans {
        if let Some(exit) = scanned.first_use("exit") {
            report.exit_at.get_or_insert((*part, exit.position));
            if usage == Usage::MassMailing {
                report.errors.push(Diagnostic::at(
                    *part,
                    Some(exit.position),
                    "exit() does not work in mass mailings: remove it, or send this template \
                     from an automation bundle, where exit() cancels one message",
                ));
            }
        }
    }

    let mut compiled_parts = true;
    for (part, source, _) in &scans {
        let one = Template {
            subject: String::new(),
            body: (*source).clone(),
            kind: TemplateKind::Html,
        };
        if let Err(err) = CompiledTemplate::compile(&one) {
            compiled_parts = false;
            report
                .errors
                .push(Diagnostic::from_error(*part, &retag(err, *part)));
        }
    }

    if template.kind == TemplateKind::Mjml {
        let body_scan = scan(&template.body);
        for tag in mjml::unknown_tags(&template.body, &body_scan.texts) {
            if tag.unsupported {
                report.errors.push(Diagnostic::at(
                    Part::Body,
                    Some(tag.position),
                    format!(
                        "<{}> is not supported by the MJML renderer, which refuses the template: \
                         set the attributes on the elements themselves",
                        tag.name
                    ),
                ));
                continue;
            }
            let hint = tag
                .suggestion
                .map(|s| format!(" (did you mean <{s}>?)"))
                .unwrap_or_default();
            report.warnings.push(Diagnostic::at(
                Part::Body,
                Some(tag.position),
                format!(
                    "<{}> is not an MJML tag: it would be copied into the HTML as it is{hint}",
                    tag.name
                ),
            ));
        }
    }

    if !compiled_parts {
        return report;
    }
    let Ok(compiled) = CompiledTemplate::compile(template) else {
        return report;
    };
    for (part, _, scanned) in &scans {
        check_names(&compiled, *part, scanned, &mut report);
    }
    if report.errors.is_empty() {
        trial_render(&compiled, &mut report);
    }
    report
}

/// A compile error of a part compiled on its own as a body, relabelled with its real part.
fn retag(err: RenderError, part: Part) -> RenderError {
    match err {
        RenderError::Syntax { at, message } => RenderError::Syntax {
            at: Location { part, ..at },
            message,
        },
        other => other,
    }
}

/// Names the template uses but nothing defines: unknown functions are errors (the render
/// would fail), unknown variables and lead fields warnings (they render as nothing).
fn check_names(
    compiled: &CompiledTemplate,
    part: Part,
    scanned: &Scan<'_>,
    report: &mut CheckReport,
) {
    let Some(jinja) = compiled.jinja(part) else {
        return;
    };
    let mut undeclared: Vec<String> = jinja.undeclared_variables(true).into_iter().collect();
    undeclared.sort();
    for name in undeclared {
        let mut path = name.split('.');
        let root = path.next().unwrap_or_default();
        if root == "lead" {
            if let Some(field) = path.next()
                && !LEAD_FIELDS.contains(&field)
            {
                report.warnings.push(Diagnostic::at(
                    part,
                    attribute_position(scanned, "lead", field),
                    format!(
                        "lead.{field} is not a lead field and renders as nothing; the fields \
                         are: {}",
                        LEAD_FIELDS.join(", ")
                    ),
                ));
            }
            continue;
        }
        if CONTEXT_NAMES.contains(&root) || FUNCTION_NAMES.contains(&root) || root == "loop" {
            continue;
        }
        let found = scanned.first_use(root);
        let position = found.map(|n| n.position);
        if found.is_some_and(|n| n.is_called) {
            let err = RenderError::UnknownFunction {
                at: Location { part, position },
                name: root.to_owned(),
            };
            report.errors.push(Diagnostic::from_error(part, &err));
        } else {
            report.warnings.push(Diagnostic::at(
                part,
                position,
                format!(
                    "{root} is not defined and renders as nothing; the variables are lead.*, \
                     webview_url, unsubscribe_url, item.* inside product loops, and what the \
                     template sets itself; the functions are {AVAILABLE_FUNCTIONS}"
                ),
            ));
        }
    }
}

/// Where `object.attribute` first appears.
fn attribute_position(scanned: &Scan<'_>, object: &str, attribute: &str) -> Option<Position> {
    scanned
        .names
        .windows(2)
        .find(|w| {
            w[0].is_variable && w[0].name == object && !w[1].is_variable && w[1].name == attribute
        })
        .map(|w| w[0].position)
}

/// Renders with sample data in preview mode: catches MJML that does not parse and runtime
/// errors that do not depend on the recipient.
fn trial_render(compiled: &CompiledTemplate, report: &mut CheckReport) {
    match compiled.render(Arc::new(SampleData), RenderOptions { preview: true }) {
        Ok(Rendered::Email(email)) => {
            for warning in email.warnings {
                report
                    .warnings
                    .push(Diagnostic::at(Part::Body, None, warning));
            }
        }
        Ok(Rendered::Skipped { .. }) => {}
        Err(err @ (RenderError::Mjml { .. } | RenderError::MjmlDocument { .. })) => {
            report.errors.push(Diagnostic::from_error(Part::Body, &err));
        }
        Err(err) => {
            let part = err.location().map_or(Part::Body, |l| l.part);
            let mut diagnostic = Diagnostic::from_error(part, &err);
            diagnostic.message = format!(
                "{} (in a trial render with sample data: a real recipient may or may not hit it)",
                diagnostic.message
            );
            report.warnings.push(diagnostic);
        }
    }
}

/// A made-up recipient with every lead field and three products in every list, for trial
/// renders and for previews when no real contact is chosen.
#[derive(Debug, Clone, Copy, Default)]
pub struct SampleData;

impl SampleData {
    fn offers() -> Vec<Offer> {
        (1..=3)
            .map(|i| Offer {
                id: format!("sample-{i}"),
                name: format!("Товар {i}"),
                price: format!("{}990.00", i),
                oldprice: Some(format!("{}490.00", i + 1)),
                url: Some(format!("https://shop.example/product/{i}")),
                picture: Some(format!("https://shop.example/images/{i}.jpg")),
                pictures: vec![format!("https://shop.example/images/{i}.jpg")],
                type_prefix: Some("Кроссовки".to_owned()),
                vendor: Some("Vendor".to_owned()),
                model: Some(format!("Model {i}")),
                description: Some("Описание товара".to_owned()),
                category_id: Some("1".to_owned()),
                currency_id: Some("RUR".to_owned()),
                available: true,
                params: vec![OfferParam {
                    name: "Размер".to_owned(),
                    unit: Some("EU".to_owned()),
                    value: "42".to_owned(),
                }],
            })
            .collect()
    }
}

impl RenderData for SampleData {
    fn lead(&self) -> Lead {
        let field = |s: &str| Some(s.to_owned());
        Lead {
            name: field("Анна"),
            last_name: field("Иванова"),
            position: field("Менеджер"),
            email: field("anna@example.com"),
            phone: field("+79990000000"),
            region: field("Московская область"),
            country: field("Россия"),
            city: field("Москва"),
            address: field("ул. Примерная, 1"),
            company: field("ООО Пример"),
            birthday: field("1990-01-01"),
            sex: field("female"),
        }
    }

    fn cart_items(&self) -> Vec<Offer> {
        Self::offers()
    }

    fn viewed_items(&self) -> Vec<Offer> {
        Self::offers()
    }

    fn recommendations(&self, _service_name: &str, count: usize) -> Result<Vec<Offer>, String> {
        Ok(Self::offers().into_iter().take(count).collect())
    }

    fn random_offers(&self, count: usize) -> Vec<Offer> {
        Self::offers().into_iter().take(count).collect()
    }

    fn claim_promocode(&self, pool: Option<&str>) -> Result<String, String> {
        self.preview_promocode(pool)
    }

    fn webview_url(&self) -> String {
        "https://vestnik.example/webview/sample".to_owned()
    }

    fn unsubscribe_url(&self) -> String {
        "https://vestnik.example/unsubscribe/sample".to_owned()
    }
}
