//! The exactly-once promise of campaign sending, tested the hard way: a real `vestnik serve`
//! process sends a campaign to a real SMTP server, is killed with SIGKILL mid-way, a new
//! process takes over, and the test counts what arrived. Nobody may be missing; a recipient
//! may have two copies only if the report counts them as possibly duplicated (the messages in
//! flight at the instant of the kill).

use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use vestnik_domain::{Email, NewContact};
use vestnik_testkit::TestDb;
use vestnik_testkit::smtp::{SinkOptions, SmtpSink};

const RECIPIENTS: usize = 1200;

fn vestnik(db_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vestnik"))
        .args(args)
        .env("VESTNIK_DATABASE_URL", db_url)
        .env_remove("VESTNIK_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("vestnik runs")
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&out.stdout)))
}

/// `vestnik serve` with short leases, so a dead node's work comes back within seconds.
struct Server(Child);

impl Server {
    fn start(db_url: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vestnik"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("VESTNIK_DATABASE_URL", db_url)
            .env("VESTNIK_JOB_LEASE_SECS", "2")
            .env("VESTNIK_PUBLIC_URL", "https://mail.shop.example")
            .env_remove("VESTNIK_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vestnik serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // Shown by the test harness when the test fails.
                eprintln!("server: {line}");
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("the server announces its address");
            if line.contains("listening on ") {
                break;
            }
        }
        Server(child)
    }

    fn kill9(mut self) {
        // std's kill() is SIGKILL on Unix: no shutdown code runs.
        self.0.kill().expect("SIGKILL");
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn a_campaign_survives_kill_9_without_losing_or_silently_duplicating(db: TestDb) {
    let sink = SmtpSink::start_with(SinkOptions {
        keep_data: false,
        ..Default::default()
    });
    let url = db.url();
    let store = db.store();
    let (site, _) = store.create_site("Shop").await.unwrap();
    let contacts: Vec<NewContact> = (0..RECIPIENTS)
        .map(|i| NewContact {
            email: Some(Email::parse(&format!("buyer{i}@example.com")).unwrap()),
            ..Default::default()
        })
        .collect();
    let ids: Vec<_> = store
        .insert_contacts(&site.id, &contacts)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let list = store.create_list(&site.id, "Newsletter").await.unwrap();
    store.add_to_list(&site.id, list.id, &ids).await.unwrap();

    let site_id = site.id.as_str();
    // A rate cap keeps the campaign running long enough to be killed in the middle.
    let provider = vestnik(
        &url,
        &[
            "provider",
            "add",
            "--site",
            site_id,
            "--name",
            "sink",
            "--url",
            &format!("smtp://127.0.0.1:{}", sink.port()),
            "--tls",
            "none",
            "--rate",
            "300",
        ],
    );
    stdout_json(&provider);
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("sale.mjml");
    std::fs::write(
        &template,
        "<mjml><mj-body><mj-section><mj-column><mj-text>Hello {{ lead.email }}</mj-text>\
         <mj-button href=\"https://shop.example/sale\">Sale</mj-button></mj-column></mj-section></mj-body></mjml>",
    )
    .unwrap();
    let created = stdout_json(&vestnik(
        &url,
        &[
            "campaign",
            "create",
            "--site",
            site_id,
            "--template",
            template.to_str().unwrap(),
            "--subject",
            "Распродажа",
            "--from-email",
            "news@shop.example",
            "--from-name",
            "Shop",
            "--list",
            "Newsletter",
        ],
    ));
    let campaign = created["campaign_id"].as_i64().unwrap().to_string();
    assert_eq!(created["reachable"], RECIPIENTS);

    let first = Server::start(&url);
    assert!(
        sink.wait_for(200, Duration::from_secs(60)).await,
        "the first server never got going ({} arrived)",
        sink.count()
    );
    first.kill9();
    let at_kill = sink.count();
    assert!(
        at_kill < RECIPIENTS,
        "the campaign finished before the kill ({at_kill}); the test proves nothing"
    );

    let _second = Server::start(&url);
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        let status = stdout_json(&vestnik(&url, &["campaign", "status", &campaign]));
        if status["state"] == "done" {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the campaign did not finish after the restart: {status}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    let mut copies: HashMap<String, usize> = HashMap::new();
    for m in sink.messages() {
        for r in m.recipients {
            *copies.entry(r).or_default() += 1;
        }
    }
    let duplicated = copies.values().filter(|n| **n > 1).count() as i64;
    assert_eq!(copies.len(), RECIPIENTS, "recipients were lost");
    assert!(copies.values().all(|n| *n <= 2), "someone got three copies");
    let reported = status["possibly_duplicated"].as_i64().unwrap();
    assert!(
        duplicated <= reported,
        "{duplicated} recipients got two copies but the report admits only {reported}"
    );
    assert_eq!(status["sent"], RECIPIENTS, "{status}");
    assert_eq!(status["recipients"], RECIPIENTS);
    eprintln!(
        "kill -9 after {at_kill} arrivals: {duplicated} duplicated, {reported} reported possibly duplicated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_campaign_survives_kill_9() {
    a_campaign_survives_kill_9_without_losing_or_silently_duplicating(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_campaign_survives_kill_9() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    a_campaign_survives_kill_9_without_losing_or_silently_duplicating(db).await;
}
