//! The seed's multilead endpoints, byte for byte, over SQLite and PostgreSQL.

use reqwest::StatusCode;
use serde_json::{Value, json};
use vestnik_domain::{Email, LeadStatus, NewContact};
use vestnik_testkit::TestServer;

async fn add_contact(srv: &TestServer, email: &str) {
    srv.store()
        .insert_contact(
            &srv.site_id,
            &NewContact {
                email: Some(Email::parse(email).unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

async fn contact_of(srv: &TestServer, email: &str) -> vestnik_domain::Contact {
    srv.store()
        .find_contact(&srv.site_id, Some(&Email::parse(email).unwrap()), None)
        .await
        .unwrap()
        .unwrap()
}

fn post(srv: &TestServer, path: &str) -> reqwest::RequestBuilder {
    srv.client
        .post(srv.url(path))
        .header("api-key", &srv.api_key)
        .header("leadhit-site-id", srv.site_id.as_str())
        .header("content-type", "application/json")
}

mod cases {
    use super::*;

    pub async fn update_multilead_answers_exactly_as_the_seed(srv: TestServer) {
        add_contact(&srv, "example@mail.ru").await;
        let body = json!({"email": "example@mail.ru", "status": "contacted", "site_id": srv.site_id.as_str()});
        let res = post(&srv, "/client/update_multilead/")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.text().await.unwrap(),
            r#"{"status": "success", "message": "Multilead with email example@mail.ru was updated. New status - contacted."}"#
        );
        assert_eq!(
            contact_of(&srv, "example@mail.ru").await.status,
            LeadStatus::Contacted
        );

        // Email matching ignores case, as identity does everywhere; the path works without the slash.
        let body = json!({"email": "Example@Mail.RU", "status": "wholesale", "site_id": srv.site_id.as_str()});
        let res = post(&srv, "/client/update_multilead")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            contact_of(&srv, "example@mail.ru").await.status,
            LeadStatus::Wholesale
        );

        let body = json!({"email": "nobody@mail.ru", "status": "contacted", "site_id": srv.site_id.as_str()});
        let res = post(&srv, "/client/update_multilead/")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            res.text().await.unwrap(),
            r#"{"detail": "Multilead not found"}"#
        );
    }

    pub async fn update_multilead_validates_like_fastapi(srv: TestServer) {
        add_contact(&srv, "example@mail.ru").await;
        let body =
            json!({"email": "example@mail.ru", "status": "vip", "site_id": srv.site_id.as_str()});
        let res = post(&srv, "/client/update_multilead/")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["detail"][0]["loc"], json!(["body", "status"]));
        assert_eq!(v["detail"][0]["type"], "type_error.enum");
        assert!(
            v["detail"][0]["msg"]
                .as_str()
                .unwrap()
                .contains("'wholesale'")
        );
        assert_eq!(
            contact_of(&srv, "example@mail.ru").await.status,
            LeadStatus::New,
            "nothing changed"
        );

        let res = post(&srv, "/client/update_multilead/")
            .json(&json!({"email": "not-an-email", "extra": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let v: Value = res.json().await.unwrap();
        let locs: Vec<Value> = v["detail"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["loc"].clone())
            .collect();
        for loc in [
            json!(["body", "extra"]),
            json!(["body", "status"]),
            json!(["body", "site_id"]),
            json!(["body", "email"]),
        ] {
            assert!(locs.contains(&loc), "{loc} missing from {v}");
        }

        let res = post(&srv, "/client/update_multilead/")
            .body("{\"email\": ")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["detail"][0]["type"], "value_error.jsondecode");
    }

    pub async fn multilead_endpoints_refuse_other_sites(srv: TestServer) {
        add_contact(&srv, "example@mail.ru").await;
        let (other, other_key) = srv.store().create_site("Other").await.unwrap();
        // A body naming another site.
        let body = json!({"email": "example@mail.ru", "status": "contacted", "site_id": other.id.as_str()});
        let res = post(&srv, "/client/update_multilead/")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(res.json::<Value>().await.unwrap()["detail"].is_string());
        // Another site's key, even with this site's id in the body, cannot see this contact.
        let res = srv
            .client
            .post(srv.url("/client/update_multilead/"))
            .header("api-key", other_key.plain.as_str())
            .json(&json!({"email": "example@mail.ru", "status": "contacted", "site_id": other.id.as_str()}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let res = srv
            .client
            .post(srv.url("/client/multilead_bonus"))
            .header("api-key", other_key.plain.as_str())
            .json(&json!([{"email": "example@mail.ru", "bonus": 5}]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap()[0]["status"], "error");
        let c = contact_of(&srv, "example@mail.ru").await;
        assert_eq!((c.status, c.bonus.as_str()), (LeadStatus::New, "0"));

        let res = srv
            .client
            .post(srv.url("/client/multilead_bonus"))
            .json(&json!([]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(
            res.json::<Value>().await.unwrap()["detail"]
                .as_str()
                .unwrap()
                .contains("api-key")
        );
    }

    pub async fn multilead_bonus_answers_exactly_as_the_seed(srv: TestServer) {
        add_contact(&srv, "exists_lead@mail.ru").await;
        add_contact(&srv, "second@mail.ru").await;
        let res = post(&srv, "/client/multilead_bonus")
            .body(r#"[{"email": "not_exists_lead@mail.ru", "bonus": 10.00}, {"email": "exists_lead@mail.ru", "bonus": 123.00}, {"email": "second@mail.ru", "bonus": "7.5"}]"#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.text().await.unwrap(),
            concat!(
                r#"[{"status": "success", "message": "Bonuses for multilead with email exists_lead@mail.ru updated."}, "#,
                r#"{"status": "success", "message": "Bonuses for multilead with email second@mail.ru updated."}, "#,
                r#"{"status": "error", "message": "multilead with email not_exists_lead@mail.ru not found"}]"#
            )
        );
        assert_eq!(
            contact_of(&srv, "exists_lead@mail.ru").await.bonus.as_str(),
            "123.00",
            "kept as sent"
        );
        assert_eq!(
            contact_of(&srv, "second@mail.ru").await.bonus.as_str(),
            "7.5"
        );

        for empty in ["", "  ", "[]"] {
            let res = post(&srv, "/client/multilead_bonus/")
                .body(empty)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST);
            assert_eq!(res.text().await.unwrap(), r#"{"detail": "Body is empty"}"#);
        }
    }

    pub async fn an_invalid_bonus_item_updates_nothing(srv: TestServer) {
        add_contact(&srv, "exists_lead@mail.ru").await;
        let res = post(&srv, "/client/multilead_bonus")
            .json(&json!([{"email": "exists_lead@mail.ru", "bonus": 5}, {"email": "x@mail.ru", "bonus": "lots"}, {"bonus": 1}]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let v: Value = res.json().await.unwrap();
        assert_eq!(
            v["detail"],
            json!([
                {"loc": ["body", 1, "bonus"], "msg": "value is not a valid float", "type": "type_error.float"},
                {"loc": ["body", 2, "email"], "msg": "field required", "type": "value_error.missing"}
            ])
        );
        assert_eq!(
            contact_of(&srv, "exists_lead@mail.ru").await.bonus.as_str(),
            "0",
            "nothing half-written"
        );

        let res = post(&srv, "/client/multilead_bonus")
            .json(&json!({"email": "a@b.ru"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            res.json::<Value>().await.unwrap()["detail"][0]["type"],
            "type_error.list"
        );
    }
}

vestnik_testkit::server_cases_on_both_backends!(
    update_multilead_answers_exactly_as_the_seed,
    update_multilead_validates_like_fastapi,
    multilead_endpoints_refuse_other_sites,
    multilead_bonus_answers_exactly_as_the_seed,
    an_invalid_bonus_item_updates_nothing,
);
