//! PostgreSQL backend: several Vestnik nodes share one database.
//!
//! Jobs are claimed with `FOR UPDATE SKIP LOCKED`, so nodes never wait on each other's rows
//! and never take the same one. A schema can be chosen per store (`search_path`), which lets
//! every test run live in its own fresh schema.

mod catalog_import;
mod dialect;
mod ingest;
mod segments;

mod tenants {
    crate::common::impl_tenant_stores!(super::PostgresStore, sqlx::PgConnection);
}
mod contacts {
    crate::common::impl_contact_stores!(super::PostgresStore, sqlx::PgConnection, super::dialect);
}
mod orders {
    crate::common::impl_order_store!(super::PostgresStore);
}
mod events {
    crate::common::impl_event_store!(super::PostgresStore);
}
mod catalog {
    crate::common::impl_catalog_store!(super::PostgresStore, sqlx::PgConnection, super::dialect);
}
mod promo {
    crate::common::impl_promo_store!(
        super::PostgresStore,
        super::dialect,
        " FOR UPDATE SKIP LOCKED"
    );
}
mod recommend {
    crate::common::impl_recommendation_store!(super::PostgresStore, super::dialect);
}
mod templates {
    crate::common::impl_template_store!(super::PostgresStore, sqlx::PgConnection);
}
mod mail_settings {
    crate::common::impl_mail_settings_store!(super::PostgresStore, sqlx::Postgres);
}
mod deliveries {
    crate::common::impl_delivery_store!(super::PostgresStore, "FOR UPDATE SKIP LOCKED");
}
mod campaigns {
    crate::common::impl_campaign_store!(super::PostgresStore, sqlx::Postgres, "FOR UPDATE");
}
mod tracking {
    crate::common::impl_tracking_store!(super::PostgresStore);
}
mod audit {
    crate::common::impl_audit_store!(super::PostgresStore);
}
mod jobs {
    crate::common::impl_job_store!(super::PostgresStore, super::dialect);
}

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;
use vestnik_domain::{Store, StoreError, StoreResult};

use crate::error::map_err;
use crate::migrate;

#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

/// Any constant shared by all Vestnik nodes: the key of the advisory lock held while migrating.
const MIGRATION_LOCK: i64 = 0x0076_6573_746e_696b;

impl PostgresStore {
    /// Contact states are written with their events here (SQLite's writer defers them):
    /// nothing to settle before reading them.
    pub(crate) async fn settle_events(&self) -> StoreResult<()> {
        Ok(())
    }

    pub(crate) async fn settle_events_holding_write_lock(&self) -> StoreResult<()> {
        Ok(())
    }

    pub(crate) async fn settle_contacts(
        &self,
        _contacts: &[vestnik_domain::ContactId],
    ) -> StoreResult<()> {
        Ok(())
    }

    /// Connects, and applies pending migrations. `schema` (created when missing) puts every
    /// table in that schema instead of the URL's default `search_path`.
    pub async fn open(url: &str, schema: Option<&str>) -> StoreResult<Self> {
        let mut options = PgConnectOptions::from_str(url).map_err(|e| {
            StoreError::Invalid(vestnik_domain::ValidationError::new(
                "database",
                format!("invalid PostgreSQL URL: {e}"),
            ))
        })?;
        if let Some(schema) = schema {
            if !schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(StoreError::Invalid(vestnik_domain::ValidationError::new(
                    "schema",
                    "schema names may contain only letters, digits and _",
                )));
            }
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options.clone())
                .await
                .map_err(|e| unreachable_db(url, e))?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}"
            )))
            .execute(&admin)
            .await
            .map_err(map_err("schema"))?;
            admin.close().await;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(|e| unreachable_db(url, e))?;
        let store = PostgresStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations under an advisory lock: nodes starting together take turns.
    pub async fn migrate(&self) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(map_err("migration"))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(map_err("migration"))?;
        migrate::apply_pending!(tx, migrate::POSTGRES, "PostgreSQL");
        tx.commit().await.map_err(map_err("migration"))
    }

    /// Reads and writes share one pool: PostgreSQL has no single-writer limit.
    pub(crate) fn reads(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn writes(&self) -> &PgPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn unreachable_db(url: &str, e: sqlx::Error) -> StoreError {
    // The URL may hold a password: show only where we tried to connect.
    let place = url.rsplit('@').next().unwrap_or("the server");
    StoreError::Unavailable(format!("cannot connect to PostgreSQL at {place}: {e}"))
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err("health check"))
    }
}
