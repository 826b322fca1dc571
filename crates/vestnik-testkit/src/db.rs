use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use vestnik_domain::Store;
use vestnik_store::{PostgresStore, SqliteDurability, SqliteStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    store: Arc<dyn Store>,
    backend: Backend,
    /// Keeps the SQLite file's directory alive for the test's duration.
    _dir: Option<tempfile::TempDir>,
    /// The PostgreSQL schema to drop at the end.
    schema: Option<String>,
}

pub fn postgres_url() -> String {
    std::env::var("VESTNIK_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

static SCHEMA_COUNTER: AtomicU32 = AtomicU32::new(0);
static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// Schemas left behind by test processes that were killed (Drop never ran) are removed once
/// they are an hour old, so the shared test database does not fill up.
async fn sweep_stale_schemas(url: &str) {
    use sqlx::{ConnectOptions, Row};
    let Ok(opts) = url.parse::<sqlx::postgres::PgConnectOptions>() else {
        return;
    };
    let Ok(mut conn) = opts.connect().await else {
        return;
    };
    let Ok(rows) = sqlx::query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'vt\\_%'")
        .fetch_all(&mut conn)
        .await
    else {
        return;
    };
    let hour_ago = vestnik_domain::Timestamp::now().millis() - 3_600_000;
    for row in rows {
        let name: String = row.get(0);
        let created = name.split('_').nth(2).and_then(|ms| ms.parse::<i64>().ok());
        if created.is_some_and(|ms| ms < hour_ago) {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE"
            )))
            .execute(&mut conn)
            .await;
        }
    }
}

impl TestDb {
    /// A fresh database of the given kind; `None` only for PostgreSQL when it is unreachable
    /// outside CI (the caller then skips).
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(TestDb::sqlite().await),
            Backend::Postgres => TestDb::postgres().await,
        }
    }

    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("a temp directory");
        let store = SqliteStore::open(&dir.path().join("vestnik.db"), SqliteDurability::Normal)
            .await
            .expect("SQLite opens in a temp directory");
        TestDb {
            store: Arc::new(store),
            backend: Backend::Sqlite,
            _dir: Some(dir),
            schema: None,
        }
    }

    pub async fn postgres() -> Option<TestDb> {
        let schema = format!(
            "vt_{}_{}_{}",
            std::process::id(),
            vestnik_domain::Timestamp::now().millis(),
            SCHEMA_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let url = postgres_url();
        SWEPT.get_or_init(|| sweep_stale_schemas(&url)).await;
        match PostgresStore::open(&url, Some(&schema)).await {
            Ok(store) => Some(TestDb {
                store: Arc::new(store),
                backend: Backend::Postgres,
                _dir: None,
                schema: Some(schema),
            }),
            Err(e) if !in_ci() => {
                eprintln!(
                    "SKIPPED: PostgreSQL test, {url} unreachable ({e}). Start PostgreSQL or set VESTNIK_TEST_DATABASE_URL."
                );
                None
            }
            Err(e) => panic!("CI=true and PostgreSQL at {url} is unreachable: {e}"),
        }
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A database URL another process (the `vestnik` binary) can open to see this database.
    pub fn url(&self) -> String {
        match (&self.backend, &self._dir, &self.schema) {
            (Backend::Sqlite, Some(dir), _) => {
                format!("sqlite://{}", dir.path().join("vestnik.db").display())
            }
            (Backend::Postgres, _, Some(schema)) => {
                let base = postgres_url();
                let sep = if base.contains('?') { '&' } else { '?' };
                format!("{base}{sep}options=-c%20search_path%3D{schema}")
            }
            _ => unreachable!("a TestDb always has its directory or schema"),
        }
    }

    /// A second, independent connection pool to the same database: what another node sees.
    pub async fn another_node(&self) -> Arc<dyn Store> {
        match (&self.backend, &self._dir, &self.schema) {
            (Backend::Sqlite, Some(dir), _) => Arc::new(
                SqliteStore::open(&dir.path().join("vestnik.db"), SqliteDurability::Normal)
                    .await
                    .expect("the same SQLite file opens twice"),
            ),
            (Backend::Postgres, _, Some(schema)) => Arc::new(
                PostgresStore::open(&postgres_url(), Some(schema))
                    .await
                    .expect("the same PostgreSQL schema opens twice"),
            ),
            _ => unreachable!("a TestDb always has its directory or schema"),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(schema) = self.schema.take() else {
            return;
        };
        // Drop runs outside async; a short-lived thread with its own runtime does the cleanup.
        let url = postgres_url();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                use sqlx::ConnectOptions;
                let Ok(opts) = url.parse::<sqlx::postgres::PgConnectOptions>() else {
                    return;
                };
                if let Ok(mut conn) = opts.connect().await {
                    // A transaction the test dropped mid-way may still hold locks until its
                    // pool gets to roll it back, which cannot happen while this thread blocks
                    // the test's runtime: give up after a while and let the sweep remove it.
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}
