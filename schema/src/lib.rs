//! Assembles Passerelle's executable GraphQL schema from the domain resolvers: the merged query
//! and mutation roots, the request limits, Apollo Federation v2, the field access rules and the
//! error codes. [`prepare`] gives a request its viewer and its own loaders.
//!
//! `schema/schema.graphql` beside this crate is the committed contract; a test compares it with
//! [`sdl`] and tells the command that updates it.
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{
    EmptySubscription, MergedObject, Request, Response, SDLExportOptions, Schema, ServerError,
    ValidationMode, Value,
};
pub use passerelle_db::Pools;
use passerelle_db::Reads;
use passerelle_entities::access::{Kind, Viewer};
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
use passerelle_resolvers::publisher::PublisherQuery;
use passerelle_resolvers::scope::ClientAddress;
use passerelle_resolvers::selections::Selections;
use passerelle_resolvers::stats::{StatsQuery, StatsSettings};
use passerelle_resolvers::viewer::ViewerQuery;
use passerelle_resolvers::volunteer::{GdprMutation, VolunteerQuery};
use passerelle_resolvers::webhook::{WebhookMutation, WebhookQuery};
use passerelle_resolvers::{DbLoader, Writer};
use sea_orm::DatabaseConnection;
use std::sync::Arc;

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

/// The schema as async-graphql executes it.
type Executable = Schema<Query, Mutation, EmptySubscription>;

/// The executable schema, built three times over the same data: with no extension, for the
/// requests whose every field the viewer may read; the same without the validation rules but
/// depth and complexity, for those of them whose document is known to be valid
/// ([`parsed::Parse::validated`]); and with the per-field [`guard::Guard`] for the others (see
/// [`guard`]). [`PasserelleSchema::execute`] checks the limits, picks one, and shapes the
/// response.
#[derive(Clone)]
pub struct PasserelleSchema {
    plain: Executable,
    validated: Executable,
    guarded: Executable,
    limits: Limits,
    /// The parses of the documents that passed the limits, shared by every clone of the schema.
    documents: Arc<parsed::ParsedDocuments>,
}

mod guard;
pub mod limits;
mod parsed;

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

/// Builds the schema over one database pool, with the default rules.
pub fn build(db: DatabaseConnection, limits: Limits) -> PasserelleSchema {
    build_with(Pools::shared(db), limits, Rules::default())
}

/// Builds the schema over its pools (queries read through `read`, mutations write through
/// `write`), with its rules.
pub fn build_with(pools: Pools, limits: Limits, rules: Rules) -> PasserelleSchema {
    // One cache for both: a mutation run on either empties it for both.
    let counts = Arc::new(CountCache::new(
        rules
            .count_cache_ttl
            .unwrap_or(passerelle_resolvers::counts::DEFAULT_TTL),
    ));
    let executable = |guarded: bool, validation: ValidationMode| {
        let mut builder = Schema::build_with_ignore_name_conflicts(
            Query::default(),
            Mutation::default(),
            EmptySubscription,
            SCALARS_OF_TWO_TYPES,
        )
        .enable_federation()
        .validation_mode(validation)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity);
        // The guard's extension checks every field: the guarded schema resolves every object
        // through async-graphql; the other resolves lists' objects inline (no extension may
        // watch its fields).
        builder = if guarded {
            builder.extension(guard::GuardFactory)
        } else {
            builder.data(passerelle_resolvers::inline::InlineObjects(true))
        };
        builder
            .data(pools.read.clone())
            .data(pools.reads.clone())
            .data(Writer(pools.write.clone()))
            .data(limits)
            .data(StatsSettings {
                analyst_min_count: limits.analyst_min_count,
            })
            .data(rules.moderation.clone())
            .data(rules.applications)
            .data(counts.clone())
            .finish()
    };
    PasserelleSchema {
        plain: executable(false, ValidationMode::Strict),
        // Async-graphql's fast mode computes depth and complexity (and refuses fragment
        // cycles) but checks none of the rules a document once passed.
        validated: executable(false, ValidationMode::Fast),
        guarded: executable(true, ValidationMode::Strict),
        limits,
        documents: Arc::default(),
    }
}

impl PasserelleSchema {
    /// Runs a request (given its viewer, loaders and exposure by [`prepare`]; without a viewer,
    /// as an anonymous caller). Before it runs: the document's size and tokens, its parse, its
    /// aliases, root fields, directives and cost against the viewer's budget; then it runs on
    /// the plain schema or the guarded one ([`parsed::Parse::needs_guard`]), and its response
    /// is shaped by [`guard::finish`].
    pub async fn execute(&self, request: impl Into<Request>) -> Response {
        let mut request = request.into();
        let (kind, parse) = match self.admit(&mut request) {
            Ok(admitted) => admitted,
            Err(refused) => return Response::from_errors(vec![refused]),
        };
        let doc = &parse.document;
        let validated = parse.validated();
        let schema = if parse.needs_guard(&COST_MODEL, kind) {
            &self.guarded
        } else if validated {
            &self.validated
        } else {
            &self.plain
        };
        let operation_name = request.operation_name.clone();
        let mut response = schema.execute(request).await;
        let op = guard::operation(doc, operation_name.as_deref());
        // A mutation's author reads counts that include it.
        if op.is_some_and(|op| op.node.ty == OperationType::Mutation)
            && let Some(cache) = self.plain.data::<Arc<CountCache>>()
        {
            cache.invalidate();
        }
        guard::finish(&COST_MODEL, doc, op, &mut response);
        if !validated && !has_code(&response, "GRAPHQL_VALIDATION_FAILED") {
            parse.passed_validation();
        }
        response
    }

    /// The checks before a request runs: its text's size and tokens, its parse (kept in the
    /// request; a document that passed before is not parsed again, see [`parsed`]), its
    /// aliases, root fields, directives and cost against its viewer's budget. Gives the
    /// viewer's kind and the document, or the error that refuses it.
    fn admit(&self, request: &mut Request) -> Result<(Kind, Arc<parsed::Parse>), ServerError> {
        limits::check_text(&request.query, &self.limits.static_limits).map_err(guard::refused)?;
        let kind = request
            .data
            .get(&std::any::TypeId::of::<Viewer>())
            .and_then(|v| v.downcast_ref::<Viewer>())
            .map_or(Kind::Anonymous, |v| v.access.kind());
        let kept = self.documents.get(&request.query);
        let parse = match &kept {
            Some(parse) => {
                request.set_parsed_query(ExecutableDocument::clone(&parse.document));
                parse.clone()
            }
            None => match request.parsed_query() {
                Ok(doc) => parsed::Parse::new(Arc::new(doc.clone())),
                Err(e) => return Err(guard::with_code(e, "GRAPHQL_PARSE_FAILED")),
            },
        };
        COST_MODEL
            .check(
                &parse.document,
                &request.variables,
                &self.limits.static_limits,
                self.limits.cost.of(kind),
            )
            .map_err(guard::refused)?;
        if kept.is_none() {
            self.documents.keep(&request.query, parse.clone());
        }
        Ok((kind, parse))
    }

    /// A value the schema was built with.
    pub fn data<D: std::any::Any + Send + Sync>(&self) -> Option<&D> {
        self.plain.data::<D>()
    }
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
/// no batch mixes two viewers. Its fields' selections are worked out once each
/// ([`Selections`]). Run the request under [`passerelle_resolvers::batch::drive`]
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
    let reads = schema.data::<Reads>().cloned().unwrap_or_default();
    let loaders = Batcher::new(DbLoader::new(db, reads, Arc::new(viewer.access.clone())));
    let idle = loaders.idle();
    let mut request = request
        .data(viewer)
        .data(loaders)
        .data(Selections::default())
        .data(exposure);
    if let Some(address) = address {
        request = request.data(ClientAddress(address));
    }
    (request, idle)
}

/// Marks a request to be parsed, checked against the limits and validated, but not run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ValidateOnly;

/// The errors a document would get before it runs: parse errors, the limits (with the
/// anonymous cost budget, the strictest), and validation against the schema. Nothing is
/// executed, so no database is needed.
pub async fn check_document(schema: &PasserelleSchema, document: &str) -> Vec<ServerError> {
    let mut request = Request::new(document);
    let parse = match schema.admit(&mut request) {
        Ok((_, parse)) => parse,
        Err(refused) => return vec![refused],
    };
    // The guarded schema stops a request marked so before it runs.
    let mut response = schema.guarded.execute(request.data(ValidateOnly)).await;
    guard::finish(&COST_MODEL, &parse.document, None, &mut response);
    response.errors
}

/// The schema's shapes, for the cost of requests and the walks of [`guard`]: read once, from
/// its own SDL.
static COST_MODEL: std::sync::LazyLock<limits::CostModel> =
    std::sync::LazyLock::new(|| limits::CostModel::from_sdl(&sdl()));

/// Scalars that two Rust types stand for: `DateTime` is async-graphql's `DateTime<Utc>` where
/// the API reads one and `passerelle_resolvers::instant::Instant` where the objects a response
/// holds many of write one, the same scalar (`instant::tests` checks that both say the same).
const SCALARS_OF_TWO_TYPES: [&str; 1] = ["DateTime"];

/// The SDL of the schema as a federation router composes it (with `@key` and `@link`).
pub fn sdl() -> String {
    Schema::build_with_ignore_name_conflicts(
        Query::default(),
        Mutation::default(),
        EmptySubscription,
        SCALARS_OF_TWO_TYPES,
    )
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
        && REQUEST_ERROR_CODES
            .iter()
            .any(|code| has_code(response, code))
}

/// Whether an error of `response` has the code `code`.
fn has_code(response: &Response, code: &str) -> bool {
    response.errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .is_some_and(|c| matches!(c, Value::String(s) if s == code))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(errors: &[ServerError]) -> Option<String> {
        errors[0]
            .extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .map(|c| c.to_string())
    }

    /// A document without variables is validated on its first run only, and answers the same
    /// after; one with variables has their values checked on every request.
    #[tokio::test]
    async fn validation_is_kept_for_documents_without_variables_only() {
        let schema = build(DatabaseConnection::default(), Limits::default());
        let constant = "{ __typename a: __typename }";
        let first = schema.execute(Request::new(constant)).await;
        assert!(first.errors.is_empty(), "{:?}", first.errors);
        assert!(schema.documents.get(constant).expect("kept").validated());
        let again = schema.execute(Request::new(constant)).await;
        assert_eq!(again.data, first.data);
        assert!(again.errors.is_empty(), "{:?}", again.errors);

        let invalid = "{ __typename nosuchfield }";
        for _ in 0..2 {
            let response = schema.execute(Request::new(invalid)).await;
            assert!(
                has_code(&response, "GRAPHQL_VALIDATION_FAILED"),
                "{response:?}"
            );
            assert!(!schema.documents.get(invalid).expect("kept").validated());
        }

        let variable = "query ($name: String!) { __type(name: $name) { name } }";
        let with = |name: serde_json::Value| {
            Request::new(variable).variables(async_graphql::Variables::from_json(
                serde_json::json!({ "name": name }),
            ))
        };
        for _ in 0..2 {
            // Valid, then refused for its value: the validation ran again.
            let named = schema.execute(with(serde_json::json!("Mission"))).await;
            assert!(named.errors.is_empty(), "{:?}", named.errors);
            let refused = schema.execute(with(serde_json::json!(42))).await;
            assert!(
                has_code(&refused, "GRAPHQL_VALIDATION_FAILED"),
                "{refused:?}"
            );
            assert!(!schema.documents.get(variable).expect("kept").validated());
        }
    }

    /// Only a document that parsed and passed the limits is kept, and a kept one is still
    /// validated, every time.
    #[tokio::test]
    async fn only_admitted_documents_are_kept_and_every_request_is_still_validated() {
        let schema = build(DatabaseConnection::default(), Limits::default());
        let cheap = "{ missions(first: 2) { nodes { title } } }";
        assert!(check_document(&schema, cheap).await.is_empty());
        assert!(schema.documents.get(cheap).is_some());

        let broken = "{ missions(first: 2) { nodes { title } }";
        let errors = check_document(&schema, broken).await;
        assert_eq!(code(&errors).as_deref(), Some("\"GRAPHQL_PARSE_FAILED\""));
        assert!(schema.documents.get(broken).is_none());

        let costly = "{ missions(first: 100) { nodes { addresses { city street lat lon } organization { missions(first: 100) { nodes { id title } } } } } }";
        let errors = check_document(&schema, costly).await;
        assert_eq!(
            code(&errors).as_deref(),
            Some("\"GRAPHQL_VALIDATION_FAILED\"")
        );
        assert!(schema.documents.get(costly).is_none());

        let unknown = "{ missions(first: 2) { nodes { nosuchfield } } }";
        for _ in 0..2 {
            let errors = check_document(&schema, unknown).await;
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].message.contains("nosuchfield"), "{errors:?}");
            // Parsed and within the limits: kept, then validated again from the kept parse.
            assert!(schema.documents.get(unknown).is_some());
        }
    }
}
