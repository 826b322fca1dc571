use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use vestnik_domain::{Email, Role, SiteId, SiteRole, Store};
use vestnik_http::{AppState, HttpConfig, Metrics};

use crate::db::{Backend, TestDb};

/// The real HTTP server on 127.0.0.1:<random port>, over a fresh database, with one site, its
/// first API key and an owner login. Stops when dropped.
pub struct TestServer {
    pub base_url: String,
    pub site_id: SiteId,
    pub api_key: String,
    pub owner_email: String,
    pub owner_password: String,
    pub client: reqwest::Client,
    db: TestDb,
    shutdown: CancellationToken,
}

impl TestServer {
    /// `None` only when PostgreSQL is unreachable outside CI (the test then skips).
    pub async fn start(backend: Backend) -> Option<TestServer> {
        Self::start_with(backend, HttpConfig::default()).await
    }

    pub async fn start_with(backend: Backend, config: HttpConfig) -> Option<TestServer> {
        let db = TestDb::new(backend).await?;
        let store = db.store();
        let (site, key) = store.create_site("Test shop").await.expect("create a site");
        let owner_email = "owner@test-shop.example".to_string();
        let owner_password = "correct horse battery staple".to_string();
        store
            .create_user(
                &Email::parse(&owner_email).expect("valid email"),
                &vestnik_domain::user::hash_password(&owner_password),
                &[SiteRole {
                    site_id: site.id.clone(),
                    role: Role::Owner,
                }],
            )
            .await
            .expect("create the owner");

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let mail =
            vestnik_engine::campaign::MailContext::load(store.clone(), &format!("http://{addr}"))
                .await
                .expect("load the tracking key");
        let state = AppState::new(store.clone(), Arc::new(Metrics::new(None)), config, mail);
        let app = vestnik_http::router(state);
        let shutdown = CancellationToken::new();
        tokio::spawn(vestnik_http::serve(listener, app, shutdown.clone()));
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        Some(TestServer {
            base_url: format!("http://{addr}"),
            site_id: site.id,
            api_key: key.plain.as_str().to_string(),
            owner_email,
            owner_password,
            client,
            db,
            shutdown,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.db.store()
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// A URL a test can open its own connection with, to set up rows no API writes.
    pub fn database_url(&self) -> String {
        self.db.url()
    }

    /// Logs the owner in and returns the bearer token.
    pub async fn owner_token(&self) -> String {
        let res = self
            .client
            .post(self.url("/admin/api/login"))
            .json(&serde_json::json!({"email": self.owner_email, "password": self.owner_password}))
            .send()
            .await
            .expect("login request");
        assert_eq!(res.status(), 200, "owner login works");
        let body: serde_json::Value = res.json().await.expect("login JSON");
        body["token"].as_str().expect("a token").to_string()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
