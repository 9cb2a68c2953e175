//! The HTTP server: routes, shared state, access log, graceful shutdown.
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use passerelle_db::Pools;
use passerelle_resolvers::counts::CountCache;
use passerelle_schema::PasserelleSchema;
use serde_json::json;
use tokio::net::TcpListener;

use crate::auth::Authenticator;
use crate::auth::jwt::JwtVerifier;
use crate::config::{Introspection, Settings};
use crate::documents::DocumentStore;
use crate::gate::Gate;
use crate::ratelimit::{IpNet, RateLimiter};
use crate::responses::{self, ResponseCache};
use crate::{graphiql, graphql};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use passerelle_entities::access::{Kind, Viewer};
use passerelle_schema::Exposure;
use secrecy::{ExposeSecret, SecretString};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub schema: PasserelleSchema,
    pub pools: Pools,
    pub auth: Arc<Authenticator>,
    pub request_timeout_secs: u64,
    /// Requests executing at once, the others waiting in arrival order.
    pub gate: Arc<Gate>,
    pub max_response_bytes: usize,
    pub introspection: Introspection,
    pub router_secret: Option<SecretString>,
    /// Origins allowed to call from a browser.
    pub cors_origins: Vec<HeaderValue>,
    /// The persisted documents' manifest and cache.
    pub documents: Arc<DocumentStore>,
    pub limiter: Arc<RateLimiter>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Answers kept a moment for the identical requests (see `responses`).
    pub responses: Arc<ResponseCache>,
}

impl AppState {
    /// The state of a server over `pools` with the limits and credentials of `settings`.
    ///
    /// # Errors
    /// The token settings cannot be used (the JWKS client cannot be built), the manifest of
    /// persisted documents cannot be read, or the Redis URL cannot be used.
    pub fn new(pools: Pools, settings: &Settings) -> anyhow::Result<Self> {
        let limits = settings.limits();
        let jwt = JwtVerifier::new(&settings.jwt_settings())?;
        let schema = passerelle_schema::build_with(pools.clone(), limits, settings.schema_rules());
        // Emptied with the counts, by every mutation of this gateway.
        let counts = schema
            .data::<Arc<CountCache>>()
            .cloned()
            .context("the schema holds no cache of counts")?;
        let responses = ResponseCache::new(
            Duration::from_millis(settings.response_cache_ms),
            responses::MAX_BYTES,
            counts,
        );
        Ok(AppState {
            schema,
            auth: Arc::new(Authenticator::new(pools.clone(), jwt)),
            pools,
            request_timeout_secs: settings.request_timeout_secs,
            gate: Arc::new(Gate::new(settings.max_concurrent_requests)),
            max_response_bytes: settings.max_response_bytes,
            introspection: settings.introspection,
            router_secret: settings.router_secret.clone(),
            cors_origins: settings
                .cors_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect(),
            documents: Arc::new(settings.document_store()?),
            limiter: Arc::new(settings.rate_limiter()?),
            trusted_proxies: settings.trusted_proxies.clone(),
            responses: Arc::new(responses),
        })
    }

    /// What of the schema itself a viewer may read: introspection by the configured policy,
    /// `_service` too, or for a router that sends the configured `x-router-secret`.
    pub fn exposure(&self, viewer: &Viewer, headers: &HeaderMap) -> Exposure {
        let public = matches!(viewer.access.kind(), Kind::Anonymous | Kind::Partner);
        let introspection = match self.introspection {
            Introspection::On => true,
            Introspection::OffForPublic => !public,
            Introspection::Off => false,
        };
        let router = match (&self.router_secret, headers.get("x-router-secret")) {
            (Some(secret), Some(sent)) => {
                use subtle::ConstantTimeEq;
                bool::from(secret.expose_secret().as_bytes().ct_eq(sent.as_bytes()))
            }
            _ => false,
        };
        Exposure {
            introspection,
            service_sdl: introspection || router,
        }
    }
}

/// Every route of the gateway.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    // Browsers may call from the listed origins only; the credentials are headers (a key, a
    // token), which only a preflighted request can carry.
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(state.cors_origins.clone()))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::AUTHORIZATION,
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static("apikey"),
            HeaderName::from_static("idempotency-key"),
        ])
        // A page may read how much of its rate limit is left.
        .expose_headers([
            header::RETRY_AFTER,
            HeaderName::from_static("ratelimit-limit"),
            HeaderName::from_static("ratelimit-remaining"),
            HeaderName::from_static("ratelimit-reset"),
            HeaderName::from_static("ratelimit-policy"),
        ])
        .allow_credentials(!state.cors_origins.is_empty())
        .max_age(std::time::Duration::from_secs(3600));
    Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/", get(graphiql::page))
        .route("/graphiql/{file}", get(graphiql::asset))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            refuse_declared_oversize(max_body_bytes, request, next)
        }))
        .layer(cors)
        .layer(middleware::from_fn(catch_panic))
        .layer(middleware::from_fn(access_log))
        .with_state(state)
}

/// Refuses a request whose declared `Content-Length` is over the limit before reading its body:
/// the client learns it at once, and the server neither reads nor buffers what it would drop.
async fn refuse_declared_oversize(limit: usize, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => graphql::too_large(Some(limit)),
        _ => next.run(request).await,
    }
}

/// Serves on `listener` until `shutdown` completes, then lets requests in flight finish.
///
/// # Errors
/// The listener fails.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    max_body_bytes: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state, max_body_bytes).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// `GET /health`: the process is up, and how many GraphQL requests execute and wait (see
/// `gate`): a queue that stays long says the gateway needs more cores or a higher bound.
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let gate = &state.gate;
    axum::Json(json!({
        "status": "ok",
        "requests": {
            "executing": gate.executing(),
            "waiting": gate.waiting(),
            "limit": gate.limit(),
        },
    }))
}

/// `GET /ready`: the database answers.
async fn ready(State(state): State<AppState>) -> Response {
    match state.pools.read.ping().await {
        Ok(()) => axum::Json(json!({ "status": "ready" })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "status": "unavailable", "database": "unreachable" })),
            )
                .into_response()
        }
    }
}

/// A panic while answering becomes a coded `500` with a reference to the log line, instead of a
/// dropped connection. No input should panic; this is the net under that rule.
async fn catch_panic(request: Request, next: Next) -> Response {
    use futures_util::FutureExt;
    let path = request.uri().path().to_owned();
    match std::panic::AssertUnwindSafe(next.run(request))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            let reference = passerelle_resolvers::error::log_internal(
                &format!("a request to {path} panicked"),
                &detail,
            );
            let body = json!({ "errors": [{
                "message": format!("internal error; quote reference {reference} to the operators"),
                "extensions": { "code": "INTERNAL_SERVER_ERROR" },
            }] });
            let mut res = (StatusCode::INTERNAL_SERVER_ERROR, body.to_string()).into_response();
            res.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            );
            res
        }
    }
}

/// One log line per request: method, path (without query string), status, duration.
async fn access_log(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    tracing::info!(
        http.method = %method,
        http.path = %path,
        http.status = response.status().as_u16(),
        duration_ms = start.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_while_answering_is_a_coded_500_not_a_dropped_connection() {
        let app = Router::new()
            .route(
                "/boom",
                get(|| async {
                    let empty: Vec<u8> = Vec::new();
                    // An index out of bounds, as a bug would make one.
                    empty[usize::from(empty.is_empty())].to_string()
                }),
            )
            .layer(middleware::from_fn(catch_panic));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/boom", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        passerelle_ingest::install_tls_provider();
        let res = reqwest::get(&url)
            .await
            .expect("an answer, not a dropped connection");
        assert_eq!(res.status(), 500);
        let body: serde_json::Value = res.json().await.expect("json");
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "INTERNAL_SERVER_ERROR"
        );
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("quote reference ")),
            "{body}"
        );
    }
}
