//! `OrderStore` on both backends: orders, their status history, and the outbox rows status
//! changes write for automation, each change in one transaction with its history and outbox row.

macro_rules! impl_order_store {
    ($store:ty) => {
        use async_trait::async_trait;
        use sqlx::types::Json;
        use vestnik_domain::order::ORDER_STATUS_TOPIC;
        use vestnik_domain::store::OrderStore;
        use vestnik_domain::{
            ContactId, Email, Money, NewOrder, Order, OrderItem, OrderStatus, OrderStatusChange,
            OrderStatusEntry, Phone, SiteId, StatusUpdate, StoreError, StoreResult, Timestamp,
        };

        use crate::error::{internal, map_err};
        use crate::rows::Columns;

        /// Columns every order SELECT returns, in the names `order_row` reads.
        const ORDER_COLUMNS: &str =
            "id, site_id, order_id, contact_id, email, phone, items, total, status, created_at, updated_at";

        /// How often a status change is retried when a concurrent change to the same order won
        /// the race between our read and our write (PostgreSQL, several nodes); SQLite, with
        /// its single writer, never loses it.
        const STATUS_CHANGE_ATTEMPTS: usize = 3;

        /// The two writes every status change makes besides the order row itself: its history
        /// entry and its outbox row. Always run inside the change's own transaction, so that
        /// automation never sees a change that was rolled back nor misses one that was committed.
        const INSERT_HISTORY: &str =
            "INSERT INTO order_status_history (order_pk, status, changed_at) VALUES ($1, $2, $3)";
        const INSERT_OUTBOX: &str =
            "INSERT INTO outbox (site_id, topic, ref_id, payload, created_at) VALUES ($1, $2, $3, $4, $5)";

        fn parsed<T, E: std::fmt::Display>(col: &str, r: Result<T, E>) -> StoreResult<T> {
            r.map_err(|e| internal(format!("stored order {col} is invalid: {e}")))
        }

        /// An order row plus its history (read separately, oldest first).
        fn order_row(r: &impl Columns, status_history: Vec<OrderStatusEntry>) -> StoreResult<Order> {
            Ok(Order {
                id: r.int("id")?,
                site_id: SiteId::from_trusted(r.text("site_id")?),
                order_id: r.text("order_id")?,
                contact_id: r.opt_int("contact_id")?.map(ContactId),
                email: r.opt_text("email")?.map(|e| parsed("email", Email::parse(&e))).transpose()?,
                phone: r.opt_text("phone")?.map(|p| parsed("phone", Phone::parse(&p))).transpose()?,
                items: parsed("items", serde_json::from_value::<Vec<OrderItem>>(r.json("items")?))?,
                total: parsed("total", Money::parse("total", &r.text("total")?))?,
                status: parsed("status", r.text("status")?.parse::<OrderStatus>())?,
                created_at: Timestamp(r.int("created_at")?),
                updated_at: Timestamp(r.int("updated_at")?),
                status_history,
            })
        }

        fn history_row(r: &impl Columns) -> StoreResult<OrderStatusEntry> {
            Ok(OrderStatusEntry {
                status: parsed("status", r.text("status")?.parse::<OrderStatus>())?,
                changed_at: Timestamp(r.int("changed_at")?),
            })
        }

        #[async_trait]
        impl OrderStore for $store {
            async fn add_order(&self, site: &SiteId, order: &NewOrder) -> StoreResult<Order> {
                order.validate()?;
                let now = Timestamp::now();
                let created_at = order.created_at.unwrap_or(now);
                let email = order.email.as_ref().map(|e| e.as_str());
                let phone = order.phone.as_ref().map(|p| p.as_str());
                let mut tx = self.writes().begin().await.map_err(map_err("order"))?;

                // The buyer: the contact with this email, else with this phone, else a new one.
                // DO NOTHING and a second look cover a concurrent request creating the same
                // contact between our look and our insert: it then exists for us to link.
                let mut contact_id: Option<i64> = None;
                for attempt in 0..2 {
                    for (col, value) in [("email", email), ("phone", phone)] {
                        let (None, Some(value)) = (contact_id, value) else { continue };
                        let sql = format!("SELECT id FROM contacts WHERE site_id = $1 AND {col} = $2");
                        contact_id = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(site.as_str())
                            .bind(value)
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(map_err("order"))?
                            .map(|r| r.int("id"))
                            .transpose()?;
                    }
                    if contact_id.is_some() || attempt == 1 {
                        break;
                    }
                    contact_id = sqlx::query(
                        "INSERT INTO contacts (site_id, email, phone, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $4) ON CONFLICT DO NOTHING RETURNING id",
                    )
                    .bind(site.as_str())
                    .bind(email)
                    .bind(phone)
                    .bind(now.millis())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| match map_err("order")(e) {
                        StoreError::NotFound(_) => StoreError::NotFound(format!("site {site}")),
                        other => other,
                    })?
                    .map(|r| r.int("id"))
                    .transpose()?;
                    if contact_id.is_some() {
                        break;
                    }
                }
                let contact_id = contact_id.map(ContactId).ok_or_else(|| {
                    StoreError::Unavailable("the buyer's contact is being changed concurrently; retry".into())
                })?;

                let sql = format!(
                    "INSERT INTO orders (site_id, order_id, contact_id, email, phone, items, total, status, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {ORDER_COLUMNS}"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(site.as_str())
                    .bind(&order.order_id)
                    .bind(contact_id.0)
                    .bind(email)
                    .bind(phone)
                    .bind(Json(&order.items))
                    .bind(order.total.as_str())
                    .bind(OrderStatus::Submitted.as_str())
                    .bind(created_at.millis())
                    .bind(now.millis())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| match map_err("order")(e) {
                        StoreError::Conflict(_) => {
                            StoreError::Conflict(format!("order {} already exists", order.order_id))
                        }
                        StoreError::NotFound(_) => StoreError::NotFound(format!("site {site}")),
                        other => other,
                    })?;
                let id = row.int("id")?;
                // The first status dates from when the shop took the order.
                let change = OrderStatusChange {
                    order_id: order.order_id.clone(),
                    contact_id: Some(contact_id),
                    old_status: None,
                    new_status: OrderStatus::Submitted,
                    changed_at: created_at,
                };
                sqlx::query(INSERT_HISTORY)
                    .bind(id)
                    .bind(change.new_status.as_str())
                    .bind(change.changed_at.millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err("order status"))?;
                sqlx::query(INSERT_OUTBOX)
                    .bind(site.as_str())
                    .bind(ORDER_STATUS_TOPIC)
                    .bind(id)
                    .bind(Json(&change))
                    .bind(now.millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err("outbox entry"))?;
                let first = OrderStatusEntry { status: change.new_status, changed_at: change.changed_at };
                let stored = order_row(&row, vec![first])?;
                tx.commit().await.map_err(map_err("order"))?;
                Ok(stored)
            }

            async fn set_order_status(
                &self,
                site: &SiteId,
                order_id: &str,
                status: OrderStatus,
            ) -> StoreResult<StatusUpdate> {
                for _ in 0..STATUS_CHANGE_ATTEMPTS {
                    let mut tx = self.writes().begin().await.map_err(map_err("order"))?;
                    let row = sqlx::query(
                        "SELECT id, status, contact_id FROM orders WHERE site_id = $1 AND order_id = $2",
                    )
                    .bind(site.as_str())
                    .bind(order_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err("order"))?
                    .ok_or_else(|| StoreError::NotFound(format!("order {order_id}")))?;
                    let id = row.int("id")?;
                    let old = parsed("status", row.text("status")?.parse::<OrderStatus>())?;
                    if old == status {
                        return Ok(StatusUpdate::AlreadySet);
                    }
                    let now = Timestamp::now();
                    // `status = old` makes this write lose cleanly to a concurrent change, which
                    // history would otherwise record as a transition that never happened.
                    let done = sqlx::query("UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4")
                        .bind(status.as_str())
                        .bind(now.millis())
                        .bind(id)
                        .bind(old.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err("order"))?;
                    if done.rows_affected() == 0 {
                        continue;
                    }
                    let change = OrderStatusChange {
                        order_id: order_id.to_string(),
                        contact_id: row.opt_int("contact_id")?.map(ContactId),
                        old_status: Some(old),
                        new_status: status,
                        changed_at: now,
                    };
                    sqlx::query(INSERT_HISTORY)
                        .bind(id)
                        .bind(change.new_status.as_str())
                        .bind(change.changed_at.millis())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err("order status"))?;
                    sqlx::query(INSERT_OUTBOX)
                        .bind(site.as_str())
                        .bind(ORDER_STATUS_TOPIC)
                        .bind(id)
                        .bind(Json(&change))
                        .bind(now.millis())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err("outbox entry"))?;
                    tx.commit().await.map_err(map_err("order"))?;
                    return Ok(StatusUpdate::Changed(change));
                }
                Err(StoreError::Unavailable(format!("order {order_id} is being changed concurrently; retry")))
            }

            async fn get_order(&self, site: &SiteId, order_id: &str) -> StoreResult<Order> {
                let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE site_id = $1 AND order_id = $2");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(site.as_str())
                    .bind(order_id)
                    .fetch_optional(self.reads())
                    .await
                    .map_err(map_err("order"))?
                    .ok_or_else(|| StoreError::NotFound(format!("order {order_id}")))?;
                let history = sqlx::query(
                    "SELECT status, changed_at FROM order_status_history WHERE order_pk = $1 ORDER BY id",
                )
                .bind(row.int("id")?)
                .fetch_all(self.reads())
                .await
                .map_err(map_err("order"))?
                .iter()
                .map(history_row)
                .collect::<StoreResult<Vec<_>>>()?;
                order_row(&row, history)
            }
        }
    };
}
pub(crate) use impl_order_store;
