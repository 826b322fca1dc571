//! Schema migrations, compiled into the binary so a single file deploys.
//!
//! Each backend applies the pending ones at start-up inside a transaction that also holds a
//! lock (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: an advisory lock), so nodes starting together
//! do not race. A database migrated by a newer Vestnik is refused rather than misread.

use vestnik_domain::StoreError;

pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sql: include_str!("../migrations/sqlite/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "public_api",
        sql: include_str!("../migrations/sqlite/0002_public_api.sql"),
    },
    Migration {
        version: 3,
        name: "catalog",
        sql: include_str!("../migrations/sqlite/0003_catalog.sql"),
    },
    Migration {
        version: 4,
        name: "templates",
        sql: include_str!("../migrations/sqlite/0004_templates.sql"),
    },
    Migration {
        version: 5,
        name: "mailing",
        sql: include_str!("../migrations/sqlite/0005_mailing.sql"),
    },
    Migration {
        version: 6,
        name: "segments",
        sql: include_str!("../migrations/sqlite/0006_segments.sql"),
    },
    Migration {
        version: 7,
        name: "catalog_in_place",
        sql: include_str!("../migrations/sqlite/0007_catalog_in_place.sql"),
    },
    Migration {
        version: 8,
        name: "contact_events",
        sql: include_str!("../migrations/sqlite/0008_contact_events.sql"),
    },
    Migration {
        version: 9,
        name: "recent_contact_events",
        sql: include_str!("../migrations/sqlite/0009_recent_contact_events.sql"),
    },
    Migration {
        version: 10,
        name: "deferred_states",
        sql: include_str!("../migrations/sqlite/0010_deferred_states.sql"),
    },
];

pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sql: include_str!("../migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "public_api",
        sql: include_str!("../migrations/postgres/0002_public_api.sql"),
    },
    Migration {
        version: 3,
        name: "catalog",
        sql: include_str!("../migrations/postgres/0003_catalog.sql"),
    },
    Migration {
        version: 4,
        name: "templates",
        sql: include_str!("../migrations/postgres/0004_templates.sql"),
    },
    Migration {
        version: 5,
        name: "mailing",
        sql: include_str!("../migrations/postgres/0005_mailing.sql"),
    },
    Migration {
        version: 6,
        name: "segments",
        sql: include_str!("../migrations/postgres/0006_segments.sql"),
    },
    Migration {
        version: 7,
        name: "catalog_in_place",
        sql: include_str!("../migrations/postgres/0007_catalog_in_place.sql"),
    },
    Migration {
        version: 8,
        name: "contact_events",
        sql: include_str!("../migrations/postgres/0008_contact_events.sql"),
    },
    Migration {
        version: 9,
        name: "recent_contact_events",
        sql: include_str!("../migrations/postgres/0009_recent_contact_events.sql"),
    },
    Migration {
        version: 10,
        name: "deferred_states",
        sql: include_str!("../migrations/postgres/0010_deferred_states.sql"),
    },
];

/// Which migrations still have to run, given the versions the database has recorded.
pub(crate) fn pending<'m>(
    known: &'m [Migration],
    applied: &[i64],
) -> Result<Vec<&'m Migration>, StoreError> {
    let newest_known = known.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(newer) = applied.iter().find(|v| **v > newest_known) {
        return Err(StoreError::Internal(format!(
            "the database has schema version {newer}, newer than this binary knows ({newest_known}); run a newer Vestnik"
        )));
    }
    Ok(known
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .collect())
}

/// Inside a transaction that already holds the backend's migration lock: creates the ledger
/// if needed and applies every pending migration in version order. A macro because the
/// transaction types of the two drivers share no trait that is pleasant to be generic over.
macro_rules! apply_pending {
    ($tx:expr, $known:expr, $backend:literal) => {{
        use sqlx::Row;
        use vestnik_domain::{StoreError, Timestamp};
        use $crate::error::map_err;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS vestnik_migrations \
             (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *$tx)
        .await
        .map_err(map_err("migration"))?;
        let applied: Vec<i64> = sqlx::query("SELECT version FROM vestnik_migrations")
            .fetch_all(&mut *$tx)
            .await
            .map_err(map_err("migration"))?
            .iter()
            .map(|r| r.get::<i64, _>(0))
            .collect();
        for m in $crate::migrate::pending($known, &applied)? {
            tracing::info!(
                version = m.version,
                name = m.name,
                concat!("applying ", $backend, " migration")
            );
            sqlx::raw_sql(m.sql)
                .execute(&mut *$tx)
                .await
                .map_err(|e| StoreError::Internal(format!("migration {} failed: {e}", m.name)))?;
            sqlx::query(
                "INSERT INTO vestnik_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(m.version)
            .bind(m.name)
            .bind(Timestamp::now().millis())
            .execute(&mut *$tx)
            .await
            .map_err(map_err("migration"))?;
        }
    }};
}
pub(crate) use apply_pending;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_database_from_the_future() {
        assert!(pending(SQLITE, &[1, 999]).is_err());
        assert_eq!(pending(SQLITE, &[]).unwrap().len(), SQLITE.len());
        let all: Vec<i64> = SQLITE.iter().map(|m| m.version).collect();
        assert!(pending(SQLITE, &all).unwrap().is_empty());
        assert_eq!(pending(SQLITE, &[1]).unwrap()[0].version, 2);
        assert_eq!(pending(SQLITE, &[1, 2]).unwrap()[0].version, 3);
    }

    #[test]
    fn both_backends_have_the_same_versions() {
        let s: Vec<_> = SQLITE.iter().map(|m| (m.version, m.name)).collect();
        let p: Vec<_> = POSTGRES.iter().map(|m| (m.version, m.name)).collect();
        assert_eq!(s, p);
    }
}
