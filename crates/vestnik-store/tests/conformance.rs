//! The store conformance suite: every case runs against SQLite and PostgreSQL.
//!
//! Cases live in `cases`; the macro at the bottom instantiates each one per backend.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use vestnik_domain::{
    ContactFields, Email, JobState, LeadStatus, NewContact, NewJob, Phone, PlainApiKey, Role,
    SiteRole, Store, StoreError, Subscription, Timestamp,
};
use vestnik_testkit::TestDb;

fn contact(email: &str) -> NewContact {
    NewContact {
        email: Some(Email::parse(email).unwrap()),
        ..Default::default()
    }
}

mod cases {
    use super::*;

    pub async fn creates_a_site_with_a_working_first_key(db: TestDb) {
        let s = db.store();
        let (site, key) = s.create_site("  Shop  ").await.unwrap();
        assert_eq!(site.name, "Shop");
        assert!(key.plain.as_str().starts_with(&format!("{}:", site.id)));
        let found = s.find_api_key(&key.plain.hash()).await.unwrap().unwrap();
        assert_eq!(found.site_id, site.id);
        assert!(found.is_active());
        assert_eq!(s.get_site(&site.id).await.unwrap(), site);
        assert!(s.list_sites().await.unwrap().contains(&site));
        assert!(
            s.find_api_key(&PlainApiKey::from_header("nope").hash())
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            s.create_site("   ").await,
            Err(StoreError::Invalid(_))
        ));
    }

    pub async fn revokes_keys_only_within_their_site(db: TestDb) {
        let s = db.store();
        let a = s.create_site("A").await.unwrap().0.id;
        let b = s.create_site("B").await.unwrap().0.id;
        let key = s.create_api_key(&a, "crm").await.unwrap();
        assert!(matches!(
            s.revoke_api_key(&b, key.record.id).await,
            Err(StoreError::NotFound(_))
        ));
        let revoked = s.revoke_api_key(&a, key.record.id).await.unwrap();
        let first = revoked.revoked_at.expect("revoked");
        tokio::time::sleep(Duration::from_millis(5)).await;
        let again = s.revoke_api_key(&a, key.record.id).await.unwrap();
        assert_eq!(again.revoked_at, Some(first));
        let found = s.find_api_key(&key.plain.hash()).await.unwrap().unwrap();
        assert!(!found.is_active());
        let keys = s.list_api_keys(&a).await.unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].label, "crm");
        assert_eq!(s.list_api_keys(&b).await.unwrap().len(), 1);
    }

    pub async fn creates_users_with_roles_atomically(db: TestDb) {
        let s = db.store();
        let site = s.create_site("Shop").await.unwrap().0.id;
        let email = Email::parse("owner@shop.ru").unwrap();
        let missing = vestnik_domain::SiteId::generate();
        let err = s
            .create_user(
                &email,
                "hash",
                &[
                    SiteRole {
                        site_id: site.clone(),
                        role: Role::Owner,
                    },
                    SiteRole {
                        site_id: missing,
                        role: Role::Viewer,
                    },
                ],
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
        assert!(
            s.find_user_by_email(&email).await.unwrap().is_none(),
            "no half-created user"
        );

        let user = s
            .create_user(
                &email,
                "hash",
                &[SiteRole {
                    site_id: site.clone(),
                    role: Role::Editor,
                }],
            )
            .await
            .unwrap();
        assert!(matches!(
            s.create_user(&email, "hash", &[]).await,
            Err(StoreError::Conflict(_))
        ));
        s.set_role(user.id, &site, Role::Owner).await.unwrap();
        assert_eq!(
            s.user_roles(user.id).await.unwrap(),
            vec![SiteRole {
                site_id: site.clone(),
                role: Role::Owner
            }]
        );
        s.set_password(user.id, "hash2").await.unwrap();
        let (found, hash) = s.find_user_by_email(&email).await.unwrap().unwrap();
        assert_eq!((found.id, hash.as_str()), (user.id, "hash2"));

        let now = Timestamp::now();
        s.create_session(user.id, "tok", now.plus(Duration::from_secs(60)))
            .await
            .unwrap();
        assert_eq!(
            s.find_session("tok", now).await.unwrap().map(|u| u.id),
            Some(user.id)
        );
        assert!(
            s.find_session("tok", now.plus(Duration::from_secs(61)))
                .await
                .unwrap()
                .is_none()
        );
        s.delete_session("tok").await.unwrap();
        assert!(s.find_session("tok", now).await.unwrap().is_none());
    }

    pub async fn stores_every_contact_field_and_keeps_sites_apart(db: TestDb) {
        let s = db.store();
        let a = s.create_site("A").await.unwrap().0.id;
        let b = s.create_site("B").await.unwrap().0.id;
        let mut custom = serde_json::Map::new();
        custom.insert("loyalty".into(), serde_json::json!({"level": 2}));
        let new = NewContact {
            email: Some(Email::parse("Ivan@Shop.ru").unwrap()),
            phone: Some(Phone::parse("+7 916 123-45-67").unwrap()),
            fields: ContactFields {
                name: Some("Иван".into()),
                last_name: Some("Петров".into()),
                position: Some("CTO".into()),
                region: Some("Московская область".into()),
                country: Some("Россия".into()),
                city: Some("Москва".into()),
                address: Some("ул. Тверская, 1".into()),
                company: Some("ООО Ромашка".into()),
                birthday: Some("1990-02-28".into()),
                sex: Some("male".into()),
            },
            status: LeadStatus::Regular,
            bonus: vestnik_domain::Bonus::from_f64(150.1).unwrap(),
            custom_fields: custom,
            tags: vec!["vip".into(), "vip".into(), "b2b".into()],
            email_subscription: Subscription::Subscribed,
            sms_subscription: Subscription::Unsubscribed,
        };
        let c = s.insert_contact(&a, &new).await.unwrap();
        assert_eq!(c.email.as_ref().unwrap().as_str(), "ivan@shop.ru");
        assert_eq!(c.fields, new.fields);
        assert_eq!(c.bonus.as_str(), "150.1");
        assert_eq!(c.tags, vec!["vip".to_string(), "b2b".to_string()]);
        assert_eq!(c.custom_fields["loyalty"]["level"], 2);
        assert_eq!(c.sms_subscription, Subscription::Unsubscribed);
        assert_eq!(s.get_contact(&a, c.id).await.unwrap(), c);

        let by_phone = s
            .find_contact(&a, None, Some(&Phone::parse("89161234567").unwrap()))
            .await
            .unwrap();
        assert_eq!(by_phone.map(|x| x.id), Some(c.id));
        assert!(
            s.find_contact(&b, new.email.as_ref(), None)
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            s.get_contact(&b, c.id).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(!s.delete_contact(&b, c.id).await.unwrap());

        assert!(matches!(
            s.insert_contact(&a, &contact("ivan@shop.ru")).await,
            Err(StoreError::Conflict(_))
        ));
        // The same person may be a contact of another site.
        s.insert_contact(&b, &contact("ivan@shop.ru"))
            .await
            .unwrap();

        let mut changed = c.clone();
        changed.status = LeadStatus::Wholesale;
        changed.fields.city = Some("Казань".into());
        let updated = s.update_contact(&a, &changed).await.unwrap();
        assert_eq!(updated.status, LeadStatus::Wholesale);
        assert_eq!(updated.fields.city.as_deref(), Some("Казань"));
        assert!(updated.updated_at >= c.updated_at);
        assert!(matches!(
            s.update_contact(&b, &changed).await,
            Err(StoreError::NotFound(_))
        ));

        assert!(s.delete_contact(&a, c.id).await.unwrap());
        assert_eq!(s.count_contacts(&a).await.unwrap(), 0);
        assert_eq!(s.count_contacts(&b).await.unwrap(), 1);
    }

    pub async fn sets_status_and_bonuses_by_email_within_the_site(db: TestDb) {
        let s = db.store();
        let a = s.create_site("A").await.unwrap().0.id;
        let b = s.create_site("B").await.unwrap().0.id;
        let known = Email::parse("known@shop.ru").unwrap();
        let unknown = Email::parse("unknown@shop.ru").unwrap();
        s.insert_contact(&a, &contact("known@shop.ru"))
            .await
            .unwrap();
        assert!(
            s.set_status_by_email(&a, &known, LeadStatus::Wholesale)
                .await
                .unwrap()
        );
        assert!(
            !s.set_status_by_email(&a, &unknown, LeadStatus::Wholesale)
                .await
                .unwrap()
        );
        assert!(
            !s.set_status_by_email(&b, &known, LeadStatus::Manager)
                .await
                .unwrap()
        );
        let found = s
            .find_contact(&a, Some(&known), None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.status, LeadStatus::Wholesale);

        let bonuses = vec![
            (
                known.clone(),
                vestnik_domain::Bonus::parse("123.00").unwrap(),
            ),
            (unknown.clone(), vestnik_domain::Bonus::parse("10").unwrap()),
        ];
        assert_eq!(
            s.set_bonuses_by_email(&a, &bonuses).await.unwrap(),
            vec![true, false]
        );
        assert_eq!(
            s.set_bonuses_by_email(&b, &bonuses).await.unwrap(),
            vec![false, false]
        );
        let found = s
            .find_contact(&a, Some(&known), None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.bonus.as_str(), "123.00");
    }

    pub async fn a_failed_batch_of_contacts_writes_nothing(db: TestDb) {
        let s = db.store();
        let site = s.create_site("Shop").await.unwrap().0.id;
        let batch = vec![
            contact("a@shop.ru"),
            contact("b@shop.ru"),
            contact("a@shop.ru"),
        ];
        assert!(matches!(
            s.insert_contacts(&site, &batch).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(s.count_contacts(&site).await.unwrap(), 0);
        let ok = s.insert_contacts(&site, &batch[..2]).await.unwrap();
        assert_eq!(ok.len(), 2);
        let nobody = NewContact::default();
        assert!(matches!(
            s.insert_contacts(&site, &[contact("c@shop.ru"), nobody])
                .await,
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(s.count_contacts(&site).await.unwrap(), 2);
    }

    pub async fn lists_hold_members_of_their_own_site_only(db: TestDb) {
        let s = db.store();
        let a = s.create_site("A").await.unwrap().0.id;
        let b = s.create_site("B").await.unwrap().0.id;
        let list = s.create_list(&a, "Newsletter").await.unwrap();
        assert!(matches!(
            s.create_list(&a, " Newsletter ").await,
            Err(StoreError::Conflict(_))
        ));
        s.create_list(&b, "Newsletter").await.unwrap();
        assert_eq!(
            s.find_list(&a, "Newsletter").await.unwrap(),
            Some(list.clone())
        );

        let mine = s
            .insert_contacts(
                &a,
                &(0..1200)
                    .map(|i| contact(&format!("u{i}@shop.ru")))
                    .collect::<Vec<_>>(),
            )
            .await
            .unwrap();
        let theirs = s.insert_contact(&b, &contact("x@shop.ru")).await.unwrap();
        let mut ids: Vec<_> = mine.iter().map(|c| c.id).collect();
        ids.push(theirs.id);
        assert!(matches!(
            s.add_to_list(&a, list.id, &ids).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(
            s.list_members(&a, list.id, None, 10)
                .await
                .unwrap()
                .is_empty(),
            "nothing half-added"
        );
        ids.pop();
        assert_eq!(s.add_to_list(&a, list.id, &ids).await.unwrap(), 1200);
        // Each join is a fact for automation, once.
        let joins = s.pending_outbox(&a, 5000).await.unwrap();
        assert_eq!(joins.len(), 1200);
        assert!(
            joins
                .iter()
                .all(|o| o.topic == "list_join" && o.payload["list_id"] == list.id.0)
        );
        assert_eq!(joins[0].payload["contact_id"], ids[0].0);
        assert_eq!(
            s.add_to_list(&a, list.id, &ids[..10]).await.unwrap(),
            0,
            "re-adding is a no-op"
        );
        assert_eq!(
            s.pending_outbox(&a, 5000).await.unwrap().len(),
            1200,
            "no second join"
        );
        assert!(matches!(
            s.add_to_list(&b, list.id, &[theirs.id]).await,
            Err(StoreError::NotFound(_))
        ));

        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = s.list_members(&a, list.id, after, 500).await.unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().copied();
            paged.extend(page);
        }
        assert_eq!(paged, ids);
        assert!(
            s.list_members(&b, list.id, None, 10)
                .await
                .unwrap()
                .is_empty()
        );

        assert_eq!(
            s.remove_from_list(&a, list.id, &ids[..200]).await.unwrap(),
            200
        );
        assert_eq!(
            s.contact_lists(&a, ids[300]).await.unwrap(),
            vec![list.clone()]
        );
        assert!(s.contact_lists(&a, ids[0]).await.unwrap().is_empty());
        s.delete_contact(&a, ids[300]).await.unwrap();
        let rest = s.list_members(&a, list.id, None, 2000).await.unwrap();
        assert_eq!(rest.len(), 999);
    }

    pub async fn claims_due_jobs_once_and_records_outcomes(db: TestDb) {
        let s = db.store();
        let kinds = vec!["mail".to_string()];
        let now = Timestamp::now();
        let lease = Duration::from_secs(30);
        let id = s
            .enqueue(&NewJob::new("mail", serde_json::json!({"n": 1})).run_at(now))
            .await
            .unwrap();
        s.enqueue(&NewJob::new("other", serde_json::json!({})))
            .await
            .unwrap();
        let later = s
            .enqueue(
                &NewJob::new("mail", serde_json::json!({}))
                    .run_at(now.plus(Duration::from_secs(60))),
            )
            .await
            .unwrap();

        let claimed = s.claim_jobs("a", &kinds, 10, lease, now).await.unwrap();
        assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![id]);
        let job = &claimed[0];
        assert_eq!(
            (job.state, job.attempts, job.lease_owner.as_deref()),
            (JobState::Running, 1, Some("a"))
        );
        assert_eq!(job.payload["n"], 1);
        assert!(
            s.claim_jobs("b", &kinds, 10, lease, now)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            !s.complete_job(id, "b", now).await.unwrap(),
            "only the holder completes"
        );
        assert!(s.complete_job(id, "a", now).await.unwrap());
        let done = s.get_job(id).await.unwrap().unwrap();
        assert_eq!(done.state, JobState::Done);
        assert!(done.finished_at.is_some());

        // The delayed job becomes due at its run_at, not before.
        let at = now.plus(Duration::from_secs(60));
        assert!(
            s.claim_jobs("a", &kinds, 10, lease, at.minus(Duration::from_millis(1)))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            s.claim_jobs("a", &kinds, 10, lease, at).await.unwrap()[0].id,
            later
        );

        let counts = s.job_counts().await.unwrap();
        assert!(counts.contains(&(JobState::Done, 1)));
        assert!(counts.contains(&(JobState::Running, 1)));
        assert!(counts.contains(&(JobState::Pending, 1)));
        assert!(counts.contains(&(JobState::Dead, 0)));
    }

    pub async fn an_expired_lease_passes_the_job_to_another_runner(db: TestDb) {
        let s = db.store();
        let kinds = vec!["k".to_string()];
        let now = Timestamp::now();
        let id = s
            .enqueue(&NewJob::new("k", serde_json::json!({})).run_at(now))
            .await
            .unwrap();
        s.claim_jobs("crashed", &kinds, 1, Duration::from_secs(10), now)
            .await
            .unwrap();
        assert!(
            s.claim_jobs(
                "b",
                &kinds,
                1,
                Duration::from_secs(10),
                now.plus(Duration::from_secs(9))
            )
            .await
            .unwrap()
            .is_empty()
        );
        // A renewed lease is not taken.
        assert_eq!(
            s.extend_leases("crashed", &[id], now.plus(Duration::from_secs(20)))
                .await
                .unwrap(),
            1
        );
        assert!(
            s.claim_jobs(
                "b",
                &kinds,
                1,
                Duration::from_secs(10),
                now.plus(Duration::from_secs(15))
            )
            .await
            .unwrap()
            .is_empty()
        );
        let taken = s
            .claim_jobs(
                "b",
                &kinds,
                1,
                Duration::from_secs(10),
                now.plus(Duration::from_secs(21)),
            )
            .await
            .unwrap();
        assert_eq!(taken[0].id, id);
        assert_eq!(taken[0].attempts, 2);
        assert!(
            !s.complete_job(id, "crashed", now).await.unwrap(),
            "the old holder's outcome is discarded"
        );
        assert_eq!(
            s.extend_leases("crashed", &[id], now.plus(Duration::from_secs(99)))
                .await
                .unwrap(),
            0
        );
        assert!(s.complete_job(id, "b", now).await.unwrap());
    }

    pub async fn failed_jobs_retry_later_or_die(db: TestDb) {
        let s = db.store();
        let kinds = vec!["k".to_string()];
        let now = Timestamp::now();
        let lease = Duration::from_secs(10);
        let id = s
            .enqueue(&NewJob::new("k", serde_json::json!({})).run_at(now))
            .await
            .unwrap();
        s.claim_jobs("a", &kinds, 1, lease, now).await.unwrap();
        let retry_at = now.plus(Duration::from_secs(4));
        assert!(
            s.fail_job(id, "a", "smtp 451", Some(retry_at), now)
                .await
                .unwrap()
        );
        let job = s.get_job(id).await.unwrap().unwrap();
        assert_eq!(
            (job.state, job.run_at, job.last_error.as_deref()),
            (JobState::Pending, retry_at, Some("smtp 451"))
        );
        assert!(
            s.claim_jobs("a", &kinds, 1, lease, now)
                .await
                .unwrap()
                .is_empty()
        );
        s.claim_jobs("a", &kinds, 1, lease, retry_at).await.unwrap();
        assert!(s.fail_job(id, "a", "bad payload", None, now).await.unwrap());
        let dead = s.get_job(id).await.unwrap().unwrap();
        assert_eq!((dead.state, dead.attempts), (JobState::Dead, 2));
        assert!(
            s.claim_jobs("a", &kinds, 1, lease, retry_at.plus(lease))
                .await
                .unwrap()
                .is_empty()
        );

        let id2 = s
            .enqueue(&NewJob::new("k", serde_json::json!({})))
            .await
            .unwrap();
        let got = s
            .claim_jobs("a", &kinds, 1, lease, Timestamp::now())
            .await
            .unwrap();
        assert_eq!(got[0].id, id2);
        assert!(s.release_job(id2, "a").await.unwrap());
        let released = s.get_job(id2).await.unwrap().unwrap();
        assert_eq!(
            (released.state, released.attempts, released.lease_owner),
            (JobState::Pending, 0, None)
        );
    }

    pub async fn concurrent_claimers_never_share_a_job(db: TestDb) {
        let s = db.store();
        let jobs: Vec<_> = (0..2000)
            .map(|i| NewJob::new("k", serde_json::json!({ "i": i })))
            .collect();
        let ids = s.enqueue_many(&jobs).await.unwrap();
        assert_eq!(ids.len(), 2000);
        let mut nodes = Vec::new();
        for n in 0..4 {
            let node: Arc<dyn Store> = db.another_node().await;
            nodes.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = node
                        .claim_jobs(
                            &format!("node{n}"),
                            &["k".to_string()],
                            25,
                            Duration::from_secs(60),
                            Timestamp::now(),
                        )
                        .await
                        .unwrap();
                    if got.is_empty() {
                        break mine;
                    }
                    mine.extend(got.into_iter().map(|j| j.id));
                }
            }));
        }
        let mut all = Vec::new();
        for n in nodes {
            all.extend(n.await.unwrap());
        }
        assert_eq!(all.len(), 2000, "every job claimed exactly once in total");
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), 2000);
        assert_eq!(
            all.iter().collect::<HashSet<_>>(),
            ids.iter().collect::<HashSet<_>>()
        );
    }

    pub async fn reopening_applies_no_migration_twice(db: TestDb) {
        let again = db.another_node().await;
        again.ping().await.unwrap();
        let (site, _) = again.create_site("After reopen").await.unwrap();
        assert_eq!(
            db.store().get_site(&site.id).await.unwrap().name,
            "After reopen"
        );
    }
}

vestnik_testkit::db_cases_on_both_backends!(
    creates_a_site_with_a_working_first_key,
    revokes_keys_only_within_their_site,
    creates_users_with_roles_atomically,
    stores_every_contact_field_and_keeps_sites_apart,
    a_failed_batch_of_contacts_writes_nothing,
    sets_status_and_bonuses_by_email_within_the_site,
    lists_hold_members_of_their_own_site_only,
    claims_due_jobs_once_and_records_outcomes,
    an_expired_lease_passes_the_job_to_another_runner,
    failed_jobs_retry_later_or_die,
    concurrent_claimers_never_share_a_job,
    reopening_applies_no_migration_twice,
);
