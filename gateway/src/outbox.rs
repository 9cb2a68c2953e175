//! The delivery worker of the outbox, and the `outbox` command.
//!
//! `serve` runs [`run`]: it claims due messages (a lease of `outbox_lease_secs`, taken with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL, so that several gateways on one database never take
//! the same row at once), sends them, and marks each SENT, or schedules its next attempt with an
//! exponential backoff, or, after `outbox_max_attempts`, moves it to the dead letters. A worker
//! that dies while sending leaves its rows leased: they are claimed again once the lease passes
//! (at least once; receivers drop repeats by the event id).
//!
//! - Emails go through SMTP when `smtp_url` is set (`lettre`), and are logged otherwise.
//! - Webhook calls are POSTed with the JSON body, signed with HMAC-SHA256 over
//!   `"{timestamp}.{body}"` (docs/WEBHOOKS.md), and pass the private-address guard of feed
//!   fetching: the host is resolved once, checked, and connected to at the checked address.
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use passerelle_entities::{OutboxChannel, OutboxStatus, outbox, webhook};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use secrecy::{ExposeSecret, SecretString};

use crate::config::Settings;

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);
/// The longest error kept on a row.
const MAX_ERROR_CHARS: usize = 500;

/// How the outbox is delivered.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub max_attempts: u32,
    /// Before the first retry; doubled before each next one.
    pub backoff: Duration,
    pub lease: Duration,
    pub poll: Duration,
    /// Messages claimed (and sent concurrently) at once.
    pub batch: u64,
    pub smtp_url: Option<SecretString>,
    pub mail_from: String,
    pub webhook_allow_private: bool,
    pub webhook_timeout: Duration,
}

impl Delivery {
    pub fn from_settings(s: &Settings) -> Delivery {
        Delivery {
            max_attempts: s.outbox_max_attempts,
            backoff: Duration::from_millis(s.outbox_backoff_ms),
            lease: Duration::from_secs(s.outbox_lease_secs),
            poll: Duration::from_millis(s.outbox_poll_ms),
            batch: 32,
            smtp_url: s.smtp_url.clone(),
            mail_from: s.mail_from.clone(),
            webhook_allow_private: s.webhook_allow_private,
            webhook_timeout: Duration::from_secs(10),
        }
    }

    /// The wait before the attempt that follows attempt `n` (1-based).
    fn backoff_after(&self, n: i32) -> Duration {
        let doublings = u32::try_from(n.saturating_sub(1)).unwrap_or(0).min(20);
        self.backoff
            .saturating_mul(1u32 << doublings)
            .min(MAX_BACKOFF)
    }
}

/// A name for this worker: host, process and a random part, so that two workers never share
/// one.
pub fn worker_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_owned());
    format!(
        "{host}:{}:{}",
        std::process::id(),
        &outbox::new_event_id()[..8]
    )
}

/// Delivers the outbox until the task is dropped.
pub async fn run(db: DatabaseConnection, delivery: Delivery) {
    let worker = worker_name();
    let mailer = match Mailer::new(&delivery) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "the outbox cannot send emails; it does not run");
            return;
        }
    };
    tracing::info!(worker = %worker, smtp = delivery.smtp_url.is_some(), "outbox delivery running");
    loop {
        match deliver_due(&db, &delivery, &worker, &mailer).await {
            Ok(0) => tokio::time::sleep(delivery.poll).await,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "outbox delivery cannot reach the database");
                tokio::time::sleep(delivery.poll).await;
            }
        }
    }
}

/// Claims the due messages (up to a batch), sends them, and records each outcome. Returns how
/// many were claimed.
///
/// # Errors
/// The database's.
pub async fn deliver_due(
    db: &DatabaseConnection,
    delivery: &Delivery,
    worker: &str,
    mailer: &Mailer,
) -> Result<usize, DbErr> {
    let rows = claim(db, delivery, worker).await?;
    // Each send ends well within the lease, so that no other worker takes a row still being
    // sent.
    let limit = delivery.lease / 2;
    let outcomes = futures_util::future::join_all(rows.iter().map(|row| async move {
        tokio::time::timeout(limit, send(db, delivery, mailer, row))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} s", limit.as_secs())))
    }))
    .await;
    for (row, outcome) in rows.iter().zip(outcomes) {
        record(db, delivery, worker, row, outcome).await?;
    }
    Ok(rows.len())
}

/// Leases due messages to `worker`.
async fn claim(
    db: &DatabaseConnection,
    delivery: &Delivery,
    worker: &str,
) -> Result<Vec<outbox::Model>, DbErr> {
    let now = passerelle_entities::time::now();
    let until = now + chrono::Duration::from_std(delivery.lease).unwrap_or_default();
    let backend = db.get_database_backend();
    let batch = i64::try_from(delivery.batch).unwrap_or(32);
    let statement = match backend {
        DbBackend::Postgres => Statement::from_sql_and_values(
            backend,
            "UPDATE outbox SET locked_until = $1, locked_by = $2, attempts = attempts + 1
             WHERE id IN (SELECT id FROM outbox
                 WHERE status = 'PENDING' AND next_attempt_at <= $3
                   AND (locked_until IS NULL OR locked_until < $3)
                 ORDER BY next_attempt_at, id LIMIT $4
                 FOR UPDATE SKIP LOCKED)
             RETURNING id",
            [until.into(), worker.into(), now.into(), batch.into()],
        ),
        // SQLite runs one writer at a time: the UPDATE is the claim.
        _ => Statement::from_sql_and_values(
            backend,
            "UPDATE outbox SET locked_until = ?, locked_by = ?, attempts = attempts + 1
             WHERE id IN (SELECT id FROM outbox
                 WHERE status = 'PENDING' AND next_attempt_at <= ?
                   AND (locked_until IS NULL OR locked_until < ?)
                 ORDER BY next_attempt_at, id LIMIT ?)
             RETURNING id",
            [
                until.into(),
                worker.into(),
                now.into(),
                now.into(),
                batch.into(),
            ],
        ),
    };
    let ids: Vec<i64> = db
        .query_all_raw(statement)
        .await?
        .iter()
        .map(|r| r.try_get::<i64>("", "id"))
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    outbox::Entity::find()
        .filter(outbox::Column::Id.is_in(ids))
        .filter(outbox::Column::LockedBy.eq(worker))
        .order_by_asc(outbox::Column::Id)
        .all(db)
        .await
}

/// Records how a send went.
async fn record(
    db: &DatabaseConnection,
    delivery: &Delivery,
    worker: &str,
    row: &outbox::Model,
    outcome: Result<(), String>,
) -> Result<(), DbErr> {
    let now = passerelle_entities::time::now();
    let update = outbox::Entity::update_many()
        .col_expr(
            outbox::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(outbox::Column::Id.eq(row.id))
        .filter(outbox::Column::LockedBy.eq(worker));
    match outcome {
        Ok(()) => {
            tracing::debug!(id = row.id, topic = %row.topic, "outbox message sent");
            update
                .col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Sent))
                .col_expr(outbox::Column::SentAt, Expr::value(now))
                .col_expr(
                    outbox::Column::LastError,
                    Expr::value(Option::<String>::None),
                )
                .exec(db)
                .await?;
        }
        Err(error) => {
            let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
            let dead = row.attempts >= i32::try_from(delivery.max_attempts).unwrap_or(i32::MAX);
            if dead {
                tracing::warn!(id = row.id, attempts = row.attempts, %error, "outbox message moved to the dead letters");
                update
                    .col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Dead))
                    .col_expr(outbox::Column::LastError, Expr::value(error))
                    .exec(db)
                    .await?;
            } else {
                let wait = delivery.backoff_after(row.attempts);
                tracing::info!(id = row.id, attempts = row.attempts, wait_ms = wait.as_millis() as u64, %error, "outbox message failed; retrying later");
                update
                    .col_expr(
                        outbox::Column::NextAttemptAt,
                        Expr::value(now + chrono::Duration::from_std(wait).unwrap_or_default()),
                    )
                    .col_expr(outbox::Column::LastError, Expr::value(error))
                    .exec(db)
                    .await?;
            }
        }
    }
    Ok(())
}

async fn send(
    db: &DatabaseConnection,
    delivery: &Delivery,
    mailer: &Mailer,
    row: &outbox::Model,
) -> Result<(), String> {
    match row.channel {
        OutboxChannel::Email => mailer.send(row).await,
        OutboxChannel::Webhook => {
            let Some(id) = row.webhook_id else {
                return Err("a webhook message without its webhook".to_owned());
            };
            let hook = webhook::Entity::find_by_id(id)
                .one(db)
                .await
                .map_err(|e| format!("cannot read the webhook: {e}"))?
                .ok_or_else(|| "the webhook was deleted".to_owned())?;
            call_webhook(delivery, &hook, row).await
        }
    }
}

/// Sends emails, or logs them when no SMTP server is configured.
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: lettre::message::Mailbox,
}

impl Mailer {
    /// # Errors
    /// An SMTP URL or a sender lettre does not accept.
    pub fn new(delivery: &Delivery) -> anyhow::Result<Mailer> {
        let transport = match &delivery.smtp_url {
            Some(url) => {
                passerelle_ingest::install_tls_provider();
                Some(
                    AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                        .context("invalid smtp_url")?
                        .timeout(Some(Duration::from_secs(30)))
                        .build(),
                )
            }
            None => None,
        };
        Ok(Mailer {
            transport,
            from: delivery.mail_from.parse().context("invalid mail_from")?,
        })
    }

    async fn send(&self, row: &outbox::Model) -> Result<(), String> {
        let text = |k: &str| {
            row.payload
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let (subject, body) = (text("subject"), text("body"));
        let Some(transport) = &self.transport else {
            tracing::info!(
                to = %row.recipient,
                topic = %row.topic,
                subject = %subject,
                "email (no SMTP server configured: logged, not sent)"
            );
            return Ok(());
        };
        let to = row
            .recipient
            .parse()
            .map_err(|e| format!("invalid recipient: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            // The event id as Message-ID: a repeat is recognisable as one.
            .message_id(Some(format!("<{}@passerelle>", row.event_id)))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| format!("cannot build the email: {e}"))?;
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }
}

/// The signature header of a body sent at `timestamp`: `v1=<hex>` for each secret, comma
/// separated (two while a rotated secret still signs).
pub fn signature(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|secret| {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
            let mut ctx = ring::hmac::Context::with_key(&key);
            ctx.update(timestamp.to_string().as_bytes());
            ctx.update(b".");
            ctx.update(body);
            let tag = ctx.sign();
            let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            format!("v1={hex}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn call_webhook(
    delivery: &Delivery,
    hook: &webhook::Model,
    row: &outbox::Model,
) -> Result<(), String> {
    let url = reqwest::Url::parse(&hook.url).map_err(|e| format!("invalid URL: {e}"))?;
    if url.scheme() != "https" && !delivery.webhook_allow_private {
        return Err("webhooks are called over https only".to_owned());
    }
    let addrs = passerelle_ingest::fetch::resolve(&url, delivery.webhook_allow_private)
        .await
        .map_err(|e| e.to_string())?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let body = serde_json::to_vec(&row.payload).map_err(|e| e.to_string())?;
    let now = passerelle_entities::time::now();
    let timestamp = now.timestamp();
    passerelle_ingest::install_tls_provider();
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(delivery.webhook_timeout)
        .user_agent(concat!(
            "Passerelle/",
            env!("CARGO_PKG_VERSION"),
            " webhooks"
        ))
        .resolve_to_addrs(&host, &addrs)
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("passerelle-webhook-id", &row.event_id)
        .header("passerelle-webhook-timestamp", timestamp.to_string())
        .header(
            "passerelle-webhook-signature",
            signature(&hook.signing_secrets(now), timestamp, &body),
        )
        .body(body)
        .send()
        .await
        .map_err(|e| format!("network: {}", e.without_url()))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered HTTP {}", status.as_u16()))
    }
}

/// Lines of `outbox list`: the newest messages first, in a status or all.
///
/// # Errors
/// The database's.
pub async fn list(
    db: &DatabaseConnection,
    status: Option<OutboxStatus>,
    limit: u64,
) -> anyhow::Result<Vec<String>> {
    let mut select = outbox::Entity::find().order_by_desc(outbox::Column::Id);
    if let Some(s) = status {
        select = select.filter(outbox::Column::Status.eq(s));
    }
    let rows = select.limit(limit).all(db).await?;
    Ok(rows
        .iter()
        .map(|r| {
            format!(
                "{}\t{}\t{}\t{}\tattempts={}\tnext={}\tto={}{}",
                r.id,
                r.status,
                r.channel,
                r.topic,
                r.attempts,
                r.next_attempt_at.format("%Y-%m-%dT%H:%M:%SZ"),
                r.recipient,
                r.last_error
                    .as_ref()
                    .map(|e| format!("\terror={e}"))
                    .unwrap_or_default()
            )
        })
        .collect())
}

/// Queues messages again (`ids`, or every dead letter): PENDING, no attempt counted, due now.
/// Sent messages are not sent again.
///
/// # Errors
/// An id that is not in the outbox or already sent, or the database's.
pub async fn retry(db: &DatabaseConnection, ids: &[i64], all_dead: bool) -> anyhow::Result<u64> {
    let mut condition = sea_orm::Condition::all();
    if all_dead {
        condition = condition.add(outbox::Column::Status.eq(OutboxStatus::Dead));
    } else if ids.is_empty() {
        bail!("name the messages to retry, or --dead for every dead letter");
    } else {
        let found = outbox::Entity::find()
            .filter(outbox::Column::Id.is_in(ids.iter().copied()))
            .all(db)
            .await?;
        for id in ids {
            match found.iter().find(|r| r.id == *id) {
                None => bail!("no outbox message {id}"),
                Some(r) if r.status == OutboxStatus::Sent => {
                    bail!("outbox message {id} was sent already")
                }
                Some(_) => {}
            }
        }
        condition = condition.add(outbox::Column::Id.is_in(ids.iter().copied()));
    }
    let now = passerelle_entities::time::now();
    let done = outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Pending))
        .col_expr(outbox::Column::Attempts, Expr::value(0))
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(now))
        .col_expr(
            outbox::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            outbox::Column::LockedBy,
            Expr::value(Option::<String>::None),
        )
        .filter(condition)
        .filter(outbox::Column::Status.ne(OutboxStatus::Sent))
        // Not a message a worker is sending now.
        .filter(
            sea_orm::Condition::any()
                .add(outbox::Column::LockedUntil.is_null())
                .add(outbox::Column::LockedUntil.lt(now)),
        )
        .exec(db)
        .await?;
    Ok(done.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_six_hours() {
        let d = Delivery {
            backoff: Duration::from_secs(30),
            ..Delivery::from_settings(&Settings::default())
        };
        assert_eq!(d.backoff_after(1), Duration::from_secs(30));
        assert_eq!(d.backoff_after(2), Duration::from_secs(60));
        assert_eq!(d.backoff_after(4), Duration::from_secs(240));
        assert_eq!(d.backoff_after(40), MAX_BACKOFF);
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 has no such message; this value was computed with
        // `printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test`.
        let s = signature(&["whsec_test"], 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            s,
            "v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
        let two = signature(&["a", "b"], 1, b"x");
        assert_eq!(two.matches("v1=").count(), 2);
    }
}
