//! What a move of an application tells whom: in-app notifications, emails (in French) and
//! partners' webhooks, written into the move's own transaction, so that a move and its
//! messages commit or roll back together.
//!
//! Messages name the mission, never the volunteer: staff read who applied in Passerelle, behind
//! its access rules, and erasing a volunteer leaves nothing of them in messages sent to others.
use passerelle_entities::application_lifecycle::{Action, Party, Transition};
use passerelle_entities::enums::Role;
use passerelle_entities::{application, mission, notification, outbox, user, volunteer};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
};

/// What the messages of one move need.
pub(crate) struct Move<'a> {
    pub transition: &'a Transition,
    pub application: &'a application::Model,
    pub mission: &'a mission::Model,
    pub volunteer: &'a volunteer::Model,
    /// The parties the author acted as (none for an admin, who is notified of nothing and
    /// leaves every party to be told).
    pub author: &'a [Party],
    pub comment: Option<&'a str>,
    pub hours: Option<i32>,
}

/// The topic of a move: `APPLICATION_` and the status it leads to.
pub(crate) fn topic(t: &Transition) -> String {
    format!("APPLICATION_{}", t.to.as_str())
}

/// The French title and body a party reads about a move.
fn text(m: &Move<'_>, to: Party) -> (String, String) {
    let title = &m.mission.title;
    let yours = to == Party::Volunteer;
    let reason = m
        .comment
        .map(|c| format!("\n\nMotif : {c}"))
        .unwrap_or_default();
    let (t, b) = match (m.transition.action, yours) {
        (Action::Apply, true) => (
            "Candidature envoyée",
            format!(
                "Votre candidature à la mission « {title} » est envoyée. Un référent vérifie votre éligibilité."
            ),
        ),
        (Action::Apply, false) => (
            "Nouvelle candidature à vérifier",
            format!(
                "Un volontaire de votre territoire candidate à la mission « {title} ». Vérifiez son éligibilité."
            ),
        ),
        (Action::Propose, true) => (
            "Une mission vous est proposée",
            format!(
                "Votre référent vous propose la mission « {title} ». Acceptez-la depuis votre espace si elle vous intéresse."
            ),
        ),
        (Action::Propose, false) => (
            "Mission proposée à un volontaire",
            format!("Un référent a proposé votre mission « {title} » à un volontaire."),
        ),
        (Action::Verify, true) => (
            "Éligibilité vérifiée",
            format!(
                "Votre éligibilité à la mission « {title} » est vérifiée. La structure étudie maintenant votre candidature."
            ),
        ),
        (Action::Verify, false) => (
            "Nouvelle candidature",
            format!("Une candidature à votre mission « {title} » attend votre réponse."),
        ),
        (Action::Accept, true) => (
            "Candidature acceptée",
            format!("Bonne nouvelle : votre participation à la mission « {title} » est confirmée."),
        ),
        (Action::Accept, false) => (
            "Participation confirmée",
            format!("Un volontaire rejoint la mission « {title} »."),
        ),
        (Action::Refuse, true) => (
            "Candidature non retenue",
            format!("Votre candidature à la mission « {title} » n'a pas été retenue.{reason}"),
        ),
        // Others read the reason in Passerelle (`statusComment`), behind its access rules: a
        // reason may say something of the volunteer, and copies in others' inboxes would
        // outlive an erasure.
        (Action::Refuse, false) => (
            "Candidature refusée",
            format!("Une candidature à la mission « {title} » a été refusée."),
        ),
        (Action::Cancel, true) => (
            "Candidature annulée",
            format!("Votre candidature à la mission « {title} » est annulée."),
        ),
        (Action::Cancel, false) => (
            "Candidature annulée",
            format!("Un volontaire a annulé sa candidature à la mission « {title} »."),
        ),
        (Action::Start, true) => (
            "Mission commencée",
            format!("Votre mission « {title} » a commencé. Bonne mission !"),
        ),
        (Action::Start, false) => (
            "Mission commencée",
            format!("La mission « {title} » a commencé pour un volontaire."),
        ),
        (Action::Complete, true) => (
            "Mission réalisée",
            format!(
                "Votre mission « {title} » est réalisée : {} heures sont ajoutées à votre phase 2.",
                m.hours.unwrap_or_default()
            ),
        ),
        (Action::Complete, false) => (
            "Mission réalisée",
            format!(
                "Un volontaire a réalisé la mission « {title} » ({} heures).",
                m.hours.unwrap_or_default()
            ),
        ),
        (Action::Abandon, true) => (
            "Mission abandonnée",
            format!("Votre mission « {title} » est marquée comme abandonnée.{reason}"),
        ),
        (Action::Abandon, false) => (
            "Mission abandonnée",
            format!("Un volontaire a abandonné la mission « {title} »."),
        ),
    };
    (t.to_owned(), b)
}

/// The people of a party who are told of a move: users, and the volunteer's own address (a
/// volunteer may have no account).
async fn recipients<C: ConnectionTrait>(
    txn: &C,
    m: &Move<'_>,
    party: Party,
) -> Result<Vec<user::Model>, DbErr> {
    let condition = match party {
        Party::Volunteer => Condition::all().add(user::Column::VolunteerId.eq(m.volunteer.id)),
        Party::Structure => match m.mission.organization_id {
            Some(o) => Condition::all()
                .add(user::Column::Role.eq(Role::StructureStaff))
                .add(user::Column::OrganizationId.eq(o)),
            None => return Ok(Vec::new()),
        },
        Party::Referent => Condition::any()
            .add(
                Condition::all()
                    .add(user::Column::Role.eq(Role::ReferentDepartment))
                    .add(user::Column::DepartmentCode.eq(m.volunteer.department_code.clone())),
            )
            .add(
                Condition::all()
                    .add(user::Column::Role.eq(Role::ReferentRegion))
                    .add(user::Column::Region.eq(m.volunteer.region.clone())),
            ),
    };
    #[allow(clippy::disallowed_methods)]
    // Whom to tell is not a read for the viewer: nothing of these rows is returned to them.
    let users = user::Entity::find().filter(condition).all(txn).await?;
    Ok(users)
}

/// Writes the move's notifications, emails and webhook calls in `txn`.
pub(crate) async fn write<C: ConnectionTrait>(txn: &C, m: &Move<'_>) -> Result<(), DbErr> {
    let topic = topic(m.transition);
    let now = passerelle_entities::time::now();
    let mut notes = Vec::new();
    let mut emails = Vec::new();
    for party in m.transition.notify {
        if m.author.contains(party) {
            continue;
        }
        let (title, body) = text(m, *party);
        let users = recipients(txn, m, *party).await?;
        let mut addresses: Vec<String> = users.iter().map(|u| u.email.clone()).collect();
        if *party == Party::Volunteer && m.volunteer.erased_at.is_none() {
            addresses.push(m.volunteer.email.to_lowercase());
        }
        addresses.sort();
        addresses.dedup();
        for u in &users {
            notes.push(notification::ActiveModel {
                user_id: Set(u.id),
                topic: Set(topic.clone()),
                title: Set(title.clone()),
                body: Set(body.clone()),
                application_id: Set(Some(m.application.id)),
                mission_id: Set(Some(m.mission.id)),
                created_at: Set(now),
                read_at: Set(None),
                ..Default::default()
            });
        }
        let about = (*party == Party::Volunteer).then_some(m.volunteer.id);
        for to in addresses {
            emails.push(outbox::email(
                &topic,
                &to,
                &format!("Passerelle · {title}"),
                &format!("{body}\n\n— Passerelle, la plateforme de l'engagement"),
                about,
            ));
        }
    }
    if !notes.is_empty() {
        notification::Entity::insert_many(notes)
            .exec_without_returning(txn)
            .await?;
    }
    if !emails.is_empty() {
        outbox::Entity::insert_many(emails)
            .exec_without_returning(txn)
            .await?;
    }
    outbox::to_webhooks(
        txn,
        m.mission.publisher_id,
        "APPLICATION",
        &topic,
        serde_json::json!({
            "applicationId": m.application.id.to_string(),
            "missionId": m.mission.id.to_string(),
            "missionClientId": m.mission.client_id,
            "action": m.transition.action.as_str(),
            "fromStatus": m.transition.from.map(|s| s.as_str()),
            "toStatus": m.transition.to.as_str(),
            "hoursDone": m.hours,
        }),
    )
    .await?;
    Ok(())
}
