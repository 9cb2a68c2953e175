//! The tally of public missions (`public_mission_tally`, migration 10): what the database
//! writes as missions and addresses change, and the statements that fold it.
//!
//! Each row is a change to the counts of public missions (status VALIDATED, not deleted): a
//! mission row (`department_code` NULL) adds `n` to its domain, type and remote; a department
//! row (the other columns NULL) adds `n` to the number of public missions with an address in
//! that department. Triggers append rows as missions and addresses change (one per change on
//! SQLite, one per group of a statement's changes on PostgreSQL), in the writer's transaction;
//! a reader sums the rows by their four columns, so that it reads committed counts, exact, from
//! a few hundred rows instead of counting a million missions. Folding ([`FOLD_POSTGRES`],
//! [`FOLD_SQLITE`], run by `passerelle_db::tally`) replaces the rows by their sums without
//! changing any sum; [`RECOUNT`] writes the sums from the missions themselves.

/// The tally's table, with the engine's placeholders (`{pk}`).
pub const TABLE: &str = "CREATE TABLE public_mission_tally (
        id {pk},
        domain TEXT, mission_type TEXT, remote TEXT, department_code TEXT,
        n BIGINT NOT NULL)";

/// Rows beyond which the tally is worth folding: a fold leaves at most one row per domain,
/// type and remote together (20 × 5 × 3) and one per department.
pub const FOLD_ABOVE: i64 = 1_000;

/// Writes the tally from the missions and addresses, replacing what it held: for a database
/// that nothing else writes meanwhile (the migration that makes the tally, the demo seed, whose
/// load goes without the triggers).
pub const RECOUNT: &[&str] = &[
    "DELETE FROM public_mission_tally",
    "INSERT INTO public_mission_tally (domain, mission_type, remote, n)
     SELECT domain, mission_type, remote, COUNT(*) FROM missions
     WHERE status = 'VALIDATED' AND deleted_at IS NULL
     GROUP BY domain, mission_type, remote",
    "INSERT INTO public_mission_tally (department_code, n)
     SELECT department_code, COUNT(DISTINCT mission_id) FROM mission_addresses
     WHERE mission_public AND department_code IS NOT NULL
     GROUP BY department_code",
];

/// Folds the tally on PostgreSQL in one statement, beside concurrent writers: the rows it
/// deletes are exactly those its snapshot sees (a row committed later, or by a writer still
/// running, stays), and their sums go back as one row per group.
pub const FOLD_POSTGRES: &str = "WITH folded AS (
        DELETE FROM public_mission_tally
        RETURNING domain, mission_type, remote, department_code, n)
    INSERT INTO public_mission_tally (domain, mission_type, remote, department_code, n)
    SELECT domain, mission_type, remote, department_code, SUM(n) FROM folded
    GROUP BY domain, mission_type, remote, department_code HAVING SUM(n) <> 0";

/// Folds the tally on SQLite, in one write transaction (SQLite has one writer at a time) with
/// the highest id it folds bound to `?`: the sums go in as new rows, above that id, then the
/// rows folded go.
pub const FOLD_SQLITE: &[&str] = &[
    "INSERT INTO public_mission_tally (domain, mission_type, remote, department_code, n)
     SELECT domain, mission_type, remote, department_code, SUM(n) FROM public_mission_tally
     WHERE id <= ?
     GROUP BY domain, mission_type, remote, department_code HAVING SUM(n) <> 0",
    "DELETE FROM public_mission_tally WHERE id <= ?",
];
