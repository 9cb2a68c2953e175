//! The write side of missions: structures create, edit, submit, cancel, archive and duplicate
//! their missions; referents and admins moderate them.
//!
//! - A mission's content goes through the feed import's own normalisation and validation
//!   (`passerelle_ingest::normalize`), so that a mission refused at import is refused here for
//!   the same reason, with the same code. A draft may be incomplete (the `MISSING_*` rules wait
//!   for `submitMission`); every other rule holds at once.
//! - Every status change asks [`lifecycle::transition`], the one table of legal moves.
//! - Every change is written with its history event, in one transaction, by a conditional
//!   `UPDATE … WHERE version = read version`: a write based on a stale read is `CONFLICT`,
//!   never a lost update.
//!
//! Reads go through the viewer's scope (`scope::find`); the writes below only touch rows a
//! scoped read returned and the viewer was found to manage.
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use passerelle_entities::lifecycle::{self, Action};
use passerelle_entities::rules::{MissionCandidate, Violation, validate_mission};
use passerelle_entities::{MissionStatus as DbStatus, mission, mission_address, mission_event};
use passerelle_ingest::feed::{FeedAddress, FeedMission};
use passerelle_ingest::{import, normalize};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Set, TransactionTrait,
};

use super::types::Mission;
use crate::diffusion::UserError;
use crate::enums::{Domain, MissionType, Remote};
use crate::error::{ApiError, ApiResult};
use crate::filter::parse_id;
use crate::{scope, writer};

/// The longest moderation or cancellation comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2_000;
/// The most addresses a mission may have.
pub const MAX_ADDRESSES: usize = 50;
/// The most values of a list field (tags, activities, …).
pub const MAX_LIST_VALUES: usize = 50;

/// A place where the mission happens.
#[derive(Debug, Clone, Default, InputObject)]
pub struct AddressInput {
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    /// Both or neither; without them, the commune's centroid is used.
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

impl AddressInput {
    /// The address as a feed writes it (`lonlat` is "lon,lat").
    pub(crate) fn to_feed(&self) -> FeedAddress {
        FeedAddress {
            street: self.street.clone(),
            postal_code: self.postal_code.clone(),
            city: self.city.clone(),
            country: self.country.clone(),
            lonlat: self
                .lat
                .zip(self.lon)
                .map(|(lat, lon)| format!("{lon},{lat}")),
            ..Default::default()
        }
    }
}

/// A mission's content. On creation, what is not given takes its default; on update, what is
/// not given stays as it is.
#[derive(Debug, Clone, Default, InputObject)]
pub struct MissionFieldsInput {
    pub title: Option<String>,
    /// May hold HTML.
    pub description: Option<String>,
    pub domain: Option<Domain>,
    #[graphql(name = "type")]
    pub mission_type: Option<MissionType>,
    pub remote: Option<Remote>,
    pub start_at: Option<DateTime<Utc>>,
    pub end_at: Option<DateTime<Utc>>,
    pub places: Option<i32>,
    pub snu: Option<bool>,
    /// The SNU places offered; those left (`Mission.snuPlaces`) follow, less the places
    /// accepted applications hold.
    pub snu_places: Option<i32>,
    pub open_to_minors: Option<bool>,
    pub reduced_mobility_accessible: Option<bool>,
    pub close_to_transport: Option<bool>,
    pub schedule: Option<String>,
    pub activities: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub audience: Option<Vec<String>>,
    pub soft_skills: Option<Vec<String>>,
    pub requirements: Option<Vec<String>>,
    /// Where a candidate applies.
    pub application_url: Option<String>,
    /// Replaces every address when given.
    pub addresses: Option<Vec<AddressInput>>,
}

impl MissionFieldsInput {
    /// The first list or address list that is too long, or address with half a point: its
    /// field (`tags`, `addresses.2`) and why.
    pub(crate) fn oversized(&self) -> Option<(String, String)> {
        let lists = [
            ("activities", &self.activities),
            ("tags", &self.tags),
            ("audience", &self.audience),
            ("softSkills", &self.soft_skills),
            ("requirements", &self.requirements),
        ];
        if let Some((name, _)) = lists
            .iter()
            .find(|(_, l)| l.as_ref().is_some_and(|l| l.len() > MAX_LIST_VALUES))
        {
            return Some((
                (*name).to_owned(),
                format!("at most {MAX_LIST_VALUES} values"),
            ));
        }
        let addresses = self.addresses.as_deref().unwrap_or_default();
        if addresses.len() > MAX_ADDRESSES {
            return Some((
                "addresses".to_owned(),
                format!("at most {MAX_ADDRESSES} addresses"),
            ));
        }
        addresses
            .iter()
            .position(|a| a.lat.is_some() != a.lon.is_some())
            .map(|i| {
                (
                    format!("addresses.{i}"),
                    "give both lat and lon, or neither".to_owned(),
                )
            })
    }
}

/// A new mission, as a DRAFT of an organization.
#[derive(Debug, Clone, InputObject)]
pub struct CreateMissionInput {
    /// The organization: structure staff's own by default; admins must name one.
    pub organization_id: Option<ID>,
    #[graphql(flatten)]
    pub fields: MissionFieldsInput,
}

/// A change to a mission's content.
#[derive(Debug, Clone, InputObject)]
pub struct UpdateMissionInput {
    pub id: ID,
    /// The `version` the change is based on: if the mission changed since, nothing is written
    /// and the answer is `CONFLICT`.
    pub version: i32,
    #[graphql(flatten)]
    pub fields: MissionFieldsInput,
}

/// A mission to act on.
#[derive(Debug, Clone, InputObject)]
pub struct MissionActionInput {
    pub id: ID,
    /// When given, the action applies only if the mission is still at this version.
    pub version: Option<i32>,
    /// Why (kept in the mission's history).
    pub comment: Option<String>,
}

/// A moderator's decision on a mission waiting for validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ModerationDecision {
    Validate,
    /// Sends the mission back to its structure; needs a comment.
    RequestCorrection,
    /// Needs a comment.
    Refuse,
}

impl ModerationDecision {
    fn action(self) -> Action {
        match self {
            ModerationDecision::Validate => Action::Validate,
            ModerationDecision::RequestCorrection => Action::RequestCorrection,
            ModerationDecision::Refuse => Action::Refuse,
        }
    }
}

/// A moderation decision.
#[derive(Debug, Clone, InputObject)]
pub struct ModerateMissionInput {
    pub id: ID,
    pub decision: ModerationDecision,
    /// Shown to the structure as the mission's `statusComment`; required to request a
    /// correction or to refuse.
    pub comment: Option<String>,
    /// When given, the decision applies only if the mission is still at this version.
    pub version: Option<i32>,
}

/// What a mission mutation did: the mission as it is now, and why nothing changed if so.
#[derive(Debug, Clone, SimpleObject)]
pub struct MissionPayload {
    /// The mission after the change (as it stands, when there are user errors).
    pub mission: Option<Mission>,
    /// Why nothing changed; empty when the change was made.
    pub user_errors: Vec<UserError>,
}

impl MissionPayload {
    fn refused(mission: Option<mission::Model>, errors: Vec<UserError>) -> Self {
        MissionPayload {
            mission: mission.map(Mission::from),
            user_errors: errors,
        }
    }

    fn done(mission: mission::Model) -> Self {
        MissionPayload {
            mission: Some(mission.into()),
            user_errors: Vec::new(),
        }
    }
}

fn user_error(field: impl Into<String>, code: &str, message: impl Into<String>) -> UserError {
    UserError {
        field: field.into(),
        code: code.to_owned(),
        message: message.into(),
    }
}

/// A rule the content breaks, as a user error on its input field.
fn violation_error(v: &Violation) -> UserError {
    user_error(format!("input.{}", v.field), v.code, v.message.clone())
}

/// A mission's whole content, as stored or as it will be.
#[derive(Debug, Clone)]
struct Content {
    title: String,
    description: String,
    domain: passerelle_entities::Domain,
    mission_type: passerelle_entities::MissionType,
    remote: passerelle_entities::Remote,
    start_at: DateTime<Utc>,
    end_at: Option<DateTime<Utc>>,
    places: i64,
    snu: bool,
    snu_places: i64,
    open_to_minors: bool,
    reduced_mobility_accessible: bool,
    close_to_transport: bool,
    schedule: Option<String>,
    activities: Vec<String>,
    tags: Vec<String>,
    audience: Vec<String>,
    soft_skills: Vec<String>,
    requirements: Vec<String>,
    application_url: String,
    addresses: Vec<AddressInput>,
}

impl Content {
    fn new(now: DateTime<Utc>) -> Self {
        Content {
            title: String::new(),
            description: String::new(),
            domain: passerelle_entities::Domain::Autre,
            mission_type: passerelle_entities::MissionType::Benevolat,
            remote: passerelle_entities::Remote::No,
            start_at: now,
            end_at: None,
            places: 1,
            snu: false,
            snu_places: 0,
            open_to_minors: false,
            reduced_mobility_accessible: false,
            close_to_transport: false,
            schedule: None,
            activities: Vec::new(),
            tags: Vec::new(),
            audience: Vec::new(),
            soft_skills: Vec::new(),
            requirements: Vec::new(),
            application_url: String::new(),
            addresses: Vec::new(),
        }
    }

    fn stored(m: &mission::Model, addresses: &[mission_address::Model]) -> Self {
        Content {
            title: m.title.clone(),
            description: m.description.clone(),
            domain: m.domain,
            mission_type: m.mission_type,
            remote: m.remote,
            start_at: m.start_at,
            end_at: m.end_at,
            places: i64::from(m.places),
            snu: m.snu,
            // Structures edit what they offer; what is left follows.
            snu_places: i64::from(m.snu_capacity),
            open_to_minors: m.open_to_minors,
            reduced_mobility_accessible: m.reduced_mobility_accessible,
            close_to_transport: m.close_to_transport,
            schedule: m.schedule.clone(),
            activities: m.activities.0.clone(),
            tags: m.tags.0.clone(),
            audience: m.audience.0.clone(),
            soft_skills: m.soft_skills.0.clone(),
            requirements: m.requirements.0.clone(),
            application_url: m.application_url.clone(),
            addresses: addresses
                .iter()
                .map(|a| AddressInput {
                    street: a.street.clone(),
                    postal_code: a.postal_code.clone(),
                    city: a.city.clone(),
                    country: a.country.clone(),
                    // Only the coordinates the structure gave are its own; a centroid or a
                    // geocoded point is found again.
                    lat: (a.geo_source == passerelle_entities::GeoSource::Publisher)
                        .then_some(a.lat)
                        .flatten(),
                    lon: (a.geo_source == passerelle_entities::GeoSource::Publisher)
                        .then_some(a.lon)
                        .flatten(),
                })
                .collect(),
        }
    }

    /// Applies what `f` gives; refuses lists that are too long.
    fn apply(&mut self, f: MissionFieldsInput) -> Result<(), UserError> {
        if let Some((field, message)) = f.oversized() {
            let code = if field.starts_with("addresses.") {
                "INVALID_COORDINATES"
            } else {
                "TOO_MANY_VALUES"
            };
            return Err(user_error(format!("input.{field}"), code, message));
        }
        let list = |v: Option<Vec<String>>, into: &mut Vec<String>| {
            if let Some(v) = v {
                *into = v
                    .into_iter()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
            }
        };
        list(f.activities, &mut self.activities);
        list(f.tags, &mut self.tags);
        list(f.audience, &mut self.audience);
        list(f.soft_skills, &mut self.soft_skills);
        list(f.requirements, &mut self.requirements);
        if let Some(a) = f.addresses {
            self.addresses = a;
        }
        macro_rules! set {
            ($($field:ident),+) => { $(if let Some(v) = f.$field { self.$field = v.into(); })+ };
        }
        set!(
            title,
            description,
            domain,
            mission_type,
            remote,
            start_at,
            snu,
            open_to_minors,
            reduced_mobility_accessible,
            close_to_transport,
            application_url
        );
        if let Some(end) = f.end_at {
            self.end_at = Some(end);
        }
        if let Some(p) = f.places {
            self.places = i64::from(p);
        }
        if let Some(p) = f.snu_places {
            self.snu_places = i64::from(p);
        }
        if let Some(s) = f.schedule {
            self.schedule = Some(s).filter(|s| !s.trim().is_empty());
        }
        Ok(())
    }

    /// The content as the feed import reads a mission, so that it is normalised and checked by
    /// the same code.
    fn to_feed(&self, client_id: &str) -> FeedMission {
        let yes = |b: bool| if b { "yes" } else { "no" }.to_owned();
        let mut fields = vec![
            ("clientId".to_owned(), client_id.to_owned()),
            ("title".to_owned(), self.title.clone()),
            ("description".to_owned(), self.description.clone()),
            ("applicationUrl".to_owned(), self.application_url.clone()),
            ("domain".to_owned(), self.domain.as_str().to_owned()),
            ("type".to_owned(), self.mission_type.as_str().to_owned()),
            ("remote".to_owned(), self.remote.as_str().to_owned()),
            ("startAt".to_owned(), self.start_at.to_rfc3339()),
            ("places".to_owned(), self.places.to_string()),
            ("snu".to_owned(), yes(self.snu)),
            ("snuPlaces".to_owned(), self.snu_places.to_string()),
            ("openToMinors".to_owned(), yes(self.open_to_minors)),
            (
                "reducedMobilityAccessible".to_owned(),
                yes(self.reduced_mobility_accessible),
            ),
            ("closeToTransport".to_owned(), yes(self.close_to_transport)),
        ];
        if let Some(end) = self.end_at {
            fields.push(("endAt".to_owned(), end.to_rfc3339()));
        }
        if let Some(s) = &self.schedule {
            fields.push(("schedule".to_owned(), s.clone()));
        }
        FeedMission {
            fields,
            lists: vec![
                ("activities".to_owned(), self.activities.clone()),
                ("tags".to_owned(), self.tags.clone()),
                ("audience".to_owned(), self.audience.clone()),
                ("softSkills".to_owned(), self.soft_skills.clone()),
                ("requirements".to_owned(), self.requirements.clone()),
            ],
            flat_address: None,
            truncated: Vec::new(),
            addresses: self.addresses.iter().map(AddressInput::to_feed).collect(),
        }
    }
}

/// Normalises content with the import's code; `Err` lists the rules it breaks. A draft may
/// still miss what submitting needs.
fn normalise(
    content: &Content,
    client_id: &str,
    draft: bool,
) -> Result<normalize::Mission, Vec<UserError>> {
    let m = normalize::normalize(&content.to_feed(client_id));
    let errors: Vec<UserError> = m
        .violations
        .iter()
        .filter(|v| !(draft && v.code.starts_with("MISSING_")))
        .map(violation_error)
        .collect();
    if errors.is_empty() {
        Ok(m)
    } else {
        Err(errors)
    }
}

/// What submitting needs of a stored mission: every rule, incomplete drafts included.
fn ready_to_submit(m: &mission::Model, addresses: &[mission_address::Model]) -> Vec<UserError> {
    validate_mission(&MissionCandidate {
        client_id: &m.client_id,
        title: &m.title,
        description: &m.description,
        application_url: &m.application_url,
        places: Some(i64::from(m.places)),
        start_at: Some(m.start_at),
        end_at: m.end_at,
        coordinates: addresses
            .iter()
            .filter_map(|a| Some((a.lat?, a.lon?)))
            .collect(),
    })
    .iter()
    .map(violation_error)
    .collect()
}

/// A checked comment: trimmed, not empty, not too long.
fn comment(text: Option<String>) -> Result<Option<String>, UserError> {
    let Some(text) = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_COMMENT_CHARS {
        return Err(user_error(
            "input.comment",
            "COMMENT_TOO_LONG",
            format!("at most {MAX_COMMENT_CHARS} characters"),
        ));
    }
    Ok(Some(text))
}

/// A mission the viewer may read, with its addresses, read fresh (not from the request's
/// loaders, which may hold it as it was before an earlier mutation of the same request).
async fn read(
    ctx: &Context<'_>,
    db: &DatabaseConnection,
    id: i64,
) -> ApiResult<Option<(mission::Model, Vec<mission_address::Model>)>> {
    let access = scope::access(ctx);
    let Some(select) = scope::find::<mission::Entity>(access) else {
        return Ok(None);
    };
    let Some(m) = select.filter(mission::Column::Id.eq(id)).one(db).await? else {
        return Ok(None);
    };
    let addresses = match scope::find::<mission_address::Entity>(access) {
        Some(select) => {
            select
                .filter(mission_address::Column::MissionId.eq(id))
                .order_by_asc(mission_address::Column::Position)
                .order_by_asc(mission_address::Column::Id)
                .all(db)
                .await?
        }
        None => Vec::new(),
    };
    Ok(Some((m, addresses)))
}

/// A mission the viewer manages: `NOT_FOUND` if it may not read it, `FORBIDDEN` if it may
/// only read it.
async fn managed(
    ctx: &Context<'_>,
    db: &DatabaseConnection,
    raw_id: &ID,
) -> ApiResult<(mission::Model, Vec<mission_address::Model>)> {
    let id = parse_id("input.id", raw_id)?;
    let Some((m, addresses)) = read(ctx, db, id).await? else {
        return Err(ApiError::not_found("mission", raw_id.to_string()));
    };
    let departments: Vec<String> = addresses
        .iter()
        .filter_map(|a| a.department_code.clone())
        .collect();
    let access = scope::access(ctx);
    if lifecycle::movers(access).is_empty()
        || !access.manages_mission(m.publisher_id, m.organization_id, &departments)
    {
        return Err(ApiError::Forbidden {
            message: format!("mission {} is not yours to change", raw_id.as_str()),
        });
    }
    Ok((m, addresses))
}

/// Reads a mission back after a change.
async fn reread(ctx: &Context<'_>, db: &DatabaseConnection, id: i64) -> ApiResult<mission::Model> {
    read(ctx, db, id)
        .await?
        .map(|(m, _)| m)
        .ok_or_else(|| ApiError::internal("a mission just written cannot be read", &id))
}

/// The answer to a write that found the mission changed under it: `CONFLICT` with the mission
/// as it is now, or `NOT_FOUND` if it is gone (deleted meanwhile).
async fn conflicted(
    ctx: &Context<'_>,
    db: &DatabaseConnection,
    raw_id: &ID,
    id: i64,
) -> ApiResult<MissionPayload> {
    match read(ctx, db, id).await? {
        Some((now, _)) => {
            let version = now.version;
            Ok(MissionPayload::refused(Some(now), vec![conflict(version)]))
        }
        None => Err(ApiError::not_found("mission", raw_id.to_string())),
    }
}

fn conflict(version: i32) -> UserError {
    user_error(
        "input.version",
        "CONFLICT",
        format!(
            "the mission changed since it was read (it is now at version {version}); read it again and retry"
        ),
    )
}

/// A new client id for a mission made in Passerelle.
fn new_client_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("passerelle-{t:x}-{n:x}")
}

/// The name of the publisher that missions written in Passerelle belong to.
pub const LOCAL_PUBLISHER: &str = "Passerelle";

/// Passerelle's own publisher, made on first use: the missions structures write here are its,
/// not their organization's partner's, so that no partner's feed import or push can delete,
/// overwrite or publish them, and no partner manages them.
async fn local_publisher<C: ConnectionTrait>(txn: &C) -> Result<i64, DbErr> {
    use passerelle_entities::publisher;
    use sea_orm::sea_query::OnConflict;
    let now = passerelle_entities::time::now();
    publisher::Entity::insert(publisher::ActiveModel {
        name: Set(LOCAL_PUBLISHER.to_owned()),
        is_annonceur: Set(true),
        is_diffuseur: Set(false),
        moderator: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(publisher::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    #[allow(clippy::disallowed_methods)]
    // Passerelle's own row, by its fixed name: public, like every publisher.
    let id = publisher::Entity::find()
        .filter(publisher::Column::Name.eq(LOCAL_PUBLISHER))
        .one(txn)
        .await?
        .map(|p| p.id)
        .ok_or_else(|| DbErr::RecordNotFound(LOCAL_PUBLISHER.to_owned()))?;
    Ok(id)
}

/// Writes a new mission (a draft, or a copy) with its addresses and its first event, as
/// Passerelle's own.
async fn insert_mission<C: ConnectionTrait>(
    txn: &C,
    organization: (i64, String),
    m: &normalize::Mission,
    event: mission_event::ActiveModel,
) -> Result<i64, DbErr> {
    let now = passerelle_entities::time::now();
    let publisher_id = local_publisher(txn).await?;
    let mut model = import::mission_model(publisher_id, m, Some(&organization), 0, now);
    model.status = Set(DbStatus::Draft);
    model.status_comment = Set(None);
    model.content_hash = Set(None);
    model.created_at = Set(now);
    let id = model.insert(txn).await?.id;
    let addresses: Vec<_> = import::address_models(id, m).collect();
    if !addresses.is_empty() {
        mission_address::Entity::insert_many(addresses)
            .exec_without_returning(txn)
            .await?;
    }
    let mut event = event;
    event.mission_id = Set(id);
    event.insert(txn).await?;
    Ok(id)
}

/// The name of an organization the viewer may read.
async fn organization_name(
    ctx: &Context<'_>,
    db: &DatabaseConnection,
    id: i64,
) -> ApiResult<Option<(i64, String)>> {
    let Some(select) = scope::find::<passerelle_entities::organization::Entity>(scope::access(ctx))
    else {
        return Ok(None);
    };
    Ok(select
        .filter(passerelle_entities::organization::Column::Id.eq(id))
        .one(db)
        .await?
        .map(|o| (o.publisher_id, o.name)))
}

/// Mission mutations.
#[derive(Default)]
pub struct MissionMutation;

#[Object]
impl MissionMutation {
    /// Creates a mission as a DRAFT of the caller's organization (structure staff), or of
    /// `organizationId` (admins). A draft may be incomplete; every other rule of the feed
    /// import applies, with its code, as `userErrors`.
    async fn create_mission(
        &self,
        ctx: &Context<'_>,
        input: CreateMissionInput,
    ) -> ApiResult<MissionPayload> {
        let db = writer(ctx)?;
        let access = scope::access(ctx);
        let organization_id = match (access, &input.organization_id) {
            (passerelle_entities::access::Access::StructureStaff { organization_id }, None) => {
                *organization_id
            }
            (passerelle_entities::access::Access::StructureStaff { organization_id }, Some(id))
                if parse_id("input.organizationId", id)? == *organization_id =>
            {
                *organization_id
            }
            (passerelle_entities::access::Access::Admin, Some(id)) => {
                parse_id("input.organizationId", id)?
            }
            (passerelle_entities::access::Access::Admin, None) => {
                return Ok(MissionPayload::refused(
                    None,
                    vec![user_error(
                        "input.organizationId",
                        "MISSING_ORGANIZATION",
                        "an admin names the organization of the mission",
                    )],
                ));
            }
            _ => {
                return Err(ApiError::Forbidden {
                    message: "only an organization's staff (or an admin) creates its missions"
                        .to_owned(),
                });
            }
        };
        let Some((_, name)) = organization_name(ctx, db, organization_id).await? else {
            return Err(ApiError::not_found(
                "organization",
                organization_id.to_string(),
            ));
        };
        let mut content = Content::new(passerelle_entities::time::now());
        if let Err(e) = content.apply(input.fields) {
            return Ok(MissionPayload::refused(None, vec![e]));
        }
        let client_id = new_client_id();
        let normalised = match normalise(&content, &client_id, true) {
            Ok(m) => m,
            Err(errors) => return Ok(MissionPayload::refused(None, errors)),
        };
        let actor = scope::actor(ctx).name;
        let txn = db.begin().await?;
        let id = insert_mission(
            &txn,
            (organization_id, name),
            &normalised,
            mission_event::event(0, &actor, "CREATED", None, Some(DbStatus::Draft), None),
        )
        .await?;
        txn.commit().await?;
        Ok(MissionPayload::done(reread(ctx, db, id).await?))
    }

    /// Changes a mission's content (its structure, or an admin), if it is still at `version`.
    /// A mission REFUSED, CANCELLED or ARCHIVED cannot be edited; a DRAFT may stay incomplete.
    async fn update_mission(
        &self,
        ctx: &Context<'_>,
        input: UpdateMissionInput,
    ) -> ApiResult<MissionPayload> {
        let db = writer(ctx)?;
        let (m, addresses) = managed(ctx, db, &input.id).await?;
        if !lifecycle::movers(scope::access(ctx)).contains(&lifecycle::Mover::Structure) {
            return Err(ApiError::Forbidden {
                message: "only the mission's structure (or an admin) edits its content".to_owned(),
            });
        }
        if !lifecycle::editable(m.status) {
            let status = m.status;
            return Ok(MissionPayload::refused(
                Some(m),
                vec![user_error(
                    "input.id",
                    "MISSION_NOT_EDITABLE",
                    format!("a mission in status {status} cannot be edited"),
                )],
            ));
        }
        if input.version != m.version {
            let version = m.version;
            return Ok(MissionPayload::refused(Some(m), vec![conflict(version)]));
        }
        let mut content = Content::stored(&m, &addresses);
        if let Err(e) = content.apply(input.fields) {
            return Ok(MissionPayload::refused(Some(m), vec![e]));
        }
        let draft = m.status == DbStatus::Draft;
        let normalised = match normalise(&content, &m.client_id, draft) {
            Ok(n) => n,
            Err(errors) => return Ok(MissionPayload::refused(Some(m), errors)),
        };
        let organization = match m.organization_id {
            Some(id) => organization_name(ctx, db, id).await?.map(|(_, n)| (id, n)),
            None => None,
        };
        let now = passerelle_entities::time::now();
        let mut model =
            import::mission_model(m.publisher_id, &normalised, organization.as_ref(), 0, now);
        // The content changes; the status, the moderation comment and the origin stay.
        model.status = sea_orm::ActiveValue::NotSet;
        model.status_comment = sea_orm::ActiveValue::NotSet;
        model.content_hash = sea_orm::ActiveValue::NotSet;
        model.posted_at = sea_orm::ActiveValue::NotSet;
        model.client_id = sea_orm::ActiveValue::NotSet;
        model.publisher_id = sea_orm::ActiveValue::NotSet;
        model.deleted_at = sea_orm::ActiveValue::NotSet;
        let left = import::keep_taken_places(&mut model);
        let actor = scope::actor(ctx).name;
        let txn = db.begin().await?;
        let updated = mission::Entity::update_many()
            .set(model)
            .col_expr(mission::Column::PlacesLeft, left.0)
            .col_expr(mission::Column::SnuPlaces, left.1)
            .col_expr(
                mission::Column::Version,
                Expr::col(mission::Column::Version).add(1),
            )
            .filter(mission::Column::Id.eq(m.id))
            .filter(mission::Column::Version.eq(m.version))
            .filter(mission::Column::DeletedAt.is_null())
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            txn.rollback().await?;
            return conflicted(ctx, db, &input.id, m.id).await;
        }
        mission_address::Entity::delete_many()
            .filter(mission_address::Column::MissionId.eq(m.id))
            .exec(&txn)
            .await?;
        let rows: Vec<_> = import::address_models(m.id, &normalised).collect();
        if !rows.is_empty() {
            mission_address::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await?;
        }
        mission_event::event(
            m.id,
            &actor,
            "UPDATED",
            Some(m.status),
            Some(m.status),
            None,
        )
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(MissionPayload::done(reread(ctx, db, m.id).await?))
    }

    /// Submits a DRAFT (or a mission sent back for correction) for validation: every rule of
    /// the feed import must hold.
    async fn submit_mission(
        &self,
        ctx: &Context<'_>,
        input: MissionActionInput,
    ) -> ApiResult<MissionPayload> {
        act(ctx, input.id, input.version, Action::Submit, input.comment).await
    }

    /// Cancels a VALIDATED mission.
    async fn cancel_mission(
        &self,
        ctx: &Context<'_>,
        input: MissionActionInput,
    ) -> ApiResult<MissionPayload> {
        act(ctx, input.id, input.version, Action::Cancel, input.comment).await
    }

    /// Archives a VALIDATED mission (the scheduler archives those past their end date).
    async fn archive_mission(
        &self,
        ctx: &Context<'_>,
        input: MissionActionInput,
    ) -> ApiResult<MissionPayload> {
        act(ctx, input.id, input.version, Action::Archive, input.comment).await
    }

    /// Copies a mission of the caller's organization as a new DRAFT, whatever its status.
    async fn duplicate_mission(
        &self,
        ctx: &Context<'_>,
        input: MissionActionInput,
    ) -> ApiResult<MissionPayload> {
        let db = writer(ctx)?;
        let (m, addresses) = managed(ctx, db, &input.id).await?;
        if !lifecycle::movers(scope::access(ctx)).contains(&lifecycle::Mover::Structure) {
            return Err(ApiError::Forbidden {
                message: "only the mission's structure (or an admin) duplicates it".to_owned(),
            });
        }
        let Some(organization) = (match m.organization_id {
            Some(id) => organization_name(ctx, db, id).await?.map(|(_, n)| (id, n)),
            None => None,
        }) else {
            return Ok(MissionPayload::refused(
                Some(m),
                vec![user_error(
                    "input.id",
                    "NO_ORGANIZATION",
                    "a mission without an organization cannot be duplicated",
                )],
            ));
        };
        let content = Content::stored(&m, &addresses);
        let client_id = new_client_id();
        let normalised = match normalise(&content, &client_id, true) {
            Ok(n) => n,
            Err(errors) => return Ok(MissionPayload::refused(Some(m), errors)),
        };
        let actor = scope::actor(ctx).name;
        let txn = db.begin().await?;
        let id = insert_mission(
            &txn,
            organization,
            &normalised,
            mission_event::event(
                0,
                &actor,
                "DUPLICATED",
                None,
                Some(DbStatus::Draft),
                Some(format!("copy of mission {}", m.id)),
            ),
        )
        .await?;
        txn.commit().await?;
        Ok(MissionPayload::done(reread(ctx, db, id).await?))
    }

    /// A moderator's decision on a mission WAITING_VALIDATION: referents of the mission's
    /// territory and admins. Requesting a correction and refusing need a comment, which the
    /// structure reads as `statusComment`.
    async fn moderate_mission(
        &self,
        ctx: &Context<'_>,
        input: ModerateMissionInput,
    ) -> ApiResult<MissionPayload> {
        act(
            ctx,
            input.id,
            input.version,
            input.decision.action(),
            input.comment,
        )
        .await
    }
}

/// Moves a mission's status by `action`, with its history event, in one transaction.
async fn act(
    ctx: &Context<'_>,
    id: ID,
    version: Option<i32>,
    action: Action,
    comment_text: Option<String>,
) -> ApiResult<MissionPayload> {
    let db = writer(ctx)?;
    let (m, addresses) = managed(ctx, db, &id).await?;
    let comment = match comment(comment_text) {
        Ok(c) => c,
        Err(e) => return Ok(MissionPayload::refused(Some(m), vec![e])),
    };
    let to = match lifecycle::transition(m.status, action, lifecycle::movers(scope::access(ctx))) {
        Ok(to) => to,
        Err(e) => {
            return Ok(MissionPayload::refused(
                Some(m),
                vec![user_error("input.id", e.code(), e.message())],
            ));
        }
    };
    if matches!(action, Action::RequestCorrection | Action::Refuse) && comment.is_none() {
        return Ok(MissionPayload::refused(
            Some(m),
            vec![user_error(
                "input.comment",
                "COMMENT_REQUIRED",
                "say what the structure must change, or why the mission is refused",
            )],
        ));
    }
    if action == Action::Submit {
        let errors = ready_to_submit(&m, &addresses);
        if !errors.is_empty() {
            return Ok(MissionPayload::refused(Some(m), errors));
        }
    }
    if let Some(v) = version
        && v != m.version
    {
        let version = m.version;
        return Ok(MissionPayload::refused(Some(m), vec![conflict(version)]));
    }
    let status_comment = match action {
        Action::RequestCorrection | Action::Refuse => Some(comment.clone()),
        Action::Validate | Action::Submit => Some(None),
        Action::Cancel | Action::Archive => None,
    };
    let actor = scope::actor(ctx).name;
    let txn = db.begin().await?;
    let mut update = mission::Entity::update_many()
        .col_expr(mission::Column::Status, Expr::value(to))
        .col_expr(
            mission::Column::Version,
            Expr::col(mission::Column::Version).add(1),
        )
        .col_expr(
            mission::Column::UpdatedAt,
            Expr::value(passerelle_entities::time::now()),
        );
    if let Some(c) = status_comment {
        update = update.col_expr(mission::Column::StatusComment, Expr::value(c));
    }
    let updated = update
        .filter(mission::Column::Id.eq(m.id))
        .filter(mission::Column::Version.eq(m.version))
        .filter(mission::Column::Status.eq(m.status))
        .filter(mission::Column::DeletedAt.is_null())
        .exec(&txn)
        .await?;
    if updated.rows_affected != 1 {
        txn.rollback().await?;
        return conflicted(ctx, db, &id, m.id).await;
    }
    if matches!(
        action,
        Action::Validate | Action::RequestCorrection | Action::Refuse
    ) {
        passerelle_entities::outbox::to_webhooks(
            &txn,
            m.publisher_id,
            "MISSION_MODERATION",
            "MISSION_MODERATED",
            serde_json::json!({
                "missionId": m.id.to_string(),
                "missionClientId": m.client_id,
                "decision": action.as_str(),
                "status": to.as_str(),
                "comment": comment,
            }),
        )
        .await?;
    }
    mission_event::event(
        m.id,
        &actor,
        action.as_str(),
        Some(m.status),
        Some(to),
        comment,
    )
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(MissionPayload::done(reread(ctx, db, m.id).await?))
}
