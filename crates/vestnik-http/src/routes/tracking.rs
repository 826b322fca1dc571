//! Tracking links from campaign mail: the open pixel (`GET /t/o/{token}`), click redirects
//! (`GET /t/c/{token}`), the unsubscribe page (`GET /t/u/{token}`) and the unsubscribe itself
//! (`POST /t/u/{token}`, also the RFC 8058 one-click POST that `List-Unsubscribe-Post`
//! announces). `/t/w/{token}` (web view) belongs to the campaign renderer.
//!
//! Public: the signed token (`vestnik_domain::tracking`) is the only credential, checked
//! without a database lookup; the store then only writes for the token's own site. Answers are
//! what a person in a mail client or browser needs, never JSON: the pixel is always a GIF
//! (a broken image in a message looks worse than a lost open), a damaged link is a small HTML
//! page in Russian and English, and only URLs we signed are ever redirected to.
//! These routes are not in the OpenAPI document: nobody integrates with them.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::borrow::Cow;
use vestnik_domain::tracking::{TrackingKind, TrackingToken};
use vestnik_domain::{StoreError, Timestamp};

use crate::AppState;

/// The routes, for `crate::router` to merge.
pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/t/o/{token}", get(open))
        .route("/t/c/{token}", get(click))
        .route("/t/u/{token}", get(unsubscribe_page).post(unsubscribe))
        .route("/t/w/{token}", get(web_view))
}

/// A 1×1 transparent GIF (43 bytes).
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// Why a request's token is not acted on (for logs; every case looks the same to the visitor).
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("the URL path is not a token: {0}")]
    Path(#[from] PathRejection),
    #[error(transparent)]
    Token(#[from] vestnik_domain::tracking::TokenError),
    #[error("a {0:?} token on another kind's route")]
    WrongKind(TrackingKind),
}

fn verify(
    state: &AppState,
    path: Result<Path<String>, PathRejection>,
    kind: TrackingKind,
) -> Result<TrackingToken, Refused> {
    let Path(token) = path?;
    let token = TrackingToken::verify(&token, &state.mail.tracking_key)?;
    if token.kind != kind {
        return Err(Refused::WrongKind(token.kind));
    }
    Ok(token)
}

/// `GET /t/o/{token}`: records an open, answers the pixel whatever happened.
pub async fn open(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    match verify(&state, path, TrackingKind::Open) {
        Ok(t) => {
            let recorded = state
                .store
                .record_open(&t.site, t.campaign, t.contact_id(), Timestamp::now())
                .await;
            if let Err(err) = recorded {
                tracing::warn!(%err, site = %t.site, campaign = t.campaign, "an open was not recorded");
            }
        }
        Err(refused) => tracing::debug!(%refused, "open pixel with an unusable token"),
    }
    (
        [
            (header::CONTENT_TYPE, "image/gif"),
            // Every display of the message should reach us, not a cache on the way.
            (
                header::CACHE_CONTROL,
                "no-store, no-cache, must-revalidate, max-age=0",
            ),
            (header::PRAGMA, "no-cache"),
            (header::EXPIRES, "0"),
        ],
        PIXEL,
    )
        .into_response()
}

/// `GET /t/c/{token}`: records a click and redirects to the URL signed into the token.
pub async fn click(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let t = match verify(&state, path, TrackingKind::Click) {
        Ok(t) => t,
        Err(refused) => {
            tracing::debug!(%refused, "click with an unusable token");
            return damaged_link();
        }
    };
    // `verify` guarantees a click token carries an http(s) URL.
    let Some(url) = t.url.as_deref() else {
        return damaged_link();
    };
    let Ok(location) = HeaderValue::from_str(&location(url)) else {
        return damaged_link();
    };
    // The reader is on their way to the shop: a failed write is logged, not shown to them.
    let recorded = state
        .store
        .record_click(&t.site, t.campaign, t.contact_id(), url, Timestamp::now())
        .await;
    if let Err(err) = recorded {
        tracing::warn!(%err, site = %t.site, campaign = t.campaign, "a click was not recorded");
    }
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response()
}

/// A `Location` value: bytes a header cannot carry (non-ASCII, spaces, controls) are
/// percent-encoded, which is how browsers send such a URL anyway.
fn location(url: &str) -> Cow<'_, str> {
    if url.bytes().all(|b| b.is_ascii_graphic()) {
        return Cow::Borrowed(url);
    }
    let mut out = String::with_capacity(url.len() * 3);
    for &b in url.as_bytes() {
        if b.is_ascii_graphic() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Cow::Owned(out)
}

/// `GET /t/u/{token}`: asks to confirm. Link scanners and prefetchers follow GETs, so a GET
/// never unsubscribes anyone.
pub async fn unsubscribe_page(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let t = match verify(&state, path, TrackingKind::Unsubscribe) {
        Ok(t) => t,
        Err(refused) => {
            tracing::debug!(%refused, "unsubscribe page with an unusable token");
            return damaged_link();
        }
    };
    let from = sender(&state, &t).await;
    page(
        StatusCode::OK,
        "Отписка · Unsubscribe",
        &format!(
            "<h1>Отписаться от писем{from}?</h1>\
             <p>Вы больше не будете получать наши рассылки на этот адрес.</p>\
             <p lang=\"en\">Unsubscribe from our emails? You will no longer receive them at this address.</p>\
             <form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
             <button type=\"submit\">Отписаться · Unsubscribe</button></form>"
        ),
    )
}

/// `POST /t/u/{token}`: unsubscribes. The body is not read: the confirm form and the
/// RFC 8058 one-click POST (`List-Unsubscribe=One-Click`) both land here, and the token alone
/// says who. Repeating it is harmless and answers the same.
pub async fn unsubscribe(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let t = match verify(&state, path, TrackingKind::Unsubscribe) {
        Ok(t) => t,
        Err(refused) => {
            tracing::debug!(%refused, "unsubscribe with an unusable token");
            return damaged_link();
        }
    };
    // A test send to an address that is no contact has nobody to unsubscribe.
    if let Some(contact) = t.contact_id() {
        let done = state
            .store
            .unsubscribe(&t.site, t.campaign, contact, Timestamp::now())
            .await;
        if let Err(err) = done {
            tracing::warn!(%err, site = %t.site, campaign = t.campaign, "unsubscribe failed");
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Ошибка · Error",
                "<h1>Не получилось отписаться</h1>\
                 <p>Попробуйте ещё раз через минуту.</p>\
                 <p lang=\"en\">We could not unsubscribe you just now. Please try again in a minute.</p>",
            );
        }
    }
    let from = sender(&state, &t).await;
    page(
        StatusCode::OK,
        "Вы отписаны · You are unsubscribed",
        &format!(
            "<h1>Вы отписаны{from}</h1>\
             <p>Больше не будем присылать вам рассылки на этот адрес.</p>\
             <p lang=\"en\">You are unsubscribed and will no longer receive our emails at this address.</p>"
        ),
    )
}

/// `GET /t/w/{token}`: the message as its recipient received it, in the browser.
pub async fn web_view(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let t = match verify(&state, path, TrackingKind::WebView) {
        Ok(t) => t,
        Err(refused) => {
            tracing::debug!(%refused, "web view with an unusable token");
            return damaged_link();
        }
    };
    let campaign = vestnik_domain::campaign::CampaignId(t.campaign);
    match vestnik_engine::campaign::render_web_view(&state.mail, &t.site, campaign, t.contact_id())
        .await
    {
        Ok(vestnik_engine::campaign::WebView::Html(html)) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "private, no-store"),
            ],
            html,
        )
            .into_response(),
        Ok(vestnik_engine::campaign::WebView::NoMessage)
        | Err(vestnik_engine::campaign::CampaignError::Store(StoreError::NotFound(_))) => page(
            StatusCode::NOT_FOUND,
            "Письмо недоступно · Message unavailable",
            "<h1>Письмо недоступно</h1><p>Это письмо больше нельзя открыть в браузере.</p>\
             <p lang=\"en\"><strong>This message is no longer available.</strong></p>",
        ),
        Err(err) => {
            tracing::error!(%err, site = %t.site, campaign = t.campaign, "web view failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Ошибка · Error",
                "<h1>Не удалось показать письмо</h1><p>Попробуйте позже.</p>\
                 <p lang=\"en\"><strong>The message cannot be shown right now.</strong> Please try again later.</p>",
            )
        }
    }
}

/// ` «Shop name»` for the page text, or nothing when the site cannot be read.
async fn sender(state: &AppState, t: &TrackingToken) -> String {
    match state.store.get_site(&t.site).await {
        Ok(site) => format!(" «{}»", escape(&site.name)),
        Err(_) => String::new(),
    }
}

fn damaged_link() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Ссылка повреждена · This link is damaged",
        "<h1>Ссылка повреждена</h1>\
         <p>Возможно, она скопирована не целиком. Откройте её из письма ещё раз.</p>\
         <p lang=\"en\"><strong>This link is damaged.</strong> Perhaps it was copied only in part: open it from the email again.</p>",
    )
}

/// A small self-contained page: no scripts, no external assets.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title>\
         <style>body{{font:16px/1.5 system-ui,-apple-system,Segoe UI,Roboto,Arial,sans-serif;color:#222;\
         background:#f4f4f4;margin:0;padding:48px 16px}}main{{max-width:480px;margin:0 auto;background:#fff;\
         border-radius:8px;padding:32px}}h1{{font-size:22px;margin:0 0 16px}}p[lang=en]{{color:#666}}\
         button{{font:inherit;background:#c00;color:#fff;border:0;border-radius:4px;padding:10px 24px;cursor:pointer}}</style>\
         </head><body><main>{body}</main></body></html>"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
            ),
        ],
        html,
    )
        .into_response()
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_carry_only_header_safe_bytes() {
        assert_eq!(
            location("https://a.example/?q=1#x"),
            "https://a.example/?q=1#x"
        );
        assert_eq!(
            location("https://магазин.рф/a b"),
            "https://%D0%BC%D0%B0%D0%B3%D0%B0%D0%B7%D0%B8%D0%BD.%D1%80%D1%84/a%20b"
        );
        assert!(HeaderValue::from_str(&location("https://x.example/\u{7f}\n")).is_ok());
    }

    #[test]
    fn the_pixel_is_a_1x1_gif() {
        assert_eq!(&PIXEL[..6], b"GIF89a");
        assert_eq!((PIXEL[6], PIXEL[8]), (1, 1));
        assert_eq!(PIXEL.len(), 43);
        assert_eq!(PIXEL.last(), Some(&0x3b));
    }
}
