//! Contact upserts, list membership by identity, and GDPR export/erasure, on SQLite and
//! PostgreSQL. Cases live in `cases`; the macro at the bottom instantiates each per backend.

use serde_json::json;
use vestnik_domain::contact::{ContactUpsert, OverwriteRule, UpsertOutcome};
use vestnik_domain::store::AuditEntry;
use vestnik_domain::{
    ContactFields, ContactId, Email, NewContact, Phone, SiteId, Store, StoreError, Subscription,
};
use vestnik_testkit::{Backend, TestDb};

/// Runs SQL on a connection of its own: events and orders are written by other features'
/// code paths, and these tests only need rows to exist.
async fn raw(db: &TestDb, sql: String) {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql);
    match db.backend() {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url()).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url()).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
        }
    }
}

async fn raw_count(db: &TestDb, sql: String) -> i64 {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql);
    match db.backend() {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url()).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url()).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
    }
}

/// A site with ivan@shop.ru (returned first) and stranger@shop.ru, and their events and
/// orders as `seed_events_and_orders` leaves them.
async fn ivan_and_a_stranger_with_history(db: &TestDb) -> (SiteId, ContactId, ContactId) {
    let s = db.store();
    let site = site(&*s).await;
    let r = s
        .upsert_contacts(
            &site,
            &[by_email("ivan@shop.ru"), by_email("stranger@shop.ru")],
            OverwriteRule::Overwrite,
        )
        .await
        .unwrap();
    let id = r[0].as_ref().unwrap().0.id;
    let stranger = r[1].as_ref().unwrap().0.id;
    seed_events_and_orders(db, &site, id, "ivan@shop.ru", stranger).await;
    (site, id, stranger)
}

/// Two events and two orders of the contact (one order tied only by email), and one event and
/// one order of somebody else.
async fn seed_events_and_orders(
    db: &TestDb,
    site: &SiteId,
    id: ContactId,
    email: &str,
    stranger: ContactId,
) {
    raw(
        db,
        format!(
            "INSERT INTO events (site_id, event_type, key_value, contact_id, params, received_at) VALUES \
             ('{site}', 'productViewed', '{email}', {id}, '{{\"product\": {{\"productId\": \"1\"}}}}', 1), \
             ('{site}', 'searchRequest', '{email}', {id}, '{{\"search\": \"boots\"}}', 2), \
             ('{site}', 'pageViewed', 'stranger@shop.ru', {stranger}, '{{}}', 3); \
             INSERT INTO orders (site_id, order_id, contact_id, email, phone, items, total, created_at, updated_at) VALUES \
             ('{site}', 'A-1', {id}, '{email}', '+79161112233', '[]', '100', 1, 1), \
             ('{site}', 'A-2', NULL, '{email}', NULL, '[]', '200', 2, 2), \
             ('{site}', 'B-1', {stranger}, 'stranger@shop.ru', NULL, '[]', '300', 3, 3);"
        ),
    )
    .await;
    // What the event writer does besides: on SQLite a contact's events are found through
    // event_contacts (on PostgreSQL, contact_events is a view of events itself), and the
    // states include every event so far.
    if db.backend() == Backend::Sqlite {
        raw(
            db,
            "INSERT INTO event_contacts (contact_id, event_id) \
             SELECT contact_id, id FROM events WHERE contact_id IS NOT NULL; \
             UPDATE ingest_progress SET states_through = (SELECT max(id) FROM events)"
                .to_string(),
        )
        .await;
    }
}

fn email(e: &str) -> Email {
    Email::parse(e).unwrap()
}

fn phone(p: &str) -> Phone {
    Phone::parse(p).unwrap()
}

fn by_email(e: &str) -> ContactUpsert {
    ContactUpsert {
        email: Some(email(e)),
        ..Default::default()
    }
}

fn audit(site: &SiteId, action: &str, id: ContactId) -> AuditEntry {
    AuditEntry {
        site_id: site.clone(),
        actor: "api_key:1".into(),
        action: action.into(),
        subject: format!("contact:{id}"),
        details: json!({}),
    }
}

async fn site(s: &dyn Store) -> SiteId {
    s.create_site("Shop").await.unwrap().0.id
}

mod cases {
    use super::*;

    pub async fn upserts_create_then_update_then_leave_unchanged(db: TestDb) {
        let s = db.store();
        let site = site(&*s).await;
        let mut item = by_email("Ivan@Shop.ru");
        item.fields = ContactFields {
            name: Some("Ivan".into()),
            ..Default::default()
        };
        let first = s
            .upsert_contacts(&site, std::slice::from_ref(&item), OverwriteRule::Overwrite)
            .await
            .unwrap();
        let (created, outcome) = first.into_iter().next().unwrap().unwrap();
        assert_eq!(outcome, UpsertOutcome::Created);
        assert_eq!(created.email, Some(email("ivan@shop.ru")));

        let again = s
            .upsert_contacts(&site, std::slice::from_ref(&item), OverwriteRule::Overwrite)
            .await
            .unwrap();
        assert_eq!(again[0].as_ref().unwrap().1, UpsertOutcome::Unchanged);

        item.phone = Some(phone("8 916 123 45 67"));
        item.fields.city = Some("Moscow".into());
        let updated = s
            .upsert_contacts(&site, &[item], OverwriteRule::Overwrite)
            .await
            .unwrap();
        let (c, outcome) = updated.into_iter().next().unwrap().unwrap();
        assert_eq!(outcome, UpsertOutcome::Updated);
        assert_eq!(c.id, created.id, "matched, not duplicated");
        assert_eq!(c.phone, Some(phone("+79161234567")));
        assert_eq!(s.count_contacts(&site).await.unwrap(), 1);

        // Matching by phone alone finds the same person.
        let by_phone = ContactUpsert {
            phone: Some(phone("+7 916 123-45-67")),
            ..Default::default()
        };
        let r = s
            .upsert_contacts(&site, &[by_phone], OverwriteRule::Overwrite)
            .await
            .unwrap();
        assert_eq!(r[0].as_ref().unwrap().0.id, created.id);
    }

    pub async fn fill_empty_and_never_respect_what_is_stored(db: TestDb) {
        let s = db.store();
        let site = site(&*s).await;
        s.insert_contact(
            &site,
            &NewContact {
                email: Some(email("olga@shop.ru")),
                fields: ContactFields {
                    name: Some("Olga".into()),
                    ..Default::default()
                },
                email_subscription: Subscription::Unsubscribed,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let mut item = by_email("olga@shop.ru");
        item.fields.name = Some("Helga".into());
        item.fields.city = Some("Kazan".into());
        item.email_subscription = Some(Subscription::Subscribed);

        let never = s
            .upsert_contacts(&site, std::slice::from_ref(&item), OverwriteRule::Never)
            .await
            .unwrap();
        let (c, outcome) = never.into_iter().next().unwrap().unwrap();
        assert_eq!(outcome, UpsertOutcome::Unchanged);
        assert_eq!(c.fields.city, None);

        let fill = s
            .upsert_contacts(&site, &[item], OverwriteRule::FillEmpty)
            .await
            .unwrap();
        let (c, outcome) = fill.into_iter().next().unwrap().unwrap();
        assert_eq!(outcome, UpsertOutcome::Updated);
        assert_eq!(c.fields.name.as_deref(), Some("Olga"));
        assert_eq!(c.fields.city.as_deref(), Some("Kazan"));
        assert_eq!(c.email_subscription, Subscription::Unsubscribed);
        let stored = s.get_contact(&site, c.id).await.unwrap();
        assert_eq!(stored, c, "what was answered is what was stored");
    }

    pub async fn a_failing_item_stores_nothing_and_does_not_stop_the_others(db: TestDb) {
        let s = db.store();
        let site = site(&*s).await;
        s.create_list(&site, "Newsletter").await.unwrap();
        s.insert_contact(
            &site,
            &NewContact {
                phone: Some(phone("+79160000001")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        s.insert_contact(
            &site,
            &NewContact {
                email: Some(email("taken@shop.ru")),
                ..Default::default()
            },
        )
        .await
        .unwrap();

        let mut unknown_list = by_email("new@shop.ru");
        unknown_list.lists = vec!["Newsletter".into(), "Nwesletter".into()];
        let mut two_people = by_email("taken@shop.ru");
        two_people.phone = Some(phone("+79160000001"));
        let mut good = by_email("good@shop.ru");
        good.lists = vec!["Newsletter".into()];
        let results = s
            .upsert_contacts(
                &site,
                &[unknown_list, two_people, ContactUpsert::default(), good],
                OverwriteRule::Overwrite,
            )
            .await
            .unwrap();
        assert_eq!(results.len(), 4, "one result per item, in order");
        match &results[0] {
            Err(StoreError::Invalid(v)) => {
                assert_eq!(v.field, "lists");
                assert!(v.message.contains("Nwesletter"), "{v}");
            }
            other => panic!("unknown list must fail the item: {other:?}"),
        }
        assert!(matches!(results[1], Err(StoreError::Conflict(_))));
        assert!(matches!(results[2], Err(StoreError::Invalid(_))));
        let (good, outcome) = results[3].as_ref().unwrap();
        assert_eq!(*outcome, UpsertOutcome::Created);

        // The failed item left no contact behind, though its insert ran before the bad list.
        assert!(
            s.find_contact(&site, Some(&email("new@shop.ru")), None)
                .await
                .unwrap()
                .is_none()
        );
        let lists = s.contact_lists(&site, good.id).await.unwrap();
        assert_eq!(lists.len(), 1);
        let list = &lists[0];
        let members = s.list_members(&site, list.id, None, 100).await.unwrap();
        assert_eq!(members, vec![good.id], "only the good item joined the list");
        assert_eq!(s.count_contacts(&site).await.unwrap(), 3);
    }

    pub async fn joining_a_list_counts_as_an_update(db: TestDb) {
        let s = db.store();
        let site = site(&*s).await;
        s.create_list(&site, "VIP").await.unwrap();
        s.upsert_contacts(&site, &[by_email("a@shop.ru")], OverwriteRule::Overwrite)
            .await
            .unwrap();
        let mut item = by_email("a@shop.ru");
        item.lists = vec!["VIP".into()];
        let r = s
            .upsert_contacts(&site, std::slice::from_ref(&item), OverwriteRule::Never)
            .await
            .unwrap();
        assert_eq!(r[0].as_ref().unwrap().1, UpsertOutcome::Updated);
        let r = s
            .upsert_contacts(&site, &[item], OverwriteRule::Never)
            .await
            .unwrap();
        assert_eq!(r[0].as_ref().unwrap().1, UpsertOutcome::Unchanged);
    }

    pub async fn upserts_never_match_another_sites_contacts(db: TestDb) {
        let s = db.store();
        let a = site(&*s).await;
        let b = s.create_site("Other").await.unwrap().0.id;
        s.create_list(&b, "Only in B").await.unwrap();
        let in_a = s
            .upsert_contacts(&a, &[by_email("x@shop.ru")], OverwriteRule::Overwrite)
            .await
            .unwrap();
        let in_b = s
            .upsert_contacts(&b, &[by_email("x@shop.ru")], OverwriteRule::Overwrite)
            .await
            .unwrap();
        assert_eq!(in_b[0].as_ref().unwrap().1, UpsertOutcome::Created);
        assert_ne!(
            in_a[0].as_ref().unwrap().0.id,
            in_b[0].as_ref().unwrap().0.id
        );
        let mut item = by_email("x@shop.ru");
        item.lists = vec!["Only in B".into()];
        let r = s
            .upsert_contacts(&a, &[item], OverwriteRule::Overwrite)
            .await
            .unwrap();
        assert!(matches!(r[0], Err(StoreError::Invalid(_))));
    }

    pub async fn list_membership_by_identity_reports_who_matched_nobody(db: TestDb) {
        let s = db.store();
        let a = site(&*s).await;
        let b = s.create_site("Other").await.unwrap().0.id;
        let list = s.create_list(&a, "Promo").await.unwrap();
        let other_list = s.create_list(&b, "Promo").await.unwrap();
        s.upsert_contacts(
            &a,
            &[
                by_email("one@shop.ru"),
                ContactUpsert {
                    email: Some(email("two@shop.ru")),
                    phone: Some(phone("+79160000002")),
                    ..Default::default()
                },
            ],
            OverwriteRule::Overwrite,
        )
        .await
        .unwrap();
        s.upsert_contacts(&b, &[by_email("b-only@shop.ru")], OverwriteRule::Overwrite)
            .await
            .unwrap();

        let emails = [
            email("one@shop.ru"),
            email("two@shop.ru"),
            email("one@shop.ru"),
            email("b-only@shop.ru"),
            email("ghost@shop.ru"),
        ];
        let phones = [phone("+79160000002"), phone("+79169999999")];
        let added = s
            .add_to_list_by_identity(&a, list.id, &emails, &phones)
            .await
            .unwrap();
        assert_eq!(
            added.matched, 2,
            "duplicates and the same person by phone count once"
        );
        assert_eq!(added.changed, 2);
        assert_eq!(
            added.unmatched_emails,
            vec![email("b-only@shop.ru"), email("ghost@shop.ru")],
            "another site's contact is as unknown as a ghost"
        );
        assert_eq!(added.unmatched_phones, vec![phone("+79169999999")]);

        let again = s
            .add_to_list_by_identity(&a, list.id, &emails[..1], &[])
            .await
            .unwrap();
        assert_eq!((again.matched, again.changed), (1, 0));

        let removed = s
            .remove_from_list_by_identity(&a, list.id, &[], &[phone("+79160000002")])
            .await
            .unwrap();
        assert_eq!((removed.matched, removed.changed), (1, 1));
        assert_eq!(
            s.list_members(&a, list.id, None, 10).await.unwrap().len(),
            1
        );

        assert!(matches!(
            s.add_to_list_by_identity(&a, other_list.id, &emails, &[])
                .await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            s.get_list(&a, other_list.id).await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(s.get_list(&a, list.id).await.unwrap(), list);
    }

    pub async fn export_returns_everything_and_is_audited(db: TestDb) {
        let s = db.store();
        let site = site(&*s).await;
        s.create_list(&site, "Newsletter").await.unwrap();
        let mut item = by_email("ivan@shop.ru");
        item.lists = vec!["Newsletter".into()];
        item.custom_fields = json!({"size": "M"}).as_object().cloned().unwrap();
        let r = s
            .upsert_contacts(&site, &[item], OverwriteRule::Overwrite)
            .await
            .unwrap();
        let id = r[0].as_ref().unwrap().0.id;

        let export = s
            .export_contact(&site, id, &audit(&site, "contact.export", id))
            .await
            .unwrap();
        assert_eq!(export.contact.id, id);
        assert_eq!(export.lists.len(), 1);
        assert_eq!(export.state.contact_id, Some(id));
        assert!(export.events.is_empty() && export.orders.is_empty());

        let log = s.audit_log(&site, 10).await.unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].entry.action, "contact.export");
        assert_eq!(log[0].entry.subject, format!("contact:{id}"));
        assert!(!serde_json::to_string(&log[0]).unwrap().contains("ivan@"));

        let other = s.create_site("Other").await.unwrap().0.id;
        assert!(matches!(
            s.export_contact(&other, id, &audit(&other, "contact.export", id))
                .await,
            Err(StoreError::NotFound(_))
        ));
        assert!(
            s.audit_log(&other, 10).await.unwrap().is_empty(),
            "a refused export writes nothing"
        );
    }

    pub async fn export_and_erasure_cover_the_persons_events_and_orders(db: TestDb) {
        let s = db.store();
        let (site, id, _stranger) = ivan_and_a_stranger_with_history(&db).await;

        let export = s
            .export_contact(&site, id, &audit(&site, "contact.export", id))
            .await
            .unwrap();
        assert_eq!(export.events.len(), 2);
        assert_eq!(export.events[0]["params"]["product"]["productId"], "1");
        let order_ids: Vec<&str> = export
            .orders
            .iter()
            .filter_map(|o| o["order_id"].as_str())
            .collect();
        assert_eq!(order_ids, vec!["A-1", "A-2"]);

        let report = s
            .erase_contact(&site, id, &audit(&site, "contact.erase", id))
            .await
            .unwrap();
        assert_eq!((report.events_deleted, report.orders_anonymised), (2, 2));
        assert_eq!(
            raw_count(&db, "SELECT count(*) FROM events".into()).await,
            1,
            "the stranger's event stays"
        );
        assert_eq!(
            raw_count(&db, "SELECT count(*) FROM orders".into()).await,
            3,
            "orders stay for accounting"
        );
        assert_eq!(
            raw_count(&db, "SELECT count(*) FROM orders WHERE email = 'ivan@shop.ru' OR phone = '+79161112233'".into()).await,
            0,
            "no order keeps the person's email or phone"
        );
        assert_eq!(
            raw_count(
                &db,
                "SELECT count(*) FROM orders WHERE email = 'stranger@shop.ru'".into()
            )
            .await,
            1
        );
    }

    pub async fn deleting_a_contact_deletes_its_events_and_no_one_elses(db: TestDb) {
        let s = db.store();
        let (site, id, stranger) = ivan_and_a_stranger_with_history(&db).await;

        assert!(s.delete_contact(&site, id).await.unwrap());
        assert_eq!(
            raw_count(&db, "SELECT count(*) FROM events".into()).await,
            1,
            "only the stranger's event stays"
        );
        assert_eq!(
            raw_count(
                &db,
                format!("SELECT count(*) FROM contact_events WHERE contact_id = {id}")
            )
            .await,
            0
        );
        let export = s
            .export_contact(&site, stranger, &audit(&site, "contact.export", stranger))
            .await
            .unwrap();
        assert_eq!(export.events.len(), 1);
    }

    pub async fn erasure_removes_the_person_and_is_audited(db: TestDb) {
        let s = db.store();
        let site = site(&*s).await;
        let other = s.create_site("Other").await.unwrap().0.id;
        let r = s
            .upsert_contacts(&site, &[by_email("gone@shop.ru")], OverwriteRule::Overwrite)
            .await
            .unwrap();
        let id = r[0].as_ref().unwrap().0.id;

        assert!(matches!(
            s.erase_contact(&other, id, &audit(&other, "contact.erase", id))
                .await,
            Err(StoreError::NotFound(_))
        ));
        assert!(
            s.get_contact(&site, id).await.is_ok(),
            "a foreign key erases nothing"
        );

        let report = s
            .erase_contact(&site, id, &audit(&site, "contact.erase", id))
            .await
            .unwrap();
        assert_eq!(report.contact_id, id);
        assert!(matches!(
            s.get_contact(&site, id).await,
            Err(StoreError::NotFound(_))
        ));
        let log = s.audit_log(&site, 10).await.unwrap();
        assert_eq!(log[0].entry.action, "contact.erase");
        assert_eq!(log[0].entry.details["events_deleted"], 0);
        assert!(!serde_json::to_string(&log[0]).unwrap().contains("gone@"));
        assert!(matches!(
            s.erase_contact(&site, id, &audit(&site, "contact.erase", id))
                .await,
            Err(StoreError::NotFound(_))
        ));
    }
}

vestnik_testkit::db_cases_on_both_backends!(
    upserts_create_then_update_then_leave_unchanged,
    fill_empty_and_never_respect_what_is_stored,
    a_failing_item_stores_nothing_and_does_not_stop_the_others,
    joining_a_list_counts_as_an_update,
    upserts_never_match_another_sites_contacts,
    list_membership_by_identity_reports_who_matched_nobody,
    export_returns_everything_and_is_audited,
    erasure_removes_the_person_and_is_audited,
    export_and_erasure_cover_the_persons_events_and_orders,
    deleting_a_contact_deletes_its_events_and_no_one_elses,
);
