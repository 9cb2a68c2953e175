//! An address's copy of its mission's visibility is read under a lock on the mission, on
//! PostgreSQL, so that a writer adding an address while another transaction changes the
//! mission's status cannot keep the status it read before the change committed.
//!
//! Since migration 9 the `BEFORE` trigger of `mission_addresses` read the mission without a
//! lock: a transaction inserting an address of a public mission while another archived it (and
//! committed first) kept `mission_public = true` for an archived mission, and migration 10's
//! tally counted it in its department; the archiving's own update of the addresses could not see
//! the uncommitted address. Every write path of Passerelle locked the mission before writing its
//! addresses, so only a writer from outside could meet it.
//!
//! The trigger now reads the mission `FOR NO KEY UPDATE`, the lock the tally's statement trigger
//! takes after the statement and the one a change of status takes: the writer that comes second
//! waits for the first to commit, and reads (or its update of the addresses sees) what the first
//! wrote. A mission written by the transaction itself (inserted by an import, or updated before
//! its addresses, as every write path of Passerelle does, none in a savepoint) is already locked
//! or seen by no one else: it is read without taking the lock again, so Passerelle's writers pay
//! nothing for it. Under `READ COMMITTED` (PostgreSQL's default, and Passerelle's).
//!
//! What it does not cover, all for writers from outside Passerelle:
//! - Locks taken row by row, in the statement's order: an outside writer adding addresses of
//!   several missions can deadlock with another that locks them in another order (an import
//!   updating missions in its feed's order; the scheduler's archiving of ended missions locks
//!   them in id order, so a writer that locks in id order too waits for it instead), and now waits
//!   for an import holding one of its missions even for an address the tally does not count.
//!   PostgreSQL stops one of the two (`deadlock detected`), whose transaction is rolled back whole:
//!   nothing is half-written, and an import so stopped is recorded as a failed run, its feed
//!   imported again at its next period.
//! - An address of a mission that another transaction is still inserting, in a statement that
//!   reads it before that transaction commits and checks its foreign key after, keeps `false`
//!   (the mission was not there to read). Only a writer that knows an uncommitted mission's id
//!   can meet it.
//! - The shortcut compares 32-bit transaction ids: a frozen mission whose raw `xmin` equals the
//!   writer's id, 2^32 transactions later, is taken for the writer's own and not locked (that
//!   transaction then reads it as migration 10 did).
//!
//! SQLite has one writer at a time: a write transaction that read a mission before another
//! committed a change to it cannot commit (`SQLITE_BUSY_SNAPSHOT`): nothing to do there.
use crate::m20261205_000010_public_tally::POSTGRES_ADDRESS_BY_KEY;
use crate::run_all;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_ADDRESS_LOCKED: &str =
    "CREATE OR REPLACE FUNCTION mission_addresses_public() RETURNS trigger LANGUAGE plpgsql
     SET enable_seqscan = off AS $$
     DECLARE
        visible BOOLEAN;
        own BOOLEAN;
     BEGIN
        SELECT m.status = 'VALIDATED' AND m.deleted_at IS NULL,
               m.xmin = pg_current_xact_id()::xid
        INTO visible, own
        FROM missions m WHERE m.id = NEW.mission_id;
        IF NOT coalesce(own, TRUE) THEN
            SELECT m.status = 'VALIDATED' AND m.deleted_at IS NULL INTO visible
            FROM missions m WHERE m.id = NEW.mission_id FOR NO KEY UPDATE;
        END IF;
        NEW.mission_public := coalesce(visible, FALSE);
        RETURN NEW;
     END $$";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => run_all(manager, &[POSTGRES_ADDRESS_LOCKED]).await,
            _ => Ok(()),
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => run_all(manager, &[POSTGRES_ADDRESS_BY_KEY]).await,
            _ => Ok(()),
        }
    }
}
