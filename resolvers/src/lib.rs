//! The GraphQL API of Passerelle, one module per domain noun.
//!
//! - [`mission`]: `missions` (filters, orders, facets), `mission`, the `Mission` type.
//! - [`organization`], [`publisher`], [`volunteer`], [`application`]: the other roots and types.
//! - [`import_run`]: `importRuns` and `Publisher.lastImport`, the record of feed imports.
//! - [`viewer`], [`stats`], [`audit`], [`diffusion`]: who is asking; aggregates for analysts;
//!   the audit log; diffusion rules and their admin mutation.
//! - [`scope`], [`policy`]: access control. Every row is read through the viewer's scope
//!   (`scope::find`, the loaders); every field is guarded by a rule of `policy`, denied when no
//!   rule names it.
//! - [`loader`], [`batch`]: the batched loading of every relation, nested pages in SQL, one
//!   batcher per request and viewer, dispatched with no timer.
//! - [`page`], [`cursor`]: Relay connections with opaque cursors; [`filter`]: list arguments,
//!   checked and normalised the same way everywhere.
//! - [`error`]: the one error type, with a stable `extensions.code`.
//! - [`sql`]: the parameterised SQL of geo and full-text search.
//!
//! The executable schema is assembled in the `passerelle-schema` crate.
use async_graphql::Context;
use passerelle_db::Reads;
use sea_orm::DatabaseConnection;

pub mod application;
pub mod audit;
pub mod batch;
pub mod counts;
pub mod cursor;
pub mod diffusion;
pub mod enums;
pub mod error;
pub mod filter;
pub mod import_run;
pub mod inline;
pub mod instant;
pub mod loader;
pub mod mission;
pub mod notification;
pub mod organization;
pub mod page;
pub mod policy;
pub mod publisher;
pub mod row_id;
pub mod scope;
pub mod selections;
pub mod sql;
pub mod stats;
pub mod viewer;
pub mod volunteer;
pub mod webhook;

pub use batch::Batcher;
pub use error::{ApiError, ApiResult};
pub use loader::DbLoader;

/// The pool the schema reads through (read-only on SQLite): queries, loaders, counts.
pub(crate) fn db<'a>(ctx: &Context<'a>) -> ApiResult<&'a DatabaseConnection> {
    ctx.data::<DatabaseConnection>()
        .map_err(|e| ApiError::internal("schema built without a database", &e.message))
}

/// How the schema's hot reads run (see `passerelle_db::Reads`); through the pool when the
/// schema was built without.
pub(crate) fn reads(ctx: &Context<'_>) -> Reads {
    ctx.data_opt::<Reads>().cloned().unwrap_or_default()
}

/// The pool that writes, in the schema's data beside the one it reads through: on SQLite its
/// one writing connection (see `passerelle_db::Pools`), on PostgreSQL the same pool.
#[derive(Debug, Clone)]
pub struct Writer(pub DatabaseConnection);

/// The pool mutations write through, and read through inside their transactions.
pub(crate) fn writer<'a>(ctx: &Context<'a>) -> ApiResult<&'a DatabaseConnection> {
    ctx.data::<Writer>()
        .map(|w| &w.0)
        .map_err(|e| ApiError::internal("schema built without a writer", &e.message))
}

/// The batched loaders of the request.
pub(crate) fn loaders<'a>(ctx: &Context<'a>) -> ApiResult<&'a Batcher<DbLoader>> {
    ctx.data::<Batcher<DbLoader>>()
        .map_err(|e| ApiError::internal("request prepared without loaders", &e.message))
}
