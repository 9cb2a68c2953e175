//! An import run: applies a feed and records what happened, success or failure, in
//! `import_runs` (a failed run is recorded after its transaction was rolled back).
use std::io::BufRead;

use passerelle_entities::import_run::{self, RefusedMission, RefusedMissions, Warnings};
use passerelle_entities::time;
use sea_orm::{ActiveModelTrait, DatabaseConnection, DbErr, Set};

use crate::import::{ImportReport, import_feed};

/// Above this share of refused missions, a run is flagged VALIDATION.
pub const VALIDATION_WARNING_RATIO: f64 = 0.75;

/// The warnings of a successful run.
pub fn warnings(report: &ImportReport) -> Vec<String> {
    let mut w = Vec::new();
    if report.received == 0 {
        w.push("EMPTY".to_owned());
    } else if report.refused as f64 > VALIDATION_WARNING_RATIO * report.received as f64 {
        w.push("VALIDATION".to_owned());
    }
    w
}

/// Imports `input` for the publisher and records the run.
///
/// # Errors
/// Only when the run itself cannot be recorded; a failed import is a recorded FAILED run.
pub async fn run_import<R: BufRead>(
    db: &DatabaseConnection,
    publisher_id: i64,
    input: R,
) -> Result<import_run::Model, DbErr> {
    let started_at = time::now();
    let result = import_feed(db, publisher_id, input).await;
    let mut run = import_run::ActiveModel {
        publisher_id: Set(publisher_id),
        started_at: Set(started_at),
        finished_at: Set(time::now()),
        ..Default::default()
    };
    match result {
        Ok(report) => {
            set_counts(&mut run, &report);
            run.status = Set("SUCCESS".to_owned());
            run.error = Set(None);
            run.warnings = Set(Warnings(warnings(&report)));
            run.refusals = Set(RefusedMissions(
                report
                    .refusals
                    .iter()
                    .map(|r| RefusedMission {
                        client_id: r.client_id.clone(),
                        code: r.code.clone(),
                        message: r.message.clone(),
                    })
                    .collect(),
            ));
        }
        Err(e) => {
            set_counts(&mut run, &ImportReport::default());
            run.status = Set("FAILED".to_owned());
            run.error = Set(Some(e.to_string()));
            run.warnings = Set(Warnings(vec!["ERROR".to_owned()]));
            run.refusals = Set(RefusedMissions::default());
        }
    }
    run.insert(db).await
}

fn set_counts(run: &mut import_run::ActiveModel, r: &ImportReport) {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    run.received = Set(n(r.received));
    run.created = Set(n(r.created));
    run.updated = Set(n(r.updated));
    run.unchanged = Set(n(r.unchanged));
    run.refused = Set(n(r.refused));
    run.deleted = Set(n(r.deleted));
}
