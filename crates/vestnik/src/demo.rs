//! `serve --demo`: a site to click through on first start, with sample contacts, a list, an
//! API key and an owner login.

use anyhow::Context;
use vestnik_domain::{ContactFields, Email, LeadStatus, NewContact, Phone, Role, SiteRole, Store};

pub const DEMO_SITE_NAME: &str = "Demo shop";
pub const DEMO_ADMIN_EMAIL: &str = "demo@vestnik.local";

const PEOPLE: &[(&str, &str, &str, &str, LeadStatus)] = &[
    ("Анна", "Смирнова", "Москва", "female", LeadStatus::Customer),
    (
        "Иван",
        "Петров",
        "Санкт-Петербург",
        "male",
        LeadStatus::Regular,
    ),
    ("Мария", "Кузнецова", "Казань", "female", LeadStatus::New),
    (
        "Дмитрий",
        "Соколов",
        "Новосибирск",
        "male",
        LeadStatus::Contacted,
    ),
    (
        "Елена",
        "Попова",
        "Екатеринбург",
        "female",
        LeadStatus::Customer,
    ),
    (
        "Алексей",
        "Лебедев",
        "Москва",
        "male",
        LeadStatus::Wholesale,
    ),
    (
        "Ольга",
        "Козлова",
        "Нижний Новгород",
        "female",
        LeadStatus::New,
    ),
    ("Сергей", "Новиков", "Самара", "male", LeadStatus::Regular),
    (
        "Наталья",
        "Морозова",
        "Москва",
        "female",
        LeadStatus::Manager,
    ),
    ("Павел", "Волков", "Краснодар", "male", LeadStatus::New),
    (
        "Татьяна",
        "Соловьёва",
        "Воронеж",
        "female",
        LeadStatus::Customer,
    ),
    ("Андрей", "Васильев", "Пермь", "male", LeadStatus::Contacted),
];

/// Creates the demo site unless one exists; prints how to use it either way.
pub async fn ensure_demo(store: &dyn Store) -> anyhow::Result<()> {
    let sites = store
        .list_sites()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(site) = sites.iter().find(|s| s.name == DEMO_SITE_NAME) {
        println!(
            "Demo site {} already exists. Its key and admin password were printed when it was created;\n\
             make a new key with: vestnik key create --site {}",
            site.id, site.id
        );
        return Ok(());
    }
    let (site, key) = store
        .create_site(DEMO_SITE_NAME)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let password = vestnik_domain::site::random_token(12);
    let hash = {
        let password = password.clone();
        tokio::task::spawn_blocking(move || vestnik_domain::user::hash_password(&password)).await?
    };
    let admin = Email::parse(DEMO_ADMIN_EMAIL)?;
    if let Some((user, _)) = store
        .find_user_by_email(&admin)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        store
            .set_password(user.id, &hash)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        store
            .set_role(user.id, &site.id, Role::Owner)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    } else {
        store
            .create_user(
                &admin,
                &hash,
                &[SiteRole {
                    site_id: site.id.clone(),
                    role: Role::Owner,
                }],
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }

    let contacts: Vec<NewContact> = PEOPLE
        .iter()
        .enumerate()
        .map(
            |(i, (name, last, city, sex, status))| -> anyhow::Result<NewContact> {
                Ok(NewContact {
                    email: Some(Email::parse(&format!("customer{}@example.com", i + 1))?),
                    phone: Some(Phone::parse(&format!("+7916{:07}", 1_000_000 + i))?),
                    fields: ContactFields {
                        name: Some(name.to_string()),
                        last_name: Some(last.to_string()),
                        city: Some(city.to_string()),
                        country: Some("Россия".to_string()),
                        sex: Some(sex.to_string()),
                        ..Default::default()
                    },
                    status: *status,
                    tags: if i % 3 == 0 {
                        vec!["vip".to_string()]
                    } else {
                        Vec::new()
                    },
                    ..Default::default()
                })
            },
        )
        .collect::<anyhow::Result<_>>()?;
    let created = store
        .insert_contacts(&site.id, &contacts)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("adding demo contacts")?;
    let list = store
        .create_list(&site.id, "Newsletter")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let members: Vec<_> = created.iter().step_by(2).map(|c| c.id).collect();
    store
        .add_to_list(&site.id, list.id, &members)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    println!(
        "Demo site created ({} contacts, list \"Newsletter\"). Shown once, keep them:\n  site_id:  {}\n  api_key:  {}\n  admin:    {} / {}",
        created.len(),
        site.id,
        key.plain.as_str(),
        DEMO_ADMIN_EMAIL,
        password
    );
    Ok(())
}
