//! GraphQL over HTTP, after the GraphQL-over-HTTP specification: POST with a JSON body, GET for
//! queries only, `application/graphql-response+json` or `application/json` as the client
//! accepts, and the status codes that go with each.
use std::net::SocketAddr;

use std::time::Duration;

use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Response, ServerError, Variables};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::documents::{DocumentError, DocumentRef};
use crate::ratelimit::{Decision, Quota, Subject, client_address};
use crate::responses::Answered;
use crate::server::AppState;
use passerelle_entities::access::Kind;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// The media type the answer is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// `application/graphql-response+json`: request errors are 4xx.
    GraphqlResponse,
    /// `application/json`: every well-formed request is answered 200.
    Json,
}

impl Answer {
    fn media(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Answer::GraphqlResponse => GRAPHQL_RESPONSE,
            Answer::Json => JSON,
        })
    }
}

/// Picks the response media type from `Accept`, or `None` if the client accepts neither.
fn negotiate(headers: &HeaderMap) -> Option<Answer> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Answer::Json);
    };
    let mut json = false;
    for part in accept.split(',') {
        let media = part
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            GRAPHQL_RESPONSE => return Some(Answer::GraphqlResponse),
            JSON | "*/*" | "application/*" => json = true,
            _ => {}
        }
    }
    json.then_some(Answer::Json)
}

/// A body over the server's limit (`max_body_bytes`), refused with a GraphQL error like every
/// other bad request.
pub fn too_large(limit: Option<usize>) -> HttpResponse {
    let message = match limit {
        Some(limit) => format!("the body is larger than this server accepts ({limit} bytes)"),
        None => "the body is larger than this server accepts".to_owned(),
    };
    refuse(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", &message)
}

/// A request the server refuses before running it, with the HTTP status it deserves.
fn refuse(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    res
}

/// A request refused before it reaches the schema: small enough to travel in a `Result`.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn bad_request(message: impl Into<String>) -> Self {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            code: "BAD_REQUEST",
            message: message.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> HttpResponse {
        refuse(self.status, self.code, &self.message)
    }
}

fn not_acceptable() -> HttpResponse {
    refuse(
        StatusCode::NOT_ACCEPTABLE,
        "NOT_ACCEPTABLE",
        "accept application/graphql-response+json or application/json",
    )
}

/// The body of a POST and the parameters of a GET.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphqlParams {
    query: Option<String>,
    /// A trusted document's id (`doc_id` is Relay's name for it).
    #[serde(alias = "doc_id")]
    document_id: Option<String>,
    operation_name: Option<String>,
    #[serde(default)]
    variables: Option<Json>,
    #[serde(default)]
    extensions: Option<Json>,
}

/// The GET form: `variables` and `extensions` are JSON text in the query string.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetParams {
    query: Option<String>,
    #[serde(alias = "doc_id")]
    document_id: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// A request as it arrived, before the document it names is looked up.
struct Incoming {
    document: DocumentRef,
    operation_name: Option<String>,
    variables: Option<Variables>,
    /// GET runs queries only.
    read_only: bool,
}

fn incoming(params: GraphqlParams, read_only: bool) -> Result<Incoming, Refusal> {
    let variables = match params.variables {
        None | Some(Json::Null) => None,
        Some(v @ Json::Object(_)) => Some(Variables::from_json(v)),
        Some(_) => {
            return Err(Refusal::bad_request("`variables` must be a JSON object"));
        }
    };
    let persisted_query = match params.extensions {
        None | Some(Json::Null) => None,
        Some(Json::Object(mut map)) => map.remove("persistedQuery"),
        Some(_) => {
            return Err(Refusal::bad_request("`extensions` must be a JSON object"));
        }
    };
    Ok(Incoming {
        document: DocumentRef {
            query: params.query,
            document_id: params.document_id,
            persisted_query,
        },
        operation_name: params.operation_name,
        variables,
        read_only,
    })
}

/// The address a request came from, when the server knows it.
type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

/// `POST /graphql`.
pub async fn post(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> HttpResponse {
    let Some(answer) = negotiate(&headers) else {
        return not_acceptable();
    };
    // A body without a declared length that outgrows the limit (a declared one is refused
    // before it is read, in `server::refuse_declared_oversize`).
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return too_large(None);
        }
        Err(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "the body could not be read",
            );
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media != JSON && media != GRAPHQL_RESPONSE {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the request as application/json",
        );
    }
    let params: GraphqlParams = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) if e.is_data() => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "the body must be a JSON object with a `query` string (batches are not accepted)",
            );
        }
        Err(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "the body is not valid JSON",
            );
        }
    };
    match incoming(params, false) {
        Ok(incoming) => execute(&state, &headers, peer, incoming, answer).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// `GET /graphql`: queries only, so that a link or a cache can never change data.
pub async fn get(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    params: Result<Query<GetParams>, axum::extract::rejection::QueryRejection>,
) -> HttpResponse {
    let Some(answer) = negotiate(&headers) else {
        return not_acceptable();
    };
    let Ok(Query(params)) = params else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "malformed query string",
        );
    };
    let parse_json = |field: &str, text: Option<String>| -> Result<Option<Json>, Refusal> {
        text.map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|_| Refusal::bad_request(format!("`{field}` is not valid JSON")))
    };
    let variables = match parse_json("variables", params.variables) {
        Ok(v) => v,
        Err(refusal) => return refusal.into_response(),
    };
    let extensions = match parse_json("extensions", params.extensions) {
        Ok(v) => v,
        Err(refusal) => return refusal.into_response(),
    };
    match incoming(
        GraphqlParams {
            query: params.query,
            document_id: params.document_id,
            operation_name: params.operation_name,
            variables,
            extensions,
        },
        true,
    ) {
        Ok(incoming) => execute(&state, &headers, peer, incoming, answer).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// Whether the operation a GET would run is a mutation (parse errors are left to the executor,
/// which reports them properly).
fn is_mutation(query: &str, operation_name: Option<&str>) -> bool {
    let Ok(doc) = async_graphql::parser::parse_query(query) else {
        return false;
    };
    doc.operations.iter().any(|(name, op)| {
        let selected = match (operation_name, name) {
            (Some(wanted), Some(n)) => wanted == n.as_str(),
            (Some(_), None) => false,
            (None, _) => true,
        };
        selected && op.node.ty == OperationType::Mutation
    })
}

/// Runs a request: the viewer its credentials name (refused credentials are answered here,
/// before the schema runs), its rate limit, the document it names, then the schema.
async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    peer: Peer,
    incoming: Incoming,
    answer: Answer,
) -> HttpResponse {
    // Every X-Forwarded-For line, in order: a proxy may add its own line rather than append.
    let forwarded: Vec<String> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let forwarded = (!forwarded.is_empty()).then(|| forwarded.join(","));
    let address = client_address(
        peer.map(|Extension(ConnectInfo(addr))| addr.ip()),
        forwarded.as_deref(),
        &state.trusted_proxies,
    )
    .map(|ip| ip.to_string());
    // An address that has sent too many refused credentials is refused before the next ones
    // are checked, valid or not: guessing costs no lookup and learns nothing.
    let failures = address
        .as_deref()
        .filter(|_| carries_credentials(headers))
        .map(Subject::auth_failures);
    if let Some(subject) = &failures {
        match state.limiter.peek(subject).await {
            Decision::Limited(quota) => return rate_limited(quota),
            Decision::Unavailable => return rate_limit_unavailable(),
            Decision::Allowed(_) => {}
        }
    }
    let viewer = match state.auth.authenticate(headers).await {
        Ok(viewer) => viewer,
        Err(refused) => {
            if let Some(subject) = &failures
                && refused.is_client_fault()
            {
                state.limiter.check(subject).await;
            }
            return refused.into_response();
        }
    };
    let quota = match Subject::of(&viewer, address.as_deref()) {
        None => None,
        Some(subject) => match state.limiter.check(&subject).await {
            Decision::Allowed(quota) => quota,
            Decision::Limited(quota) => return rate_limited(quota),
            Decision::Unavailable => return rate_limit_unavailable(),
        },
    };
    let explorer = matches!(viewer.access.kind(), Kind::Analyst | Kind::Admin);
    let resolved = match state.documents.resolve(incoming.document, explorer) {
        Ok(resolved) => resolved,
        Err(e) => return with_quota(document_refused(&e, answer), quota),
    };
    if incoming.read_only && is_mutation(&resolved.query, incoming.operation_name.as_deref()) {
        let mut res = refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "mutations must be sent with POST",
        );
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return with_quota(res, quota);
    }
    let exposure = state.exposure(&viewer, headers);
    // An anonymous caller's or a partner key's query may have been answered a moment ago
    // (see `responses`): the answer's bytes are sent again.
    let key = state.responses.key(
        &viewer,
        exposure,
        &resolved.query,
        incoming.operation_name.as_deref(),
        incoming.variables.as_ref(),
    );
    let keyed = key.is_some();
    // An automatic persisted query's text is registered by the request that sends it, even
    // when a kept answer serves it.
    let apq = resolved
        .register
        .clone()
        .map(|hash| (hash, resolved.query.clone()));
    let run = || async move {
        let mut request = Request::new(resolved.query.as_str());
        if let Some(name) = incoming.operation_name {
            request = request.operation_name(name);
        }
        if let Some(variables) = incoming.variables {
            request = request.variables(variables);
        }
        let (mut request, idle) =
            passerelle_schema::prepare(&state.schema, request, viewer, address, exposure);
        if let Some(key) = headers.get("idempotency-key") {
            // Checked by the mutations that honour it (visible ASCII only).
            let key = String::from_utf8_lossy(key.as_bytes()).trim().to_owned();
            request = request.data(passerelle_resolvers::mission::IdempotencyKey(key));
        }
        run_request(state, request, idle, resolved, answer, keyed).await
    };
    let mut res = match state.responses.answer(key, run).await {
        Answered::Ran(res) => res,
        Answered::Kept(body) => {
            if let Some((hash, query)) = apq {
                state.documents.register(hash, &query);
            }
            let mut res = (StatusCode::OK, body).into_response();
            res.headers_mut()
                .insert(header::CONTENT_TYPE, answer.media());
            res.headers_mut()
                .insert("cache-status", HeaderValue::from_static("passerelle; hit"));
            return with_quota(res, quota);
        }
    };
    if keyed {
        res.headers_mut().insert(
            "cache-status",
            HeaderValue::from_static("passerelle; fwd=miss"),
        );
    }
    with_quota(res, quota)
}

/// Runs a prepared request on the schema and writes its answer; gives the body too when
/// `keep` (a keyed query: see `ResponseCache::key`) and the answer has no error.
async fn run_request(
    state: &AppState,
    request: Request,
    idle: std::sync::Arc<passerelle_resolvers::batch::Idle>,
    resolved: crate::documents::Resolved,
    answer: Answer,
    keep: bool,
) -> (HttpResponse, Option<Bytes>) {
    let timeout = Duration::from_secs(state.request_timeout_secs);
    // The request's turn (see `gate`), held until its answer is encoded. The wait for it counts
    // against the request's time: a queue that cannot drain in time answers `TIMEOUT` rather
    // than holding the client.
    let mut turn = None;
    let execution = async {
        turn = Some(state.gate.enter().await);
        passerelle_resolvers::batch::drive(idle, state.schema.execute(request)).await
    };
    let response = match tokio::time::timeout(timeout, execution).await {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!(
                timeout_s = state.request_timeout_secs,
                "GraphQL request timed out"
            );
            let mut e = ServerError::new("the request took too long and was stopped", None);
            e.extensions
                .get_or_insert_with(Default::default)
                .set("code", "TIMEOUT");
            Response::from_errors(vec![e])
        }
    };
    let request_error = passerelle_schema::is_request_error(&response);
    if !request_error && let Some(hash) = resolved.register {
        state.documents.register(hash, &resolved.query);
    }
    let (body, whole) =
        match crate::encode::response(&response, request_error, state.max_response_bytes) {
            Some(body) => (body, true),
            None => {
                tracing::warn!(
                    max_bytes = state.max_response_bytes,
                    "a response over the size limit was replaced by an error"
                );
                let body = json!({
                "data": null,
                "errors": [{
                    "message": format!(
                        "the response is larger than {} bytes; ask for fewer items or fields",
                        state.max_response_bytes
                    ),
                    "extensions": { "code": "RESPONSE_TOO_LARGE", "max": state.max_response_bytes },
                }],
            })
            .to_string()
            .into_bytes();
                (body, false)
            }
        };
    // Encoded: the next request may take the turn.
    drop(turn);
    let status = match answer {
        Answer::GraphqlResponse if request_error => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    let body = Bytes::from(body);
    let kept =
        (keep && whole && !request_error && response.errors.is_empty()).then(|| body.clone());
    let mut res = (status, body).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, answer.media());
    (res, kept)
}

/// A document that cannot be run. Apollo's clients read `PERSISTED_QUERY_NOT_FOUND` and
/// `PERSISTED_QUERY_NOT_SUPPORTED` from a `200` (then send the text, or stop sending hashes);
/// the others are request errors.
fn document_refused(e: &DocumentError, answer: Answer) -> HttpResponse {
    let status = match (e, answer) {
        (DocumentError::BadRequest(_), _) => StatusCode::BAD_REQUEST,
        (DocumentError::NotFound | DocumentError::NotSupported, _) | (_, Answer::Json) => {
            StatusCode::OK
        }
        (_, Answer::GraphqlResponse) => StatusCode::BAD_REQUEST,
    };
    let mut res = refuse(status, e.code(), &e.message());
    if status == StatusCode::OK && answer == Answer::GraphqlResponse {
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(GRAPHQL_RESPONSE),
        );
    }
    res
}

/// Whole seconds, rounded up: a client told to wait 0 s would retry at once.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The `RateLimit-*` headers of a quota (draft-ietf-httpapi-ratelimit-headers).
fn with_quota(mut res: HttpResponse, quota: Option<Quota>) -> HttpResponse {
    if let Some(q) = quota {
        let h = res.headers_mut();
        h.insert("ratelimit-limit", HeaderValue::from(q.limit));
        h.insert("ratelimit-remaining", HeaderValue::from(q.remaining));
        h.insert("ratelimit-reset", HeaderValue::from(ceil_secs(q.reset)));
        if let Ok(policy) = HeaderValue::from_str(&format!("{};w=60", q.limit)) {
            h.insert("ratelimit-policy", policy);
        }
    }
    res
}

/// Whether a request carries credentials (a key or a token), right or wrong.
fn carries_credentials(headers: &HeaderMap) -> bool {
    crate::auth::KEY_HEADERS
        .iter()
        .any(|h| headers.contains_key(*h))
        || headers.contains_key(header::AUTHORIZATION)
}

/// `503`: Redis cannot be reached and rate limits fail closed.
fn rate_limit_unavailable() -> HttpResponse {
    refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "RATE_LIMIT_UNAVAILABLE",
        "rate limits cannot be checked right now; retry in a moment",
    )
}

/// `429`: over the caller's rate limit, with when to come back.
fn rate_limited(quota: Quota) -> HttpResponse {
    let wait = ceil_secs(quota.retry_after).max(1);
    let body = json!({ "errors": [{
        "message": format!(
            "too many requests: {} per minute at most; retry in {wait} s",
            quota.limit
        ),
        "extensions": { "code": "RATE_LIMITED", "retryAfter": wait, "limit": quota.limit },
    }] });
    let mut res = (StatusCode::TOO_MANY_REQUESTS, body.to_string()).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    with_quota(res, Some(quota))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    #[test]
    fn the_response_type_follows_accept() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(Answer::Json));
        assert_eq!(
            negotiate(&accept(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(Answer::GraphqlResponse)
        );
        assert_eq!(negotiate(&accept("*/*")), Some(Answer::Json));
        assert_eq!(negotiate(&accept("text/html")), None);
    }

    #[test]
    fn mutations_are_recognised_by_operation_name() {
        let q = "query A { publishers { id } } mutation B { x }";
        assert!(!is_mutation(q, Some("A")));
        assert!(is_mutation(q, Some("B")));
        assert!(!is_mutation("{ publishers { id } }", None));
    }
}
