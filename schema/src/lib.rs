//! Assembles Passerelle's executable GraphQL schema from the domain resolvers: the merged query
//! and mutation roots, the request limits, Apollo Federation v2, the field access rules and the
//! error codes. [`prepare`] gives a request its viewer and its own loaders.
//!
//! `schema/schema.graphql` beside this crate is the committed contract; a test compares it with
//! [`sdl`] and tells the command that updates it.
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
    NextResolve, NextValidation, ResolveInfo,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{
    EmptySubscription, MergedObject, PathSegment, Request, Response, SDLExportOptions, Schema,
    ServerError, ServerResult, ValidationResult, Value, Variables,
};
use passerelle_entities::access::Viewer;
use passerelle_resolvers::DbLoader;
use passerelle_resolvers::application::{ApplicationMutation, ApplicationQuery, ApplicationRules};
use passerelle_resolvers::audit::AuditQuery;
use passerelle_resolvers::batch::{Batcher, Idle};
use passerelle_resolvers::counts::CountCache;
use passerelle_resolvers::diffusion::DiffusionMutation;
use passerelle_resolvers::import_run::ImportRunQuery;
pub use passerelle_resolvers::mission::ModerationRules;
use passerelle_resolvers::mission::{
    MissionMutation, MissionPushMutation, MissionQuery, PublisherModerationMutation,
};
use passerelle_resolvers::notification::{NotificationMutation, NotificationQuery};
use passerelle_resolvers::organization::OrganizationQuery;
use passerelle_resolvers::policy;
use passerelle_resolvers::publisher::PublisherQuery;
use passerelle_resolvers::scope::ClientAddress;
use passerelle_resolvers::stats::{StatsQuery, StatsSettings};
use passerelle_resolvers::viewer::ViewerQuery;
use passerelle_resolvers::volunteer::{GdprMutation, VolunteerQuery};
use passerelle_resolvers::webhook::{WebhookMutation, WebhookQuery};
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The query root: every domain's queries, merged.
#[derive(MergedObject, Default)]
pub struct Query(
    MissionQuery,
    OrganizationQuery,
    PublisherQuery,
    VolunteerQuery,
    ApplicationQuery,
    ImportRunQuery,
    ViewerQuery,
    StatsQuery,
    AuditQuery,
    NotificationQuery,
    WebhookQuery,
);

/// The mutation root.
#[derive(MergedObject, Default)]
pub struct Mutation(
    DiffusionMutation,
    MissionMutation,
    MissionPushMutation,
    PublisherModerationMutation,
    ApplicationMutation,
    NotificationMutation,
    WebhookMutation,
    GdprMutation,
);

/// The executable schema.
pub type PasserelleSchema = Schema<Query, Mutation, EmptySubscription>;

pub mod limits;

pub use limits::{CostLimits, StaticLimits};

/// Bounds on what one GraphQL request may ask.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The deepest selection nesting accepted.
    pub max_depth: usize,
    /// The most fields (weighted by async-graphql's complexity) one request may select.
    pub max_complexity: usize,
    /// The smallest count of volunteers or applications shown to analysts.
    pub analyst_min_count: i64,
    /// Document size, tokens, aliases, root fields, directives.
    pub static_limits: StaticLimits,
    /// The cost budget by kind of viewer.
    pub cost: CostLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 16,
            max_complexity: 2_000,
            analyst_min_count: StatsSettings::default().analyst_min_count,
            static_limits: StaticLimits::default(),
            cost: CostLimits::default(),
        }
    }
}

/// The rules and caches of the schema beyond its limits.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// The automatic moderation rules.
    pub moderation: ModerationRules,
    /// The applications' workflow and partners' webhooks.
    pub applications: ApplicationRules,
    /// How long counts and facets are kept (zero: not at all); see
    /// `passerelle_resolvers::counts`. `None`: the default, 5 seconds.
    pub count_cache_ttl: Option<std::time::Duration>,
}

/// Builds the schema over a database pool, with the default rules.
pub fn build(db: DatabaseConnection, limits: Limits) -> PasserelleSchema {
    build_with(db, limits, Rules::default())
}

/// Builds the schema over a database pool, with its rules.
pub fn build_with(db: DatabaseConnection, limits: Limits, rules: Rules) -> PasserelleSchema {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .enable_federation()
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .extension(GuardFactory)
        .data(db)
        .data(limits)
        .data(StatsSettings {
            analyst_min_count: limits.analyst_min_count,
        })
        .data(rules.moderation)
        .data(rules.applications)
        .data(CountCache::new(
            rules
                .count_cache_ttl
                .unwrap_or(passerelle_resolvers::counts::DEFAULT_TTL),
        ))
        .finish()
}

/// What of the schema itself a request may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exposure {
    /// `__schema` and `__type`.
    pub introspection: bool,
    /// `_service { sdl }`, which federation routers read.
    pub service_sdl: bool,
}

impl Default for Exposure {
    fn default() -> Self {
        Exposure {
            introspection: true,
            service_sdl: true,
        }
    }
}

/// Gives a request its viewer, the address it came from (for the audit log), what of the schema
/// it may read, and loaders of its own: every batch a loader runs is scoped to this viewer, and
/// no batch mixes two viewers. Run the request under [`passerelle_resolvers::batch::drive`]
/// with the [`Idle`] returned, so that its batches run as soon as it has nothing else to do.
pub fn prepare(
    schema: &PasserelleSchema,
    request: Request,
    viewer: Viewer,
    address: Option<String>,
    exposure: Exposure,
) -> (Request, Arc<Idle>) {
    let db = schema
        .data::<DatabaseConnection>()
        .cloned()
        .unwrap_or_default();
    let loaders = Batcher::new(DbLoader::new(db, Arc::new(viewer.access.clone())));
    let idle = loaders.idle();
    let mut request = request.data(viewer).data(loaders).data(exposure);
    if let Some(address) = address {
        request = request.data(ClientAddress(address));
    }
    (request, idle)
}

/// Marks a request to be parsed, checked against the limits and validated, but not run.
#[derive(Debug, Clone, Copy)]
struct ValidateOnly;

/// The errors a document would get before it runs: parse errors, the limits (with the
/// anonymous cost budget, the strictest), and validation against the schema. Nothing is
/// executed, so no database is needed.
pub async fn check_document(schema: &PasserelleSchema, document: &str) -> Vec<ServerError> {
    schema
        .execute(Request::new(document).data(ValidateOnly))
        .await
        .errors
}

/// The SDL of the schema as a federation router composes it (with `@key` and `@link`).
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
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

/// Guards every field with its access rule ([`policy`]): a field the viewer's kind may not
/// read is `FORBIDDEN`, before its resolver runs. Gives every error a stable `extensions.code`,
/// by the phase it came from: our own errors already carry one; async-graphql's parse and
/// validation errors, and its argument coercion errors, get theirs here. It also puts `null`
/// where a nullable field failed, as the GraphQL specification asks (async-graphql leaves the
/// field out). One extension does both, so that each field is wrapped once.
struct GuardFactory;

impl ExtensionFactory for GuardFactory {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Guard::default())
    }
}

/// The per-request state of the extension: the paths of the nullable fields that failed, and
/// the document, whose selections give the order of the response's fields.
#[derive(Default)]
struct Guard {
    failed_nullable: Mutex<Vec<Vec<PathSegment>>>,
    document: Mutex<Option<ExecutableDocument>>,
}

/// The response keys of selection sets, in document order, through fragments (each once per
/// level), with the sub-selections each key merges.
fn response_keys<'d>(
    doc: &'d ExecutableDocument,
    sets: &[&'d SelectionSet],
    keys: &mut Vec<(&'d str, Vec<&'d SelectionSet>)>,
    seen_fragments: &mut Vec<&'d str>,
) {
    for set in sets {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    let key = f.node.response_key().node.as_str();
                    let sub = &f.node.selection_set.node;
                    match keys.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, subs)) => subs.push(sub),
                        None => keys.push((key, vec![sub])),
                    }
                }
                Selection::InlineFragment(i) => {
                    response_keys(doc, &[&i.node.selection_set.node], keys, seen_fragments);
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if seen_fragments.contains(&name) {
                        continue;
                    }
                    seen_fragments.push(name);
                    if let Some(f) = doc.fragments.get(&spread.node.fragment_name.node) {
                        response_keys(doc, &[&f.node.selection_set.node], keys, seen_fragments);
                    }
                }
            }
        }
    }
}

/// The response keys of selection sets and their sub-selections, computed once per distinct
/// selection (every item of a list, every parent of a nested object, shares its selection).
type Keys<'d> = Vec<(&'d str, Vec<&'d SelectionSet>)>;

/// Puts the fields of every object in `data` in the order the selections ask them (async-graphql
/// lists an object's fields in the order they finished resolving). Keys the selections do not
/// name stay after, as they were. The walk follows the response, so it costs what the response
/// costs to write; each selection's keys are worked out once.
fn reorder<'d>(
    doc: &'d ExecutableDocument,
    sets: &[&'d SelectionSet],
    data: &mut Value,
    known: &mut HashMap<Vec<*const SelectionSet>, Keys<'d>>,
) {
    let id: Vec<*const SelectionSet> = sets.iter().map(|s| *s as *const _).collect();
    let keys = known.entry(id).or_insert_with(|| {
        let mut keys = Vec::new();
        response_keys(doc, sets, &mut keys, &mut Vec::new());
        keys
    });
    // The entry is only read below; clone its few references to let the walk fill the cache.
    let keys = keys.clone();
    put_in_order(doc, &keys, data, known);
}

fn put_in_order<'d>(
    doc: &'d ExecutableDocument,
    keys: &Keys<'d>,
    data: &mut Value,
    known: &mut HashMap<Vec<*const SelectionSet>, Keys<'d>>,
) {
    match data {
        Value::List(items) => items
            .iter_mut()
            .for_each(|i| put_in_order(doc, keys, i, known)),
        Value::Object(map) => {
            let mut rest = std::mem::take(map);
            for (key, subs) in keys {
                if let Some((k, mut v)) = rest.shift_remove_entry(*key) {
                    if subs.iter().any(|s| !s.items.is_empty()) {
                        reorder(doc, subs, &mut v, known);
                    }
                    map.insert(k, v);
                }
            }
            map.extend(rest);
        }
        _ => {}
    }
}

impl Guard {
    fn remember_if_nullable(&self, nullable: bool, e: &ServerError) {
        if nullable && !e.path.is_empty() {
            self.failed_nullable
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(e.path.clone());
        }
    }
}

/// The schema's shapes, for the cost of requests: read once, from its own SDL.
static COST_MODEL: std::sync::LazyLock<limits::CostModel> =
    std::sync::LazyLock::new(|| limits::CostModel::from_sdl(&sdl()));

/// The kind of the request's viewer; anonymous when the request has none.
fn viewer_kind(ctx: &ExtensionContext<'_>) -> passerelle_entities::access::Kind {
    ctx.data_opt::<Viewer>()
        .map_or(passerelle_entities::access::Kind::Anonymous, |v| {
            v.access.kind()
        })
}

/// A request over one of [`limits`]: refused before it runs, with the limit, the value and the
/// maximum in `extensions`.
fn refused(over: limits::OverLimit) -> ServerError {
    let mut e = ServerError::new(over.message(), None);
    let ext = e.extensions.get_or_insert_with(Default::default);
    ext.set("code", "GRAPHQL_VALIDATION_FAILED");
    ext.set("limit", over.limit);
    if over.limit == "cost" {
        ext.set("cost", over.value);
    } else {
        ext.set("value", over.value);
    }
    ext.set("max", over.max);
    e
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
impl Extension for Guard {
    /// Errors raised before parsing, validation or execution had their say (an unknown
    /// `operationName`, a missing operation) are the request's: refused before it ran.
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        let refused = response.data == Value::Null;
        response.errors = std::mem::take(&mut response.errors)
            .into_iter()
            .map(|e| {
                with_code(
                    e,
                    if refused {
                        "GRAPHQL_VALIDATION_FAILED"
                    } else {
                        "INTERNAL_SERVER_ERROR"
                    },
                )
            })
            .collect();
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let limits = ctx.data_opt::<Limits>().copied().unwrap_or_default();
        limits::check_text(query, &limits.static_limits).map_err(refused)?;
        let doc = next
            .run(ctx, query, variables)
            .await
            .map_err(|e| with_code(e, "GRAPHQL_PARSE_FAILED"))?;
        COST_MODEL
            .check(
                &doc,
                variables,
                &limits.static_limits,
                limits.cost.of(viewer_kind(ctx)),
            )
            .map_err(refused)?;
        *self.document.lock().unwrap_or_else(|e| e.into_inner()) = Some(doc.clone());
        Ok(doc)
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
        if ctx.data_opt::<ValidateOnly>().is_some() {
            return Response::new(Value::Object(Default::default()));
        }
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
        let document = self
            .document
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(doc) = document {
            let operation = match operation_name {
                Some(wanted) => doc
                    .operations
                    .iter()
                    .find(|(n, _)| n.is_some_and(|n| n.as_str() == wanted)),
                None => doc.operations.iter().next(),
            };
            if let Some((_, op)) = operation {
                // A mutation's author reads counts that include it.
                if op.node.ty == async_graphql::parser::types::OperationType::Mutation
                    && let Some(cache) = ctx.data_opt::<CountCache>()
                {
                    cache.invalidate();
                }
                reorder(
                    &doc,
                    &[&op.node.selection_set.node],
                    &mut response.data,
                    &mut HashMap::new(),
                );
            }
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
        let hidden = info.parent_type == "Query"
            && matches!(info.name, "__schema" | "__type" | "_service")
            && {
                let exposure = ctx.data_opt::<Exposure>().copied().unwrap_or_default();
                if info.name == "_service" {
                    !exposure.service_sdl
                } else {
                    !exposure.introspection
                }
            };
        if hidden || !policy::allows(viewer_kind(ctx), info.parent_type, info.name) {
            if policy::field_access(info.parent_type, info.name).is_none() {
                tracing::warn!(
                    graphql.type = info.parent_type,
                    graphql.field = info.name,
                    "a field without an access rule was denied; add one in resolvers/src/policy.rs"
                );
            }
            let mut e = ServerError::new(
                format!(
                    "{}.{} is not readable with these credentials",
                    info.parent_type, info.name
                ),
                None,
            );
            e.path = info
                .path_node
                .to_string_vec()
                .into_iter()
                .map(|s| match s.parse::<usize>() {
                    Ok(i) => PathSegment::Index(i),
                    Err(_) => PathSegment::Field(s),
                })
                .collect();
            let e = with_code(e, "FORBIDDEN");
            self.remember_if_nullable(nullable, &e);
            return Err(e);
        }
        next.run(ctx, info).await.map_err(|e| {
            // Every error of our resolvers carries a code by construction (`ApiError` has no
            // `Display`, so `?` cannot make a bare one). A bare error here comes from
            // async-graphql refusing what the request sent: an argument of the wrong shape, an
            // out-of-range number, an `_entities` representation without a known `__typename`.
            self.remember_if_nullable(nullable, &e);
            with_code(e, "BAD_USER_INPUT")
        })
    }
}
