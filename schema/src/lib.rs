//! Assembles Passerelle's executable GraphQL schema from the domain resolvers: the merged query
//! root, the loaders, the request limits, Apollo Federation v2, and the error codes.
//!
//! `schema/schema.graphql` beside this crate is the committed contract; a test compares it with
//! [`sdl`] and tells the command that updates it.
use async_graphql::dataloader::DataLoader;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextResolve,
    NextValidation, ResolveInfo,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    EmptyMutation, EmptySubscription, MergedObject, PathSegment, Response, SDLExportOptions,
    Schema, ServerError, ServerResult, ValidationResult, Value, Variables,
};
use passerelle_resolvers::DbLoader;
use passerelle_resolvers::import_run::ImportRunQuery;
use passerelle_resolvers::mission::MissionQuery;
use passerelle_resolvers::organization::OrganizationQuery;
use passerelle_resolvers::publisher::PublisherQuery;
use passerelle_resolvers::volunteer::VolunteerQuery;
use sea_orm::DatabaseConnection;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The query root: every domain's queries, merged.
#[derive(MergedObject, Default)]
pub struct Query(
    MissionQuery,
    OrganizationQuery,
    PublisherQuery,
    VolunteerQuery,
    ImportRunQuery,
);

/// The executable schema.
pub type PasserelleSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// Bounds on what one GraphQL request may ask.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The deepest selection nesting accepted.
    pub max_depth: usize,
    /// The most fields (weighted by async-graphql's complexity) one request may select.
    pub max_complexity: usize,
    /// How long a DataLoader gathers keys before it runs its batch. Every relation of one list
    /// is loaded in one statement as long as the list's fields are resolved within this window.
    pub loader_delay: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 16,
            max_complexity: 2_000,
            loader_delay: Duration::from_millis(2),
        }
    }
}

/// Builds the schema over a database pool.
pub fn build(db: DatabaseConnection, limits: Limits) -> PasserelleSchema {
    let loaders =
        DataLoader::new(DbLoader::new(db.clone()), tokio::spawn).delay(limits.loader_delay);
    Schema::build(Query::default(), EmptyMutation, EmptySubscription)
        .enable_federation()
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .extension(ErrorCodesFactory)
        .data(db)
        .data(loaders)
        .finish()
}

/// The SDL of the schema as a federation router composes it (with `@key` and `@link`).
pub fn sdl() -> String {
    Schema::build(Query::default(), EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
        .sdl_with_options(SDLExportOptions::new().federation().compose_directive())
}

/// Codes that tell a request was refused before it ran (HTTP 400 under
/// `application/graphql-response+json`).
pub const REQUEST_ERROR_CODES: &[&str] = &[
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "BAD_REQUEST",
];

/// Whether a response is a request error: nothing was executed.
pub fn is_request_error(response: &Response) -> bool {
    response.data == Value::Null
        && response.errors.iter().any(|e| {
            e.extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .is_some_and(
                    |c| matches!(c, Value::String(s) if REQUEST_ERROR_CODES.contains(&s.as_str())),
                )
        })
}

/// Gives every error a stable `extensions.code`, by the phase it came from: our own errors
/// already carry one; async-graphql's parse and validation errors, and its argument coercion
/// errors, get theirs here. It also puts `null` where a nullable field failed, as the GraphQL
/// specification asks (async-graphql leaves the field out).
struct ErrorCodesFactory;

impl ExtensionFactory for ErrorCodesFactory {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes::default())
    }
}

/// The per-request state of the extension: the paths of the nullable fields that failed.
#[derive(Default)]
struct ErrorCodes {
    failed_nullable: Mutex<Vec<Vec<PathSegment>>>,
}

fn with_code(mut e: ServerError, code: &str) -> ServerError {
    let ext = e.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", code);
    }
    e
}

/// Sets `null` at `path` in `data` when the field is missing and its parent is there.
fn put_null(data: &mut Value, path: &[PathSegment]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    if parents.is_empty() && *data == Value::Null {
        *data = Value::Object(Default::default());
    }
    let mut node = data;
    for segment in parents {
        node = match (segment, node) {
            (PathSegment::Field(name), Value::Object(map)) => match map.get_mut(name.as_str()) {
                Some(child) => child,
                None => return,
            },
            (PathSegment::Index(i), Value::List(items)) => match items.get_mut(*i) {
                Some(child) => child,
                None => return,
            },
            _ => return,
        };
    }
    if let (PathSegment::Field(name), Value::Object(map)) = (last, node) {
        map.entry(async_graphql::Name::new(name))
            .or_insert(Value::Null);
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|e| with_code(e, "GRAPHQL_PARSE_FAILED"))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| with_code(e, "GRAPHQL_VALIDATION_FAILED"))
                .collect()
        })
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        response.errors = std::mem::take(&mut response.errors)
            .into_iter()
            .map(|e| with_code(e, "INTERNAL_SERVER_ERROR"))
            .collect();
        let failed = std::mem::take(
            &mut *self
                .failed_nullable
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for path in failed {
            put_null(&mut response.data, &path);
        }
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let nullable = !info.return_type.ends_with('!');
        next.run(ctx, info).await.map_err(|e| {
            // Our resolvers always set a code; a bare error here is async-graphql refusing an
            // argument value (a variable of the wrong shape, an out-of-range number).
            let code = if e.message.starts_with("Failed to parse")
                || e.message.starts_with("Invalid value")
            {
                "BAD_USER_INPUT"
            } else {
                "INTERNAL_SERVER_ERROR"
            };
            if nullable && !e.path.is_empty() {
                self.failed_nullable
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(e.path.clone());
            }
            with_code(e, code)
        })
    }
}
