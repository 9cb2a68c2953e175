//! The authorization matrix: every kind of viewer (and a revoked key, an expired token) against
//! every query shape that can reach personal data or missions that are not public — direct lists
//! and lookups, nested paths, aliases, fragments, `_entities` — on a small data set whose every
//! id is known. Each cell says exactly which ids, and which fields, come back.
use std::collections::BTreeMap;

use passerelle::config::Settings;
use passerelle_entities::audit_entry::Actor;
use passerelle_entities::{
    ApplicationStatus, DiffusionField, DiffusionOperator, Domain, GeoSource, MissionStatus,
    MissionType, Role, application, diffusion_rule, import_run, mission_address, organization,
    publisher, volunteer,
};
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};
use serde_json::{Value, json};

use crate::helpers::{
    As, TestApp, TestDatabase, error_code, mission_model, test_settings, token_for,
};

/// The data set's ids, by name.
pub struct World {
    pub ids: BTreeMap<&'static str, i64>,
    /// Alpha's live key, and a revoked one.
    pub key: String,
    pub revoked_key: String,
}

impl World {
    pub fn id(&self, name: &str) -> i64 {
        self.ids[name]
    }

    /// The names of the ids in a list of `{ id }` objects of one kind, in order.
    fn names(&self, kind: &str, nodes: &Value) -> Vec<&'static str> {
        nodes
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|n| self.name_of(kind, &n["id"]))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    }

    /// The name of an id of a kind: names start with their kind (M, V, A, R, P, O), since two
    /// tables may hold the same id.
    fn name_of(&self, kind: &str, id: &Value) -> &'static str {
        let id: i64 = id.as_str().and_then(|s| s.parse().ok()).unwrap_or(-1);
        self.ids
            .iter()
            .find(|(k, v)| **v == id && k.starts_with(kind))
            .map_or("?", |(k, _)| *k)
    }
}

fn at(days: i64) -> chrono::DateTime<chrono::Utc> {
    passerelle_entities::time::now() + chrono::Duration::days(days)
}

async fn publisher_row(db: &DatabaseConnection, name: &str, diffuseur: bool) -> i64 {
    publisher::ActiveModel {
        name: Set(name.to_owned()),
        is_annonceur: Set(true),
        is_diffuseur: Set(diffuseur),
        moderator: Set(false),
        feed_url: Set(Some(format!(
            "https://user:secret@{name}.example/feed.xml?token=t"
        ))),
        feed_user: Set(Some("user".into())),
        feed_password: Set(Some("secret".into())),
        created_at: Set(at(0)),
        updated_at: Set(at(0)),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("publisher")
    .id
}

/// An organization of a publisher, in a department, of a network or none.
pub async fn organization_row(
    db: &DatabaseConnection,
    publisher: i64,
    name: &str,
    department: &str,
    network: Option<&str>,
) -> i64 {
    organization::ActiveModel {
        publisher_id: Set(publisher),
        client_id: Set(name.to_owned()),
        name: Set(name.to_owned()),
        department_code: Set(Some(department.to_owned())),
        parent_network: Set(network.map(str::to_owned)),
        created_at: Set(at(0)),
        updated_at: Set(at(0)),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("organization")
    .id
}

/// A mission with one address; what its filters and rules look at is given.
#[allow(clippy::too_many_arguments)]
pub async fn mission_row(
    db: &DatabaseConnection,
    publisher: i64,
    organization: i64,
    name: &str,
    status: MissionStatus,
    department: &str,
    mission_type: MissionType,
    domain: Domain,
    deleted: bool,
) -> i64 {
    let dep = passerelle_entities::geo::department(department).expect("department");
    let mut m = mission_model(
        publisher,
        organization,
        name,
        &format!("Mission {name}"),
        "Une mission.",
    );
    m.domain = Set(domain);
    m.mission_type = Set(mission_type);
    m.start_at = Set(at(10));
    m.posted_at = Set(at(-1));
    m.open_to_minors = Set(true);
    m.status = Set(status);
    m.status_comment = Set(Some(format!("moderation note of {name}")));
    m.search_text = Set(name.to_lowercase());
    m.created_at = Set(at(-1));
    m.updated_at = Set(at(-1));
    m.deleted_at = Set(deleted.then(|| at(-1)));
    let m = m.insert(db).await.expect("mission");
    mission_address::ActiveModel {
        mission_id: Set(m.id),
        position: Set(0),
        city: Set(Some("Ville".into())),
        department_code: Set(Some(dep.code.to_owned())),
        department_name: Set(Some(dep.name.to_owned())),
        region: Set(Some(dep.region.to_owned())),
        lat: Set(Some(45.0)),
        lon: Set(Some(4.0)),
        geo_source: Set(GeoSource::Publisher),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("address");
    m.id
}

pub async fn volunteer_row(db: &DatabaseConnection, name: &str, department: &str) -> i64 {
    let dep = passerelle_entities::geo::department(department).expect("department");
    volunteer::ActiveModel {
        first_name: Set(format!("Prénom{name}")),
        last_name: Set(format!("Nom{name}")),
        email: Set(format!("{}@jeunes.example", name.to_lowercase())),
        phone: Set(Some("0600000000".into())),
        birthdate: Set(chrono::NaiveDate::from_ymd_opt(2009, 5, 1).expect("date")),
        department_code: Set(dep.code.to_owned()),
        region: Set(dep.region.to_owned()),
        cohort: Set("2026 Juin".into()),
        phase1_status: Set("DONE".into()),
        phase2_status: Set("IN_PROGRESS".into()),
        phase3_status: Set("NOT_STARTED".into()),
        phase2_hours_done: Set(10),
        consent_data: Set(true),
        consent_image: Set(false),
        created_at: Set(at(-30)),
        updated_at: Set(at(-30)),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("volunteer")
    .id
}

async fn application_row(db: &DatabaseConnection, volunteer: i64, mission: i64) -> i64 {
    application::ActiveModel {
        volunteer_id: Set(volunteer),
        mission_id: Set(mission),
        status: Set(ApplicationStatus::WaitingValidation),
        motivation: Set(Some("Motivé".into())),
        created_at: Set(at(-2)),
        updated_at: Set(at(-2)),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("application")
    .id
}

pub async fn user_row(
    db: &DatabaseConnection,
    email: &str,
    role: Role,
    set: impl FnOnce(&mut passerelle_entities::user::ActiveModel),
) {
    let mut row = passerelle_entities::user::ActiveModel {
        email: Set(email.to_owned()),
        subject: Set(None),
        role: Set(role),
        department_code: Set(None),
        region: Set(None),
        organization_id: Set(None),
        publisher_id: Set(None),
        volunteer_id: Set(None),
        created_at: Set(at(0)),
        updated_at: Set(at(0)),
        ..Default::default()
    };
    set(&mut row);
    row.insert(db).await.expect("user");
}

async fn run_row(db: &DatabaseConnection, publisher: i64) -> i64 {
    import_run::ActiveModel {
        publisher_id: Set(publisher),
        started_at: Set(at(-1)),
        finished_at: Set(at(-1)),
        status: Set(passerelle_entities::ImportStatus::Success),
        received: Set(1),
        created: Set(1),
        updated: Set(0),
        unchanged: Set(0),
        refused: Set(0),
        deleted: Set(0),
        error: Set(None),
        refusals: Set(Default::default()),
        warnings: Set(Default::default()),
        source: Set(None),
        not_modified: Set(false),
        fetched_bytes: Set(None),
        error_code: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("run")
    .id
}

/// The data set:
/// - publishers Alpha (a diffuseur that shows Beta's missions), Beta, Gamma;
/// - organizations OAlpha (69), OBeta (75), OGamma (69);
/// - missions M1 (Alpha, 69, validated), M2 (Alpha, 69, refused), M3 (Beta, 75, validated),
///   M4 (Beta, 75, waiting validation), M5 (Gamma, 69, validated), M6 (Beta, validated but
///   deleted), M7 (Gamma, 13, validated);
/// - volunteers V1 (69), V2 (75), V3 (13); applications A1 V1→M1, A2 V2→M3, A3 V3→M1,
///   A4 V2→M5;
/// - users of every role; one import run each for Alpha and Beta.
pub async fn world(db: &DatabaseConnection) -> World {
    use MissionStatus::*;
    let mut ids = BTreeMap::new();
    let alpha = publisher_row(db, "Alpha", true).await;
    let beta = publisher_row(db, "Beta", false).await;
    let gamma = publisher_row(db, "Gamma", false).await;
    ids.insert("PAlpha", alpha);
    ids.insert("PBeta", beta);
    ids.insert("PGamma", gamma);
    let oa = organization_row(db, alpha, "OAlpha", "69", None).await;
    let ob = organization_row(db, beta, "OBeta", "75", Some("Réseau R")).await;
    let og = organization_row(db, gamma, "OGamma", "69", None).await;
    ids.insert("OAlpha", oa);
    ids.insert("OBeta", ob);
    ids.insert("OGamma", og);
    let b = MissionType::Benevolat;
    let sc = MissionType::VolontariatServiceCivique;
    for (name, p, o, status, dep, ty, deleted) in [
        ("M1", alpha, oa, Validated, "69", b, false),
        ("M2", alpha, oa, Refused, "69", b, false),
        ("M3", beta, ob, Validated, "75", b, false),
        ("M4", beta, ob, WaitingValidation, "75", b, false),
        ("M5", gamma, og, Validated, "69", sc, false),
        ("M6", beta, ob, Validated, "75", b, true),
        ("M7", gamma, og, Validated, "13", b, false),
    ] {
        let id = mission_row(db, p, o, name, status, dep, ty, Domain::Sport, deleted).await;
        ids.insert(name, id);
    }
    for (name, dep) in [("V1", "69"), ("V2", "75"), ("V3", "13")] {
        ids.insert(name, volunteer_row(db, name, dep).await);
    }
    for (name, v, m) in [
        ("A1", "V1", "M1"),
        ("A2", "V2", "M3"),
        ("A3", "V3", "M1"),
        ("A4", "V2", "M5"),
    ] {
        let id = application_row(db, ids[v], ids[m]).await;
        ids.insert(name, id);
    }
    diffusion_rule::ActiveModel {
        diffuseur_id: Set(alpha),
        field: Set(DiffusionField::Annonceur),
        operator: Set(DiffusionOperator::Include),
        value: Set(beta.to_string()),
        created_at: Set(at(0)),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("rule");
    ids.insert("RAlpha", run_row(db, alpha).await);
    ids.insert("RBeta", run_row(db, beta).await);
    let v1 = ids["V1"];
    user_row(db, "volunteer@test.example", Role::Volunteer, |u| {
        u.volunteer_id = Set(Some(v1))
    })
    .await;
    user_row(db, "staff@test.example", Role::StructureStaff, |u| {
        u.organization_id = Set(Some(oa))
    })
    .await;
    user_row(
        db,
        "referent69@test.example",
        Role::ReferentDepartment,
        |u| {
            u.department_code = Set(Some("69".into()));
        },
    )
    .await;
    user_row(db, "referentidf@test.example", Role::ReferentRegion, |u| {
        u.region = Set(Some("Île-de-France".into()));
    })
    .await;
    user_row(db, "partner@test.example", Role::PartnerStaff, |u| {
        u.publisher_id = Set(Some(alpha))
    })
    .await;
    user_row(db, "analyst@test.example", Role::Analyst, |_| {}).await;
    user_row(db, "admin@test.example", Role::Admin, |_| {}).await;
    let actor = Actor::cli("test");
    let alpha_row = passerelle::publishers::by_name(db, "Alpha")
        .await
        .expect("alpha");
    let key = passerelle::auth::keys::create_for(db, &alpha_row, None, &actor)
        .await
        .expect("key");
    let revoked = passerelle::auth::keys::create_for(db, &alpha_row, Some("old".into()), &actor)
        .await
        .expect("key");
    passerelle::auth::keys::revoke(db, &revoked.prefix, &actor)
        .await
        .expect("revoke");
    use secrecy::ExposeSecret;
    World {
        ids,
        key: key.key.expose_secret().to_owned(),
        revoked_key: revoked.key.expose_secret().to_owned(),
    }
}

/// The viewers of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    Partner,
    PartnerStaff,
    Volunteer,
    Staff,
    Referent69,
    ReferentIdf,
    Analyst,
    Admin,
}

const EVERYONE: [Who; 9] = [
    Who::Anonymous,
    Who::Partner,
    Who::PartnerStaff,
    Who::Volunteer,
    Who::Staff,
    Who::Referent69,
    Who::ReferentIdf,
    Who::Analyst,
    Who::Admin,
];

fn credentials(w: &World, who: Who) -> As {
    match who {
        Who::Anonymous => As::Anonymous,
        Who::Partner => As::Key(w.key.clone()),
        Who::PartnerStaff => As::Token(token_for("partner@test.example")),
        Who::Volunteer => As::Token(token_for("volunteer@test.example")),
        Who::Staff => As::Token(token_for("staff@test.example")),
        Who::Referent69 => As::Token(token_for("referent69@test.example")),
        Who::ReferentIdf => As::Token(token_for("referentidf@test.example")),
        Who::Analyst => As::Token(token_for("analyst@test.example")),
        Who::Admin => As::Token(token_for("admin@test.example")),
    }
}

/// The codes of a response's errors, by the path they are at (`a.b.0.c`).
fn errors_by_path(body: &Value) -> BTreeMap<String, String> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let path = e["path"]
                .as_array()
                .map(|p| {
                    p.iter()
                        .map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(".")
                })
                .unwrap_or_default();
            (
                path,
                e["extensions"]["code"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn forbidden(paths: &[&str]) -> BTreeMap<String, String> {
    paths
        .iter()
        .map(|p| ((*p).to_owned(), "FORBIDDEN".to_owned()))
        .collect()
}

const ALL_STATUSES: &str =
    "[DRAFT, WAITING_VALIDATION, WAITING_CORRECTION, VALIDATED, REFUSED, CANCELLED, ARCHIVED]";

async fn start() -> (TestApp, World, TestDatabase) {
    let database = TestDatabase::create("access").await;
    let conn = database.connect_migrated().await;
    let w = world(&conn).await;
    let settings = Settings {
        analyst_min_count: 2,
        ..test_settings()
    };
    (TestApp::start(conn, settings).await, w, database)
}

#[tokio::test]
async fn every_viewer_reads_exactly_the_missions_of_its_scope() {
    let (app, w, database) = start().await;
    for who in EVERYONE {
        let me = credentials(&w, who);
        // Every status asked for: the list holds what the viewer may read, nothing else.
        let query = format!(
            "{{ missions(filter: {{ statuses: {ALL_STATUSES} }}, orderBy: {{ field: CREATED_AT, direction: ASC }}, first: 100) {{ totalCount nodes {{ id }} }} }}"
        );
        let data = app.data_as(&me, &query, json!({})).await;
        let mut got = w.names("M", &data["missions"]["nodes"]);
        got.sort_unstable();
        let expected: &[&str] = match who {
            Who::Anonymous | Who::Volunteer | Who::Analyst => &["M1", "M3", "M5", "M7"],
            // Its own in every status, and Beta's validated missions (its allowlist).
            Who::Partner | Who::PartnerStaff => &["M1", "M2", "M3"],
            Who::Staff => &["M1", "M2", "M3", "M5", "M7"],
            Who::Referent69 => &["M1", "M2", "M3", "M5", "M7"],
            Who::ReferentIdf => &["M1", "M3", "M4", "M5", "M7"],
            Who::Admin => &["M1", "M2", "M3", "M4", "M5", "M7"],
        };
        assert_eq!(got, expected, "{who:?}: missions in every status");
        assert_eq!(
            data["missions"]["totalCount"].as_u64(),
            Some(expected.len() as u64),
            "{who:?}: the count agrees with the list"
        );
        // Without statuses: validated missions only, within the scope.
        let data = app
            .data_as(&me, "{ missions(first: 100) { nodes { id } } }", json!({}))
            .await;
        let mut got = w.names("M", &data["missions"]["nodes"]);
        got.sort_unstable();
        let validated: &[&str] = match who {
            Who::Partner | Who::PartnerStaff => &["M1", "M3"],
            _ => &["M1", "M3", "M5", "M7"],
        };
        assert_eq!(got, validated, "{who:?}: validated missions");
        // A lookup of the refused mission M2, with its moderation comment.
        let body = app
            .gql_as(
                &me,
                "query($id: ID!) { mission(id: $id) { id status statusComment } }",
                json!({ "id": w.id("M2").to_string() }),
            )
            .await;
        let may = matches!(
            who,
            Who::Partner | Who::PartnerStaff | Who::Staff | Who::Referent69 | Who::Admin
        );
        if may {
            assert_eq!(
                body["data"]["mission"]["statusComment"], "moderation note of M2",
                "{who:?}"
            );
            assert!(body.get("errors").is_none(), "{who:?}: {body}");
        } else {
            assert_eq!(error_code(&body), "NOT_FOUND", "{who:?}: no oracle: {body}");
            assert!(body["data"]["mission"].is_null());
        }
        // The public mission M5 (Gamma's): everyone but Alpha's partner sees it; its comment is
        // for those who manage it only (Gamma has none here but the referent of 69 and admins).
        let body = app
            .gql_as(
                &me,
                "query($id: ID!) { mission(id: $id) { id title statusComment } }",
                json!({ "id": w.id("M5").to_string() }),
            )
            .await;
        match who {
            Who::Partner | Who::PartnerStaff => {
                assert_eq!(
                    error_code(&body),
                    "NOT_FOUND",
                    "{who:?}: outside its diffusion"
                );
            }
            Who::Referent69 | Who::Admin => {
                assert_eq!(
                    body["data"]["mission"]["statusComment"],
                    "moderation note of M5"
                );
                assert!(body.get("errors").is_none(), "{who:?}: {body}");
            }
            _ => {
                assert_eq!(body["data"]["mission"]["title"], "Mission M5", "{who:?}");
                assert!(body["data"]["mission"]["statusComment"].is_null());
                assert_eq!(
                    errors_by_path(&body),
                    forbidden(&["mission.statusComment"]),
                    "{who:?}: the rest of the response stays"
                );
            }
        }
        // A deleted mission is read by nobody.
        let body = app
            .gql_as(
                &me,
                "query($id: ID!) { mission(id: $id) { id } }",
                json!({ "id": w.id("M6").to_string() }),
            )
            .await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{who:?}");
    }
    app.stop().await;
    database.drop_database().await;
}

/// Every viewer in turn, from the administrator (who needs no guard) to the anonymous caller,
/// then back: a document's check of whether its viewer needs the per-field guard is kept with
/// its parse, per kind of viewer, so the documents an administrator sent first are still
/// guarded for the others.
#[tokio::test]
async fn volunteers_and_applications_are_read_only_within_the_scope_and_field_by_field() {
    let (app, w, database) = start().await;
    const FIELDS: &str = "id firstName lastName email phone birthdate departmentCode cohort phase2HoursDone consentData";
    for who in EVERYONE.into_iter().rev().chain(EVERYONE) {
        let me = credentials(&w, who);
        // The list.
        let body = app
            .gql_as(
                &me,
                &format!("{{ volunteers {{ totalCount nodes {{ {FIELDS} }} }} }}"),
                json!({}),
            )
            .await;
        let expected: Option<&[&str]> = match who {
            Who::Anonymous | Who::Partner | Who::PartnerStaff | Who::Analyst => None,
            Who::Volunteer => Some(&["V1"]),
            Who::Staff => Some(&["V1", "V3"]),
            Who::Referent69 => Some(&["V1"]),
            Who::ReferentIdf => Some(&["V2"]),
            Who::Admin => Some(&["V1", "V2", "V3"]),
        };
        match expected {
            None => {
                assert!(body["data"]["volunteers"].is_null(), "{who:?}: {body}");
                assert_eq!(errors_by_path(&body), forbidden(&["volunteers"]), "{who:?}");
            }
            Some(ids) => {
                let nodes = &body["data"]["volunteers"]["nodes"];
                assert_eq!(w.names("V", nodes), ids, "{who:?}");
                assert_eq!(
                    body["data"]["volunteers"]["totalCount"].as_u64(),
                    Some(ids.len() as u64)
                );
                for n in nodes.as_array().expect("nodes") {
                    // Contact fields for everyone who reaches a volunteer.
                    assert!(
                        n["email"]
                            .as_str()
                            .is_some_and(|e| e.ends_with("@jeunes.example"))
                    );
                    assert!(n["firstName"].is_string() && n["phone"].is_string());
                    // The rest of the profile: not for structure staff.
                    if who == Who::Staff {
                        for f in [
                            "birthdate",
                            "departmentCode",
                            "cohort",
                            "phase2HoursDone",
                            "consentData",
                        ] {
                            assert!(n[f].is_null(), "{who:?}: {f}");
                        }
                    } else {
                        assert_eq!(n["cohort"], "2026 Juin", "{who:?}");
                        assert_eq!(n["birthdate"], "2009-05-01", "{who:?}");
                    }
                }
                let errors = errors_by_path(&body);
                if who == Who::Staff {
                    let expected: BTreeMap<String, String> = (0..ids.len())
                        .flat_map(|i| {
                            [
                                "birthdate",
                                "departmentCode",
                                "cohort",
                                "phase2HoursDone",
                                "consentData",
                            ]
                            .map(|f| (format!("volunteers.nodes.{i}.{f}"), "FORBIDDEN".to_owned()))
                        })
                        .collect();
                    assert_eq!(errors, expected, "{who:?}: one error per field and row");
                } else {
                    assert!(errors.is_empty(), "{who:?}: {body}");
                }
            }
        }
        // Lookups of each volunteer, with aliases: in scope, or not found (or forbidden).
        let body = app
            .gql_as(
                &me,
                "query($a: ID!, $b: ID!, $c: ID!) {
                    a: volunteer(id: $a) { i: id mail: email }
                    b: volunteer(id: $b) { i: id mail: email }
                    c: volunteer(id: $c) { i: id mail: email } }",
                json!({ "a": w.id("V1").to_string(), "b": w.id("V2").to_string(), "c": w.id("V3").to_string() }),
            )
            .await;
        let reached: &[&str] = expected.unwrap_or(&[]);
        let errors = errors_by_path(&body);
        for (alias, v) in [("a", "V1"), ("b", "V2"), ("c", "V3")] {
            let got = &body["data"][alias];
            if reached.contains(&v) {
                assert_eq!(w.name_of("V", &got["i"]), v, "{who:?}");
                assert!(got["mail"].is_string(), "{who:?}");
            } else {
                assert!(got.is_null(), "{who:?}: {alias}");
                let code = if expected.is_none() {
                    "FORBIDDEN"
                } else {
                    "NOT_FOUND"
                };
                assert_eq!(
                    errors.get(alias).map(String::as_str),
                    Some(code),
                    "{who:?}: {alias}"
                );
            }
        }
        // Applications, directly.
        let body = app
            .gql_as(
                &me,
                "{ applications { totalCount nodes { id mission { id } volunteer { id } } } }",
                json!({}),
            )
            .await;
        let apps: Option<&[&str]> = match who {
            Who::Anonymous | Who::Partner | Who::PartnerStaff | Who::Analyst => None,
            Who::Volunteer => Some(&["A1"]),
            Who::Staff => Some(&["A1", "A3"]),
            Who::Referent69 => Some(&["A1"]),
            Who::ReferentIdf => Some(&["A2", "A4"]),
            Who::Admin => Some(&["A1", "A2", "A3", "A4"]),
        };
        match apps {
            None => assert_eq!(
                errors_by_path(&body),
                forbidden(&["applications"]),
                "{who:?}"
            ),
            Some(ids) => {
                assert_eq!(
                    w.names("A", &body["data"]["applications"]["nodes"]),
                    ids,
                    "{who:?}"
                );
                assert_eq!(
                    body["data"]["applications"]["totalCount"].as_u64(),
                    Some(ids.len() as u64)
                );
                for a in body["data"]["applications"]["nodes"]
                    .as_array()
                    .expect("nodes")
                {
                    assert!(
                        !a["volunteer"].is_null(),
                        "{who:?}: the applicant of a readable application"
                    );
                }
            }
        }
    }
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn nested_paths_fragments_and_entities_reach_no_more_than_the_lists() {
    let (app, w, database) = start().await;
    // mission → applications → volunteer, through inline fragments and a named fragment.
    let nested = format!(
        "query {{ missions(filter: {{ statuses: {ALL_STATUSES} }}, orderBy: {{ field: CREATED_AT, direction: ASC }}) {{
            nodes {{ id ... on Mission {{ applications {{ nodes {{ id volunteer {{ ...Person }} }} }} }} }} }} }}
         fragment Person on Volunteer {{ id email ... on Volunteer {{ birthdate }} }}"
    );
    for who in EVERYONE {
        let me = credentials(&w, who);
        let body = app.gql_as(&me, &nested, json!({})).await;
        let nodes = body["data"]["missions"]["nodes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut seen: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for n in &nodes {
            let m = w.name_of("M", &n["id"]);
            let list = seen.entry(m).or_default();
            for a in n["applications"]["nodes"].as_array().into_iter().flatten() {
                list.push(w.name_of("A", &a["id"]));
                let v = &a["volunteer"];
                assert!(v["email"].is_string(), "{who:?}: the applicant's contact");
                assert_eq!(v["birthdate"].is_null(), who == Who::Staff, "{who:?}: {v}");
            }
        }
        let reach_volunteers = !matches!(
            who,
            Who::Anonymous | Who::Partner | Who::PartnerStaff | Who::Analyst
        );
        if !reach_volunteers {
            // Every mission is there; its applications are forbidden, each on its own.
            let expected: BTreeMap<String, String> = (0..nodes.len())
                .map(|i| {
                    (
                        format!("missions.nodes.{i}.applications"),
                        "FORBIDDEN".to_owned(),
                    )
                })
                .collect();
            assert_eq!(errors_by_path(&body), expected, "{who:?}");
            assert!(seen.values().all(Vec::is_empty), "{who:?}");
            continue;
        }
        let apps_of = |m: &str| seen.get(m).cloned().unwrap_or_default();
        let expected: &[(&str, &[&str])] = match who {
            Who::Volunteer => &[("M1", &["A1"]), ("M3", &[]), ("M5", &[])],
            Who::Staff => &[("M1", &["A1", "A3"]), ("M3", &[]), ("M5", &[])],
            Who::Referent69 => &[("M1", &["A1"]), ("M3", &[]), ("M5", &[])],
            Who::ReferentIdf => &[("M1", &[]), ("M3", &["A2"]), ("M5", &["A4"])],
            _ => &[("M1", &["A1", "A3"]), ("M3", &["A2"]), ("M5", &["A4"])],
        };
        for (m, apps) in expected {
            assert_eq!(apps_of(m), *apps, "{who:?}: applications to {m}");
        }
        let expected_errors: usize = if who == Who::Staff {
            seen.values().map(Vec::len).sum()
        } else {
            0
        };
        assert_eq!(
            errors_by_path(&body).len(),
            expected_errors,
            "{who:?}: {body}"
        );
    }

    // Federation: `_entities` resolves volunteers and missions through the same scope.
    let reps = json!([
        { "__typename": "Volunteer", "id": w.id("V1").to_string() },
        { "__typename": "Volunteer", "id": w.id("V2").to_string() },
        { "__typename": "Volunteer", "id": w.id("V3").to_string() },
        { "__typename": "Mission", "id": w.id("M2").to_string() },
        { "__typename": "Mission", "id": w.id("M3").to_string() },
        { "__typename": "Mission", "id": w.id("M6").to_string() },
    ]);
    for who in EVERYONE {
        let me = credentials(&w, who);
        let body = app
            .gql_as(
                &me,
                "query($r: [_Any!]!) { _entities(representations: $r) {
                    ... on Volunteer { id email } ... on Mission { id } } }",
                json!({ "r": reps }),
            )
            .await;
        assert!(body.get("errors").is_none(), "{who:?}: {body}");
        let got: Vec<&str> = body["data"]["_entities"]
            .as_array()
            .expect("entities")
            .iter()
            .filter(|e| !e.is_null())
            .map(|e| {
                let name = w.name_of("V", &e["id"]);
                if e["email"].is_string() {
                    name
                } else {
                    w.name_of("M", &e["id"])
                }
            })
            .collect();
        let expected: &[&str] = match who {
            Who::Anonymous | Who::Analyst => &["M3"],
            Who::Partner | Who::PartnerStaff => &["M2", "M3"],
            Who::Volunteer => &["V1", "M3"],
            Who::Staff => &["V1", "V3", "M2", "M3"],
            Who::Referent69 => &["V1", "M2", "M3"],
            Who::ReferentIdf => &["V2", "M3"],
            Who::Admin => &["V1", "V2", "V3", "M2", "M3"],
        };
        assert_eq!(got, expected, "{who:?}");
    }
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn import_runs_keys_and_feed_settings_are_the_publishers_own() {
    let (app, w, database) = start().await;
    for who in EVERYONE {
        let me = credentials(&w, who);
        let body = app
            .gql_as(
                &me,
                "{ publishers { name lastImport { id } apiKeys { prefix label revokedAt } diffusionRules { field operator value } feed { url user hasPassword } } }",
                json!({}),
            )
            .await;
        let publishers = body["data"]["publishers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(publishers.len(), 3, "{who:?}: publishers are public");
        let errors = errors_by_path(&body);
        let partner_or_admin = matches!(who, Who::Partner | Who::PartnerStaff | Who::Admin);
        for (i, p) in publishers.iter().enumerate() {
            let name = p["name"].as_str().unwrap_or_default();
            let own = name == "Alpha" && matches!(who, Who::Partner | Who::PartnerStaff);
            let readable = own || who == Who::Admin;
            for field in ["lastImport", "apiKeys", "diffusionRules"] {
                let path = format!("publishers.{i}.{field}");
                if partner_or_admin {
                    assert!(!errors.contains_key(&path), "{who:?}: {path}");
                    // Gamma never imported a feed.
                    let exists = !(field == "lastImport" && name == "Gamma");
                    assert_eq!(
                        !p[field].is_null(),
                        readable && exists,
                        "{who:?}: {path}: {p}"
                    );
                } else {
                    assert_eq!(
                        errors.get(&path).map(String::as_str),
                        Some("FORBIDDEN"),
                        "{who:?}: {path}"
                    );
                }
            }
            let feed = format!("publishers.{i}.feed");
            if who == Who::Admin {
                let url = p["feed"]["url"].as_str().unwrap_or_default();
                assert!(!url.contains("secret") && !url.contains("token"), "{url}");
                assert_eq!(p["feed"]["hasPassword"], true);
            } else {
                assert_eq!(
                    errors.get(&feed).map(String::as_str),
                    Some("FORBIDDEN"),
                    "{who:?}"
                );
            }
            if own {
                let keys = p["apiKeys"].as_array().expect("keys");
                assert_eq!(keys.len(), 2, "the live key and the revoked one");
                assert!(
                    keys.iter()
                        .any(|k| k["label"] == "old" && k["revokedAt"].is_string())
                );
                assert_eq!(p["diffusionRules"][0]["field"], "ANNONCEUR");
                assert_eq!(w.name_of("R", &p["lastImport"]["id"]), "RAlpha");
            }
        }
        // The runs of a publisher.
        for (publisher, run) in [("PAlpha", "RAlpha"), ("PBeta", "RBeta")] {
            let body = app
                .gql_as(
                    &me,
                    "query($p: ID!) { importRuns(publisherId: $p) { totalCount nodes { id } } }",
                    json!({ "p": w.id(publisher).to_string() }),
                )
                .await;
            if !partner_or_admin {
                assert_eq!(errors_by_path(&body), forbidden(&["importRuns"]), "{who:?}");
                continue;
            }
            let expected: Vec<&str> = if who == Who::Admin || publisher == "PAlpha" {
                vec![run]
            } else {
                vec![]
            };
            assert_eq!(
                w.names("R", &body["data"]["importRuns"]["nodes"]),
                expected,
                "{who:?}: {publisher}"
            );
            assert_eq!(
                body["data"]["importRuns"]["totalCount"].as_u64(),
                Some(expected.len() as u64)
            );
        }
    }
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn analysts_read_counts_only_and_small_counts_are_left_out() {
    let (app, w, database) = start().await;
    const STATS: &str = "{ volunteerStats { count minimumCount byDepartment { value count } byCohort { value count } }
                           applicationStats { count byStatus { value count } byMissionDomain { value count } } }";
    for who in EVERYONE {
        let body = app.gql_as(&credentials(&w, who), STATS, json!({})).await;
        match who {
            Who::Analyst => {
                assert!(body.get("errors").is_none(), "{body}");
                let v = &body["data"]["volunteerStats"];
                // 3 volunteers, one per department: every department's count is under the
                // minimum of 2 set for this server, so none is shown.
                assert_eq!(v["count"], 3);
                assert_eq!(v["minimumCount"], 2);
                assert_eq!(v["byDepartment"], json!([]));
                assert_eq!(v["byCohort"], json!([{ "value": "2026 Juin", "count": 3 }]));
                let a = &body["data"]["applicationStats"];
                assert_eq!(a["count"], 4);
                assert_eq!(
                    a["byStatus"],
                    json!([{ "value": "WAITING_VALIDATION", "count": 4 }])
                );
                assert_eq!(
                    a["byMissionDomain"],
                    json!([{ "value": "SPORT", "count": 4 }])
                );
            }
            Who::Admin => {
                let v = &body["data"]["volunteerStats"];
                assert_eq!(v["minimumCount"], 1);
                assert_eq!(v["byDepartment"].as_array().map(Vec::len), Some(3));
            }
            Who::Referent69 => {
                assert_eq!(
                    body["data"]["volunteerStats"]["count"], 1,
                    "their territory only"
                );
                assert_eq!(body["data"]["applicationStats"]["count"], 1);
            }
            Who::ReferentIdf => {
                assert_eq!(body["data"]["volunteerStats"]["count"], 1);
                assert_eq!(body["data"]["applicationStats"]["count"], 2);
            }
            _ => assert_eq!(
                errors_by_path(&body),
                forbidden(&["volunteerStats", "applicationStats"]),
                "{who:?}"
            ),
        }
    }
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn a_revoked_key_and_an_expired_token_are_refused_before_any_query() {
    let (app, w, database) = start().await;
    let expired = passerelle::auth::tokens::mint_for(
        &crate::helpers::TEST_JWT_SECRET.to_owned().into(),
        "passerelle",
        "passerelle",
        "admin@test.example",
        None,
        -3600,
    )
    .expect("token");
    for (who, reason, challenge) in [
        (As::Key(w.revoked_key.clone()), "KEY_REVOKED", "ApiKey"),
        (As::Token(expired), "TOKEN_EXPIRED", "Bearer"),
    ] {
        for query in [
            "{ publishers { name } }",
            "{ volunteers { nodes { email } } }",
        ] {
            let (status, headers, body) = app.raw_as(&who, query).await;
            assert_eq!(status, 401, "{body}");
            assert_eq!(error_code(&body), "UNAUTHENTICATED");
            assert_eq!(body["errors"][0]["extensions"]["reason"], reason);
            assert!(body.get("data").is_none(), "nothing ran: {body}");
            let www = headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            assert!(www.starts_with(challenge), "{www}");
        }
    }
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn the_viewer_query_says_who_the_credentials_name() {
    let (app, w, database) = start().await;
    for (who, kind, role) in [
        (Who::Anonymous, "ANONYMOUS", Value::Null),
        (Who::Partner, "PARTNER", Value::Null),
        (Who::PartnerStaff, "PARTNER", json!("PARTNER_STAFF")),
        (Who::Staff, "STRUCTURE_STAFF", json!("STRUCTURE_STAFF")),
        (
            Who::ReferentIdf,
            "REFERENT_REGION",
            json!("REFERENT_REGION"),
        ),
        (Who::Admin, "ADMIN", json!("ADMIN")),
    ] {
        let data = app
            .data_as(
                &credentials(&w, who),
                "{ viewer { kind role email apiKeyPrefix region publisher { name } organization { name } } }",
                json!({}),
            )
            .await;
        let v = &data["viewer"];
        assert_eq!((&v["kind"], &v["role"]), (&json!(kind), &role), "{who:?}");
        match who {
            Who::Partner => {
                assert!(
                    v["apiKeyPrefix"]
                        .as_str()
                        .is_some_and(|p| p.starts_with("pk_"))
                );
                assert_eq!(v["publisher"]["name"], "Alpha");
            }
            Who::PartnerStaff => assert_eq!(v["publisher"]["name"], "Alpha"),
            Who::Staff => assert_eq!(v["organization"]["name"], "OAlpha"),
            Who::ReferentIdf => assert_eq!(v["region"], "Île-de-France"),
            _ => {}
        }
    }
    app.stop().await;
    database.drop_database().await;
}
