//! The gateway's one typed configuration: command-line flags and `PASSERELLE_*` environment
//! variables, over an optional TOML file, over defaults. Parsed once in `main`, passed down.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use passerelle_schema::{CostLimits, StaticLimits};

use crate::documents::PersistedMode;
use crate::ratelimit::{IpNet, RateLimits, RedisFailure};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The default database: a SQLite file in the working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://passerelle.db?mode=rwc";
/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Settings shared by every command; each may come from a flag, an environment variable or the
/// TOML file, in that order of precedence.
#[derive(Debug, Clone, Args, Default)]
pub struct SettingArgs {
    /// Optional TOML file with the settings below (snake_case keys).
    #[arg(long, global = true, env = "PASSERELLE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://FILE?mode=rwc or postgres://USER@HOST/DB [default: sqlite://passerelle.db?mode=rwc]
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Address the HTTP server listens on [default: 127.0.0.1:8080]
    #[arg(long, global = true, env = "PASSERELLE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Log format [default: human]
    #[arg(long, global = true, env = "PASSERELLE_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log filter, in tracing's EnvFilter syntax [default: info]
    #[arg(long, global = true, env = "PASSERELLE_LOG")]
    pub log: Option<String>,
    /// Largest request body accepted, in bytes [default: 1048576]
    #[arg(long, global = true, env = "PASSERELLE_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Deepest query nesting accepted [default: 16; GraphiQL's introspection query needs 14]
    #[arg(long, global = true, env = "PASSERELLE_MAX_DEPTH")]
    pub max_depth: Option<usize>,
    /// Largest query complexity accepted [default: 2000]
    #[arg(long, global = true, env = "PASSERELLE_MAX_COMPLEXITY")]
    pub max_complexity: Option<usize>,
    /// Connections in the database pool [default: 10 on PostgreSQL; on SQLite, two readers per
    /// core]
    #[arg(long, global = true, env = "PASSERELLE_DB_MAX_CONNECTIONS")]
    pub db_max_connections: Option<u32>,
    /// Time a GraphQL request may take before it is answered with an error, in seconds [default: 30]
    #[arg(long, global = true, env = "PASSERELLE_REQUEST_TIMEOUT_SECS")]
    pub request_timeout_secs: Option<u64>,
    /// GraphQL requests executed at once; the others wait their turn in arrival order
    /// [default: two per core on PostgreSQL, three on SQLite]
    #[arg(long, global = true, env = "PASSERELLE_MAX_CONCURRENT_REQUESTS")]
    pub max_concurrent_requests: Option<u32>,
    /// Largest partner feed accepted, in bytes after decompression [default: 209715200]
    #[arg(long, global = true, env = "PASSERELLE_FEED_MAX_BYTES")]
    pub feed_max_bytes: Option<u64>,
    /// Time a feed download may take, per attempt, in seconds [default: 300]
    #[arg(long, global = true, env = "PASSERELLE_FEED_TIMEOUT_SECS")]
    pub feed_timeout_secs: Option<u64>,
    /// Further attempts after a network error or a 5xx answer [default: 3]
    #[arg(long, global = true, env = "PASSERELLE_FEED_RETRIES")]
    pub feed_retries: Option<u32>,
    /// Fetch feeds from loopback and private addresses (development and tests only) [default: false]
    #[arg(long, global = true, env = "PASSERELLE_FEED_ALLOW_PRIVATE", value_parser = clap::builder::BoolishValueParser::new())]
    pub feed_allow_private: Option<bool>,
    /// Days a feed must be empty or failing before an empty feed deletes its missions [default: 7]
    #[arg(long, global = true, env = "PASSERELLE_EMPTY_FEED_GRACE_DAYS")]
    pub empty_feed_grace_days: Option<u32>,
    /// Base URL of the address geocoder (French address API interface), or "off" [default: https://data.geopf.fr/geocodage]
    #[arg(long, global = true, env = "PASSERELLE_GEOCODER_URL")]
    pub geocoder_url: Option<String>,
    /// Run each publisher's feed import on its schedule while serving [default: true]
    #[arg(long, global = true, env = "PASSERELLE_SCHEDULER", value_parser = clap::builder::BoolishValueParser::new())]
    pub scheduler: Option<bool>,
    /// HS256 secret of bearer tokens (development and tests; at least 32 bytes; better from the environment)
    #[arg(
        long,
        global = true,
        env = "PASSERELLE_JWT_SECRET",
        hide_env_values = true
    )]
    pub jwt_secret: Option<String>,
    /// JWKS URL of an OpenID Connect provider, for RS256/ES256 tokens (needs jwt_issuer and jwt_audience)
    #[arg(long, global = true, env = "PASSERELLE_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Issuer (`iss`) tokens must carry [default: passerelle]
    #[arg(long, global = true, env = "PASSERELLE_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Audience (`aud`) tokens must carry [default: passerelle]
    #[arg(long, global = true, env = "PASSERELLE_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Clock leeway on `exp` and `nbf`, in seconds, at most 300 [default: 30]
    #[arg(long, global = true, env = "PASSERELLE_JWT_LEEWAY_SECS")]
    pub jwt_leeway_secs: Option<u64>,
    /// Shortest time between two JWKS fetches caused by unknown key ids, in seconds [default: 30]
    #[arg(long, global = true, env = "PASSERELLE_JWKS_MIN_REFRESH_SECS")]
    pub jwks_min_refresh_secs: Option<u64>,
    /// How long fetched JWKS keys are used before they are fetched again, in seconds [default: 3600]
    #[arg(long, global = true, env = "PASSERELLE_JWKS_MAX_AGE_SECS")]
    pub jwks_max_age_secs: Option<u64>,
    /// Smallest count of volunteers or applications shown to analysts [default: 5]
    #[arg(long, global = true, env = "PASSERELLE_ANALYST_MIN_COUNT")]
    pub analyst_min_count: Option<i64>,
    /// Largest GraphQL document, in bytes [default: 32768]
    #[arg(long, global = true, env = "PASSERELLE_MAX_DOCUMENT_BYTES")]
    pub max_document_bytes: Option<usize>,
    /// Most lexical tokens in a document, counted before parsing [default: 5000]
    #[arg(long, global = true, env = "PASSERELLE_MAX_TOKENS")]
    pub max_tokens: Option<usize>,
    /// Most aliases in a document [default: 30]
    #[arg(long, global = true, env = "PASSERELLE_MAX_ALIASES")]
    pub max_aliases: Option<usize>,
    /// Most root fields in an operation [default: 20]
    #[arg(long, global = true, env = "PASSERELLE_MAX_ROOT_FIELDS")]
    pub max_root_fields: Option<usize>,
    /// Most directives on one field [default: 4]
    #[arg(long, global = true, env = "PASSERELLE_MAX_DIRECTIVES")]
    pub max_directives: Option<usize>,
    /// Largest query cost for anonymous callers; pages count their selection `first` times [default: 10000]
    #[arg(long, global = true, env = "PASSERELLE_MAX_COST")]
    pub max_cost: Option<u64>,
    /// Largest query cost for partners' keys [default: 20000]
    #[arg(long, global = true, env = "PASSERELLE_MAX_COST_PARTNER")]
    pub max_cost_partner: Option<u64>,
    /// Largest query cost for people signed in (but admins) [default: 20000]
    #[arg(long, global = true, env = "PASSERELLE_MAX_COST_USER")]
    pub max_cost_user: Option<u64>,
    /// Largest query cost for admins [default: 100000]
    #[arg(long, global = true, env = "PASSERELLE_MAX_COST_ADMIN")]
    pub max_cost_admin: Option<u64>,
    /// An origin whose pages may call the API from a browser, e.g. https://www.jeveuxaider.gouv.fr
    /// (repeat, or comma-separated in the environment) [default: none: same origin only]
    #[arg(
        long = "cors-origin",
        global = true,
        env = "PASSERELLE_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Option<Vec<String>>,
    /// Introspection: on, off-for-public (off for anonymous callers and partners' keys), or off [default: on]
    #[arg(long, global = true, env = "PASSERELLE_INTROSPECTION")]
    pub introspection: Option<Introspection>,
    /// Secret a federation router sends as `x-router-secret` to read `_service` when introspection is off
    #[arg(
        long,
        global = true,
        env = "PASSERELLE_ROUTER_SECRET",
        hide_env_values = true
    )]
    pub router_secret: Option<String>,
    /// Largest response body, in bytes; larger answers are replaced by an error [default: 10485760]
    #[arg(long, global = true, env = "PASSERELLE_MAX_RESPONSE_BYTES")]
    pub max_response_bytes: Option<usize>,
    /// Persisted documents: off, allowed, or required (anonymous callers, partners and people
    /// signed in run manifest documents only; analysts and admins may still explore)
    /// [default: allowed with a manifest, else off]
    #[arg(long, global = true, env = "PASSERELLE_PERSISTED_DOCUMENTS")]
    pub persisted_documents: Option<PersistedMode>,
    /// Manifest of trusted documents: Apollo's persisted query manifest, or a JSON map of id to
    /// document (Relay, GraphQL Code Generator)
    #[arg(
        long,
        global = true,
        env = "PASSERELLE_PERSISTED_DOCUMENTS_FILE",
        value_name = "FILE"
    )]
    pub persisted_documents_file: Option<PathBuf>,
    /// Documents kept for automatic persisted queries (Apollo's protocol); 0 turns them off [default: 1000]
    #[arg(long, global = true, env = "PASSERELLE_APQ_CACHE_ENTRIES")]
    pub apq_cache_entries: Option<usize>,
    /// Requests per minute from one client address without credentials (or with refused ones); 0: no limit [default: 600]
    #[arg(long, global = true, env = "PASSERELLE_RATE_LIMIT_ADDRESS")]
    pub rate_limit_address: Option<u32>,
    /// Requests per minute with one API key; 0: no limit [default: 3000]
    #[arg(long, global = true, env = "PASSERELLE_RATE_LIMIT_KEY")]
    pub rate_limit_key: Option<u32>,
    /// Requests per minute of one person signed in; 0: no limit [default: 1200]
    #[arg(long, global = true, env = "PASSERELLE_RATE_LIMIT_USER")]
    pub rate_limit_user: Option<u32>,
    /// Refused credentials per minute from one client address, after which its requests with credentials are refused unchecked; 0: no limit [default: 30]
    #[arg(long, global = true, env = "PASSERELLE_RATE_LIMIT_AUTH_FAILURES")]
    pub rate_limit_auth_failures: Option<u32>,
    /// A proxy (address or network, e.g. 10.0.0.0/8) whose X-Forwarded-For is believed
    /// (repeat, or comma-separated in the environment) [default: none]
    #[arg(
        long = "trusted-proxy",
        global = true,
        env = "PASSERELLE_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Option<Vec<String>>,
    /// Redis URL (redis://HOST:PORT/DB) where instances share their rate-limit buckets [default: none: in memory]
    #[arg(
        long,
        global = true,
        env = "PASSERELLE_REDIS_URL",
        hide_env_values = true
    )]
    pub redis_url: Option<String>,
    /// Prefix of Passerelle's Redis keys [default: passerelle:]
    #[arg(long, global = true, env = "PASSERELLE_REDIS_KEY_PREFIX")]
    pub redis_key_prefix: Option<String>,
    /// Time a rate-limit check may wait for Redis, in milliseconds [default: 200]
    #[arg(long, global = true, env = "PASSERELLE_REDIS_TIMEOUT_MS")]
    pub redis_timeout_ms: Option<u64>,
    /// While Redis cannot be reached: open (serve without a limit) or closed (503) [default: open]
    #[arg(long, global = true, env = "PASSERELLE_RATE_LIMIT_REDIS_FAILURE")]
    pub rate_limit_redis_failure: Option<RedisFailure>,
    /// Moderation: propose refusing a mission still waiting this many days after its creation; 0: off [default: 180]
    #[arg(long, global = true, env = "PASSERELLE_MODERATION_STALE_DAYS")]
    pub moderation_stale_days: Option<u32>,
    /// Moderation: propose refusing a mission that starts within this many days… (0: off) [default: 7]
    #[arg(long, global = true, env = "PASSERELLE_MODERATION_SOON_START_DAYS")]
    pub moderation_soon_start_days: Option<u32>,
    /// …and ends within this many (0: off) [default: 21]
    #[arg(long, global = true, env = "PASSERELLE_MODERATION_SOON_END_DAYS")]
    pub moderation_soon_end_days: Option<u32>,
    /// Moderation: ask for a correction of a description shorter than this, in characters; 0: off [default: 300]
    #[arg(
        long,
        global = true,
        env = "PASSERELLE_MODERATION_MIN_DESCRIPTION_CHARS"
    )]
    pub moderation_min_description_chars: Option<usize>,
    /// Moderation: a word or phrase a title or an organization's name may not hold (repeat, or comma-separated) [default: none]
    #[arg(
        long = "moderation-deny",
        global = true,
        env = "PASSERELLE_MODERATION_DENY_LIST",
        value_delimiter = ','
    )]
    pub moderation_deny_list: Option<Vec<String>>,
    /// Moderation: flag a title near-identical to one of the organization's validated missions [default: true]
    #[arg(long, global = true, env = "PASSERELLE_MODERATION_DUPLICATES", value_parser = clap::builder::BoolishValueParser::new())]
    pub moderation_duplicates: Option<bool>,
    /// How long counts and facets of mission lists are kept, in milliseconds; 0: not kept [default: 5000]
    #[arg(long, global = true, env = "PASSERELLE_COUNT_CACHE_MS")]
    pub count_cache_ms: Option<u64>,
    /// How long whole answers to anonymous and partner-key queries are kept and shared by the identical requests, in milliseconds; 0: not kept [default: 2000]
    #[arg(long, global = true, env = "PASSERELLE_RESPONSE_CACHE_MS")]
    pub response_cache_ms: Option<u64>,
    /// Most live applications (waiting, validated, in progress) a volunteer has at once [default: 15]
    #[arg(long, global = true, env = "PASSERELLE_MAX_LIVE_APPLICATIONS")]
    pub max_live_applications: Option<u32>,
    /// Send the outbox (emails, webhooks) while serving [default: true]
    #[arg(long, global = true, env = "PASSERELLE_OUTBOX", value_parser = clap::builder::BoolishValueParser::new())]
    pub outbox: Option<bool>,
    /// Attempts of an outbox message before it goes to the dead letters [default: 8]
    #[arg(long, global = true, env = "PASSERELLE_OUTBOX_MAX_ATTEMPTS")]
    pub outbox_max_attempts: Option<u32>,
    /// Wait before an outbox message's first retry, doubled at each next one (at most 6 hours), in milliseconds [default: 30000]
    #[arg(long, global = true, env = "PASSERELLE_OUTBOX_BACKOFF_MS")]
    pub outbox_backoff_ms: Option<u64>,
    /// How long a delivery worker holds the messages it claimed before another may take them, in seconds, at least 10; a send is given half of it [default: 60]
    #[arg(long, global = true, env = "PASSERELLE_OUTBOX_LEASE_SECS")]
    pub outbox_lease_secs: Option<u64>,
    /// How often an idle delivery worker looks for due messages, in milliseconds [default: 1000]
    #[arg(long, global = true, env = "PASSERELLE_OUTBOX_POLL_MS")]
    pub outbox_poll_ms: Option<u64>,
    /// SMTP server of emails, e.g. smtps://user:password@smtp.example.org (better from the environment); without it, emails are logged [default: none]
    #[arg(
        long,
        global = true,
        env = "PASSERELLE_SMTP_URL",
        hide_env_values = true
    )]
    pub smtp_url: Option<String>,
    /// Sender of emails [default: Passerelle <ne-pas-repondre@passerelle.localhost>]
    #[arg(long, global = true, env = "PASSERELLE_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Call webhooks on loopback and private addresses, and over plain HTTP (development and tests only) [default: false]
    #[arg(long, global = true, env = "PASSERELLE_WEBHOOK_ALLOW_PRIVATE", value_parser = clap::builder::BoolishValueParser::new())]
    pub webhook_allow_private: Option<bool>,
}

/// Who may introspect the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Introspection {
    /// Everyone (GraphiQL's docs, codegen tools).
    #[default]
    On,
    /// Not anonymous callers nor partners' keys; people signed in still may.
    OffForPublic,
    /// Nobody (the SDL stays available through `passerelle schema print`, and `_service` for a
    /// router that sends `x-router-secret`).
    Off,
}

/// The TOML file: the same settings, every one optional; unknown keys are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    database_url: Option<String>,
    listen: Option<SocketAddr>,
    log_format: Option<LogFormat>,
    log: Option<String>,
    max_body_bytes: Option<usize>,
    max_depth: Option<usize>,
    max_complexity: Option<usize>,
    db_max_connections: Option<u32>,
    request_timeout_secs: Option<u64>,
    max_concurrent_requests: Option<u32>,
    feed_max_bytes: Option<u64>,
    feed_timeout_secs: Option<u64>,
    feed_retries: Option<u32>,
    feed_allow_private: Option<bool>,
    empty_feed_grace_days: Option<u32>,
    geocoder_url: Option<String>,
    scheduler: Option<bool>,
    jwt_secret: Option<String>,
    jwks_url: Option<String>,
    jwt_issuer: Option<String>,
    jwt_audience: Option<String>,
    jwt_leeway_secs: Option<u64>,
    jwks_min_refresh_secs: Option<u64>,
    jwks_max_age_secs: Option<u64>,
    analyst_min_count: Option<i64>,
    max_document_bytes: Option<usize>,
    max_tokens: Option<usize>,
    max_aliases: Option<usize>,
    max_root_fields: Option<usize>,
    max_directives: Option<usize>,
    max_cost: Option<u64>,
    max_cost_partner: Option<u64>,
    max_cost_user: Option<u64>,
    max_cost_admin: Option<u64>,
    cors_origins: Option<Vec<String>>,
    introspection: Option<Introspection>,
    router_secret: Option<String>,
    max_response_bytes: Option<usize>,
    persisted_documents: Option<PersistedMode>,
    persisted_documents_file: Option<PathBuf>,
    apq_cache_entries: Option<usize>,
    rate_limit_address: Option<u32>,
    rate_limit_key: Option<u32>,
    rate_limit_user: Option<u32>,
    rate_limit_auth_failures: Option<u32>,
    trusted_proxies: Option<Vec<String>>,
    redis_url: Option<String>,
    redis_key_prefix: Option<String>,
    redis_timeout_ms: Option<u64>,
    rate_limit_redis_failure: Option<RedisFailure>,
    moderation_stale_days: Option<u32>,
    moderation_soon_start_days: Option<u32>,
    moderation_soon_end_days: Option<u32>,
    moderation_min_description_chars: Option<usize>,
    moderation_deny_list: Option<Vec<String>>,
    moderation_duplicates: Option<bool>,
    count_cache_ms: Option<u64>,
    response_cache_ms: Option<u64>,
    max_live_applications: Option<u32>,
    outbox: Option<bool>,
    outbox_max_attempts: Option<u32>,
    outbox_backoff_ms: Option<u64>,
    outbox_lease_secs: Option<u64>,
    outbox_poll_ms: Option<u64>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    webhook_allow_private: Option<bool>,
}

/// The sender of emails unless configured.
pub const DEFAULT_MAIL_FROM: &str = "Passerelle <ne-pas-repondre@passerelle.localhost>";

/// The public geocoder of the Géoplateforme (IGN), successor of api-adresse.data.gouv.fr.
pub const DEFAULT_GEOCODER_URL: &str = "https://data.geopf.fr/geocodage";

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: SecretString,
    pub listen: SocketAddr,
    pub log_format: LogFormat,
    pub log: String,
    pub max_body_bytes: usize,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub db_max_connections: u32,
    pub request_timeout_secs: u64,
    /// GraphQL requests executed at once (see `gate`).
    pub max_concurrent_requests: u32,
    pub feed_max_bytes: u64,
    pub feed_timeout_secs: u64,
    pub feed_retries: u32,
    pub feed_allow_private: bool,
    pub empty_feed_grace_days: u32,
    /// None when geocoding is off.
    pub geocoder_url: Option<String>,
    pub scheduler: bool,
    /// None: no HS256 tokens.
    pub jwt_secret: Option<SecretString>,
    /// None: no RS256/ES256 tokens.
    pub jwks_url: Option<String>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub jwt_leeway_secs: u64,
    pub jwks_min_refresh_secs: u64,
    pub jwks_max_age_secs: u64,
    pub analyst_min_count: i64,
    pub max_document_bytes: usize,
    pub max_tokens: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub max_directives: usize,
    pub max_cost: u64,
    pub max_cost_partner: u64,
    pub max_cost_user: u64,
    pub max_cost_admin: u64,
    /// Origins allowed to call the API from a browser (CORS), as `scheme://host[:port]`.
    pub cors_origins: Vec<String>,
    pub introspection: Introspection,
    pub router_secret: Option<SecretString>,
    pub max_response_bytes: usize,
    pub persisted_documents: PersistedMode,
    /// None: no manifest.
    pub persisted_documents_file: Option<PathBuf>,
    pub apq_cache_entries: usize,
    pub rate_limits: RateLimits,
    pub trusted_proxies: Vec<IpNet>,
    /// None: rate-limit buckets in memory.
    pub redis_url: Option<SecretString>,
    pub redis_key_prefix: String,
    pub redis_timeout_ms: u64,
    pub rate_limit_redis_failure: RedisFailure,
    pub moderation_stale_days: u32,
    pub moderation_soon_start_days: u32,
    pub moderation_soon_end_days: u32,
    pub moderation_min_description_chars: usize,
    pub moderation_deny_list: Vec<String>,
    pub moderation_duplicates: bool,
    pub count_cache_ms: u64,
    /// How long answers are kept (see `responses`); 0: not kept.
    pub response_cache_ms: u64,
    pub max_live_applications: u32,
    pub outbox: bool,
    pub outbox_max_attempts: u32,
    pub outbox_backoff_ms: u64,
    pub outbox_lease_secs: u64,
    pub outbox_poll_ms: u64,
    /// None: emails are logged, not sent.
    pub smtp_url: Option<SecretString>,
    pub mail_from: String,
    pub webhook_allow_private: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: SecretString::from(DEFAULT_DATABASE_URL),
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080))),
            log_format: LogFormat::Human,
            log: "info".into(),
            max_body_bytes: 1 << 20,
            max_depth: 16,
            max_complexity: 2_000,
            db_max_connections: default_db_max_connections(DEFAULT_DATABASE_URL),
            request_timeout_secs: 30,
            max_concurrent_requests: default_max_concurrent_requests(DEFAULT_DATABASE_URL),
            feed_max_bytes: passerelle_ingest::fetch::DEFAULT_MAX_BYTES,
            feed_timeout_secs: 300,
            feed_retries: 3,
            feed_allow_private: false,
            empty_feed_grace_days: 7,
            geocoder_url: Some(DEFAULT_GEOCODER_URL.to_owned()),
            scheduler: true,
            jwt_secret: None,
            jwks_url: None,
            jwt_issuer: crate::auth::jwt::DEFAULT_ISSUER.to_owned(),
            jwt_audience: crate::auth::jwt::DEFAULT_AUDIENCE.to_owned(),
            jwt_leeway_secs: 30,
            jwks_min_refresh_secs: 30,
            jwks_max_age_secs: 3600,
            analyst_min_count: 5,
            max_document_bytes: StaticLimits::default().max_document_bytes,
            max_tokens: StaticLimits::default().max_tokens,
            max_aliases: StaticLimits::default().max_aliases,
            max_root_fields: StaticLimits::default().max_root_fields,
            max_directives: StaticLimits::default().max_directives_per_field,
            max_cost: CostLimits::default().anonymous,
            max_cost_partner: CostLimits::default().partner,
            max_cost_user: CostLimits::default().user,
            max_cost_admin: CostLimits::default().admin,
            cors_origins: Vec::new(),
            introspection: Introspection::On,
            router_secret: None,
            max_response_bytes: 10 << 20,
            persisted_documents: PersistedMode::Off,
            persisted_documents_file: None,
            apq_cache_entries: 1_000,
            rate_limits: RateLimits::default(),
            trusted_proxies: Vec::new(),
            redis_url: None,
            redis_key_prefix: "passerelle:".to_owned(),
            redis_timeout_ms: 200,
            rate_limit_redis_failure: RedisFailure::Open,
            moderation_stale_days: 180,
            moderation_soon_start_days: 7,
            moderation_soon_end_days: 21,
            moderation_min_description_chars: 300,
            moderation_deny_list: Vec::new(),
            moderation_duplicates: true,
            count_cache_ms: 5_000,
            response_cache_ms: 2_000,
            max_live_applications: 15,
            outbox: true,
            outbox_max_attempts: 8,
            outbox_backoff_ms: 30_000,
            outbox_lease_secs: 60,
            outbox_poll_ms: 1_000,
            smtp_url: None,
            mail_from: DEFAULT_MAIL_FROM.to_owned(),
            webhook_allow_private: false,
        }
    }
}

/// The pool's size when none is set. A PostgreSQL server usually runs on its own machine, with
/// its own cores: 10 connections. A SQLite file's readers run on the gateway's cores, each on
/// its own thread, and a read rarely waits on the disk (the file is mapped): two per core, so
/// that the cores stay busy while a reader waits (a page fault, its rows' channel), and no more,
/// as more runnable threads than that only take turns (on 2 cores at 50 clients, 4 readers
/// served 22% more nested requests than 10, ahead in all 8 alternated rounds; see
/// docs/BENCHMARKS.md).
pub fn default_db_max_connections(database_url: &str) -> u32 {
    if database_url.starts_with("sqlite:") {
        per_core(2)
    } else {
        10
    }
}

/// Requests executed at once when none is set: two per core on PostgreSQL, three on SQLite. A
/// request spends part of its time waiting on the database, so that a core needs more than one
/// to stay busy; beyond that, more requests at once only interleave, each finishing later. On 2
/// cores at 50 clients, nested query: on PostgreSQL, 4 at once served more than 6 with a
/// shorter p99 in 5 alternated rounds of 5 (24.2-24.9 ms against 26.2-26.8; the database's
/// backends are threads of their own that the requests executing keep runnable), and 6 served
/// 9% more than no bound; on SQLite, whose statements run on the gateway's readers, 6 served 31%
/// more than no bound and 4 to 6 were within the rounds' noise (see docs/BENCHMARKS.md).
pub fn default_max_concurrent_requests(database_url: &str) -> u32 {
    if database_url.starts_with("sqlite:") {
        per_core(3)
    } else {
        per_core(2)
    }
}

/// `n` for each core this process may run on.
fn per_core(n: usize) -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    u32::try_from(n.saturating_mul(cores)).unwrap_or(u32::MAX)
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

impl Settings {
    /// Resolves flags and environment over the TOML file over defaults, and checks the values.
    ///
    /// # Errors
    /// An unreadable or invalid TOML file, or a value out of range, with what to fix.
    pub fn resolve(args: &SettingArgs) -> anyhow::Result<Settings> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let d = Settings::default();
        // Flag or environment, else the file, else the default.
        macro_rules! pick {
            ($field:ident) => {
                args.$field.or(file.$field).unwrap_or(d.$field)
            };
        }
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .map(SecretString::from)
            .unwrap_or(d.database_url);
        let max_concurrent_requests = args
            .max_concurrent_requests
            .or(file.max_concurrent_requests)
            .unwrap_or_else(|| default_max_concurrent_requests(database_url.expose_secret()));
        let mut s = Settings {
            listen: pick!(listen),
            log_format: pick!(log_format),
            log: args.log.clone().or(file.log).unwrap_or(d.log),
            max_body_bytes: pick!(max_body_bytes),
            max_depth: pick!(max_depth),
            max_complexity: pick!(max_complexity),
            db_max_connections: args
                .db_max_connections
                .or(file.db_max_connections)
                .unwrap_or_else(|| default_db_max_connections(database_url.expose_secret())),
            database_url,
            request_timeout_secs: pick!(request_timeout_secs),
            max_concurrent_requests,
            feed_max_bytes: pick!(feed_max_bytes),
            feed_timeout_secs: pick!(feed_timeout_secs),
            feed_retries: pick!(feed_retries),
            feed_allow_private: pick!(feed_allow_private),
            empty_feed_grace_days: pick!(empty_feed_grace_days),
            geocoder_url: match args.geocoder_url.clone().or(file.geocoder_url) {
                Some(url) if url.trim().eq_ignore_ascii_case("off") || url.trim().is_empty() => {
                    None
                }
                Some(url) => Some(url),
                None => d.geocoder_url,
            },
            scheduler: pick!(scheduler),
            jwt_secret: args
                .jwt_secret
                .clone()
                .or(file.jwt_secret)
                .filter(|s| !s.is_empty())
                .map(SecretString::from),
            jwks_url: args
                .jwks_url
                .clone()
                .or(file.jwks_url)
                .filter(|s| !s.is_empty()),
            jwt_issuer: args
                .jwt_issuer
                .clone()
                .or(file.jwt_issuer)
                .unwrap_or(d.jwt_issuer),
            jwt_audience: args
                .jwt_audience
                .clone()
                .or(file.jwt_audience)
                .unwrap_or(d.jwt_audience),
            jwt_leeway_secs: pick!(jwt_leeway_secs),
            jwks_min_refresh_secs: pick!(jwks_min_refresh_secs),
            jwks_max_age_secs: pick!(jwks_max_age_secs),
            analyst_min_count: pick!(analyst_min_count),
            max_document_bytes: pick!(max_document_bytes),
            max_tokens: pick!(max_tokens),
            max_aliases: pick!(max_aliases),
            max_root_fields: pick!(max_root_fields),
            max_directives: pick!(max_directives),
            max_cost: pick!(max_cost),
            max_cost_partner: pick!(max_cost_partner),
            max_cost_user: pick!(max_cost_user),
            max_cost_admin: pick!(max_cost_admin),
            cors_origins: args
                .cors_origins
                .clone()
                .or(file.cors_origins)
                .unwrap_or_default()
                .into_iter()
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            introspection: pick!(introspection),
            router_secret: args
                .router_secret
                .clone()
                .or(file.router_secret)
                .filter(|s| !s.is_empty())
                .map(SecretString::from),
            max_response_bytes: pick!(max_response_bytes),
            persisted_documents: PersistedMode::Off,
            persisted_documents_file: args
                .persisted_documents_file
                .clone()
                .or(file.persisted_documents_file),
            apq_cache_entries: pick!(apq_cache_entries),
            rate_limits: RateLimits {
                address: args
                    .rate_limit_address
                    .or(file.rate_limit_address)
                    .unwrap_or(d.rate_limits.address),
                key: args
                    .rate_limit_key
                    .or(file.rate_limit_key)
                    .unwrap_or(d.rate_limits.key),
                user: args
                    .rate_limit_user
                    .or(file.rate_limit_user)
                    .unwrap_or(d.rate_limits.user),
                auth_failures: args
                    .rate_limit_auth_failures
                    .or(file.rate_limit_auth_failures)
                    .unwrap_or(d.rate_limits.auth_failures),
            },
            trusted_proxies: args
                .trusted_proxies
                .clone()
                .or(file.trusted_proxies)
                .unwrap_or_default()
                .iter()
                .filter(|p| !p.trim().is_empty())
                .map(|p| p.parse::<IpNet>())
                .collect::<Result<_, _>>()
                .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?,
            redis_url: args
                .redis_url
                .clone()
                .or(file.redis_url)
                .filter(|s| !s.trim().is_empty())
                .map(SecretString::from),
            redis_key_prefix: args
                .redis_key_prefix
                .clone()
                .or(file.redis_key_prefix)
                .unwrap_or(d.redis_key_prefix),
            redis_timeout_ms: pick!(redis_timeout_ms),
            rate_limit_redis_failure: pick!(rate_limit_redis_failure),
            moderation_stale_days: pick!(moderation_stale_days),
            moderation_soon_start_days: pick!(moderation_soon_start_days),
            moderation_soon_end_days: pick!(moderation_soon_end_days),
            moderation_min_description_chars: pick!(moderation_min_description_chars),
            moderation_deny_list: args
                .moderation_deny_list
                .clone()
                .or(file.moderation_deny_list)
                .unwrap_or_default(),
            moderation_duplicates: pick!(moderation_duplicates),
            count_cache_ms: pick!(count_cache_ms),
            response_cache_ms: pick!(response_cache_ms),
            max_live_applications: pick!(max_live_applications),
            outbox: pick!(outbox),
            outbox_max_attempts: pick!(outbox_max_attempts),
            outbox_backoff_ms: pick!(outbox_backoff_ms),
            outbox_lease_secs: pick!(outbox_lease_secs),
            outbox_poll_ms: pick!(outbox_poll_ms),
            smtp_url: args
                .smtp_url
                .clone()
                .or(file.smtp_url)
                .map(SecretString::from),
            mail_from: args
                .mail_from
                .clone()
                .or(file.mail_from)
                .unwrap_or(d.mail_from),
            webhook_allow_private: pick!(webhook_allow_private),
        };
        // With a manifest, ids are served alongside text unless told otherwise.
        s.persisted_documents = args
            .persisted_documents
            .or(file.persisted_documents)
            .unwrap_or(if s.persisted_documents_file.is_some() {
                PersistedMode::Allowed
            } else {
                PersistedMode::Off
            });
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> anyhow::Result<()> {
        let url = self.database_url.expose_secret();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            bail!(
                "DATABASE_URL must start with sqlite: or postgres:// (got a URL of another kind)"
            );
        }
        if self.count_cache_ms > 60_000 {
            bail!("count_cache_ms must be at most 60000 (a minute)");
        }
        if self.response_cache_ms > 60_000 {
            bail!("response_cache_ms must be at most 60000 (a minute)");
        }
        if !(1..=100).contains(&self.max_live_applications) {
            bail!("max_live_applications must be between 1 and 100");
        }
        if !(1..=50).contains(&self.outbox_max_attempts) {
            bail!("outbox_max_attempts must be between 1 and 50");
        }
        if self.outbox_backoff_ms == 0 || self.outbox_poll_ms == 0 {
            bail!("outbox_backoff_ms and outbox_poll_ms must be at least 1");
        }
        if self.outbox_lease_secs < 10 {
            bail!("outbox_lease_secs must be at least 10 (a send may take half of it)");
        }
        if let Some(url) = &self.smtp_url
            && !(url.expose_secret().starts_with("smtp://")
                || url.expose_secret().starts_with("smtps://"))
        {
            bail!("smtp_url must start with smtp:// or smtps://");
        }
        if self.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            bail!(
                "mail_from must be an address, e.g. \"Passerelle <ne-pas-repondre@example.org>\""
            );
        }
        if self.max_body_bytes < 1024 {
            bail!("max_body_bytes must be at least 1024");
        }
        if self.max_depth == 0 || self.max_complexity == 0 {
            bail!("max_depth and max_complexity must be at least 1");
        }
        if self.db_max_connections == 0 {
            bail!("db_max_connections must be at least 1");
        }
        if self.request_timeout_secs == 0 {
            bail!("request_timeout_secs must be at least 1");
        }
        if self.max_concurrent_requests == 0 {
            bail!("max_concurrent_requests must be at least 1");
        }
        if self.feed_max_bytes < 1024 {
            bail!("feed_max_bytes must be at least 1024");
        }
        if self.feed_timeout_secs == 0 {
            bail!("feed_timeout_secs must be at least 1");
        }
        if self.feed_retries > 10 {
            bail!("feed_retries must be at most 10");
        }
        if let Some(url) = &self.geocoder_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("geocoder_url must be an http:// or https:// URL, or \"off\"");
        }
        if let Some(secret) = &self.jwt_secret
            && secret.expose_secret().len() < 32
        {
            bail!("jwt_secret must be at least 32 bytes (e.g. `openssl rand -hex 32`)");
        }
        if let Some(url) = &self.jwks_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("jwks_url must be an http:// or https:// URL");
            }
            if self.jwt_issuer == crate::auth::jwt::DEFAULT_ISSUER
                || self.jwt_audience == crate::auth::jwt::DEFAULT_AUDIENCE
            {
                bail!(
                    "jwks_url needs jwt_issuer and jwt_audience: the provider's issuer and the audience it gives Passerelle's tokens"
                );
            }
        }
        if self.jwt_issuer.trim().is_empty() || self.jwt_audience.trim().is_empty() {
            bail!("jwt_issuer and jwt_audience must not be empty");
        }
        if self.jwt_leeway_secs > crate::auth::jwt::MAX_LEEWAY_SECS {
            bail!(
                "jwt_leeway_secs must be at most {}",
                crate::auth::jwt::MAX_LEEWAY_SECS
            );
        }
        if self.jwks_max_age_secs == 0 {
            bail!("jwks_max_age_secs must be at least 1");
        }
        if self.analyst_min_count < 1 {
            bail!("analyst_min_count must be at least 1");
        }
        if self.max_document_bytes < 64 || self.max_tokens < 8 || self.max_root_fields == 0 {
            bail!(
                "max_document_bytes must be at least 64, max_tokens at least 8, max_root_fields at least 1"
            );
        }
        for origin in &self.cors_origins {
            let valid = url::Url::parse(origin).ok().is_some_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.path() == "/"
                    && u.query().is_none()
                    && u.username().is_empty()
            });
            if !valid {
                bail!(
                    "cors_origins: {origin:?} is not an origin like https://www.example.org (no path, no *)"
                );
            }
        }
        match (self.persisted_documents, &self.persisted_documents_file) {
            (PersistedMode::Allowed | PersistedMode::Required, None) => bail!(
                "persisted_documents allowed or required needs persisted_documents_file (a manifest)"
            ),
            (PersistedMode::Off, Some(_)) => bail!(
                "persisted_documents_file is set but persisted_documents is off: drop one of them"
            ),
            _ => {}
        }
        if let Some(url) = &self.redis_url {
            let url = url.expose_secret();
            if !(url.starts_with("redis://") || url.starts_with("rediss://"))
                || redis::Client::open(url).is_err()
            {
                bail!("redis_url must be a URL like redis://127.0.0.1:6379/0");
            }
        }
        if !(1..=10_000).contains(&self.redis_timeout_ms) {
            bail!("redis_timeout_ms must be 1 to 10000");
        }
        if self.max_response_bytes < 1024 {
            bail!("max_response_bytes must be at least 1024");
        }
        if let Some(secret) = &self.router_secret
            && secret.expose_secret().len() < 16
        {
            bail!("router_secret must be at least 16 bytes");
        }
        if [
            self.max_cost,
            self.max_cost_partner,
            self.max_cost_user,
            self.max_cost_admin,
        ]
        .contains(&0)
        {
            bail!(
                "max_cost, max_cost_partner, max_cost_user and max_cost_admin must be at least 1"
            );
        }
        Ok(())
    }

    /// What one GraphQL request may ask.
    pub fn limits(&self) -> passerelle_schema::Limits {
        passerelle_schema::Limits {
            max_depth: self.max_depth,
            max_complexity: self.max_complexity,
            analyst_min_count: self.analyst_min_count,
            static_limits: StaticLimits {
                max_document_bytes: self.max_document_bytes,
                max_tokens: self.max_tokens,
                max_aliases: self.max_aliases,
                max_root_fields: self.max_root_fields,
                max_directives_per_field: self.max_directives,
            },
            cost: CostLimits {
                anonymous: self.max_cost,
                partner: self.max_cost_partner,
                user: self.max_cost_user,
                admin: self.max_cost_admin,
            },
        }
    }

    /// The rate limiter these settings describe.
    ///
    /// # Errors
    /// The Redis URL cannot be used.
    pub fn rate_limiter(&self) -> anyhow::Result<crate::ratelimit::RateLimiter> {
        let redis = self
            .redis_url
            .as_ref()
            .map(|url| crate::ratelimit::RedisSettings {
                url: url.expose_secret().to_owned(),
                prefix: self.redis_key_prefix.clone(),
                timeout: Duration::from_millis(self.redis_timeout_ms),
                failure: self.rate_limit_redis_failure,
            });
        crate::ratelimit::RateLimiter::new(self.rate_limits, redis)
    }

    /// The persisted documents these settings describe, the manifest read from its file.
    ///
    /// # Errors
    /// The manifest cannot be read or is invalid.
    pub fn document_store(&self) -> anyhow::Result<crate::documents::DocumentStore> {
        let manifest = match &self.persisted_documents_file {
            Some(path) => crate::documents::Manifest::load(path)?,
            None => crate::documents::Manifest::default(),
        };
        Ok(crate::documents::DocumentStore::new(
            self.persisted_documents,
            manifest,
            self.apq_cache_entries,
        ))
    }

    /// The automatic moderation rules.
    pub fn moderation_rules(&self) -> passerelle_schema::ModerationRules {
        passerelle_schema::ModerationRules {
            stale_days: i64::from(self.moderation_stale_days),
            soon_start_days: i64::from(self.moderation_soon_start_days),
            soon_end_days: i64::from(self.moderation_soon_end_days),
            min_description_chars: self.moderation_min_description_chars,
            duplicates: self.moderation_duplicates,
            ..Default::default()
        }
        .with_deny_list(&self.moderation_deny_list)
    }

    /// The schema's rules: moderation, the applications' workflow, the cache of counts.
    pub fn schema_rules(&self) -> passerelle_schema::Rules {
        passerelle_schema::Rules {
            moderation: self.moderation_rules(),
            applications: passerelle_resolvers::application::ApplicationRules {
                max_live_applications: self.max_live_applications,
                allow_private_webhooks: self.webhook_allow_private,
            },
            count_cache_ttl: Some(Duration::from_millis(self.count_cache_ms)),
        }
    }

    /// How bearer tokens are checked.
    pub fn jwt_settings(&self) -> crate::auth::jwt::JwtSettings {
        crate::auth::jwt::JwtSettings {
            secret: self.jwt_secret.clone(),
            jwks_url: self.jwks_url.clone(),
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
            leeway: Duration::from_secs(self.jwt_leeway_secs),
            jwks_min_refresh: Duration::from_secs(self.jwks_min_refresh_secs),
            jwks_max_age: Duration::from_secs(self.jwks_max_age_secs),
        }
    }

    /// How feed imports fetch, delete and geocode.
    ///
    /// # Errors
    /// The geocoder cannot be set up.
    pub fn run_options(&self) -> anyhow::Result<passerelle_ingest::run::RunOptions> {
        use passerelle_ingest::fetch::FetchOptions;
        let geocoder = self
            .geocoder_url
            .as_deref()
            .map(|url| {
                passerelle_ingest::geocode::Geocoder::new(url, Duration::from_secs(60))
                    .context("invalid geocoder_url")
            })
            .transpose()?;
        Ok(passerelle_ingest::run::RunOptions {
            fetch: FetchOptions {
                max_bytes: self.feed_max_bytes,
                timeout: Duration::from_secs(self.feed_timeout_secs),
                retries: self.feed_retries,
                allow_private: self.feed_allow_private,
                ..FetchOptions::default()
            },
            empty_feed_grace: chrono::Duration::days(i64::from(self.empty_feed_grace_days)),
            geocoder,
        })
    }

    /// The database URL with any password hidden, for logs and messages.
    pub fn database_display(&self) -> String {
        redact_url(self.database_url.expose_secret())
    }
}

pub use passerelle_db::redact_url;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_displayed_urls() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/p"),
            "postgres://app:***@db:5432/p"
        );
        assert_eq!(redact_url("postgres://app@db/p"), "postgres://app@db/p");
        assert_eq!(
            redact_url("sqlite://passerelle.db?mode=rwc"),
            "sqlite://passerelle.db?mode=rwc"
        );
    }

    #[test]
    fn the_pool_is_two_readers_per_core_on_sqlite_and_ten_connections_on_postgresql() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let readers = u32::try_from(2 * cores).expect("cores");
        let resolve = |url: Option<&str>, size: Option<u32>| {
            Settings::resolve(&SettingArgs {
                database_url: url.map(str::to_owned),
                db_max_connections: size,
                ..Default::default()
            })
        };
        let size = |url, size| resolve(url, size).expect("valid").db_max_connections;
        assert_eq!(size(None, None), readers, "the embedded default is SQLite");
        assert_eq!(size(Some("sqlite:///tmp/p.db?mode=rwc"), None), readers);
        assert_eq!(size(Some("postgres://app@db/p"), None), 10);
        assert_eq!(size(Some("postgresql://app@db/p"), None), 10);
        assert_eq!(size(Some("postgres://app@db/p"), Some(3)), 3);
        assert_eq!(size(Some("sqlite:///tmp/p.db?mode=rwc"), Some(7)), 7);
        assert_eq!(Settings::default().db_max_connections, readers);
        let refused = resolve(Some("sqlite:///tmp/p.db?mode=rwc"), Some(0))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            refused.as_deref(),
            Some("db_max_connections must be at least 1")
        );
    }

    #[test]
    fn requests_at_once_are_two_or_three_per_core_unless_set_and_never_zero() {
        let cores = u32::try_from(std::thread::available_parallelism().map_or(1, |n| n.get()))
            .expect("cores");
        // The embedded default is SQLite: three per core; PostgreSQL two.
        assert_eq!(Settings::default().max_concurrent_requests, 3 * cores);
        let on = |url: &str| {
            Settings::resolve(&SettingArgs {
                database_url: Some(url.to_owned()),
                ..Default::default()
            })
            .expect("valid")
            .max_concurrent_requests
        };
        assert_eq!(on("postgres://u@127.0.0.1:5432/db"), 2 * cores);
        assert_eq!(on("sqlite:///tmp/p.db?mode=rwc"), 3 * cores);
        let dir = std::env::temp_dir().join(format!("passerelle-gate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let file = dir.join("p.toml");
        std::fs::write(&file, "max_concurrent_requests = 4\n").ok();
        let resolve = |flag: Option<u32>| {
            Settings::resolve(&SettingArgs {
                config: Some(file.clone()),
                max_concurrent_requests: flag,
                ..Default::default()
            })
        };
        assert_eq!(resolve(None).expect("valid").max_concurrent_requests, 4);
        assert_eq!(resolve(Some(9)).expect("valid").max_concurrent_requests, 9);
        let refused = resolve(Some(0)).err().map(|e| e.to_string());
        assert_eq!(
            refused.as_deref(),
            Some("max_concurrent_requests must be at least 1")
        );
        std::fs::write(&file, "max_concurrent_requests = -1\n").ok();
        let err = resolve(None).expect_err("a negative bound is refused");
        assert!(
            format!("{err:#}").contains("max_concurrent_requests"),
            "{err:#}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn flags_win_over_the_file_and_unknown_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("passerelle-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let file = dir.join("p.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nmax_depth = 7\n").ok();
        let args = SettingArgs {
            config: Some(file.clone()),
            max_depth: Some(9),
            ..Default::default()
        };
        let s = Settings::resolve(&args).expect("valid file");
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.max_depth, 9);
        std::fs::write(
            &file,
            "rate_limit_key = 50\ntrusted_proxies = [\"10.0.0.0/8\"]\nredis_url = \"redis://127.0.0.1:6379/1\"\nrate_limit_redis_failure = \"closed\"\napq_cache_entries = 0\n",
        )
        .ok();
        let s = Settings::resolve(&args).expect("valid file");
        assert_eq!(s.rate_limits.key, 50);
        assert_eq!(s.rate_limits.address, RateLimits::default().address);
        assert_eq!(s.trusted_proxies, vec!["10.0.0.0/8".parse().expect("net")]);
        assert_eq!(s.rate_limit_redis_failure, RedisFailure::Closed);
        assert_eq!(s.apq_cache_entries, 0);
        assert_eq!(s.persisted_documents, PersistedMode::Off);
        std::fs::write(&file, "persisted_documents_file = \"m.json\"\n").ok();
        let s = Settings::resolve(&args).expect("valid file");
        assert_eq!(
            s.persisted_documents,
            PersistedMode::Allowed,
            "a manifest alone means allowed"
        );
        std::fs::write(&file, "trusted_proxies = [\"10.0.0.0/40\"]\n").ok();
        let err = Settings::resolve(&args).expect_err("bad network refused");
        assert!(format!("{err:#}").contains("trusted_proxies"), "{err:#}");
        std::fs::write(&file, "lisen = \"127.0.0.1:9000\"\n").ok();
        let err = Settings::resolve(&args).expect_err("typo refused");
        assert!(format!("{err:#}").contains("unknown field"), "{err:#}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
