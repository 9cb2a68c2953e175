//! Partners push their missions over HTTP (`upsertMissions`, `deleteMissions`): a thousand at
//! once, the same again unchanged, a few changed, a bad one refused with the import's reason
//! while the others are kept; idempotency keys replay a push and refuse their reuse.
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};

use crate::access::{World, world};
use crate::helpers::{As, TestApp, TestDatabase, error_code, test_settings};

const UPSERT: &str = "mutation($i: UpsertMissionsInput!) { upsertMissions(input: $i) {
    created updated unchanged refused deleted replayed
    results { clientId result mission { id status version } userErrors { field code message } } } }";
const DELETE: &str = "mutation($i: DeleteMissionsInput!) { deleteMissions(input: $i) {
    deleted results { clientId result } } }";

fn pushed(i: usize, title: &str) -> Value {
    json!({
        "clientId": format!("push-{i}"),
        "title": title,
        "description": "Accompagner des personnes âgées isolées, une après-midi par semaine.",
        "applicationUrl": format!("https://partenaire.example/missions/{i}"),
        "domain": "SOLIDARITE_INSERTION",
        "type": "BENEVOLAT",
        "startAt": "2027-01-15T09:00:00Z",
        "endAt": "2027-06-30T18:00:00Z",
        "places": 3,
        "tags": ["seniors", "lien social"],
        "addresses": [{ "street": "1 place Bellecour", "postalCode": "69002", "city": "Lyon" }],
        "organization": { "name": format!("Association {}", i % 10), "rna": format!("W69100000{}", i % 10) },
    })
}

async fn public_count(app: &TestApp, publisher: &str) -> i64 {
    app.data(
        "query($p: [ID!]) { missions(filter: { publisherIds: $p }) { totalCount } }",
        json!({ "p": [publisher] }),
    )
    .await["missions"]["totalCount"]
        .as_i64()
        .unwrap_or(-1)
}

async fn delete(app: &TestApp, partner: &As, ids: &[&str]) -> Value {
    app.data_as(partner, DELETE, json!({ "i": { "clientIds": ids } }))
        .await["deleteMissions"]
        .clone()
}

async fn start(label: &str) -> (TestApp, World, TestDatabase, DatabaseConnection) {
    let database = TestDatabase::create(label).await;
    let conn = database.connect_migrated().await;
    let w = world(&conn).await;
    let app = TestApp::start(conn.clone(), test_settings()).await;
    (app, w, database, conn)
}

async fn push(app: &TestApp, who: &As, missions: Vec<Value>, key: Option<&str>) -> Value {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.base))
        .json(&json!({ "query": UPSERT, "variables": { "i": { "missions": missions } } }));
    request = match who {
        As::Key(k) => request.header("x-api-key", k),
        As::Token(t) => request.bearer_auth(t),
        As::Anonymous => request,
    };
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let res = request.send().await.expect("send");
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

fn payload(body: &Value) -> &Value {
    assert!(body.get("errors").is_none(), "{body:#}");
    &body["data"]["upsertMissions"]
}

fn counts(p: &Value) -> [i64; 4] {
    ["created", "updated", "unchanged", "refused"].map(|k| p[k].as_i64().unwrap_or(-1))
}

#[tokio::test]
async fn a_thousand_pushed_then_the_same_then_ten_changed_and_a_bad_one_refused() {
    let (app, w, database, _) = start("push-thousand").await;
    let partner = As::Key(w.key.clone());
    let alpha = w.id("PAlpha").to_string();
    let before = public_count(&app, &alpha).await;
    let missions: Vec<Value> = (0..1_000)
        .map(|i| pushed(i, &format!("Visites de convivialité {i}")))
        .collect();

    let body = push(&app, &partner, missions.clone(), None).await;
    let first = payload(&body);
    assert_eq!(counts(first), [1_000, 0, 0, 0]);
    let results = first["results"].as_array().expect("results");
    assert_eq!(results.len(), 1_000);
    assert!(
        results
            .iter()
            .all(|r| r["result"] == "CREATED" && r["mission"]["status"] == "VALIDATED")
    );
    assert_eq!(results[7]["clientId"], "push-7", "in the order sent");
    assert_eq!(public_count(&app, &alpha).await, before + 1_000);

    let body = push(&app, &partner, missions.clone(), None).await;
    let again = payload(&body);
    assert_eq!(
        counts(again),
        [0, 0, 1_000, 0],
        "the same push changes nothing"
    );
    assert!(
        again["results"]
            .as_array()
            .expect("results")
            .iter()
            .all(|r| r["mission"]["version"] == 1)
    );

    let mut changed = missions.clone();
    for m in changed.iter_mut().take(10) {
        m["title"] = json!(format!(
            "{} (nouvel horaire)",
            m["title"].as_str().unwrap_or_default()
        ));
    }
    changed[500]["places"] = json!(0);
    changed[500]["endAt"] = json!("2026-12-01T00:00:00Z");
    let body = push(&app, &partner, changed, None).await;
    let third = payload(&body);
    assert_eq!(counts(third), [0, 10, 989, 1]);
    let bad = &third["results"][500];
    assert_eq!(bad["result"], "REFUSED");
    assert_eq!(
        bad["mission"]["status"], "REFUSED",
        "stored REFUSED, as an import stores it"
    );
    let mut codes: Vec<(&str, &str)> = bad["userErrors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["code"].as_str().unwrap_or(""),
                e["field"].as_str().unwrap_or(""),
            )
        })
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            ("END_BEFORE_START", "input.missions.500.endAt"),
            ("INVALID_PLACES", "input.missions.500.places"),
        ]
    );
    assert_eq!(third["results"][3]["mission"]["version"], 2, "updated once");
    assert_eq!(
        public_count(&app, &alpha).await,
        before + 999,
        "the refused one left the lists"
    );
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn an_idempotency_key_replays_the_same_push_and_refuses_another() {
    let (app, w, database, conn) = start("push-idempotency").await;
    let partner = As::Key(w.key.clone());
    let two = vec![
        pushed(1, "Maraude du soir"),
        pushed(2, "Collecte alimentaire"),
    ];
    let body = push(&app, &partner, two.clone(), Some("push-2027-01-a")).await;
    let first = payload(&body);
    assert_eq!(
        (counts(first), first["replayed"].as_bool()),
        ([2, 0, 0, 0], Some(false))
    );
    // Change one mission behind the partner's back: a replay must not run the push again.
    conn.execute_unprepared("UPDATE missions SET title = 'changé' WHERE client_id = 'push-1'")
        .await
        .expect("change");
    let body = push(&app, &partner, two.clone(), Some("push-2027-01-a")).await;
    let replay = payload(&body);
    assert_eq!(replay["replayed"], true);
    assert_eq!(counts(replay), [2, 0, 0, 0], "the first reply, given again");
    assert_eq!(
        replay["results"][0]["mission"]["id"],
        first["results"][0]["mission"]["id"]
    );
    let title: Vec<String> = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT title FROM missions WHERE client_id = 'push-1'",
        ))
        .await
        .expect("read")
        .iter()
        .map(|r| r.try_get::<String>("", "title").expect("title"))
        .collect();
    assert_eq!(title, ["changé"], "nothing ran");
    // Another push under the same key is refused; a new key runs it.
    let other = vec![pushed(3, "Soutien scolaire")];
    let body = push(&app, &partner, other.clone(), Some("push-2027-01-a")).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(
        body["errors"][0]["extensions"]["field"],
        "input.idempotencyKey"
    );
    let body = push(&app, &partner, other, Some("push-2027-01-b")).await;
    assert_eq!(counts(payload(&body)), [1, 0, 0, 0]);
    // Keys that cannot be one, and a header and an input that disagree.
    for bad in ["clé avec espaces", &"k".repeat(256)] {
        let body = push(&app, &partner, two.clone(), Some(bad)).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{bad}");
    }
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("x-api-key", &w.key)
        .header("idempotency-key", "header-key")
        .json(&json!({ "query": UPSERT, "variables": { "i": { "missions": two, "idempotencyKey": "input-key" } } }))
        .send()
        .await
        .expect("send");
    let body: Value = res.json().await.expect("json");
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn deleted_missions_leave_the_lists_and_come_back_when_pushed_again() {
    let (app, w, database, _) = start("push-delete").await;
    let partner = As::Key(w.key.clone());
    let three: Vec<Value> = (0..3)
        .map(|i| pushed(i, &format!("Mission {i} poussée")))
        .collect();
    payload(&push(&app, &partner, three.clone(), None).await);
    let result = delete(&app, &partner, &["push-0", "push-1", "nope", "push-0"]).await;
    let outcomes: Vec<&str> = result["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["result"].as_str())
        .collect();
    assert_eq!(outcomes, ["DELETED", "DELETED", "NOT_FOUND", "DUPLICATE"]);
    assert_eq!(result["deleted"], 2);
    let again = delete(&app, &partner, &["push-0"]).await;
    assert_eq!(again["results"][0]["result"], "ALREADY_DELETED");
    let listed = app
        .data(
            "{ missions(first: 100, filter: { keywords: \"poussée\" }) { nodes { clientId } } }",
            json!({}),
        )
        .await;
    let ids: Vec<&str> = listed["missions"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["clientId"].as_str())
        .collect();
    assert_eq!(ids, ["push-2"]);
    let body = push(&app, &partner, three, None).await;
    assert_eq!(
        counts(payload(&body)),
        [0, 2, 1, 0],
        "the deleted ones come back"
    );
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn only_partners_push_and_bad_pushes_are_refused_whole() {
    let (app, w, database, _) = start("push-refusals").await;
    for who in [
        As::Anonymous,
        As::user("staff@test.example"),
        As::user("admin@test.example"),
    ] {
        let body = push(&app, &who, vec![pushed(1, "x")], None).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{who:?}");
    }
    // A partner's people push for their publisher, as its key does.
    let body = push(
        &app,
        &As::user("partner@test.example"),
        vec![pushed(1, "Par l'équipe")],
        None,
    )
    .await;
    assert_eq!(counts(payload(&body)), [1, 0, 0, 0]);
    let partner = As::Key(w.key.clone());
    let body = push(&app, &partner, Vec::new(), None).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let too_many: Vec<Value> = (0..1_001)
        .map(|i| json!({ "clientId": format!("x{i}") }))
        .collect();
    let body = push(&app, &partner, too_many, None).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let mut half = pushed(9, "Coordonnées à moitié");
    half["addresses"] = json!([{ "city": "Lyon", "lon": 4.8 }]);
    let body = push(&app, &partner, vec![half], None).await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"],
        "input.missions.0.addresses.0"
    );
    // Without a client id nothing can be stored; the others still are.
    let body = push(
        &app,
        &partner,
        vec![
            json!({ "clientId": "  ", "title": "Sans identifiant" }),
            pushed(8, "Avec identifiant"),
        ],
        None,
    )
    .await;
    let p = payload(&body);
    assert_eq!(p["results"][0]["result"], "UNKEYED");
    assert_eq!(p["results"][1]["result"], "CREATED");
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn a_push_during_an_import_of_the_same_publisher_is_a_conflict_to_retry() {
    let (app, w, database, conn) = start("push-busy").await;
    let alpha = w.id("PAlpha");
    // Hold the publisher's import lock as a running import does.
    let holder = sea_orm::TransactionTrait::begin(&conn)
        .await
        .expect("begin");
    if database.is_postgres() {
        holder
            .execute_unprepared(&format!(
                "SELECT pg_advisory_xact_lock(1346458451, {alpha})"
            ))
            .await
            .expect("lock");
    } else {
        holder
            .execute_unprepared(&format!(
                "UPDATE publishers SET name = name WHERE id = {alpha}"
            ))
            .await
            .expect("write lock");
    }
    let body = push(
        &app,
        &As::Key(w.key.clone()),
        vec![pushed(1, "Pendant l'import")],
        None,
    )
    .await;
    assert_eq!(error_code(&body), "CONFLICT", "{body}");
    holder.rollback().await.expect("release");
    let body = push(
        &app,
        &As::Key(w.key.clone()),
        vec![pushed(1, "Après l'import")],
        None,
    )
    .await;
    assert_eq!(counts(payload(&body)), [1, 0, 0, 0]);
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn a_cancelled_mission_stays_cancelled_when_its_partner_pushes_it_again() {
    let (app, w, database, _) = start("push-sticky").await;
    let partner = As::Key(w.key.clone());
    let body = push(
        &app,
        &partner,
        vec![pushed(1, "Maraude"), pushed(2, "Collecte")],
        None,
    )
    .await;
    let first = payload(&body);
    let cancelled = first["results"][0]["mission"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let refused = first["results"][1]["mission"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // The referent of the Rhône cancels the first one (its address is in Lyon).
    let cancel = app
        .data_as(
            &As::user("referent69@test.example"),
            "mutation($i: MissionActionInput!) { cancelMission(input: $i) { mission { status } userErrors { code } } }",
            json!({ "i": { "id": cancelled, "comment": "Doublon d'une autre mission." } }),
        )
        .await;
    assert_eq!(
        cancel["cancelMission"]["mission"]["status"], "CANCELLED",
        "{cancel}"
    );
    let mut again = vec![pushed(1, "Maraude du soir"), pushed(2, "Collecte")];
    again[1]["places"] = json!(0);
    let body = push(&app, &partner, again, None).await;
    let second = payload(&body);
    assert_eq!(second["results"][0]["result"], "UPDATED");
    assert_eq!(
        second["results"][0]["mission"]["status"], "CANCELLED",
        "a moderator's cancellation stays"
    );
    assert_eq!(second["results"][1]["mission"]["status"], "REFUSED");
    let history = app
        .data_as(
            &As::user("admin@test.example"),
            &format!("{{ a: mission(id: \"{cancelled}\") {{ history {{ action }} }} b: mission(id: \"{refused}\") {{ history {{ action fromStatus toStatus actor }} }} }}"),
            json!({}),
        )
        .await;
    let actions: Vec<&str> = history["a"]["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["CANCEL"], "the push moved no status");
    let b = &history["b"]["history"][0];
    assert_eq!(
        (
            b["action"].as_str(),
            b["fromStatus"].as_str(),
            b["toStatus"].as_str()
        ),
        (Some("PUBLISHED"), Some("VALIDATED"), Some("REFUSED")),
        "{history}"
    );
    assert_eq!(b["actor"], format!("publisher:{}", w.id("PAlpha")));
    app.stop().await;
    database.drop_database().await;
}
