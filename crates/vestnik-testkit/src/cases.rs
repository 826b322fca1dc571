//! Macros that run one set of test cases on both backends: each `case` is an `async fn` in a
//! `cases` module next to the invocation, taking a `TestDb` or a `TestServer`. PostgreSQL
//! cases return early (skip) only when `TestDb::postgres` allows it (never with `CI=true`).

/// `db_cases_on_both_backends!(case_a, case_b)`: each `cases::case(TestDb)` on SQLite and PostgreSQL.
#[macro_export]
macro_rules! db_cases_on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = $crate::TestDb::new($crate::Backend::Sqlite).await.expect("SQLite is always there");
                    super::cases::$case(db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(db) = $crate::TestDb::new($crate::Backend::Postgres).await else { return };
                    super::cases::$case(db).await;
                }
            )*
        }
    };
}

/// `server_cases_on_both_backends!(case_a, case_b)`: each `cases::case(TestServer)` against a
/// real server over SQLite and over PostgreSQL.
#[macro_export]
macro_rules! server_cases_on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let srv = $crate::TestServer::start($crate::Backend::Sqlite).await.expect("a server over SQLite");
                    super::cases::$case(srv).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(srv) = $crate::TestServer::start($crate::Backend::Postgres).await else { return };
                    super::cases::$case(srv).await;
                }
            )*
        }
    };
}
