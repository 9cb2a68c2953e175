//! Running feed imports: from the `import` command (with progress on the terminal) and on
//! each publisher's schedule while `serve` runs.
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use passerelle_entities::{import_run, publisher, time};
use passerelle_ingest::run::{Progress, RunError, RunOptions, RunOutcome, Source, run_import};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

/// One line telling what a run did.
pub fn summary(publisher: &str, outcome: &RunOutcome) -> String {
    let run = &outcome.run;
    let mut line = if run.not_modified {
        format!(
            "import of {publisher} {}: feed not modified, nothing to do",
            run.status
        )
    } else {
        format!(
            "import of {publisher} {}: received {}, created {}, updated {}, unchanged {}, refused {}, deleted {}",
            run.status,
            run.received,
            run.created,
            run.updated,
            run.unchanged,
            run.refused,
            run.deleted
        )
    };
    if !run.warnings.0.is_empty() {
        let names: Vec<&str> = run.warnings.0.iter().map(|w| w.as_str()).collect();
        line.push_str(&format!(" (warnings: {})", names.join(", ")));
    }
    match &outcome.geocoding {
        Some(Ok(g)) if g.asked > 0 => {
            line.push_str(&format!("; geocoded {} of {} addresses", g.found, g.asked));
        }
        Some(Err(e)) => line.push_str(&format!("; geocoding failed ({e}), centroids kept")),
        _ => {}
    }
    line
}

/// Progress on standard error: a bar redrawn in place on a terminal, a plain line at every
/// tenth of the feed otherwise (logs, CI, a parent process reading the output).
pub struct ProgressPrinter {
    publisher: String,
    terminal: bool,
    last_tenth: Mutex<u64>,
}

impl ProgressPrinter {
    pub fn new(publisher: &str) -> Self {
        ProgressPrinter {
            publisher: publisher.to_owned(),
            terminal: std::io::stderr().is_terminal(),
            last_tenth: Mutex::new(0),
        }
    }

    pub fn show(&self, p: Progress) {
        let share = if p.total_bytes == 0 {
            0.0
        } else {
            (p.bytes as f64 / p.total_bytes as f64).min(1.0)
        };
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let filled = (share * 30.0).round() as usize;
            let _ = write!(
                err,
                "\r{} [{}{}] {:>3.0}% {} missions",
                self.publisher,
                "#".repeat(filled),
                "-".repeat(30 - filled),
                share * 100.0,
                p.missions
            );
            let _ = err.flush();
        } else {
            let tenth = (share * 10.0).floor() as u64;
            let mut last = self.last_tenth.lock().unwrap_or_else(|e| e.into_inner());
            if tenth > *last {
                *last = tenth;
                let _ = writeln!(
                    err,
                    "{}: {}% of the feed read, {} missions",
                    self.publisher,
                    tenth * 10,
                    p.missions
                );
            }
        }
    }

    /// Ends the bar's line on a terminal.
    pub fn finish(&self) {
        if self.terminal {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// Runs one import from the command line, with progress on standard error.
///
/// # Errors
/// Another import of the publisher is running, or the run cannot be recorded.
pub async fn import_with_progress(
    db: &DatabaseConnection,
    publisher: &publisher::Model,
    source: &Source,
    options: &RunOptions,
) -> anyhow::Result<RunOutcome> {
    let printer = ProgressPrinter::new(&publisher.name);
    let show = |p: Progress| printer.show(p);
    let outcome = run_import(db, publisher, source, options, Some(&show)).await;
    printer.finish();
    Ok(outcome?)
}

/// The publishers with a feed whose import is due: never run, or last started at least their
/// period ago. Two statements, whatever the number of publishers.
async fn due_publishers(db: &DatabaseConnection) -> Result<Vec<publisher::Model>, sea_orm::DbErr> {
    let publishers = publisher::Entity::find()
        .filter(publisher::Column::FeedUrl.is_not_null())
        .filter(publisher::Column::ImportEverySecs.is_not_null())
        .order_by_asc(publisher::Column::Id)
        .all(db)
        .await?;
    let last: HashMap<i64, DateTime<Utc>> = import_run::Entity::find()
        .select_only()
        .column(import_run::Column::PublisherId)
        .column_as(import_run::Column::StartedAt.max(), "last")
        .group_by(import_run::Column::PublisherId)
        .into_tuple::<(i64, DateTime<Utc>)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let now = time::now();
    Ok(publishers
        .into_iter()
        .filter(|p| match (last.get(&p.id), p.import_every_secs) {
            (None, _) => true,
            (Some(at), Some(every)) => (now - *at).num_seconds() >= every,
            (Some(_), None) => false,
        })
        .collect())
}

/// Imports every publisher's feed when it is due, forever: checks once a minute, runs the due
/// imports one after the other, archives the missions past their end date and folds the tally of
/// public missions. Meant to be spawned beside the server and dropped with it (a run cut short
/// rolls back: nothing half-applied stays).
pub async fn schedule(db: DatabaseConnection, options: RunOptions) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match crate::lifecycle::archive_ended(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(missions = n, "archived the missions past their end date"),
            Err(e) => tracing::warn!(error = %e, "scheduler cannot archive ended missions"),
        }
        // What the gateway's own writes (and imports elsewhere) appended to the tally.
        if let Err(e) = passerelle_db::tally::fold_if_long(&db).await {
            tracing::warn!(error = %e, "scheduler cannot fold the tally of public missions");
        }
        let due = match due_publishers(&db).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "scheduler cannot read the publishers and their runs");
                continue;
            }
        };
        for p in due {
            let Some(source) = Source::of_publisher(&p) else {
                continue;
            };
            match run_import(&db, &p, &source, &options, None).await {
                Ok(outcome) => tracing::info!(
                    publisher = %p.name,
                    run = outcome.run.id,
                    "{}",
                    summary(&p.name, &outcome)
                ),
                Err(RunError::Busy) => {
                    tracing::info!(publisher = %p.name, "import already running elsewhere; skipped");
                }
                Err(e) => {
                    tracing::warn!(publisher = %p.name, error = %e, "scheduled import failed")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveModelTrait, Set};

    use super::*;
    use crate::testing::TestDatabase;

    #[tokio::test]
    async fn a_feed_is_due_when_never_imported_or_its_period_has_passed() {
        let t = TestDatabase::create("due").await.expect("test database");
        let db = t.connect_migrated().await.expect("migrated");
        let feed = Some("https://feeds.example.org/f.xml".to_owned());
        let mut ids = Vec::new();
        for (name, url) in [
            ("Jamais", feed.clone()),
            ("En retard", feed.clone()),
            ("À jour", feed.clone()),
            ("Sans flux", None),
        ] {
            let every = url.as_ref().map(|_| 3600);
            let p = crate::publishers::add(&db, name, url, None, None, every)
                .await
                .expect("publisher");
            ids.push(p.id);
        }
        let now = time::now();
        for (publisher, minutes_ago) in [(ids[1], 120), (ids[1], 200), (ids[2], 10), (ids[2], 300)]
        {
            let at = now - chrono::Duration::minutes(minutes_ago);
            import_run::ActiveModel {
                publisher_id: Set(publisher),
                started_at: Set(at),
                finished_at: Set(at),
                status: Set(passerelle_entities::ImportStatus::Success),
                received: Set(0),
                created: Set(0),
                updated: Set(0),
                unchanged: Set(0),
                refused: Set(0),
                deleted: Set(0),
                not_modified: Set(false),
                ..Default::default()
            }
            .insert(&db)
            .await
            .expect("run");
        }
        let due: Vec<String> = due_publishers(&db)
            .await
            .expect("due")
            .into_iter()
            .map(|p| p.name)
            .collect();
        // "À jour" ran 10 minutes ago (its latest run counts, not its oldest).
        assert_eq!(due, ["Jamais", "En retard"]);
        db.close().await.ok();
        t.drop_database().await;
    }
}
