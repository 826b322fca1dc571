//! The `vestnik` binary as a user runs it: real processes, real files, real signals.

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use vestnik_testkit::TestDb;

fn vestnik(db_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vestnik"))
        .args(args)
        .env("VESTNIK_DATABASE_URL", db_url)
        .env_remove("VESTNIK_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("vestnik runs")
}

fn vestnik_with_stdin(db_url: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vestnik"))
        .args(args)
        .env("VESTNIK_DATABASE_URL", db_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vestnik runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "stdout is not JSON: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

async fn site_create_prints_exactly_the_documented_json(db: TestDb) {
    let out = vestnik(&db.url(), &["site", "create", "shop"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "one line, nothing else: {stdout}"
    );
    assert!(stdout.starts_with("{\"site_id\": \""), "{stdout}");
    let v = stdout_json(&out);
    let site_id = v["site_id"].as_str().unwrap();
    assert_eq!(site_id.len(), 24);
    assert!(
        v["api_key"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{site_id}:"))
    );
    assert_eq!(v.as_object().unwrap().len(), 2);

    let listed = stdout_json(&vestnik(&db.url(), &["site", "list"]));
    assert_eq!(listed[0]["site_id"], site_id);
    assert_eq!(listed[0]["name"], "shop");
}

async fn jobs_are_inspectable_from_the_cli(db: TestDb) {
    let store = db.store();
    let id = store
        .enqueue(&vestnik_domain::NewJob::new(
            "report",
            serde_json::json!({"n": 1}),
        ))
        .await
        .unwrap();
    let counts = stdout_json(&vestnik(&db.url(), &["jobs", "counts"]));
    assert_eq!(
        counts,
        serde_json::json!({"pending": 1, "running": 0, "done": 0, "dead": 0})
    );
    let pending = stdout_json(&vestnik(&db.url(), &["jobs", "list", "--state", "pending"]));
    assert_eq!(pending[0]["id"], id.0);
    assert_eq!(pending[0]["kind"], "report");
    assert_eq!(
        stdout_json(&vestnik(&db.url(), &["jobs", "list", "--state", "dead"])),
        serde_json::json!([])
    );
    let out = vestnik(&db.url(), &["jobs", "list", "--state", "zombie"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expected pending, running, done or dead")
    );
}

async fn bad_input_fails_with_a_message_and_no_output(db: TestDb) {
    for (args, needle) in [
        (
            vec!["key", "create", "--site", "not-a-site"],
            "not a site id",
        ),
        (vec!["site", "create", "  "], "must not be empty"),
        (
            vec!["key", "revoke", "--site", "0123456789abcdef01234567", "1"],
            "not found",
        ),
    ] {
        let out = vestnik(&db.url(), &args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let site = stdout_json(&vestnik(&db.url(), &["site", "create", "shop"]));
    let site_id = site["site_id"].as_str().unwrap();
    let out = vestnik_with_stdin(
        &db.url(),
        &[
            "user",
            "create",
            "a@shop.ru",
            "--site",
            site_id,
            "--role",
            "owner",
        ],
        "short\n",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 10 characters"));
    let out = vestnik_with_stdin(
        &db.url(),
        &[
            "user",
            "create",
            "a@shop.ru",
            "--site",
            site_id,
            "--role",
            "admin",
        ],
        "long enough pw\n",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("owner, editor or viewer"));
}

/// `feed import` prints the documented summary, and a file that is not a feed fails with a
/// message, no stdout, and the catalog left as it was.
async fn feed_import_prints_its_summary_and_refuses_what_is_not_a_feed(db: TestDb) {
    let created = stdout_json(&vestnik(&db.url(), &["site", "create", "shop"]));
    let site = created["site_id"].as_str().unwrap();
    let feed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/feeds/shop-cp1251.xml");
    let out = vestnik(
        &db.url(),
        &["feed", "import", "--site", site, feed.to_str().unwrap()],
    );
    let summary = stdout_json(&out);
    assert_eq!(
        summary,
        serde_json::json!({
            "offers": 23,
            "categories": 6,
            "skipped": 1,
            "errors": [{"offer_id": "1011", "line": 140, "reason": "no price"}]
        })
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().lines().count(),
        1,
        "one JSON line, no progress bar when stderr is not a terminal"
    );

    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("feed.json");
    std::fs::write(&json, r#"{"offers": []}"#).unwrap();
    let out = vestnik(
        &db.url(),
        &["feed", "import", "--site", site, json.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("JSON"), "{stderr}");

    let out = vestnik(
        &db.url(),
        &[
            "feed",
            "import",
            "--site",
            "0123456789abcdef01234567",
            feed.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));

    let store = db.store();
    let site = vestnik_domain::SiteId::parse(site).unwrap();
    assert_eq!(store.offer_counts(&site).await.unwrap(), (23, 20));
}

/// `promocodes import` adds a file's codes to a pool, counts duplicates and reports bad lines.
async fn promocodes_import_reports_what_it_added(db: TestDb) {
    let created = stdout_json(&vestnik(&db.url(), &["site", "create", "shop"]));
    let site = created["site_id"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("codes.txt");
    std::fs::write(&file, "SUMMER-1\nSUMMER-2\n\nSUMMER 3\nSUMMER-1\n").unwrap();
    let out = vestnik(
        &db.url(),
        &[
            "promocodes",
            "import",
            "--site",
            site,
            "--pool",
            "summer",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(
        stdout_json(&out),
        serde_json::json!({
            "pool": "summer",
            "added": 2,
            "duplicates": 1,
            "skipped_lines": [{"line": 4, "reason": "contains spaces or control characters; put one code per line"}]
        })
    );
    let listed = stdout_json(&vestnik(&db.url(), &["promocodes", "list", "--site", site]));
    assert_eq!(
        listed,
        serde_json::json!([{"pool": "summer", "total": 2, "issued": 0}])
    );

    let out = vestnik(
        &db.url(),
        &[
            "promocodes",
            "import",
            "--site",
            site,
            "--pool",
            "bad pool",
            file.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a pool name"));
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "\n\n").unwrap();
    let out = vestnik(
        &db.url(),
        &[
            "promocodes",
            "import",
            "--site",
            site,
            empty.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no codes"));
}

/// `template render` prints the HTML; a broken template exits with 2 and names the line.
async fn template_render_prints_html_or_the_error_with_exit_code_2(db: TestDb) {
    let created = stdout_json(&vestnik(&db.url(), &["site", "create", "shop"]));
    let site = created["site_id"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("welcome.mjml");
    std::fs::write(
        &good,
        "<mjml><mj-body><mj-section><mj-column><mj-text>Здравствуйте, {{ lead.name }}! {{ lead.email }}</mj-text></mj-column></mj-section></mj-body></mjml>",
    )
    .unwrap();
    let out = vestnik(
        &db.url(),
        &["template", "render", "--site", site, good.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = String::from_utf8(out.stdout).unwrap();
    assert!(
        html.contains("<!doctype html>") || html.contains("<html"),
        "MJML became HTML"
    );
    assert!(html.contains("Здравствуйте"));

    let store = db.store();
    let site_id = vestnik_domain::SiteId::parse(site).unwrap();
    store
        .insert_contact(
            &site_id,
            &vestnik_domain::NewContact {
                email: Some(vestnik_domain::Email::parse("olga@shop.ru").unwrap()),
                fields: vestnik_domain::ContactFields {
                    name: Some("Ольга".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let out = vestnik(
        &db.url(),
        &[
            "template",
            "render",
            "--site",
            site,
            "--contact",
            "olga@shop.ru",
            good.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = String::from_utf8(out.stdout).unwrap();
    assert!(html.contains("Здравствуйте, Ольга! olga@shop.ru"), "{html}");

    let broken = dir.path().join("broken.html");
    std::fs::write(
        &broken,
        "<p>\n{% for item in get_viewed_items() %}\n{{ item.name }}\n",
    )
    .unwrap();
    let out = vestnik(
        &db.url(),
        &[
            "template",
            "render",
            "--site",
            site,
            broken.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line"), "{stderr}");
}

mod sqlite {
    #[tokio::test]
    async fn template_render_prints_html_or_the_error_with_exit_code_2() {
        super::template_render_prints_html_or_the_error_with_exit_code_2(
            vestnik_testkit::TestDb::sqlite().await,
        )
        .await
    }
    #[tokio::test]
    async fn promocodes_import_reports_what_it_added() {
        super::promocodes_import_reports_what_it_added(vestnik_testkit::TestDb::sqlite().await)
            .await
    }
    #[tokio::test]
    async fn feed_import_prints_its_summary_and_refuses_what_is_not_a_feed() {
        super::feed_import_prints_its_summary_and_refuses_what_is_not_a_feed(
            vestnik_testkit::TestDb::sqlite().await,
        )
        .await
    }
    #[tokio::test]
    async fn jobs_are_inspectable_from_the_cli() {
        super::jobs_are_inspectable_from_the_cli(vestnik_testkit::TestDb::sqlite().await).await
    }
    #[tokio::test]
    async fn site_create_prints_exactly_the_documented_json() {
        super::site_create_prints_exactly_the_documented_json(
            vestnik_testkit::TestDb::sqlite().await,
        )
        .await
    }
    #[tokio::test]
    async fn bad_input_fails_with_a_message_and_no_output() {
        super::bad_input_fails_with_a_message_and_no_output(vestnik_testkit::TestDb::sqlite().await)
            .await
    }
}

mod postgres {
    #[tokio::test]
    async fn jobs_are_inspectable_from_the_cli() {
        let Some(db) = vestnik_testkit::TestDb::postgres().await else {
            return;
        };
        super::jobs_are_inspectable_from_the_cli(db).await
    }
    #[tokio::test]
    async fn site_create_prints_exactly_the_documented_json() {
        let Some(db) = vestnik_testkit::TestDb::postgres().await else {
            return;
        };
        super::site_create_prints_exactly_the_documented_json(db).await
    }
    #[tokio::test]
    async fn bad_input_fails_with_a_message_and_no_output() {
        let Some(db) = vestnik_testkit::TestDb::postgres().await else {
            return;
        };
        super::bad_input_fails_with_a_message_and_no_output(db).await
    }
}

/// A running server, killed if the test fails before stopping it.
struct Server {
    child: Child,
    base: String,
    stdout: String,
}

impl Server {
    fn start(dir: &std::path::Path, db: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vestnik"))
            .args(["serve", "--demo", "--bind", "127.0.0.1:0", "--database", db])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vestnik serve starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let base = loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("server announces its address");
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // The demo banner ends with the admin line (first start) or the "already exists" note.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut out = String::new();
        while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            out.push_str(&line);
            out.push('\n');
            if line.contains("admin:") || line.contains("make a new key") {
                break;
            }
        }
        Server {
            child,
            base,
            stdout: out,
        }
    }

    fn demo_value(&self, label: &str) -> String {
        self.stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label} in {}", self.stdout))
            .trim()
            .to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_shares_its_sqlite_file_with_the_cli_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("shop.db").display());
    let mut server = Server::start(dir.path(), &db);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let health: Value = http
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let demo_key = server.demo_value("api_key:");
    let res = http
        .get(format!("{}/api/v1/site", server.base))
        .header("api-key", &demo_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (admin_email, admin_password) = {
        let admin = server.demo_value("admin:");
        let (e, p) = admin.split_once(" / ").unwrap();
        (e.to_string(), p.to_string())
    };
    let res = http
        .post(format!("{}/admin/api/login", server.base))
        .json(&serde_json::json!({"email": admin_email, "password": admin_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the printed demo login works");

    // The CLI writes to the same file while the server runs; the server sees it at once.
    let site = stdout_json(&vestnik(&db, &["site", "create", "Second shop"]));
    let res = http
        .get(format!("{}/api/v1/site", server.base))
        .header("api-key", site["api_key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let out = vestnik_with_stdin(
        &db,
        &[
            "user",
            "create",
            "manager@shop.ru",
            "--site",
            site["site_id"].as_str().unwrap(),
            "--role",
            "editor",
        ],
        "a long enough password\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let res = http
        .post(format!("{}/admin/api/login", server.base))
        .json(
            &serde_json::json!({"email": "manager@shop.ru", "password": "a long enough password"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "server did not stop within 15 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "graceful shutdown exits 0, got {status}");

    // A second --demo start does not create another demo site.
    let server = Server::start(dir.path(), &db);
    assert!(
        server.stdout.contains("already exists"),
        "{}",
        server.stdout
    );
    let sites = stdout_json(&vestnik(&db, &["site", "list"]));
    assert_eq!(
        sites
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["name"] == "Demo shop")
            .count(),
        1
    );
}

#[test]
fn a_config_file_and_env_choose_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let from_file = dir.path().join("from-file.db");
    std::fs::write(
        dir.path().join("vestnik.toml"),
        format!("database_url = \"sqlite://{}\"\n", from_file.display()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vestnik"))
        .args(["migrate"])
        .current_dir(dir.path())
        .env_remove("VESTNIK_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(from_file.exists(), "vestnik.toml's database was used");

    let from_env = dir.path().join("from-env.db");
    let out = Command::new(env!("CARGO_BIN_EXE_vestnik"))
        .args(["migrate"])
        .current_dir(dir.path())
        .env(
            "VESTNIK_DATABASE_URL",
            format!("sqlite://{}", from_env.display()),
        )
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(from_env.exists(), "the env var beats the file");

    std::fs::write(dir.path().join("vestnik.toml"), "databse_url = \"typo\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vestnik"))
        .args(["migrate"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("databse_url"));
}
