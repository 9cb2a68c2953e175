//! `auditLog`: every admin action and every change of keys, users and diffusion rules, newest
//! first; admins only.
use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use passerelle_entities::audit_entry;
use sea_orm::{ColumnTrait, Condition, Order};

use crate::error::ApiResult;
use crate::filter::non_empty;
use crate::inline::Inline;
use crate::page::{Edge, Page, PageInfo};
use crate::scope::{self, ById};

const ENTRIES: &str = "auditLog:ID:DESC";

/// One recorded action.
#[derive(Debug, Clone, SimpleObject)]
pub struct AuditEntry {
    pub id: ID,
    pub at: DateTime<Utc>,
    /// Who: `user:ID <email>`, `key:PREFIX`, or `cli:<os user>`.
    pub actor: String,
    /// What: `KEY_CREATED`, `KEY_REVOKED`, `USER_ADDED`, `USER_REMOVED`, `TOKEN_MINTED`,
    /// `DIFFUSION_RULES_SET`.
    pub action: String,
    /// On what: `publisher:ID`, `key:PREFIX`, `user:<email>`.
    pub target: String,
    /// The details of the change; never a secret.
    pub details: Json<serde_json::Value>,
    /// From where: the client's address, or `local` for the command line.
    pub address: String,
}

impl From<audit_entry::Model> for AuditEntry {
    fn from(e: audit_entry::Model) -> Self {
        AuditEntry {
            id: ID(e.id.to_string()),
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            details: Json(e.details),
            address: e.address,
        }
    }
}

/// Which entries to list.
#[derive(Debug, Clone, Default, InputObject)]
pub struct AuditFilter {
    /// Entries of any of these actions.
    pub actions: Option<Vec<String>>,
    /// Entries on this target, e.g. `publisher:3`.
    pub target: Option<String>,
}

/// A page of the audit log.
pub struct AuditEntryConnection {
    page: Page<AuditEntry>,
}

/// A page of the audit log.
#[Object]
impl AuditEntryConnection {
    async fn edges(&self) -> &[Edge<AuditEntry>] {
        &self.page.edges
    }
    async fn nodes(&self) -> Vec<Inline<&AuditEntry>> {
        self.page.nodes()
    }
    async fn page_info(&self) -> &PageInfo {
        &self.page.info
    }
}

/// The audit log query.
#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit log, newest first, a page at a time (default 20, at most 100). Admins only.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Option<AuditEntryConnection>> {
        let filter = filter.unwrap_or_default();
        let mut condition = Condition::all();
        if let Some(actions) = non_empty("filter.actions", filter.actions)? {
            condition = condition.add(audit_entry::Column::Action.is_in(actions));
        }
        if let Some(target) = filter.target {
            condition = condition.add(audit_entry::Column::Target.eq(target));
        }
        let by = ById {
            column: audit_entry::Column::Id,
            direction: Order::Desc,
            list: ENTRIES,
        };
        let page = scope::id_page::<audit_entry::Entity, _>(
            ctx,
            condition,
            by,
            first,
            after,
            |e| e.id,
            AuditEntry::from,
        )
        .await?;
        Ok(Some(AuditEntryConnection { page }))
    }
}
