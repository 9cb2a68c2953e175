//! GraphiQL, served by the binary itself so that it works with no internet access. The assets
//! are vendored from npm (versions, hashes and licences in `gateway/assets/graphiql/VENDORED.md`).
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

const INDEX: &str = include_str!("../assets/graphiql/index.html");

/// The query GraphiQL opens with: what a first-time visitor can run straight away.
pub const DEFAULT_QUERY: &str = include_str!("../../examples/queries/missions_near_lyon.graphql");

const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/graphiql/graphiql.min.css"),
    ),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/react-dom.production.min.js"),
    ),
];

/// `GET /`: the GraphiQL page, opened on the example query.
pub async fn page() -> Html<String> {
    let query = serde_json::to_string(DEFAULT_QUERY).unwrap_or_else(|_| "\"\"".into());
    // Inside a <script>, "</" must not appear literally.
    let query = query.replace("</", "<\\/");
    Html(INDEX.replace("__DEFAULT_QUERY_JSON__", &query))
}

/// `GET /graphiql/{file}`: a vendored asset, cached for a day.
pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, media, bytes)) => {
            let mut res = bytes.into_response();
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
            res.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            );
            res
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
