//! The write side of missions over HTTP: structures create, edit, submit, cancel, archive and
//! duplicate; referents moderate with the help of the automatic rules; every move follows the
//! lifecycle table and leaves a history event written in the same transaction.
use passerelle::config::Settings;
use passerelle_entities::{
    Domain, MissionStatus, MissionType, mission, mission_address, mission_event,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use serde_json::{Value, json};

use crate::access::{World, mission_row, world};
use crate::helpers::{As, TestApp, TestDatabase, codes, error_code, mutate, test_settings};

const STAFF: &str = "staff@test.example";
const REFERENT: &str = "referent69@test.example";
const REFERENT_IDF: &str = "referentidf@test.example";
const ADMIN: &str = "admin@test.example";

/// A description long enough for the moderation rules (300 characters and more).
fn long_description() -> String {
    "Accompagner des collégiens dans leurs devoirs deux fois par semaine, à la médiathèque du quartier. "
        .repeat(4)
}

const MISSION_FIELDS: &str = "id version status statusComment title applicationUrl
    history { actor action fromStatus toStatus comment }";

async fn start(
    label: &str,
    settings: Settings,
) -> (TestApp, World, TestDatabase, DatabaseConnection) {
    let database = TestDatabase::create(label).await;
    let conn = database.connect_migrated().await;
    let w = world(&conn).await;
    let app = TestApp::start(conn.clone(), settings).await;
    (app, w, database, conn)
}

async fn act(app: &TestApp, who: &As, mutation: &str, id: &str, extra: Value) -> Value {
    let mut input = json!({ "id": id });
    if let (Some(i), Some(e)) = (input.as_object_mut(), extra.as_object()) {
        i.extend(e.clone());
    }
    mutate(
        app,
        who,
        &format!(
            "mutation($input: {}Input!) {{ {mutation}(input: $input) {{ mission {{ {MISSION_FIELDS} }} userErrors {{ field code message }} }} }}",
            input_type(mutation)
        ),
        json!({ "input": input }),
    )
    .await
}

fn input_type(mutation: &str) -> &'static str {
    match mutation {
        "moderateMission" => "ModerateMission",
        "updateMission" => "UpdateMission",
        _ => "MissionAction",
    }
}

#[tokio::test]
async fn a_structure_takes_its_mission_from_draft_to_validated_and_the_history_tells_it() {
    let (app, _w, database, _) = start("writes-lifecycle", test_settings()).await;
    let staff = As::user(STAFF);
    let referent = As::user(REFERENT);

    // A draft may be incomplete: no application URL yet.
    let created = mutate(
        &app,
        &staff,
        &format!("mutation($input: CreateMissionInput!) {{ createMission(input: $input) {{ mission {{ {MISSION_FIELDS} }} userErrors {{ field code message }} }} }}"),
        json!({ "input": {
            "title": "Aide aux devoirs",
            "description": long_description(),
            "domain": "EDUCATION",
            "type": "BENEVOLAT",
            "places": 4,
            "addresses": [{ "street": "3 rue de la Paix", "postalCode": "69001", "city": "Lyon" }],
        } }),
    )
    .await;
    assert_eq!(codes(&created), Vec::<String>::new(), "{created}");
    let m = &created["mission"];
    assert_eq!(
        (m["status"].as_str(), m["version"].as_i64()),
        (Some("DRAFT"), Some(1))
    );
    let id = m["id"].as_str().expect("id").to_owned();
    let body = app
        .gql(&format!("{{ mission(id: \"{id}\") {{ id }} }}"), json!({}))
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND", "a draft is not public");

    // Submitting needs every rule of the import: the missing URL is named, with its code.
    let refused = act(&app, &staff, "submitMission", &id, json!({})).await;
    assert_eq!(codes(&refused), ["MISSING_APPLICATION_URL"]);
    assert_eq!(refused["userErrors"][0]["field"], "input.applicationUrl");
    assert_eq!(refused["mission"]["status"], "DRAFT");

    let update = |version: i64| json!({ "version": version, "applicationUrl": "https://example.org/aide", "endAt": "2027-06-30T00:00:00Z" });
    let updated = act(&app, &staff, "updateMission", &id, update(1)).await;
    assert_eq!(codes(&updated), Vec::<String>::new(), "{updated}");
    assert_eq!(updated["mission"]["version"], 2);
    // The same change based on the version read before: a conflict, nothing written.
    let stale = act(
        &app,
        &staff,
        "updateMission",
        &id,
        json!({ "version": 1, "title": "Autre titre" }),
    )
    .await;
    assert_eq!(codes(&stale), ["CONFLICT"]);
    assert_eq!(stale["mission"]["title"], "Aide aux devoirs");
    assert_eq!(stale["mission"]["version"], 2);

    let submitted = act(&app, &staff, "submitMission", &id, json!({ "version": 2 })).await;
    assert_eq!(
        submitted["mission"]["status"], "WAITING_VALIDATION",
        "{submitted}"
    );

    // The referent of the Rhône finds it in the queue, with a proposal; the referent of
    // Île-de-France does not even see it.
    let queue = app
        .data_as(
            &referent,
            "{ moderationQueue { totalCount nodes { id moderationProposal { decision reasons { rule } } } } }",
            json!({}),
        )
        .await;
    let nodes = queue["moderationQueue"]["nodes"].as_array().expect("nodes");
    let ours = nodes
        .iter()
        .find(|n| n["id"] == id.as_str())
        .expect("in the queue");
    assert_eq!(ours["moderationProposal"]["decision"], "VALIDATE", "{ours}");
    let body = app
        .gql_as(
            &As::user(REFERENT_IDF),
            "mutation($i: ModerateMissionInput!) { moderateMission(input: $i) { userErrors { code } } }",
            json!({ "i": { "id": id, "decision": "VALIDATE" } }),
        )
        .await;
    assert_eq!(
        error_code(&body),
        "NOT_FOUND",
        "outside the referent's territory"
    );

    let no_comment = act(
        &app,
        &referent,
        "moderateMission",
        &id,
        json!({ "decision": "REQUEST_CORRECTION" }),
    )
    .await;
    assert_eq!(codes(&no_comment), ["COMMENT_REQUIRED"]);
    let correction = act(
        &app,
        &referent,
        "moderateMission",
        &id,
        json!({ "decision": "REQUEST_CORRECTION", "comment": "Précisez les horaires." }),
    )
    .await;
    assert_eq!(correction["mission"]["status"], "WAITING_CORRECTION");
    let seen = app
        .data_as(
            &staff,
            &format!("{{ mission(id: \"{id}\") {{ statusComment }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(seen["mission"]["statusComment"], "Précisez les horaires.");

    let again = act(&app, &staff, "submitMission", &id, json!({})).await;
    assert_eq!(again["mission"]["status"], "WAITING_VALIDATION");
    let validated = act(
        &app,
        &referent,
        "moderateMission",
        &id,
        json!({ "decision": "VALIDATE" }),
    )
    .await;
    assert_eq!(validated["mission"]["status"], "VALIDATED", "{validated}");
    assert!(
        validated["mission"]["statusComment"].is_null(),
        "the correction request is done"
    );
    let public = app
        .data(
            &format!("{{ mission(id: \"{id}\") {{ title status }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(public["mission"]["status"], "VALIDATED");

    let history: Vec<(String, String, String, String)> = validated["mission"]["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|e| {
            let s = |v: &Value| v.as_str().unwrap_or("-").to_owned();
            (
                s(&e["action"]),
                s(&e["fromStatus"]),
                s(&e["toStatus"]),
                s(&e["actor"]),
            )
        })
        .collect();
    let staff_actor = history[0].3.clone();
    assert!(staff_actor.contains(STAFF), "{staff_actor}");
    let referent_actor = history[3].3.clone();
    assert!(referent_actor.contains(REFERENT), "{referent_actor}");
    let row = |a: &str, f: &str, t: &str, who: &str| {
        (a.to_owned(), f.to_owned(), t.to_owned(), who.to_owned())
    };
    assert_eq!(
        history,
        [
            row("CREATED", "-", "DRAFT", &staff_actor),
            row("UPDATED", "DRAFT", "DRAFT", &staff_actor),
            row("SUBMIT", "DRAFT", "WAITING_VALIDATION", &staff_actor),
            row(
                "REQUEST_CORRECTION",
                "WAITING_VALIDATION",
                "WAITING_CORRECTION",
                &referent_actor
            ),
            row(
                "SUBMIT",
                "WAITING_CORRECTION",
                "WAITING_VALIDATION",
                &staff_actor
            ),
            row(
                "VALIDATE",
                "WAITING_VALIDATION",
                "VALIDATED",
                &referent_actor
            ),
        ]
    );
    assert_eq!(
        validated["mission"]["history"][3]["comment"],
        "Précisez les horaires."
    );
    let body = app
        .gql(
            &format!("{{ mission(id: \"{id}\") {{ history {{ action }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(
        error_code(&body),
        "FORBIDDEN",
        "the history is the managers' only"
    );

    // A copy starts over as a draft; the original goes on to its end.
    let copy = act(&app, &staff, "duplicateMission", &id, json!({})).await;
    assert_eq!(copy["mission"]["status"], "DRAFT");
    assert_eq!(copy["mission"]["title"], "Aide aux devoirs");
    assert_ne!(copy["mission"]["id"], id.as_str());
    assert_eq!(copy["mission"]["history"][0]["action"], "DUPLICATED");
    assert_eq!(
        copy["mission"]["history"][0]["comment"],
        format!("copy of mission {id}")
    );
    let cancelled = act(
        &app,
        &staff,
        "cancelMission",
        &id,
        json!({ "comment": "Plus de bénévoles nécessaires." }),
    )
    .await;
    assert_eq!(cancelled["mission"]["status"], "CANCELLED");
    let archived = act(&app, &staff, "archiveMission", &id, json!({})).await;
    assert_eq!(codes(&archived), ["ILLEGAL_TRANSITION"]);
    assert_eq!(archived["mission"]["status"], "CANCELLED");
    let edit = act(
        &app,
        &staff,
        "updateMission",
        &id,
        json!({ "version": cancelled["mission"]["version"], "title": "x" }),
    )
    .await;
    assert_eq!(codes(&edit), ["MISSION_NOT_EDITABLE"]);
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn missions_written_in_passerelle_are_no_partners_to_import_push_or_read() {
    let (app, w, database, conn) = start("writes-ownership", test_settings()).await;
    let created = mutate(
        &app,
        &As::user(STAFF),
        "mutation($i: CreateMissionInput!) { createMission(input: $i) { mission { id clientId publisher { name } } userErrors { code } } }",
        json!({ "i": { "title": "Brouillon de la structure" } }),
    )
    .await;
    let id = created["mission"]["id"].as_str().expect("id").to_owned();
    assert_eq!(created["mission"]["publisher"]["name"], "Passerelle");
    // OAlpha's partner imports a feed that does not hold it: nothing of it is deleted.
    let feed = "<source><mission><clientId>alpha-feed-1</clientId><title>Du flux</title><description>Une mission.</description><applicationUrl>https://e.org/1</applicationUrl></mission></source>";
    let report = passerelle_ingest::import::import_feed(
        &conn,
        w.id("PAlpha"),
        std::io::Cursor::new(feed.as_bytes().to_vec()),
        Default::default(),
    )
    .await
    .expect("import");
    assert!(
        report.deleted > 0,
        "the feed did delete Alpha's own missions"
    );
    let still = app
        .data_as(
            &As::user(STAFF),
            &format!("{{ mission(id: \"{id}\") {{ status }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(still["mission"]["status"], "DRAFT");
    // Nor does Alpha read the draft, or reach it by its client id.
    let body = app
        .gql_as(
            &As::Key(w.key.clone()),
            &format!("{{ mission(id: \"{id}\") {{ id }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let client_id = created["mission"]["clientId"].as_str().expect("client id");
    let deleted = app
        .data_as(
            &As::Key(w.key.clone()),
            "mutation($i: DeleteMissionsInput!) { deleteMissions(input: $i) { results { result } } }",
            json!({ "i": { "clientIds": [client_id] } }),
        )
        .await;
    assert_eq!(
        deleted["deleteMissions"]["results"][0]["result"],
        "NOT_FOUND"
    );
    app.stop().await;
    database.drop_database().await;
}

/// Coordinates are stored as sent, to the last bit: the JSON of a request is read with
/// correctly rounded numbers (serde_json's `float_roundtrip`); the default, faster reading
/// turns `48.829944949741844` into the double one unit in the last place below it.
#[tokio::test]
async fn coordinates_sent_are_stored_to_the_last_bit() {
    let (app, _w, database, conn) = start("writes-coordinates", test_settings()).await;
    let (lat, lon) = (48.829_944_949_741_844_f64, 2.326_151_212_345_678_f64);
    let created = mutate(
        &app,
        &As::user(STAFF),
        "mutation($input: CreateMissionInput!) { createMission(input: $input) { mission { id } userErrors { code } } }",
        json!({ "input": {
            "title": "Relevé des nichoirs",
            "description": long_description(),
            "domain": "ENVIRONNEMENT",
            "type": "BENEVOLAT",
            "places": 2,
            "addresses": [{ "postalCode": "75014", "city": "Paris", "lat": lat, "lon": lon }],
        } }),
    )
    .await;
    assert_eq!(codes(&created), Vec::<String>::new(), "{created}");
    let id: i64 = created["mission"]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("an id");
    let stored = mission_address::Entity::find()
        .filter(mission_address::Column::MissionId.eq(id))
        .one(&conn)
        .await
        .expect("read")
        .expect("an address");
    assert_eq!(
        (stored.lat.map(f64::to_bits), stored.lon.map(f64::to_bits)),
        (Some(lat.to_bits()), Some(lon.to_bits()))
    );
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn every_state_refuses_an_illegal_move_and_allows_its_legal_ones() {
    let (app, w, database, conn) = start("writes-transitions", test_settings()).await;
    let (alpha, oa) = (w.id("PAlpha"), w.id("OAlpha"));
    let staff = As::user(STAFF);
    let referent = As::user(REFERENT);
    let admin = As::user(ADMIN);
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let row = |status| {
        let conn = conn.clone();
        let name = format!(
            "T{}",
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        async move {
            mission_row(
                &conn,
                alpha,
                oa,
                &name,
                status,
                "69",
                MissionType::Benevolat,
                Domain::Sport,
                false,
            )
            .await
            .to_string()
        }
    };
    use MissionStatus::*;
    // (status, who, mutation, extra, expected code or status)
    let cases: Vec<(MissionStatus, &As, &str, Value, &str)> = vec![
        (
            Draft,
            &staff,
            "cancelMission",
            json!({}),
            "ILLEGAL_TRANSITION",
        ),
        (
            Draft,
            &referent,
            "moderateMission",
            json!({ "decision": "VALIDATE" }),
            "ILLEGAL_TRANSITION",
        ),
        (
            WaitingValidation,
            &staff,
            "submitMission",
            json!({}),
            "ILLEGAL_TRANSITION",
        ),
        (
            WaitingCorrection,
            &referent,
            "moderateMission",
            json!({ "decision": "VALIDATE" }),
            "ILLEGAL_TRANSITION",
        ),
        (
            Validated,
            &staff,
            "submitMission",
            json!({}),
            "ILLEGAL_TRANSITION",
        ),
        (
            Refused,
            &staff,
            "submitMission",
            json!({}),
            "ILLEGAL_TRANSITION",
        ),
        (
            Cancelled,
            &staff,
            "archiveMission",
            json!({}),
            "ILLEGAL_TRANSITION",
        ),
        (
            Archived,
            &admin,
            "cancelMission",
            json!({}),
            "ILLEGAL_TRANSITION",
        ),
        // Every legal move, by those who may make it.
        (
            WaitingCorrection,
            &staff,
            "submitMission",
            json!({}),
            "WAITING_VALIDATION",
        ),
        (
            WaitingValidation,
            &referent,
            "moderateMission",
            json!({ "decision": "VALIDATE" }),
            "VALIDATED",
        ),
        (
            WaitingValidation,
            &admin,
            "moderateMission",
            json!({ "decision": "REQUEST_CORRECTION", "comment": "Ajoutez une adresse." }),
            "WAITING_CORRECTION",
        ),
        (
            WaitingValidation,
            &referent,
            "moderateMission",
            json!({ "decision": "REFUSE", "comment": "Hors champ." }),
            "REFUSED",
        ),
        (
            Validated,
            &referent,
            "cancelMission",
            json!({}),
            "CANCELLED",
        ),
        (Validated, &staff, "archiveMission", json!({}), "ARCHIVED"),
    ];
    for (status, who, mutation, extra, expected) in cases {
        let id = row(status).await;
        let payload = act(&app, who, mutation, &id, extra).await;
        if expected.contains("TRANSITION") {
            assert_eq!(
                codes(&payload),
                [expected],
                "{status} {mutation}: {payload}"
            );
            assert_eq!(payload["mission"]["status"], status.as_str(), "unchanged");
            let message = payload["userErrors"][0]["message"]
                .as_str()
                .unwrap_or_default();
            assert!(message.contains(status.as_str()), "{message}");
        } else {
            assert_eq!(
                codes(&payload),
                Vec::<String>::new(),
                "{status} {mutation}: {payload}"
            );
            assert_eq!(
                payload["mission"]["status"], expected,
                "{status} {mutation}"
            );
        }
    }
    // The draft → waiting move needs a complete mission (the row is one).
    let id = row(Draft).await;
    let submitted = act(&app, &staff, "submitMission", &id, json!({})).await;
    assert_eq!(
        submitted["mission"]["status"], "WAITING_VALIDATION",
        "{submitted}"
    );
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn nobody_changes_missions_that_are_not_theirs() {
    let (app, w, database, _) = start("writes-scope", test_settings()).await;
    let staff = As::user(STAFF);
    // Beta's validated mission is public but not Alpha's structure's; its waiting one is not
    // even visible.
    let public = w.id("M3").to_string();
    let hidden = w.id("M4").to_string();
    let edit =
        "mutation($i: UpdateMissionInput!) { updateMission(input: $i) { userErrors { code } } }";
    let body = app
        .gql_as(
            &staff,
            edit,
            json!({ "i": { "id": public, "version": 1, "title": "Piraté" } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = app
        .gql_as(
            &staff,
            edit,
            json!({ "i": { "id": hidden, "version": 1, "title": "Piraté" } }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    // The referent of the Rhône moderates the Rhône only; M4 is in Paris.
    let body = app
        .gql_as(
            &As::user(REFERENT),
            "mutation($i: ModerateMissionInput!) { moderateMission(input: $i) { userErrors { code } } }",
            json!({ "i": { "id": hidden, "decision": "VALIDATE" } }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    // Keys, volunteers and anonymous callers create nothing; a structure creates for its own
    // organization only.
    let create = "mutation($i: CreateMissionInput!) { createMission(input: $i) { mission { id } userErrors { code } } }";
    for who in [
        As::Anonymous,
        As::Key(w.key.clone()),
        As::user("volunteer@test.example"),
    ] {
        let body = app
            .gql_as(&who, create, json!({ "i": { "title": "x" } }))
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{who:?}");
    }
    let body = app
        .gql_as(
            &staff,
            create,
            json!({ "i": { "title": "x", "organizationId": w.id("OBeta").to_string() } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    // Bad input: a clear error, nothing written.
    let body = app
        .gql_as(&staff, edit, json!({ "i": { "id": "abc", "version": 1 } }))
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let too_many = json!({ "i": { "title": "x", "tags": vec!["t"; 51] } });
    let payload = mutate(&app, &staff, create, too_many).await;
    assert_eq!(codes(&payload), ["TOO_MANY_VALUES"]);
    let half_point =
        json!({ "i": { "title": "x", "addresses": [{ "city": "Lyon", "lat": 45.7 }] } });
    let payload = mutate(&app, &staff, create, half_point).await;
    assert_eq!(codes(&payload), ["INVALID_COORDINATES"]);
    // A title is a line: 500 characters at most (its index holds it, see migration 13).
    let long_title = json!({ "i": { "title": "é".repeat(501) } });
    let payload = mutate(&app, &staff, create, long_title).await;
    assert_eq!(codes(&payload), ["TITLE_TOO_LONG"]);
    assert!(payload["mission"].is_null(), "{payload}");
    let long_comment = "x".repeat(2_001);
    let payload = act(
        &app,
        &staff,
        "cancelMission",
        &w.id("M1").to_string(),
        json!({ "comment": long_comment }),
    )
    .await;
    assert_eq!(codes(&payload), ["COMMENT_TOO_LONG"]);
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn the_import_and_the_mutation_refuse_a_mission_with_the_same_codes_and_reasons() {
    let (app, w, database, conn) = start("writes-same-rules", test_settings()).await;
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<source><mission>
  <clientId>same-1</clientId>
  <title>Dates à l'envers</title>
  <description>Une mission.</description>
  <applicationUrl>https://example.org/same-1</applicationUrl>
  <places>0</places>
  <startAt>2027-03-01T00:00:00+00:00</startAt>
  <endAt>2027-02-01T00:00:00+00:00</endAt>
</mission></source>"#;
    let report = passerelle_ingest::import::import_feed(
        &conn,
        w.id("PAlpha"),
        std::io::Cursor::new(xml.as_bytes().to_vec()),
        Default::default(),
    )
    .await
    .expect("import");
    let mut imported: Vec<(String, String)> = report
        .refusals
        .iter()
        .map(|r| (r.code.clone(), r.message.clone()))
        .collect();
    imported.sort();
    let payload = mutate(
        &app,
        &As::user(STAFF),
        "mutation($i: CreateMissionInput!) { createMission(input: $i) { mission { id } userErrors { field code message } } }",
        json!({ "i": {
            "title": "Dates à l'envers",
            "description": "Une mission.",
            "applicationUrl": "https://example.org/same-1",
            "places": 0,
            "startAt": "2027-03-01T00:00:00Z",
            "endAt": "2027-02-01T00:00:00Z",
        } }),
    )
    .await;
    assert!(payload["mission"].is_null(), "nothing created: {payload}");
    let mut mutated: Vec<(String, String)> = payload["userErrors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["code"].as_str().unwrap_or_default().to_owned(),
                e["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    mutated.sort();
    assert_eq!(mutated, imported);
    let found: Vec<&str> = mutated.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(found, ["END_BEFORE_START", "INVALID_PLACES"]);
    app.stop().await;
    database.drop_database().await;
}

/// A waiting mission of OAlpha, in the Rhône, that no rule minds but what `tweak` changes.
async fn waiting(
    conn: &DatabaseConnection,
    w: &World,
    name: &str,
    tweak: impl FnOnce(&mut mission::ActiveModel),
) -> String {
    let id = mission_row(
        conn,
        w.id("PAlpha"),
        w.id("OAlpha"),
        name,
        MissionStatus::WaitingValidation,
        "69",
        MissionType::Benevolat,
        Domain::Sport,
        false,
    )
    .await;
    let now = passerelle_entities::time::now();
    let mut m: mission::ActiveModel = mission::Entity::find_by_id(id)
        .one(conn)
        .await
        .expect("read")
        .expect("row")
        .into();
    m.title = Set(format!("Mission {name}"));
    m.description = Set(long_description());
    m.start_at = Set(now + chrono::Duration::days(30));
    m.end_at = Set(Some(now + chrono::Duration::days(90)));
    m.created_at = Set(now);
    tweak(&mut m);
    m.update(conn).await.expect("tweak");
    id.to_string()
}

#[tokio::test]
async fn each_automatic_moderation_rule_fires_on_a_mission_made_to_trigger_it() {
    let settings = Settings {
        moderation_deny_list: vec!["crypto".to_owned()],
        ..test_settings()
    };
    let (app, w, database, conn) = start("writes-automoderation", settings).await;
    let now = passerelle_entities::time::now();
    let days = chrono::Duration::days;
    let fine = waiting(&conn, &w, "fine", |_| {}).await;
    let stale = waiting(&conn, &w, "stale", |m| m.created_at = Set(now - days(200))).await;
    let soon = waiting(&conn, &w, "soon", |m| {
        m.start_at = Set(now + days(2));
        m.end_at = Set(Some(now + days(10)));
    })
    .await;
    let short = waiting(&conn, &w, "short", |m| {
        m.description = Set("Trop court.".into())
    })
    .await;
    let cityless = waiting(&conn, &w, "cityless", |_| {}).await;
    conn.execute_unprepared(&format!(
        "UPDATE mission_addresses SET city = NULL WHERE mission_id = {cityless}"
    ))
    .await
    .expect("no city");
    let denied = waiting(&conn, &w, "denied", |m| {
        m.title = Set("Formation CRYPTO-monnaie".into())
    })
    .await;
    // M1 is OAlpha's validated "Mission M1".
    let duplicate = waiting(&conn, &w, "duplicate", |m| {
        m.title = Set("Mission M1 !".into())
    })
    .await;
    let expected: Vec<(&str, &str, Vec<&str>)> = vec![
        (fine.as_str(), "VALIDATE", vec![]),
        (stale.as_str(), "REFUSE", vec!["STALE"]),
        (soon.as_str(), "REFUSE", vec!["STARTS_TOO_SOON"]),
        (
            short.as_str(),
            "REQUEST_CORRECTION",
            vec!["SHORT_DESCRIPTION"],
        ),
        (cityless.as_str(), "REQUEST_CORRECTION", vec!["NO_CITY"]),
        (denied.as_str(), "REFUSE", vec!["DENY_LIST"]),
        (duplicate.as_str(), "REFUSE", vec!["LIKELY_DUPLICATE"]),
    ];
    let data = app
        .data_as(
            &As::user(REFERENT),
            "{ moderationQueue(first: 50) { nodes { id createdAt moderationProposal { decision reasons { rule decision message } } } } }",
            json!({}),
        )
        .await;
    let nodes = data["moderationQueue"]["nodes"]
        .as_array()
        .expect("nodes")
        .clone();
    let created: Vec<&str> = nodes
        .iter()
        .filter_map(|n| n["createdAt"].as_str())
        .collect();
    let mut sorted = created.clone();
    sorted.sort();
    assert_eq!(created, sorted, "oldest first");
    assert_eq!(nodes[0]["id"], stale.as_str(), "the oldest waits first");
    for (id, decision, rules) in expected {
        let node = nodes.iter().find(|n| n["id"] == id).expect("queued");
        let proposal = &node["moderationProposal"];
        assert_eq!(proposal["decision"], decision, "{node}");
        let fired: Vec<&str> = proposal["reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .filter_map(|r| r["rule"].as_str())
            .collect();
        assert_eq!(fired, rules, "{node}");
    }
    // Structure staff do not read proposals, nor the queue.
    let body = app
        .gql_as(
            &As::user(STAFF),
            "{ moderationQueue { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn a_failure_after_the_status_change_leaves_neither_the_change_nor_the_event() {
    let (app, w, database, conn) = start("writes-atomic", test_settings()).await;
    let id = waiting(&conn, &w, "atomic", |_| {}).await;
    // A real failure inside the transaction, after the UPDATE: the event's insert is refused
    // by a trigger for one comment.
    let triggers: &[&str] = if database.is_postgres() {
        &[
            "CREATE FUNCTION refuse_event() RETURNS trigger AS $$ BEGIN IF NEW.comment = 'panne' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_event BEFORE INSERT ON mission_events FOR EACH ROW EXECUTE FUNCTION refuse_event()",
        ]
    } else {
        &[
            "CREATE TRIGGER refuse_event BEFORE INSERT ON mission_events WHEN NEW.comment = 'panne' BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        ]
    };
    for sql in triggers {
        conn.execute_unprepared(sql).await.expect("trigger");
    }
    let body = app
        .gql_as(
            &As::user(REFERENT),
            "mutation($i: ModerateMissionInput!) { moderateMission(input: $i) { mission { status } } }",
            json!({ "i": { "id": id, "decision": "REFUSE", "comment": "panne" } }),
        )
        .await;
    assert_eq!(error_code(&body), "INTERNAL_SERVER_ERROR", "{body}");
    let row = mission::Entity::find_by_id(id.parse::<i64>().expect("id"))
        .one(&conn)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(
        row.status,
        MissionStatus::WaitingValidation,
        "the change was rolled back"
    );
    assert_eq!(row.version, 1);
    let events = mission_event::Entity::find()
        .filter(mission_event::Column::MissionId.eq(row.id))
        .all(&conn)
        .await
        .expect("events");
    assert!(events.is_empty(), "{events:?}");
    // Without the failure, the same decision lands with its event.
    let payload = act(
        &app,
        &As::user(REFERENT),
        "moderateMission",
        &id,
        json!({ "decision": "REFUSE", "comment": "Hors champ." }),
    )
    .await;
    assert_eq!(payload["mission"]["status"], "REFUSED");
    assert_eq!(payload["mission"]["history"][0]["action"], "REFUSE");
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn the_scheduler_archives_missions_past_their_end_with_an_event() {
    let database = TestDatabase::create("writes-archive").await;
    let conn = database.connect_migrated().await;
    let w = world(&conn).await;
    let now = passerelle_entities::time::now();
    let ended = waiting(&conn, &w, "ended", |m| {
        m.status = Set(MissionStatus::Validated);
        m.start_at = Set(now - chrono::Duration::days(30));
        m.end_at = Set(Some(now - chrono::Duration::days(1)));
    })
    .await;
    let running = waiting(&conn, &w, "running", |m| {
        m.status = Set(MissionStatus::Validated)
    })
    .await;
    let archived = passerelle::lifecycle::archive_ended(&conn)
        .await
        .expect("archive");
    assert_eq!(archived, 1);
    let status = |id: &str| {
        let conn = conn.clone();
        let id: i64 = id.parse().expect("id");
        async move {
            mission::Entity::find_by_id(id)
                .one(&conn)
                .await
                .expect("read")
                .expect("row")
        }
    };
    let e = status(&ended).await;
    assert_eq!((e.status, e.version), (MissionStatus::Archived, 2));
    assert_eq!(status(&running).await.status, MissionStatus::Validated);
    let events = mission_event::Entity::find()
        .filter(mission_event::Column::MissionId.eq(e.id))
        .all(&conn)
        .await
        .expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(
        (
            events[0].actor.as_str(),
            events[0].action.as_str(),
            events[0].to_status
        ),
        ("system", "ARCHIVE", Some(MissionStatus::Archived))
    );
    assert_eq!(
        passerelle::lifecycle::archive_ended(&conn)
            .await
            .expect("again"),
        0,
        "nothing twice"
    );
    database.drop_database().await;
}

/// Replaces every `"$id"` string of the variables with the mission made by the first example.
fn with_id(value: Value, id: &str) -> Value {
    match value {
        Value::String(s) if s == "$id" => Value::String(id.to_owned()),
        Value::Array(a) => Value::Array(a.into_iter().map(|v| with_id(v, id)).collect()),
        Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, v)| (k, with_id(v, id))).collect())
        }
        other => other,
    }
}

#[tokio::test]
async fn the_write_examples_run_in_order_on_fresh_demo_data() {
    let database = TestDatabase::create("writes-examples").await;
    let conn = database.connect_migrated().await;
    let report = passerelle::seed::seed_demo(&conn, 300).await.expect("seed");
    let app = TestApp::start(conn, test_settings()).await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/mutations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/mutations")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("graphql"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let mut id = String::new();
    for path in files {
        let document = std::fs::read_to_string(&path).expect("read");
        let variables = std::fs::read_to_string(path.with_extension("json"))
            .map(|t| serde_json::from_str::<Value>(&t).expect("variables"))
            .unwrap_or(json!({}));
        let who = match document
            .lines()
            .find_map(|l| l.strip_prefix("# viewer: "))
            .map(str::trim)
        {
            Some(v) => match v.strip_prefix("key ") {
                Some(publisher) => As::Key(
                    report
                        .credentials
                        .keys
                        .iter()
                        .find(|(p, _)| p == publisher)
                        .map(|(_, k)| secrecy::ExposeSecret::expose_secret(k).to_owned())
                        .expect("a demo key"),
                ),
                None => As::user(v),
            },
            None => As::Anonymous,
        };
        let data = app.data_as(&who, &document, with_id(variables, &id)).await;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        for (field, payload) in data.as_object().expect("data") {
            if let Some(errors) = payload.get("userErrors") {
                assert_eq!(errors, &json!([]), "{name} {field}: {payload}");
            }
        }
        if let Some(created) = data["createMission"]["mission"]["id"].as_str() {
            id = created.to_owned();
        }
        match name {
            n if n.starts_with("02") => {
                assert_eq!(
                    data["submitMission"]["mission"]["status"],
                    "WAITING_VALIDATION"
                )
            }
            n if n.starts_with("03") => assert!(
                data["moderationQueue"]["nodes"]
                    .as_array()
                    .is_some_and(|n| n.iter().any(|m| m["id"] == id.as_str())),
                "{data}"
            ),
            n if n.starts_with("04") => {
                assert_eq!(data["moderateMission"]["mission"]["status"], "VALIDATED")
            }
            n if n.starts_with("05") => {
                let p = &data["upsertMissions"];
                assert_eq!(
                    (p["created"].as_i64(), p["refused"].as_i64()),
                    (Some(1), Some(1)),
                    "{p}"
                );
                assert_eq!(p["results"][1]["userErrors"][0]["code"], "END_BEFORE_START");
            }
            _ => {}
        }
    }
    assert!(!id.is_empty(), "the first example made a mission");
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn a_moderator_publisher_keeps_its_own_decisions_apart_from_the_missions_status() {
    let (app, w, database, conn) = start("writes-publisher-moderation", test_settings()).await;
    let key = As::Key(w.key.clone());
    let m3 = w.id("M3").to_string();
    let moderate = "mutation($i: ModerateAsPublisherInput!) { moderateAsPublisher(input: $i) {
        mission { id status } moderation { status comment actor } userErrors { field code } } }";
    // Alpha is not a moderator yet.
    let body = app
        .gql_as(
            &key,
            moderate,
            json!({ "i": { "missionId": m3, "status": "ACCEPTED" } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let read = format!("{{ mission(id: \"{m3}\") {{ publisherModeration {{ status }} }} }}");
    assert!(app.data_as(&key, &read, json!({})).await["mission"]["publisherModeration"].is_null());
    conn.execute_unprepared(&format!(
        "UPDATE publishers SET moderator = true WHERE id = {}",
        w.id("PAlpha")
    ))
    .await
    .expect("moderator");

    let data = app.data_as(&key, &read, json!({})).await;
    assert_eq!(data["mission"]["publisherModeration"]["status"], "PENDING");
    let p = mutate(
        &app,
        &key,
        moderate,
        json!({ "i": { "missionId": m3, "status": "REFUSED" } }),
    )
    .await;
    assert_eq!(codes(&p), ["COMMENT_REQUIRED"]);
    let p = mutate(
        &app,
        &key,
        moderate,
        json!({ "i": { "missionId": m3, "status": "ACCEPTED" } }),
    )
    .await;
    assert_eq!(p["moderation"]["status"], "ACCEPTED", "{p}");
    assert_eq!(
        p["mission"]["status"], "VALIDATED",
        "the mission's own status is the annonceur's"
    );
    let listed = |statuses: Value| {
        let app = &app;
        let key = &key;
        async move {
            let data = app
                .data_as(
                    key,
                    "query($s: [PublisherModerationStatus!]) { missions(filter: { moderationStatuses: $s }) { nodes { id } } }",
                    json!({ "s": statuses }),
                )
                .await;
            let mut ids: Vec<String> = data["missions"]["nodes"]
                .as_array()
                .expect("nodes")
                .iter()
                .filter_map(|n| n["id"].as_str().map(str::to_owned))
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(listed(json!(["ACCEPTED"])).await, vec![m3.clone()]);
    let pending = listed(json!(["PENDING"])).await;
    assert!(
        !pending.contains(&m3) && pending.contains(&w.id("M1").to_string()),
        "{pending:?}"
    );
    // Changing its mind: refused, with a reason, which the annonceur's managers read in the
    // history.
    let p = mutate(
        &app,
        &key,
        moderate,
        json!({ "i": { "missionId": m3, "status": "REFUSED", "comment": "Hors de notre charte." } }),
    )
    .await;
    assert_eq!(p["moderation"]["status"], "REFUSED");
    assert_eq!(listed(json!(["REFUSED"])).await, vec![m3.clone()]);
    assert!(listed(json!(["ACCEPTED"])).await.is_empty());
    let history = app
        .data_as(
            &As::user(ADMIN),
            &format!("{{ mission(id: \"{m3}\") {{ history {{ action comment }} }} }}"),
            json!({}),
        )
        .await;
    let events = history["mission"]["history"].as_array().expect("history");
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["action"], "PUBLISHER_MODERATION");
    assert_eq!(
        events[1]["comment"],
        "Alpha: REFUSED (Hors de notre charte.)"
    );
    // Its own missions, missions it does not diffuse, and other viewers' filters.
    let own = mutate(
        &app,
        &key,
        moderate,
        json!({ "i": { "missionId": w.id("M1").to_string(), "status": "ACCEPTED" } }),
    )
    .await;
    assert_eq!(codes(&own), ["OWN_MISSION"]);
    let body = app
        .gql_as(
            &key,
            moderate,
            json!({ "i": { "missionId": w.id("M5").to_string(), "status": "ACCEPTED" } }),
        )
        .await;
    assert_eq!(
        error_code(&body),
        "NOT_FOUND",
        "Gamma is not in Alpha's diffusion"
    );
    let body = app
        .gql_as(
            &As::user(STAFF),
            "{ missions(filter: { moderationStatuses: [ACCEPTED] }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    app.stop().await;
    database.drop_database().await;
}
