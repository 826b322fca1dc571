//! The catalog in the admin API: feed settings with validation, import on demand, import
//! history and offer search, on both backends.

use reqwest::StatusCode;
use serde_json::{Value, json};
use vestnik_engine::import_feed;
use vestnik_testkit::TestServer;

fn feed(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/feeds")
        .join(name)
}

mod cases {
    use super::*;

    pub async fn feed_settings_are_validated_saved_and_start_an_import(srv: TestServer) {
        let token = srv.owner_token().await;
        let path = format!("/admin/api/sites/{}/feed", srv.site_id);
        let put = |body: Value| {
            srv.client
                .put(srv.url(&path))
                .bearer_auth(&token)
                .json(&body)
                .send()
        };
        for (body, field) in [
            (
                json!({"url": "ftp://shop.example/feed.xml", "refresh_minutes": 60}),
                "url",
            ),
            (json!({"url": "not a url", "refresh_minutes": null}), "url"),
            (
                json!({"url": "https://shop.example/yml.xml", "refresh_minutes": 5}),
                "refresh_minutes",
            ),
            (
                json!({"url": null, "refresh_minutes": 60}),
                "refresh_minutes",
            ),
        ] {
            let res = put(body.clone()).await.unwrap();
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            let err: Value = res.json().await.unwrap();
            assert_eq!(err["error"]["field"], field, "{err}");
        }
        let res = srv
            .client
            .get(srv.url(&path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let view: Value = res.json().await.unwrap();
        assert_eq!(view["settings"], Value::Null, "nothing half-saved");

        // Importing before a URL is saved is refused with what to do.
        let res = srv
            .client
            .post(srv.url(&format!("{path}/import")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);

        let res = put(json!({"url": "https://shop.example/yml.xml", "refresh_minutes": 60}))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let view: Value = res.json().await.unwrap();
        assert_eq!(
            view["settings"],
            json!({"url": "https://shop.example/yml.xml", "refresh_minutes": 60})
        );
        let jobs = srv
            .store()
            .list_jobs(Some(vestnik_domain::JobState::Pending), 10)
            .await
            .unwrap();
        assert_eq!(jobs.len(), 1, "the first import is queued at once");
        assert_eq!(jobs[0].kind, vestnik_engine::FEED_IMPORT_JOB);

        let res = srv
            .client
            .post(srv.url(&format!("{path}/import")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let queued: Value = res.json().await.unwrap();
        assert!(queued["job_id"].as_i64().is_some());
    }

    pub async fn imports_and_offers_are_listed_and_searchable(srv: TestServer) {
        let site = srv.site_id.clone();
        import_feed(
            srv.store(),
            &site,
            &vestnik_engine::FeedSource::File(feed("shop-utf8.xml")),
            &vestnik_engine::DownloadLimits::default(),
            None,
        )
        .await
        .unwrap();
        let token = srv.owner_token().await;
        let get = |path: String| {
            let token = token.clone();
            let url = srv.url(&path);
            let client = srv.client.clone();
            async move {
                let res = client.get(url).bearer_auth(token).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::OK);
                res.json::<Value>().await.unwrap()
            }
        };
        let view = get(format!("/admin/api/sites/{}/feed", srv.site_id)).await;
        assert_eq!(view["offers"], 23);
        assert_eq!(view["available_offers"], 20);
        assert_eq!(view["last_import"]["state"], "done");
        assert_eq!(view["last_import"]["summary"]["skipped"], 1);

        let history = get(format!("/admin/api/sites/{}/feed/imports", srv.site_id)).await;
        assert_eq!(history.as_array().unwrap().len(), 1);
        assert_eq!(history[0]["summary"]["errors"][0]["offer_id"], "1011");

        let found = get(format!(
            "/admin/api/sites/{}/offers?q=%D0%BA%D1%80%D0%BE%D1%81%D1%81%D0%BE%D0%B2%D0%BA%D0%B8&limit=3",
            srv.site_id
        ))
        .await;
        let found = found.as_array().unwrap();
        assert!(!found.is_empty() && found.len() <= 3);
        let by_id = get(format!("/admin/api/sites/{}/offers?q=1001", srv.site_id)).await;
        assert_eq!(by_id[0]["id"], "1001");
        assert_eq!(by_id[0]["price"], "18973.37");
        assert_eq!(
            by_id[0]["pictures"][0],
            "https://cdn.shop.example/img/1001.jpg"
        );
    }
}

vestnik_testkit::server_cases_on_both_backends!(
    feed_settings_are_validated_saved_and_start_an_import,
    imports_and_offers_are_listed_and_searchable,
);
