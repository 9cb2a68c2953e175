//! `missions`: every filter alone and combined, every order, pagination, facets, geo and
//! full-text search, checked against the oracle on the shared demo data.
use chrono::{DateTime, Utc};
use passerelle_entities::{Domain, MissionType, Remote, geo, search};
use serde_json::{Value, json};

use crate::helpers::{shared_app, shared_db};
use crate::oracle::{Facts, assert_in_order, ids, public_missions, walk, walked_ids};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

const LYON: (f64, f64) = (45.764, 4.8357);

fn keyword_match(f: &Facts, words: &[&str]) -> bool {
    let tokens = search::tokens(&f.m.search_text);
    let last = words.len() - 1;
    words.iter().enumerate().all(|(i, w)| {
        let w = search::fold(w);
        tokens.iter().any(|t| {
            if i == last {
                t.starts_with(&w)
            } else {
                *t == w
            }
        })
    })
}

type Case = (&'static str, Value, Box<dyn Fn(&Facts) -> bool>);

fn filter_cases() -> Vec<Case> {
    vec![
        (
            "domains",
            json!({ "domains": ["ENVIRONNEMENT", "SANTE"] }),
            Box::new(|f: &Facts| matches!(f.m.domain, Domain::Environnement | Domain::Sante)),
        ),
        (
            "types",
            json!({ "types": ["VOLONTARIAT_SERVICE_CIVIQUE"] }),
            Box::new(|f: &Facts| f.m.mission_type == MissionType::VolontariatServiceCivique),
        ),
        (
            "remote",
            json!({ "remote": ["FULL", "POSSIBLE"] }),
            Box::new(|f: &Facts| f.m.remote != Remote::No),
        ),
        (
            "departmentCodes",
            json!({ "departmentCodes": ["69", "2a", "974"] }),
            Box::new(|f: &Facts| f.in_department(&["69", "2A", "974"])),
        ),
        (
            "near",
            json!({ "near": { "lat": LYON.0, "lon": LYON.1, "radiusKm": 25 } }),
            Box::new(|f: &Facts| f.distance(LYON.0, LYON.1).is_some_and(|d| d <= 25.0)),
        ),
        (
            "startsAfter",
            json!({ "startsAfter": "2026-06-01T00:00:00Z" }),
            Box::new(|f: &Facts| f.m.start_at >= t("2026-06-01T00:00:00Z")),
        ),
        (
            "endsBefore",
            json!({ "endsBefore": "2026-12-31T00:00:00Z" }),
            Box::new(|f: &Facts| f.m.end_at.is_some_and(|e| e <= t("2026-12-31T00:00:00Z"))),
        ),
        (
            "openToMinors",
            json!({ "openToMinors": true }),
            Box::new(|f: &Facts| f.m.open_to_minors),
        ),
        (
            "snu",
            json!({ "snu": false }),
            Box::new(|f: &Facts| !f.m.snu),
        ),
        (
            "hasPlacesLeft",
            json!({ "hasPlacesLeft": false }),
            Box::new(|f: &Facts| f.m.places_left <= 0),
        ),
        (
            "publisherIds",
            json!({ "publisherIds": ["2", "4"] }),
            Box::new(|f: &Facts| [2, 4].contains(&f.m.publisher_id)),
        ),
        (
            "organizationIds",
            json!({ "organizationIds": ["1", "2", "3", "50"] }),
            Box::new(|f: &Facts| {
                f.m.organization_id
                    .is_some_and(|o| [1, 2, 3, 50].contains(&o))
            }),
        ),
        (
            "keywords",
            json!({ "keywords": "Lyon" }),
            Box::new(|f: &Facts| keyword_match(f, &["lyon"])),
        ),
        (
            "empty lists narrow nothing",
            json!({ "domains": [], "departmentCodes": [] }),
            Box::new(|_: &Facts| true),
        ),
    ]
}

#[tokio::test]
async fn every_filter_alone_returns_exactly_the_matching_missions() {
    let app = shared_app();
    let world = public_missions(&shared_db().await).await;
    for (name, filter, keep) in filter_cases() {
        let expected = ids(&world, keep);
        assert!(
            !expected.is_empty(),
            "{name}: the demo data has matching missions"
        );
        let (nodes, total) = walk(&app, filter, Value::Null, 100).await;
        assert_eq!(walked_ids(&nodes, total), expected, "filter {name}");
    }
}

#[tokio::test]
async fn combined_filters_return_the_intersection() {
    let app = shared_app();
    let world = public_missions(&shared_db().await).await;
    let cases = filter_cases();
    // Every pair of distinct filters, combined.
    for i in 0..cases.len() - 1 {
        for j in (i + 1)..cases.len() - 1 {
            let (a, fa, ka) = &cases[i];
            let (b, fb, kb) = &cases[j];
            let mut filter = fa.as_object().expect("object").clone();
            filter.extend(fb.as_object().expect("object").clone());
            let expected = ids(&world, |f| ka(f) && kb(f));
            let (nodes, total) = walk(&app, Value::Object(filter), Value::Null, 100).await;
            assert_eq!(walked_ids(&nodes, total), expected, "filters {a} + {b}");
        }
    }
}

fn key(node: &Value, field: &str) -> String {
    node[field].as_str().expect("time").to_owned()
}

#[tokio::test]
async fn every_order_sorts_and_pages_without_gap_or_duplicate() {
    let app = shared_app();
    let world = public_missions(&shared_db().await).await;
    let all = ids(&world, |_| true);
    for (field, node_field) in [
        ("START_AT", "startAt"),
        ("POSTED_AT", "postedAt"),
        ("CREATED_AT", "createdAt"),
    ] {
        for direction in ["ASC", "DESC"] {
            let (nodes, total) = walk(
                &app,
                Value::Null,
                json!({ "field": field, "direction": direction }),
                70,
            )
            .await;
            assert_eq!(
                walked_ids(&nodes, total),
                all,
                "{field} {direction} lists every mission"
            );
            assert_in_order(&nodes, |n| t(&key(n, node_field)), direction, field);
        }
    }
    // The default order is newest first.
    let (default, _) = walk(&app, json!({ "domains": ["SPORT"] }), Value::Null, 100).await;
    let (posted, _) = walk(
        &app,
        json!({ "domains": ["SPORT"] }),
        json!({ "field": "POSTED_AT", "direction": "DESC" }),
        100,
    )
    .await;
    assert_eq!(default, posted);
}

#[tokio::test]
async fn near_results_are_within_the_radius_and_ordered_by_distance() {
    let app = shared_app();
    let world = public_missions(&shared_db().await).await;
    for (lat, lon, radius) in [
        (LYON.0, LYON.1, 15.0),
        (48.8566, 2.3522, 40.0),
        (43.2965, 5.3698, 120.0),
    ] {
        let filter = json!({ "near": { "lat": lat, "lon": lon, "radiusKm": radius } });
        let (nodes, total) = walk(
            &app,
            filter,
            json!({ "field": "DISTANCE", "direction": "ASC" }),
            50,
        )
        .await;
        let got = walked_ids(&nodes, total);
        assert_eq!(
            got,
            ids(&world, |f| f
                .distance(lat, lon)
                .is_some_and(|d| d <= radius))
        );
        assert!(!got.is_empty());
        let mut previous = 0.0;
        for node in &nodes {
            let d = node["distanceKm"].as_f64().expect("distanceKm with near");
            let id: i64 = node["id"].as_str().expect("id").parse().expect("id");
            let facts = world.iter().find(|f| f.m.id == id).expect("known mission");
            let expected = facts.distance(lat, lon).expect("has coordinates");
            assert!(
                (d - expected).abs() < 1e-6,
                "distanceKm {d} is the great-circle distance {expected}"
            );
            assert!(d <= radius + 1e-9, "{d} within {radius}");
            assert!(d >= previous, "ordered by distance");
            previous = d;
        }
    }
    // Descending, the farthest comes first.
    let filter = json!({ "near": { "lat": LYON.0, "lon": LYON.1, "radiusKm": 50 } });
    let (nodes, _) = walk(
        &app,
        filter,
        json!({ "field": "DISTANCE", "direction": "DESC" }),
        100,
    )
    .await;
    let d: Vec<f64> = nodes
        .iter()
        .map(|n| n["distanceKm"].as_f64().unwrap_or_default())
        .collect();
    assert!(d.windows(2).all(|w| w[0] >= w[1]));
    // Without near, no distance.
    let (nodes, _) = walk(&app, json!({ "domains": ["SPORT"] }), Value::Null, 100).await;
    assert!(nodes.iter().all(|n| n["distanceKm"].is_null()));
    // A radius of a few hundred metres around no address finds nothing, and says so.
    let (nodes, total) = walk(
        &app,
        json!({ "near": { "lat": 46.0, "lon": 1.0, "radiusKm": 0.5 } }),
        Value::Null,
        10,
    )
    .await;
    assert!(nodes.is_empty() && total == 0);
}

/// A page by distance first reads only the circle's nearest missions after its cursor (nearest
/// first: within a sixteenth, then a quarter, of the radius left beyond the cursor; then 310
/// for pages of 30, then 3,100, then all): over a circle of every mission, pages of 30 walk the
/// whole circle in exact distance order, both ways, with no other filter (the nearest
/// suffice until the last page) and with a filter that keeps a fifth of them. (A ring whose
/// box were smaller than its circle fails it: its pages would skip missions.)
#[tokio::test]
async fn pages_by_distance_read_the_nearest_first_and_stay_exact() {
    let app = shared_app();
    let world = public_missions(&shared_db().await).await;
    let (lat, lon, radius) = (48.8566, 2.3522, 1000.0);
    for (filter, keep) in [
        (
            json!({ "near": { "lat": lat, "lon": lon, "radiusKm": radius } }),
            Box::new(|_: &Facts| true) as Box<dyn Fn(&Facts) -> bool>,
        ),
        (
            json!({ "near": { "lat": lat, "lon": lon, "radiusKm": radius },
                    "domains": ["ENVIRONNEMENT", "SANTE"] }),
            Box::new(|f: &Facts| matches!(f.m.domain, Domain::Environnement | Domain::Sante)),
        ),
    ] {
        let expected = ids(&world, |f| {
            keep(f) && f.distance(lat, lon).is_some_and(|d| d <= radius)
        });
        assert!(expected.len() > 90, "several pages ({})", expected.len());
        for direction in ["ASC", "DESC"] {
            let (nodes, total) = walk(
                &app,
                filter.clone(),
                json!({ "field": "DISTANCE", "direction": direction }),
                30,
            )
            .await;
            assert_eq!(walked_ids(&nodes, total), expected, "{filter} {direction}");
            assert_in_order(
                &nodes,
                |n| n["distanceKm"].as_f64().expect("distanceKm"),
                direction,
                &filter.to_string(),
            );
        }
    }
}

#[tokio::test]
async fn relevance_order_pages_through_every_keyword_match() {
    let app = shared_app();
    let world = public_missions(&shared_db().await).await;
    let filter = json!({ "keywords": "aide" });
    let expected = ids(&world, |f| keyword_match(f, &["aide"]));
    assert!(expected.len() > 20);
    for direction in ["DESC", "ASC"] {
        let (nodes, total) = walk(
            &app,
            filter.clone(),
            json!({ "field": "RELEVANCE", "direction": direction }),
            20,
        )
        .await;
        assert_eq!(walked_ids(&nodes, total), expected, "RELEVANCE {direction}");
    }
    let (default, _) = walk(&app, filter.clone(), Value::Null, 20).await;
    let (relevance, _) = walk(
        &app,
        filter,
        json!({ "field": "RELEVANCE", "direction": "DESC" }),
        20,
    )
    .await;
    assert_eq!(
        default, relevance,
        "keywords default to relevance, best first"
    );
}

/// Keywords that match more than a thousand missions are kept by walking the order's index
/// (on SQLite; see `MissionSearch::many_matches`), fewer by reading each match: both walk
/// every match, in exact start-date order, both ways.
#[tokio::test]
async fn pages_by_start_date_are_exact_whether_keywords_match_many_missions_or_few() {
    let app = shared_app();
    let world = public_missions(&shared_db().await).await;
    for (word, many) in [("vous", true), ("sport", false)] {
        let expected = ids(&world, |f| keyword_match(f, &[word]));
        assert_eq!(
            expected.len() > 1_000,
            many,
            "{word}: {} matches",
            expected.len()
        );
        assert!(expected.len() > 40, "{word}: several pages");
        for direction in ["ASC", "DESC"] {
            let (nodes, total) = walk(
                &app,
                json!({ "keywords": word }),
                json!({ "field": "START_AT", "direction": direction }),
                40,
            )
            .await;
            assert_eq!(walked_ids(&nodes, total), expected, "{word} {direction}");
            assert_in_order(
                &nodes,
                |n| n["startAt"].as_str().expect("startAt").to_owned(),
                direction,
                word,
            );
        }
    }
}

#[tokio::test]
async fn facets_add_up_and_match_the_counts_of_the_filter() {
    let app = shared_app();
    let world = public_missions(&shared_db().await).await;
    let query = "query F($filter: MissionFilter) { missions(filter: $filter, first: 1) { totalCount facets {
        domains { value count } types { value count } departmentCodes { value count } remote { value count } } } }";
    for filter in [
        Value::Null,
        json!({ "remote": ["NO"], "near": { "lat": LYON.0, "lon": LYON.1, "radiusKm": 100 } }),
        json!({ "keywords": "sport" }),
    ] {
        let data = app.data(query, json!({ "filter": filter })).await;
        let total = data["missions"]["totalCount"].as_i64().expect("total");
        let facets = &data["missions"]["facets"];
        for name in ["domains", "types", "remote"] {
            let sum: i64 = facets[name]
                .as_array()
                .expect("list")
                .iter()
                .map(|f| f["count"].as_i64().unwrap_or_default())
                .sum();
            assert_eq!(
                sum, total,
                "{name} facet adds up to totalCount for {filter}"
            );
        }
        let (nodes, _) = walk(&app, filter.clone(), Value::Null, 100).await;
        let in_filter: Vec<i64> = nodes
            .iter()
            .map(|n| {
                n["id"]
                    .as_str()
                    .unwrap_or_default()
                    .parse()
                    .unwrap_or_default()
            })
            .collect();
        for facet in facets["departmentCodes"].as_array().expect("list") {
            let code = facet["value"].as_str().expect("code");
            assert!(geo::department(code).is_some(), "{code} is a department");
            let expected = world
                .iter()
                .filter(|f| in_filter.contains(&f.m.id) && f.in_department(&[code]))
                .count() as i64;
            assert_eq!(
                facet["count"].as_i64(),
                Some(expected),
                "department {code} for {filter}"
            );
        }
        let counts: Vec<i64> = facets["domains"]
            .as_array()
            .expect("list")
            .iter()
            .map(|f| f["count"].as_i64().unwrap_or_default())
            .collect();
        assert!(
            counts.windows(2).all(|w| w[0] >= w[1]),
            "most frequent first"
        );
    }
    let data = app
        .data(query, json!({ "filter": { "domains": ["ENVIRONNEMENT"] } }))
        .await;
    assert_eq!(
        data["missions"]["facets"]["domains"][0]["value"], "ENVIRONNEMENT",
        "facet values are enum names"
    );
}

#[tokio::test]
async fn keywords_match_title_description_organization_and_city_ignoring_accents_and_case() {
    use crate::helpers::{TestApp, TestDatabase, insert_missions};
    let database = TestDatabase::create("keywords").await;
    let conn = database.connect_migrated().await;
    let ids = insert_missions(
        &conn,
        &["Les Amis de la Forêt", "Club Omnisports"],
        &[
            (
                "Écrivain public bénévole",
                "<p>Aider à rédiger des courriers.</p>",
                1,
                "Rennes",
                "35000",
                48.11,
                -1.68,
            ),
            (
                "Soutien administratif",
                "<p>Permanence <b>numérique</b> à la médiathèque.</p>",
                1,
                "Rennes",
                "35000",
                48.11,
                -1.68,
            ),
            (
                "Balade nature",
                "<p>Découvrir les arbres.</p>",
                0,
                "Rennes",
                "35000",
                48.11,
                -1.68,
            ),
            (
                "Accueil du public",
                "<p>Accueillir les visiteurs.</p>",
                1,
                "Saint-Étienne",
                "42000",
                45.44,
                4.39,
            ),
        ],
    )
    .await;
    let app = TestApp::start(conn, passerelle::config::Settings::default()).await;
    let query =
        "query K($k: String) { missions(filter: { keywords: $k }) { totalCount nodes { id } } }";
    let found = |body: serde_json::Value| -> Vec<i64> {
        let mut v: Vec<i64> = body["missions"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| {
                n["id"]
                    .as_str()
                    .unwrap_or_default()
                    .parse()
                    .unwrap_or_default()
            })
            .collect();
        v.sort_unstable();
        v
    };
    for (keywords, expected, what) in [
        (
            "ECRIVAIN",
            vec![ids[0]],
            "a title word, without its accent, in capitals",
        ),
        ("écrivain publique", vec![], "every word must match"),
        (
            "écrivain pub",
            vec![ids[0]],
            "the last word matches as a prefix",
        ),
        ("NUMÉRIQUE", vec![ids[1]], "a description word inside HTML"),
        ("foret", vec![ids[2]], "an organization name word"),
        (
            "saint etienne",
            vec![ids[3]],
            "a city with a hyphen and an accent",
        ),
        ("Saint-Étienne", vec![ids[3]], "the city as written"),
        (
            "rennes",
            vec![ids[0], ids[1], ids[2]],
            "a city shared by several missions",
        ),
        (
            "'; DROP TABLE missions; --",
            vec![],
            "SQL is only ever a value",
        ),
        (
            "\"unbalanced OR NEAR(",
            vec![],
            "FTS syntax is only ever a value",
        ),
    ] {
        let data = app.data(query, json!({ "k": keywords })).await;
        assert_eq!(found(data), expected, "{what}: {keywords:?}");
    }
    app.stop().await;
    database.drop_database().await;
}

/// Every public mission's counts by department, computed by joining each address to its
/// mission: the oracle of the facet, which reads the tally.
async fn departments_by_join(conn: &sea_orm::DatabaseConnection) -> Vec<(String, i64)> {
    use sea_orm::ConnectionTrait;
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT a.department_code AS value, COUNT(DISTINCT m.id) AS n
             FROM missions m JOIN mission_addresses a ON a.mission_id = m.id
             WHERE m.status = 'VALIDATED' AND m.deleted_at IS NULL AND a.department_code IS NOT NULL
             GROUP BY a.department_code ORDER BY n DESC, value ASC",
        ))
        .await
        .expect("departments");
    rows.iter()
        .map(|r| {
            (
                r.try_get::<String>("", "value").expect("value"),
                r.try_get::<i64>("", "n").expect("n"),
            )
        })
        .collect()
}

/// The number `sql` answers, as `n`.
async fn number(conn: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    conn.query_one_raw(sea_orm::Statement::from_string(
        conn.get_database_backend(),
        sql,
    ))
    .await
    .expect(sql)
    .expect("a row")
    .try_get("", "n")
    .expect("n")
}

/// Addresses whose copy of their mission's visibility is wrong.
async fn stale_addresses(conn: &sea_orm::DatabaseConnection) -> i64 {
    number(
        conn,
        "SELECT COUNT(*) AS n FROM mission_addresses a JOIN missions m ON m.id = a.mission_id
         WHERE a.mission_public <> (m.status = 'VALIDATED' AND m.deleted_at IS NULL)",
    )
    .await
}

/// On PostgreSQL the seed writes the missions' full-text vectors itself (the trigger that would
/// parse each text is dropped for its load): each must be the one the database makes from the
/// mission's text, and the trigger must be back after the load, for every write that follows.
#[tokio::test]
async fn seeded_full_text_vectors_are_the_databases_own_and_follow_each_write() {
    use sea_orm::ConnectionTrait;
    let database = crate::helpers::TestDatabase::create("seed_vectors").await;
    if !database.is_postgres() {
        // SQLite's FTS5 index is built by the database from the text after the load.
        database.drop_database().await;
        return;
    }
    let conn = database.connect_migrated().await;
    passerelle::seed::seed_demo(&conn, 300).await.expect("seed");
    let differing = "SELECT COUNT(*) AS n FROM missions
                     WHERE search_vector IS DISTINCT FROM to_tsvector('simple', search_text)";
    assert_eq!(
        number(&conn, "SELECT COUNT(*) AS n FROM missions").await,
        300
    );
    assert_eq!(
        number(&conn, differing).await,
        0,
        "as the database makes them"
    );
    assert_eq!(
        number(
            &conn,
            "SELECT COUNT(*) AS n FROM missions WHERE search_vector @@ to_tsquery('simple', 'benevoles')"
        )
        .await,
        300,
        "every demo description asks for bénévoles"
    );
    // After the load, the database fills the vector of each text written.
    conn.execute_unprepared(
        "UPDATE missions SET search_text = search_text || ' zqxjk' WHERE id IN (1, 2)",
    )
    .await
    .expect("update");
    assert_eq!(
        number(
            &conn,
            "SELECT COUNT(*) AS n FROM missions WHERE search_vector @@ to_tsquery('simple', 'zqxjk')"
        )
        .await,
        2
    );
    assert_eq!(number(&conn, differing).await, 0, "after an update");
    database.drop_database().await;
}

/// The total and the four facets of a mission search, as the API answers them.
const COUNTS: &str = "query($filter: MissionFilter) { missions(first: 0, filter: $filter) {
    totalCount facets { domains { value count } types { value count }
                        departmentCodes { value count } remote { value count } } } }";

/// A filter that keeps every public mission without being "every public mission": its counts
/// are those of the missions themselves, not of the tally.
async fn every_domain(app: &crate::helpers::TestApp) -> Value {
    let data = app
        .data(
            "{ __type(name: \"Domain\") { enumValues { name } } }",
            json!({}),
        )
        .await;
    let domains: Vec<Value> = data["__type"]["enumValues"]
        .as_array()
        .expect("domains")
        .iter()
        .map(|v| v["name"].clone())
        .collect();
    json!({ "domains": domains })
}

#[tokio::test]
async fn every_public_missions_counts_follow_each_write_to_missions_and_addresses() {
    use sea_orm::ConnectionTrait;
    let database = crate::helpers::TestDatabase::create("public_tally").await;
    let conn = database.connect_migrated().await;
    passerelle::seed::seed_demo(&conn, 300).await.expect("seed");
    let settings = passerelle::config::Settings {
        count_cache_ms: 0,
        ..crate::helpers::test_settings()
    };
    let statements: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let sink = std::sync::Arc::clone(&statements);
    let app = crate::helpers::TestApp::start_observed(conn.clone(), settings, move |info| {
        sink.lock().expect("lock").push(info.statement.sql.clone());
    })
    .await;
    let all = every_domain(&app).await;
    // The counts from the tally, checked against the same counts over the missions (the
    // filter by every domain) and the departments against a hand-written join.
    let check = |when: &'static str| {
        let (app, conn, all) = (&app, &conn, all.clone());
        async move {
            let tally = app.data(COUNTS, json!({})).await["missions"].clone();
            let counted = app.data(COUNTS, json!({ "filter": all })).await["missions"].clone();
            assert_eq!(tally, counted, "{when}");
            assert_eq!(stale_addresses(conn).await, 0, "{when}");
            let departments: Vec<(String, i64)> = tally["facets"]["departmentCodes"]
                .as_array()
                .expect("list")
                .iter()
                .map(|f| {
                    (
                        f["value"].as_str().expect("value").to_owned(),
                        f["count"].as_i64().expect("count"),
                    )
                })
                .collect();
            assert_eq!(departments, departments_by_join(conn).await, "{when}");
            tally
        }
    };
    statements.lock().expect("lock").clear();
    let seeded = check("after the seed").await;
    assert!(seeded["totalCount"].as_i64().expect("total") > 100);
    let read: Vec<String> = statements.lock().expect("lock").clone();
    let from_tally: Vec<&String> = read
        .iter()
        .filter(|sql| sql.contains("public_mission_tally"))
        .collect();
    assert_eq!(
        from_tally.len(),
        1,
        "the total and the four facets of every public mission are one read of the tally: {read:?}"
    );
    assert!(!from_tally[0].contains("\"missions\""), "{}", from_tally[0]);

    let backend = conn.get_database_backend();
    let run = |sql: String| {
        let conn = conn.clone();
        async move {
            conn.execute_raw(sea_orm::Statement::from_string(backend, sql))
                .await
                .expect("write");
        }
    };
    let one = |status: &'static str| {
        let conn = conn.clone();
        async move {
            let row = conn
                .query_one_raw(sea_orm::Statement::from_string(
                    backend,
                    // With an address, none of them in Corsica (2A, 2B), where the test adds some.
                    format!(
                        "SELECT MIN(m.id) AS id FROM missions m WHERE m.status = '{status}' \
                         AND m.deleted_at IS NULL \
                         AND EXISTS (SELECT 1 FROM mission_addresses a WHERE a.mission_id = m.id) \
                         AND NOT EXISTS (SELECT 1 FROM mission_addresses a \
                                         WHERE a.mission_id = m.id AND a.department_code IN ('2A', '2B'))"
                    ),
                ))
                .await
                .expect("pick")
                .expect("a row");
            row.try_get::<i64>("", "id").expect("a mission")
        }
    };
    let (validated, waiting, draft) = (
        one("VALIDATED").await,
        one("WAITING_VALIDATION").await,
        one("DRAFT").await,
    );
    // A status leaves VALIDATED, another mission enters it, a third is deleted then restored,
    // a fourth changes domain, type and remote.
    run(format!(
        "UPDATE missions SET status = 'ARCHIVED' WHERE id = {validated}"
    ))
    .await;
    run(format!(
        "UPDATE missions SET status = 'VALIDATED' WHERE id = {waiting}"
    ))
    .await;
    let deleted = one("VALIDATED").await;
    run(format!(
        "UPDATE missions SET deleted_at = updated_at WHERE id = {deleted}"
    ))
    .await;
    let moved = one("VALIDATED").await;
    run(format!(
        "UPDATE missions SET domain = 'sport', mission_type = 'benevolat', remote = 'full' \
         WHERE id = {moved} AND domain <> 'sport'"
    ))
    .await;
    let changed = check("after status, deletion and column changes").await;
    // Many missions in one statement, as the scheduler archives them, then back.
    let forty: Vec<String> = conn
        .query_all_raw(sea_orm::Statement::from_string(
            backend,
            "SELECT id FROM missions WHERE status = 'VALIDATED' AND deleted_at IS NULL \
             ORDER BY id DESC LIMIT 40",
        ))
        .await
        .expect("forty")
        .iter()
        .map(|r| r.try_get::<i64>("", "id").expect("id").to_string())
        .collect();
    let forty = forty.join(", ");
    run(format!(
        "UPDATE missions SET status = 'ARCHIVED' WHERE id IN ({forty})"
    ))
    .await;
    let archived = check("after 40 missions archived at once").await;
    assert_eq!(
        archived["totalCount"].as_i64(),
        changed["totalCount"].as_i64().map(|n| n - 40)
    );
    run(format!(
        "UPDATE missions SET status = 'VALIDATED' WHERE id IN ({forty})"
    ))
    .await;
    assert_eq!(
        check("after they are validated again at once").await,
        changed
    );
    run(format!(
        "UPDATE missions SET deleted_at = NULL WHERE id = {deleted}"
    ))
    .await;
    // New addresses in Corsica, their writer giving the wrong copy: the database sets it.
    let (truth, lie) = if backend == sea_orm::DbBackend::Postgres {
        ("TRUE", "FALSE")
    } else {
        ("1", "0")
    };
    for (mission, value) in [(waiting, lie), (draft, truth)] {
        run(format!(
            "INSERT INTO mission_addresses (mission_id, position, department_code, geo_source, mission_public)
             VALUES ({mission}, 9, '2A', 'NOT_FOUND', {value})"
        ))
        .await;
    }
    // A writer setting the copy by hand is overruled too.
    run(format!(
        "UPDATE mission_addresses SET mission_public = {lie} WHERE mission_id = {waiting}"
    ))
    .await;
    // An address moved from a draft to a public mission.
    run(format!(
        "UPDATE mission_addresses SET mission_id = {waiting} WHERE mission_id = {draft} AND position = 0"
    ))
    .await;
    let written = check("after address writes").await;
    let count_in = |counts: &Value, code: &str| {
        counts["facets"]["departmentCodes"]
            .as_array()
            .expect("list")
            .iter()
            .find(|f| f["value"] == code)
            .map_or(0, |f| f["count"].as_i64().expect("count"))
    };
    assert_eq!(
        count_in(&written, "2A"),
        count_in(&seeded, "2A") + 1,
        "the public mission counts once in 2A, the draft not at all"
    );
    // Two addresses of one mission in one department, written by one statement: it counts
    // once, and until the last of them goes.
    run(format!(
        "INSERT INTO mission_addresses (mission_id, position, department_code, geo_source)
         VALUES ({waiting}, 10, '2B', 'NOT_FOUND'), ({waiting}, 11, '2B', 'NOT_FOUND')"
    ))
    .await;
    let twice = check("after two addresses in 2B").await;
    assert_eq!(count_in(&twice, "2B"), count_in(&seeded, "2B") + 1);
    run(format!(
        "DELETE FROM mission_addresses WHERE mission_id = {waiting} AND position = 10"
    ))
    .await;
    assert_eq!(
        count_in(&check("after one of them goes").await, "2B"),
        count_in(&twice, "2B")
    );
    // An address moved to another department, then a public mission removed for good (its
    // addresses go with it).
    run(format!(
        "UPDATE mission_addresses SET department_code = '2A' WHERE mission_id = {waiting} AND position = 11"
    ))
    .await;
    assert_eq!(
        count_in(&check("after the last moves to 2A").await, "2B"),
        count_in(&seeded, "2B")
    );
    run(format!("DELETE FROM missions WHERE id = {waiting}")).await;
    let removed = check("after a public mission is deleted for good").await;
    assert_eq!(
        removed["totalCount"].as_i64(),
        written["totalCount"].as_i64().map(|n| n - 1)
    );

    // Folding the tally changes no count and leaves one row per group.
    let rows = || number(&conn, "SELECT COUNT(*) AS n FROM public_mission_tally");
    let before = rows().await;
    passerelle_db::tally::fold(&conn).await.expect("fold");
    let folded = rows().await;
    assert!(folded < before, "{folded} rows after folding {before}");
    assert_eq!(check("after folding").await, removed);
    passerelle_db::tally::fold(&conn).await.expect("fold again");
    assert_eq!(rows().await, folded, "a folded tally folds to itself");
    // Imports and the scheduler fold only a long tally: changes that sum to nothing, beyond
    // the threshold, are folded away and move no count.
    assert!(
        !passerelle_db::tally::fold_if_long(&conn)
            .await
            .expect("fold if long"),
        "a short tally is left as it is"
    );
    let pairs = vec!["('sport', 'benevolat', 'full', 1), ('sport', 'benevolat', 'full', -1)"; 600];
    run(format!(
        "INSERT INTO public_mission_tally (domain, mission_type, remote, n) VALUES {}",
        pairs.join(", ")
    ))
    .await;
    assert!(rows().await > passerelle_migration::tally::FOLD_ABOVE);
    assert!(
        passerelle_db::tally::fold_if_long(&conn)
            .await
            .expect("fold if long")
    );
    assert_eq!(rows().await, folded);
    assert_eq!(check("after a long tally is folded").await, removed);
    app.stop().await;
    database.drop_database().await;
}

/// A fresh database with 50 demo missions, for a race of two writers: on PostgreSQL only
/// (SQLite has one writer at a time: the second transaction cannot start its write before the
/// first commits); `None`, said on stderr, on SQLite.
async fn seeded_for_a_race(
    name: &str,
) -> Option<(crate::helpers::TestDatabase, sea_orm::DatabaseConnection)> {
    let database = crate::helpers::TestDatabase::create(name).await;
    let conn = database.connect_migrated().await;
    if conn.get_database_backend() != sea_orm::DbBackend::Postgres {
        eprintln!("skipped: a race of two writers, for PostgreSQL (PASSERELLE_TEST_POSTGRES_URL)");
        database.drop_database().await;
        return None;
    }
    passerelle::seed::seed_demo(&conn, 50).await.expect("seed");
    Some((database, conn))
}

#[tokio::test]
async fn two_transactions_adding_addresses_of_one_mission_in_one_department_count_it_once() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let Some((database, conn)) = seeded_for_a_race("tally_race").await else {
        return;
    };
    let backend = conn.get_database_backend();
    let mission: i64 = conn
        .query_one_raw(sea_orm::Statement::from_string(
            backend,
            "SELECT MIN(id) AS id FROM missions m WHERE status = 'VALIDATED' AND deleted_at IS NULL
             AND NOT EXISTS (SELECT 1 FROM mission_addresses a
                             WHERE a.mission_id = m.id AND a.department_code = '2B')",
        ))
        .await
        .expect("pick")
        .expect("a row")
        .try_get("", "id")
        .expect("id");
    let corsica = || {
        number(
            &conn,
            "SELECT COALESCE(SUM(n), 0)::BIGINT AS n FROM public_mission_tally WHERE department_code = '2B'",
        )
    };
    let before = corsica().await;
    let insert = format!(
        "INSERT INTO mission_addresses (mission_id, position, department_code, geo_source)
         VALUES ({mission}, 20, '2B', 'NOT_FOUND')"
    );
    let first = conn.begin().await.expect("begin");
    first
        .execute_unprepared(&insert)
        .await
        .expect("first insert");
    // The second writer waits for the first's lock on the mission, then sees its address.
    let second = {
        let (conn, insert) = (conn.clone(), insert.clone());
        tokio::spawn(async move {
            let txn = conn.begin().await.expect("begin");
            txn.execute_unprepared(&insert)
                .await
                .expect("second insert");
            txn.commit().await.expect("commit");
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !second.is_finished(),
        "the second writer waits for the first"
    );
    first.commit().await.expect("commit");
    second.await.expect("second writer");
    assert_eq!(corsica().await, before + 1, "one mission, counted once");
    assert_eq!(
        departments_by_join(&conn)
            .await
            .iter()
            .find(|(c, _)| c == "2B")
            .map(|(_, n)| *n),
        Some(before + 1)
    );
    database.drop_database().await;
}

/// Returns once `task` waits on a lock of the test's database, or has ended (PostgreSQL).
async fn waits_or_ends<T>(conn: &sea_orm::DatabaseConnection, task: &tokio::task::JoinHandle<T>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !task.is_finished()
        && number(
            conn,
            "SELECT COUNT(*) AS n FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .await
            == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the task neither waits nor ends"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// On PostgreSQL an address's copy of its mission's visibility is read under a lock on the
/// mission (migration 11): an address written while another transaction changes its mission's
/// status takes the status that commits, whichever way the status goes, and the tally counts
/// it so. Before, the address kept the status read before the change.
#[tokio::test]
async fn an_address_written_while_its_mission_changes_status_takes_the_status_that_commits() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let Some((database, conn)) = seeded_for_a_race("address_lock").await else {
        return;
    };
    for (position, from, to) in [
        (21, "VALIDATED", "ARCHIVED"),
        (22, "WAITING_VALIDATION", "VALIDATED"),
    ] {
        let mission = number(
            &conn,
            "SELECT MIN(id) AS n FROM missions m WHERE status = 'VALIDATED' AND deleted_at IS NULL
             AND NOT EXISTS (SELECT 1 FROM mission_addresses a
                             WHERE a.mission_id = m.id AND a.department_code = '2B')",
        )
        .await;
        conn.execute_unprepared(&format!(
            "UPDATE missions SET status = '{from}' WHERE id = {mission}"
        ))
        .await
        .expect("the status before");
        // The status changes in a transaction that has not committed yet...
        let change = conn.begin().await.expect("begin");
        change
            .execute_unprepared(&format!(
                "UPDATE missions SET status = '{to}' WHERE id = {mission}"
            ))
            .await
            .expect("the status after");
        // ... while another adds an address of the mission.
        let writer = {
            let conn = conn.clone();
            tokio::spawn(async move {
                let txn = conn.begin().await.expect("begin");
                txn.execute_unprepared(&format!(
                    "INSERT INTO mission_addresses (mission_id, position, department_code, geo_source)
                     VALUES ({mission}, {position}, '2B', 'NOT_FOUND')"
                ))
                .await
                .expect("the address");
                txn.commit().await.expect("commit");
            })
        };
        // The address's writer is let run until it waits on a lock or is done.
        waits_or_ends(&conn, &writer).await;
        change.commit().await.expect("commit the status");
        writer.await.expect("the address's writer");
        assert_eq!(
            number(
                &conn,
                &format!(
                    "SELECT COUNT(*) AS n FROM mission_addresses
                     WHERE mission_id = {mission} AND position = {position} AND mission_public"
                ),
            )
            .await,
            i64::from(to == "VALIDATED"),
            "{from} -> {to}: the address takes the status that committed"
        );
        assert_eq!(
            number(
                &conn,
                "SELECT COUNT(*) AS n FROM mission_addresses a JOIN missions m ON m.id = a.mission_id
                 WHERE a.mission_public <> (m.status = 'VALIDATED' AND m.deleted_at IS NULL)",
            )
            .await,
            0,
            "{from} -> {to}: no address disagrees with its mission"
        );
        let tally = number(
            &conn,
            "SELECT COALESCE(SUM(n), 0)::BIGINT AS n FROM public_mission_tally WHERE department_code = '2B'",
        )
        .await;
        let joined = departments_by_join(&conn)
            .await
            .iter()
            .find(|(c, _)| c == "2B")
            .map_or(0, |(_, n)| *n);
        assert_eq!(
            tally, joined,
            "{from} -> {to}: the tally counts what is there"
        );
    }
    database.drop_database().await;
}

/// The scheduler's archiving locks the ended missions in id order, whatever order its index
/// finds them in, so that a writer from outside that locks missions in id order too (the usual
/// rule against deadlocks) waits for it instead of deadlocking with it. Here the ended mission
/// with the higher id was written first and ended first, so that a scan of the table or of the
/// end dates' index meets it first: read in that order, the archiving locked it, then waited
/// for the other, which the outside writer held while it asked for the first (a deadlock:
/// PostgreSQL aborted one of them).
#[tokio::test]
async fn the_archiving_locks_ended_missions_in_id_order() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let Some((database, conn)) = seeded_for_a_race("archive_order").await else {
        return;
    };
    let low = number(
        &conn,
        "SELECT MIN(id) AS n FROM missions WHERE status = 'VALIDATED' AND deleted_at IS NULL",
    )
    .await;
    let high = number(
        &conn,
        "SELECT MAX(id) AS n FROM missions WHERE status = 'VALIDATED' AND deleted_at IS NULL",
    )
    .await;
    assert!(low < high);
    conn.execute_unprepared(&format!(
        "UPDATE missions SET end_at = NULL WHERE id NOT IN ({low}, {high});
         UPDATE missions SET start_at = now() - interval '30 days',
                end_at = now() - interval '2 days' WHERE id = {high};
         UPDATE missions SET start_at = now() - interval '30 days',
                end_at = now() - interval '1 day' WHERE id = {low};"
    ))
    .await
    .expect("two ended missions");
    // A writer from outside locks the lower id...
    let outside = conn.begin().await.expect("begin");
    outside
        .execute_unprepared(&format!(
            "SELECT id FROM missions WHERE id = {low} FOR UPDATE"
        ))
        .await
        .expect("lock the lower id");
    // ... while the archiving runs, and waits for it.
    let archiving = {
        let conn = conn.clone();
        tokio::spawn(async move { passerelle::lifecycle::archive_ended(&conn).await })
    };
    waits_or_ends(&conn, &archiving).await;
    assert!(
        !archiving.is_finished(),
        "the archiving waits for the lower id"
    );
    // The outside writer then takes the higher id: free, since the archiving has not reached it.
    outside
        .execute_unprepared(&format!(
            "SET LOCAL lock_timeout = '10s'; SELECT id FROM missions WHERE id = {high} FOR UPDATE"
        ))
        .await
        .expect("the higher id is not held by the waiting archiving");
    outside.commit().await.expect("commit");
    let archived = archiving.await.expect("join").expect("the archiving");
    assert_eq!(archived, 2);
    assert_eq!(
        number(
            &conn,
            &format!("SELECT COUNT(*) AS n FROM missions WHERE id IN ({low}, {high}) AND status = 'ARCHIVED'"),
        )
        .await,
        2
    );
    database.drop_database().await;
}
