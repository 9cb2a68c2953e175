//! What Passerelle itself does to missions over time: archiving the validated missions whose
//! end date has passed, through the lifecycle's own table, with a history event each.
use passerelle_entities::lifecycle::{self, Action, Mover};
use passerelle_entities::{MissionStatus, mission, mission_event, time};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

/// Missions archived per transaction.
const BATCH: u64 = 500;

/// Archives every VALIDATED mission whose `end_at` has passed; returns how many. Each batch is
/// one transaction: the status change and the events land together or not at all.
///
/// # Errors
/// A database failure; the batches before it stay archived.
pub async fn archive_ended(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let to = lifecycle::transition(MissionStatus::Validated, Action::Archive, &[Mover::System])
        .map_err(|e| DbErr::Custom(e.message()))?;
    let now = time::now();
    let mut total = 0;
    loop {
        // The rows read are the rows changed: on SQLite the transaction takes the write lock
        // before it reads; on PostgreSQL the rows are locked as they are read (a cancellation
        // committed meanwhile is seen, and the row left out), in id order whatever order the
        // index gives them in, so that another writer locking missions in id order waits for
        // this one instead of deadlocking with it.
        let postgres = db.get_database_backend() == DbBackend::Postgres;
        let txn = db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?;
        let mut select = mission::Entity::find()
            .select_only()
            .column(mission::Column::Id)
            .filter(mission::is_public())
            .filter(mission::Column::EndAt.lt(now))
            .order_by_asc(mission::Column::Id)
            .limit(BATCH);
        if postgres {
            select = select.lock_exclusive();
        }
        let ids: Vec<i64> = select.into_tuple().all(&txn).await?;
        if ids.is_empty() {
            txn.commit().await?;
            return Ok(total);
        }
        mission::Entity::update_many()
            .col_expr(mission::Column::Status, Expr::value(to))
            .col_expr(
                mission::Column::Version,
                Expr::col(mission::Column::Version).add(1),
            )
            .col_expr(mission::Column::UpdatedAt, Expr::value(now))
            .filter(mission::Column::Id.is_in(ids.iter().copied()))
            .exec(&txn)
            .await?;
        let events = ids.iter().map(|id| {
            mission_event::event(
                *id,
                "system",
                Action::Archive.as_str(),
                Some(MissionStatus::Validated),
                Some(to),
                Some("its end date has passed".to_owned()),
            )
        });
        mission_event::Entity::insert_many(events)
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        total += ids.len() as u64;
        if (ids.len() as u64) < BATCH {
            return Ok(total);
        }
    }
}
