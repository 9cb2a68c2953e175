//! PostgreSQL's bulk path for the demo load: a transaction on a connection of its own, which
//! takes rows with `COPY … FROM STDIN (FORMAT binary)` (sea-orm's transactions do not offer
//! `COPY`) and every other statement through sea-orm's [`ConnectionTrait`], and the binary
//! encoding of the rows' values.
//!
//! Written in multi-row `INSERT`s, the rows of a million missions kept both cores of this
//! project's machine busy for 55–60 s: the database bound and parsed each statement's 3,600
//! parameters, inserted each row on its own and parsed each mission's full-text vector from its
//! text form (more than half of a text `COPY`'s time for the missions). In binary, each value
//! arrives in the form the database stores, and `COPY` fills the table's pages several rows at a
//! time: the rows of a million missions in 25–28 s.
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sqlx::{self, Postgres};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement, Value, Values,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{Mutex, mpsc};

use super::Sink;

/// The load's transaction on PostgreSQL, shared with the task that runs its `COPY`s (see
/// [`PgSession::run_copies`]). Dropped without [`PgSession::commit`] (a failed load), it is
/// rolled back.
#[derive(Clone)]
pub(super) struct PgSession(Arc<Mutex<sqlx::Transaction<'static, Postgres>>>);

impl PgSession {
    /// Begins a transaction on a connection of `db`'s pool (a PostgreSQL one).
    pub(super) async fn begin(db: &DatabaseConnection) -> anyhow::Result<PgSession> {
        let transaction = db
            .get_postgres_connection_pool()
            .begin()
            .await
            .context("cannot start a transaction")?;
        Ok(PgSession(Arc::new(Mutex::new(transaction))))
    }

    /// Commits; every clone of the session must be gone.
    pub(super) async fn commit(self) -> anyhow::Result<()> {
        Arc::into_inner(self.0)
            .context("the load's transaction is still in use")?
            .into_inner()
            .commit()
            .await
            .context("cannot commit the demo data")
    }

    /// Runs `statement` (a `COPY … FROM STDIN`) with `data` as its input; says how many rows
    /// the database took.
    pub(super) async fn copy_in(&self, statement: &str, data: &[u8]) -> anyhow::Result<u64> {
        let mut transaction = self.0.lock().await;
        let mut copy = transaction
            .copy_in_raw(statement)
            .await
            .with_context(|| format!("cannot start {statement}"))?;
        if let Err(error) = copy.send(data).await {
            copy.abort(error.to_string()).await.ok();
            return Err(error).with_context(|| format!("cannot send the rows of {statement}"));
        }
        copy.finish()
            .await
            .with_context(|| format!("the database refused the rows of {statement}"))
    }

    /// Runs the `COPY`s that `inputs` hands over, one after the other, until its sender is
    /// dropped; each must take all its rows. A task of its own (a clone of the session), so
    /// that a `COPY` ends, and the next one starts, while the writer is busy encoding rows.
    pub(super) async fn run_copies(
        self,
        mut inputs: mpsc::Receiver<CopyInput>,
    ) -> anyhow::Result<()> {
        while let Some(input) = inputs.recv().await {
            let taken = self.copy_in(&input.statement, &input.data).await?;
            if taken != input.rows {
                bail!(
                    "{}: the database took {taken} rows of {}",
                    input.statement,
                    input.rows
                );
            }
        }
        Ok(())
    }
}

/// A `COPY … FROM STDIN` with its input.
pub(super) struct CopyInput {
    statement: String,
    data: Vec<u8>,
    rows: u64,
}

/// The writer's end of the copier's channel (see [`PgSession::run_copies`]).
pub(super) struct Copies(mpsc::Sender<CopyInput>);

impl Copies {
    pub(super) fn new(sender: mpsc::Sender<CopyInput>) -> Copies {
        Copies(sender)
    }
}

impl Sink for Copies {
    fn backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn insert(&self, statement: Statement) -> anyhow::Result<()> {
        bail!(
            "{}: PostgreSQL's rows go in COPYs, not INSERTs",
            statement.sql
        )
    }

    /// Waits while the copier has [`super::COPIES_AHEAD`] inputs not yet taken.
    async fn copy(&self, statement: &str, data: Vec<u8>, rows: u64) -> anyhow::Result<()> {
        let input = CopyInput {
            statement: statement.to_owned(),
            data,
            rows,
        };
        self.0
            .send(input)
            .await
            .map_err(|_| anyhow::anyhow!("the copier of the demo data stopped"))
    }
}

fn exec_error(error: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(error)))
}

fn query_error(error: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(error)))
}

/// A statement with its values bound, as sea-orm binds them.
fn query(statement: Statement) -> sqlx::query::Query<'static, Postgres, SqlxValues> {
    let values = statement.values.unwrap_or(Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(statement.sql), SqlxValues(values))
}

#[async_trait::async_trait]
impl ConnectionTrait for PgSession {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, statement: Statement) -> Result<ExecResult, DbErr> {
        let mut transaction = self.0.lock().await;
        query(statement)
            .execute(&mut **transaction)
            .await
            .map(ExecResult::from)
            .map_err(exec_error)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut transaction = self.0.lock().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut **transaction)
            .await
            .map(ExecResult::from)
            .map_err(exec_error)
    }

    async fn query_one_raw(&self, statement: Statement) -> Result<Option<QueryResult>, DbErr> {
        let mut transaction = self.0.lock().await;
        query(statement)
            .fetch_optional(&mut **transaction)
            .await
            .map(|row| row.map(QueryResult::from))
            .map_err(query_error)
    }

    async fn query_all_raw(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut transaction = self.0.lock().await;
        query(statement)
            .fetch_all(&mut **transaction)
            .await
            .map(|rows| rows.into_iter().map(QueryResult::from).collect())
            .map_err(query_error)
    }
}

/// The start of a binary `COPY`'s input: its signature, no flags, no header extension.
pub(super) fn header(out: &mut Vec<u8>) {
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
}

/// The end of a binary `COPY`'s input.
pub(super) fn trailer(out: &mut Vec<u8>) {
    out.extend_from_slice(&(-1i16).to_be_bytes());
}

/// The start of a row of `fields` values.
pub(super) fn row(out: &mut Vec<u8>, fields: usize) -> anyhow::Result<()> {
    let fields = i16::try_from(fields).context("too many columns for a COPY row")?;
    out.extend_from_slice(&fields.to_be_bytes());
    Ok(())
}

/// A NULL.
pub(super) fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(&(-1i32).to_be_bytes());
}

/// A value already in its binary form.
pub(super) fn bytes(out: &mut Vec<u8>, value: &[u8]) -> anyhow::Result<()> {
    let length = i32::try_from(value.len()).context("a value too long for a COPY row")?;
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

/// Midnight of 2000-01-01, from which PostgreSQL counts its dates and timestamps.
fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default()
}

fn microseconds_since_epoch(at: &DateTime<Utc>) -> i64 {
    let epoch = epoch().and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    (*at - epoch).num_microseconds().unwrap_or(i64::MAX)
}

/// `value` in the binary form of the column it fills: the demo tables' columns are `bigint`
/// (`i64`), `integer` (`i32`), `boolean`, `double precision`, `text` (strings and the
/// string-backed enums), `timestamptz`, `date` and `jsonb` (the lists). A value of any other
/// kind is refused rather than guessed.
pub(super) fn value(out: &mut Vec<u8>, value: Value) -> anyhow::Result<()> {
    match value {
        Value::Bool(Some(v)) => bytes(out, &[u8::from(v)]),
        Value::Int(Some(v)) => bytes(out, &v.to_be_bytes()),
        Value::BigInt(Some(v)) => bytes(out, &v.to_be_bytes()),
        Value::Double(Some(v)) => bytes(out, &v.to_bits().to_be_bytes()),
        Value::String(Some(v)) => bytes(out, v.as_bytes()),
        Value::ChronoDateTimeUtc(Some(v)) => {
            bytes(out, &microseconds_since_epoch(&v).to_be_bytes())
        }
        Value::ChronoDate(Some(v)) => {
            let days = i32::try_from((v - epoch()).num_days()).context("a date out of range")?;
            bytes(out, &days.to_be_bytes())
        }
        Value::Json(Some(v)) => {
            // jsonb's binary form: its version (1), then the JSON text.
            let mut json = vec![1u8];
            serde_json::to_writer(&mut json, &v).context("cannot write a JSON value")?;
            bytes(out, &json)
        }
        Value::Bool(None)
        | Value::Int(None)
        | Value::BigInt(None)
        | Value::Double(None)
        | Value::String(None)
        | Value::ChronoDateTimeUtc(None)
        | Value::ChronoDate(None)
        | Value::Json(None) => {
            null(out);
            Ok(())
        }
        other => bail!("the demo load cannot COPY a value of this kind: {other:?}"),
    }
}

/// The binary form of a `tsvector` whose lexemes are the runs of equal words of `positions`
/// (as `search::simple_positions` gives them: in byte order, each word's positions
/// increasing), all of weight D: the number of lexemes, then each lexeme's text ended by a
/// zero byte, its number of positions and its positions.
pub(super) fn tsvector(positions: &[(&str, u16)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + positions.len() * 12);
    out.extend_from_slice(&0i32.to_be_bytes());
    let mut lexemes = 0i32;
    let mut start = 0;
    while start < positions.len() {
        let word = positions[start].0;
        let end = positions[start..]
            .iter()
            .position(|(w, _)| *w != word)
            .map_or(positions.len(), |n| start + n);
        out.extend_from_slice(word.as_bytes());
        out.push(0);
        out.extend_from_slice(&((end - start) as u16).to_be_bytes());
        for (_, position) in &positions[start..end] {
            out.extend_from_slice(&position.to_be_bytes());
        }
        lexemes += 1;
        start = end;
    }
    out[..4].copy_from_slice(&lexemes.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use passerelle_db::testing::TestDatabase;

    /// The input of a binary `COPY` of `values`, one `bigint` a row.
    fn bigints(values: &[i64]) -> Vec<u8> {
        let mut data = Vec::new();
        header(&mut data);
        for v in values {
            row(&mut data, 1).expect("row");
            value(&mut data, Value::BigInt(Some(*v))).expect("bigint");
        }
        trailer(&mut data);
        data
    }

    /// The copier runs its inputs in order on the session, and fails when the database took
    /// other rows than the input said it held.
    #[tokio::test]
    async fn the_copier_checks_the_rows_each_copy_took() {
        let database = TestDatabase::create("seed_copier").await.expect("database");
        if !database.is_postgres() {
            database.drop_database().await;
            return;
        }
        let db = database.connect_migrated().await.expect("migrate");
        let session = PgSession::begin(&db).await.expect("begin");
        session
            .execute_unprepared("CREATE TABLE copied (n bigint)")
            .await
            .expect("a table");
        let statement = "COPY copied (n) FROM STDIN (FORMAT binary)".to_owned();
        let (sender, inputs) = mpsc::channel(4);
        for (values, rows) in [(&[1, 2][..], 2), (&[3][..], 2)] {
            let input = CopyInput {
                statement: statement.clone(),
                data: bigints(values),
                rows,
            };
            sender.send(input).await.expect("send");
        }
        drop(sender);
        let error = session
            .clone()
            .run_copies(inputs)
            .await
            .expect_err("1 row, not 2");
        assert!(
            format!("{error:#}").contains("the database took 1 rows of 2"),
            "{error:#}"
        );
        let rows = session
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT n FROM copied ORDER BY n",
            ))
            .await
            .expect("read");
        let read: Vec<i64> = rows
            .iter()
            .map(|r| r.try_get_by_index(0).expect("n"))
            .collect();
        assert_eq!(read, [1, 2, 3], "in order, on the session's transaction");
        drop(session);
        db.close().await.ok();
        database.drop_database().await;
    }

    /// Byte for byte, the forms PostgreSQL's `*recv` functions read.
    #[test]
    fn values_are_written_in_postgresql_binary_forms() {
        let mut out = Vec::new();
        value(&mut out, Value::BigInt(Some(258))).expect("bigint");
        value(&mut out, Value::Int(Some(-2))).expect("int");
        value(&mut out, Value::Bool(Some(true))).expect("bool");
        value(&mut out, Value::String(None)).expect("null");
        value(&mut out, Value::String(Some("é".to_owned()))).expect("text");
        assert_eq!(
            out,
            [
                &[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 1, 2][..],
                &[0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe],
                &[0, 0, 0, 1, 1],
                &[0xff, 0xff, 0xff, 0xff],
                &[0, 0, 0, 2, 0xc3, 0xa9],
            ]
            .concat()
        );
        let mut out = Vec::new();
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2000, 1, 2, 0, 0, 1)
            .single()
            .expect("time");
        value(&mut out, Value::ChronoDateTimeUtc(Some(at))).expect("timestamptz");
        assert_eq!(out[4..], 86_401_000_000i64.to_be_bytes());
        let mut out = Vec::new();
        let day = NaiveDate::from_ymd_opt(1999, 12, 31).expect("date");
        value(&mut out, Value::ChronoDate(Some(day))).expect("date");
        assert_eq!(out[4..], (-1i32).to_be_bytes());
        let mut out = Vec::new();
        value(
            &mut out,
            Value::Json(Some(Box::new(serde_json::json!(["a"])))),
        )
        .expect("jsonb");
        assert_eq!(out, [&[0, 0, 0, 6, 1][..], b"[\"a\"]"].concat());
        let refused = value(&mut Vec::new(), Value::TinyInt(Some(1)));
        assert!(refused.is_err(), "a kind no demo column has is refused");
    }

    #[test]
    fn a_vector_lists_each_word_once_with_its_positions() {
        let vector = tsvector(&[("a", 2), ("a", 8), ("de", 5)]);
        assert_eq!(
            vector,
            [
                &[0, 0, 0, 2][..],
                b"a\0",
                &[0, 2, 0, 2, 0, 8],
                b"de\0",
                &[0, 1, 0, 5],
            ]
            .concat()
        );
        assert_eq!(tsvector(&[]), [0, 0, 0, 0]);
    }
}
