//! Partners push their missions without a feed: `upsertMissions` and `deleteMissions`, API
//! Engagement's push API in GraphQL.
//!
//! A pushed mission goes through the feed import's own code (`passerelle_ingest::import::
//! push_missions`): the same normalisation, rules, fingerprint and rows, so a push of the same
//! missions twice changes nothing and says so. A push holds the publisher's import lock, so
//! that it never races an import or another push of the same publisher. With an
//! `Idempotency-Key` (header or input), the reply is kept 24 hours: the same push sent again
//! gets it back (`replayed: true`) without running; another push under the same key is
//! refused.
use async_graphql::{ComplexObject, Context, Enum, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use passerelle_entities::access::Access;
use passerelle_entities::{idempotency_key, mission, time};
use passerelle_ingest::feed::FeedMission;
use passerelle_ingest::import::{self, ImportError, PushResult};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, Set,
};
use serde_json::{Value as Json, json};

use super::types::Mission;
use super::write::{AddressInput, MissionFieldsInput};
use crate::diffusion::UserError;
use crate::error::{ApiError, ApiResult};
use crate::loader::MissionId;
use crate::{loaders, scope, writer};

/// The most missions one push may hold.
pub const MAX_PUSH: usize = 1_000;
/// How long a push's reply is kept under its idempotency key.
pub const IDEMPOTENCY_HOURS: i64 = 24;
/// The longest idempotency key.
const MAX_KEY_CHARS: usize = 255;

/// The `Idempotency-Key` header of the request, as the gateway read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub String);

/// The organization of a pushed mission.
#[derive(Debug, Clone, InputObject)]
pub struct OrganizationPushInput {
    /// Your id of the organization; else its RNA, its SIREN or its name identify it.
    pub client_id: Option<String>,
    pub name: String,
    pub rna: Option<String>,
    pub siren: Option<String>,
    pub url: Option<String>,
    pub logo: Option<String>,
    pub description: Option<String>,
    /// "Association", "Collectivité territoriale", …
    pub legal_status: Option<String>,
    pub organization_type: Option<String>,
    pub full_address: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    /// The network the organization belongs to.
    pub network: Option<String>,
}

/// A mission as a partner pushes it; the same fields as a feed's `<mission>`. What is not
/// given takes the import's default.
#[derive(Debug, Clone, InputObject)]
pub struct MissionPushInput {
    /// Your id of the mission: pushes are keyed by it.
    pub client_id: String,
    /// When you first published it (now by default).
    pub posted_at: Option<DateTime<Utc>>,
    #[graphql(flatten)]
    pub fields: MissionFieldsInput,
    pub organization: Option<OrganizationPushInput>,
}

/// Missions to create or update.
#[derive(Debug, Clone, InputObject)]
pub struct UpsertMissionsInput {
    /// At most 1,000.
    pub missions: Vec<MissionPushInput>,
    /// The same as the `Idempotency-Key` header; either may be used.
    pub idempotency_key: Option<String>,
}

/// Missions to delete, by your ids.
#[derive(Debug, Clone, InputObject)]
pub struct DeleteMissionsInput {
    /// At most 1,000.
    pub client_ids: Vec<String>,
    pub idempotency_key: Option<String>,
}

/// What became of a pushed mission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum PushOutcome {
    Created,
    Updated,
    /// The same as stored: nothing written.
    Unchanged,
    /// Stored REFUSED with its reasons (`userErrors`); listed for you, not published.
    Refused,
    /// Its `clientId` came earlier in the same push: ignored.
    Duplicate,
    /// No `clientId`: nothing stored.
    Unkeyed,
    /// `deleteMissions`: soft-deleted.
    Deleted,
    /// `deleteMissions`: was deleted already.
    AlreadyDeleted,
    /// `deleteMissions`: no such mission of yours.
    NotFound,
}

impl PushOutcome {
    fn as_str(self) -> &'static str {
        match self {
            PushOutcome::Created => "CREATED",
            PushOutcome::Updated => "UPDATED",
            PushOutcome::Unchanged => "UNCHANGED",
            PushOutcome::Refused => "REFUSED",
            PushOutcome::Duplicate => "DUPLICATE",
            PushOutcome::Unkeyed => "UNKEYED",
            PushOutcome::Deleted => "DELETED",
            PushOutcome::AlreadyDeleted => "ALREADY_DELETED",
            PushOutcome::NotFound => "NOT_FOUND",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            PushOutcome::Created,
            PushOutcome::Updated,
            PushOutcome::Unchanged,
            PushOutcome::Refused,
            PushOutcome::Duplicate,
            PushOutcome::Unkeyed,
            PushOutcome::Deleted,
            PushOutcome::AlreadyDeleted,
            PushOutcome::NotFound,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// One mission's result.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct MissionPushResult {
    pub client_id: String,
    pub result: PushOutcome,
    #[graphql(skip)]
    pub mission_id: Option<i64>,
    /// Why the mission was refused: the import's codes, on the input's fields.
    pub user_errors: Vec<UserError>,
}

#[ComplexObject]
impl MissionPushResult {
    /// The stored mission (in any status: it is yours).
    async fn mission(&self, ctx: &Context<'_>) -> ApiResult<Option<Mission>> {
        let Some(id) = self.mission_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)?
            .load_one(MissionId(id))
            .await?
            .map(Mission::from))
    }
}

/// What a push did.
#[derive(Debug, Clone, SimpleObject)]
pub struct MissionPushPayload {
    /// One per mission sent, in order.
    pub results: Vec<MissionPushResult>,
    pub created: i32,
    pub updated: i32,
    pub unchanged: i32,
    pub refused: i32,
    pub deleted: i32,
    /// True when this is the reply kept for the same push sent earlier under the same
    /// idempotency key: nothing ran this time.
    pub replayed: bool,
}

impl MissionPushPayload {
    fn new(results: Vec<MissionPushResult>, replayed: bool) -> Self {
        let count = |o: PushOutcome| results.iter().filter(|r| r.result == o).count() as i32;
        MissionPushPayload {
            created: count(PushOutcome::Created),
            updated: count(PushOutcome::Updated),
            unchanged: count(PushOutcome::Unchanged),
            refused: count(PushOutcome::Refused),
            deleted: count(PushOutcome::Deleted),
            results,
            replayed,
        }
    }

    fn to_json(&self) -> Json {
        Json::Array(
            self.results
                .iter()
                .map(|r| {
                    json!([
                        r.client_id,
                        r.result.as_str(),
                        r.mission_id,
                        r.user_errors
                            .iter()
                            .map(|e| json!([e.field, e.code, e.message]))
                            .collect::<Vec<_>>(),
                    ])
                })
                .collect(),
        )
    }

    fn from_json(stored: &Json) -> Option<Self> {
        let results = stored
            .as_array()?
            .iter()
            .map(|r| {
                let errors = r[3]
                    .as_array()?
                    .iter()
                    .map(|e| {
                        Some(UserError {
                            field: e[0].as_str()?.to_owned(),
                            code: e[1].as_str()?.to_owned(),
                            message: e[2].as_str()?.to_owned(),
                        })
                    })
                    .collect::<Option<Vec<_>>>()?;
                Some(MissionPushResult {
                    client_id: r[0].as_str()?.to_owned(),
                    result: PushOutcome::parse(r[1].as_str()?)?,
                    mission_id: r[2].as_i64(),
                    user_errors: errors,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(MissionPushPayload::new(results, true))
    }
}

/// The publisher whose missions the caller pushes: a partner's key, or its people.
fn publisher_of(ctx: &Context<'_>) -> ApiResult<i64> {
    match scope::access(ctx) {
        Access::Partner { publisher_id, .. } => Ok(*publisher_id),
        _ => Err(ApiError::Forbidden {
            message: "only a partner (its API key, or its people) pushes its missions".to_owned(),
        }),
    }
}

/// The idempotency key of the request: the input's or the header's (the same if both).
fn idempotency_key(ctx: &Context<'_>, input: Option<String>) -> ApiResult<Option<String>> {
    let header = ctx.data_opt::<IdempotencyKey>().map(|k| k.0.clone());
    let key = match (input, header) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::bad_input(
                "input.idempotencyKey",
                "differs from the Idempotency-Key header; send one of them",
            ));
        }
        (a, b) => a.or(b),
    };
    if let Some(k) = &key
        && (k.is_empty()
            || k.chars().count() > MAX_KEY_CHARS
            || !k.chars().all(|c| c.is_ascii_graphic()))
    {
        return Err(ApiError::bad_input(
            "input.idempotencyKey",
            format!("1 to {MAX_KEY_CHARS} visible ASCII characters (a UUID, say)"),
        ));
    }
    Ok(key)
}

/// A stable text of what a push sends, for its fingerprint.
fn request_text(operation: &str, parts: &[String]) -> String {
    let mut out = format!("{operation}:{};", parts.len());
    for p in parts {
        out.push_str(&format!("{}:{p};", p.len()));
    }
    out
}

/// A feed mission, written out field by field (length-prefixed), for the request fingerprint.
fn feed_text(m: &FeedMission) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (k, v) in &m.fields {
        parts.push(format!("f{}:{k}={}:{v}", k.len(), v.len()));
    }
    for (k, values) in &m.lists {
        parts.push(format!("l{}:{k}:{}", k.len(), values.len()));
        parts.extend(values.iter().map(|v| format!("{}:{v}", v.len())));
    }
    for a in &m.addresses {
        for v in [&a.street, &a.postal_code, &a.city, &a.country, &a.lonlat] {
            let v = v.as_deref().unwrap_or("\u{0}");
            parts.push(format!("a{}:{v}", v.len()));
        }
    }
    request_text("mission", &parts)
}

fn to_feed(m: MissionPushInput) -> FeedMission {
    let mut fields: Vec<(String, String)> = vec![("clientId".into(), m.client_id.trim().into())];
    let mut put = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            fields.push((name.to_owned(), v.trim().to_owned()));
        }
    };
    let yes = |b: Option<bool>| b.map(|b| if b { "yes" } else { "no" }.to_owned());
    let f = m.fields;
    put("title", f.title);
    put("description", f.description);
    put("applicationUrl", f.application_url);
    put(
        "domain",
        f.domain
            .map(|d| passerelle_entities::Domain::from(d).as_str().to_owned()),
    );
    put(
        "type",
        f.mission_type.map(|t| {
            passerelle_entities::MissionType::from(t)
                .as_str()
                .to_owned()
        }),
    );
    put(
        "remote",
        f.remote
            .map(|r| passerelle_entities::Remote::from(r).as_str().to_owned()),
    );
    put("postedAt", m.posted_at.map(|t| t.to_rfc3339()));
    put("startAt", f.start_at.map(|t| t.to_rfc3339()));
    put("endAt", f.end_at.map(|t| t.to_rfc3339()));
    put("places", f.places.map(|p| p.to_string()));
    put("snu", yes(f.snu));
    put("snuPlaces", f.snu_places.map(|p| p.to_string()));
    put("openToMinors", yes(f.open_to_minors));
    put(
        "reducedMobilityAccessible",
        yes(f.reduced_mobility_accessible),
    );
    put("closeToTransport", yes(f.close_to_transport));
    put("schedule", f.schedule);
    if let Some(o) = m.organization {
        put("organizationClientId", o.client_id);
        put("organizationName", Some(o.name));
        put("organizationRNA", o.rna);
        put("organizationSiren", o.siren);
        put("organizationUrl", o.url);
        put("organizationLogo", o.logo);
        put("organizationDescription", o.description);
        put("organizationStatusJuridique", o.legal_status);
        put("organizationType", o.organization_type);
        put("organizationFullAddress", o.full_address);
        put("organizationPostCode", o.postal_code);
        put("organizationCity", o.city);
        put("organizationReseaux", o.network);
    }
    let lists = [
        ("activities", f.activities),
        ("tags", f.tags),
        ("audience", f.audience),
        ("softSkills", f.soft_skills),
        ("requirements", f.requirements),
    ]
    .into_iter()
    .filter_map(|(name, values)| values.map(|v| (name.to_owned(), v)))
    .collect();
    FeedMission {
        fields,
        lists,
        flat_address: None,
        truncated: Vec::new(),
        addresses: f
            .addresses
            .unwrap_or_default()
            .iter()
            .map(AddressInput::to_feed)
            .collect(),
    }
}

/// Checks the sizes a push may have.
fn check_push(missions: &[MissionPushInput]) -> ApiResult<()> {
    if missions.is_empty() || missions.len() > MAX_PUSH {
        return Err(ApiError::bad_input(
            "input.missions",
            format!("1 to {MAX_PUSH} missions per push"),
        ));
    }
    for (i, m) in missions.iter().enumerate() {
        if let Some((field, message)) = m.fields.oversized() {
            return Err(ApiError::bad_input(
                format!("input.missions.{i}.{field}"),
                message,
            ));
        }
    }
    Ok(())
}

/// A reply kept for this key, if any: `Ok(Some)` to replay, `Err` for another push under the
/// same key.
async fn kept(
    txn: &DatabaseTransaction,
    publisher_id: i64,
    key: &str,
    hash: &str,
) -> ApiResult<Option<MissionPushPayload>> {
    #[allow(clippy::disallowed_methods)]
    // The publisher's own row, found by the key it sent, under its lock.
    let row = idempotency_key::Entity::find()
        .filter(idempotency_key::Column::PublisherId.eq(publisher_id))
        .filter(idempotency_key::Column::Key.eq(key))
        .filter(
            idempotency_key::Column::CreatedAt
                .gt(time::now() - chrono::Duration::hours(IDEMPOTENCY_HOURS)),
        )
        .one(txn)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    if row.request_hash != hash {
        return Err(ApiError::bad_input(
            "input.idempotencyKey",
            "already used in the last 24 hours for another request; use a new key for a new push",
        ));
    }
    MissionPushPayload::from_json(&row.response)
        .map(Some)
        .ok_or_else(|| ApiError::internal("a kept push reply cannot be read", &row.id))
}

/// Keeps a reply under its key (and forgets the expired ones), in the push's transaction.
async fn keep(
    txn: &DatabaseTransaction,
    publisher_id: i64,
    key: &str,
    hash: &str,
    payload: &MissionPushPayload,
) -> ApiResult<()> {
    let now = time::now();
    // The publisher's own expired keys only: its lock covers no other publisher's rows.
    idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::PublisherId.eq(publisher_id))
        .filter(
            idempotency_key::Column::CreatedAt
                .lte(now - chrono::Duration::hours(IDEMPOTENCY_HOURS)),
        )
        .exec(txn)
        .await?;
    idempotency_key::ActiveModel {
        publisher_id: Set(publisher_id),
        key: Set(key.to_owned()),
        request_hash: Set(hash.to_owned()),
        response: Set(payload.to_json()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Begins the publisher's exclusive transaction; another import or push running is
/// `CONFLICT` (retry).
async fn begin(db: &DatabaseConnection, publisher_id: i64) -> ApiResult<DatabaseTransaction> {
    import::begin_exclusive(db, publisher_id)
        .await
        .map_err(|e| match e {
            ImportError::Busy => ApiError::Conflict {
                message: "an import or another push of your missions is running; retry in a moment"
                    .to_owned(),
            },
            other => ApiError::internal("cannot begin a push", &other),
        })
}

/// Runs `work` in the publisher's transaction, replaying or keeping its reply under `key`.
async fn idempotent<F>(
    db: &DatabaseConnection,
    publisher_id: i64,
    key: Option<String>,
    hash: String,
    work: F,
) -> ApiResult<MissionPushPayload>
where
    F: AsyncFnOnce(&DatabaseTransaction) -> ApiResult<MissionPushPayload>,
{
    let txn = begin(db, publisher_id).await?;
    if let Some(key) = &key
        && let Some(replayed) = kept(&txn, publisher_id, key, &hash).await?
    {
        txn.rollback().await?;
        return Ok(replayed);
    }
    let payload = match work(&txn).await {
        Ok(p) => p,
        Err(e) => {
            txn.rollback().await?;
            return Err(e);
        }
    };
    if let Some(key) = &key {
        keep(&txn, publisher_id, key, &hash, &payload).await?;
    }
    txn.commit().await?;
    Ok(payload)
}

/// Partners' mutations over their own missions.
#[derive(Default)]
pub struct MissionPushMutation;

#[Object]
impl MissionPushMutation {
    /// Creates or updates your missions by `clientId` (a partner's key or its people), up to
    /// 1,000 per call, each with its own result; the feed import's rules apply, with its codes.
    /// The same push twice changes nothing (`UNCHANGED`). With an `Idempotency-Key` header (or
    /// `idempotencyKey`), the reply is kept 24 hours and given back to the same push.
    async fn upsert_missions(
        &self,
        ctx: &Context<'_>,
        input: UpsertMissionsInput,
    ) -> ApiResult<MissionPushPayload> {
        let publisher_id = publisher_of(ctx)?;
        let key = idempotency_key(ctx, input.idempotency_key)?;
        check_push(&input.missions)?;
        let feeds: Vec<FeedMission> = input.missions.into_iter().map(to_feed).collect();
        let hash = format!(
            "{:016x}",
            import::fingerprint(&request_text(
                "upsert",
                &feeds.iter().map(feed_text).collect::<Vec<_>>()
            ))
        );
        let db = writer(ctx)?;
        idempotent(db, publisher_id, key, hash, async |txn| {
            let pushed = import::push_missions(txn, publisher_id, &feeds).await?;
            let results = pushed
                .into_iter()
                .enumerate()
                .map(|(i, p)| MissionPushResult {
                    client_id: p.client_id,
                    result: match p.result {
                        PushResult::Created => PushOutcome::Created,
                        PushResult::Updated => PushOutcome::Updated,
                        PushResult::Unchanged => PushOutcome::Unchanged,
                        PushResult::Refused => PushOutcome::Refused,
                        PushResult::Duplicate => PushOutcome::Duplicate,
                        PushResult::Unkeyed => PushOutcome::Unkeyed,
                    },
                    mission_id: p.mission_id,
                    user_errors: p
                        .violations
                        .iter()
                        .map(|v| UserError {
                            field: format!("input.missions.{i}.{}", v.field),
                            code: v.code.to_owned(),
                            message: v.message.clone(),
                        })
                        .collect(),
                })
                .collect();
            Ok(MissionPushPayload::new(results, false))
        })
        .await
    }

    /// Soft-deletes your missions by `clientId`, up to 1,000 per call: they leave every list at
    /// once; pushing one again brings it back.
    async fn delete_missions(
        &self,
        ctx: &Context<'_>,
        input: DeleteMissionsInput,
    ) -> ApiResult<MissionPushPayload> {
        let publisher_id = publisher_of(ctx)?;
        let key = idempotency_key(ctx, input.idempotency_key)?;
        if input.client_ids.is_empty() || input.client_ids.len() > MAX_PUSH {
            return Err(ApiError::bad_input(
                "input.clientIds",
                format!("1 to {MAX_PUSH} ids per call"),
            ));
        }
        let ids: Vec<String> = input
            .client_ids
            .iter()
            .map(|c| c.trim().to_owned())
            .collect();
        let hash = format!(
            "{:016x}",
            import::fingerprint(&request_text("delete", &ids))
        );
        let db = writer(ctx)?;
        idempotent(db, publisher_id, key, hash, async |txn| {
            #[allow(clippy::disallowed_methods)]
            // The partner's own missions, by the ids it sent, under its lock.
            let stored: std::collections::HashMap<String, (i64, bool)> = mission::Entity::find()
                .filter(mission::Column::PublisherId.eq(publisher_id))
                .filter(mission::Column::ClientId.is_in(ids.iter().cloned()))
                .all(txn)
                .await?
                .into_iter()
                .map(|m| (m.client_id, (m.id, m.deleted_at.is_some())))
                .collect();
            let live: Vec<i64> = stored
                .values()
                .filter(|(_, deleted)| !deleted)
                .map(|(id, _)| *id)
                .collect();
            if !live.is_empty() {
                let now = time::now();
                mission::Entity::update_many()
                    .col_expr(mission::Column::DeletedAt, Expr::value(now))
                    .col_expr(mission::Column::UpdatedAt, Expr::value(now))
                    .col_expr(
                        mission::Column::Version,
                        Expr::col(mission::Column::Version).add(1),
                    )
                    .filter(mission::Column::Id.is_in(live))
                    .exec(txn)
                    .await?;
            }
            let mut done = std::collections::HashSet::new();
            let results = ids
                .into_iter()
                .map(|client_id| {
                    let (result, mission_id) = match stored.get(&client_id) {
                        None => (PushOutcome::NotFound, None),
                        Some((id, true)) => (PushOutcome::AlreadyDeleted, Some(*id)),
                        Some((id, false)) if !done.insert(*id) => {
                            (PushOutcome::Duplicate, Some(*id))
                        }
                        Some((id, false)) => (PushOutcome::Deleted, Some(*id)),
                    };
                    MissionPushResult {
                        client_id,
                        result,
                        mission_id,
                        user_errors: Vec::new(),
                    }
                })
                .collect();
            Ok(MissionPushPayload::new(results, false))
        })
        .await
    }
}
