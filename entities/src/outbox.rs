//! The outbox: every email and webhook call Passerelle owes, written in the same transaction
//! as the change it tells of, and sent afterwards by the delivery worker of `serve`. A crash
//! between the commit and the send loses nothing: the row waits. Workers claim rows with a
//! lease (and `FOR UPDATE SKIP LOCKED` on PostgreSQL), so that several gateways on one database
//! never send the same row at the same time; a row is sent at least once, and carries an
//! `event_id` that receivers use to drop a repeat.
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, ConnectionTrait, QueryFilter};
use serde_json::Value as Json;

use crate::enums::{OutboxChannel, OutboxStatus};
use crate::webhook;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Unique; sent with the message so that a receiver can drop a repeat.
    #[sea_orm(unique)]
    pub event_id: String,
    pub channel: OutboxChannel,
    /// What happened: `APPLICATION_VALIDATED`, `MISSION_MODERATED`, `IMPORT_FINISHED`, …
    pub topic: String,
    /// An email address, or the webhook's URL.
    pub recipient: String,
    pub webhook_id: Option<i64>,
    /// The volunteer the message is about, if any: erasing them erases their messages.
    pub volunteer_id: Option<i64>,
    /// Email: `{ subject, body }`; webhook: the JSON body sent.
    pub payload: Json,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    /// A worker's claim: no other worker takes the row before it passes.
    pub locked_until: Option<DateTimeUtc>,
    pub locked_by: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A new random event id: 32 hex digits.
pub fn new_event_id() -> String {
    let mut bytes = [0u8; 16];
    // The OS random source; a failure there leaves a counter-and-clock id, still unique.
    if getrandom::fill(&mut bytes).is_err() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let t = crate::time::now().timestamp_nanos_opt().unwrap_or_default();
        bytes[..8].copy_from_slice(&t.to_be_bytes());
        bytes[8..].copy_from_slice(&n.to_be_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn row(
    channel: OutboxChannel,
    topic: &str,
    recipient: String,
    webhook_id: Option<i64>,
    volunteer_id: Option<i64>,
    payload: Json,
) -> ActiveModel {
    let now = crate::time::now();
    ActiveModel {
        event_id: Set(new_event_id()),
        channel: Set(channel),
        topic: Set(topic.to_owned()),
        recipient: Set(recipient),
        webhook_id: Set(webhook_id),
        volunteer_id: Set(volunteer_id),
        payload: Set(payload),
        status: Set(OutboxStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(now),
        locked_until: Set(None),
        locked_by: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
        ..Default::default()
    }
}

/// An email to send.
pub fn email(
    topic: &str,
    to: &str,
    subject: &str,
    body: &str,
    volunteer_id: Option<i64>,
) -> ActiveModel {
    row(
        OutboxChannel::Email,
        topic,
        to.to_owned(),
        None,
        volunteer_id,
        serde_json::json!({ "subject": subject, "body": body }),
    )
}

/// Queues `data` for every webhook of `publisher_id` subscribed to `subscription` (one of
/// [`webhook::TOPICS`]), in the caller's transaction. Each call gets its own event id, which the
/// body carries as `id`.
///
/// # Errors
/// The database's.
pub async fn to_webhooks<C: ConnectionTrait>(
    txn: &C,
    publisher_id: i64,
    subscription: &str,
    topic: &str,
    data: Json,
) -> Result<u64, DbErr> {
    let hooks = webhook::Entity::find()
        .filter(webhook::Column::PublisherId.eq(publisher_id))
        .all(txn)
        .await?;
    let rows: Vec<ActiveModel> = hooks
        .into_iter()
        .filter(|h| h.topics.0.iter().any(|t| t == subscription))
        .map(|h| {
            let mut r = row(
                OutboxChannel::Webhook,
                topic,
                h.url.clone(),
                Some(h.id),
                None,
                Json::Null,
            );
            let id = match &r.event_id {
                Set(id) => id.clone(),
                _ => String::new(),
            };
            r.payload = Set(serde_json::json!({
                "id": id,
                "type": topic,
                "createdAt": crate::time::now().to_rfc3339(),
                "data": data,
            }));
            r
        })
        .collect();
    let n = rows.len() as u64;
    if !rows.is_empty() {
        Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(n)
}
