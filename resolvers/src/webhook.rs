//! Partners' webhooks: `webhooks`, `createWebhook`, `rotateWebhookSecret`, `deleteWebhook`.
//!
//! A publisher (its API key or its people) registers HTTPS endpoints and the topics each wants:
//! `APPLICATION` (every move of an application to one of its missions), `MISSION_MODERATION`
//! (decisions on its missions), `IMPORT` (the result of each import of its feed). The signing
//! secret is shown once, when made or rotated; see docs/WEBHOOKS.md for how a receiver checks
//! a delivery. Every change is in the audit log (never the secret).
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use passerelle_entities::access::Access;
use passerelle_entities::{audit_entry, outbox, publisher, webhook};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use serde_json::json;

use crate::application::ApplicationRules;
use crate::diffusion::UserError;
use crate::error::{ApiError, ApiResult};
use crate::filter::parse_id;
use crate::{db, scope, writer};

/// The most webhooks a publisher has.
pub const MAX_WEBHOOKS: u64 = 10;
/// The longest webhook URL.
pub const MAX_URL_CHARS: usize = 2_000;
/// The longest time a rotated secret keeps signing beside the new one, in hours.
pub const MAX_GRACE_HOURS: i32 = 168;

/// What a webhook is told of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum WebhookTopic {
    /// Every move of an application to one of the publisher's missions.
    Application,
    /// Moderation decisions on the publisher's missions.
    MissionModeration,
    /// The result of each import of the publisher's feed.
    Import,
}

impl WebhookTopic {
    fn as_str(self) -> &'static str {
        match self {
            WebhookTopic::Application => "APPLICATION",
            WebhookTopic::MissionModeration => "MISSION_MODERATION",
            WebhookTopic::Import => "IMPORT",
        }
    }

    fn from_stored(s: &str) -> Option<Self> {
        match s {
            "APPLICATION" => Some(WebhookTopic::Application),
            "MISSION_MODERATION" => Some(WebhookTopic::MissionModeration),
            "IMPORT" => Some(WebhookTopic::Import),
            _ => None,
        }
    }
}

/// A partner's webhook (never its secret).
#[derive(Debug, Clone, SimpleObject)]
pub struct Webhook {
    pub id: ID,
    pub publisher_id: ID,
    pub url: String,
    pub topics: Vec<WebhookTopic>,
    /// Until when the previous secret still signs deliveries, beside the current one.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<webhook::Model> for Webhook {
    fn from(w: webhook::Model) -> Self {
        Webhook {
            id: ID(w.id.to_string()),
            publisher_id: ID(w.publisher_id.to_string()),
            url: w.url,
            topics: w
                .topics
                .0
                .iter()
                .filter_map(|t| WebhookTopic::from_stored(t))
                .collect(),
            previous_secret_expires_at: w.previous_secret_expires_at,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// A new webhook.
#[derive(Debug, Clone, InputObject)]
pub struct CreateWebhookInput {
    /// The publisher: a partner's own by default; admins must name one.
    pub publisher_id: Option<ID>,
    /// An HTTPS URL on a public address.
    pub url: String,
    pub topics: Vec<WebhookTopic>,
}

/// A new secret for a webhook.
#[derive(Debug, Clone, InputObject)]
pub struct RotateWebhookSecretInput {
    pub id: ID,
    /// Hours the previous secret keeps signing beside the new one, 0 to 168 (default 24).
    pub grace_hours: Option<i32>,
}

/// A webhook to delete.
#[derive(Debug, Clone, InputObject)]
pub struct DeleteWebhookInput {
    pub id: ID,
}

/// A webhook and its secret, shown this once.
#[derive(Debug, Clone, SimpleObject)]
pub struct WebhookSecretPayload {
    pub webhook: Option<Webhook>,
    /// The signing secret (`whsec_…`): keep it, it is not shown again.
    pub secret: Option<String>,
    pub user_errors: Vec<UserError>,
}

impl WebhookSecretPayload {
    fn refused(e: UserError) -> Self {
        WebhookSecretPayload {
            webhook: None,
            secret: None,
            user_errors: vec![e],
        }
    }
}

/// What `deleteWebhook` did.
#[derive(Debug, Clone, SimpleObject)]
pub struct DeleteWebhookPayload {
    pub deleted_id: ID,
}

fn new_secret() -> String {
    format!("whsec_{}{}", outbox::new_event_id(), outbox::new_event_id())
}

/// Checks a webhook URL: HTTPS (HTTP too when private addresses are allowed), a host, no
/// credentials, and no loopback or private address written as such. Host names are checked
/// again at each delivery, after they are resolved.
fn check_url(raw: &str, allow_private: bool) -> Result<String, UserError> {
    let bad = |m: &str| UserError::new("input.url", "INVALID_URL", m);
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(bad("at most 2,000 characters"));
    }
    let url = url::Url::parse(raw.trim()).map_err(|e| bad(&format!("not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(bad("the URL must be https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "put no credentials in the URL: check the signature instead",
        ));
    }
    let Some(host) = url.host() else {
        return Err(bad("the URL has no host"));
    };
    let ip = match host {
        url::Host::Ipv4(a) => Some(std::net::IpAddr::V4(a)),
        url::Host::Ipv6(a) => Some(std::net::IpAddr::V6(a)),
        url::Host::Domain(d) if d.eq_ignore_ascii_case("localhost") => {
            Some(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
        }
        url::Host::Domain(_) => None,
    };
    if !allow_private && ip.is_some_and(|ip| !passerelle_ingest::fetch::is_public(ip)) {
        return Err(UserError::new(
            "input.url",
            "PRIVATE_ADDRESS",
            "the URL leads to a loopback or private address",
        ));
    }
    Ok(url.to_string())
}

/// The publisher whose webhooks the viewer manages: a partner's own, or the one an admin
/// names.
fn publisher_of(access: &Access, named: Option<&ID>) -> ApiResult<i64> {
    match (access, named) {
        (Access::Partner { publisher_id, .. }, None) => Ok(*publisher_id),
        (Access::Partner { publisher_id, .. }, Some(id)) => {
            if parse_id("publisherId", id)? == *publisher_id {
                Ok(*publisher_id)
            } else {
                Err(ApiError::Forbidden {
                    message: "a partner manages its own webhooks only".to_owned(),
                })
            }
        }
        (Access::Admin, Some(id)) => parse_id("publisherId", id),
        (Access::Admin, None) => Err(ApiError::bad_input(
            "publisherId",
            "an admin names the publisher",
        )),
        _ => Err(ApiError::Forbidden {
            message: "webhooks are a publisher's (or an admin's)".to_owned(),
        }),
    }
}

/// A webhook the viewer manages: `NOT_FOUND` otherwise.
async fn managed(ctx: &Context<'_>, raw: &ID) -> ApiResult<webhook::Model> {
    let id = parse_id("input.id", raw)?;
    let found = match scope::find::<webhook::Entity>(scope::access(ctx)) {
        Some(select) => {
            select
                .filter(webhook::Column::Id.eq(id))
                .one(db(ctx)?)
                .await?
        }
        None => None,
    };
    found.ok_or_else(|| ApiError::not_found("webhook", raw.to_string()))
}

/// Queries over webhooks.
#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// A publisher's webhooks (at most 10), oldest first: a partner's own; admins name the
    /// publisher.
    async fn webhooks(
        &self,
        ctx: &Context<'_>,
        publisher_id: Option<ID>,
    ) -> ApiResult<Vec<Webhook>> {
        let publisher = publisher_of(scope::access(ctx), publisher_id.as_ref())?;
        let Some(select) = scope::find::<webhook::Entity>(scope::access(ctx)) else {
            return Ok(Vec::new());
        };
        Ok(select
            .filter(webhook::Column::PublisherId.eq(publisher))
            .order_by_asc(webhook::Column::Id)
            .all(db(ctx)?)
            .await?
            .into_iter()
            .map(Webhook::from)
            .collect())
    }
}

/// Webhook mutations.
#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Registers a webhook of the caller's publisher (admins name it). Refusals are
    /// `userErrors`: `INVALID_URL`, `PRIVATE_ADDRESS`, `NO_TOPIC`, `TOO_MANY_WEBHOOKS`. The
    /// secret is in the answer, and never again.
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookInput,
    ) -> ApiResult<WebhookSecretPayload> {
        let publisher = publisher_of(scope::access(ctx), input.publisher_id.as_ref())?;
        let rules = ctx
            .data_opt::<ApplicationRules>()
            .copied()
            .unwrap_or_default();
        let url = match check_url(&input.url, rules.allow_private_webhooks) {
            Ok(u) => u,
            Err(e) => return Ok(WebhookSecretPayload::refused(e)),
        };
        let mut topics: Vec<&str> = input.topics.iter().map(|t| t.as_str()).collect();
        topics.sort_unstable();
        topics.dedup();
        if topics.is_empty() {
            return Ok(WebhookSecretPayload::refused(UserError::new(
                "input.topics",
                "NO_TOPIC",
                "name at least one topic",
            )));
        }
        let db = writer(ctx)?;
        let exists = match scope::find::<publisher::Entity>(scope::access(ctx)) {
            Some(select) => select
                .filter(publisher::Column::Id.eq(publisher))
                .one(db)
                .await?
                .is_some(),
            None => false,
        };
        if !exists {
            return Err(ApiError::not_found("publisher", publisher.to_string()));
        }
        let txn = db.begin().await?;
        // The publisher's row first: its lock (and SQLite's write lock) holds until the commit,
        // so that two registrations at once count one after the other.
        publisher::Entity::update_many()
            .col_expr(
                publisher::Column::UpdatedAt,
                sea_orm::sea_query::Expr::col(publisher::Column::UpdatedAt),
            )
            .filter(publisher::Column::Id.eq(publisher))
            .exec(&txn)
            .await?;
        #[allow(clippy::disallowed_methods)]
        // The publisher's own count, checked against the limit; nothing is returned.
        let count = webhook::Entity::find()
            .filter(webhook::Column::PublisherId.eq(publisher))
            .count(&txn)
            .await?;
        if count >= MAX_WEBHOOKS {
            txn.rollback().await?;
            return Ok(WebhookSecretPayload::refused(UserError::new(
                "input.url",
                "TOO_MANY_WEBHOOKS",
                format!("at most {MAX_WEBHOOKS} webhooks per publisher; delete one first"),
            )));
        }
        let secret = new_secret();
        let now = passerelle_entities::time::now();
        let row = webhook::ActiveModel {
            publisher_id: Set(publisher),
            url: Set(url.clone()),
            topics: Set(webhook::Topics(
                topics.iter().map(|t| (*t).to_owned()).collect(),
            )),
            secret: Set(secret.clone()),
            previous_secret: Set(None),
            previous_secret_expires_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        audit_entry::entry(
            &scope::actor(ctx),
            "WEBHOOK_CREATED",
            format!("webhook:{}", row.id),
            json!({ "publisher": publisher, "url": url, "topics": topics }),
        )
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(WebhookSecretPayload {
            webhook: Some(row.into()),
            secret: Some(secret),
            user_errors: Vec::new(),
        })
    }

    /// Gives a webhook a new secret, shown in the answer only. The previous one keeps signing
    /// deliveries beside it for `graceHours` (default 24), so that the receiver can switch
    /// without refusing a delivery.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        input: RotateWebhookSecretInput,
    ) -> ApiResult<WebhookSecretPayload> {
        let grace = input.grace_hours.unwrap_or(24);
        if !(0..=MAX_GRACE_HOURS).contains(&grace) {
            return Err(ApiError::bad_input(
                "input.graceHours",
                format!("between 0 and {MAX_GRACE_HOURS}"),
            ));
        }
        let w = managed(ctx, &input.id).await?;
        let secret = new_secret();
        let now = passerelle_entities::time::now();
        let db = writer(ctx)?;
        let txn = db.begin().await?;
        let mut row: webhook::ActiveModel = w.clone().into();
        row.previous_secret = Set((grace > 0).then(|| w.secret.clone()));
        row.previous_secret_expires_at =
            Set((grace > 0).then(|| now + chrono::Duration::hours(i64::from(grace))));
        row.secret = Set(secret.clone());
        row.updated_at = Set(now);
        let row = row.update(&txn).await?;
        audit_entry::entry(
            &scope::actor(ctx),
            "WEBHOOK_SECRET_ROTATED",
            format!("webhook:{}", w.id),
            json!({ "publisher": w.publisher_id, "graceHours": grace }),
        )
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(WebhookSecretPayload {
            webhook: Some(row.into()),
            secret: Some(secret),
            user_errors: Vec::new(),
        })
    }

    /// Deletes a webhook, and the deliveries it still owes.
    async fn delete_webhook(
        &self,
        ctx: &Context<'_>,
        input: DeleteWebhookInput,
    ) -> ApiResult<DeleteWebhookPayload> {
        let w = managed(ctx, &input.id).await?;
        let db = writer(ctx)?;
        let txn = db.begin().await?;
        outbox::Entity::delete_many()
            .filter(outbox::Column::WebhookId.eq(w.id))
            .exec(&txn)
            .await?;
        webhook::Entity::delete_many()
            .filter(webhook::Column::Id.eq(w.id))
            .exec(&txn)
            .await?;
        audit_entry::entry(
            &scope::actor(ctx),
            "WEBHOOK_DELETED",
            format!("webhook:{}", w.id),
            json!({ "publisher": w.publisher_id, "url": w.url }),
        )
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(DeleteWebhookPayload {
            deleted_id: ID(w.id.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_https_on_public_hosts_without_credentials() {
        assert!(check_url("https://hooks.example.org/passerelle", false).is_ok());
        let code = |u: &str, private: bool| check_url(u, private).err().map(|e| e.code);
        assert_eq!(
            code("http://hooks.example.org/", false).as_deref(),
            Some("INVALID_URL")
        );
        assert_eq!(
            code("https://127.0.0.1/", false).as_deref(),
            Some("PRIVATE_ADDRESS")
        );
        assert_eq!(
            code("https://[::1]/", false).as_deref(),
            Some("PRIVATE_ADDRESS")
        );
        assert_eq!(
            code("https://localhost:8443/", false).as_deref(),
            Some("PRIVATE_ADDRESS")
        );
        assert_eq!(
            code("https://10.0.0.8/", false).as_deref(),
            Some("PRIVATE_ADDRESS")
        );
        assert_eq!(
            code("https://u:p@hooks.example.org/", false).as_deref(),
            Some("INVALID_URL")
        );
        assert_eq!(code("not a url", false).as_deref(), Some("INVALID_URL"));
        assert_eq!(code("http://127.0.0.1:9/", true), None);
    }
}
