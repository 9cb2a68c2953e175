//! The SNU phase 2 workflow: volunteers apply, referents check eligibility and propose
//! missions, structures accept, start and report the hours done.
//!
//! - Every move asks [`application_lifecycle::transition`], the one table of legal moves, who
//!   may make them and what they do to the mission's places.
//! - A move is one transaction that starts with its own conditional write (`UPDATE … WHERE
//!   status = read status AND version = read version`), so that two moves of one application
//!   never both apply, and SQLite takes its write lock at once instead of failing to upgrade a
//!   read. Taking a place is `UPDATE missions SET snu_places = snu_places - 1 … WHERE
//!   snu_places > 0`: a place is never given twice and the count never goes below zero.
//! - The move's history event, notifications, emails and webhook calls are written in the same
//!   transaction (see [`super::notify`]).
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use passerelle_entities::access::Access;
use passerelle_entities::application_lifecycle::{
    self as lifecycle, Action, Candidacy, Facts, Party, Places,
};
use passerelle_entities::{
    ApplicationStatus as DbStatus, application, application_event, mission, volunteer,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, PaginatorTrait, QueryFilter, Set, TransactionTrait,
};

use super::Application;
use super::notify::{self, Move};
use crate::diffusion::UserError;
use crate::error::{ApiError, ApiResult};
use crate::filter::parse_id;
use crate::{scope, writer};

/// The longest motivation, in characters.
pub const MAX_MOTIVATION_CHARS: usize = 5_000;
/// The longest comment on a move, in characters.
pub const MAX_COMMENT_CHARS: usize = 2_000;

/// The settings of the workflow and of the webhooks that tell partners of it.
#[derive(Debug, Clone, Copy)]
pub struct ApplicationRules {
    /// The most live applications a volunteer has at once.
    pub max_live_applications: u32,
    /// Webhooks may be registered on loopback and private addresses, and over plain HTTP
    /// (development and tests only).
    pub allow_private_webhooks: bool,
}

impl Default for ApplicationRules {
    fn default() -> Self {
        ApplicationRules {
            max_live_applications: lifecycle::DEFAULT_MAX_LIVE_APPLICATIONS,
            allow_private_webhooks: false,
        }
    }
}

/// What is done to an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ApplicationAction {
    /// WAITING_VALIDATION → WAITING_ACCEPTATION: a referent of the volunteer's territory found
    /// them eligible.
    Verify,
    /// WAITING_ACCEPTATION → VALIDATED: the structure accepts (the volunteer, for a referent's
    /// proposal). Takes one of the mission's SNU places: `NO_PLACES_LEFT` when none is left.
    Accept,
    /// WAITING_VALIDATION (referent) or WAITING_ACCEPTATION (structure) → REFUSED; needs a
    /// comment.
    Refuse,
    /// → CANCELLED, by the volunteer: while waiting, at any time; once VALIDATED, before the
    /// mission starts (after, ABANDON). Frees the place if one was taken.
    Cancel,
    /// VALIDATED → IN_PROGRESS: the mission starts for the volunteer.
    Start,
    /// IN_PROGRESS → DONE: the structure reports `hoursDone`, added to the volunteer's phase 2
    /// hours (phase 2 is VALIDATED at 84).
    Complete,
    /// VALIDATED (after the start) or IN_PROGRESS → ABANDONED; frees the place.
    Abandon,
}

impl ApplicationAction {
    fn action(self) -> Action {
        match self {
            ApplicationAction::Verify => Action::Verify,
            ApplicationAction::Accept => Action::Accept,
            ApplicationAction::Refuse => Action::Refuse,
            ApplicationAction::Cancel => Action::Cancel,
            ApplicationAction::Start => Action::Start,
            ApplicationAction::Complete => Action::Complete,
            ApplicationAction::Abandon => Action::Abandon,
        }
    }
}

/// A volunteer's application to a mission.
#[derive(Debug, Clone, InputObject)]
pub struct ApplyToMissionInput {
    pub mission_id: ID,
    /// What the volunteer tells the structure (at most 5,000 characters).
    pub motivation: Option<String>,
}

/// A referent's proposal of a mission to a volunteer of their territory.
#[derive(Debug, Clone, InputObject)]
pub struct ProposeMissionInput {
    pub mission_id: ID,
    pub volunteer_id: ID,
    /// What the referent tells the volunteer (kept in the history).
    pub comment: Option<String>,
}

/// A move of an application.
#[derive(Debug, Clone, InputObject)]
pub struct MoveApplicationInput {
    pub id: ID,
    pub action: ApplicationAction,
    /// Why (kept in the history, shown as `statusComment`); required to refuse.
    pub comment: Option<String>,
    /// COMPLETE: the hours done, 1 to 1,000.
    pub hours_done: Option<i32>,
    /// When given, the move applies only if the application is still at this version.
    pub version: Option<i32>,
}

/// What an application mutation did.
#[derive(Debug, Clone, SimpleObject)]
pub struct ApplicationPayload {
    /// The application after the change (as it stands, when there are user errors).
    pub application: Option<Application>,
    /// Why nothing changed; empty when the change was made.
    pub user_errors: Vec<UserError>,
}

impl ApplicationPayload {
    fn refused(application: Option<application::Model>, errors: Vec<UserError>) -> Self {
        ApplicationPayload {
            application: application.map(Application::from),
            user_errors: errors,
        }
    }
}

/// A checked text: trimmed, `None` when empty, a user error when too long.
fn text(
    field: &str,
    value: Option<String>,
    max: usize,
    code: &str,
) -> Result<Option<String>, UserError> {
    let Some(v) = value.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > max {
        return Err(UserError::new(
            field,
            code,
            format!("at most {max} characters"),
        ));
    }
    Ok(Some(v))
}

/// Reads a row of the application's mission or volunteer, which the lifecycle's facts need
/// whether or not the viewer may read it (a volunteer still cancels an application to a
/// mission no longer published); nothing of it is returned beyond what the viewer may read.
async fn related<E: EntityTrait, C: ConnectionTrait>(conn: &C, id: i64) -> ApiResult<E::Model>
where
    E::PrimaryKey: sea_orm::PrimaryKeyTrait<ValueType = i64>,
{
    #[allow(clippy::disallowed_methods)]
    let row = E::find_by_id(id).one(conn).await?;
    row.ok_or_else(|| ApiError::internal("an application's mission or volunteer is missing", &id))
}

/// An application the viewer may read, read fresh.
async fn readable(
    ctx: &Context<'_>,
    conn: &impl ConnectionTrait,
    id: i64,
) -> ApiResult<Option<application::Model>> {
    let Some(select) = scope::find::<application::Entity>(scope::access(ctx)) else {
        return Ok(None);
    };
    Ok(select
        .filter(application::Column::Id.eq(id))
        .one(conn)
        .await?)
}

async fn reread(ctx: &Context<'_>, db: &DatabaseConnection, id: i64) -> ApiResult<Application> {
    readable(ctx, db, id)
        .await?
        .map(Application::from)
        .ok_or_else(|| ApiError::internal("an application just written cannot be read", &id))
}

/// The eligibility of a volunteer to a mission, read in `txn` after the volunteer's row is
/// locked (so that two applications of one volunteer are counted one after the other).
async fn candidacy_errors(
    ctx: &Context<'_>,
    txn: &DatabaseTransaction,
    v: &volunteer::Model,
    m: &mission::Model,
    existing: Option<&application::Model>,
) -> ApiResult<Vec<UserError>> {
    let rules = ctx
        .data_opt::<ApplicationRules>()
        .copied()
        .unwrap_or_default();
    #[allow(clippy::disallowed_methods)]
    // The volunteer's own rows, counted for the rule, never returned.
    let live = application::Entity::find()
        .filter(application::Column::VolunteerId.eq(v.id))
        .filter(application::Column::Status.is_in(lifecycle::LIVE))
        .count(txn)
        .await?;
    let c = Candidacy {
        phase1_status: &v.phase1_status,
        birthdate: v.birthdate,
        erased: v.erased_at.is_some(),
        mission_status: m.status,
        mission_deleted: m.deleted_at.is_some(),
        snu: m.snu,
        snu_places: m.snu_places,
        open_to_minors: m.open_to_minors,
        start_at: m.start_at,
        end_at: m.end_at,
        already_applied: existing.is_some_and(|a| lifecycle::is_live(a.status)),
        live_applications: live,
        max_live_applications: rules.max_live_applications,
    };
    let mut errors: Vec<UserError> = lifecycle::eligibility(&c, passerelle_entities::time::now())
        .into_iter()
        .map(|e| {
            let field = match e.code {
                "PHASE1_NOT_VALIDATED"
                | "MINORS_NOT_ALLOWED"
                | "TOO_MANY_APPLICATIONS"
                | "VOLUNTEER_ERASED" => "volunteer",
                _ => "input.missionId",
            };
            UserError::new(field, e.code, e.message)
        })
        .collect();
    if let Some(a) = existing
        && !lifecycle::is_live(a.status)
        && a.status != DbStatus::Cancelled
    {
        errors.push(UserError::new(
            "input.missionId",
            "APPLICATION_CLOSED",
            format!(
                "the volunteer's application to this mission ended ({}); it cannot be made again",
                a.status
            ),
        ));
    }
    Ok(errors)
}

/// Creates (or, after a cancellation, renews) the application of `v` to `m` by `action`.
async fn create(
    ctx: &Context<'_>,
    volunteer_id: i64,
    mission_id: i64,
    action: Action,
    parties: &[Party],
    motivation: Option<String>,
    comment: Option<String>,
) -> ApiResult<ApplicationPayload> {
    let db = writer(ctx)?;
    let facts = Facts {
        proposed: action == Action::Propose,
        mission_started: false,
    };
    let t = match lifecycle::transition(None, action, parties, facts) {
        Ok(t) => t,
        Err(e) => {
            return Err(ApiError::Forbidden {
                message: e.message(),
            });
        }
    };
    let now = passerelle_entities::time::now();
    let txn = db.begin().await?;
    // The first statement writes: the volunteer's row is locked until the commit.
    volunteer::Entity::update_many()
        .col_expr(volunteer::Column::UpdatedAt, Expr::value(now))
        .filter(volunteer::Column::Id.eq(volunteer_id))
        .exec(&txn)
        .await?;
    let v: volunteer::Model = related::<volunteer::Entity, _>(&txn, volunteer_id).await?;
    let m: mission::Model = related::<mission::Entity, _>(&txn, mission_id).await?;
    #[allow(clippy::disallowed_methods)]
    // The volunteer's own row, locked above: whether they applied already.
    let existing = application::Entity::find()
        .filter(application::Column::VolunteerId.eq(volunteer_id))
        .filter(application::Column::MissionId.eq(mission_id))
        .one(&txn)
        .await?;
    let errors = candidacy_errors(ctx, &txn, &v, &m, existing.as_ref()).await?;
    if !errors.is_empty() {
        txn.rollback().await?;
        return Ok(ApplicationPayload::refused(None, errors));
    }
    let status_comment = if action == Action::Propose {
        comment.clone()
    } else {
        None
    };
    let (id, from) = match existing {
        Some(a) => {
            // A cancelled application is made again: its history goes on.
            let renewed = application::Entity::update_many()
                .col_expr(application::Column::Status, Expr::value(t.to))
                .col_expr(application::Column::Motivation, Expr::value(motivation))
                .col_expr(application::Column::Proposed, Expr::value(facts.proposed))
                .col_expr(
                    application::Column::StatusComment,
                    Expr::value(status_comment),
                )
                .col_expr(
                    application::Column::HoursDone,
                    Expr::value(Option::<i32>::None),
                )
                .col_expr(
                    application::Column::Version,
                    Expr::col(application::Column::Version).add(1),
                )
                .col_expr(application::Column::UpdatedAt, Expr::value(now))
                .filter(application::Column::Id.eq(a.id))
                .filter(application::Column::Status.eq(DbStatus::Cancelled))
                .exec(&txn)
                .await?;
            if renewed.rows_affected != 1 {
                txn.rollback().await?;
                return Err(ApiError::Conflict {
                    message: "the application changed meanwhile; retry".to_owned(),
                });
            }
            (a.id, Some(a.status))
        }
        None => {
            let row = application::ActiveModel {
                volunteer_id: Set(volunteer_id),
                mission_id: Set(mission_id),
                status: Set(t.to),
                motivation: Set(motivation),
                proposed: Set(facts.proposed),
                status_comment: Set(status_comment),
                hours_done: Set(None),
                version: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            (row.id, None)
        }
    };
    let actor = scope::actor(ctx).name;
    let party = lifecycle::author(scope::access(ctx), parties, t);
    application_event::event(
        id,
        &actor,
        party,
        action.as_str(),
        from,
        t.to,
        comment.clone(),
    )
    .insert(&txn)
    .await?;
    let app: application::Model = related::<application::Entity, _>(&txn, id).await?;
    let author = author_parties(scope::access(ctx), parties);
    notify::write(
        &txn,
        &Move {
            transition: t,
            application: &app,
            mission: &m,
            volunteer: &v,
            author: &author,
            comment: comment.as_deref(),
            hours: None,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(ApplicationPayload {
        application: Some(reread(ctx, db, id).await?),
        user_errors: Vec::new(),
    })
}

/// The parties whose members need not be told of their own move: none for an admin.
fn author_parties(access: &Access, parties: &[Party]) -> Vec<Party> {
    if matches!(access, Access::Admin) {
        Vec::new()
    } else {
        parties.to_vec()
    }
}

/// A mission the viewer may read: `NOT_FOUND` otherwise.
async fn readable_mission(ctx: &Context<'_>, db: &DatabaseConnection, raw: &ID) -> ApiResult<i64> {
    let id = parse_id("input.missionId", raw)?;
    let found = match scope::find::<mission::Entity>(scope::access(ctx)) {
        Some(select) => select
            .filter(mission::Column::Id.eq(id))
            .one(db)
            .await?
            .is_some(),
        None => false,
    };
    if found {
        Ok(id)
    } else {
        Err(ApiError::not_found("mission", raw.to_string()))
    }
}

/// Application mutations.
#[derive(Default)]
pub struct ApplicationMutation;

#[Object]
impl ApplicationMutation {
    /// A volunteer applies to a mission (WAITING_VALIDATION). Eligibility, each refusal a
    /// `userErrors` code: phase 1 validated (`PHASE1_NOT_VALIDATED`), of age on the start date
    /// unless the mission is open to minors (`MINORS_NOT_ALLOWED`), the mission validated
    /// (`MISSION_NOT_OPEN`), not ended (`MISSION_ENDED`), open to SNU
    /// (`MISSION_NOT_OPEN_TO_SNU`) with places left (`NO_PLACES_LEFT`), no live application to
    /// it already (`ALREADY_APPLIED`; `APPLICATION_CLOSED` after a refusal or an end), and
    /// fewer live applications than allowed (`TOO_MANY_APPLICATIONS`). A volunteer who
    /// cancelled may apply again.
    async fn apply_to_mission(
        &self,
        ctx: &Context<'_>,
        input: ApplyToMissionInput,
    ) -> ApiResult<ApplicationPayload> {
        let Access::Volunteer { volunteer_id } = scope::access(ctx) else {
            return Err(ApiError::Forbidden {
                message: "only a volunteer applies to a mission".to_owned(),
            });
        };
        let db = writer(ctx)?;
        let mission_id = readable_mission(ctx, db, &input.mission_id).await?;
        let motivation = match text(
            "input.motivation",
            input.motivation,
            MAX_MOTIVATION_CHARS,
            "MOTIVATION_TOO_LONG",
        ) {
            Ok(m) => m,
            Err(e) => return Ok(ApplicationPayload::refused(None, vec![e])),
        };
        create(
            ctx,
            *volunteer_id,
            mission_id,
            Action::Apply,
            &[Party::Volunteer],
            motivation,
            None,
        )
        .await
    }

    /// A referent proposes a mission to a volunteer of their territory (admins to anyone): the
    /// application starts WAITING_ACCEPTATION, and the volunteer accepts it (or cancels it).
    /// The eligibility rules of `applyToMission` hold.
    async fn propose_mission(
        &self,
        ctx: &Context<'_>,
        input: ProposeMissionInput,
    ) -> ApiResult<ApplicationPayload> {
        let access = scope::access(ctx);
        let db = writer(ctx)?;
        let volunteer_id = parse_id("input.volunteerId", &input.volunteer_id)?;
        let v = match scope::find::<volunteer::Entity>(access) {
            Some(select) => {
                select
                    .filter(volunteer::Column::Id.eq(volunteer_id))
                    .one(db)
                    .await?
            }
            None => None,
        }
        .ok_or_else(|| ApiError::not_found("volunteer", input.volunteer_id.to_string()))?;
        let parties = lifecycle::parties(
            access,
            false,
            false,
            access.in_territory(&v.department_code),
        );
        if !parties.contains(&Party::Referent) {
            return Err(ApiError::Forbidden {
                message:
                    "only a referent of the volunteer's territory (or an admin) proposes a mission"
                        .to_owned(),
            });
        }
        let mission_id = readable_mission(ctx, db, &input.mission_id).await?;
        let comment = match text(
            "input.comment",
            input.comment,
            MAX_COMMENT_CHARS,
            "COMMENT_TOO_LONG",
        ) {
            Ok(c) => c,
            Err(e) => return Ok(ApplicationPayload::refused(None, vec![e])),
        };
        create(
            ctx,
            volunteer_id,
            mission_id,
            Action::Propose,
            &[Party::Referent],
            None,
            comment,
        )
        .await
    }

    /// Moves an application, as the lifecycle allows its author: a referent of the
    /// volunteer's territory verifies or refuses; the mission's structure accepts, refuses,
    /// starts and completes (with the hours done); the volunteer accepts a proposal, cancels
    /// before the start and abandons after it; admins act as any of them. A refused move is a
    /// `userErrors` code: `ILLEGAL_TRANSITION`, `TRANSITION_NOT_ALLOWED`, `NO_PLACES_LEFT`,
    /// `COMMENT_REQUIRED`, `COMMENT_TOO_LONG`, `HOURS_REQUIRED`, `INVALID_HOURS`,
    /// `HOURS_NOT_EXPECTED`, `CONFLICT`.
    async fn move_application(
        &self,
        ctx: &Context<'_>,
        input: MoveApplicationInput,
    ) -> ApiResult<ApplicationPayload> {
        let db = writer(ctx)?;
        let access = scope::access(ctx);
        let id = parse_id("input.id", &input.id)?;
        let Some(a) = readable(ctx, db, id).await? else {
            return Err(ApiError::not_found("application", input.id.to_string()));
        };
        let m: mission::Model = related::<mission::Entity, _>(db, a.mission_id).await?;
        let v: volunteer::Model = related::<volunteer::Entity, _>(db, a.volunteer_id).await?;
        let own =
            matches!(access, Access::Volunteer { volunteer_id } if *volunteer_id == a.volunteer_id);
        let structure = matches!(access, Access::StructureStaff { organization_id } if Some(*organization_id) == m.organization_id);
        let parties = lifecycle::parties(
            access,
            own,
            structure,
            access.in_territory(&v.department_code),
        );
        if parties.is_empty() {
            return Err(ApiError::Forbidden {
                message: format!("application {} is not yours to move", input.id.as_str()),
            });
        }
        let action = input.action.action();
        let now = passerelle_entities::time::now();
        let facts = Facts {
            proposed: a.proposed,
            mission_started: m.start_at <= now,
        };
        let refuse =
            |a: application::Model, e: UserError| Ok(ApplicationPayload::refused(Some(a), vec![e]));
        let t = match lifecycle::transition(Some(a.status), action, &parties, facts) {
            Ok(t) => t,
            Err(e) => return refuse(a, UserError::new("input.action", e.code(), e.message())),
        };
        let comment = match text(
            "input.comment",
            input.comment,
            MAX_COMMENT_CHARS,
            "COMMENT_TOO_LONG",
        ) {
            Ok(c) => c,
            Err(e) => return refuse(a, e),
        };
        if action == Action::Refuse && comment.is_none() {
            return refuse(
                a,
                UserError::new(
                    "input.comment",
                    "COMMENT_REQUIRED",
                    "say why the application is refused",
                ),
            );
        }
        let hours = match (action, input.hours_done) {
            (Action::Complete, None) => {
                return refuse(
                    a,
                    UserError::new(
                        "input.hoursDone",
                        "HOURS_REQUIRED",
                        "report the hours the volunteer did",
                    ),
                );
            }
            (Action::Complete, Some(h)) if !(1..=lifecycle::MAX_REPORTED_HOURS).contains(&h) => {
                return refuse(
                    a,
                    UserError::new(
                        "input.hoursDone",
                        "INVALID_HOURS",
                        format!("between 1 and {} hours", lifecycle::MAX_REPORTED_HOURS),
                    ),
                );
            }
            (Action::Complete, Some(h)) => Some(h),
            (_, Some(_)) => {
                return refuse(
                    a,
                    UserError::new(
                        "input.hoursDone",
                        "HOURS_NOT_EXPECTED",
                        "hours are reported when completing",
                    ),
                );
            }
            (_, None) => None,
        };
        if let Some(version) = input.version
            && version != a.version
        {
            let now_at = a.version;
            return refuse(a, conflict(now_at));
        }
        let txn = db.begin().await?;
        let mut update = application::Entity::update_many()
            .col_expr(application::Column::Status, Expr::value(t.to))
            .col_expr(
                application::Column::StatusComment,
                Expr::value(comment.clone()),
            )
            .col_expr(
                application::Column::Version,
                Expr::col(application::Column::Version).add(1),
            )
            .col_expr(application::Column::UpdatedAt, Expr::value(now));
        if let Some(h) = hours {
            update = update.col_expr(application::Column::HoursDone, Expr::value(h));
        }
        let moved = update
            .filter(application::Column::Id.eq(a.id))
            .filter(application::Column::Status.eq(a.status))
            .filter(application::Column::Version.eq(a.version))
            .exec(&txn)
            .await?;
        if moved.rows_affected != 1 {
            txn.rollback().await?;
            return match readable(ctx, db, a.id).await? {
                Some(now) => {
                    let version = now.version;
                    Ok(ApplicationPayload::refused(
                        Some(now),
                        vec![conflict(version)],
                    ))
                }
                None => Err(ApiError::not_found("application", input.id.to_string())),
            };
        }
        if !places(&txn, t.places, m.id).await? {
            txn.rollback().await?;
            return refuse(
                a,
                UserError::new(
                    "input.action",
                    "NO_PLACES_LEFT",
                    "the mission has no SNU place left",
                ),
            );
        }
        if let Some(h) = hours {
            credit_hours(&txn, v.id, h).await?;
        }
        let actor = scope::actor(ctx).name;
        application_event::event(
            a.id,
            &actor,
            lifecycle::author(access, &parties, t),
            action.as_str(),
            Some(a.status),
            t.to,
            comment.clone(),
        )
        .insert(&txn)
        .await?;
        let moved_row: application::Model = related::<application::Entity, _>(&txn, a.id).await?;
        let author = author_parties(access, &parties);
        notify::write(
            &txn,
            &Move {
                transition: t,
                application: &moved_row,
                mission: &m,
                volunteer: &v,
                author: &author,
                comment: comment.as_deref(),
                hours,
            },
        )
        .await?;
        txn.commit().await?;
        Ok(ApplicationPayload {
            application: Some(reread(ctx, db, a.id).await?),
            user_errors: Vec::new(),
        })
    }
}

fn conflict(version: i32) -> UserError {
    UserError::new(
        "input.version",
        "CONFLICT",
        format!(
            "the application changed since it was read (it is now at version {version}); read it again and retry"
        ),
    )
}

/// Takes or frees one of the mission's SNU places; `false` when there is none to take.
async fn places(txn: &DatabaseTransaction, effect: Places, mission_id: i64) -> ApiResult<bool> {
    match effect {
        Places::Keep => Ok(true),
        Places::Take => {
            let taken = mission::Entity::update_many()
                .col_expr(
                    mission::Column::SnuPlaces,
                    Expr::col(mission::Column::SnuPlaces).sub(1),
                )
                .col_expr(
                    mission::Column::PlacesLeft,
                    Expr::col(mission::Column::PlacesLeft).sub(1),
                )
                .col_expr(
                    mission::Column::Version,
                    Expr::col(mission::Column::Version).add(1),
                )
                .filter(mission::Column::Id.eq(mission_id))
                .filter(mission::Column::SnuPlaces.gt(0))
                .filter(mission::Column::PlacesLeft.gt(0))
                .exec(txn)
                .await?;
            Ok(taken.rows_affected == 1)
        }
        Places::Free => {
            free_place(txn, mission_id).await?;
            Ok(true)
        }
    }
}

/// Frees one of the mission's SNU places (an application that held it ended).
pub(crate) async fn free_place<C: ConnectionTrait>(txn: &C, mission_id: i64) -> ApiResult<()> {
    mission::Entity::update_many()
        .col_expr(
            mission::Column::SnuPlaces,
            Expr::col(mission::Column::SnuPlaces).add(1),
        )
        .col_expr(
            mission::Column::Version,
            Expr::col(mission::Column::Version).add(1),
        )
        .filter(mission::Column::Id.eq(mission_id))
        .exec(txn)
        .await?;
    // `placesLeft` never exceeds `places`.
    mission::Entity::update_many()
        .col_expr(
            mission::Column::PlacesLeft,
            Expr::col(mission::Column::PlacesLeft).add(1),
        )
        .filter(mission::Column::Id.eq(mission_id))
        .filter(Expr::col(mission::Column::PlacesLeft).lt(Expr::col(mission::Column::Places)))
        .exec(txn)
        .await?;
    Ok(())
}

/// Adds the hours to the volunteer's phase 2; at 84, phase 2 is VALIDATED.
async fn credit_hours(txn: &DatabaseTransaction, volunteer_id: i64, hours: i32) -> ApiResult<()> {
    volunteer::Entity::update_many()
        .col_expr(
            volunteer::Column::Phase2HoursDone,
            Expr::col(volunteer::Column::Phase2HoursDone).add(hours),
        )
        .col_expr(
            volunteer::Column::UpdatedAt,
            Expr::value(passerelle_entities::time::now()),
        )
        .filter(volunteer::Column::Id.eq(volunteer_id))
        .exec(txn)
        .await?;
    volunteer::Entity::update_many()
        .col_expr(volunteer::Column::Phase2Status, Expr::value("VALIDATED"))
        .filter(volunteer::Column::Id.eq(volunteer_id))
        .filter(volunteer::Column::Phase2HoursDone.gte(lifecycle::PHASE2_HOURS))
        .exec(txn)
        .await?;
    Ok(())
}
