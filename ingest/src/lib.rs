//! Partner feed import.
//!
//! - [`fetch`]: fetching a feed over HTTP: bounded, retried, conditional, never to private
//!   addresses unless allowed; the body lands in a temporary file.
//! - [`feed`]: a streaming reader of API Engagement XML feeds: one mission at a time, memory
//!   flat whatever the feed size; entity declarations refused; declared encodings decoded.
//! - [`normalize`]: turns a feed mission into typed values (domains from slugs or labels,
//!   yes/no flags, dates, lon/lat in either order, organization ids) and the reasons it is
//!   refused, with the same rules as every other way missions arrive
//!   (`passerelle_entities::rules`).
//! - [`import`]: applies a feed to the database in one transaction, under the publisher's
//!   import lock: create, update, leave unchanged, refuse, soft-delete.
//! - [`geocode`]: coordinates for addresses without them: the French address API's batch
//!   interface, and an offline table of commune centroids.
//! - [`run`]: one import run (fetch, import, geocode), recorded in `import_runs` whether it
//!   succeeded or failed.
//! - [`sample`]: a generator of large feeds, for benchmarks and tests.
pub mod feed;
pub mod fetch;
pub mod geocode;
pub mod import;
pub mod normalize;
pub mod run;
pub mod sample;

/// Makes ring the process's TLS crypto provider for HTTP clients (once; a provider installed
/// earlier by the embedding program is kept). reqwest is built without a provider of its own
/// (aws-lc would double the build time): any program or test that builds a `reqwest::Client`
/// calls this first.
pub fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
