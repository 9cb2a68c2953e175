//! A volunteer's rights over their personal data (GDPR articles 15, 17 and 20):
//! `exportVolunteerData` gives everything Passerelle holds about them as one JSON document;
//! `eraseVolunteer` anonymises them.
//!
//! Erasure keeps the rows that aggregates count (the volunteer's department, region, cohort,
//! phase statuses and hours; their applications' statuses and missions) and removes everything
//! that identifies them: names, email, phone, birthdate, consents, motivations, the comments of
//! their applications' history, their sign-in accounts with their notifications, the emails
//! addressed to them, and their name in the audit log. Messages sent to others never named them
//! (see `application::notify`). Both are in the audit log.
use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use passerelle_entities::ApplicationStatus;
use passerelle_entities::access::Access;
use passerelle_entities::application_lifecycle as lifecycle;
use passerelle_entities::{
    application, application_event, audit_entry, mission, notification, outbox, user, volunteer,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};
use serde_json::{Value, json};

use super::Volunteer;
use crate::diffusion::UserError;
use crate::error::{ApiError, ApiResult};
use crate::filter::parse_id;
use crate::{scope, writer};

/// The longest reason of an erasure, in characters.
pub const MAX_REASON_CHARS: usize = 2_000;

/// A volunteer whose data is asked for.
#[derive(Debug, Clone, InputObject)]
pub struct VolunteerDataInput {
    pub volunteer_id: ID,
}

/// A request to erase a volunteer's personal data.
#[derive(Debug, Clone, InputObject)]
pub struct EraseVolunteerInput {
    pub volunteer_id: ID,
    /// Why, or on whose request (kept in the audit log).
    pub reason: Option<String>,
}

/// Everything Passerelle holds about a volunteer.
#[derive(Debug, Clone, SimpleObject)]
pub struct VolunteerDataExport {
    /// `{ exportedAt, volunteer, accounts, applications (with their history), notifications,
    /// emails }`.
    pub data: Json<Value>,
}

/// What `eraseVolunteer` did.
#[derive(Debug, Clone, SimpleObject)]
pub struct EraseVolunteerPayload {
    /// The volunteer as they are now: nothing personal left.
    pub volunteer: Option<Volunteer>,
    pub user_errors: Vec<UserError>,
}

/// The volunteer, when the viewer may act on their data: the volunteer themselves, a
/// referent of their territory, an admin. `NOT_FOUND` when the viewer may not read them,
/// `FORBIDDEN` when they may read but not act.
async fn subject(
    ctx: &Context<'_>,
    db: &DatabaseConnection,
    raw: &ID,
) -> ApiResult<volunteer::Model> {
    let id = parse_id("input.volunteerId", raw)?;
    let access = scope::access(ctx);
    let v = match scope::find::<volunteer::Entity>(access) {
        Some(select) => select.filter(volunteer::Column::Id.eq(id)).one(db).await?,
        None => None,
    }
    .ok_or_else(|| ApiError::not_found("volunteer", raw.to_string()))?;
    let allowed = match access {
        Access::Volunteer { volunteer_id } => *volunteer_id == v.id,
        Access::Admin => true,
        other => other.in_territory(&v.department_code),
    };
    if !allowed {
        return Err(ApiError::Forbidden {
            message: "a volunteer's data is exported or erased by the volunteer, a referent of their territory or an admin".to_owned(),
        });
    }
    Ok(v)
}

/// The rows about a volunteer. Read past the viewer's scope: [`subject`] checked that the
/// viewer may act on this volunteer's data, and these rows are that data.
#[allow(clippy::disallowed_methods)]
async fn export<C: ConnectionTrait>(conn: &C, v: &volunteer::Model) -> ApiResult<Value> {
    let accounts = user::Entity::find()
        .filter(user::Column::VolunteerId.eq(v.id))
        .order_by_asc(user::Column::Id)
        .all(conn)
        .await?;
    let applications = application::Entity::find()
        .filter(application::Column::VolunteerId.eq(v.id))
        .order_by_asc(application::Column::Id)
        .all(conn)
        .await?;
    let app_ids: Vec<i64> = applications.iter().map(|a| a.id).collect();
    let events = application_event::Entity::find()
        .filter(application_event::Column::ApplicationId.is_in(app_ids.clone()))
        .order_by_asc(application_event::Column::Id)
        .all(conn)
        .await?;
    let missions = mission::Entity::find()
        .filter(mission::Column::Id.is_in(applications.iter().map(|a| a.mission_id)))
        .all(conn)
        .await?;
    let notifications = notification::Entity::find()
        .filter(notification::Column::UserId.is_in(accounts.iter().map(|u| u.id)))
        .order_by_asc(notification::Column::Id)
        .all(conn)
        .await?;
    let emails = outbox::Entity::find()
        .filter(outbox::Column::VolunteerId.eq(v.id))
        .order_by_asc(outbox::Column::Id)
        .all(conn)
        .await?;
    let title = |id: i64| {
        missions
            .iter()
            .find(|m| m.id == id)
            .map(|m| m.title.clone())
    };
    Ok(json!({
        "exportedAt": passerelle_entities::time::now().to_rfc3339(),
        "volunteer": {
            "id": v.id.to_string(),
            "firstName": v.first_name,
            "lastName": v.last_name,
            "email": v.email,
            "phone": v.phone,
            "birthdate": v.birthdate.to_string(),
            "departmentCode": v.department_code,
            "region": v.region,
            "cohort": v.cohort,
            "phase1Status": v.phase1_status,
            "phase2Status": v.phase2_status,
            "phase3Status": v.phase3_status,
            "phase2HoursDone": v.phase2_hours_done,
            "consentData": v.consent_data,
            "consentImage": v.consent_image,
            "createdAt": v.created_at.to_rfc3339(),
            "updatedAt": v.updated_at.to_rfc3339(),
            "erasedAt": v.erased_at.map(|t| t.to_rfc3339()),
        },
        "accounts": accounts.iter().map(|u| json!({
            "email": u.email,
            "role": u.role.as_str(),
            "createdAt": u.created_at.to_rfc3339(),
        })).collect::<Vec<_>>(),
        "applications": applications.iter().map(|a| json!({
            "id": a.id.to_string(),
            "missionId": a.mission_id.to_string(),
            "missionTitle": title(a.mission_id),
            "status": a.status.as_str(),
            "motivation": a.motivation,
            "statusComment": a.status_comment,
            "proposed": a.proposed,
            "hoursDone": a.hours_done,
            "createdAt": a.created_at.to_rfc3339(),
            "updatedAt": a.updated_at.to_rfc3339(),
            "history": events.iter().filter(|e| e.application_id == a.id).map(|e| json!({
                "at": e.at.to_rfc3339(),
                "actor": e.actor,
                "action": e.action,
                "fromStatus": e.from_status.map(|s| s.as_str()),
                "toStatus": e.to_status.as_str(),
                "comment": e.comment,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "notifications": notifications.iter().map(|n| json!({
            "topic": n.topic,
            "title": n.title,
            "body": n.body,
            "createdAt": n.created_at.to_rfc3339(),
            "readAt": n.read_at.map(|t| t.to_rfc3339()),
        })).collect::<Vec<_>>(),
        "emails": emails.iter().map(|e| json!({
            "topic": e.topic,
            "to": e.recipient,
            "subject": e.payload.get("subject"),
            "status": e.status.as_str(),
            "createdAt": e.created_at.to_rfc3339(),
            "sentAt": e.sent_at.map(|t| t.to_rfc3339()),
        })).collect::<Vec<_>>(),
    }))
}

/// GDPR mutations.
#[derive(Default)]
pub struct GdprMutation;

#[Object]
impl GdprMutation {
    /// Everything Passerelle holds about a volunteer, as one JSON document: for the volunteer
    /// themselves, a referent of their territory, or an admin. Recorded in the audit log.
    async fn export_volunteer_data(
        &self,
        ctx: &Context<'_>,
        input: VolunteerDataInput,
    ) -> ApiResult<VolunteerDataExport> {
        let db = writer(ctx)?;
        let v = subject(ctx, db, &input.volunteer_id).await?;
        let txn = db.begin().await?;
        // The audit entry first: the transaction starts with a write (SQLite takes its lock at
        // once), and an export that fails leaves no entry.
        audit_entry::entry(
            &scope::actor(ctx),
            "VOLUNTEER_DATA_EXPORTED",
            format!("volunteer:{}", v.id),
            json!({}),
        )
        .insert(&txn)
        .await?;
        let data = export(&txn, &v).await?;
        txn.commit().await?;
        Ok(VolunteerDataExport { data: Json(data) })
    }

    /// Erases a volunteer's personal data, for the volunteer themselves, a referent of their
    /// territory, or an admin acting on the volunteer's request. What aggregates count stays;
    /// nothing that identifies them does. Their sign-in accounts are removed. Cannot be undone.
    /// Recorded in the audit log. `ALREADY_ERASED` the second time.
    async fn erase_volunteer(
        &self,
        ctx: &Context<'_>,
        input: EraseVolunteerInput,
    ) -> ApiResult<EraseVolunteerPayload> {
        let db = writer(ctx)?;
        let v = subject(ctx, db, &input.volunteer_id).await?;
        if v.erased_at.is_some() {
            return Ok(EraseVolunteerPayload {
                volunteer: Some(v.into()),
                user_errors: vec![UserError::new(
                    "input.volunteerId",
                    "ALREADY_ERASED",
                    "this volunteer's data was erased already",
                )],
            });
        }
        let reason = input
            .reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty());
        if reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
        {
            return Err(ApiError::bad_input(
                "input.reason",
                format!("at most {MAX_REASON_CHARS} characters"),
            ));
        }
        let mut actor = scope::actor(ctx);
        if matches!(scope::access(ctx), Access::Volunteer { .. }) {
            // Their own request: the log keeps that it was theirs, not who they were.
            actor.name = format!("volunteer:{} (erased)", v.id);
        }
        let txn = db.begin().await?;
        erase(&txn, &v).await?;
        audit_entry::entry(
            &actor,
            "VOLUNTEER_ERASED",
            format!("volunteer:{}", v.id),
            json!({ "reason": reason }),
        )
        .insert(&txn)
        .await?;
        txn.commit().await?;
        let erased = scope::find::<volunteer::Entity>(scope::access(ctx));
        let now = match erased {
            Some(select) => {
                select
                    .filter(volunteer::Column::Id.eq(v.id))
                    .one(db)
                    .await?
            }
            None => None,
        };
        Ok(EraseVolunteerPayload {
            volunteer: now.map(Volunteer::from),
            user_errors: Vec::new(),
        })
    }
}

/// Replaces, in every string of `value`, each of `needles` (matched without regard to ASCII case) by
/// `with`.
fn redact(value: &mut Value, needles: &[String], with: &str) {
    match value {
        Value::String(s) => {
            for n in needles.iter().filter(|n| !n.is_empty()) {
                let needle = n.to_ascii_lowercase();
                while let Some(at) = s.to_ascii_lowercase().find(&needle) {
                    s.replace_range(at..at + needle.len(), with);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact(v, needles, with)),
        Value::Object(map) => map.values_mut().for_each(|v| redact(v, needles, with)),
        _ => {}
    }
}

/// The placeholder email of an erased volunteer (the column is unique and required).
pub fn erased_email(id: i64) -> String {
    format!("erased-{id}@erased.invalid")
}

/// Anonymises a volunteer in `txn` (see the module's documentation).
#[allow(clippy::disallowed_methods)]
async fn erase<C: ConnectionTrait>(txn: &C, v: &volunteer::Model) -> ApiResult<()> {
    let now = passerelle_entities::time::now();
    // The first statement writes, so that SQLite takes its write lock at once.
    volunteer::Entity::update_many()
        .col_expr(volunteer::Column::FirstName, Expr::value(""))
        .col_expr(volunteer::Column::LastName, Expr::value(""))
        .col_expr(volunteer::Column::Email, Expr::value(erased_email(v.id)))
        .col_expr(
            volunteer::Column::Phone,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            volunteer::Column::Birthdate,
            Expr::value(chrono::NaiveDate::from_ymd_opt(1900, 1, 1)),
        )
        .col_expr(volunteer::Column::ConsentData, Expr::value(false))
        .col_expr(volunteer::Column::ConsentImage, Expr::value(false))
        .col_expr(volunteer::Column::ErasedAt, Expr::value(now))
        .col_expr(volunteer::Column::UpdatedAt, Expr::value(now))
        .filter(volunteer::Column::Id.eq(v.id))
        .exec(txn)
        .await?;
    let accounts = user::Entity::find()
        .filter(user::Column::VolunteerId.eq(v.id))
        .all(txn)
        .await?;
    let placeholder = format!("volunteer:{} (erased)", v.id);
    // Their live applications end (they will not take part), and the places they held are free
    // again.
    let live = application::Entity::find()
        .filter(application::Column::VolunteerId.eq(v.id))
        .filter(application::Column::Status.is_in(lifecycle::LIVE))
        .all(txn)
        .await?;
    for a in &live {
        let to = if a.status == ApplicationStatus::InProgress {
            ApplicationStatus::Abandoned
        } else {
            ApplicationStatus::Cancelled
        };
        application::Entity::update_many()
            .col_expr(application::Column::Status, Expr::value(to))
            .col_expr(
                application::Column::Version,
                Expr::col(application::Column::Version).add(1),
            )
            .col_expr(application::Column::UpdatedAt, Expr::value(now))
            .filter(application::Column::Id.eq(a.id))
            .exec(txn)
            .await?;
        if lifecycle::holds_place(a.status) {
            crate::application::free_place(txn, a.mission_id).await?;
        }
        application_event::event(
            a.id,
            &placeholder,
            "PASSERELLE",
            if to == ApplicationStatus::Abandoned {
                "ABANDON"
            } else {
                "CANCEL"
            },
            Some(a.status),
            to,
            Some("the volunteer's data was erased".to_owned()),
        )
        .insert(txn)
        .await?;
    }
    let applications: Vec<i64> = application::Entity::find()
        .filter(application::Column::VolunteerId.eq(v.id))
        .all(txn)
        .await?
        .into_iter()
        .map(|a| a.id)
        .collect();
    application::Entity::update_many()
        .col_expr(
            application::Column::Motivation,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            application::Column::StatusComment,
            Expr::value(Option::<String>::None),
        )
        .filter(application::Column::VolunteerId.eq(v.id))
        .exec(txn)
        .await?;
    application_event::Entity::update_many()
        .col_expr(
            application_event::Column::Comment,
            Expr::value(Option::<String>::None),
        )
        .filter(application_event::Column::ApplicationId.is_in(applications.clone()))
        .exec(txn)
        .await?;
    // Their name as an author, in their history and in the audit log (actor, target and
    // details): the entries stay, as what happened; who it was does not.
    let mut names: Vec<String> = vec![v.email.clone()];
    names.extend(accounts.iter().map(|u| u.email.clone()));
    for u in &accounts {
        let name = format!("user:{} <{}>", u.id, u.email);
        let target = format!("user:{}", u.email);
        application_event::Entity::update_many()
            .col_expr(
                application_event::Column::Actor,
                Expr::value(placeholder.clone()),
            )
            .filter(application_event::Column::Actor.eq(name.clone()))
            .exec(txn)
            .await?;
        let entries = audit_entry::Entity::find()
            .filter(
                sea_orm::Condition::any()
                    .add(audit_entry::Column::Actor.eq(name.clone()))
                    .add(audit_entry::Column::Target.eq(target.clone())),
            )
            .all(txn)
            .await?;
        for e in entries {
            let mut details = e.details.clone();
            redact(&mut details, &names, &placeholder);
            let mut row: audit_entry::ActiveModel = e.clone().into();
            if e.actor == name {
                row.actor = sea_orm::Set(placeholder.clone());
            }
            if e.target == target {
                row.target = sea_orm::Set(placeholder.clone());
            }
            row.details = sea_orm::Set(details);
            row.update(txn).await?;
        }
    }
    outbox::Entity::delete_many()
        .filter(outbox::Column::VolunteerId.eq(v.id))
        .exec(txn)
        .await?;
    user::Entity::delete_many()
        .filter(user::Column::VolunteerId.eq(v.id))
        .exec(txn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_reaches_every_string_whatever_its_case() {
        let mut v =
            json!({ "email": "Jeune@Example.org", "list": ["to jeune@example.org", 3], "n": 1 });
        redact(
            &mut v,
            &["jeune@example.org".to_owned()],
            "volunteer:1 (erased)",
        );
        assert_eq!(
            v,
            json!({ "email": "volunteer:1 (erased)", "list": ["to volunteer:1 (erased)", 3], "n": 1 })
        );
    }
}
