//! SNU phase 2 over HTTP: volunteers apply, referents verify and propose, structures accept,
//! start and complete; places are never overbooked; every move leaves its history, its
//! notifications and its outbox messages in the same transaction; the outbox is delivered to
//! signed webhooks with retries and dead letters; volunteers export and erase their data.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use passerelle::config::Settings;
use passerelle::outbox::{Delivery, Mailer, deliver_due};
use passerelle_entities::enums::Role;
use passerelle_entities::{
    ApplicationStatus, Domain, MissionStatus, MissionType, OutboxStatus, application,
    application_event, mission, notification, outbox, publisher, volunteer,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, Set,
};
use serde_json::{Value, json};

use crate::access::{mission_row, organization_row, user_row, volunteer_row};
use crate::helpers::{As, TestApp, TestDatabase, codes, error_code, mutate, test_settings};

const STAFF: &str = "staff@asso.example";
const REFERENT: &str = "referent69@snu.example";
const ADMIN: &str = "admin@snu.example";

/// A world for the workflow: a structure in the Rhône with an SNU mission (`open`, 3 places,
/// starting in 10 days) and one that has started (`started`), its staff, a referent of the
/// Rhône, an admin, and volunteers of age with phase 1 done, each with an account.
struct Flow {
    app: TestApp,
    conn: DatabaseConnection,
    database: TestDatabase,
    publisher: i64,
    organization: i64,
    open: i64,
    started: i64,
}

fn volunteer_email(n: usize) -> String {
    format!("jeune{n}@snu.example")
}

fn volunteer(n: usize) -> As {
    As::user(&volunteer_email(n))
}

impl Flow {
    async fn start(label: &str, settings: Settings, volunteers: usize) -> Flow {
        let database = TestDatabase::create(label).await;
        let conn = database.connect_migrated().await;
        let publisher = publisher::ActiveModel {
            name: Set("Asso".into()),
            is_annonceur: Set(true),
            is_diffuseur: Set(true),
            moderator: Set(false),
            created_at: Set(passerelle_entities::time::now()),
            updated_at: Set(passerelle_entities::time::now()),
            ..Default::default()
        }
        .insert(&conn)
        .await
        .expect("publisher")
        .id;
        let organization = organization_row(&conn, publisher, "Asso du Rhône", "69", None).await;
        let open = snu_mission(&conn, publisher, organization, "open", 3, 10).await;
        let started = snu_mission(&conn, publisher, organization, "started", 3, -2).await;
        user_row(&conn, STAFF, Role::StructureStaff, |u| {
            u.organization_id = Set(Some(organization))
        })
        .await;
        user_row(&conn, REFERENT, Role::ReferentDepartment, |u| {
            u.department_code = Set(Some("69".into()))
        })
        .await;
        user_row(&conn, ADMIN, Role::Admin, |_| {}).await;
        for n in 0..volunteers {
            add_volunteer(&conn, n).await;
        }
        let app = TestApp::start(conn.clone(), settings).await;
        Flow {
            app,
            conn,
            database,
            publisher,
            organization,
            open,
            started,
        }
    }

    async fn stop(self) {
        self.app.stop().await;
        self.database.drop_database().await;
    }

    async fn volunteer_id(&self, n: usize) -> i64 {
        volunteer::Entity::find()
            .filter(volunteer::Column::Email.eq(format!("v{n}@jeunes.example")))
            .one(&self.conn)
            .await
            .expect("read")
            .expect("volunteer")
            .id
    }

    async fn mission(&self, id: i64) -> mission::Model {
        mission::Entity::find_by_id(id)
            .one(&self.conn)
            .await
            .expect("read")
            .expect("mission")
    }

    async fn apply(&self, n: usize, mission: i64) -> Value {
        mutate(
            &self.app,
            &volunteer(n),
            "mutation($input: ApplyToMissionInput!) { applyToMission(input: $input) { application { id status version proposed } userErrors { field code message } } }",
            json!({ "input": { "missionId": mission.to_string(), "motivation": "J'aime le sport." } }),
        )
        .await
    }

    async fn act(&self, who: &As, id: &str, action: &str, extra: Value) -> Value {
        let mut input = json!({ "id": id, "action": action });
        if let (Some(i), Some(e)) = (input.as_object_mut(), extra.as_object()) {
            i.extend(e.clone());
        }
        mutate(
            &self.app,
            who,
            "mutation($input: MoveApplicationInput!) { moveApplication(input: $input) { application { id status version hoursDone statusComment history { actor action fromStatus toStatus comment } } userErrors { field code message } } }",
            json!({ "input": input }),
        )
        .await
    }
}

/// An SNU mission of the structure in the Rhône, starting in `starts_in` days (negative: it
/// started), open to adults only.
async fn snu_mission(
    conn: &DatabaseConnection,
    publisher: i64,
    organization: i64,
    name: &str,
    places: i32,
    starts_in: i64,
) -> i64 {
    let id = mission_row(
        conn,
        publisher,
        organization,
        name,
        MissionStatus::Validated,
        "69",
        MissionType::Benevolat,
        Domain::Sport,
        false,
    )
    .await;
    let now = passerelle_entities::time::now();
    mission::Entity::update_many()
        .col_expr(mission::Column::Snu, Expr::value(true))
        .col_expr(mission::Column::SnuPlaces, Expr::value(places))
        .col_expr(mission::Column::SnuCapacity, Expr::value(places))
        .col_expr(mission::Column::Places, Expr::value(places + 2))
        .col_expr(mission::Column::PlacesLeft, Expr::value(places + 2))
        .col_expr(mission::Column::OpenToMinors, Expr::value(false))
        .col_expr(
            mission::Column::StartAt,
            Expr::value(now + chrono::Duration::days(starts_in)),
        )
        .col_expr(
            mission::Column::EndAt,
            Expr::value(Some(now + chrono::Duration::days(60))),
        )
        .filter(mission::Column::Id.eq(id))
        .exec(conn)
        .await
        .expect("snu mission");
    id
}

/// Volunteer `n` of the Rhône, 19 years old, phase 1 done, 10 hours of phase 2, with an
/// account.
async fn add_volunteer(conn: &DatabaseConnection, n: usize) -> i64 {
    let id = volunteer_row(conn, &format!("V{n}"), "69").await;
    volunteer::Entity::update_many()
        .col_expr(
            volunteer::Column::Birthdate,
            Expr::value(chrono::NaiveDate::from_ymd_opt(2007, 1, 15)),
        )
        .filter(volunteer::Column::Id.eq(id))
        .exec(conn)
        .await
        .expect("adult");
    user_row(conn, &volunteer_email(n), Role::Volunteer, |u| {
        u.volunteer_id = Set(Some(id))
    })
    .await;
    id
}

fn status(payload: &Value) -> &str {
    payload["application"]["status"].as_str().unwrap_or("?")
}

fn id_of(payload: &Value) -> String {
    payload["application"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an application: {payload}"))
        .to_owned()
}

#[tokio::test]
async fn a_volunteer_goes_from_applying_to_done_and_phase_2_is_validated_at_84_hours() {
    let f = Flow::start("apps-lifecycle", test_settings(), 1).await;
    let staff = As::user(STAFF);
    let referent = As::user(REFERENT);

    let applied = f.apply(0, f.open).await;
    assert_eq!(codes(&applied), Vec::<String>::new(), "{applied}");
    assert_eq!(status(&applied), "WAITING_VALIDATION");
    let id = id_of(&applied);
    // The structure waits for the referent: it may not accept yet.
    let early = f.act(&staff, &id, "ACCEPT", json!({})).await;
    assert_eq!(codes(&early), ["ILLEGAL_TRANSITION"], "{early}");

    let verified = f.act(&referent, &id, "VERIFY", json!({})).await;
    assert_eq!(status(&verified), "WAITING_ACCEPTATION", "{verified}");
    let before = f.mission(f.open).await;
    let accepted = f.act(&staff, &id, "ACCEPT", json!({})).await;
    assert_eq!(status(&accepted), "VALIDATED", "{accepted}");
    let after = f.mission(f.open).await;
    assert_eq!(
        (after.snu_places, after.places_left),
        (before.snu_places - 1, before.places_left - 1),
        "accepting takes one place"
    );
    let started = f.act(&staff, &id, "START", json!({})).await;
    assert_eq!(status(&started), "IN_PROGRESS", "{started}");
    let no_hours = f.act(&staff, &id, "COMPLETE", json!({})).await;
    assert_eq!(codes(&no_hours), ["HOURS_REQUIRED"]);
    let too_many = f
        .act(&staff, &id, "COMPLETE", json!({ "hoursDone": 5000 }))
        .await;
    assert_eq!(codes(&too_many), ["INVALID_HOURS"]);
    let done = f
        .act(&staff, &id, "COMPLETE", json!({ "hoursDone": 50 }))
        .await;
    assert_eq!(status(&done), "DONE", "{done}");
    assert_eq!(done["application"]["hoursDone"], 50);
    let history: Vec<(String, Option<String>, String)> = done["application"]["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["fromStatus"].as_str().map(str::to_owned),
                e["toStatus"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let s = |x: &str| x.to_owned();
    assert_eq!(
        history,
        vec![
            (s("APPLY"), None, s("WAITING_VALIDATION")),
            (
                s("VERIFY"),
                Some(s("WAITING_VALIDATION")),
                s("WAITING_ACCEPTATION")
            ),
            (s("ACCEPT"), Some(s("WAITING_ACCEPTATION")), s("VALIDATED")),
            (s("START"), Some(s("VALIDATED")), s("IN_PROGRESS")),
            (s("COMPLETE"), Some(s("IN_PROGRESS")), s("DONE")),
        ]
    );
    assert!(
        done["application"]["history"][2]["actor"]
            .as_str()
            .is_some_and(|a| a.contains(STAFF)),
        "the history names who moved: {done}"
    );
    // 10 + 50 = 60 hours: phase 2 still in progress; a second mission of 24 hours makes 84.
    let v = f.volunteer_id(0).await;
    let read = |conn: DatabaseConnection| async move {
        volunteer::Entity::find_by_id(v)
            .one(&conn)
            .await
            .expect("read")
            .expect("volunteer")
    };
    let mid = read(f.conn.clone()).await;
    assert_eq!(
        (mid.phase2_hours_done, mid.phase2_status.as_str()),
        (60, "IN_PROGRESS")
    );
    let second = f.apply(0, f.started).await;
    let id2 = id_of(&second);
    f.act(&referent, &id2, "VERIFY", json!({})).await;
    f.act(&staff, &id2, "ACCEPT", json!({})).await;
    f.act(&staff, &id2, "START", json!({})).await;
    let done2 = f
        .act(&staff, &id2, "COMPLETE", json!({ "hoursDone": 24 }))
        .await;
    assert_eq!(status(&done2), "DONE", "{done2}");
    let end = read(f.conn.clone()).await;
    assert_eq!(
        (end.phase2_hours_done, end.phase2_status.as_str()),
        (84, "VALIDATED")
    );

    // The volunteer was told at each step, in French, and can mark it read.
    let inbox = f
        .app
        .data_as(
            &volunteer(0),
            "{ notifications(first: 50) { unreadCount nodes { id topic title applicationId readAt } } }",
            json!({}),
        )
        .await;
    let topics: Vec<&str> = inbox["notifications"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["topic"].as_str())
        .collect();
    assert!(topics.contains(&"APPLICATION_VALIDATED"), "{topics:?}");
    assert!(topics.contains(&"APPLICATION_DONE"), "{topics:?}");
    assert!(
        !topics.contains(&"APPLICATION_WAITING_VALIDATION"),
        "nobody is told of their own move: {topics:?}"
    );
    let unread = inbox["notifications"]["unreadCount"]
        .as_i64()
        .expect("count");
    assert!(unread >= 5, "{inbox}");
    let marked = mutate(
        &f.app,
        &volunteer(0),
        "mutation { markNotificationsRead(input: { all: true }) { marked unreadCount } }",
        json!({}),
    )
    .await;
    assert_eq!(
        (marked["marked"].as_i64(), marked["unreadCount"].as_i64()),
        (Some(unread), Some(0))
    );
    // The staff's inbox is theirs only: the volunteer's notifications are not in it.
    let staff_inbox = f
        .app
        .data_as(&staff, "{ notifications { unreadCount } }", json!({}))
        .await;
    assert!(
        staff_inbox["notifications"]["unreadCount"]
            .as_i64()
            .unwrap_or(0)
            > 0
    );
    let anonymous_inbox = f
        .app
        .gql_as(
            &As::Anonymous,
            "{ notifications { unreadCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&anonymous_inbox), "FORBIDDEN");
    // Marking needs ids (at most 100) or `all`, not both, not neither.
    const MARK: &str = "mutation($input: MarkNotificationsReadInput!) { markNotificationsRead(input: $input) { marked } }";
    let too_many: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
    for input in [
        json!({}),
        json!({ "ids": ["1"], "all": true }),
        json!({ "ids": too_many }),
        json!({ "ids": ["not-an-id"] }),
    ] {
        let body = f
            .app
            .gql_as(&volunteer(0), MARK, json!({ "input": input }))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{input}: {body}");
    }
    f.stop().await;
}

#[tokio::test]
async fn every_eligibility_rule_refuses_with_its_code() {
    let settings = Settings {
        max_live_applications: 2,
        ..test_settings()
    };
    let f = Flow::start("apps-eligibility", settings, 4).await;
    let referent = As::user(REFERENT);
    let p = f.publisher;
    let o = f.organization;
    let conn = &f.conn;
    let v = |n: usize| f.volunteer_id(n);

    // Phase 1 not validated.
    volunteer::Entity::update_many()
        .col_expr(volunteer::Column::Phase1Status, Expr::value("IN_PROGRESS"))
        .filter(volunteer::Column::Id.eq(v(1).await))
        .exec(conn)
        .await
        .expect("phase 1");
    assert_eq!(codes(&f.apply(1, f.open).await), ["PHASE1_NOT_VALIDATED"]);
    // A minor, to a mission for adults; the same volunteer may join one open to minors.
    volunteer::Entity::update_many()
        .col_expr(
            volunteer::Column::Birthdate,
            Expr::value(chrono::NaiveDate::from_ymd_opt(2012, 3, 1)),
        )
        .filter(volunteer::Column::Id.eq(v(2).await))
        .exec(conn)
        .await
        .expect("minor");
    assert_eq!(codes(&f.apply(2, f.open).await), ["MINORS_NOT_ALLOWED"]);
    let for_minors = snu_mission(conn, p, o, "minors", 2, 10).await;
    mission::Entity::update_many()
        .col_expr(mission::Column::OpenToMinors, Expr::value(true))
        .filter(mission::Column::Id.eq(for_minors))
        .exec(conn)
        .await
        .expect("open to minors");
    assert_eq!(codes(&f.apply(2, for_minors).await), Vec::<String>::new());
    // Not open to SNU; no place left; ended.
    let not_snu = snu_mission(conn, p, o, "not-snu", 2, 10).await;
    mission::Entity::update_many()
        .col_expr(mission::Column::Snu, Expr::value(false))
        .filter(mission::Column::Id.eq(not_snu))
        .exec(conn)
        .await
        .expect("not snu");
    assert_eq!(
        codes(&f.apply(0, not_snu).await),
        ["MISSION_NOT_OPEN_TO_SNU"]
    );
    let full = snu_mission(conn, p, o, "full", 0, 10).await;
    assert_eq!(codes(&f.apply(0, full).await), ["NO_PLACES_LEFT"]);
    let ended = snu_mission(conn, p, o, "ended", 2, -30).await;
    mission::Entity::update_many()
        .col_expr(
            mission::Column::EndAt,
            Expr::value(Some(
                passerelle_entities::time::now() - chrono::Duration::days(1),
            )),
        )
        .filter(mission::Column::Id.eq(ended))
        .exec(conn)
        .await
        .expect("ended");
    assert_eq!(codes(&f.apply(0, ended).await), ["MISSION_ENDED"]);
    // Not validated: a volunteer cannot even see it; a referent proposing it is told why.
    let waiting = mission_row(
        conn,
        p,
        o,
        "waiting",
        MissionStatus::WaitingValidation,
        "69",
        MissionType::Benevolat,
        Domain::Sport,
        false,
    )
    .await;
    let hidden = f
        .app
        .gql_as(
            &volunteer(0),
            "mutation($m: ID!) { applyToMission(input: { missionId: $m }) { userErrors { code } } }",
            json!({ "m": waiting.to_string() }),
        )
        .await;
    assert_eq!(error_code(&hidden), "NOT_FOUND");
    let proposed = mutate(
        &f.app,
        &referent,
        "mutation($input: ProposeMissionInput!) { proposeMission(input: $input) { application { id } userErrors { code } } }",
        json!({ "input": { "missionId": waiting.to_string(), "volunteerId": v(0).await.to_string() } }),
    )
    .await;
    assert!(
        codes(&proposed).contains(&"MISSION_NOT_OPEN".to_owned()),
        "{proposed}"
    );
    // Twice to the same mission; more live applications than allowed (2 here).
    assert_eq!(codes(&f.apply(0, f.open).await), Vec::<String>::new());
    assert_eq!(codes(&f.apply(0, f.open).await), ["ALREADY_APPLIED"]);
    assert_eq!(codes(&f.apply(0, f.started).await), Vec::<String>::new());
    let third = snu_mission(conn, p, o, "third", 2, 10).await;
    assert_eq!(codes(&f.apply(0, third).await), ["TOO_MANY_APPLICATIONS"]);
    // Refused for every rule, nothing was written.
    let count = application::Entity::find()
        .filter(application::Column::VolunteerId.eq(v(0).await))
        .count(conn)
        .await
        .expect("count");
    assert_eq!(count, 2);
    // Bad input: a motivation too long, a mission id that is not one, someone not a volunteer.
    let long = mutate(
        &f.app,
        &volunteer(3),
        "mutation($input: ApplyToMissionInput!) { applyToMission(input: $input) { userErrors { code field } } }",
        json!({ "input": { "missionId": f.open.to_string(), "motivation": "x".repeat(5001) } }),
    )
    .await;
    assert_eq!(codes(&long), ["MOTIVATION_TOO_LONG"]);
    let bad_id = f
        .app
        .gql_as(
            &volunteer(3),
            "mutation { applyToMission(input: { missionId: \"abc\" }) { userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&bad_id), "BAD_USER_INPUT");
    let staff_applies = f
        .app
        .gql_as(
            &As::user(STAFF),
            "mutation($m: ID!) { applyToMission(input: { missionId: $m }) { userErrors { code } } }",
            json!({ "m": f.open.to_string() }),
        )
        .await;
    assert_eq!(error_code(&staff_applies), "FORBIDDEN");
    f.stop().await;
}

/// Runs the futures as tasks of the runtime (in parallel on its workers) and returns their
/// outputs in order.
async fn futures_all<T: Send + 'static>(
    futures: impl Iterator<Item = impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let tasks: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

/// Puts volunteer `n`'s application to `mission` in `status` directly, as a proposal or not.
async fn application_in(
    f: &Flow,
    n: usize,
    mission: i64,
    status: ApplicationStatus,
    proposed: bool,
) -> String {
    let now = passerelle_entities::time::now();
    application::ActiveModel {
        volunteer_id: Set(f.volunteer_id(n).await),
        mission_id: Set(mission),
        status: Set(status),
        motivation: Set(None),
        proposed: Set(proposed),
        status_comment: Set(None),
        hours_done: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&f.conn)
    .await
    .expect("application")
    .id
    .to_string()
}

#[tokio::test]
async fn every_legal_move_by_its_party_and_an_illegal_one_from_each_status() {
    use ApplicationStatus::*;
    let f = Flow::start("apps-moves", test_settings(), 16).await;
    let staff = As::user(STAFF);
    let referent = As::user(REFERENT);
    let admin = As::user(ADMIN);
    // (from, proposed, started mission, action, the party who may, one who may not, to)
    let moves: Vec<(ApplicationStatus, bool, bool, &str, As, As, &str)> = vec![
        (
            WaitingValidation,
            false,
            false,
            "VERIFY",
            referent.clone(),
            staff.clone(),
            "WAITING_ACCEPTATION",
        ),
        (
            WaitingValidation,
            false,
            false,
            "REFUSE",
            referent.clone(),
            volunteer(1),
            "REFUSED",
        ),
        (
            WaitingValidation,
            false,
            false,
            "CANCEL",
            volunteer(2),
            referent.clone(),
            "CANCELLED",
        ),
        (
            WaitingAcceptation,
            false,
            false,
            "ACCEPT",
            staff.clone(),
            volunteer(3),
            "VALIDATED",
        ),
        (
            WaitingAcceptation,
            true,
            false,
            "ACCEPT",
            volunteer(4),
            staff.clone(),
            "VALIDATED",
        ),
        (
            WaitingAcceptation,
            false,
            false,
            "REFUSE",
            staff.clone(),
            volunteer(5),
            "REFUSED",
        ),
        (
            WaitingAcceptation,
            false,
            false,
            "CANCEL",
            volunteer(6),
            staff.clone(),
            "CANCELLED",
        ),
        (
            Validated,
            false,
            false,
            "CANCEL",
            volunteer(7),
            staff.clone(),
            "CANCELLED",
        ),
        (
            Validated,
            false,
            false,
            "START",
            staff.clone(),
            volunteer(8),
            "IN_PROGRESS",
        ),
        (
            Validated,
            false,
            true,
            "ABANDON",
            volunteer(9),
            As::user(ADMIN),
            "ABANDONED",
        ),
        (
            InProgress,
            false,
            true,
            "COMPLETE",
            staff.clone(),
            referent.clone(),
            "DONE",
        ),
        (
            InProgress,
            false,
            true,
            "ABANDON",
            referent.clone(),
            As::Anonymous,
            "ABANDONED",
        ),
    ];
    for (i, (from, proposed, started, action, may, may_not, to)) in moves.into_iter().enumerate() {
        // Application i is volunteer i's.
        let n = i;
        let mission = if started { f.started } else { f.open };
        let id = application_in(&f, n, mission, from, proposed).await;
        let extra = match action {
            "REFUSE" => json!({ "comment": "Le profil ne correspond pas." }),
            "COMPLETE" => json!({ "hoursDone": 30 }),
            _ => json!({}),
        };
        if may_not != admin && may_not != As::Anonymous {
            let body = f
                .app
                .gql_as(
                    &may_not,
                    "mutation($input: MoveApplicationInput!) { moveApplication(input: $input) { application { status } userErrors { code } } }",
                    json!({ "input": { "id": id, "action": action, "comment": "x", "hoursDone": if action == "COMPLETE" { json!(30) } else { Value::Null } } }),
                )
                .await;
            let refused = body["data"]["moveApplication"]["userErrors"][0]["code"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| error_code(&body));
            assert!(
                ["TRANSITION_NOT_ALLOWED", "FORBIDDEN", "NOT_FOUND"].contains(&refused.as_str()),
                "{from} {action} by the wrong party: {body}"
            );
        }
        let moved = f.act(&may, &id, action, extra).await;
        assert_eq!(status(&moved), to, "{from} {action}: {moved}");
        assert_eq!(codes(&moved), Vec::<String>::new());
    }
    // From each status, a move it does not allow.
    for (n, (from, action)) in [
        (WaitingValidation, "START"),
        (WaitingAcceptation, "COMPLETE"),
        (Validated, "VERIFY"),
        (InProgress, "ACCEPT"),
        (Refused, "VERIFY"),
        (Cancelled, "ACCEPT"),
        (Done, "ABANDON"),
        (Abandoned, "START"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = application_in(&f, n, f.started, from, false).await;
        let moved = f.act(&admin, &id, action, json!({})).await;
        assert_eq!(
            codes(&moved),
            ["ILLEGAL_TRANSITION"],
            "{from} {action}: {moved}"
        );
        assert_eq!(status(&moved), from.as_str(), "nothing moved");
    }
    // Too late to cancel once the mission started: abandon instead.
    let id = application_in(&f, 15, f.started, Validated, false).await;
    let late = f.act(&volunteer(15), &id, "CANCEL", json!({})).await;
    assert_eq!(codes(&late), ["ILLEGAL_TRANSITION"]);
    assert!(
        late["userErrors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("before the mission starts"),
        "{late}"
    );
    // Refusing needs a reason, of at most 2,000 characters; hours go with COMPLETE only; a stale
    // version is a conflict.
    let id = application_in(&f, 14, f.open, WaitingValidation, false).await;
    let bare = f.act(&referent, &id, "REFUSE", json!({})).await;
    assert_eq!(codes(&bare), ["COMMENT_REQUIRED"]);
    let long = f
        .act(
            &referent,
            &id,
            "REFUSE",
            json!({ "comment": "x".repeat(2_001) }),
        )
        .await;
    assert_eq!(codes(&long), ["COMMENT_TOO_LONG"]);
    let hours = f
        .act(&referent, &id, "VERIFY", json!({ "hoursDone": 10 }))
        .await;
    assert_eq!(codes(&hours), ["HOURS_NOT_EXPECTED"]);
    assert_eq!(status(&hours), "WAITING_VALIDATION", "nothing moved");
    let stale = f
        .act(&referent, &id, "VERIFY", json!({ "version": 7 }))
        .await;
    assert_eq!(codes(&stale), ["CONFLICT"]);
    let unknown = f
        .app
        .gql_as(
            &referent,
            "mutation { moveApplication(input: { id: \"999999\", action: VERIFY }) { userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND");
    let bad_action = f
        .app
        .gql_as(
            &referent,
            "mutation { moveApplication(input: { id: \"1\", action: TELEPORT }) { userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&bad_action), "GRAPHQL_VALIDATION_FAILED");
    f.stop().await;
}

#[tokio::test]
async fn a_referent_proposes_a_mission_and_the_volunteer_accepts_it() {
    let f = Flow::start("apps-proposal", test_settings(), 2).await;
    let referent = As::user(REFERENT);
    let v = f.volunteer_id(0).await;
    let proposed = mutate(
        &f.app,
        &referent,
        "mutation($input: ProposeMissionInput!) { proposeMission(input: $input) { application { id status proposed statusComment } userErrors { code } } }",
        json!({ "input": { "missionId": f.open.to_string(), "volunteerId": v.to_string(), "comment": "Cette mission de sport te plaira." } }),
    )
    .await;
    assert_eq!(codes(&proposed), Vec::<String>::new(), "{proposed}");
    assert_eq!(
        (
            status(&proposed),
            proposed["application"]["proposed"].as_bool()
        ),
        ("WAITING_ACCEPTATION", Some(true))
    );
    let id = id_of(&proposed);
    // The volunteer's to accept, not the structure's.
    let by_staff = f.act(&As::user(STAFF), &id, "ACCEPT", json!({})).await;
    assert_eq!(codes(&by_staff), ["TRANSITION_NOT_ALLOWED"]);
    let accepted = f.act(&volunteer(0), &id, "ACCEPT", json!({})).await;
    assert_eq!(status(&accepted), "VALIDATED", "{accepted}");
    assert_eq!(f.mission(f.open).await.snu_places, 2);
    // The structure was told, in its inbox.
    let staff_id: i64 = passerelle_entities::user::Entity::find()
        .filter(passerelle_entities::user::Column::Email.eq(STAFF))
        .one(&f.conn)
        .await
        .expect("read")
        .expect("staff")
        .id;
    let told = notification::Entity::find()
        .filter(notification::Column::UserId.eq(staff_id))
        .filter(notification::Column::Topic.eq("APPLICATION_VALIDATED"))
        .count(&f.conn)
        .await
        .expect("count");
    assert_eq!(told, 1);
    // A referent of another territory may not propose to this volunteer.
    user_row(
        &f.conn,
        "referent13@snu.example",
        Role::ReferentDepartment,
        |u| u.department_code = Set(Some("13".into())),
    )
    .await;
    let elsewhere = f
        .app
        .gql_as(
            &As::user("referent13@snu.example"),
            "mutation($input: ProposeMissionInput!) { proposeMission(input: $input) { userErrors { code } } }",
            json!({ "input": { "missionId": f.open.to_string(), "volunteerId": f.volunteer_id(1).await.to_string() } }),
        )
        .await;
    assert_eq!(error_code(&elsewhere), "NOT_FOUND");
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_volunteers_and_their_structure_race_for_one_place_and_exactly_one_gets_it() {
    const N: usize = 50;
    let f = Arc::new(Flow::start("apps-race", test_settings(), N).await);
    let one_place = snu_mission(&f.conn, f.publisher, f.organization, "one-place", 1, 10).await;
    let staff = As::user(STAFF);
    let referent = As::user(REFERENT);
    // All 50 apply at once (no place is taken yet: every one is accepted for review)…
    let applied = futures_all((0..N).map(|n| {
        let f = Arc::clone(&f);
        async move {
            let applied = f.apply(n, one_place).await;
            assert_eq!(codes(&applied), Vec::<String>::new(), "{applied}");
            id_of(&applied)
        }
    }))
    .await;
    // …the referent finds them all eligible, at once…
    futures_all(applied.iter().cloned().map(|id| {
        let (f, referent) = (Arc::clone(&f), referent.clone());
        async move {
            let verified = f.act(&referent, &id, "VERIFY", json!({})).await;
            assert_eq!(status(&verified), "WAITING_ACCEPTATION", "{verified}");
        }
    }))
    .await;
    // …and the structure accepts all 50 at once, for one place.
    let outcomes = futures_all(applied.iter().cloned().map(|id| {
        let (f, staff) = (Arc::clone(&f), staff.clone());
        async move {
            let accepted = f.act(&staff, &id, "ACCEPT", json!({})).await;
            (status(&accepted).to_owned(), codes(&accepted))
        }
    }))
    .await;
    let mut validated = 0;
    for (s, c) in outcomes {
        if s == "VALIDATED" {
            validated += 1;
        } else {
            assert_eq!(
                (s.as_str(), c),
                ("WAITING_ACCEPTATION", vec!["NO_PLACES_LEFT".to_owned()])
            );
        }
    }
    assert_eq!(validated, 1, "exactly one place was given");
    let m = f.mission(one_place).await;
    assert_eq!(m.snu_places, 0, "never negative");
    let held = application::Entity::find()
        .filter(application::Column::MissionId.eq(one_place))
        .filter(application::Column::Status.eq(ApplicationStatus::Validated))
        .all(&f.conn)
        .await
        .expect("read");
    assert_eq!(held.len(), 1);
    // Cancelled, the place is free at once, and another volunteer gets it.
    let winner = held[0].volunteer_id;
    let mut n = N;
    for k in 0..N {
        if f.volunteer_id(k).await == winner {
            n = k;
        }
    }
    let cancelled = f
        .act(&volunteer(n), &held[0].id.to_string(), "CANCEL", json!({}))
        .await;
    assert_eq!(status(&cancelled), "CANCELLED", "{cancelled}");
    assert_eq!(f.mission(one_place).await.snu_places, 1);
    let next = application::Entity::find()
        .filter(application::Column::MissionId.eq(one_place))
        .filter(application::Column::Status.eq(ApplicationStatus::WaitingAcceptation))
        .one(&f.conn)
        .await
        .expect("read")
        .expect("another");
    let accepted = f
        .act(&staff, &next.id.to_string(), "ACCEPT", json!({}))
        .await;
    assert_eq!(status(&accepted), "VALIDATED", "{accepted}");
    assert_eq!(f.mission(one_place).await.snu_places, 0);
    if let Ok(f) = Arc::try_unwrap(f) {
        f.stop().await;
    }
}

/// A delivery as received: its headers and body.
type Received = (axum::http::HeaderMap, Vec<u8>);

/// A local webhook receiver: answers `fail_first` requests with 500, then 200 (or always 500
/// when `fail_first` is `usize::MAX`), and keeps what it received.
#[derive(Clone, Default)]
struct Receiver {
    calls: Arc<AtomicUsize>,
    fail_first: usize,
    received: Arc<std::sync::Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(fail_first: usize) -> (Receiver, String) {
        let r = Receiver {
            fail_first,
            ..Default::default()
        };
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let r = state.clone();
                    async move {
                        let n = r.calls.fetch_add(1, Ordering::SeqCst);
                        if n < r.fail_first {
                            return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                        }
                        r.received
                            .lock()
                            .expect("lock")
                            .push((headers, body.to_vec()));
                        axum::http::StatusCode::OK
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }
}

fn delivery(max_attempts: u32) -> Delivery {
    Delivery {
        max_attempts,
        backoff: Duration::from_millis(20),
        lease: Duration::from_secs(30),
        poll: Duration::from_millis(20),
        webhook_allow_private: true,
        ..Delivery::from_settings(&test_settings())
    }
}

fn private_webhooks() -> Settings {
    Settings {
        webhook_allow_private: true,
        ..test_settings()
    }
}

/// Registers a webhook of the flow's publisher (as an admin) and returns its secret.
async fn register(f: &Flow, url: &str, topics: &[&str]) -> String {
    let created = mutate(
        &f.app,
        &As::user(ADMIN),
        "mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id url topics } secret userErrors { code } } }",
        json!({ "input": { "publisherId": f.publisher.to_string(), "url": url, "topics": topics } }),
    )
    .await;
    assert_eq!(codes(&created), Vec::<String>::new(), "{created}");
    created["secret"].as_str().expect("secret").to_owned()
}

/// Runs the delivery worker until `done` holds, at most 10 s.
async fn deliver_until(
    conn: &DatabaseConnection,
    d: &Delivery,
    worker: &str,
    mut done: impl FnMut() -> bool,
) {
    let mailer = Mailer::new(d).expect("mailer");
    for _ in 0..500 {
        deliver_due(conn, d, worker, &mailer)
            .await
            .expect("deliver");
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not delivered within 10 s");
}

fn hmac_hex(secret: &str, message: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, message)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_webhook_that_fails_twice_gets_the_event_on_the_third_try_signed() {
    let f = Flow::start("apps-webhook-retry", private_webhooks(), 1).await;
    let (receiver, url) = Receiver::start(2).await;
    let secret = register(&f, &url, &["APPLICATION"]).await;
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "{secret}"
    );
    let applied = f.apply(0, f.open).await;
    let application_id = id_of(&applied);
    let d = delivery(5);
    let r = receiver.clone();
    deliver_until(&f.conn, &d, "worker-a", || {
        !r.received.lock().expect("lock").is_empty()
    })
    .await;
    assert_eq!(
        receiver.calls.load(Ordering::SeqCst),
        3,
        "two failures, then the delivery"
    );
    let (headers, body) = receiver.received.lock().expect("lock")[0].clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let timestamp = header("passerelle-webhook-timestamp");
    let mut signed = timestamp.clone().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(&body);
    assert_eq!(
        header("passerelle-webhook-signature"),
        format!("v1={}", hmac_hex(&secret, &signed)),
        "signed with the secret over timestamp.body"
    );
    let event: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(
        event["id"].as_str(),
        Some(header("passerelle-webhook-id").as_str())
    );
    assert_eq!(event["type"], "APPLICATION_WAITING_VALIDATION");
    assert_eq!(
        event["data"]["applicationId"].as_str(),
        Some(application_id.as_str())
    );
    assert!(
        !String::from_utf8_lossy(&body).contains("jeunes.example"),
        "no personal data goes to partners: {event}"
    );
    let row = outbox::Entity::find()
        .filter(outbox::Column::WebhookId.is_not_null())
        .one(&f.conn)
        .await
        .expect("read")
        .expect("row");
    assert_eq!((row.status, row.attempts), (OutboxStatus::Sent, 3));
    // Emails were owed too (to the volunteer and the referent): without SMTP they are logged
    // and marked sent.
    let emails = outbox::Entity::find()
        .filter(outbox::Column::Channel.eq(passerelle_entities::OutboxChannel::Email))
        .all(&f.conn)
        .await
        .expect("read");
    assert!(!emails.is_empty());
    assert!(
        emails.iter().all(|e| e.status == OutboxStatus::Sent),
        "{emails:?}"
    );
    // A rotated secret: both sign until the old one expires.
    let rotated = mutate(
        &f.app,
        &As::user(ADMIN),
        "mutation($id: ID!) { rotateWebhookSecret(input: { id: $id, graceHours: 1 }) { secret webhook { previousSecretExpiresAt } } }",
        json!({ "id": row.webhook_id.expect("hook").to_string() }),
    )
    .await;
    let new_secret = rotated["secret"].as_str().expect("secret").to_owned();
    assert_ne!(new_secret, secret);
    let referent = As::user(REFERENT);
    f.act(&referent, &application_id, "VERIFY", json!({})).await;
    let r = receiver.clone();
    deliver_until(&f.conn, &d, "worker-a", || {
        r.received.lock().expect("lock").len() == 2
    })
    .await;
    let (headers, body) = receiver.received.lock().expect("lock")[1].clone();
    let ts = headers["passerelle-webhook-timestamp"]
        .to_str()
        .expect("ts")
        .to_owned();
    let mut signed = ts.into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(&body);
    assert_eq!(
        headers["passerelle-webhook-signature"]
            .to_str()
            .expect("sig"),
        format!(
            "v1={}, v1={}",
            hmac_hex(&new_secret, &signed),
            hmac_hex(&secret, &signed)
        )
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_always_fails_ends_in_the_dead_letters_and_can_be_retried() {
    let f = Flow::start("apps-webhook-dead", private_webhooks(), 1).await;
    let (receiver, url) = Receiver::start(usize::MAX).await;
    register(&f, &url, &["APPLICATION"]).await;
    f.apply(0, f.open).await;
    let d = delivery(3);
    let conn = f.conn.clone();
    let dead = move || {
        let conn = conn.clone();
        tokio::task::block_in_place(move || {
            tokio::runtime::Handle::current().block_on(async move {
                outbox::Entity::find()
                    .filter(outbox::Column::Status.eq(OutboxStatus::Dead))
                    .count(&conn)
                    .await
                    .expect("count")
                    == 1
            })
        })
    };
    deliver_until(&f.conn, &d, "worker-a", dead).await;
    assert_eq!(
        receiver.calls.load(Ordering::SeqCst),
        3,
        "three attempts, then no more"
    );
    let row = outbox::Entity::find()
        .filter(outbox::Column::Status.eq(OutboxStatus::Dead))
        .one(&f.conn)
        .await
        .expect("read")
        .expect("dead");
    assert!(
        row.last_error
            .as_deref()
            .is_some_and(|e| e.contains("HTTP 500")),
        "{row:?}"
    );
    let mailer = Mailer::new(&d).expect("mailer");
    assert_eq!(
        deliver_due(&f.conn, &d, "worker-a", &mailer)
            .await
            .expect("deliver"),
        0
    );
    assert_eq!(
        receiver.calls.load(Ordering::SeqCst),
        3,
        "a dead letter is not sent again"
    );
    // `passerelle outbox retry --dead` queues it again, with its attempts reset.
    assert_eq!(
        passerelle::outbox::retry(&f.conn, &[], true)
            .await
            .expect("retry"),
        1
    );
    let again = outbox::Entity::find_by_id(row.id)
        .one(&f.conn)
        .await
        .expect("read")
        .expect("row");
    assert_eq!((again.status, again.attempts), (OutboxStatus::Pending, 0));
    assert!(
        passerelle::outbox::retry(&f.conn, &[], false)
            .await
            .is_err(),
        "names or --dead"
    );
    assert!(
        passerelle::outbox::retry(&f.conn, &[987_654], false)
            .await
            .is_err(),
        "unknown id"
    );
    f.stop().await;
}

#[tokio::test]
async fn a_message_claimed_by_a_worker_that_died_is_sent_once_its_lease_passes() {
    let f = Flow::start("apps-outbox-restart", private_webhooks(), 1).await;
    let (receiver, url) = Receiver::start(0).await;
    register(&f, &url, &["APPLICATION"]).await;
    f.apply(0, f.open).await;
    // A worker claimed the webhook call and died before sending it.
    let lease = passerelle_entities::time::now() + chrono::Duration::milliseconds(500);
    outbox::Entity::update_many()
        .col_expr(outbox::Column::LockedBy, Expr::value("crashed-worker"))
        .col_expr(outbox::Column::LockedUntil, Expr::value(lease))
        .col_expr(outbox::Column::Attempts, Expr::value(1))
        .filter(outbox::Column::WebhookId.is_not_null())
        .exec(&f.conn)
        .await
        .expect("claimed");
    let d = delivery(5);
    let mailer = Mailer::new(&d).expect("mailer");
    deliver_due(&f.conn, &d, "worker-b", &mailer)
        .await
        .expect("deliver");
    assert_eq!(receiver.calls.load(Ordering::SeqCst), 0, "the lease holds");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let r = receiver.clone();
    deliver_until(&f.conn, &d, "worker-b", || {
        r.calls.load(Ordering::SeqCst) == 1
    })
    .await;
    let row = outbox::Entity::find()
        .filter(outbox::Column::WebhookId.is_not_null())
        .one(&f.conn)
        .await
        .expect("read")
        .expect("row");
    assert_eq!((row.status, row.attempts), (OutboxStatus::Sent, 2));
    assert_eq!(row.locked_by.as_deref(), Some("worker-b"));
    f.stop().await;
}

#[tokio::test]
async fn a_failure_after_the_move_leaves_neither_the_move_nor_its_messages() {
    let f = Flow::start("apps-atomic", test_settings(), 1).await;
    let applied = f.apply(0, f.open).await;
    let id = id_of(&applied);
    let counts = |conn: DatabaseConnection| async move {
        (
            notification::Entity::find().count(&conn).await.expect("n"),
            outbox::Entity::find().count(&conn).await.expect("o"),
            application_event::Entity::find()
                .count(&conn)
                .await
                .expect("e"),
        )
    };
    let before = counts(f.conn.clone()).await;
    // The outbox refuses the move's emails: the last writes of the transaction.
    let triggers: &[&str] = if f.database.is_postgres() {
        &[
            "CREATE FUNCTION refuse_outbox() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION refuse_outbox()",
        ]
    } else {
        &[
            "CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        ]
    };
    for sql in triggers {
        f.conn.execute_unprepared(sql).await.expect("trigger");
    }
    let body = f
        .app
        .gql_as(
            &As::user(REFERENT),
            "mutation($id: ID!) { moveApplication(input: { id: $id, action: VERIFY }) { application { status } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&body), "INTERNAL_SERVER_ERROR", "{body}");
    let a = application::Entity::find_by_id(id.parse::<i64>().expect("id"))
        .one(&f.conn)
        .await
        .expect("read")
        .expect("application");
    assert_eq!(
        (a.status, a.version),
        (ApplicationStatus::WaitingValidation, 1)
    );
    assert_eq!(
        counts(f.conn.clone()).await,
        before,
        "no notification, message or event"
    );
    f.stop().await;
}

#[tokio::test]
async fn a_volunteer_exports_their_data_and_erasure_leaves_only_the_counts() {
    let f = Flow::start("apps-gdpr", test_settings(), 2).await;
    let referent = As::user(REFERENT);
    let admin = As::user(ADMIN);
    let applied = f.apply(0, f.open).await;
    let id = id_of(&applied);
    f.act(
        &referent,
        &id,
        "REFUSE",
        json!({ "comment": "Dossier incomplet, désolé Jean." }),
    )
    .await;
    f.apply(1, f.open).await;
    let v = f.volunteer_id(0).await;

    let export = mutate(
        &f.app,
        &volunteer(0),
        "mutation($id: ID!) { exportVolunteerData(input: { volunteerId: $id }) { data } }",
        json!({ "id": v.to_string() }),
    )
    .await;
    let data = &export["data"];
    assert_eq!(data["volunteer"]["email"], "v0@jeunes.example");
    assert_eq!(data["volunteer"]["firstName"], "PrénomV0");
    assert_eq!(data["accounts"][0]["email"], volunteer_email(0));
    assert_eq!(data["applications"][0]["motivation"], "J'aime le sport.");
    assert_eq!(data["applications"][0]["status"], "REFUSED");
    assert_eq!(
        data["applications"][0]["history"][1]["comment"],
        "Dossier incomplet, désolé Jean."
    );
    assert!(!data["notifications"].as_array().expect("notes").is_empty());
    assert!(!data["emails"].as_array().expect("emails").is_empty());
    // Another volunteer may not export it; the staff may not either.
    let other = f
        .app
        .gql_as(
            &volunteer(1),
            "mutation($id: ID!) { exportVolunteerData(input: { volunteerId: $id }) { data } }",
            json!({ "id": v.to_string() }),
        )
        .await;
    assert_eq!(error_code(&other), "NOT_FOUND");
    // The structure reads its applicant's contact, but does not act on their data.
    let staff = f
        .app
        .gql_as(
            &As::user(STAFF),
            "mutation($id: ID!) { eraseVolunteer(input: { volunteerId: $id }) { userErrors { code } } }",
            json!({ "id": v.to_string() }),
        )
        .await;
    assert_eq!(error_code(&staff), "FORBIDDEN");
    let long_reason = f
        .app
        .gql_as(
            &referent,
            "mutation($id: ID!, $r: String!) { eraseVolunteer(input: { volunteerId: $id, reason: $r }) { userErrors { code } } }",
            json!({ "id": v.to_string(), "r": "x".repeat(2_001) }),
        )
        .await;
    assert_eq!(error_code(&long_reason), "BAD_USER_INPUT");

    // The audit log named their account (as `passerelle users add` does): erased with them.
    passerelle_entities::audit_entry::entry(
        &passerelle_entities::audit_entry::Actor::cli("ops"),
        "USER_ADDED",
        format!("user:{}", volunteer_email(0)),
        json!({ "role": "VOLUNTEER", "note": format!("added {}", volunteer_email(0)) }),
    )
    .insert(&f.conn)
    .await
    .expect("audit entry");
    let stats_query = "{ volunteerStats { count byDepartment { value count } byCohort { value count } byPhase1Status { value count } byPhase2Status { value count } } applicationStats { count byStatus { value count } byDepartment { value count } } }";
    let stats_before = f.app.data_as(&admin, stats_query, json!({})).await;
    let erased = mutate(
        &f.app,
        &referent,
        "mutation($id: ID!) { eraseVolunteer(input: { volunteerId: $id, reason: \"Demande écrite du volontaire\" }) { volunteer { id firstName lastName email phone birthdate erasedAt } userErrors { code } } }",
        json!({ "id": v.to_string() }),
    )
    .await;
    assert_eq!(codes(&erased), Vec::<String>::new(), "{erased}");
    assert!(erased["volunteer"]["erasedAt"].is_string(), "{erased}");
    let again = mutate(
        &f.app,
        &admin,
        "mutation($id: ID!) { eraseVolunteer(input: { volunteerId: $id }) { userErrors { code } } }",
        json!({ "id": v.to_string() }),
    )
    .await;
    assert_eq!(codes(&again), ["ALREADY_ERASED"]);

    // Nothing personal is reachable, by any query an admin may make.
    let everything = f
        .app
        .data_as(
            &admin,
            "query($id: ID!) { volunteer(id: $id) { firstName lastName email phone birthdate consentData applications { nodes { motivation statusComment history { actor comment } } } } auditLog(first: 100) { nodes { actor target details } } notifications { nodes { body } } }",
            json!({ "id": v.to_string() }),
        )
        .await;
    let text = everything.to_string();
    for personal in [
        "PrénomV0",
        "NomV0",
        "v0@jeunes.example",
        "jeune0@snu.example",
        "0600000000",
        "J'aime le sport",
        "Jean",
        "2007-01-15",
    ] {
        assert!(
            !text.contains(personal),
            "{personal} is still reachable: {text}"
        );
    }
    assert_eq!(everything["volunteer"]["birthdate"], Value::Null);
    let audit = f
        .app
        .data_as(
            &admin,
            "{ auditLog(first: 100) { nodes { action target } } }",
            json!({}),
        )
        .await;
    let audit_text = audit.to_string();
    assert!(
        audit_text.contains("VOLUNTEER_DATA_EXPORTED"),
        "{audit_text}"
    );
    assert!(audit_text.contains("VOLUNTEER_ERASED"), "{audit_text}");
    // Their account is gone: their token reaches nothing of theirs any more.
    let (status, _, gone) = f
        .app
        .raw_as(&volunteer(0), "{ notifications { unreadCount } }")
        .await;
    assert_eq!(status, 403, "{gone}");
    assert!(gone["data"].is_null(), "{gone}");
    // The counts analysts read did not move.
    let stats_after = f.app.data_as(&admin, stats_query, json!({})).await;
    assert_eq!(stats_after, stats_before);
    f.stop().await;
}

#[tokio::test]
async fn the_readme_walkthrough_takes_the_demo_volunteer_from_apply_to_done() {
    let database = TestDatabase::create("apps-walkthrough").await;
    let conn = database.connect_migrated().await;
    passerelle::seed::seed_demo(&conn, 200).await.expect("seed");
    let user = |email: &str| {
        let conn = conn.clone();
        let email = email.to_owned();
        async move {
            passerelle_entities::user::Entity::find()
                .filter(passerelle_entities::user::Column::Email.eq(email))
                .one(&conn)
                .await
                .expect("read")
                .expect("demo user")
        }
    };
    let v = user("volontaire@passerelle.example")
        .await
        .volunteer_id
        .expect("volunteer");
    let o = user("structure@passerelle.example")
        .await
        .organization_id
        .expect("organization");
    // The demo's volunteer is made eligible (phase 1 done, of age, of the Rhône, whose referent
    // is a demo user), and one of the demo structure's missions open to SNU volunteers.
    volunteer::Entity::update_many()
        .col_expr(volunteer::Column::Phase1Status, Expr::value("DONE"))
        .col_expr(volunteer::Column::Phase2HoursDone, Expr::value(0))
        .col_expr(volunteer::Column::DepartmentCode, Expr::value("69"))
        .col_expr(
            volunteer::Column::Birthdate,
            Expr::value(chrono::NaiveDate::from_ymd_opt(2006, 6, 1)),
        )
        .filter(volunteer::Column::Id.eq(v))
        .exec(&conn)
        .await
        .expect("eligible");
    let m = mission::Entity::find()
        .filter(mission::Column::OrganizationId.eq(o))
        .filter(mission::Column::Status.eq(MissionStatus::Validated))
        .filter(mission::Column::DeletedAt.is_null())
        .one(&conn)
        .await
        .expect("read")
        .expect("a validated mission of the demo structure");
    application::Entity::delete_many()
        .filter(application::Column::VolunteerId.eq(v))
        .filter(application::Column::MissionId.eq(m.id))
        .exec(&conn)
        .await
        .expect("no earlier application");
    let now = passerelle_entities::time::now();
    mission::Entity::update_many()
        .col_expr(mission::Column::Snu, Expr::value(true))
        .col_expr(mission::Column::SnuPlaces, Expr::value(2))
        .col_expr(mission::Column::PlacesLeft, Expr::value(m.places.max(2)))
        .col_expr(mission::Column::Places, Expr::value(m.places.max(2)))
        .col_expr(
            mission::Column::StartAt,
            Expr::value(now + chrono::Duration::days(3)),
        )
        .col_expr(
            mission::Column::EndAt,
            Expr::value(Some(now + chrono::Duration::days(90))),
        )
        .filter(mission::Column::Id.eq(m.id))
        .exec(&conn)
        .await
        .expect("snu mission");
    let app = TestApp::start(conn.clone(), test_settings()).await;
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/queries/apply-to-done");
    let mut steps: Vec<_> = std::fs::read_dir(&dir)
        .expect("walkthrough")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("graphql"))
        .collect();
    steps.sort();
    assert_eq!(steps.len(), 6);
    let mut application = String::new();
    let mut statuses = Vec::new();
    for step in steps {
        let query = std::fs::read_to_string(&step).expect("read");
        let who = crate::helpers::example_viewer(&query);
        let variables = json!({ "missionId": m.id.to_string(), "applicationId": application });
        let payload = mutate(&app, &who, &query, variables).await;
        assert_eq!(
            codes(&payload),
            Vec::<String>::new(),
            "{}: {payload}",
            step.display()
        );
        if let Some(id) = payload["application"]["id"].as_str() {
            application = id.to_owned();
            statuses.push(status(&payload).to_owned());
        } else {
            assert!(
                payload["unreadCount"].as_i64().is_some_and(|n| n >= 4),
                "the volunteer was told: {payload}"
            );
        }
    }
    assert_eq!(
        statuses,
        [
            "WAITING_VALIDATION",
            "WAITING_ACCEPTATION",
            "VALIDATED",
            "IN_PROGRESS",
            "DONE"
        ]
    );
    let done = volunteer::Entity::find_by_id(v)
        .one(&conn)
        .await
        .expect("read")
        .expect("volunteer");
    assert_eq!(
        (done.phase2_hours_done, done.phase2_status.as_str()),
        (84, "VALIDATED")
    );
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn moderation_decisions_and_import_results_reach_the_webhooks_subscribed_to_them() {
    let f = Flow::start("apps-webhook-topics", private_webhooks(), 1).await;
    let (_, url) = Receiver::start(0).await;
    register(&f, &url, &["MISSION_MODERATION", "IMPORT"]).await;
    // A referent refuses one of the publisher's missions waiting for validation.
    let waiting = mission_row(
        &f.conn,
        f.publisher,
        f.organization,
        "to-moderate",
        MissionStatus::WaitingValidation,
        "69",
        MissionType::Benevolat,
        Domain::Sport,
        false,
    )
    .await;
    let refused = mutate(
        &f.app,
        &As::user(REFERENT),
        "mutation($i: ModerateMissionInput!) { moderateMission(input: $i) { mission { status } userErrors { code } } }",
        json!({ "i": { "id": waiting.to_string(), "decision": "REFUSE", "comment": "Hors du cadre de l'engagement." } }),
    )
    .await;
    assert_eq!(refused["mission"]["status"], "REFUSED", "{refused}");
    // Applications are not subscribed to: an application leaves no webhook call.
    assert_eq!(codes(&f.apply(0, f.open).await), Vec::<String>::new());
    // An import of its feed, from a file (which replaces the publisher's missions).
    let p = publisher::Entity::find_by_id(f.publisher)
        .one(&f.conn)
        .await
        .expect("read")
        .expect("publisher");
    let feed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/feeds/valid.xml");
    passerelle_ingest::run::run_import(
        &f.conn,
        &p,
        &passerelle_ingest::run::Source::File(feed),
        &passerelle_ingest::run::RunOptions::default(),
        None,
    )
    .await
    .expect("import");
    let calls = outbox::Entity::find()
        .filter(outbox::Column::WebhookId.is_not_null())
        .all(&f.conn)
        .await
        .expect("read");
    let mut topics: Vec<&str> = calls.iter().map(|c| c.topic.as_str()).collect();
    topics.sort_unstable();
    assert_eq!(topics, ["IMPORT_FINISHED", "MISSION_MODERATED"]);
    let moderated = calls
        .iter()
        .find(|c| c.topic == "MISSION_MODERATED")
        .expect("moderated");
    assert_eq!(moderated.payload["data"]["decision"], "REFUSE");
    assert_eq!(moderated.payload["data"]["status"], "REFUSED");
    assert_eq!(moderated.payload["data"]["missionId"], waiting.to_string());
    let import = calls
        .iter()
        .find(|c| c.topic == "IMPORT_FINISHED")
        .expect("import");
    assert_eq!(import.payload["data"]["status"], "SUCCESS");
    assert!(
        import.payload["data"]["created"]
            .as_i64()
            .is_some_and(|n| n > 0),
        "{:?}",
        import.payload
    );
    f.stop().await;
}

#[tokio::test]
async fn webhook_registrations_refuse_bad_urls_topics_and_strangers() {
    let f = Flow::start("apps-webhook-input", test_settings(), 0).await;
    let admin = As::user(ADMIN);
    let create = |url: &str, topics: Value| json!({ "input": { "publisherId": f.publisher.to_string(), "url": url, "topics": topics } });
    const CREATE: &str = "mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id } secret userErrors { field code } } }";
    for (url, topics, code) in [
        (
            "http://hooks.example.org/",
            json!(["APPLICATION"]),
            "INVALID_URL",
        ),
        (
            "https://127.0.0.1:8443/",
            json!(["APPLICATION"]),
            "PRIVATE_ADDRESS",
        ),
        (
            "https://user:pw@hooks.example.org/",
            json!(["APPLICATION"]),
            "INVALID_URL",
        ),
        ("https://hooks.example.org/", json!([]), "NO_TOPIC"),
    ] {
        let payload = mutate(&f.app, &admin, CREATE, create(url, topics)).await;
        assert_eq!(codes(&payload), [code], "{url}: {payload}");
        assert!(payload["secret"].is_null());
    }
    let unknown_topic = f
        .app
        .gql_as(
            &admin,
            CREATE,
            create("https://hooks.example.org/", json!(["EVERYTHING"])),
        )
        .await;
    assert_eq!(error_code(&unknown_topic), "GRAPHQL_VALIDATION_FAILED");
    for _ in 0..10 {
        let made = mutate(
            &f.app,
            &admin,
            CREATE,
            create("https://hooks.example.org/", json!(["APPLICATION"])),
        )
        .await;
        assert_eq!(codes(&made), Vec::<String>::new(), "{made}");
    }
    let eleventh = mutate(
        &f.app,
        &admin,
        CREATE,
        create("https://hooks.example.org/", json!(["APPLICATION"])),
    )
    .await;
    assert_eq!(codes(&eleventh), ["TOO_MANY_WEBHOOKS"]);
    // Nobody but the publisher and admins: the structure's staff, a volunteer, anonymous.
    for who in [As::user(STAFF), As::Anonymous] {
        let body = f
            .app
            .gql_as(
                &who,
                CREATE,
                create("https://hooks.example.org/", json!(["APPLICATION"])),
            )
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        let list = f.app.gql_as(&who, "{ webhooks { id } }", json!({})).await;
        assert_eq!(error_code(&list), "FORBIDDEN", "{list}");
    }
    let listed = f
        .app
        .data_as(
            &admin,
            "query($p: ID!) { webhooks(publisherId: $p) { id url topics } }",
            json!({ "p": f.publisher.to_string() }),
        )
        .await;
    assert_eq!(listed["webhooks"].as_array().map(Vec::len), Some(10));
    assert!(
        !listed.to_string().contains("whsec_"),
        "never the secret: {listed}"
    );
    let grace = f
        .app
        .gql_as(&admin, "mutation($id: ID!) { rotateWebhookSecret(input: { id: $id, graceHours: 500 }) { secret } }", json!({ "id": listed["webhooks"][0]["id"] }))
        .await;
    assert_eq!(error_code(&grace), "BAD_USER_INPUT");
    let deleted = mutate(
        &f.app,
        &admin,
        "mutation($id: ID!) { deleteWebhook(input: { id: $id }) { deletedId } }",
        json!({ "id": listed["webhooks"][0]["id"] }),
    )
    .await;
    assert_eq!(deleted["deletedId"], listed["webhooks"][0]["id"]);
    let gone = f
        .app
        .gql_as(
            &admin,
            "mutation($id: ID!) { deleteWebhook(input: { id: $id }) { deletedId } }",
            json!({ "id": listed["webhooks"][0]["id"] }),
        )
        .await;
    assert_eq!(error_code(&gone), "NOT_FOUND");
    f.stop().await;
}

#[tokio::test]
async fn editing_a_mission_keeps_the_places_its_applications_took() {
    let f = Flow::start("apps-edit-places", test_settings(), 1).await;
    let staff = As::user(STAFF);
    let id = id_of(&f.apply(0, f.open).await);
    f.act(&As::user(REFERENT), &id, "VERIFY", json!({})).await;
    f.act(&staff, &id, "ACCEPT", json!({})).await;
    let taken = f.mission(f.open).await;
    assert_eq!((taken.snu_places, taken.places_left), (2, 4));
    const UPDATE: &str = "mutation($input: UpdateMissionInput!) { updateMission(input: $input) { mission { version snuPlaces placesLeft places } userErrors { field code message } } }";
    // A new title: the place stays taken.
    let edited = mutate(
        &f.app,
        &staff,
        UPDATE,
        json!({ "input": { "id": f.open.to_string(), "version": taken.version, "title": "Initiation au handball" } }),
    )
    .await;
    assert_eq!(codes(&edited), Vec::<String>::new(), "{edited}");
    assert_eq!(
        (
            edited["mission"]["snuPlaces"].as_i64(),
            edited["mission"]["placesLeft"].as_i64()
        ),
        (Some(2), Some(4)),
        "{edited}"
    );
    // Two more places and one SNU place fewer offered: what is left follows.
    let version = edited["mission"]["version"].as_i64().expect("version");
    let resized = mutate(
        &f.app,
        &staff,
        UPDATE,
        json!({ "input": { "id": f.open.to_string(), "version": version, "places": 7, "snuPlaces": 2 } }),
    )
    .await;
    assert_eq!(codes(&resized), Vec::<String>::new(), "{resized}");
    assert_eq!(
        (
            resized["mission"]["snuPlaces"].as_i64(),
            resized["mission"]["placesLeft"].as_i64()
        ),
        (Some(1), Some(6)),
        "{resized}"
    );
    // A stale version (the accept bumped it) is a conflict, not a write-back of old counts.
    let stale = mutate(
        &f.app,
        &staff,
        UPDATE,
        json!({ "input": { "id": f.open.to_string(), "version": taken.version - 1, "title": "x y z" } }),
    )
    .await;
    assert_eq!(codes(&stale), ["CONFLICT"]);
    f.stop().await;
}

#[tokio::test]
async fn a_volunteer_who_erases_themselves_frees_their_place_and_leaves_no_name_behind() {
    let f = Flow::start("apps-self-erase", test_settings(), 1).await;
    let id = id_of(&f.apply(0, f.open).await);
    f.act(&As::user(REFERENT), &id, "VERIFY", json!({})).await;
    f.act(&As::user(STAFF), &id, "ACCEPT", json!({})).await;
    assert_eq!(f.mission(f.open).await.snu_places, 2);
    // The volunteer reads who moved their application as a role, not as an address.
    let mine = f
        .app
        .data_as(
            &volunteer(0),
            "query($id: ID!) { application(id: $id) { history { actor by action } } }",
            json!({ "id": id }),
        )
        .await;
    let history = mine["application"]["history"].as_array().expect("history");
    assert!(history.iter().all(|e| e["actor"].is_null()), "{mine}");
    let by: Vec<&str> = history.iter().filter_map(|e| e["by"].as_str()).collect();
    assert_eq!(by, ["VOLUNTEER", "REFERENT", "STRUCTURE"]);
    let v = f.volunteer_id(0).await;
    let erased = mutate(
        &f.app,
        &volunteer(0),
        "mutation($id: ID!) { eraseVolunteer(input: { volunteerId: $id }) { userErrors { code } } }",
        json!({ "id": v.to_string() }),
    )
    .await;
    assert_eq!(codes(&erased), Vec::<String>::new(), "{erased}");
    // They will not take part: the application ended, its place is free again.
    let a = application::Entity::find_by_id(id.parse::<i64>().expect("id"))
        .one(&f.conn)
        .await
        .expect("read")
        .expect("application");
    assert_eq!(a.status, ApplicationStatus::Cancelled);
    assert_eq!(f.mission(f.open).await.snu_places, 3);
    let audit = f
        .app
        .data_as(
            &As::user(ADMIN),
            "{ auditLog(first: 50) { nodes { actor action target details } } }",
            json!({}),
        )
        .await;
    let text = audit.to_string();
    assert!(text.contains("VOLUNTEER_ERASED"), "{text}");
    assert!(!text.contains(&volunteer_email(0)), "{text}");
    assert!(text.contains(&format!("volunteer:{v} (erased)")), "{text}");
    f.stop().await;
}
