//! Email templates on both backends: versions kept, names unique per site, sites apart.

use std::sync::Arc;
use vestnik_domain::template::{TemplateContent, TemplateId, TemplateKind};
use vestnik_domain::{SiteId, Store, StoreError};
use vestnik_testkit::TestDb;

async fn new_site(s: &Arc<dyn Store>, name: &str) -> SiteId {
    s.create_site(name).await.unwrap().0.id
}

fn content(subject: &str, body: &str) -> TemplateContent {
    TemplateContent {
        subject: subject.into(),
        body: body.into(),
        kind: TemplateKind::Mjml,
    }
}

mod cases {
    use super::*;

    pub async fn every_save_is_a_version_and_old_ones_stay_readable(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        let first = s
            .create_template(
                &site,
                " Welcome ",
                &content("Привет, {{ lead.name }}", "<mjml>1</mjml>"),
                "a@shop.ru",
            )
            .await
            .unwrap();
        assert_eq!(
            (first.name.as_str(), first.version, first.current_version),
            ("Welcome", 1, 1)
        );
        let second = s
            .save_template_version(
                &site,
                first.id,
                &content("Hi", "<mjml>2</mjml>"),
                "b@shop.ru",
            )
            .await
            .unwrap();
        assert_eq!((second.version, second.current_version), (2, 2));
        assert_eq!(second.content.body, "<mjml>2</mjml>");
        assert_eq!(second.saved_by, "b@shop.ru");
        let old = s.get_template(&site, first.id, Some(1)).await.unwrap();
        assert_eq!(old.content.subject, "Привет, {{ lead.name }}");
        assert_eq!(old.current_version, 2);
        let versions = s.template_versions(&site, first.id).await.unwrap();
        assert_eq!(
            versions.iter().map(|v| v.version).collect::<Vec<_>>(),
            [2, 1]
        );
        let missing = s.get_template(&site, first.id, Some(3)).await;
        assert!(
            matches!(missing, Err(StoreError::NotFound(_))),
            "{missing:?}"
        );
        let listed = s.list_templates(&site).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].version, 2);
    }

    pub async fn names_are_unique_per_site_and_sites_stay_apart(db: TestDb) {
        let s = db.store();
        let mine = new_site(&s, "Mine").await;
        let theirs = new_site(&s, "Theirs").await;
        let t = s
            .create_template(&mine, "Welcome", &content("", "<p>x</p>"), "cli")
            .await
            .unwrap();
        let dup = s
            .create_template(&mine, "Welcome", &content("", "<p>y</p>"), "cli")
            .await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
        s.create_template(&theirs, "Welcome", &content("", "<p>z</p>"), "cli")
            .await
            .unwrap();
        for result in [
            s.get_template(&theirs, t.id, None).await.map(|_| ()),
            s.save_template_version(&theirs, t.id, &content("", "<p>!</p>"), "cli")
                .await
                .map(|_| ()),
            s.template_versions(&theirs, t.id).await.map(|_| ()),
        ] {
            assert!(matches!(result, Err(StoreError::NotFound(_))), "{result:?}");
        }
        assert_eq!(s.get_template(&mine, t.id, None).await.unwrap().version, 1);
        let none = s.get_template(&mine, TemplateId(999_999), None).await;
        assert!(matches!(none, Err(StoreError::NotFound(_))));
    }
}

vestnik_testkit::db_cases_on_both_backends!(
    every_save_is_a_version_and_old_ones_stay_readable,
    names_are_unique_per_site_and_sites_stay_apart,
);
