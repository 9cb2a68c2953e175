//! In-app notifications: `notifications` (the signed-in person's own, newest first) and
//! `markNotificationsRead`. Only people signed in with a token have an inbox; API keys do not.
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use passerelle_entities::access::Principal;
use passerelle_entities::notification;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, Order, QueryFilter};

use crate::error::{ApiError, ApiResult};
use crate::filter::ids;
use crate::page::{Edge, Page, PageInfo};
use crate::scope::{self, ById};
use crate::{scope::Scoped, writer};

const NOTIFICATIONS: &str = "notifications:ID:DESC";
/// The most notifications one call marks as read by id.
pub const MAX_MARKED: usize = 100;

/// Something that happened that concerns the reader.
#[derive(Debug, Clone, SimpleObject)]
pub struct Notification {
    pub id: ID,
    /// What happened: `APPLICATION_VALIDATED`, `APPLICATION_REFUSED`, …
    pub topic: String,
    /// In French.
    pub title: String,
    pub body: String,
    pub application_id: Option<ID>,
    pub mission_id: Option<ID>,
    pub created_at: DateTime<Utc>,
    /// Null while unread.
    pub read_at: Option<DateTime<Utc>>,
}

impl From<notification::Model> for Notification {
    fn from(n: notification::Model) -> Self {
        Notification {
            id: ID(n.id.to_string()),
            topic: n.topic,
            title: n.title,
            body: n.body,
            application_id: n.application_id.map(|i| ID(i.to_string())),
            mission_id: n.mission_id.map(|i| ID(i.to_string())),
            created_at: n.created_at,
            read_at: n.read_at,
        }
    }
}

/// A page of notifications.
#[derive(SimpleObject)]
pub struct NotificationConnection {
    pub edges: Vec<Edge<Notification>>,
    pub nodes: Vec<Notification>,
    pub page_info: PageInfo,
    /// The reader's unread notifications, over all pages.
    pub unread_count: i64,
}

/// Which notifications to mark as read.
#[derive(Debug, Clone, InputObject)]
pub struct MarkNotificationsReadInput {
    /// These (at most 100)…
    pub ids: Option<Vec<ID>>,
    /// …or every one of the reader's.
    pub all: Option<bool>,
}

/// What `markNotificationsRead` did.
#[derive(Debug, Clone, SimpleObject)]
pub struct MarkNotificationsReadPayload {
    /// How many were unread and now are read.
    pub marked: i64,
    pub unread_count: i64,
}

/// The signed-in user's id: `FORBIDDEN` for API keys and anonymous callers.
fn reader(ctx: &Context<'_>) -> ApiResult<i64> {
    match &scope::viewer(ctx).principal {
        Principal::User { user_id, .. } => Ok(*user_id),
        _ => Err(ApiError::Forbidden {
            message: "notifications are read by people signed in with a token".to_owned(),
        }),
    }
}

/// Notifications are read only by their recipient: every read below adds the reader's id.
impl Scoped for notification::Entity {
    fn scope(_: &passerelle_entities::access::Access) -> Option<Condition> {
        Some(Condition::all())
    }
}

async fn unread(ctx: &Context<'_>, user_id: i64) -> ApiResult<i64> {
    scope::count::<notification::Entity>(
        ctx,
        Condition::all()
            .add(notification::Column::UserId.eq(user_id))
            .add(notification::Column::ReadAt.is_null()),
    )
    .await
}

/// Queries over notifications.
#[derive(Default)]
pub struct NotificationQuery;

#[Object]
impl NotificationQuery {
    /// The signed-in person's notifications, newest first, a page at a time (default 20, at
    /// most 100).
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        unread_only: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<NotificationConnection> {
        let user_id = reader(ctx)?;
        let mut condition = Condition::all().add(notification::Column::UserId.eq(user_id));
        if unread_only == Some(true) {
            condition = condition.add(notification::Column::ReadAt.is_null());
        }
        let page: Page<Notification> = scope::id_page::<notification::Entity, _>(
            ctx,
            condition,
            ById {
                column: notification::Column::Id,
                direction: Order::Desc,
                list: NOTIFICATIONS,
            },
            first,
            after,
            |n| n.id,
            Notification::from,
        )
        .await?;
        Ok(NotificationConnection {
            nodes: page.edges.iter().map(|e| e.node.clone()).collect(),
            edges: page.edges,
            page_info: page.info,
            unread_count: unread(ctx, user_id).await?,
        })
    }
}

/// Notification mutations.
#[derive(Default)]
pub struct NotificationMutation;

#[Object]
impl NotificationMutation {
    /// Marks the reader's notifications as read: `ids`, or `all`. Ids of others' notifications
    /// are ignored.
    async fn mark_notifications_read(
        &self,
        ctx: &Context<'_>,
        input: MarkNotificationsReadInput,
    ) -> ApiResult<MarkNotificationsReadPayload> {
        let user_id = reader(ctx)?;
        let mut condition = Condition::all()
            .add(notification::Column::UserId.eq(user_id))
            .add(notification::Column::ReadAt.is_null());
        match (input.all, ids("input.ids", input.ids)?) {
            (Some(true), None) => {}
            (None | Some(false), Some(ids)) if ids.len() <= MAX_MARKED => {
                condition = condition.add(notification::Column::Id.is_in(ids));
            }
            (None | Some(false), Some(_)) => {
                return Err(ApiError::bad_input(
                    "input.ids",
                    format!("at most {MAX_MARKED} ids"),
                ));
            }
            _ => {
                return Err(ApiError::bad_input("input", "give either ids or all: true"));
            }
        }
        let marked = notification::Entity::update_many()
            .col_expr(
                notification::Column::ReadAt,
                Expr::value(passerelle_entities::time::now()),
            )
            .filter(condition)
            .exec(writer(ctx)?)
            .await?
            .rows_affected;
        Ok(MarkNotificationsReadPayload {
            marked: marked as i64,
            unread_count: unread(ctx, user_id).await?,
        })
    }
}
