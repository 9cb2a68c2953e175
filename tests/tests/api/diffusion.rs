//! Diffusion rules (API Engagement's semantics): what a diffuseur's key sees of other publishers'
//! missions — its allowlist of annonceurs, minus excluded organizations, narrowed by type,
//! department or network — and always all of its own. Set by admins through `setDiffusionRules`,
//! recorded in the audit log, in effect from the next request.
use passerelle::auth::users::ScopeArgs;
use passerelle_entities::audit_entry::Actor;
use passerelle_entities::{Domain, MissionStatus, MissionType, Role};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use crate::access::{mission_row, organization_row};
use crate::helpers::{As, TestApp, TestDatabase, error_code, test_settings};

struct Setup {
    diffuseur: i64,
    annonceurs: [i64; 2],
    /// OA1x (of the network "Croix-Rouge"), OA1y, OA2.
    organizations: [i64; 3],
    names: Vec<(i64, &'static str)>,
    key: As,
}

async fn setup(db: &DatabaseConnection) -> Setup {
    let add = |name: &'static str| async move {
        passerelle::publishers::add(db, name, None, None, None, None)
            .await
            .expect("publisher")
    };
    let d = add("Diffuseur").await;
    let a1 = add("Annonceur Un").await;
    let a2 = add("Annonceur Deux").await;
    let od = organization_row(db, d.id, "OD", "75", None).await;
    let oa1x = organization_row(db, a1.id, "OA1x", "75", Some("Croix-Rouge")).await;
    let oa1y = organization_row(db, a1.id, "OA1y", "75", None).await;
    let oa2 = organization_row(db, a2.id, "OA2", "75", None).await;
    use MissionStatus::{Refused, Validated};
    use MissionType::{Benevolat, VolontariatServiceCivique};
    let mut names = Vec::new();
    for (name, p, o, status, dep, ty) in [
        ("MD1", d.id, od, Validated, "75", VolontariatServiceCivique),
        ("MD2", d.id, od, Refused, "75", Benevolat),
        ("M11", a1.id, oa1x, Validated, "69", Benevolat),
        (
            "M12",
            a1.id,
            oa1y,
            Validated,
            "75",
            VolontariatServiceCivique,
        ),
        ("M13", a1.id, oa1y, Validated, "69", Benevolat),
        ("M21", a2.id, oa2, Validated, "69", Benevolat),
    ] {
        let id = mission_row(db, p, o, name, status, dep, ty, Domain::Sport, false).await;
        names.push((id, name));
    }
    let actor = Actor::cli("test");
    passerelle::auth::users::add(
        db,
        "admin@test.example",
        Role::Admin,
        ScopeArgs::default(),
        None,
        &actor,
    )
    .await
    .expect("admin");
    let key = passerelle::auth::keys::create_for(db, &d, None, &actor)
        .await
        .expect("key");
    Setup {
        diffuseur: d.id,
        annonceurs: [a1.id, a2.id],
        organizations: [oa1x, oa1y, oa2],
        names,
        key: As::Key(secrecy::ExposeSecret::expose_secret(&key.key).to_owned()),
    }
}

/// A rule as the mutation takes it: field, operator, value.
type Rule = (&'static str, &'static str, String);

const SET: &str = "mutation($input: SetDiffusionRulesInput!) { setDiffusionRules(input: $input) {
    publisher { name } rules { field operator value } userErrors { field code message } } }";

fn admin() -> As {
    As::user("admin@test.example")
}

impl Setup {
    fn input(&self, rules: &[Rule]) -> Value {
        json!({ "input": {
            "diffuseurId": self.diffuseur.to_string(),
            "rules": rules.iter().map(|(f, o, v)| json!({ "field": f, "operator": o, "value": v })).collect::<Vec<_>>(),
        } })
    }

    /// The validated missions the diffuseur's key lists, by name.
    async fn seen(&self, app: &TestApp) -> Vec<&'static str> {
        let data = app
            .data_as(&self.key, "{ missions(first: 100, orderBy: { field: CREATED_AT, direction: ASC }) { totalCount nodes { id } } }", json!({}))
            .await;
        let mut out: Vec<&'static str> = data["missions"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| {
                let id: i64 = n["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(-1);
                self.names
                    .iter()
                    .find(|(i, _)| *i == id)
                    .map_or("?", |(_, n)| *n)
            })
            .collect();
        assert_eq!(
            data["missions"]["totalCount"].as_u64(),
            Some(out.len() as u64)
        );
        out.sort_unstable();
        out
    }
}

/// The diffuseur's rules as `viewer` reads them through `Publisher.diffusionRules`.
async fn rules_read_by(app: &TestApp, viewer: &As) -> Value {
    let data = app
        .data_as(
            viewer,
            "{ publishers { name diffusionRules { field operator value } } }",
            json!({}),
        )
        .await;
    data["publishers"]
        .as_array()
        .expect("publishers")
        .iter()
        .find(|p| p["name"] == "Diffuseur")
        .map(|p| p["diffusionRules"].clone())
        .expect("the diffuseur")
}

#[tokio::test]
async fn a_diffuseur_sees_its_allowlist_narrowed_by_its_rules_and_always_its_own() {
    let database = TestDatabase::create("diffusion").await;
    let conn = database.connect_migrated().await;
    let s = setup(&conn).await;
    let app = TestApp::start(conn, test_settings()).await;
    let [a1, a2] = s.annonceurs.map(|a| a.to_string());
    let [oa1x, oa1y, _] = s.organizations.map(|o| o.to_string());
    let include = |field: &'static str, v: &str| (field, "INCLUDE", v.to_owned());
    let exclude = |field: &'static str, v: &str| (field, "EXCLUDE", v.to_owned());
    let cases: Vec<(&str, Vec<Rule>, Vec<&str>)> = vec![
        ("no rules: its own only", vec![], vec!["MD1"]),
        (
            "an allowlist",
            vec![include("ANNONCEUR", &a1)],
            vec!["M11", "M12", "M13", "MD1"],
        ),
        (
            "an excluded organization",
            vec![include("ANNONCEUR", &a1), exclude("ORGANIZATION", &oa1y)],
            vec!["M11", "MD1"],
        ),
        (
            "a type (its own service civique mission stays)",
            vec![
                include("ANNONCEUR", &a1),
                include("ANNONCEUR", &a2),
                include("MISSION_TYPE", "benevolat"),
            ],
            vec!["M11", "M13", "M21", "MD1"],
        ),
        (
            "a type by its API name",
            vec![
                include("ANNONCEUR", &a1),
                include("MISSION_TYPE", "VOLONTARIAT_SERVICE_CIVIQUE"),
            ],
            vec!["M12", "MD1"],
        ),
        (
            "a department",
            vec![
                include("ANNONCEUR", &a1),
                include("ANNONCEUR", &a2),
                include("DEPARTMENT", "69"),
            ],
            vec!["M11", "M13", "M21", "MD1"],
        ),
        (
            "a department left out",
            vec![
                include("ANNONCEUR", &a1),
                include("ANNONCEUR", &a2),
                exclude("DEPARTMENT", "69"),
            ],
            vec!["M12", "MD1"],
        ),
        (
            "a network",
            vec![include("ANNONCEUR", &a1), include("NETWORK", "Croix-Rouge")],
            vec!["M11", "MD1"],
        ),
        (
            "an organization kept",
            vec![include("ANNONCEUR", &a1), include("ORGANIZATION", &oa1x)],
            vec!["M11", "MD1"],
        ),
    ];
    for (what, rules, expected) in cases {
        let data = app.data_as(&admin(), SET, s.input(&rules)).await;
        let payload = &data["setDiffusionRules"];
        assert_eq!(payload["userErrors"], json!([]), "{what}");
        assert_eq!(payload["publisher"]["name"], "Diffuseur");
        assert_eq!(
            payload["rules"].as_array().map(Vec::len),
            Some(rules.len()),
            "{what}"
        );
        assert_eq!(s.seen(&app).await, expected, "{what}");
    }
    // Its own missions in every status, whatever the rules.
    let data = app
        .data_as(
            &s.key,
            "{ missions(filter: { statuses: [REFUSED] }) { nodes { title statusComment } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["missions"]["nodes"],
        json!([{ "title": "Mission MD2", "statusComment": "moderation note of MD2" }])
    );
    // The diffuseur reads its rules; the CLI shows the same.
    let own = rules_read_by(&app, &s.key).await;
    assert_eq!(own.as_array().map(Vec::len), Some(2));
    app.stop().await;
    database.drop_database().await;
}

#[tokio::test]
async fn rules_that_cannot_be_set_change_nothing_and_only_admins_set_them() {
    let database = TestDatabase::create("diffusion-bad").await;
    let conn = database.connect_migrated().await;
    let s = setup(&conn).await;
    let app = TestApp::start(conn, test_settings()).await;
    let a1 = s.annonceurs[0].to_string();
    let before = json!([{ "field": "ANNONCEUR", "operator": "INCLUDE", "value": a1 }]);
    let data = app
        .data_as(
            &admin(),
            SET,
            s.input(&[
                ("ANNONCEUR", "INCLUDE", a1.clone()),
                ("ANNONCEUR", "INCLUDE", a1.clone()),
            ]),
        )
        .await;
    assert_eq!(
        data["setDiffusionRules"]["rules"], before,
        "a duplicate rule is set once"
    );
    for (rule, code) in [
        (
            ("ANNONCEUR", "INCLUDE", "999999".to_owned()),
            "UNKNOWN_PUBLISHER",
        ),
        (("ANNONCEUR", "INCLUDE", "abc".to_owned()), "INVALID_ID"),
        (
            ("ORGANIZATION", "EXCLUDE", "999999".to_owned()),
            "UNKNOWN_ORGANIZATION",
        ),
        (
            ("MISSION_TYPE", "INCLUDE", "bénévolat".to_owned()),
            "UNKNOWN_TYPE",
        ),
        (
            ("DOMAIN", "INCLUDE", "cuisine".to_owned()),
            "UNKNOWN_DOMAIN",
        ),
        (
            ("DEPARTMENT", "INCLUDE", "99".to_owned()),
            "UNKNOWN_DEPARTMENT",
        ),
        (("NETWORK", "INCLUDE", "  ".to_owned()), "EMPTY_VALUE"),
        (("NETWORK", "INCLUDE", "x".repeat(201)), "VALUE_TOO_LONG"),
    ] {
        let data = app
            .data_as(
                &admin(),
                SET,
                s.input(&[("DEPARTMENT", "INCLUDE", "69".to_owned()), rule.clone()]),
            )
            .await;
        let payload = &data["setDiffusionRules"];
        assert_eq!(payload["userErrors"][0]["code"], code, "{rule:?}");
        assert_eq!(
            payload["userErrors"][0]["field"], "input.rules.1.value",
            "{rule:?}"
        );
        assert_eq!(payload["userErrors"].as_array().map(Vec::len), Some(1));
        assert_eq!(payload["rules"], before, "{rule:?}: nothing changed");
    }
    let too_many: Vec<Rule> = (0..501)
        .map(|i| ("NETWORK", "INCLUDE", format!("n{i}")))
        .collect();
    let data = app.data_as(&admin(), SET, s.input(&too_many)).await;
    assert_eq!(
        data["setDiffusionRules"]["userErrors"][0]["code"],
        "TOO_MANY_RULES"
    );
    // An enum value that does not exist is refused by the schema, before anything runs.
    let body = app
        .gql_as(
            &admin(),
            SET,
            s.input(&[("COLOUR", "INCLUDE", "red".to_owned())]),
        )
        .await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    // Unknown or malformed diffuseur.
    for (id, code) in [("999999", "NOT_FOUND"), ("x", "BAD_USER_INPUT")] {
        let body = app
            .gql_as(
                &admin(),
                SET,
                json!({ "input": { "diffuseurId": id, "rules": [] } }),
            )
            .await;
        assert_eq!(error_code(&body), code, "{id}");
    }
    // Only admins: the diffuseur's own key may not change its rules.
    let body = app.gql_as(&s.key, SET, s.input(&[])).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert!(body["data"].is_null(), "{body}");
    let body = app.gql_as(&As::Anonymous, SET, s.input(&[])).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    // Still the rule set first.
    let own = rules_read_by(&app, &admin()).await;
    assert_eq!(own, before);

    // The audit log holds the changes, with who and from where; admins only.
    let data = app
        .data_as(
            &admin(),
            "{ auditLog(filter: { actions: [\"DIFFUSION_RULES_SET\", \"KEY_CREATED\", \"USER_ADDED\"] }) {
                nodes { action actor target address details } } }",
            json!({}),
        )
        .await;
    let entries = data["auditLog"]["nodes"].as_array().expect("entries");
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["DIFFUSION_RULES_SET", "KEY_CREATED", "USER_ADDED"],
        "newest first, refused changes not recorded"
    );
    let set = &entries[0];
    assert!(
        set["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("user:") && a.ends_with("<admin@test.example>")),
        "{set}"
    );
    assert_eq!(set["address"], "127.0.0.1");
    assert_eq!(set["target"], format!("publisher:{}", s.diffuseur));
    assert_eq!(
        set["details"]["rules"],
        json!([["ANNONCEUR", "INCLUDE", a1]])
    );
    assert_eq!(
        (&entries[1]["actor"], &entries[1]["address"]),
        (&json!("cli:test"), &json!("local"))
    );
    for who in [s.key.clone(), As::Anonymous] {
        let body = app
            .gql_as(&who, "{ auditLog { nodes { action } } }", json!({}))
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN");
    }
    app.stop().await;
    database.drop_database().await;
}
