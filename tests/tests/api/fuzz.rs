//! Property tests: whatever a client sends as filters, orders, cursors, ids and page sizes, the
//! answer is data or errors that each carry a code, and never an internal error, a 500 or a
//! dropped connection.
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::helpers::{As, DEMO_ADMIN, shared_app};

/// Any JSON a client could put where a scalar is expected: what a typo or a hostile client
/// sends in place of the right type.
fn anything() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ]
}

/// Well typed most of the time, anything now and then.
fn mostly(good: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Value> {
    prop_oneof![30 => good, 1 => anything()].boxed()
}

fn text() -> impl Strategy<Value = Value> {
    prop_oneof![
        ".{0,60}".prop_map(Value::from),
        "[a-zA-Z\"*:&|!() -]{0,30}".prop_map(Value::from),
        Just(Value::from("x".repeat(250))),
    ]
}

fn date() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just("+262142-12-31T23:59:59.5Z".to_owned()),
        Just("-262143-01-01T00:00:00Z".to_owned()),
        Just("2026-02-30T00:00:00Z".to_owned()),
        (1i32..9999, 1u32..13, 1u32..29, 0u32..24, 0u32..1000).prop_map(
            |(y, m, d, h, ms)| format!("{y:04}-{m:02}-{d:02}T{h:02}:00:00.{ms:03}+02:00")
        ),
    ]
    .prop_map(Value::from)
}

fn department() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just("69"),
        Just("2a"),
        Just(" 75 "),
        Just("971"),
        Just("99"),
        Just("'; --"),
    ]
    .prop_map(Value::from)
}

fn float() -> impl Strategy<Value = Value> {
    prop_oneof![
        -200.0f64..200.0,
        Just(0.0),
        Just(1e308),
        Just(-1e308),
        Just(f64::MIN_POSITIVE)
    ]
    .prop_map(Value::from)
}

/// A cursor: base64 of anything, or of JSON shaped like ours with odd values.
fn cursor() -> impl Strategy<Value = Value> {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    prop_oneof![
        Just(Value::Null),
        ".{0,40}".prop_map(move |s| Value::from(b64(&s))),
        (
            any::<i64>(),
            any::<u64>(),
            prop_oneof![
                Just("missions:DISTANCE:ASC"),
                Just("missions:POSTED_AT:DESC"),
                Just("missions:RELEVANCE:DESC"),
                Just("volunteers:ID:ASC"),
                Just("organization.missions:START_AT:ASC"),
            ]
        )
            .prop_map(move |(id, bits, list)| {
                Value::from(b64(
                    &json!({ "l": list, "v": { "f": bits }, "i": id }).to_string()
                ))
            }),
        ".{0,20}".prop_map(Value::from),
    ]
}

fn list(of: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Value> {
    prop::collection::vec(of, 0..4)
        .prop_map(Value::from)
        .boxed()
}

/// A `MissionFilter` of random keys and values.
fn mission_filter() -> impl Strategy<Value = Value> {
    let domain =
        prop_oneof![Just("SPORT"), Just("ENVIRONNEMENT"), Just("SANTE")].prop_map(Value::from);
    let status =
        prop_oneof![Just("DRAFT"), Just("VALIDATED"), Just("REFUSED")].prop_map(Value::from);
    (
        prop::option::of(mostly(text())),
        prop::option::of(mostly(list(domain))),
        prop::option::of(mostly(list(department()))),
        prop::option::of((float(), float(), float())),
        prop::option::of(mostly(date())),
        prop::option::of(mostly(date())),
        prop::option::of(mostly(list(status))),
    )
        .prop_map(
            |(keywords, domains, departments, near, starts, ends, statuses)| {
                let mut f = serde_json::Map::new();
                let mut put = |k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        f.insert(k.to_owned(), v);
                    }
                };
                put("keywords", keywords);
                put("domains", domains);
                put("departmentCodes", departments);
                put(
                    "near",
                    near.map(|(lat, lon, r)| json!({ "lat": lat, "lon": lon, "radiusKm": r })),
                );
                put("startsAfter", starts);
                put("endsBefore", ends);
                put("statuses", statuses);
                Value::Object(f)
            },
        )
}

fn order() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just("START_AT"),
            Just("POSTED_AT"),
            Just("CREATED_AT"),
            Just("DISTANCE"),
            Just("RELEVANCE"),
        ],
        prop_oneof![Just("ASC"), Just("DESC")],
    )
        .prop_map(|(field, direction)| json!({ "field": field, "direction": direction }))
}

const QUERY: &str = "query($f: MissionFilter, $o: MissionOrder, $first: Int, $after: String, $id: ID!, $v: VolunteerFilter) {
  missions(filter: $f, orderBy: $o, first: $first, after: $after) {
    totalCount nodes { id distanceKm organization { missions(first: 2, after: $after) { totalCount } } }
    facets { domains { value count } departmentCodes { value count } }
  }
  mission(id: $id) { id }
  volunteers(filter: $v, first: $first, after: $after) { totalCount nodes { id } }
  _entities(representations: [{ __typename: \"Volunteer\", id: $id }, { __typename: \"Mission\", id: $id }]) { __typename }
}";

/// The codes a request's own fault may carry; anything else (an internal error) is a bug.
const CLIENT_CODES: &[&str] = &[
    "BAD_USER_INPUT",
    "NOT_FOUND",
    "FORBIDDEN",
    "GRAPHQL_VALIDATION_FAILED",
    "GRAPHQL_PARSE_FAILED",
    "BAD_REQUEST",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_filter_cursor_id_or_page_size_gets_data_or_coded_client_errors() {
    let app = shared_app();
    let admin = As::user(DEMO_ADMIN);
    let handle = tokio::runtime::Handle::current();
    let strategy = (
        mission_filter(),
        prop::option::of(order()),
        mostly(prop_oneof![-3i64..130, Just(i64::from(i32::MAX))].prop_map(Value::from)),
        mostly(cursor()),
        mostly(prop_oneof![
            ".{0,12}".prop_map(Value::from),
            any::<i64>().prop_map(|i| Value::from(i.to_string())),
            (1i64..2000).prop_map(|i| Value::from(i.to_string())),
        ]),
        prop::option::of(list(department()).prop_map(|d| json!({ "departmentCodes": d }))),
    );
    // PROPTEST_CASES=5000 for a longer hunt.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(300);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let executed = std::sync::atomic::AtomicUsize::new(0);
    let outcome = runner.run(&strategy, |(f, o, first, after, id, v)| {
        let variables = json!({ "f": f, "o": o, "first": first, "after": after, "id": id, "v": v });
        let body = tokio::task::block_in_place(|| {
            handle.block_on(app.gql_as(&admin, QUERY, variables.clone()))
        });
        for e in body["errors"].as_array().into_iter().flatten() {
            let code = e["extensions"]["code"].as_str().unwrap_or("<none>");
            prop_assert!(
                CLIENT_CODES.contains(&code),
                "{code} for {variables}: {body}"
            );
        }
        prop_assert!(body.get("data").is_some() || body.get("errors").is_some());
        if body["data"].is_object() {
            executed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    let executed = executed.into_inner();
    eprintln!("{executed} of 300 requests ran");
    assert!(
        executed >= 60,
        "the generated values reach the resolvers, not only validation ({executed})"
    );
}
