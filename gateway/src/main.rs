//! The `passerelle` command: parses the command line, sets up logs, and calls the library.
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use passerelle::config::{SettingArgs, Settings};
use passerelle::{db, imports, publishers, seed, server, telemetry};
use passerelle_ingest::run::Source;
use sea_orm::EntityTrait;

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

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Schema {
            action: SchemaAction::Print,
        } => {
            print!("{}", passerelle_schema::sdl());
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
            let conn = db::connect(&settings.database_url, 2).await?;
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
            Ok(())
        }
        Command::Serve { demo, missions } => {
            let conn = db::connect(&settings.database_url, settings.db_max_connections).await?;
            if demo {
                db::migrate_up(&conn).await?;
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
            let scheduler = if settings.scheduler {
                let options = settings.run_options()?;
                Some(tokio::spawn(imports::schedule(conn.clone(), options)))
            } else {
                None
            };
            let state = server::AppState::new(conn, &settings);
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
            served
        }
    }
}
