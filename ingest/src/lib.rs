//! Partner feed import.
//!
//! - [`feed`]: a streaming reader of API Engagement XML feeds: one mission at a time, memory
//!   flat whatever the feed size; entity declarations refused; declared encodings decoded.
//! - [`normalize`]: turns a feed mission into typed values (domains from slugs or labels,
//!   yes/no flags, dates, lon/lat in either order, organization ids) and the reasons it is
//!   refused, with the same rules as every other way missions arrive
//!   (`passerelle_entities::rules`).
//!
//! - [`import`]: applies a feed to the database in one transaction: create, update, leave
//!   unchanged, refuse, soft-delete.
//!
//! - [`run`]: one import run, recorded in `import_runs` whether it succeeded or failed.
//!
//! Not here yet (see the issue notes): fetching over HTTP, geocoding, the scheduler, GraphQL.
pub mod feed;
pub mod import;
pub mod normalize;
pub mod run;
