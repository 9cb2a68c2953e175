//! The `audit` command: the audit log, newest first (admins read it in GraphQL as `auditLog`).
use passerelle_entities::audit_entry;
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder, QuerySelect};

/// The latest `limit` entries, one line each: when, who, from where, what, on what, details.
///
/// # Errors
/// A database failure.
pub async fn recent(db: &DatabaseConnection, limit: u64) -> anyhow::Result<Vec<String>> {
    let rows = audit_entry::Entity::find()
        .order_by_desc(audit_entry::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|e| {
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}",
                e.at.format("%Y-%m-%d %H:%M:%S"),
                e.actor,
                e.address,
                e.action,
                e.target,
                e.details
            )
        })
        .collect())
}
