//! The Passerelle gateway: everything the `passerelle` binary does, as a library, so that tests
//! drive the real server.
//!
//! - [`config`]: the typed configuration (flags, environment, TOML file).
//! - [`auth`]: who is asking (API keys, bearer tokens, users), once per request; [`diffusion`]:
//!   the `diffusion` command over diffuseurs' rules; [`audit`]: the `audit` command.
//! - [`db`]: connecting and migrating.
//! - [`server`]: routes, state, graceful shutdown; [`graphql`]: GraphQL over HTTP; [`gate`]:
//!   the bound on requests executing at once; [`graphiql`]: the offline GraphiQL page.
//! - [`seed`]: deterministic demo data; [`publishers`]: registering partners and their feeds;
//!   [`imports`]: feed imports from the command line and on schedule; [`lifecycle`]: missions
//!   archived once ended.
//! - [`documents`]: persisted documents (a manifest, automatic persisted queries);
//!   [`ratelimit`]: rate limits per key, user and address, in memory or Redis.
//! - [`telemetry`]: log output; [`testing`]: fresh databases for tests and benchmarks.
pub mod audit;
pub mod auth;
pub mod config;
pub mod db;
pub mod diffusion;
pub mod documents;
pub mod encode;
pub mod gate;
pub mod graphiql;
pub mod graphql;
pub mod imports;
pub mod lifecycle;
pub mod outbox;
pub mod publishers;
pub mod ratelimit;
pub mod responses;
pub mod seed;
mod seed_data;
pub mod server;
pub mod telemetry;
pub use passerelle_db::testing;
