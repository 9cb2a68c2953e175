//! Moderator publishers (API Engagement's model): a diffuseur flagged `moderator` keeps its own
//! decision on each mission it may diffuse — PENDING until it decides, then ACCEPTED or
//! REFUSED — apart from the mission's status, which stays the annonceur's. It lists missions by
//! its decision (`MissionFilter.moderationStatuses`) and reads it on `Mission.publisherModeration`.
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use passerelle_entities::access::Access;
use passerelle_entities::{
    PublisherModerationStatus as DbStatus, mission, mission_event, mission_moderation,
};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};

use super::types::Mission;
use crate::diffusion::UserError;
use crate::enums::PublisherModerationStatus;
use crate::error::{ApiError, ApiResult};
use crate::filter::parse_id;
use crate::loader::{ModerationBy, PublisherId};
use crate::{loaders, scope, writer};

/// A moderator publisher's decision on a mission.
#[derive(Debug, Clone, SimpleObject)]
pub struct PublisherModeration {
    pub status: PublisherModerationStatus,
    pub comment: Option<String>,
    /// Who decided (null while PENDING).
    pub actor: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl PublisherModeration {
    fn of(row: Option<mission_moderation::Model>) -> Self {
        match row {
            Some(r) => PublisherModeration {
                status: r.status.into(),
                comment: r.comment,
                actor: Some(r.actor),
                updated_at: Some(r.updated_at),
            },
            None => PublisherModeration {
                status: PublisherModerationStatus::Pending,
                comment: None,
                actor: None,
                updated_at: None,
            },
        }
    }
}

/// A moderator publisher's decision.
#[derive(Debug, Clone, InputObject)]
pub struct ModerateAsPublisherInput {
    pub mission_id: ID,
    pub status: PublisherModerationStatus,
    /// Why; required to refuse.
    pub comment: Option<String>,
}

/// What `moderateAsPublisher` did.
#[derive(Debug, Clone, SimpleObject)]
pub struct ModerateAsPublisherPayload {
    pub mission: Option<Mission>,
    /// The decision as it stands now.
    pub moderation: Option<PublisherModeration>,
    pub user_errors: Vec<UserError>,
}

/// The moderator publisher of the viewer, when it is one.
async fn moderator_of(ctx: &Context<'_>) -> ApiResult<Option<(i64, String)>> {
    let Access::Partner { publisher_id, .. } = scope::access(ctx) else {
        return Ok(None);
    };
    Ok(loaders(ctx)?
        .load_one(PublisherId(*publisher_id))
        .await?
        .filter(|p| p.moderator)
        .map(|p| (p.id, p.name.clone())))
}

impl Mission {
    /// The viewer's moderator publisher's decision on this mission; null for others.
    pub(crate) async fn publisher_moderation_of(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<PublisherModeration>> {
        let Some((moderator, _)) = moderator_of(ctx).await? else {
            return Ok(None);
        };
        let row = loaders(ctx)?
            .load_one(ModerationBy(moderator, self.id.0))
            .await?;
        Ok(Some(PublisherModeration::of(row)))
    }
}

/// The mutation of moderator publishers.
#[derive(Default)]
pub struct PublisherModerationMutation;

#[Object]
impl PublisherModerationMutation {
    /// A moderator publisher's own decision on a mission it may diffuse (its key, or its
    /// people): ACCEPTED, REFUSED (with a comment) or back to PENDING. The mission's status does
    /// not change; the decision is in the mission's history.
    async fn moderate_as_publisher(
        &self,
        ctx: &Context<'_>,
        input: ModerateAsPublisherInput,
    ) -> ApiResult<ModerateAsPublisherPayload> {
        let Some((moderator, name)) = moderator_of(ctx).await? else {
            return Err(ApiError::Forbidden {
                message: "only a moderator publisher (its key or its people) moderates as one"
                    .to_owned(),
            });
        };
        let db = writer(ctx)?;
        let id = parse_id("input.missionId", &input.mission_id)?;
        let found = match scope::find::<mission::Entity>(scope::access(ctx)) {
            Some(select) => select.filter(mission::Column::Id.eq(id)).one(db).await?,
            None => None,
        };
        let Some(m) = found else {
            return Err(ApiError::not_found("mission", input.mission_id.to_string()));
        };
        let refuse = |code: &str, field: &str, message: &str| ModerateAsPublisherPayload {
            mission: Some(Mission::from(m.clone())),
            moderation: None,
            user_errors: vec![UserError {
                field: field.to_owned(),
                code: code.to_owned(),
                message: message.to_owned(),
            }],
        };
        if m.publisher_id == moderator {
            return Ok(refuse(
                "OWN_MISSION",
                "input.missionId",
                "a moderator publisher moderates other annonceurs' missions, not its own",
            ));
        }
        let comment = input
            .comment
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());
        if comment
            .as_ref()
            .is_some_and(|c| c.chars().count() > super::write::MAX_COMMENT_CHARS)
        {
            return Ok(refuse(
                "COMMENT_TOO_LONG",
                "input.comment",
                "at most 2,000 characters",
            ));
        }
        if input.status == PublisherModerationStatus::Refused && comment.is_none() {
            return Ok(refuse(
                "COMMENT_REQUIRED",
                "input.comment",
                "say why the mission is refused",
            ));
        }
        let status = DbStatus::from(input.status);
        let actor = scope::actor(ctx).name;
        let now = passerelle_entities::time::now();
        let txn = db.begin().await?;
        mission_moderation::Entity::insert(mission_moderation::ActiveModel {
            moderator_id: Set(moderator),
            mission_id: Set(m.id),
            status: Set(status),
            comment: Set(comment.clone()),
            actor: Set(actor.clone()),
            updated_at: Set(now),
            ..Default::default()
        })
        .on_conflict(
            OnConflict::columns([
                mission_moderation::Column::ModeratorId,
                mission_moderation::Column::MissionId,
            ])
            .update_columns([
                mission_moderation::Column::Status,
                mission_moderation::Column::Comment,
                mission_moderation::Column::Actor,
                mission_moderation::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        let note = match &comment {
            Some(c) => format!("{name}: {status} ({c})"),
            None => format!("{name}: {status}"),
        };
        mission_event::event(m.id, &actor, "PUBLISHER_MODERATION", None, None, Some(note))
            .insert(&txn)
            .await?;
        // The mission's publisher hears of a moderator's decision on its mission.
        passerelle_entities::outbox::to_webhooks(
            &txn,
            m.publisher_id,
            "MISSION_MODERATION",
            "MISSION_MODERATED_BY_PUBLISHER",
            serde_json::json!({
                "missionId": m.id.to_string(),
                "missionClientId": m.client_id,
                "moderatorId": moderator.to_string(),
                "status": status.as_str(),
                "comment": comment,
            }),
        )
        .await?;
        txn.commit().await?;
        Ok(ModerateAsPublisherPayload {
            mission: Some(Mission::from(m)),
            moderation: Some(PublisherModeration {
                status: input.status,
                comment,
                actor: Some(actor),
                updated_at: Some(now),
            }),
            user_errors: Vec::new(),
        })
    }
}
