//! Folding the tally of public missions (`passerelle_migration::tally`): the rows its triggers
//! append are replaced by their sums, so that reading the counts stays a read of a few hundred
//! rows. Run after each import and by the scheduler; a fold changes no count.
use passerelle_migration::tally::{FOLD_ABOVE, FOLD_POSTGRES, FOLD_SQLITE};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait,
};

/// Folds the tally when it holds more than [`FOLD_ABOVE`] rows; returns whether it did.
///
/// # Errors
/// A database failure; the tally is then as it was.
pub async fn fold_if_long(db: &DatabaseConnection) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let rows = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM public_mission_tally",
        ))
        .await?
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or_default();
    if rows <= FOLD_ABOVE {
        return Ok(false);
    }
    fold(db).await?;
    Ok(true)
}

/// Replaces the tally's rows by their sums, one row per group.
///
/// # Errors
/// A database failure; the tally is then as it was.
pub async fn fold(db: &DatabaseConnection) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    if backend == DbBackend::Postgres {
        db.execute_unprepared(FOLD_POSTGRES).await?;
        return Ok(());
    }
    // The write lock first: no row can be added between the highest id read and the fold.
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    let highest = txn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT MAX(id) AS id FROM public_mission_tally",
        ))
        .await?
        .map(|r| r.try_get::<Option<i64>>("", "id"))
        .transpose()?
        .flatten();
    if let Some(highest) = highest {
        for sql in FOLD_SQLITE {
            txn.execute_raw(Statement::from_sql_and_values(
                backend,
                *sql,
                [highest.into()],
            ))
            .await?;
        }
    }
    txn.commit().await
}
