//! Import runs of partner feeds: `importRuns` and `Publisher.lastImport`, readable by the
//! publisher itself (its key or its people) and by admins.
use async_graphql::{ComplexObject, Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use passerelle_entities::import_run;
use sea_orm::{ColumnTrait, Condition, Order};

use crate::cursor::Cursor;
use crate::error::{ApiError, ApiResult};
use crate::filter::parse_id;
use crate::inline::Inline;
use crate::loader::{LastImportOf, PublisherId};
use crate::loaders;
use crate::page::{Edge, Page, PageInfo, page_size};
use crate::publisher::Publisher;
use crate::scope::{self, ById};

const RUNS: &str = "importRuns:ID:DESC";
const REFUSALS: &str = "importRun.refusals:INDEX:ASC";

/// How an import run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ImportRunStatus {
    /// The feed was read and applied (or had not changed).
    Success,
    /// The feed could not be fetched or read: nothing changed.
    Failed,
}

/// Something to look at in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ImportWarning {
    /// The feed held no mission (nothing was deleted, unless it has been empty or failing for
    /// the grace period).
    Empty,
    /// More than 75% of the feed's missions were refused.
    Validation,
    /// The run failed.
    Error,
}

/// One run of one publisher's feed import.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct ImportRun {
    pub id: ID,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub status: ImportRunStatus,
    /// Where the feed came from: its URL (without credentials or query) or a file name.
    pub source: Option<String>,
    /// The feed answered 304 Not Modified: nothing was read or changed.
    pub not_modified: bool,
    /// Bytes of feed received, after decompression.
    pub fetched_bytes: Option<i64>,
    /// Missions in the feed (duplicates included).
    pub received: i64,
    /// Valid missions created.
    pub created: i64,
    /// Valid missions changed.
    pub updated: i64,
    /// Valid missions already up to date (left untouched).
    pub unchanged: i64,
    /// Missions refused (stored REFUSED with their reasons, or without a clientId).
    pub refused: i64,
    /// Missions of the publisher absent from the feed, soft-deleted.
    pub deleted: i64,
    /// Why a FAILED run failed, for the partner to read (details stay in the server's log,
    /// under the reference the message quotes).
    pub error: Option<String>,
    /// A stable code for why a FAILED run failed: `FEED_HTTP_STATUS`, `FEED_MALFORMED`,
    /// `FEED_TIMEOUT`, … (the list is in the README).
    pub error_code: Option<String>,
    pub warnings: Vec<ImportWarning>,
    #[graphql(skip)]
    pub publisher_id: i64,
    #[graphql(skip)]
    pub refusals: Vec<import_run::RefusedMission>,
}

impl From<import_run::Model> for ImportRun {
    fn from(m: import_run::Model) -> Self {
        ImportRun {
            id: ID(m.id.to_string()),
            started_at: m.started_at,
            finished_at: m.finished_at,
            status: match m.status {
                passerelle_entities::ImportStatus::Success => ImportRunStatus::Success,
                passerelle_entities::ImportStatus::Failed => ImportRunStatus::Failed,
            },
            source: m.source,
            not_modified: m.not_modified,
            fetched_bytes: m.fetched_bytes,
            received: m.received,
            created: m.created,
            updated: m.updated,
            unchanged: m.unchanged,
            refused: m.refused,
            deleted: m.deleted,
            error: m.error,
            error_code: m.error_code,
            warnings: m
                .warnings
                .0
                .iter()
                .map(|w| match w {
                    passerelle_entities::ImportWarning::Empty => ImportWarning::Empty,
                    passerelle_entities::ImportWarning::Validation => ImportWarning::Validation,
                    passerelle_entities::ImportWarning::Error => ImportWarning::Error,
                })
                .collect(),
            publisher_id: m.publisher_id,
            refusals: m.refusals.0,
        }
    }
}

/// A mission a run refused: the partner's id for it, a stable code and a message.
#[derive(Debug, Clone, SimpleObject)]
pub struct ImportRefusal {
    /// The mission's clientId (empty when the feed gave none).
    pub client_id: String,
    /// A stable code, e.g. `MISSING_TITLE`, `INVALID_DATES`.
    pub code: String,
    pub message: String,
}

#[ComplexObject]
impl ImportRun {
    async fn publisher(&self, ctx: &Context<'_>) -> ApiResult<Option<Publisher>> {
        Ok(loaders(ctx)?
            .load_one(PublisherId(self.publisher_id))
            .await?
            .map(Publisher::from))
    }

    /// The missions the run refused, with each reason, in feed order, a page at a time (default
    /// 20, at most 100). The first 1,000 reasons are kept; `refused` counts every mission.
    async fn refusals(
        &self,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<ImportRefusalConnection> {
        let size = page_size(first)?;
        let after = after.map(|a| Cursor::decode(&a, REFUSALS)).transpose()?;
        let start = match &after {
            None => 0,
            Some(c) => usize::try_from(c.id)
                .ok()
                .and_then(|i| i.checked_add(1))
                .ok_or_else(|| ApiError::bad_input("after", "is not a cursor of this list"))?,
        };
        let rows: Vec<(usize, &import_run::RefusedMission)> = self
            .refusals
            .iter()
            .enumerate()
            .skip(start)
            .take(size as usize + 1)
            .collect();
        let page = Page::from_rows(
            rows,
            size,
            after.is_some(),
            |(i, _)| Cursor::new(REFUSALS, None, *i as i64),
            |(_, r)| ImportRefusal {
                client_id: r.client_id.clone(),
                code: r.code.clone(),
                message: r.message.clone(),
            },
        );
        Ok(ImportRefusalConnection {
            page,
            total: self.refusals.len() as i64,
        })
    }
}

/// A page of a run's refused missions.
pub struct ImportRefusalConnection {
    page: Page<ImportRefusal>,
    total: i64,
}

/// A page of a run's refused missions.
#[Object]
impl ImportRefusalConnection {
    async fn edges(&self) -> &[Edge<ImportRefusal>] {
        &self.page.edges
    }
    async fn nodes(&self) -> Vec<Inline<&ImportRefusal>> {
        self.page.nodes()
    }
    async fn page_info(&self) -> &PageInfo {
        &self.page.info
    }
    async fn total_count(&self) -> i64 {
        self.total
    }
}

/// Queries over import runs.
#[derive(Default)]
pub struct ImportRunQuery;

#[Object]
impl ImportRunQuery {
    /// A publisher's import runs, newest first, a page at a time (default 20, at most 100).
    /// A partner reads its own (another publisher's list is empty); admins read all.
    /// Errors: `NOT_FOUND` for an unknown publisher, `BAD_USER_INPUT`; `FORBIDDEN` for callers
    /// who may read no import run.
    async fn import_runs(
        &self,
        ctx: &Context<'_>,
        publisher_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Option<ImportRunConnection>> {
        let key = parse_id("publisherId", &publisher_id)?;
        if loaders(ctx)?.load_one(PublisherId(key)).await?.is_none() {
            return Err(ApiError::not_found("publisher", publisher_id.to_string()));
        }
        let by = ById {
            column: import_run::Column::Id,
            direction: Order::Desc,
            list: RUNS,
        };
        let page = scope::id_page::<import_run::Entity, _>(
            ctx,
            Condition::all().add(import_run::Column::PublisherId.eq(key)),
            by,
            first,
            after,
            |r| r.id,
            ImportRun::from,
        )
        .await?;
        Ok(Some(ImportRunConnection {
            page,
            publisher_id: key,
        }))
    }
}

/// A page of a publisher's import runs.
pub struct ImportRunConnection {
    page: Page<ImportRun>,
    publisher_id: i64,
}

/// A page of a publisher's import runs.
#[Object]
impl ImportRunConnection {
    async fn edges(&self) -> &[Edge<ImportRun>] {
        &self.page.edges
    }
    async fn nodes(&self) -> Vec<Inline<&ImportRun>> {
        self.page.nodes()
    }
    async fn page_info(&self) -> &PageInfo {
        &self.page.info
    }
    /// The number of the publisher's runs, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        scope::count::<import_run::Entity>(
            ctx,
            Condition::all().add(import_run::Column::PublisherId.eq(self.publisher_id)),
        )
        .await
    }
}

/// `Publisher.lastImport`, through the loader.
pub(crate) async fn last_import(
    ctx: &Context<'_>,
    publisher_id: i64,
) -> ApiResult<Option<ImportRun>> {
    Ok(loaders(ctx)?
        .load_one(LastImportOf(publisher_id))
        .await?
        .map(ImportRun::from))
}
