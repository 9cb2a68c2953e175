//! The `passerelle` command: parses the command line, sets up logs, and calls the library.
use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use passerelle::auth::{keys, tokens, users};
use passerelle::config::{SettingArgs, Settings};
use passerelle::{
    audit, db, diffusion, documents, imports, outbox, publishers, seed, server, telemetry,
};
use passerelle_entities::OutboxStatus;
use passerelle_entities::audit_entry::Actor;
use passerelle_ingest::run::Source;
use sea_orm::EntityTrait;
use secrecy::ExposeSecret;

/// mimalloc: a third of the server's time under load went to glibc's malloc and free (perf,
/// docs/BENCHMARKS.md); mimalloc's per-thread pages take most of it back.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Passerelle: one GraphQL gateway for civic engagement in France.
#[derive(Debug, Parser)]
#[command(name = "passerelle", version, about)]
struct Cli {
    #[command(flatten)]
    settings: SettingArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server: GraphQL at /graphql, GraphiQL at /.
    Serve {
        /// Migrate the database and, if it is empty, fill it with demo data first.
        #[arg(long)]
        demo: bool,
        /// Missions in the demo data.
        #[arg(long, default_value_t = seed::DEFAULT_MISSIONS, requires = "demo")]
        missions: u64,
    },
    /// Manage the database schema.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Fill an empty database with data.
    Seed {
        /// Deterministic demo data (the only kind for now).
        #[arg(long, required = true)]
        demo: bool,
        /// Missions to create, up to 1,000,000.
        #[arg(long, default_value_t = seed::DEFAULT_MISSIONS, value_parser = clap::value_parser!(u64).range(1..=seed::MAX_MISSIONS))]
        missions: u64,
    },
    /// Partner platforms and their feeds.
    Publisher {
        #[command(subcommand)]
        action: PublisherAction,
    },
    /// Import a publisher's feed (its own URL by default), or every publisher's with --all.
    Import {
        /// The publisher's name, as `publisher list` shows it.
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        publisher: Option<String>,
        /// Fetch the feed from this URL instead of the publisher's.
        #[arg(long, conflicts_with = "file")]
        url: Option<String>,
        /// Read the feed from this file (an XML feed in the API Engagement format).
        #[arg(long, value_name = "PATH")]
        file: Option<std::path::PathBuf>,
        /// Import the feed of every publisher that has one, one after the other.
        #[arg(long, conflicts_with_all = ["url", "file"])]
        all: bool,
    },
    /// The GraphQL schema.
    Schema {
        #[command(subcommand)]
        action: SchemaAction,
    },
    /// Publishers' API keys: make one (shown once), list them, revoke one.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// People who sign in with a token, and their role.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Mint a development token for a user, signed with the HS256 jwt_secret.
    Token {
        /// The user's email, as `users list` shows it.
        #[arg(long)]
        user: String,
        /// How long the token is valid: 30m, 1h, 7d (at most 30 days).
        #[arg(long, default_value = "1h", value_parser = parse_ttl)]
        ttl: i64,
    },
    /// What a diffuseur's API key shows of other publishers' missions.
    Diffusion {
        #[command(subcommand)]
        action: DiffusionAction,
    },
    /// Persisted documents: check a manifest, or write one from a directory of operations.
    Documents {
        #[command(subcommand)]
        action: DocumentsAction,
    },
    /// The outbox of emails and webhook calls: list them, or queue failed ones again.
    Outbox {
        #[command(subcommand)]
        action: OutboxAction,
    },
    /// The audit log: admin actions, keys, users, tokens and diffusion rules, newest first.
    Audit {
        /// How many entries to show.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        limit: u64,
    },
}

#[derive(Debug, Subcommand)]
enum OutboxAction {
    /// The newest messages, with their status, attempts and last error.
    List {
        /// Only messages in this status.
        #[arg(long, value_parser = ["pending", "sent", "dead"])]
        status: Option<String>,
        /// How many messages to show.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        limit: u64,
    },
    /// Queue messages again (pending, due now, attempts reset): these ids, or every dead
    /// letter with --dead.
    Retry {
        /// Outbox message ids.
        ids: Vec<i64>,
        /// Every dead letter.
        #[arg(long, conflicts_with = "ids")]
        dead: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DocumentsAction {
    /// Check a manifest (Apollo's format, or a JSON map of id to document): every document
    /// parses, fits the limits and is valid against the schema; every SHA-256 id is its
    /// document's.
    Check {
        /// The manifest file.
        file: std::path::PathBuf,
    },
    /// Print the Apollo persisted query manifest of a directory's `.graphql` files (one
    /// operation each).
    Manifest {
        /// The directory, e.g. examples/queries.
        dir: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum KeysAction {
    /// Make a key for a publisher and print it, once: only its hash is kept.
    Create {
        /// The publisher's name, as `publisher list` shows it.
        #[arg(long)]
        publisher: String,
        /// What the key is for, e.g. "site web" or "import nightly".
        #[arg(long)]
        label: Option<String>,
    },
    /// List keys: prefix, publisher, label, created, last used, revoked (never the key).
    List {
        /// Only this publisher's keys.
        #[arg(long)]
        publisher: Option<String>,
    },
    /// Revoke a key by its prefix; the next request with it is refused.
    Revoke {
        /// The key's prefix (`pk_…`, as `keys list` shows it).
        prefix: String,
    },
}

#[derive(Debug, Subcommand)]
enum UsersAction {
    /// Add a user with a role and the scope the role needs.
    Add {
        #[arg(long)]
        email: String,
        /// VOLUNTEER, STRUCTURE_STAFF, REFERENT_DEPARTMENT, REFERENT_REGION, PARTNER_STAFF,
        /// ANALYST or ADMIN.
        #[arg(long, value_parser = passerelle::auth::users::parse_role)]
        role: passerelle_entities::Role,
        /// REFERENT_DEPARTMENT: the department code.
        #[arg(long)]
        department: Option<String>,
        /// REFERENT_REGION: the region's name.
        #[arg(long)]
        region: Option<String>,
        /// STRUCTURE_STAFF: the organization's id.
        #[arg(long)]
        organization: Option<i64>,
        /// PARTNER_STAFF: the publisher's name.
        #[arg(long)]
        publisher: Option<String>,
        /// VOLUNTEER: the volunteer's id.
        #[arg(long)]
        volunteer: Option<i64>,
        /// The identity provider's `sub` for this person, to match tokens by it rather than by
        /// their email.
        #[arg(long)]
        subject: Option<String>,
    },
    /// List users: id, email, role, scope.
    List,
    /// Remove a user: their tokens are refused from the next request on.
    Remove {
        #[arg(long)]
        email: String,
    },
}

// Parsed once per run: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum DiffusionAction {
    /// Show a diffuseur's rules.
    Show {
        #[arg(long)]
        diffuseur: String,
    },
    /// Replace a diffuseur's rules with those given (none: it shows only its own missions).
    Set {
        #[arg(long)]
        diffuseur: String,
        #[command(flatten)]
        rules: diffusion::RuleArgs,
    },
}

#[derive(Debug, Subcommand)]
enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Roll back the last migrations.
    Down {
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        steps: u32,
    },
    /// List the migrations and whether each is applied.
    Status,
    /// Drop everything and apply every migration: an empty database.
    Fresh,
}

#[derive(Debug, Subcommand)]
enum PublisherAction {
    /// Register a publisher, with its feed if it has one.
    Add {
        #[arg(long)]
        name: String,
        /// The feed's URL (http or https).
        #[arg(long)]
        feed_url: Option<String>,
        /// Basic-auth user of the feed.
        #[arg(long, requires = "feed_url")]
        feed_user: Option<String>,
        /// Basic-auth password of the feed (better from the environment); never printed.
        #[arg(
            long,
            env = "PASSERELLE_FEED_PASSWORD",
            hide_env_values = true,
            requires = "feed_user"
        )]
        feed_password: Option<String>,
        /// How often `serve` imports the feed: 30m, 6h, 1d, 3600s.
        #[arg(long, value_parser = parse_every, requires = "feed_url")]
        every: Option<i64>,
    },
    /// List the publishers and their feeds (credentials are never shown).
    List,
}

/// Reads a period such as `30m`, `6h`, `1d` or `3600s` into seconds (at least a minute).
fn parse_every(text: &str) -> Result<i64, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a period like 30m, 6h or 1d"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" | "" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    if seconds < 60 {
        return Err("the period must be at least one minute".to_owned());
    }
    Ok(seconds)
}

/// Reads a token lifetime such as `30m`, `1h` or `7d` into seconds (a minute to 30 days).
fn parse_ttl(text: &str) -> Result<i64, String> {
    let seconds = parse_every(text)?;
    if seconds > 30 * 86_400 {
        return Err("a token lives at most 30 days".to_owned());
    }
    Ok(seconds)
}

#[derive(Debug, Subcommand)]
enum SchemaAction {
    /// Print the SDL (with Apollo Federation directives) to standard output.
    Print,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    passerelle_ingest::install_tls_provider();
    let settings = match Settings::resolve(&cli.settings) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format, &settings.log);
    // Before any connection: SQLite takes its memory methods only before its first use.
    if let Err(e) = passerelle_sqlite_memory::use_global_allocator() {
        tracing::warn!("SQLite keeps the C library's allocator: {e}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Who is at the command line, as the audit log records it.
fn cli_actor() -> Actor {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    Actor::cli(&user)
}

/// Prints the demo's credentials, and a token per demo user when a secret can sign them.
/// Written to standard output without failing when it is closed (`serve | head -1`).
fn print_demo_credentials(
    credentials: &seed::DemoCredentials,
    settings: &Settings,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if !credentials.keys.is_empty() {
        let _ = writeln!(
            out,
            "Demo API keys (shown once; send one as the x-api-key header):"
        );
        for (publisher, key) in &credentials.keys {
            let _ = writeln!(out, "  {publisher}: {}", key.expose_secret());
        }
    }
    if credentials.users.is_empty() {
        return Ok(());
    }
    let _ = writeln!(
        out,
        "Demo users (send a token as the header Authorization: Bearer TOKEN):"
    );
    for u in &credentials.users {
        match &settings.jwt_secret {
            Some(secret) => {
                let token = tokens::mint_for(
                    secret,
                    &settings.jwt_issuer,
                    &settings.jwt_audience,
                    &u.email,
                    None,
                    12 * 3600,
                )?;
                let _ = writeln!(
                    out,
                    "  {} ({}, {}): {token}",
                    u.email,
                    u.role.as_str(),
                    u.scope
                );
            }
            None => {
                let _ = writeln!(out, "  {} ({}, {})", u.email, u.role.as_str(), u.scope);
            }
        }
    }
    if settings.jwt_secret.is_none() {
        let _ = writeln!(
            out,
            "  set PASSERELLE_JWT_SECRET (32 bytes or more) and run `passerelle token --user EMAIL` for a token"
        );
    }
    Ok(())
}

async fn run(command: Command, mut settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Schema {
            action: SchemaAction::Print,
        } => {
            print!("{}", passerelle_schema::sdl());
            Ok(())
        }
        Command::Documents {
            action: DocumentsAction::Check { file },
        } => {
            let (count, problems) = documents::check(&file, settings.limits()).await?;
            if problems.is_empty() {
                println!("{count} documents, all valid");
                return Ok(());
            }
            for p in &problems {
                eprintln!("{p}");
            }
            anyhow::bail!("{} problems in {count} documents", problems.len())
        }
        Command::Documents {
            action: DocumentsAction::Manifest { dir },
        } => {
            let manifest = documents::Manifest::from_directory(&dir)?;
            let _ = std::io::stdout().lock().write_all(manifest.as_bytes());
            Ok(())
        }
        Command::Keys { action } => {
            let conn = db::connect(&settings.database_url, 2).await?;
            db::migrate_up(&conn).await?;
            match action {
                KeysAction::Create { publisher, label } => {
                    let k = keys::create(&conn, &publisher, label, &cli_actor()).await?;
                    println!("{}", k.key.expose_secret());
                    eprintln!(
                        "key {} made for {publisher}: store it now, it is not shown again",
                        k.prefix
                    );
                }
                KeysAction::List { publisher } => {
                    for line in keys::list(&conn, publisher.as_deref()).await? {
                        println!("{line}");
                    }
                }
                KeysAction::Revoke { prefix } => {
                    keys::revoke(&conn, &prefix, &cli_actor()).await?;
                    println!("revoked {prefix}");
                }
            }
            Ok(())
        }
        Command::Users { action } => {
            let conn = db::connect(&settings.database_url, 2).await?;
            db::migrate_up(&conn).await?;
            match action {
                UsersAction::Add {
                    email,
                    role,
                    department,
                    region,
                    organization,
                    publisher,
                    volunteer,
                    subject,
                } => {
                    let scope = users::ScopeArgs {
                        department,
                        region,
                        organization,
                        publisher,
                        volunteer,
                    };
                    let u = users::add(&conn, &email, role, scope, subject, &cli_actor()).await?;
                    println!("added user {} ({}, id {})", u.email, u.role.as_str(), u.id);
                }
                UsersAction::List => {
                    for line in users::list(&conn).await? {
                        println!("{line}");
                    }
                }
                UsersAction::Remove { email } => {
                    users::remove(&conn, &email, &cli_actor()).await?;
                    println!("removed {email}");
                }
            }
            Ok(())
        }
        Command::Token { user, ttl } => {
            let Some(secret) = settings.jwt_secret.clone() else {
                anyhow::bail!(
                    "minting a token needs jwt_secret (PASSERELLE_JWT_SECRET), the one the server checks tokens with"
                );
            };
            let conn = db::connect(&settings.database_url, 2).await?;
            db::migrate_up(&conn).await?;
            let token = tokens::mint(&conn, &secret, &settings, &user, ttl, &cli_actor()).await?;
            println!("{token}");
            Ok(())
        }
        Command::Outbox { action } => {
            let conn = db::connect(&settings.database_url, 2).await?;
            db::migrate_up(&conn).await?;
            match action {
                OutboxAction::List { status, limit } => {
                    let status = status.as_deref().map(|s| match s {
                        "sent" => OutboxStatus::Sent,
                        "dead" => OutboxStatus::Dead,
                        _ => OutboxStatus::Pending,
                    });
                    let lines = outbox::list(&conn, status, limit).await?;
                    if lines.is_empty() {
                        println!("no message");
                    }
                    for line in lines {
                        println!("{line}");
                    }
                }
                OutboxAction::Retry { ids, dead } => {
                    let n = outbox::retry(&conn, &ids, dead).await?;
                    println!("{n} message(s) queued again");
                }
            }
            Ok(())
        }
        Command::Audit { limit } => {
            let conn = db::connect(&settings.database_url, 2).await?;
            db::migrate_up(&conn).await?;
            for line in audit::recent(&conn, limit).await? {
                println!("{line}");
            }
            Ok(())
        }
        Command::Diffusion { action } => {
            let conn = db::connect(&settings.database_url, 2).await?;
            db::migrate_up(&conn).await?;
            let lines = match action {
                DiffusionAction::Show { diffuseur } => diffusion::show(&conn, &diffuseur).await?,
                DiffusionAction::Set { diffuseur, rules } => {
                    diffusion::set(&conn, &diffuseur, rules, &cli_actor()).await?
                }
            };
            if lines.is_empty() {
                println!("no rules: the diffuseur shows only its own missions");
            }
            for line in lines {
                println!("{line}");
            }
            Ok(())
        }
        Command::Migrate { action } => {
            let conn = db::connect(&settings.database_url, 2).await?;
            match action {
                MigrateAction::Up => db::migrate_up(&conn).await?,
                MigrateAction::Down { steps } => db::migrate_down(&conn, steps).await?,
                MigrateAction::Fresh => db::migrate_fresh(&conn).await?,
                MigrateAction::Status => {
                    for (name, applied) in db::migration_status(&conn).await? {
                        println!("{} {name}", if applied { "applied" } else { "pending" });
                    }
                    return Ok(());
                }
            }
            println!("migrations done on {}", settings.database_display());
            Ok(())
        }
        Command::Publisher { action } => {
            let conn = db::connect(&settings.database_url, 2).await?;
            db::migrate_up(&conn).await?;
            match action {
                PublisherAction::Add {
                    name,
                    feed_url,
                    feed_user,
                    feed_password,
                    every,
                } => {
                    let p =
                        publishers::add(&conn, &name, feed_url, feed_user, feed_password, every)
                            .await?;
                    println!("added publisher {} (id {})", p.name, p.id);
                }
                PublisherAction::List => {
                    for line in publishers::list(&conn).await? {
                        println!("{line}");
                    }
                }
            }
            Ok(())
        }
        Command::Import {
            publisher,
            url,
            file,
            all,
        } => {
            let conn = db::connect(&settings.database_url, 2).await?;
            db::migrate_up(&conn).await?;
            let options = settings.run_options()?;
            let targets = if all {
                publishers::with_feed(&conn).await?
            } else {
                let name = publisher.unwrap_or_default();
                vec![publishers::by_name(&conn, &name).await?]
            };
            if targets.is_empty() {
                anyhow::bail!(
                    "no publisher has a feed; add one with `passerelle publisher add --feed-url`"
                );
            }
            let mut failed = Vec::new();
            for p in &targets {
                let source = match (&url, &file) {
                    (Some(url), _) => Source::Url {
                        url: url.clone(),
                        auth: None,
                    },
                    (None, Some(path)) => Source::File(path.clone()),
                    (None, None) => Source::of_publisher(p).with_context(|| {
                        format!("{} has no feed URL: give --url or --file", p.name)
                    })?,
                };
                // One publisher's trouble does not stop the others.
                let outcome = match imports::import_with_progress(&conn, p, &source, &options).await
                {
                    Ok(outcome) => outcome,
                    Err(e) => {
                        eprintln!("error: import of {}: {e:#}", p.name);
                        failed.push(p.name.clone());
                        continue;
                    }
                };
                println!("{}", imports::summary(&p.name, &outcome));
                if let Some(error) = &outcome.run.error {
                    eprintln!(
                        "error: the import of {} failed and changed nothing: {error}",
                        p.name
                    );
                    failed.push(p.name.clone());
                }
            }
            if failed.is_empty() {
                Ok(())
            } else {
                anyhow::bail!(
                    "{} of {} imports failed: {}",
                    failed.len(),
                    targets.len(),
                    failed.join(", ")
                )
            }
        }
        Command::Seed { demo: _, missions } => {
            // One connection: alone on a SQLite file, the load can leave WAL (see `seed`).
            let conn = db::connect(&settings.database_url, 1).await?;
            db::migrate_up(&conn).await?;
            let r = seed::seed_demo(&conn, missions).await?;
            println!(
                "seeded {} publishers, {} organizations, {} missions ({} addresses), {} volunteers, {} applications in {:.1} s",
                r.publishers,
                r.organizations,
                r.missions,
                r.addresses,
                r.volunteers,
                r.applications,
                r.duration.as_secs_f64()
            );
            print_demo_credentials(&r.credentials, &settings)
        }
        Command::Serve { demo, missions } => {
            // On SQLite, one connection writes and the others read (see `db::Pools`).
            let pools =
                db::Pools::connect(&settings.database_url, settings.db_max_connections).await?;
            let conn = pools.write.clone();
            let mut demo_output = Vec::new();
            if demo {
                db::migrate_up(&conn).await?;
                if settings.jwt_secret.is_none() {
                    // Tokens for the demo users, valid for this process only.
                    settings.jwt_secret = Some(tokens::random_secret()?);
                }
                let empty = passerelle_entities::publisher::Entity::find()
                    .one(&conn)
                    .await
                    .context("cannot read the database")?
                    .is_none();
                if empty {
                    let r = seed::seed_demo(&conn, missions).await?;
                    tracing::info!(
                        missions = r.missions,
                        duration_ms = r.duration.as_millis() as u64,
                        "demo data seeded"
                    );
                    demo_output.push(r.credentials);
                } else {
                    let users = tokens::demo_users(&conn).await?;
                    demo_output.push(seed::DemoCredentials {
                        keys: Vec::new(),
                        users,
                    });
                }
            }
            let listener = tokio::net::TcpListener::bind(settings.listen)
                .await
                .with_context(|| format!("cannot listen on {}", settings.listen))?;
            let addr = listener.local_addr().context("no local address")?;
            tracing::info!(database = %settings.database_display(), "database ready");
            println!(
                "Passerelle is running: open http://{addr}/ for GraphiQL, POST queries to http://{addr}/graphql"
            );
            for credentials in &demo_output {
                print_demo_credentials(credentials, &settings)?;
                if credentials.keys.is_empty() && !credentials.users.is_empty() {
                    let _ = writeln!(
                        std::io::stdout(),
                        "(The demo's API keys were printed when it was seeded; make another with `passerelle keys create --publisher NAME`.)"
                    );
                }
            }
            let scheduler = if settings.scheduler {
                let options = settings.run_options()?;
                Some(tokio::spawn(imports::schedule(conn.clone(), options)))
            } else {
                None
            };
            let delivery = settings.outbox.then(|| {
                tokio::spawn(outbox::run(
                    conn.clone(),
                    outbox::Delivery::from_settings(&settings),
                ))
            });
            let state = server::AppState::new(pools, &settings)?;
            let auth = state.auth.clone();
            tokio::spawn(async move { auth.warm_up().await });
            let served = server::serve(
                listener,
                state,
                settings.max_body_bytes,
                server::shutdown_signal(),
            )
            .await
            .context("the server stopped with an error");
            // An import cut short here rolls back: the database keeps the previous state.
            if let Some(task) = scheduler {
                task.abort();
            }
            // A message being sent stays leased and is sent again after the lease: nothing is
            // lost.
            if let Some(task) = delivery {
                task.abort();
            }
            served
        }
    }
}
