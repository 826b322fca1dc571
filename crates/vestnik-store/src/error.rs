//! One mapping from driver errors to `StoreError`, shared by both backends.

use vestnik_domain::StoreError;

/// Maps a driver error; `what` names the thing being written, for conflict messages.
pub(crate) fn map_err(what: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |e| classify(what, e)
}

pub(crate) fn classify(what: &str, e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(format!("{what} already exists"))
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::NotFound(format!("a record referenced by this {what}"))
        }
        sqlx::Error::RowNotFound => StoreError::NotFound(what.to_string()),
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(db) if is_busy(db.code().as_deref()) => {
            StoreError::Unavailable(format!("database busy: {db}"))
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

/// SQLite's SQLITE_BUSY (5) / SQLITE_LOCKED (6) and their extended codes: another process
/// holds the write lock longer than the busy timeout.
fn is_busy(code: Option<&str>) -> bool {
    code.and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| c & 0xff == 5 || c & 0xff == 6)
}

pub(crate) fn internal(msg: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(msg.to_string())
}
