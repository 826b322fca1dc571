//! The seed's template functions and variables, bound to one recipient for one render:
//! `get_cart_items()`, `get_viewed_items()`, `get_recommendations(service_name=…, count=…)`,
//! `get_random_offers(count=…)`, `get_promocode(pool=…)`, `exit()`, `lead`, `webview_url`,
//! `unsubscribe_url`.
//!
//! They live in the render context, not in the environment, because each closure holds the
//! recipient's [`RenderData`]; minijinja values must be `'static`, hence the `Arc`.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use minijinja::value::{Kwargs, Serde};
use minijinja::{Error, ErrorKind, Value};

use crate::data::{DEFAULT_OFFER_COUNT, MAX_OFFER_COUNT, RenderData};

/// The functions a template can call, for "unknown function" messages.
pub(crate) const AVAILABLE_FUNCTIONS: &str = "get_cart_items(), get_viewed_items(), \
     get_recommendations(service_name='top_offers', count=10), get_random_offers(count=10), \
     get_promocode() or get_promocode(pool='name'), exit(), and Jinja's range(), dict(), namespace()";

/// Names this crate puts into every render context.
pub(crate) const CONTEXT_NAMES: [&str; 9] = [
    "lead",
    "webview_url",
    "unsubscribe_url",
    "get_cart_items",
    "get_viewed_items",
    "get_recommendations",
    "get_random_offers",
    "get_promocode",
    "exit",
];

/// Names of the functions among [`CONTEXT_NAMES`] plus minijinja's global functions.
pub(crate) const FUNCTION_NAMES: [&str; 10] = [
    "get_cart_items",
    "get_viewed_items",
    "get_recommendations",
    "get_random_offers",
    "get_promocode",
    "exit",
    "range",
    "dict",
    "namespace",
    "debug",
];

/// Attached to the error `exit()` raises, so the renderer tells it from a real failure.
#[derive(Debug)]
pub(crate) struct ExitRequested;

impl fmt::Display for ExitRequested {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("exit() cancelled this message")
    }
}

impl std::error::Error for ExitRequested {}

/// Attached to the error of a `get_promocode()` the caller could not serve.
#[derive(Debug)]
pub(crate) struct PromocodeUnavailable {
    pub(crate) pool: Option<String>,
    pub(crate) message: String,
}

impl fmt::Display for PromocodeUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PromocodeUnavailable {}

/// Attached to the error of a `get_recommendations()` the caller refused.
#[derive(Debug)]
pub(crate) struct RecommendationsUnavailable {
    pub(crate) message: String,
}

impl fmt::Display for RecommendationsUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RecommendationsUnavailable {}

/// A promo code given out while rendering one message, so the caller can record which
/// contact got it (or give it back when the message is skipped or fails after the claim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedPromocode {
    /// `None` for the default pool (`get_promocode()`).
    pub pool: Option<String>,
    pub code: String,
}

/// One render's state: the recipient and the codes claimed so far.
pub(crate) struct Session {
    data: Arc<dyn RenderData>,
    preview: bool,
    /// One code per pool per message: `get_promocode()` in the subject and again in the body
    /// must show the reader the same code, not burn two.
    promocodes: Mutex<Vec<ClaimedPromocode>>,
}

impl Session {
    pub(crate) fn new(data: Arc<dyn RenderData>, preview: bool) -> Arc<Session> {
        Arc::new(Session {
            data,
            preview,
            promocodes: Mutex::new(Vec::new()),
        })
    }

    /// The codes claimed during this render (none in preview).
    pub(crate) fn claimed_promocodes(&self) -> Vec<ClaimedPromocode> {
        if self.preview {
            return Vec::new();
        }
        self.promocodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn promocode(&self, pool: Option<String>) -> Result<String, Error> {
        let mut claimed = self
            .promocodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = claimed.iter().find(|c| c.pool == pool) {
            return Ok(known.code.clone());
        }
        let result = if self.preview {
            self.data.preview_promocode(pool.as_deref())
        } else {
            self.data.claim_promocode(pool.as_deref())
        };
        match result {
            Ok(code) => {
                claimed.push(ClaimedPromocode {
                    pool,
                    code: code.clone(),
                });
                Ok(code)
            }
            Err(message) => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("get_promocode(): {message}"),
            )
            .with_source(PromocodeUnavailable { pool, message })),
        }
    }
}

/// The render context for one recipient: the seed's variables and functions.
pub(crate) fn context(session: &Arc<Session>) -> Value {
    let data = &session.data;
    let cart = Arc::clone(data);
    let viewed = Arc::clone(data);
    let recommended = Arc::clone(data);
    let random = Arc::clone(data);
    let promo = Arc::clone(session);
    let variables = Value::from(Serde(data.variables()));
    minijinja::context! {
        vars => variables.clone(),
        lead => Value::from(Serde(data.lead())),
        webview_url => data.webview_url(),
        unsubscribe_url => data.unsubscribe_url(),
        get_cart_items => Value::from_function(move || offers(cart.cart_items())),
        get_viewed_items => Value::from_function(move || offers(viewed.viewed_items())),
        get_recommendations => Value::from_function(
            move |service_name: Option<String>, count: Option<i64>, kwargs: Kwargs| {
                let service_name = one_of("get_recommendations", "service_name", service_name, &kwargs)?
                    .ok_or_else(|| {
                        invalid("get_recommendations() needs an algorithm: \
                             get_recommendations(service_name='top_offers')")
                    })?;
                let count = count_arg("get_recommendations", count, &kwargs)?;
                kwargs.assert_all_used()?;
                match recommended.recommendations(&service_name, count) {
                    Ok(list) => Ok(offers(list)),
                    Err(message) => Err(invalid(format!("get_recommendations(): {message}"))
                        .with_source(RecommendationsUnavailable { message })),
                }
            },
        ),
        get_random_offers => Value::from_function(move |count: Option<i64>, kwargs: Kwargs| {
            let count = count_arg("get_random_offers", count, &kwargs)?;
            kwargs.assert_all_used()?;
            Ok::<_, Error>(offers(random.random_offers(count)))
        }),
        get_promocode => Value::from_function(move |pool: Option<String>, kwargs: Kwargs| {
            let pool = one_of("get_promocode", "pool", pool, &kwargs)?;
            kwargs.assert_all_used()?;
            promo.promocode(pool)
        }),
        exit => Value::from_function(|| -> Result<Value, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, "exit() cancelled this message")
                .with_source(ExitRequested))
        }),
        // Spread last: a name set above wins over a variable of the same name.
        ..variables
    }
}

fn offers(list: Vec<crate::data::Offer>) -> Value {
    Value::from(Serde(list))
}

fn invalid(message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

/// An argument that may be given by position or by name, but not both.
fn one_of<T>(
    function: &str,
    name: &str,
    positional: Option<T>,
    kwargs: &Kwargs,
) -> Result<Option<T>, Error>
where
    T: for<'a> minijinja::value::ArgType<'a, Output = T>,
{
    let named: Option<T> = kwargs.get(name)?;
    match (positional, named) {
        (Some(_), Some(_)) => Err(invalid(format!(
            "{function}(): {name} is given twice, by position and by name"
        ))),
        (positional, named) => Ok(positional.or(named)),
    }
}

/// `count` of the offer functions: a whole number from 0 to [`MAX_OFFER_COUNT`].
fn count_arg(function: &str, positional: Option<i64>, kwargs: &Kwargs) -> Result<usize, Error> {
    match one_of(function, "count", positional, kwargs)? {
        None => Ok(DEFAULT_OFFER_COUNT),
        Some(count) => usize::try_from(count)
            .ok()
            .filter(|c| *c <= MAX_OFFER_COUNT)
            .ok_or_else(|| {
                invalid(format!(
                    "{function}(): count must be from 0 to {MAX_OFFER_COUNT}, not {count}"
                ))
            }),
    }
}
