//! Deterministic demo data: real French cities and departments, the 20 domains, the four
//! publishers, organizations, missions with addresses, volunteers with applications in every
//! status. The same `--missions N` always gives the same rows, so benchmarks and examples are
//! reproducible. Rows are written in bulk, in one transaction: a failed seed leaves nothing.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use passerelle_entities::mission::StringList;
use passerelle_entities::{
    ApplicationStatus, DiffusionField, DiffusionOperator, Domain, GeoSource, MissionStatus,
    MissionType, Remote, Role, api_key, application, diffusion_rule, geo, mission, mission_address,
    organization, publisher, search, user, volunteer,
};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend,
    EntityName, EntityTrait, IdenStatic, Iterable, Set, TransactionTrait,
};
use secrecy::SecretString;

mod copy;

use crate::seed_data::{
    AUDIENCES, CITIES, City, FIRST_NAMES, LAST_NAMES, ORGANIZATIONS, SCHEDULES, SKILLS, TITLES,
};

/// The most missions `seed --demo` makes.
pub const MAX_MISSIONS: u64 = 1_000_000;
/// The missions `seed --demo` makes by default.
pub const DEFAULT_MISSIONS: u64 = 2_000;

/// What a seed wrote.
#[derive(Debug, Default)]
pub struct SeedReport {
    pub publishers: u64,
    pub organizations: u64,
    pub missions: u64,
    pub addresses: u64,
    pub volunteers: u64,
    pub applications: u64,
    /// One API key per publisher, and one user per role, to try every role.
    pub credentials: DemoCredentials,
    pub duration: Duration,
}

/// The demo's credentials: keys are shown here once (only their hash is stored).
#[derive(Debug, Default)]
pub struct DemoCredentials {
    /// `(publisher name, key)`.
    pub keys: Vec<(String, SecretString)>,
    pub users: Vec<DemoUser>,
}

/// A demo user: who, with which role and scope.
#[derive(Debug, Clone)]
pub struct DemoUser {
    pub email: String,
    pub role: Role,
    pub scope: String,
}

/// The demo users' emails, one per role.
pub const DEMO_EMAILS: &[(&str, Role)] = &[
    ("admin@passerelle.example", Role::Admin),
    ("analyste@passerelle.example", Role::Analyst),
    (
        "referent.rhone@passerelle.example",
        Role::ReferentDepartment,
    ),
    ("referent.idf@passerelle.example", Role::ReferentRegion),
    ("structure@passerelle.example", Role::StructureStaff),
    ("partenaire@passerelle.example", Role::PartnerStaff),
    ("volontaire@passerelle.example", Role::Volunteer),
];

/// A small, fast, deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// A number in `[-1, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

const PUBLISHERS: &[(&str, &str, bool, bool)] = &[
    (
        "JeVeuxAider.gouv.fr",
        "https://www.jeveuxaider.gouv.fr",
        true,
        true,
    ),
    (
        "Service Civique",
        "https://www.service-civique.gouv.fr",
        true,
        true,
    ),
    (
        "SNU – Service National Universel",
        "https://www.snu.gouv.fr",
        true,
        true,
    ),
    (
        "J'agis pour la Nature",
        "https://jagispourlanature.org",
        true,
        false,
    ),
];

fn anchor() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 1, 8, 0, 0)
        .single()
        .unwrap_or_default()
}

fn department_of(city: &City) -> &'static geo::Department {
    // Every postal code of CITIES is a real one; fall back to Paris rather than panic.
    geo::department_of_postal_code(city.1).unwrap_or(&geo::DEPARTMENTS[75])
}

/// The tables the demo data fills.
const LOADED: [&str; 7] = [
    "publishers",
    "organizations",
    "missions",
    "mission_addresses",
    "volunteers",
    "applications",
    "users",
];

/// The secondary indexes of the loaded tables and the triggers that would run for each row
/// (SQLite's full-text insert trigger and PostgreSQL's that fills a mission's full-text vector,
/// which the load writes itself; on both engines, the one that copies a mission's visibility
/// onto its new addresses, whose value the seed writes itself, and those that add each new
/// public mission and address to the tally, whose sums the generator counts and the load
/// writes once, see [`Tally`]), dropped for a bulk load and made again after it, from their
/// own definitions.
///
/// On PostgreSQL the foreign keys of the loaded tables too: each checks every row inserted with
/// a lookup of its parent, through a trigger run after each statement (a quarter of the
/// database's time while the rows of a million missions were written); added back after the
/// load, each is checked once, over the whole table, in one join. Within the load's
/// transaction: no one else sees the tables without them, and a failed load puts them back
/// with the rest.
struct Deferred {
    /// `CREATE INDEX …` / `CREATE TRIGGER …` / `ALTER TABLE … ADD CONSTRAINT …` statements, as
    /// the database holds them.
    definitions: Vec<String>,
}

/// The per-row insert triggers of the loaded tables that the load does without.
const DEFERRED_TRIGGERS: &str = "'missions_fts_insert', 'missions_search_vector', \
                                 'mission_addresses_public_insert', 'mission_addresses_public', \
                                 'missions_tally_insert', 'mission_addresses_tally_insert'";

impl Deferred {
    async fn drop<C: ConnectionTrait>(txn: &C) -> anyhow::Result<Deferred> {
        let backend = txn.get_database_backend();
        let tables = LOADED
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        // Indexes made by `CREATE INDEX` only: those of primary keys and unique constraints
        // stay (SQLite gives them no SQL; PostgreSQL names them by their constraint).
        let list = match backend {
            DbBackend::Postgres => format!(
                "SELECT 'index' AS kind, i.indexname AS name, i.tablename AS tbl, i.indexdef AS sql
                 FROM pg_indexes i
                 WHERE i.schemaname = current_schema() AND i.tablename IN ({tables})
                   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
                 UNION ALL
                 SELECT 'trigger', t.tgname, c.relname, pg_get_triggerdef(t.oid)
                 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                 WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
                   AND c.relname IN ({tables})
                   AND t.tgname IN ({DEFERRED_TRIGGERS})
                 UNION ALL
                 SELECT 'foreign key', k.conname, c.relname,
                        format('ALTER TABLE %I ADD CONSTRAINT %I %s', c.relname, k.conname,
                               pg_get_constraintdef(k.oid))
                 FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
                 WHERE k.contype = 'f'
                   AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
                   AND c.relname IN ({tables})"
            ),
            _ => format!(
                "SELECT type AS kind, name, tbl_name AS tbl, sql FROM sqlite_master
                 WHERE sql IS NOT NULL AND tbl_name IN ({tables})
                   AND (type = 'index' OR (type = 'trigger' AND name IN ({DEFERRED_TRIGGERS})))"
            ),
        };
        let rows = txn
            .query_all_raw(sea_orm::Statement::from_string(backend, list))
            .await
            .context("cannot list the indexes and triggers")?;
        let mut definitions = Vec::new();
        for row in rows {
            let kind: String = row.try_get("", "kind").context("kind")?;
            let name: String = row.try_get("", "name").context("name")?;
            let table: String = row.try_get("", "tbl").context("table")?;
            let sql: String = row.try_get("", "sql").context("definition")?;
            let statement = match (kind.as_str(), backend) {
                ("trigger", DbBackend::Postgres) => {
                    format!("DROP TRIGGER \"{name}\" ON \"{table}\"")
                }
                ("trigger", _) => format!("DROP TRIGGER \"{name}\""),
                ("foreign key", _) => {
                    format!("ALTER TABLE \"{table}\" DROP CONSTRAINT \"{name}\"")
                }
                _ => format!("DROP INDEX \"{name}\""),
            };
            txn.execute_unprepared(&statement)
                .await
                .with_context(|| format!("cannot drop {name}"))?;
            definitions.push(sql);
        }
        Ok(Deferred { definitions })
    }

    async fn rebuild<C: ConnectionTrait>(self, txn: &C) -> anyhow::Result<()> {
        let sqlite = txn.get_database_backend() == DbBackend::Sqlite;
        if sqlite {
            // SQLite sorts an index's keys on this thread alone unless told it may use more:
            // with two helpers the indexes of a million missions took 22 s instead of 27-28 s
            // with none (session 10). One helper takes as little time as two on two cores
            // (14-15 s either way, session 13) and 20 MiB less at the seed's peak (118-121 MiB
            // against 137-142 MiB): one. Put back to none once built.
            txn.execute_unprepared("PRAGMA threads = 1")
                .await
                .context("cannot let SQLite sort on several threads")?;
        }
        for sql in &self.definitions {
            txn.execute_unprepared(sql)
                .await
                .with_context(|| format!("cannot build again: {sql}"))?;
        }
        if sqlite {
            txn.execute_unprepared("PRAGMA threads = 0")
                .await
                .context("cannot put SQLite's sorting threads back")?;
            // The full-text index reads every mission's text once.
            txn.execute_unprepared("INSERT INTO missions_fts(missions_fts) VALUES ('rebuild')")
                .await
                .context("cannot build the full-text index")?;
        }
        Ok(())
    }
}

/// SQLite's journal for the load.
///
/// In WAL mode a load writes every page twice: into the log, then into the database file at
/// the checkpoint (and the index builds look every page up in the log on the way). Under a
/// rollback journal the pages go straight into the file, and the journal of a database that
/// only grows holds almost nothing (a page added to the file has no old content to save): a
/// process that stops mid-load leaves the journal, and the next opening rolls the load back
/// (with `synchronous = NORMAL`, a power cut at the wrong moment may not: run the seed again
/// on a fresh file). SQLite leaves WAL only for a connection alone on the
/// file (the `seed` command); where other connections are open (a server seeding as it starts),
/// the load goes through the log, checkpointed after it.
struct Journal {
    /// Whether the file left WAL for the load.
    left_wal: bool,
}

impl Journal {
    async fn rollback(db: &DatabaseConnection) -> Journal {
        if db.get_database_backend() != DbBackend::Sqlite {
            return Journal { left_wal: false };
        }
        // Another connection on the file makes this fail ("database is locked") or answer
        // "wal": the load then stays in WAL.
        let mode: Option<String> = db
            .query_one_raw(sea_orm::Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA journal_mode = DELETE",
            ))
            .await
            .ok()
            .flatten()
            .and_then(|row| row.try_get_by_index(0).ok());
        let left_wal = mode.as_deref() == Some("delete");
        tracing::info!(
            journal = if left_wal { "rollback" } else { "wal" },
            "loading the demo data"
        );
        Journal { left_wal }
    }

    /// Back to WAL; a load made through the log is copied into the file and the log emptied,
    /// so that readers read the database file (memory-mapped) rather than look up every page in
    /// the log and read it with a system call.
    async fn restore(self, db: &DatabaseConnection) -> anyhow::Result<()> {
        if db.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let statement = if self.left_wal {
            "PRAGMA journal_mode = WAL"
        } else {
            "PRAGMA wal_checkpoint(TRUNCATE)"
        };
        db.execute_unprepared(statement)
            .await
            .with_context(|| format!("cannot finish the load: {statement}"))?;
        Ok(())
    }
}

/// SQLite's memory map of the database file, turned off on the connection of a transaction
/// for its length (a no-op on PostgreSQL).
struct MemoryMap(Option<i64>);

impl MemoryMap {
    /// Turns the map off; must run before the transaction's first read, when SQLite takes the
    /// setting into account.
    async fn off<C: ConnectionTrait>(txn: &C) -> anyhow::Result<MemoryMap> {
        if txn.get_database_backend() != DbBackend::Sqlite {
            return Ok(MemoryMap(None));
        }
        let size: Option<i64> = txn
            .query_one_raw(sea_orm::Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA mmap_size",
            ))
            .await?
            .map(|row| row.try_get_by_index(0))
            .transpose()
            .context("cannot read mmap_size")?;
        txn.execute_unprepared("PRAGMA mmap_size = 0")
            .await
            .context("cannot turn the memory map off")?;
        Ok(MemoryMap(size))
    }

    /// Gives the connection its map back, for the transactions after this one.
    async fn restore<C: ConnectionTrait>(self, txn: &C) -> anyhow::Result<()> {
        if let Some(size) = self.0 {
            txn.execute_unprepared(&format!("PRAGMA mmap_size = {size}"))
                .await
                .context("cannot restore the memory map")?;
        }
        Ok(())
    }
}

/// Rows per `INSERT` on SQLite: a prepared 750-row insert held megabytes in the statement cache
/// and was not faster (the million-mission seed took longer with it). 100 rows of the widest
/// table (missions, 35 columns) bind 3,500 values, far within SQLite's limit (32,766).
const ROWS_PER_STATEMENT: usize = 100;

/// Rows per `COPY` on PostgreSQL: about 1.5 MB of missions. Each `COPY` costs two round trips
/// more than its rows; the writer encodes the next ones meanwhile.
const ROWS_PER_COPY: usize = 1_000;

/// The load's transaction: SQLite's, through sea-orm, or PostgreSQL's [`copy::PgSession`],
/// which also takes rows with `COPY`.
trait Load: ConnectionTrait {
    /// Writes the generator's rows as they come (see [`write_rows`]) and says how many of each
    /// table were written.
    fn write_rows(
        &self,
        receiver: tokio::sync::mpsc::Receiver<Vec<Row>>,
    ) -> impl Future<Output = anyhow::Result<SeedReport>> + Send;
}

impl Load for DatabaseTransaction {
    async fn write_rows(
        &self,
        receiver: tokio::sync::mpsc::Receiver<Vec<Row>>,
    ) -> anyhow::Result<SeedReport> {
        let (report, _) = write_rows(self, receiver).await?;
        Ok(report)
    }
}

impl Load for copy::PgSession {
    /// The rows are encoded while the database takes the previous `COPY`: the writer hands
    /// each `COPY`'s input to the copier, which runs them one after the other on the session.
    /// Rows whose text the generator could not turn into a full-text vector get the
    /// database's, after the last `COPY`.
    async fn write_rows(
        &self,
        receiver: tokio::sync::mpsc::Receiver<Vec<Row>>,
    ) -> anyhow::Result<SeedReport> {
        let (copies, inputs) = tokio::sync::mpsc::channel(COPIES_AHEAD);
        let copier = tokio::spawn(self.clone().run_copies(inputs));
        // The writer's end is dropped with its future: the copier ends after the last input.
        let written = write_rows(&copy::Copies::new(copies), receiver).await;
        // A copier that failed has dropped its receiver: the writer's error only says so.
        copier
            .await
            .context("the copier of the demo data stopped")??;
        let (report, missing_vectors) = written?;
        if missing_vectors > 0 {
            self.execute_unprepared(
                "UPDATE missions SET search_vector = to_tsvector('simple', search_text)
                 WHERE search_vector IS NULL",
            )
            .await
            .context("cannot make the missions' full-text vectors")?;
        }
        Ok(report)
    }
}

/// `COPY` inputs the writer may have ready while the database takes one.
const COPIES_AHEAD: usize = 2;

/// Where [`Bulk`] sends a table's rows: SQLite's transaction takes `INSERT`s, PostgreSQL's
/// copier `COPY` inputs (each [`Bulk`] makes the statements of its engine).
trait Sink: Sync {
    fn backend(&self) -> DbBackend;

    /// Runs a multi-row `INSERT`.
    fn insert(
        &self,
        statement: sea_orm::Statement,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Hands over `statement`, a `COPY … FROM STDIN`, with its input, `data`, of `rows` rows.
    fn copy(
        &self,
        statement: &str,
        data: Vec<u8>,
        rows: u64,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

impl Sink for DatabaseTransaction {
    fn backend(&self) -> DbBackend {
        self.get_database_backend()
    }

    async fn insert(&self, statement: sea_orm::Statement) -> anyhow::Result<()> {
        self.execute_raw(statement).await?;
        Ok(())
    }

    async fn copy(&self, statement: &str, _: Vec<u8>, _: u64) -> anyhow::Result<()> {
        bail!("{statement}: only PostgreSQL's session takes COPY; SQLite's rows go in INSERTs")
    }
}

/// How a table's rows reach the database.
enum Format {
    /// Multi-row `INSERT`s (SQLite): the pending rows' values, bound as they are, and the
    /// statements' texts by their number of rows, each made once. No query builder walks the
    /// rows (sea-query's `insert_many` copied every value twice and wrote every placeholder
    /// again for each statement).
    Insert {
        values: Vec<sea_orm::Value>,
        texts: HashMap<usize, String>,
    },
    /// `COPY … FROM STDIN (FORMAT binary)` (PostgreSQL): the pending rows, encoded as they
    /// come into the statement's input.
    Copy {
        statement: String,
        data: Vec<u8>,
        /// Where each row carries the full-text vector of its text too (see
        /// [`Bulk::with_search_vector`]): the rows written without one, whose text the
        /// generator could not turn into a vector.
        vectors: Option<u64>,
    },
}

/// The rows of one table, written as they come: each row's values are taken out of its
/// `ActiveModel` (typed, named fields), and memory holds one statement's rows, not the table's.
struct Bulk<A: ActiveModelTrait> {
    columns: Vec<<A::Entity as EntityTrait>::Column>,
    format: Format,
    /// Rows pushed and not written yet.
    pending: usize,
    /// Rows per statement (the last one of a table may hold fewer).
    per_statement: usize,
    written: u64,
}

impl<A: ActiveModelTrait + Send> Bulk<A> {
    /// Rows as the `backend` takes them best: multi-row `INSERT`s on SQLite, `COPY` on
    /// PostgreSQL.
    fn new(backend: DbBackend) -> Self {
        Self::with(backend, None)
    }

    /// On PostgreSQL, missions that carry their `search_vector` too, which the entity does not
    /// map and whose trigger the load drops (see `Deferred`): the vector given with the row
    /// ([`Bulk::push_parent`], made by the generator from `search::simple_positions`: half of
    /// the database's work while it wrote a million missions was parsing their text), or NULL
    /// where there is none, counted for the database to make it from the row's text after the
    /// last rows, as the trigger would. Elsewhere, rows as [`Bulk::new`] writes them.
    fn with_search_vector(backend: DbBackend) -> Self {
        Self::with(backend, Some(0))
    }

    fn with(backend: DbBackend, vectors: Option<u64>) -> Self {
        let columns: Vec<_> = <A::Entity as EntityTrait>::Column::iter().collect();
        let (format, per_statement) = if backend == DbBackend::Postgres {
            let mut names: Vec<String> = columns
                .iter()
                .map(|c| format!("\"{}\"", c.as_str()))
                .collect();
            if vectors.is_some() {
                names.push("\"search_vector\"".to_owned());
            }
            let statement = format!(
                "COPY \"{}\" ({}) FROM STDIN (FORMAT binary)",
                A::Entity::default().table_name(),
                names.join(", ")
            );
            let mut data = Vec::new();
            copy::header(&mut data);
            let format = Format::Copy {
                statement,
                data,
                vectors,
            };
            (format, ROWS_PER_COPY)
        } else {
            let format = Format::Insert {
                values: Vec::with_capacity(ROWS_PER_STATEMENT * columns.len()),
                texts: HashMap::new(),
            };
            (format, ROWS_PER_STATEMENT)
        };
        Bulk {
            columns,
            format,
            pending: 0,
            per_statement,
            written: 0,
        }
    }

    /// Adds a row whose every column is set; writes a statement when one is full.
    async fn push<S: Sink>(&mut self, db: &S, row: A) -> anyhow::Result<()> {
        self.take_values(row, None)?;
        if self.is_full() {
            self.flush(db).await?;
        }
        Ok(())
    }

    /// Adds a row that rows of `children` refer to, with the binary full-text vector of its
    /// text where the rows carry one (see [`Bulk::with_search_vector`]). A full statement is
    /// written, then the children's full statements, whose parents are all written by then:
    /// on SQLite every `INSERT` but a table's last is a full one, the same text and the same
    /// prepared statement (a child that wrote its parents' pending rows before its own
    /// statement made statements of every size, each a text to make and a statement for the
    /// database to prepare and keep).
    async fn push_parent<S: Sink, K: ActiveModelTrait + Send>(
        &mut self,
        db: &S,
        row: A,
        vector: Option<Vec<u8>>,
        children: &mut Bulk<K>,
    ) -> anyhow::Result<()> {
        self.take_values(row, vector)?;
        if self.is_full() {
            self.flush(db).await?;
            while children.is_full() {
                children.write(db, children.per_statement).await?;
            }
        }
        Ok(())
    }

    /// Adds a row that refers to a row given to [`Bulk::push_parent`] before it: written in a
    /// full statement after its parent's, or at the end of its table.
    fn push_child(&mut self, row: A) -> anyhow::Result<()> {
        self.take_values(row, None)
    }

    fn take_values(&mut self, mut row: A, vector: Option<Vec<u8>>) -> anyhow::Result<()> {
        if let Format::Copy { data, vectors, .. } = &mut self.format {
            copy::row(data, self.columns.len() + usize::from(vectors.is_some()))?;
        }
        for column in &self.columns {
            let value = match row.take(*column) {
                sea_orm::ActiveValue::Set(v) | sea_orm::ActiveValue::Unchanged(v) => v,
                sea_orm::ActiveValue::NotSet => {
                    bail!(
                        "a demo row of {} leaves {} unset",
                        A::Entity::default().table_name(),
                        column.as_str()
                    )
                }
            };
            match &mut self.format {
                Format::Insert { values, .. } => values.push(value),
                Format::Copy { data, .. } => copy::value(data, value).with_context(|| {
                    format!("{}.{}", A::Entity::default().table_name(), column.as_str())
                })?,
            }
        }
        if let Format::Copy {
            data,
            vectors: Some(vectors),
            ..
        } = &mut self.format
        {
            match vector {
                Some(vector) => copy::bytes(data, &vector)?,
                None => {
                    copy::null(data);
                    *vectors += 1;
                }
            }
        }
        self.pending += 1;
        Ok(())
    }

    fn is_full(&self) -> bool {
        self.pending >= self.per_statement
    }

    /// Writes the rows pushed so far.
    async fn flush<S: Sink>(&mut self, db: &S) -> anyhow::Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        self.write(db, self.pending).await
    }

    /// Writes the first `rows` rows pushed (at least one, at most all); a `COPY` writes all
    /// its pending rows, its input being one piece.
    async fn write<S: Sink>(&mut self, db: &S, rows: usize) -> anyhow::Result<()> {
        let backend = db.backend();
        let table = A::Entity::default().table_name();
        let width = self.columns.len();
        let rows = match &mut self.format {
            Format::Insert { values, texts } => {
                let sql = match texts.get(&rows) {
                    Some(sql) => sql.clone(),
                    None => {
                        let sql = insert_sql::<A>(&self.columns, rows);
                        texts.insert(rows, sql.clone());
                        sql
                    }
                };
                let bound = if rows * width == values.len() {
                    let capacity = values.capacity();
                    std::mem::replace(values, Vec::with_capacity(capacity))
                } else {
                    values.drain(..rows * width).collect()
                };
                db.insert(sea_orm::Statement::from_sql_and_values(backend, sql, bound))
                    .await
                    .with_context(|| format!("bulk insert into {table} failed"))?;
                rows
            }
            Format::Copy {
                statement, data, ..
            } => {
                copy::trailer(data);
                let mut input = Vec::with_capacity(data.capacity());
                copy::header(&mut input);
                let input = std::mem::replace(data, input);
                db.copy(statement, input, self.pending as u64).await?;
                self.pending
            }
        };
        self.pending -= rows;
        self.written += rows as u64;
        Ok(())
    }

    /// Writes what is left and says how many rows were written in all.
    async fn finish<S: Sink>(mut self, db: &S) -> anyhow::Result<u64> {
        self.flush(db).await?;
        Ok(self.written)
    }

    /// Rows written without their full-text vector (see [`Bulk::with_search_vector`]).
    fn missing_vectors(&self) -> u64 {
        match &self.format {
            Format::Copy {
                vectors: Some(missing),
                ..
            } => *missing,
            _ => 0,
        }
    }
}

/// `INSERT INTO "t" ("a", "b") VALUES (?, ?), (?, ?)…` for `rows` rows of `columns` (SQLite's
/// placeholders).
fn insert_sql<A: ActiveModelTrait>(
    columns: &[<A::Entity as EntityTrait>::Column],
    rows: usize,
) -> String {
    let names: Vec<String> = columns
        .iter()
        .map(|c| format!("\"{}\"", c.as_str()))
        .collect();
    let placeholders = format!("({})", vec!["?"; columns.len()].join(", "));
    format!(
        "INSERT INTO \"{}\" ({}) VALUES {}",
        A::Entity::default().table_name(),
        names.join(", "),
        vec![placeholders; rows].join(", ")
    )
}

/// Rows per batch from the generator to the writer: a channel operation per batch, not per row.
const ROWS_PER_BATCH: usize = 256;
/// Batches the generator may make ahead of the writer (about twenty statements of missions).
const BATCHES_AHEAD: usize = 8;

/// A demo row of one of the loaded tables.
enum Row {
    Publisher(publisher::ActiveModel),
    Organization(organization::ActiveModel),
    /// With its full-text vector where the writer needs one (see [`Bulk::with_search_vector`]).
    Mission(Box<mission::ActiveModel>, Option<Vec<u8>>),
    Address(mission_address::ActiveModel),
    Volunteer(volunteer::ActiveModel),
    Application(application::ActiveModel),
}

impl Row {
    /// The generator makes the tables in this order; a row refers only to rows of its own
    /// stage or earlier ones.
    fn stage(&self) -> u8 {
        match self {
            Row::Publisher(_) => 0,
            Row::Organization(_) => 1,
            Row::Mission(..) | Row::Address(_) => 2,
            Row::Volunteer(_) | Row::Application(_) => 3,
        }
    }
}

/// The generator's end of the channel to the writer: rows go in batches.
struct Rows {
    batch: Vec<Row>,
    sender: tokio::sync::mpsc::Sender<Vec<Row>>,
}

impl Rows {
    fn new(sender: tokio::sync::mpsc::Sender<Vec<Row>>) -> Self {
        Rows {
            batch: Vec::with_capacity(ROWS_PER_BATCH),
            sender,
        }
    }

    fn push(&mut self, row: Row) -> anyhow::Result<()> {
        self.batch.push(row);
        if self.batch.len() == ROWS_PER_BATCH {
            self.send()?;
        }
        Ok(())
    }

    /// Waits while the writer is `BATCHES_AHEAD` behind.
    fn send(&mut self) -> anyhow::Result<()> {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(ROWS_PER_BATCH));
        self.sender
            .blocking_send(batch)
            .map_err(|_| anyhow::anyhow!("the writer of the demo data stopped"))
    }

    fn finish(mut self) -> anyhow::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.send()
    }
}

/// Writes the generator's rows as they come, each table in multi-row statements or `COPY`s
/// (see [`Bulk`]), and says how many of each were written and how many missions went without
/// their full-text vector.
///
/// The rows are made on a thread of their own while the database writes the previous
/// statements: made and written one after the other, the seed of a million missions on
/// PostgreSQL spent about 10 s of its 48 s of writing in its own process, the database
/// waiting. A row is written after the rows it refers to: those of earlier tables are flushed
/// when the first row of a later stage comes, and addresses and applications are written after
/// each statement of their missions and volunteers (see [`Bulk::push_parent`]).
async fn write_rows<S: Sink>(
    txn: &S,
    mut receiver: tokio::sync::mpsc::Receiver<Vec<Row>>,
) -> anyhow::Result<(SeedReport, u64)> {
    let backend = txn.backend();
    let mut publishers = Bulk::new(backend);
    let mut organizations = Bulk::new(backend);
    let mut missions = Bulk::with_search_vector(backend);
    let mut addresses = Bulk::new(backend);
    let mut volunteers = Bulk::new(backend);
    let mut applications = Bulk::new(backend);
    let mut stage = 0;
    while let Some(batch) = receiver.recv().await {
        for row in batch {
            if row.stage() != stage {
                publishers.flush(txn).await?;
                organizations.flush(txn).await?;
                missions.flush(txn).await?;
                addresses.flush(txn).await?;
                stage = row.stage();
            }
            match row {
                Row::Publisher(row) => publishers.push(txn, row).await?,
                Row::Organization(row) => organizations.push(txn, row).await?,
                Row::Mission(row, vector) => {
                    missions
                        .push_parent(txn, *row, vector, &mut addresses)
                        .await?;
                }
                Row::Address(row) => addresses.push_child(row)?,
                Row::Volunteer(row) => {
                    volunteers
                        .push_parent(txn, row, None, &mut applications)
                        .await?;
                }
                Row::Application(row) => applications.push_child(row)?,
            }
        }
    }
    let missing_vectors = missions.missing_vectors();
    let report = SeedReport {
        publishers: publishers.finish(txn).await?,
        organizations: organizations.finish(txn).await?,
        missions: missions.finish(txn).await?,
        addresses: addresses.finish(txn).await?,
        volunteers: volunteers.finish(txn).await?,
        applications: applications.finish(txn).await?,
        ..SeedReport::default()
    };
    Ok((report, missing_vectors))
}

/// One API key per publisher, one user per role, and the diffuseurs' rules: JeVeuxAider shows
/// Service Civique's and J'agis pour la Nature's missions, Service Civique shows JeVeuxAider's
/// but those of sapeurs-pompiers, the SNU shows the missions of both open to SNU volunteers'
/// domains in the Rhône and Île-de-France.
async fn seed_credentials<C: ConnectionTrait>(
    txn: &C,
    now: DateTime<Utc>,
    organization_id: i64,
    volunteer_id: i64,
) -> anyhow::Result<DemoCredentials> {
    let mut credentials = DemoCredentials::default();
    for (i, (name, ..)) in PUBLISHERS.iter().enumerate() {
        let generated = crate::auth::keys::generate()?;
        api_key::ActiveModel {
            publisher_id: Set(i as i64 + 1),
            prefix: Set(generated.prefix),
            hash: Set(generated.hash),
            label: Set(Some("démo".to_owned())),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(txn)
        .await
        .context("cannot store a demo key")?;
        credentials.keys.push(((*name).to_owned(), generated.key));
    }
    use DiffusionField as F;
    use DiffusionOperator::{Exclude, Include};
    let rules: &[(i64, DiffusionField, DiffusionOperator, &str)] = &[
        (1, F::Annonceur, Include, "2"),
        (1, F::Annonceur, Include, "4"),
        (2, F::Annonceur, Include, "1"),
        (2, F::MissionType, Exclude, "volontariat_sapeurs_pompiers"),
        (3, F::Annonceur, Include, "1"),
        (3, F::Annonceur, Include, "2"),
        (3, F::Department, Include, "69"),
        (3, F::Department, Include, "75"),
    ];
    for (diffuseur, field, operator, value) in rules {
        diffusion_rule::ActiveModel {
            diffuseur_id: Set(*diffuseur),
            field: Set(*field),
            operator: Set(*operator),
            value: Set((*value).to_owned()),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(txn)
        .await
        .context("cannot store a demo diffusion rule")?;
    }
    for (email, role) in DEMO_EMAILS {
        let mut row = user::ActiveModel {
            email: Set((*email).to_owned()),
            subject: Set(None),
            role: Set(*role),
            department_code: Set(None),
            region: Set(None),
            organization_id: Set(None),
            publisher_id: Set(None),
            volunteer_id: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        let scope = match role {
            Role::ReferentDepartment => {
                row.department_code = Set(Some("69".to_owned()));
                "department 69".to_owned()
            }
            Role::ReferentRegion => {
                row.region = Set(Some("Île-de-France".to_owned()));
                "region Île-de-France".to_owned()
            }
            Role::StructureStaff => {
                row.organization_id = Set(Some(organization_id));
                format!("organization {organization_id}")
            }
            Role::PartnerStaff => {
                row.publisher_id = Set(Some(2));
                format!("publisher {}", PUBLISHERS[1].0)
            }
            Role::Volunteer => {
                row.volunteer_id = Set(Some(volunteer_id));
                format!("volunteer {volunteer_id}")
            }
            Role::Analyst | Role::Admin => "-".to_owned(),
        };
        row.insert(txn).await.context("cannot store a demo user")?;
        credentials.users.push(DemoUser {
            email: (*email).to_owned(),
            role: *role,
            scope,
        });
    }
    Ok(credentials)
}

/// Writes the demo data set with `missions` missions into an empty database.
///
/// # Errors
/// A table the seed fills already holds rows (seeding twice would mix data sets), `missions` is 0
/// or above [`MAX_MISSIONS`], or a write fails; then nothing is written.
pub async fn seed_demo(db: &DatabaseConnection, missions: u64) -> anyhow::Result<SeedReport> {
    if missions == 0 || missions > MAX_MISSIONS {
        bail!("--missions must be between 1 and {MAX_MISSIONS}");
    }
    for table in LOADED {
        let taken = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("SELECT 1 FROM \"{table}\" LIMIT 1"),
            ))
            .await
            .with_context(|| format!("cannot read {table}"))?;
        if taken.is_some() {
            bail!(
                "the database already holds {table}; run `passerelle migrate fresh` first to start from an empty one"
            );
        }
    }
    let started = Instant::now();
    let journal = Journal::rollback(db).await;
    // Back to WAL whether the load worked or not (a failed one is rolled back).
    let loaded = load(db, missions, started).await;
    let restored = journal.restore(db).await;
    let mut report = loaded?;
    restored?;
    report.duration = started.elapsed();
    Ok(report)
}

/// The demo data written in one transaction, its indexes built and its statistics gathered
/// (see [`seed_demo`]).
async fn load(
    db: &DatabaseConnection,
    missions: u64,
    started: Instant,
) -> anyhow::Result<SeedReport> {
    if db.get_database_backend() == DbBackend::Postgres {
        let session = copy::PgSession::begin(db).await?;
        let report = fill(&session, missions, started).await?;
        session.commit().await?;
        // Fresh statistics let the planner drive each query from its most selective index;
        // VACUUM also marks the new pages all-visible (without it a covering index is read
        // with a visit of the table for each row: the geo index of `near`, 2,150 table pages).
        db.execute_unprepared("VACUUM ANALYZE")
            .await
            .context("cannot analyze the demo data")?;
        return Ok(report);
    }
    let txn = db.begin().await.context("cannot start a transaction")?;
    // The load reads back what it wrote (to build the indexes) through read() and a page cache
    // of fixed size, not through the memory map, whose pages would count in the process's
    // memory as it reads the whole file.
    let mapped = MemoryMap::off(&txn).await?;
    let report = fill(&txn, missions, started).await?;
    // Without fresh statistics a full-text count can scan every mission. Gathered in the
    // transaction, still without the memory map.
    txn.execute_unprepared("ANALYZE")
        .await
        .context("cannot analyze the demo data")?;
    mapped.restore(&txn).await?;
    txn.commit().await.context("cannot commit the demo data")?;
    Ok(report)
}

/// Writes the demo rows through `txn`, builds the indexes, adds the credentials and writes the
/// tally.
async fn fill<C: Load>(txn: &C, missions: u64, started: Instant) -> anyhow::Result<SeedReport> {
    // Secondary indexes and the full-text index are built once, after the load, instead of
    // growing row by row (the load into an empty database is ~3× faster at 1,000,000 missions).
    let deferred = Deferred::drop(txn).await?;
    let (sender, receiver) = tokio::sync::mpsc::channel(BATCHES_AHEAD);
    let vectors = txn.get_database_backend() == DbBackend::Postgres;
    let generator = tokio::task::spawn_blocking(move || {
        let mut rows = Rows::new(sender);
        let generated = generate(missions, vectors, &mut rows)?;
        rows.finish()?;
        anyhow::Ok(generated)
    });
    let written = txn.write_rows(receiver).await;
    // A writer that failed has dropped the receiver: the generator stops at its next batch.
    let generated = generator.await;
    let mut report = written?;
    let generated = generated.context("the demo data's generator stopped")??;
    tracing::info!(
        seconds = started.elapsed().as_secs(),
        "demo rows written; building the indexes"
    );
    deferred.rebuild(txn).await?;
    tracing::info!(
        seconds = started.elapsed().as_secs(),
        "indexes built; gathering statistics"
    );
    report.credentials =
        seed_credentials(txn, anchor(), generated.organization, generated.volunteer).await?;
    generated.tally.write(txn).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        // Rows were written with explicit ids: move the sequences past them.
        for table in LOADED {
            txn.execute_unprepared(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            ))
            .await
            .context("cannot move id sequences")?;
        }
    }
    Ok(report)
}

/// What the generator knows once every row is made.
struct Generated {
    /// The organization and the volunteer with the most applications, which the demo's
    /// structure staff and volunteer stand for.
    organization: i64,
    volunteer: i64,
    tally: Tally,
}

/// The tally of public missions (see `passerelle_migration::tally`), counted by the generator
/// as it makes the missions: the sums `tally::RECOUNT` would count from the tables, without
/// reading them again (3.1 s of a million-mission seed on PostgreSQL).
#[derive(Default)]
struct Tally {
    /// Public missions by domain, type and remote.
    facets: HashMap<(Domain, MissionType, Remote), i64>,
    /// Public missions with an address in each department.
    departments: HashMap<&'static str, i64>,
}

impl Tally {
    /// Replaces the tally's rows with these sums.
    async fn write<C: ConnectionTrait>(&self, txn: &C) -> anyhow::Result<()> {
        use sea_orm::sea_query::{Alias, Query};
        txn.execute_unprepared("DELETE FROM public_mission_tally")
            .await
            .context("cannot empty the tally")?;
        let table = Alias::new("public_mission_tally");
        let mut facets: Vec<_> = self.facets.iter().collect();
        facets.sort();
        let mut departments: Vec<_> = self.departments.iter().collect();
        departments.sort();
        let mut by_facet = Query::insert();
        by_facet
            .into_table(table.clone())
            .columns(["domain", "mission_type", "remote", "n"].map(Alias::new));
        for ((domain, mission_type, remote), n) in facets {
            by_facet.values([
                domain.as_str().into(),
                mission_type.as_str().into(),
                remote.as_str().into(),
                (*n).into(),
            ])?;
        }
        let mut by_department = Query::insert();
        by_department
            .into_table(table)
            .columns(["department_code", "n"].map(Alias::new));
        for (code, n) in departments {
            by_department.values([(*code).into(), (*n).into()])?;
        }
        // An INSERT of no rows is not SQL: a small seed may have no public mission.
        if !self.facets.is_empty() {
            txn.execute(&by_facet)
                .await
                .context("cannot write the tally by facet")?;
        }
        if !self.departments.is_empty() {
            txn.execute(&by_department)
                .await
                .context("cannot write the tally by department")?;
        }
        Ok(())
    }
}

/// Makes the demo's rows, table after table (publishers, organizations, missions with their
/// addresses, volunteers with their applications), and hands them to `rows` as they are made.
///
/// With `vectors`, each mission comes with the binary full-text vector of its search text
/// (`search::simple_positions`), made here, beside the rest of the row, rather than by the writer
/// or the database.
fn generate(missions: u64, vectors: bool, rows: &mut Rows) -> anyhow::Result<Generated> {
    let mut rng = Rng(0x5EED_0F9A_55E2_E11E);
    let now = anchor();
    let mut tally = Tally::default();

    for (i, (name, url, annonceur, diffuseur)) in PUBLISHERS.iter().enumerate() {
        let row = publisher::ActiveModel {
            id: Set(i as i64 + 1),
            name: Set((*name).to_owned()),
            url: Set(Some((*url).to_owned())),
            logo: Set(None),
            description: Set(Some(format!("Missions publiées par {name}."))),
            is_annonceur: Set(*annonceur),
            is_diffuseur: Set(*diffuseur),
            moderator: Set(i == 0),
            feed_url: Set(None),
            feed_user: Set(None),
            feed_password: Set(None),
            import_every_secs: Set(None),
            feed_etag: Set(None),
            feed_last_modified: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        rows.push(Row::Publisher(row))?;
    }

    // Organizations, each in a city; their names are kept for the missions' search text.
    let n_orgs = (missions / 5).max(12);
    let mut orgs: Vec<(i64, &'static City, String)> = Vec::with_capacity(n_orgs as usize);
    for i in 0..n_orgs {
        let id = i as i64 + 1;
        let publisher_id = (i % PUBLISHERS.len() as u64) as i64 + 1;
        let city = rng.pick(CITIES);
        let dep = department_of(city);
        let (pattern, network) = *rng.pick(ORGANIZATIONS);
        let name = pattern
            .replace("{city}", city.0)
            .replace("{department}", dep.name);
        let public_body = pattern.starts_with("Mairie") || pattern.starts_with("Centre communal");
        let row = organization::ActiveModel {
            id: Set(id),
            publisher_id: Set(publisher_id),
            client_id: Set(format!("org-{id}")),
            name: Set(name.clone()),
            rna: Set(
                (!public_body).then(|| format!("W{:0>3}{:06}", dep.code, rng.below(1_000_000)))
            ),
            siren: Set(Some(format!("{:09}", 100_000_000 + rng.below(899_999_999)))),
            siret: Set(None),
            legal_status: Set(Some(
                if public_body {
                    "Collectivité territoriale"
                } else {
                    "Association"
                }
                .to_owned(),
            )),
            organization_type: Set(Some(
                if public_body {
                    "Collectivité"
                } else {
                    "Association loi 1901"
                }
                .to_owned(),
            )),
            description: Set(Some(format!(
                "{name} agit au quotidien à {} et dans ses environs.",
                city.0
            ))),
            url: Set(None),
            logo: Set(None),
            address: Set(Some(format!("{} rue de la République", 1 + rng.below(120)))),
            postal_code: Set(Some(city.1.to_owned())),
            city: Set(Some(city.0.to_owned())),
            department_code: Set(Some(dep.code.to_owned())),
            region: Set(Some(dep.region.to_owned())),
            parent_network: Set(network.map(str::to_owned)),
            created_at: Set(now - chrono::Duration::days(400)),
            updated_at: Set(now - chrono::Duration::days(30)),
        };
        rows.push(Row::Organization(row))?;
        orgs.push((publisher_id, city, name));
    }

    // Missions and their addresses, written as they are made: memory stays flat for a million
    // rows. An address is written after its mission (the foreign key is checked at once).
    // The organization of each mission, to find the one whose staff have the most to see.
    let mut mission_orgs: Vec<u32> = Vec::with_capacity(missions as usize);
    let mut address_id = 0i64;
    let mut mission_id = 0i64;
    while (mission_id as u64) < missions {
        mission_id += 1;
        let org_index = rng.below(n_orgs);
        mission_orgs.push(org_index as u32);
        let (publisher_id, org_city, org_name) = &orgs[org_index as usize];
        let domain = if *publisher_id == 4 && rng.chance(60) {
            Domain::Environnement
        } else {
            *rng.pick(Domain::ALL)
        };
        let mission_type = match (publisher_id, rng.below(100)) {
            (2, _) => MissionType::VolontariatServiceCivique,
            (_, 0..=1) => MissionType::VolontariatSapeursPompiers,
            (_, 2) => MissionType::VolontariatReserveOperationnelle,
            _ => MissionType::Benevolat,
        };
        let n_addresses = match rng.below(100) {
            0..=84 => 1,
            85..=96 => 2,
            _ => 3,
        };
        let mut cities = Vec::with_capacity(n_addresses);
        let mut departments: Vec<&'static str> = Vec::with_capacity(n_addresses);
        let mut addresses = Vec::with_capacity(n_addresses);
        for k in 0..n_addresses {
            let city = if k == 0 && rng.chance(70) {
                *org_city
            } else {
                rng.pick(CITIES)
            };
            let dep = department_of(city);
            address_id += 1;
            let address = mission_address::ActiveModel {
                id: Set(address_id),
                mission_id: Set(mission_id),
                position: Set(k as i32),
                street: Set(Some(format!("{} avenue Jean Jaurès", 1 + rng.below(200)))),
                postal_code: Set(Some(city.1.to_owned())),
                city: Set(Some(city.0.to_owned())),
                department_code: Set(Some(dep.code.to_owned())),
                department_name: Set(Some(dep.name.to_owned())),
                region: Set(Some(dep.region.to_owned())),
                country: Set(Some("FR".to_owned())),
                lat: Set(Some(city.2 + rng.unit() * 0.03)),
                lon: Set(Some(city.3 + rng.unit() * 0.04)),
                geo_source: Set(GeoSource::Publisher),
                // Known once the status is drawn, below.
                mission_public: sea_orm::NotSet,
            };
            addresses.push(address);
            cities.push(city.0);
            if !departments.contains(&dep.code) {
                departments.push(dep.code);
            }
        }
        let titles = TITLES
            .iter()
            .find(|(d, _)| *d == domain.as_str())
            .map_or(&[][..], |(_, t)| *t);
        let title = rng
            .pick(if titles.is_empty() {
                &["Mission d'intérêt général"][..]
            } else {
                titles
            })
            .replace("{city}", cities[0]);
        let description = format!(
            "<p>{org_name} recherche des bénévoles pour : <strong>{}</strong>.</p>\
                 <p>Vous serez accompagné·e par un référent et formé·e à votre arrivée. \
                 La mission se déroule à {}.</p>",
            title.to_lowercase(),
            cities.join(", ")
        );
        let posted_at = now
            - chrono::Duration::days(rng.below(365) as i64)
            - chrono::Duration::hours(rng.below(24) as i64);
        let start_at = posted_at + chrono::Duration::days(rng.below(150) as i64);
        let end_at = rng
            .chance(80)
            .then(|| start_at + chrono::Duration::days(7 + rng.below(358) as i64));
        let places = 1 + rng.below(20) as i32;
        let places_left = if rng.chance(15) {
            0
        } else {
            1 + rng.below(places as u64) as i32
        };
        let status = match rng.below(100) {
            0..=87 => MissionStatus::Validated,
            88..=90 => MissionStatus::WaitingValidation,
            91..=92 => MissionStatus::Refused,
            93..=94 => MissionStatus::Draft,
            95..=96 => MissionStatus::WaitingCorrection,
            97..=98 => MissionStatus::Archived,
            _ => MissionStatus::Cancelled,
        };
        // A validated mission is still running (the scheduler archives the ended ones):
        // one whose end has passed gets as long again from today.
        let end_at = match end_at {
            Some(end) if status == MissionStatus::Validated && end < now => {
                Some(now + (end - start_at))
            }
            other => other,
        };
        let snu = *publisher_id == 3 || rng.chance(20);
        let remote = match rng.below(100) {
            0..=69 => Remote::No,
            70..=89 => Remote::Possible,
            _ => Remote::Full,
        };
        let search_text =
            search::document(&title, &description, Some(org_name), cities.iter().copied());
        let row = mission::ActiveModel {
            id: Set(mission_id),
            publisher_id: Set(*publisher_id),
            organization_id: Set(Some(org_index as i64 + 1)),
            client_id: Set(format!("mission-{mission_id}")),
            title: Set(title),
            description: Set(description),
            domain: Set(domain),
            activities: Set(StringList(vec![domain.as_str().replace('-', " ")])),
            mission_type: Set(mission_type),
            remote: Set(remote),
            start_at: Set(start_at),
            end_at: Set(end_at),
            posted_at: Set(posted_at),
            places: Set(places),
            places_left: Set(places_left),
            snu: Set(snu),
            snu_places: Set(if snu { places.min(5) } else { 0 }),
            snu_capacity: Set(if snu { places.min(5) } else { 0 }),
            open_to_minors: Set(snu || rng.chance(30)),
            reduced_mobility_accessible: Set(rng.chance(40)),
            close_to_transport: Set(rng.chance(60)),
            schedule: Set(Some((*rng.pick(SCHEDULES)).to_owned())),
            tags: Set(StringList(vec![domain.as_str().to_owned()])),
            audience: Set(StringList(vec![(*rng.pick(AUDIENCES)).to_owned()])),
            soft_skills: Set(StringList(vec![
                (*rng.pick(SKILLS)).to_owned(),
                (*rng.pick(SKILLS)).to_owned(),
            ])),
            requirements: Set(StringList::default()),
            application_url: Set(format!(
                "https://www.jeveuxaider.gouv.fr/missions-benevolat/{mission_id}"
            )),
            status: Set(status),
            status_comment: Set(
                (status == MissionStatus::Refused).then(|| "Mission incomplète".to_owned())
            ),
            search_text: Set(search_text),
            content_hash: Set(None),
            version: Set(1),
            created_at: Set(posted_at),
            updated_at: Set(posted_at + chrono::Duration::days(rng.below(30) as i64)),
            deleted_at: Set(rng.chance(2).then_some(now - chrono::Duration::days(3))),
        };
        let public = status == MissionStatus::Validated && matches!(row.deleted_at, Set(None));
        if public {
            *tally
                .facets
                .entry((domain, mission_type, remote))
                .or_default() += 1;
            for code in departments {
                *tally.departments.entry(code).or_default() += 1;
            }
        }
        let vector = match (&row.search_text, vectors) {
            (Set(text), true) => search::simple_positions(text).map(|words| copy::tsvector(&words)),
            _ => None,
        };
        rows.push(Row::Mission(Box::new(row), vector))?;
        for mut address in addresses {
            // The triggers that set it are dropped for the load (see `Deferred`).
            address.mission_public = Set(public);
            rows.push(Row::Address(address))?;
        }
        if mission_id % 100_000 == 0 {
            tracing::info!(missions = mission_id, "seeding");
        }
    }

    // Volunteers, with applications that go through every status.
    let n_volunteers = (missions / 20).max(40);
    // The applications of each organization and volunteer, to give the demo's structure staff
    // and volunteer the busiest.
    let mut per_org = vec![0u32; n_orgs as usize];
    let mut per_volunteer = vec![0u32; n_volunteers as usize + 1];
    let mut app_id = 0i64;
    for i in 0..n_volunteers {
        let id = i as i64 + 1;
        let first = *rng.pick(FIRST_NAMES);
        let last = *rng.pick(LAST_NAMES);
        let city = rng.pick(CITIES);
        let dep = department_of(city);
        let birth = NaiveDate::from_ymd_opt(
            2008 + rng.below(3) as i32,
            1 + rng.below(12) as u32,
            1 + rng.below(28) as u32,
        )
        .unwrap_or_default();
        let hours = rng.below(100) as i32;
        let row = volunteer::ActiveModel {
            id: Set(id),
            first_name: Set(first.to_owned()),
            last_name: Set(last.to_owned()),
            email: Set(format!(
                "{}.{}.{id}@example.org",
                search::fold(first),
                search::fold(last)
            )),
            phone: Set(Some(format!("06{:08}", rng.below(100_000_000)))),
            birthdate: Set(birth),
            department_code: Set(dep.code.to_owned()),
            region: Set(dep.region.to_owned()),
            cohort: Set((*rng.pick(&["2025 Juillet", "2026 Février", "2026 Juin"])).to_owned()),
            phase1_status: Set((*rng.pick(&["DONE", "DONE", "IN_PROGRESS", "NOT_DONE"])).to_owned()),
            phase2_status: Set(if hours >= 84 {
                "VALIDATED"
            } else {
                "IN_PROGRESS"
            }
            .to_owned()),
            phase3_status: Set((*rng.pick(&["NOT_STARTED", "IN_PROGRESS", "DONE"])).to_owned()),
            phase2_hours_done: Set(hours),
            consent_data: Set(true),
            consent_image: Set(rng.chance(60)),
            created_at: Set(now - chrono::Duration::days(200)),
            updated_at: Set(now - chrono::Duration::days(10)),
            erased_at: Set(None),
        };
        rows.push(Row::Volunteer(row))?;
        let mut chosen = Vec::new();
        for _ in 0..rng.below(5) {
            let mission = 1 + rng.below(missions) as i64;
            if chosen.contains(&mission) {
                continue;
            }
            chosen.push(mission);
            app_id += 1;
            let status = ApplicationStatus::ALL[(app_id as usize) % ApplicationStatus::ALL.len()];
            if let Some(o) = mission_orgs.get(mission as usize - 1) {
                per_org[*o as usize] += 1;
            }
            per_volunteer[id as usize] += 1;
            let row = application::ActiveModel {
                id: Set(app_id),
                volunteer_id: Set(id),
                mission_id: Set(mission),
                status: Set(status),
                motivation: Set(Some("Je souhaite m'engager près de chez moi.".to_owned())),
                proposed: Set(false),
                status_comment: Set(None),
                // Done missions report their hours (a fixed spread: no draw of the generator,
                // so that the rest of the demo data stays as it was).
                hours_done: Set(
                    (status == ApplicationStatus::Done).then_some(20 + (app_id % 40) as i32)
                ),
                version: Set(1),
                created_at: Set(now - chrono::Duration::days(rng.below(90) as i64)),
                updated_at: Set(now - chrono::Duration::days(rng.below(10) as i64)),
            };
            rows.push(Row::Application(row))?;
        }
    }
    let organization = (0..per_org.len())
        .max_by_key(|i| (per_org[*i], usize::MAX - i))
        .unwrap_or(0) as i64
        + 1;
    let volunteer = (1..per_volunteer.len())
        .max_by_key(|i| (per_volunteer[*i], usize::MAX - i))
        .unwrap_or(1) as i64;
    Ok(Generated {
        organization,
        volunteer,
        tally,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use passerelle_db::testing::TestDatabase;
    use sea_orm::PaginatorTrait;

    /// SQLite's rows go in `INSERT`s of their columns; PostgreSQL's in `COPY`s, missions with
    /// their full-text vector after their columns.
    #[test]
    fn each_engine_takes_the_rows_its_way() {
        let sqlite: Bulk<mission::ActiveModel> = Bulk::with_search_vector(DbBackend::Sqlite);
        assert!(matches!(sqlite.format, Format::Insert { .. }));
        assert_eq!(sqlite.per_statement, ROWS_PER_STATEMENT);
        let sql = insert_sql::<mission::ActiveModel>(&sqlite.columns, 2);
        assert!(
            sql.starts_with("INSERT INTO \"missions\" (\"id\", "),
            "{sql}"
        );
        let row = format!(
            "({})",
            vec!["?"; mission::Column::iter().count()].join(", ")
        );
        assert!(sql.ends_with(&format!("VALUES {row}, {row}")), "{sql}");
        let postgres: Bulk<mission::ActiveModel> = Bulk::with_search_vector(DbBackend::Postgres);
        let Format::Copy { statement, .. } = &postgres.format else {
            panic!("PostgreSQL's rows go in COPYs");
        };
        assert!(
            statement.ends_with(", \"search_vector\") FROM STDIN (FORMAT binary)"),
            "{statement}"
        );
        let addresses: Bulk<mission_address::ActiveModel> = Bulk::new(DbBackend::Postgres);
        let Format::Copy { statement, .. } = &addresses.format else {
            panic!("PostgreSQL's rows go in COPYs");
        };
        assert!(!statement.contains("search_vector"), "{statement}");
    }

    /// The tally the generator counted is the one `tally::RECOUNT` counts from the tables.
    #[tokio::test]
    async fn the_generators_tally_is_the_tables_own() {
        let database = TestDatabase::create("seed_tally").await.expect("database");
        let db = database.connect_migrated().await.expect("migrate");
        seed_demo(&db, 300).await.expect("seed");
        async fn sums(txn: &DatabaseTransaction) -> Vec<(String, String, String, String, i64)> {
            let sql = "SELECT COALESCE(domain, '') AS d, COALESCE(mission_type, '') AS t,
                              COALESCE(remote, '') AS r, COALESCE(department_code, '') AS c,
                              CAST(SUM(n) AS BIGINT) AS n
                       FROM public_mission_tally GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4";
            let statement = sea_orm::Statement::from_string(txn.get_database_backend(), sql);
            let rows = txn.query_all_raw(statement).await.expect("tally");
            rows.iter()
                .map(|r| {
                    let text = |c: &str| r.try_get::<String>("", c).expect(c);
                    let n: i64 = r.try_get("", "n").expect("n");
                    (text("d"), text("t"), text("r"), text("c"), n)
                })
                .collect()
        }
        let txn = db.begin().await.expect("begin");
        let generated = sums(&txn).await;
        for sql in passerelle_migration::tally::RECOUNT {
            txn.execute_unprepared(sql).await.expect("recount");
        }
        let recounted = sums(&txn).await;
        // A seed without a public mission writes an empty tally (an INSERT of no rows is not SQL).
        Tally::default().write(&txn).await.expect("an empty tally");
        let emptied = sums(&txn).await;
        txn.rollback().await.expect("rollback");
        assert_eq!(emptied, Vec::new());
        assert!(generated.len() > 20, "{generated:?}");
        assert!(
            generated.iter().any(|row| !row.3.is_empty()),
            "departments too"
        );
        assert_eq!(generated, recounted);
        db.close().await.ok();
        database.drop_database().await;
    }

    /// A database that holds a row in any table the seed fills (here an administrator made
    /// before it, without publishers) is refused by name, and keeps its row.
    #[tokio::test]
    async fn a_table_with_rows_is_not_seeded() {
        let database = TestDatabase::create("seed_taken").await.expect("database");
        let db = database.connect_migrated().await.expect("migrate");
        let now = Utc::now();
        user::ActiveModel {
            email: Set("first@passerelle.example".to_owned()),
            role: Set(Role::Admin),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&db)
        .await
        .expect("a user");
        let refused = seed_demo(&db, 10)
            .await
            .expect_err("a database with a user");
        assert!(
            refused.to_string().contains("already holds users"),
            "{refused:#}"
        );
        let users = user::Entity::find().all(&db).await.expect("users");
        assert_eq!(
            users.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(),
            ["first@passerelle.example"]
        );
        assert_eq!(mission::Entity::find().count(&db).await.expect("count"), 0);
        db.close().await.ok();
        database.drop_database().await;
    }

    /// On PostgreSQL the loaded tables come out of the seed with their foreign keys back, every
    /// page all-visible (a covering index is read without a visit of the table per row) and
    /// their statistics gathered.
    #[tokio::test]
    async fn the_loaded_pages_are_all_visible() {
        let database = TestDatabase::create("seed_visible")
            .await
            .expect("database");
        if !database.is_postgres() {
            database.drop_database().await;
            return;
        }
        let db = database.connect_migrated().await.expect("migrate");
        let keys = "SELECT conrelid::regclass::text || ' ' || conname AS k FROM pg_constraint
                    WHERE contype = 'f' ORDER BY 1";
        let foreign_keys = || async {
            let statement = sea_orm::Statement::from_string(DbBackend::Postgres, keys);
            let rows = db.query_all_raw(statement).await.expect("foreign keys");
            rows.iter()
                .map(|r| r.try_get::<String>("", "k").expect("k"))
                .collect::<Vec<_>>()
        };
        let before = foreign_keys().await;
        seed_demo(&db, 2_000).await.expect("seed");
        assert_eq!(foreign_keys().await, before);
        assert!(
            before.iter().any(|k| k.starts_with("applications ")),
            "{before:?}"
        );
        let statement = sea_orm::Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT relname AS t, relpages AS pages, relallvisible AS visible,
                        CAST(reltuples AS BIGINT) AS tuples
                 FROM pg_class WHERE relname IN ({}) ORDER BY relname",
                LOADED.map(|t| format!("'{t}'")).join(", ")
            ),
        );
        let rows = db.query_all_raw(statement).await.expect("pages");
        assert_eq!(rows.len(), LOADED.len());
        for row in rows {
            let table: String = row.try_get("", "t").expect("t");
            let pages: i32 = row.try_get("", "pages").expect("pages");
            let visible: i32 = row.try_get("", "visible").expect("visible");
            let tuples: i64 = row.try_get("", "tuples").expect("tuples");
            assert!(tuples > 0 && pages > 0, "{table}: not analyzed");
            assert_eq!(visible, pages, "{table}: pages not all-visible");
        }
        db.close().await.ok();
        database.drop_database().await;
    }

    /// The generator's end of a channel that holds `rows`, and nothing after them.
    async fn rows_of(rows: Vec<Row>) -> tokio::sync::mpsc::Receiver<Vec<Row>> {
        let (sender, receiver) = tokio::sync::mpsc::channel(1);
        sender.send(rows).await.expect("send");
        receiver
    }

    /// A mission whose text `search::simple_positions` cannot say (no vector given) gets the
    /// vector the database makes of its text, beside one given by the seed, with the trigger
    /// dropped as during a load; a row the database refuses fails the load with the reason.
    #[tokio::test]
    async fn a_text_without_a_vector_is_vectored_by_the_database() {
        let database = TestDatabase::create("seed_vector").await.expect("database");
        if !database.is_postgres() {
            database.drop_database().await;
            return;
        }
        let db = database.connect_migrated().await.expect("migrate");
        seed_demo(&db, 12).await.expect("seed");
        let txn = copy::PgSession::begin(&db).await.expect("begin");
        txn.execute_unprepared("DROP TRIGGER missions_search_vector ON missions")
            .await
            .expect("drop the trigger");
        let model = mission::Entity::find_by_id(1)
            .one(&txn)
            .await
            .expect("read")
            .expect("mission 1");
        let mut missions = Vec::new();
        for (id, text) in [(1001, "caf\u{e9} cr\u{e8}me 2e"), (1002, "plain words 2e")] {
            let mut row: mission::ActiveModel = model.clone().into();
            row.id = Set(id);
            row.client_id = Set(format!("vector-{id}"));
            row.search_text = Set(text.to_owned());
            let vector = search::simple_positions(text).map(|words| copy::tsvector(&words));
            missions.push(Row::Mission(Box::new(row), vector));
        }
        let written = txn
            .write_rows(rows_of(missions).await)
            .await
            .expect("write");
        assert_eq!(written.missions, 2);
        let rows = txn
            .query_all_raw(sea_orm::Statement::from_string(
                DbBackend::Postgres,
                "SELECT id, search_vector::text AS v, search_vector = to_tsvector('simple', search_text) AS same
                 FROM missions WHERE id IN (1001, 1002) ORDER BY id",
            ))
            .await
            .expect("vectors");
        let read: Vec<(i64, Option<String>, Option<bool>)> = rows
            .iter()
            .map(|r| {
                (
                    r.try_get("", "id").expect("id"),
                    r.try_get("", "v").expect("v"),
                    r.try_get("", "same").expect("same"),
                )
            })
            .collect();
        // The first one's words depend on the database's locale; it has the database's vector.
        assert_eq!(read.len(), 2);
        assert_eq!((read[0].0, read[0].2), (1001, Some(true)), "{read:?}");
        assert!(
            read[0].1.as_ref().is_some_and(|v| v.contains("'2e':3")),
            "{read:?}"
        );
        assert_eq!(
            read[1],
            (
                1002,
                Some("'2e':3 'plain':1 'words':2".to_owned()),
                Some(true)
            )
        );
        let mut row: mission::ActiveModel = model.into();
        row.id = Set(1002);
        let again = rows_of(vec![Row::Mission(Box::new(row), None)]).await;
        let refused = txn
            .write_rows(again)
            .await
            .expect_err("a second mission 1002");
        let reason = format!("{refused:#}");
        assert!(
            reason.contains("refused the rows of COPY \"missions\"")
                && reason.contains("duplicate key"),
            "{reason}"
        );
        drop(txn);
        let kept = mission::Entity::find().count(&db).await.expect("count");
        assert_eq!(kept, 12, "the session's rows are rolled back with it");
        db.close().await.ok();
        database.drop_database().await;
    }
}
