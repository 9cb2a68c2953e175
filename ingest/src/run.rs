//! An import run: gets the feed (a file, or a URL fetched with [`crate::fetch`]), applies it
//! with [`crate::import`], records what happened in `import_runs` whether it succeeded or
//! failed (a failed run is recorded after its transaction was rolled back), then asks the
//! geocoder for the addresses that arrived without coordinates.
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use passerelle_entities::import_run::{self, RefusedMission, RefusedMissions, Warnings};
use passerelle_entities::{ImportStatus, ImportWarning, publisher, time};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};

use crate::feed::FeedError;
use crate::fetch::{self, BasicAuth, FetchError, FetchOptions, Fetched, Validators};
use crate::geocode::{GeocodeReport, Geocoder};
use crate::import::{ImportError, ImportOptions, ImportReport, import_feed};

/// Above this share of refused missions, a run is flagged VALIDATION.
pub const VALIDATION_WARNING_RATIO: f64 = 0.75;
/// Refusal reasons kept with a run: enough to fix a feed, bounded for a broken feed of a
/// million missions (the `refused` count is always whole).
pub const MAX_STORED_REFUSALS: usize = crate::import::MAX_REPORTED;
/// How long a feed may be empty or failing before an empty feed deletes its missions.
pub const DEFAULT_EMPTY_FEED_GRACE: chrono::Duration = chrono::Duration::days(7);

/// Where a run's feed comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A local file.
    File(PathBuf),
    /// A URL, with the basic-auth credentials to send.
    Url {
        url: String,
        auth: Option<BasicAuth>,
    },
}

impl Source {
    /// The publisher's own feed, with its credentials.
    pub fn of_publisher(p: &publisher::Model) -> Option<Source> {
        let url = p.feed_url.clone()?;
        let auth = p.feed_user.clone().map(|user| BasicAuth {
            user,
            password: p.feed_password.clone(),
        });
        Some(Source::Url { url, auth })
    }

    fn describe(&self) -> String {
        match self {
            // The file's name only: the server's paths are nobody else's business.
            Source::File(path) => path
                .file_name()
                .map_or_else(|| "(file)".to_owned(), |n| n.to_string_lossy().into_owned()),
            Source::Url { url, .. } => fetch::display_url(url),
        }
    }
}

/// How runs fetch, delete and geocode.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub fetch: FetchOptions,
    /// See [`DEFAULT_EMPTY_FEED_GRACE`].
    pub empty_feed_grace: chrono::Duration,
    /// None: addresses without coordinates keep the offline centroid.
    pub geocoder: Option<Geocoder>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            fetch: FetchOptions::default(),
            empty_feed_grace: DEFAULT_EMPTY_FEED_GRACE,
            geocoder: None,
        }
    }
}

/// How far a run has gone, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub missions: u64,
    /// Bytes of the feed read so far, and in all.
    pub bytes: u64,
    pub total_bytes: u64,
}

/// Called as a run goes.
pub type ProgressFn<'a> = dyn Fn(Progress) + Send + Sync + 'a;

/// What a run did.
#[derive(Debug)]
pub struct RunOutcome {
    /// The recorded run.
    pub run: import_run::Model,
    /// The geocoding pass after a successful run, if a geocoder is configured.
    pub geocoding: Option<Result<GeocodeReport, String>>,
}

/// Why a run did not happen or could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// See [`ImportError::Busy`].
    #[error("{}", ImportError::Busy)]
    Busy,
    #[error("cannot record the import run: {0}")]
    Database(#[from] DbErr),
}

/// A reader that counts the bytes read through it.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The warnings of a successful run.
pub fn warnings(report: &ImportReport) -> Vec<ImportWarning> {
    let mut w = Vec::new();
    if report.received == 0 {
        w.push(ImportWarning::Empty);
    } else if report.refused as f64 > VALIDATION_WARNING_RATIO * report.received as f64 {
        w.push(ImportWarning::Validation);
    }
    w
}

/// Whether an empty feed may delete the publisher's missions now: its feed has been empty or
/// failing for the grace period, counted from its last non-empty successful run (or, if it
/// never had one, from its first run).
async fn grace_period_over(
    db: &DatabaseConnection,
    publisher_id: i64,
    grace: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let runs =
        || import_run::Entity::find().filter(import_run::Column::PublisherId.eq(publisher_id));
    // A 304 confirms the last feed read in full, which had missions (an empty feed keeps no
    // validators, so it is never answered 304).
    let last_full = runs()
        .filter(import_run::Column::Status.eq(ImportStatus::Success))
        .filter(
            Condition::any()
                .add(import_run::Column::Received.gt(0))
                .add(import_run::Column::NotModified.eq(true)),
        )
        .order_by_desc(import_run::Column::StartedAt)
        .one(db)
        .await?;
    let since = match last_full {
        Some(run) => Some(run.started_at),
        None => runs()
            .order_by_asc(import_run::Column::StartedAt)
            .one(db)
            .await?
            .map(|run| run.started_at),
    };
    Ok(since.is_some_and(|since| now - since >= grace))
}

/// Imports `source` for `publisher` and records the run.
///
/// Only one import of a publisher runs at a time, whichever process starts it: the import takes
/// the publisher's lock in the database (see [`crate::import::import_feed`]); a run that finds
/// it taken is skipped, not recorded.
///
/// # Errors
/// [`RunError::Busy`] when another import of this publisher is running (nothing is recorded),
/// or the run cannot be recorded. A failed import is a recorded FAILED run, not an error.
pub async fn run_import(
    db: &DatabaseConnection,
    publisher: &publisher::Model,
    source: &Source,
    options: &RunOptions,
    progress: Option<&ProgressFn<'_>>,
) -> Result<RunOutcome, RunError> {
    let started_at = time::now();
    let mut run = import_run::ActiveModel {
        publisher_id: Set(publisher.id),
        started_at: Set(started_at),
        source: Set(Some(source.describe())),
        not_modified: Set(false),
        fetched_bytes: Set(None),
        ..Default::default()
    };
    let result = apply(db, publisher, source, options, progress, &mut run).await;
    run.finished_at = Set(time::now());
    match result {
        Ok(Some(report)) => {
            set_counts(&mut run, &report);
            run.status = Set(ImportStatus::Success);
            run.error = Set(None);
            run.warnings = Set(Warnings(warnings(&report)));
            run.refusals = Set(RefusedMissions(
                report
                    .refusals
                    .iter()
                    .take(MAX_STORED_REFUSALS)
                    .map(|r| RefusedMission {
                        client_id: r.client_id.clone(),
                        code: r.code.clone(),
                        message: r.message.clone(),
                    })
                    .collect(),
            ));
        }
        Ok(None) => {
            // 304 Not Modified: nothing read, nothing changed.
            set_counts(&mut run, &ImportReport::default());
            run.status = Set(ImportStatus::Success);
            run.not_modified = Set(true);
            run.error = Set(None);
            run.warnings = Set(Warnings::default());
            run.refusals = Set(RefusedMissions::default());
        }
        Err(ImportFailure::Busy) => return Err(RunError::Busy),
        Err(ImportFailure::Failed(failure)) => {
            tracing::warn!(
                publisher = %publisher.name,
                error.code = failure.code,
                error = %failure.message,
                "import failed; nothing changed"
            );
            set_counts(&mut run, &ImportReport::default());
            run.status = Set(ImportStatus::Failed);
            run.error = Set(Some(failure.message));
            run.error_code = Set(Some(failure.code.to_owned()));
            run.warnings = Set(Warnings(vec![ImportWarning::Error]));
            run.refusals = Set(RefusedMissions::default());
        }
    }
    // The run's record and the partner's webhook calls commit together.
    let txn = db.begin().await?;
    let run = run.insert(&txn).await?;
    passerelle_entities::outbox::to_webhooks(
        &txn,
        publisher.id,
        "IMPORT",
        "IMPORT_FINISHED",
        serde_json::json!({
            "importRunId": run.id.to_string(),
            "status": run.status.as_str(),
            "notModified": run.not_modified,
            "received": run.received,
            "created": run.created,
            "updated": run.updated,
            "unchanged": run.unchanged,
            "refused": run.refused,
            "deleted": run.deleted,
            "errorCode": run.error_code,
            "startedAt": run.started_at.to_rfc3339(),
            "finishedAt": run.finished_at.to_rfc3339(),
        }),
    )
    .await?;
    txn.commit().await?;
    // An import appends rows to the tally of public missions for the missions and addresses
    // it changes: folded here, readers sum a few hundred rows again.
    if (run.created > 0 || run.updated > 0 || run.deleted > 0)
        && let Err(e) = passerelle_db::tally::fold_if_long(db).await
    {
        tracing::warn!(error = %e, "cannot fold the tally of public missions; the next run or the scheduler will");
    }
    let geocoding = match &options.geocoder {
        Some(geocoder) if run.status == ImportStatus::Success && (run.created > 0 || run.updated > 0 || run.refused > 0) => {
            Some(
                geocoder
                    .geocode_written(db, publisher.id, started_at)
                    .await
                    .map_err(|e| {
                        tracing::warn!(publisher = %publisher.name, error = %e, "geocoding failed; addresses keep their fallback coordinates");
                        e.to_string()
                    }),
            )
        }
        _ => None,
    };
    Ok(RunOutcome { run, geocoding })
}

enum ImportFailure {
    Busy,
    Failed(Failure),
}

/// Why a run failed, as the partner reads it: a stable code and a message that holds nothing of
/// the server (no path, no database text). Internal failures are logged in full under the
/// reference their message quotes.
#[derive(Debug)]
struct Failure {
    code: &'static str,
    message: String,
}

impl Failure {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// A failure on our side: logged with its detail, told to the partner by reference only.
    fn internal(detail: &dyn std::fmt::Display) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let reference = format!(
            "import-{:x}-{:x}",
            time::now().timestamp(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        tracing::error!(error.reference = %reference, error.detail = %detail, "an import failed on our side");
        Failure::new(
            "INTERNAL",
            format!(
                "an internal error stopped the import; quote reference {reference} to the operators"
            ),
        )
    }

    fn of_fetch(e: &FetchError) -> Self {
        match e {
            FetchError::InvalidUrl(_) => Failure::new("FEED_INVALID_URL", e.to_string()),
            FetchError::PrivateAddress { .. } => Failure::new(
                "FEED_PRIVATE_ADDRESS",
                "the feed URL leads to a private or loopback address, which is refused",
            ),
            FetchError::Resolve { host, message } => {
                tracing::info!(feed.host = %host, error = %message, "feed host not resolved");
                Failure::new("FEED_DNS", format!("cannot resolve the feed's host {host}"))
            }
            FetchError::Status(_) => Failure::new("FEED_HTTP_STATUS", e.to_string()),
            FetchError::TooLarge { .. } => Failure::new("FEED_TOO_LARGE", e.to_string()),
            FetchError::Timeout(_) => Failure::new("FEED_TIMEOUT", e.to_string()),
            FetchError::Network(detail) => {
                tracing::info!(error = %detail, "feed connection failed");
                Failure::new(
                    "FEED_UNREACHABLE",
                    "cannot fetch the feed: the connection to its server failed or was cut",
                )
            }
            FetchError::TooManyRedirects => Failure::new("FEED_REDIRECTS", e.to_string()),
            FetchError::Io(_) => Failure::internal(e),
        }
    }

    fn of_import(e: &ImportError) -> Self {
        match e {
            ImportError::Feed(FeedError::EntityDeclaration | FeedError::UnknownEntity(_)) => {
                Failure::new("FEED_ENTITIES", e.to_string())
            }
            ImportError::Feed(FeedError::NoDocument | FeedError::UnexpectedRoot(_)) => {
                Failure::new("FEED_NOT_A_FEED", e.to_string())
            }
            ImportError::Feed(FeedError::Malformed { .. }) => {
                Failure::new("FEED_MALFORMED", e.to_string())
            }
            ImportError::Database(_) | ImportError::Busy | ImportError::ReaderStopped => {
                Failure::internal(e)
            }
        }
    }
}

/// Gets the feed and applies it: `Ok(None)` when the feed has not changed.
async fn apply(
    db: &DatabaseConnection,
    publisher: &publisher::Model,
    source: &Source,
    options: &RunOptions,
    progress: Option<&ProgressFn<'_>>,
    run: &mut import_run::ActiveModel,
) -> Result<Option<ImportReport>, ImportFailure> {
    let internal = |e: &dyn std::fmt::Display| ImportFailure::Failed(Failure::internal(e));
    let (file, total_bytes, validators) = match source {
        Source::File(path) => {
            let file = std::fs::File::open(path).map_err(|e| {
                tracing::warn!(path = %path.display(), error = %e, "cannot open a feed file");
                ImportFailure::Failed(Failure::new(
                    "FILE_UNREADABLE",
                    "the feed file cannot be read",
                ))
            })?;
            let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
            (file, bytes, Validators::default())
        }
        Source::Url { url, auth } => {
            // The stored validators belong to the publisher's own feed URL only.
            let own = publisher.feed_url.as_deref() == Some(url.as_str());
            let sent = if own {
                Validators {
                    etag: publisher.feed_etag.clone(),
                    last_modified: publisher.feed_last_modified.clone(),
                }
            } else {
                Validators::default()
            };
            match fetch::fetch(url, auth.as_ref(), &sent, &options.fetch)
                .await
                .map_err(|e| ImportFailure::Failed(Failure::of_fetch(&e)))?
            {
                Fetched::NotModified => return Ok(None),
                // Another source than the publisher's own URL: its stored validators no longer
                // describe what is applied, so they are cleared.
                Fetched::Feed {
                    file,
                    bytes,
                    validators,
                } => (
                    file,
                    bytes,
                    if own {
                        validators
                    } else {
                        Validators::default()
                    },
                ),
            }
        }
    };
    run.fetched_bytes = Set(Some(i64::try_from(total_bytes).unwrap_or(i64::MAX)));
    let delete_when_empty =
        grace_period_over(db, publisher.id, options.empty_feed_grace, time::now())
            .await
            .map_err(|e| internal(&e))?;
    let read = Arc::new(AtomicU64::new(0));
    let input = BufReader::with_capacity(
        64 * 1024,
        Counting {
            inner: file,
            count: Arc::clone(&read),
        },
    );
    let report_progress = |missions: u64| {
        if let Some(p) = progress {
            p(Progress {
                missions,
                bytes: read.load(Ordering::Relaxed),
                total_bytes,
            });
        }
    };
    let outcome = import_feed(
        db,
        publisher.id,
        input,
        ImportOptions {
            delete_when_empty,
            validators: Some(&validators),
            progress: Some(&report_progress),
        },
    )
    .await;
    match outcome {
        Ok(report) => {
            report_progress(report.received);
            Ok(Some(report))
        }
        Err(ImportError::Busy) => Err(ImportFailure::Busy),
        Err(e) => Err(ImportFailure::Failed(Failure::of_import(&e))),
    }
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
