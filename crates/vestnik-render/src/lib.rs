//! Vestnik's email template engine: a template as the store's marketer writes it (Jinja over
//! HTML or MJML, with the seed's product functions) in, a message (subject, HTML, plain
//! text) out. Pure: no database, network or filesystem; the recipient's data comes in through
//! [`RenderData`], which the caller implements.
//!
//! # The life of a message
//!
//! 1. **Compile once** per template ([`CompiledTemplate::compile`]): minijinja parses the
//!    subject and the body. Syntax errors name the part, line and column.
//! 2. **Render per recipient** ([`CompiledTemplate::render`]) with an `Arc<dyn RenderData>`:
//!    * the body's Jinja runs with HTML auto-escaping, a fuel budget and a recursion limit
//!      ([`Limits`]); the functions below call the caller's data as the template reaches them;
//!    * an MJML body then goes through mrml to responsive HTML;
//!    * the subject's Jinja runs without escaping (it is a header) and becomes one line;
//!    * the plain-text part is derived from the HTML (links as `text (url)`).
//!
//!    The result is [`Rendered::Email`], or [`Rendered::Skipped`] when the template called
//!    `exit()`: callers count that as "skipped by the template", not as a failure.
//! 3. **Check at save time** ([`check`]): syntax, `exit()` in a mass mailing, undefined
//!    names, MJML tags mrml would not render, and a trial render with [`SampleData`].
//!
//! A mailing keeps one `Arc<CompiledTemplate>` and renders from as many threads as it likes;
//! the caller runs renders that reach a database inside `spawn_blocking`. One render of an
//! MJML template with a ten-product loop takes about 0.7 ms on one core, two thirds of it in
//! mrml; the Jinja step alone is about 50 µs (`cargo bench -p vestnik-render`).
//!
//! # Template syntax (seed 000, "Шаблоны писем")
//!
//! ```jinja
//! {% for item in get_cart_items() [0:2] %}   {# the cart, first two items #}
//!   <mj-image src="{{ item.picture }}" />
//!   <mj-text>{{ item.name }}: {{ item.price }} <s>{{ item.oldprice }}</s></mj-text>
//!   <mj-button href="{{ item.url }}">Купить</mj-button>
//! {% endfor %}
//! {% for item in get_viewed_items() %}…{% endfor %}
//! {% set rec_offers = get_recommendations(service_name='top_offers') %}
//! {% for item in rec_offers[2:4] %}…{% endfor %}
//! {% set random_offers = get_random_offers(count=10) %}
//! Промокод: {{ get_promocode() }} / {{ get_promocode(pool='summer') }}
//! {% if not get_cart_items() %}{{ exit() }}{% endif %}
//! {{ lead.name }} … {{ lead.sex }}  (name, last_name, position, email, phone, region,
//!                                    country, city, address, company, birthday, sex)
//! <a href="{{ webview_url }}">Веб-версия</a> <a href="{{ unsubscribe_url }}">Отписаться</a>
//! ```
//!
//! * Every call of a list function asks [`RenderData`] again and returns a new list, as the
//!   seed says; keep a list in a variable (`{% set %}`) to use it twice.
//! * `item.*`: `picture` (the first picture), `name`, `price`, `oldprice`, `url`,
//!   `type_prefix`, `vendor`, `model`, and the rest of [`Offer`]. Missing values print as
//!   nothing.
//! * `get_promocode()` claims a code from the caller once per pool per message: the subject
//!   and the body show the same code. An exhausted pool stops the message with
//!   [`RenderError::Promocode`]. In a preview ([`RenderOptions::preview`]) no code is claimed.
//! * `exit()` cancels this one message; it is refused in mass mailings by [`check`].
//! * No `include`, `import` or `extends`: a template is self-contained and never reads files.
//!
//! # Files
//!
//! `data` (what the caller provides), `functions` (the seed functions bound to a recipient),
//! `template` (compile and render), `mjml` (MJML to HTML, tag checks), `text` (plain-text
//! part), `links` (tracking: click links and the open pixel in the final HTML), `check`
//! (save-time checks), `scan` (a lexical pass used by the checks), `error`.

mod check;
mod data;
mod error;
mod functions;
mod links;
mod mjml;
mod scan;
mod template;
mod text;

pub use check::{CheckReport, Diagnostic, SampleData, Usage, check, uses_exit};
pub use data::{
    DEFAULT_OFFER_COUNT, LEAD_FIELDS, Lead, MAX_OFFER_COUNT, Offer, OfferParam, PREVIEW_PROMOCODE,
    RenderData,
};
pub use error::{Location, Part, Position, RenderError};
pub use functions::ClaimedPromocode;
pub use links::{OwnLinks, rewrite_links};
pub use template::{
    CompiledTemplate, Limits, RenderOptions, Rendered, RenderedEmail, Template, TemplateKind,
    render,
};
