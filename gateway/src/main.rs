//! The `passerelle` command: parses the command line, sets up logs, and calls the library.
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use passerelle::config::{SettingArgs, Settings};
use passerelle::{db, seed, server, telemetry};
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
enum SchemaAction {
    /// Print the SDL (with Apollo Federation directives) to standard output.
    Print,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
            let state = server::AppState::new(conn, &settings);
            server::serve(
                listener,
                state,
                settings.max_body_bytes,
                server::shutdown_signal(),
            )
            .await
            .context("the server stopped with an error")
        }
    }
}
