//! Counts of public missions kept by the database as missions and addresses change, so that the
//! facets and the total of every public mission read a few hundred rows instead of counting a
//! million (see [`crate::tally`]).
//!
//! Over 1,000,000 missions the four facets took 0.16–0.25 s on SQLite and 0.27–0.37 s on
//! PostgreSQL, even from covering indexes: the department count alone is a scan of a million
//! index entries. Here each write appends its change to `public_mission_tally`, in its own
//! transaction: a mission that becomes public (inserted, validated, restored) adds one to its
//! domain, type and remote, one that stops being public takes one off, and a change of domain,
//! type or remote moves it; an address adds one to its department when its mission is public
//! and has no other address there, and takes it off when it was the last one. SQLite's triggers
//! run for each row; PostgreSQL's for each statement, over all its rows at once (an import
//! inserts new missions 500 and addresses 2,000 per statement; a changed mission is one
//! `UPDATE`), and its address trigger locks the missions of its rows before it looks at their
//! other addresses, so that two transactions writing addresses of one mission cannot both count
//! it.
//!
//! What the lock did not cover (already so in migration 9): an address's copy of its mission's
//! visibility was read, without a lock, as the address is written; migration 11 takes the lock
//! there too.
use crate::m20261128_000001_core::engine;
use crate::m20261204_000009_public_addresses::{
    POSTGRES_ADDRESS_FUNCTION, POSTGRES_MISSION_FUNCTION, POSTGRES_MISSION_TRIGGER,
};
use crate::{run_all, tally};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Whether the mission of the public mission row `r` (`OLD` or `NEW`) is public.
fn public(r: &str) -> String {
    format!("{r}.status = 'VALIDATED' AND {r}.deleted_at IS NULL")
}

/// The row adding `sign` for the mission row `r` to the tally.
fn mission_row(r: &str, sign: &str) -> String {
    format!(
        "INSERT INTO public_mission_tally (domain, mission_type, remote, n) \
         SELECT {r}.domain, {r}.mission_type, {r}.remote, {sign} WHERE {}",
        public(r)
    )
}

/// The columns whose change moves a mission in the tally, for `UPDATE OF`.
const MISSION_COLUMNS: &str = "status, deleted_at, domain, mission_type, remote";

/// Whether one of [`MISSION_COLUMNS`] changed (`IS NOT` on SQLite, `IS DISTINCT FROM` on
/// PostgreSQL).
fn mission_changed(differs: &str) -> String {
    MISSION_COLUMNS
        .split(", ")
        .map(|c| format!("OLD.{c} {differs} NEW.{c}"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// Whether the address row `r` is the only public address of its mission in its department.
fn alone(r: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM mission_addresses o WHERE o.department_code = {r}.department_code \
         AND o.mission_id = {r}.mission_id AND o.mission_public AND o.id <> {r}.id)"
    )
}

/// Whether the address row `r` counts its mission in its department.
fn counts(r: &str) -> String {
    format!("{r}.mission_public AND {r}.department_code IS NOT NULL")
}

/// The row adding `sign` to the department of the address row `r`, when `r` is the only one of
/// its mission there.
fn department_row(r: &str, sign: &str) -> String {
    format!(
        "INSERT INTO public_mission_tally (department_code, n) SELECT {r}.department_code, {sign} \
         WHERE {} AND {}",
        counts(r),
        alone(r)
    )
}

fn sqlite_triggers() -> Vec<String> {
    vec![
        format!(
            "CREATE TRIGGER missions_tally_insert AFTER INSERT ON missions BEGIN {}; END",
            mission_row("NEW", "1")
        ),
        format!(
            "CREATE TRIGGER missions_tally_delete AFTER DELETE ON missions BEGIN {}; END",
            mission_row("OLD", "-1")
        ),
        format!(
            "CREATE TRIGGER missions_tally_update AFTER UPDATE OF {MISSION_COLUMNS} ON missions
             WHEN {} BEGIN {}; {}; END",
            mission_changed("IS NOT"),
            mission_row("OLD", "-1"),
            mission_row("NEW", "1")
        ),
        // SQLite runs an `AFTER` row trigger as each row is written: a statement that writes
        // two addresses of one mission in one department counts the mission once.
        format!(
            "CREATE TRIGGER mission_addresses_tally_insert AFTER INSERT ON mission_addresses \
             BEGIN {}; END",
            department_row("NEW", "1")
        ),
        format!(
            "CREATE TRIGGER mission_addresses_tally_delete AFTER DELETE ON mission_addresses \
             BEGIN {}; END",
            department_row("OLD", "-1")
        ),
        format!(
            "CREATE TRIGGER mission_addresses_tally_update
             AFTER UPDATE OF mission_id, department_code, mission_public ON mission_addresses
             WHEN OLD.mission_id IS NOT NEW.mission_id OR OLD.department_code IS NOT NEW.department_code
                  OR OLD.mission_public IS NOT NEW.mission_public
             BEGIN {}; {}; END",
            department_row("OLD", "-1"),
            department_row("NEW", "1")
        ),
    ]
}

/// Whether a row of a transition table of missions is a public mission.
const PUBLIC: &str = "status = 'VALIDATED' AND deleted_at IS NULL";

/// Whether a public address of mission `p.mission_id` in department `p.department_code` is in
/// the table, with `and` added to the condition.
fn public_address(and: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM mission_addresses a WHERE a.department_code = p.department_code \
         AND a.mission_id = p.mission_id AND a.mission_public{and})"
    )
}

/// Locks the missions of `pairs` (a query of `mission_id`s), in order: two transactions writing
/// addresses of one mission see each other's, so that they cannot both count it.
fn lock_missions(pairs: &str) -> String {
    format!(
        "PERFORM 1 FROM missions WHERE id IN (SELECT mission_id FROM {pairs}) \
         ORDER BY id FOR NO KEY UPDATE"
    )
}

/// PL/pgSQL keeps one plan per statement for the session, made from the table's size at the
/// time: in an import that fills the tables from empty in one transaction, migration 9's lookup
/// of an address's mission was planned as a walk of the whole partial index of public missions,
/// filtered by id, and run for every address after (a first import of 5,000 missions took
/// 2.5 s, growing with the square of its size). The mission is read by its key alone (no partial
/// index applies), without sequential scans. (Migration 11 adds a lock, and puts this one back
/// when undone.)
pub(crate) const POSTGRES_ADDRESS_BY_KEY: &str =
    "CREATE OR REPLACE FUNCTION mission_addresses_public() RETURNS trigger LANGUAGE plpgsql
     SET enable_seqscan = off AS $$
     DECLARE
        visible BOOLEAN;
     BEGIN
        SELECT m.status = 'VALIDATED' AND m.deleted_at IS NULL INTO visible
        FROM missions m WHERE m.id = NEW.mission_id;
        NEW.mission_public := coalesce(visible, FALSE);
        RETURN NEW;
     END $$";

/// PostgreSQL's: triggers for each statement, over its rows at once (transition tables), so
/// that an import writing 500 missions or addresses per statement adds a few tally rows per
/// statement instead of running a function per row. The address function of migration 9 keeps
/// setting each address's copy of the visibility, before it is written.
fn postgres_triggers() -> Vec<String> {
    let counted = "mission_public AND department_code IS NOT NULL";
    // The rows of an update whose mission, department or visibility changed, old and new.
    let changed = "old_rows o JOIN new_rows n ON n.id = o.id \
                   WHERE (o.mission_id, o.department_code, o.mission_public) \
                   IS DISTINCT FROM (n.mission_id, n.department_code, n.mission_public)";
    // The pairs (mission, department) they counted in before or count in after.
    let moved = format!(
        "(SELECT o.mission_id, o.department_code FROM {changed} AND {} \
          UNION SELECT n.mission_id, n.department_code FROM {changed} AND {})",
        counts("o"),
        counts("n")
    );
    vec![
        format!(
            "CREATE FUNCTION missions_tally() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                IF TG_OP = 'INSERT' THEN
                    INSERT INTO public_mission_tally (domain, mission_type, remote, n)
                    SELECT domain, mission_type, remote, COUNT(*) FROM new_rows WHERE {PUBLIC}
                    GROUP BY domain, mission_type, remote;
                ELSIF TG_OP = 'DELETE' THEN
                    INSERT INTO public_mission_tally (domain, mission_type, remote, n)
                    SELECT domain, mission_type, remote, -COUNT(*) FROM old_rows WHERE {PUBLIC}
                    GROUP BY domain, mission_type, remote;
                ELSE
                    INSERT INTO public_mission_tally (domain, mission_type, remote, n)
                    SELECT domain, mission_type, remote, SUM(n) FROM (
                        SELECT domain, mission_type, remote, -1 AS n FROM old_rows WHERE {PUBLIC}
                        UNION ALL
                        SELECT domain, mission_type, remote, 1 FROM new_rows WHERE {PUBLIC}) c
                    GROUP BY domain, mission_type, remote HAVING SUM(n) <> 0;
                END IF;
                RETURN NULL;
             END $$"
        ),
        // A mission counts once per department where it has public addresses: after the
        // statement, a pair (mission, department) that has a public address and had none before
        // adds one, and one that had and has none any more takes one off. Its lookups find
        // their rows by key (see below for why sequential scans are off).
        format!(
            "CREATE FUNCTION mission_addresses_tally() RETURNS trigger LANGUAGE plpgsql
             SET enable_seqscan = off AS $$
             BEGIN
                IF TG_OP = 'INSERT' THEN
                    {lock_new};
                    INSERT INTO public_mission_tally (department_code, n)
                    SELECT p.department_code, COUNT(*) FROM (
                        SELECT mission_id, department_code, COUNT(*) AS added FROM new_rows
                        WHERE {counted} GROUP BY mission_id, department_code) p
                    WHERE (SELECT COUNT(*) FROM mission_addresses a
                           WHERE a.department_code = p.department_code
                             AND a.mission_id = p.mission_id AND a.mission_public) = p.added
                    GROUP BY p.department_code;
                ELSIF TG_OP = 'DELETE' THEN
                    {lock_old};
                    INSERT INTO public_mission_tally (department_code, n)
                    SELECT p.department_code, -COUNT(*) FROM (
                        SELECT DISTINCT mission_id, department_code FROM old_rows WHERE {counted}) p
                    WHERE NOT {any_now}
                    GROUP BY p.department_code;
                ELSE
                    -- Only addresses whose mission, department or visibility changed move a
                    -- count (a geocoded address changes none of them).
                    IF NOT EXISTS (SELECT 1 FROM {changed}) THEN
                        RETURN NULL;
                    END IF;
                    {lock_moved};
                    INSERT INTO public_mission_tally (department_code, n)
                    SELECT department_code, SUM(now - was) FROM (
                        SELECT p.department_code, ({any_now})::INT AS now,
                               (EXISTS (SELECT 1 FROM old_rows o WHERE o.department_code = p.department_code
                                        AND o.mission_id = p.mission_id AND o.mission_public)
                                OR {untouched})::INT AS was
                        FROM {moved} p) d
                    GROUP BY department_code HAVING SUM(now - was) <> 0;
                END IF;
                RETURN NULL;
             END $$",
            lock_new = lock_missions(&format!("new_rows WHERE {counted}")),
            lock_old = lock_missions(&format!("old_rows WHERE {counted}")),
            lock_moved = lock_missions(&format!("{moved} p")),
            any_now = public_address(""),
            untouched = public_address(" AND a.id NOT IN (SELECT id FROM new_rows)"),
        ),
        POSTGRES_ADDRESS_BY_KEY.to_owned(),
        // Migration 9 passed a mission's new visibility to its addresses with one statement per
        // mission, each running the addresses' tally trigger: archiving 100,000 missions took
        // 24 s instead of 13. One statement for all the missions of an update instead.
        "DROP TRIGGER missions_public_addresses ON missions".to_owned(),
        "CREATE OR REPLACE FUNCTION missions_public_addresses() RETURNS trigger LANGUAGE plpgsql
         SET enable_seqscan = off AS $$
         BEGIN
            UPDATE mission_addresses a
            SET mission_public = (n.status = 'VALIDATED' AND n.deleted_at IS NULL)
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE a.mission_id = n.id AND (o.status IS DISTINCT FROM n.status
                                           OR o.deleted_at IS DISTINCT FROM n.deleted_at);
            RETURN NULL;
         END $$"
            .to_owned(),
        "CREATE TRIGGER missions_public_addresses AFTER UPDATE ON missions
         REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
         FOR EACH STATEMENT EXECUTE FUNCTION missions_public_addresses()"
            .to_owned(),
    ]
    .into_iter()
    .chain(statement_triggers("missions", "missions_tally"))
    .chain(statement_triggers("mission_addresses", "mission_addresses_tally"))
    .collect()
}

/// The triggers that run `function` once per insert, delete and update of `table`, with the
/// statement's rows as `new_rows` and `old_rows`. (A trigger with transition tables cannot name
/// columns: the update one runs for every update, and adds nothing when no count moved.)
fn statement_triggers(table: &str, function: &str) -> [String; 3] {
    [
        ("INSERT", "NEW TABLE AS new_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
        ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    ]
    .map(|(event, rows)| {
        format!(
            "CREATE TRIGGER {table}_tally_{} AFTER {event} ON {table} REFERENCING {rows} \
             FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
            event.to_lowercase()
        )
    })
}

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS mission_addresses_tally_update",
    "DROP TRIGGER IF EXISTS mission_addresses_tally_delete",
    "DROP TRIGGER IF EXISTS mission_addresses_tally_insert",
    "DROP TRIGGER IF EXISTS missions_tally_update",
    "DROP TRIGGER IF EXISTS missions_tally_delete",
    "DROP TRIGGER IF EXISTS missions_tally_insert",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS missions_public_addresses ON missions",
    POSTGRES_MISSION_FUNCTION,
    POSTGRES_MISSION_TRIGGER,
    POSTGRES_ADDRESS_FUNCTION,
    "DROP TRIGGER IF EXISTS mission_addresses_tally_update ON mission_addresses",
    "DROP TRIGGER IF EXISTS mission_addresses_tally_delete ON mission_addresses",
    "DROP TRIGGER IF EXISTS mission_addresses_tally_insert ON mission_addresses",
    "DROP FUNCTION IF EXISTS mission_addresses_tally()",
    "DROP TRIGGER IF EXISTS missions_tally_update ON missions",
    "DROP TRIGGER IF EXISTS missions_tally_delete ON missions",
    "DROP TRIGGER IF EXISTS missions_tally_insert ON missions",
    "DROP FUNCTION IF EXISTS missions_tally()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        run_all(manager, &[engine(backend)?.render(tally::TABLE)]).await?;
        let triggers = match backend {
            DatabaseBackend::Postgres => postgres_triggers(),
            _ => sqlite_triggers(),
        };
        run_all(manager, &triggers).await?;
        run_all(manager, tally::RECOUNT).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => run_all(manager, POSTGRES_DOWN).await?,
            _ => run_all(manager, SQLITE_DOWN).await?,
        }
        run_all(manager, &["DROP TABLE public_mission_tally"]).await
    }
}
