//! Sets of a table's columns: those a read selects, when it needs fewer than all.
//!
//! A list of 20 missions with their organizations' first five, asking for titles and dates, read
//! all 35 columns of 120 rows: on SQLite most of its time went into copying and decoding the
//! columns nobody asked for (docs/BENCHMARKS.md). Reads select the columns their selection
//! needs, and each table's `Model::read_at` fills the others with empty values.
//!
//! The rows of one statement all have the same columns in the same places: a [`Layout`] finds
//! each column by name once, in the first row, and the rows are read by position (a table's
//! `Reader`), rather than each value looking its column's name up (and, for a prefixed
//! column, formatting it) in every row.
use sea_orm::sqlx::postgres::PgValueFormat;
use sea_orm::sqlx::{Column as _, Row as _, ValueRef as _};
use sea_orm::{DbErr, QueryResult, TryGetable};

/// `$body` with `$row` the SQLx row under a sea-orm `QueryResult` (PostgreSQL's or SQLite's,
/// two types with the same methods), or `None` for a row of another driver.
macro_rules! on_sqlx_row {
    ($res:expr, |$row:ident| $body:expr) => {
        if let Some($row) = $res.try_as_pg_row() {
            Some($body)
        } else if let Some($row) = $res.try_as_sqlite_row() {
            Some($body)
        } else {
            None
        }
    };
}

/// Where each column of a set stands in the rows of one statement, by the column's index in
/// its table (a set holds at most 64).
#[derive(Debug, Clone)]
pub struct Layout([u16; 64]);

impl Layout {
    /// The positions of `columns` (each a column's index in its table and its name) in `res`,
    /// each named `prefix` + column.
    ///
    /// # Errors
    /// A column is not in the row.
    pub fn of(
        res: &QueryResult,
        prefix: &str,
        columns: impl Iterator<Item = (u32, &'static str)>,
    ) -> Result<Layout, DbErr> {
        // The names are read in place: sea-orm's `column_names` copies each into a `String`
        // (some 28 allocations per layout, five layouts per nested page).
        let copied: Vec<String>;
        let names: Vec<&str> =
            match on_sqlx_row!(res, |row| row.columns().iter().map(|c| c.name()).collect()) {
                Some(names) => names,
                None => {
                    copied = res.column_names();
                    copied.iter().map(String::as_str).collect()
                }
            };
        let mut at = [u16::MAX; 64];
        for (index, name) in columns {
            let position = names
                .iter()
                .position(|n| n.strip_prefix(prefix) == Some(name))
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| DbErr::Type(format!("no column {prefix}{name} in the row")))?;
            at[index as usize] = position;
        }
        Ok(Layout(at))
    }

    /// The columns of index `columns` at positions 0, 1, 2…, in that order: where a set's
    /// columns stand in a record of them ([`in_records`]).
    pub fn in_order(columns: impl Iterator<Item = u32>) -> Layout {
        let mut at = [u16::MAX; 64];
        for (position, index) in (0..).zip(columns) {
            at[index as usize] = position;
        }
        Layout(at)
    }

    /// The position of the column named `name` in `res`.
    ///
    /// # Errors
    /// No column of the row has that name.
    pub fn position(res: &QueryResult, name: &'static str) -> Result<usize, DbErr> {
        Ok(Layout::of(res, "", std::iter::once((0, name)))?.at(0))
    }

    /// The position of the column of index `column` in its table.
    pub fn at(&self, column: u32) -> usize {
        usize::from(self.0[column as usize])
    }
}

/// The value at position `at` of `res`, or `None` for a NULL, as
/// `res.try_get_by_index::<Option<T>>(at)` reads it but without the error sea-orm makes (and
/// the message it formats) to tell a NULL before turning it into `None`: the columns of a
/// left-joined table are NULL in most rows of a joined page (the address columns of every row
/// after a mission's first).
///
/// # Errors
/// The position is out of the row, or the value cannot be decoded as `T`.
pub fn nullable_at<T: Cell + TryGetable>(res: &QueryResult, at: usize) -> Result<Option<T>, DbErr> {
    match on_sqlx_row!(res, |row| row.try_get_raw(at).map(|v| v.is_null())) {
        Some(Ok(true)) => Ok(None),
        Some(Ok(false)) => T::cell(res, at).map(Some),
        // Another driver's row, or a position out of the row: sea-orm's own read (which says
        // what is wrong, as it would have).
        None | Some(Err(_)) => res.try_get_by_index(at),
    }
}

/// A value a model reads from one column of a row, by position.
///
/// SQLx's checked read (`Row::try_get`, which sea-orm's `try_get_by_index` calls) compares
/// each value's type with the Rust type's before decoding it; on PostgreSQL that means making,
/// comparing and dropping a handful of `PgTypeInfo`s (six for a string), some 150 instructions
/// per value, a sixth of a nested request's (`bench/rounds/count.sh instructions`). A cell
/// reads a PostgreSQL value whose column has one of the OIDs of the built-in types the Rust
/// type decodes from (those SQLx's check accepts) without that check, and anything else (a
/// NULL where none may be, another type, SQLite's values, whose type is the value's and not
/// its column's) the checked way: same values, same errors.
pub trait Cell: Sized {
    /// The value at position `at` of `res`.
    ///
    /// # Errors
    /// The position is out of the row, or the value cannot be decoded as `Self`.
    fn cell(res: &QueryResult, at: usize) -> Result<Self, DbErr>;

    /// The value an element of a PostgreSQL array sent in binary holds (`bytes`, `None` for a
    /// NULL), its element type's OID being `oid`, decoded as the PostgreSQL value itself would
    /// be; `None` when it cannot be (another type, a NULL where none may be, bytes that are not
    /// the type's).
    fn element(oid: u32, bytes: Option<&[u8]>) -> Option<Self>;
}

/// Where a model's values come from, by position: a row's columns, or the fields of a record
/// in an array a row holds ([`in_records`]).
pub trait Values {
    /// The value of the column at position `at`.
    ///
    /// # Errors
    /// The position is out of the row, or the value cannot be decoded as `T`.
    fn value<T: Cell>(&mut self, at: usize) -> Result<T, DbErr>;
}

impl Values for &QueryResult {
    fn value<T: Cell>(&mut self, at: usize) -> Result<T, DbErr> {
        T::cell(self, at)
    }
}

/// The bytes of the PostgreSQL value at position `at` of `res`, sent in binary, when its
/// column's type is one of `oids` (`Some(None)`: NULL); `None` where the checked read is needed
/// (another type, another engine, the text format, a position out of the row).
fn binary_at<'r>(res: &'r QueryResult, at: usize, oids: &[u32]) -> Option<Option<&'r [u8]>> {
    let row = res.try_as_pg_row()?;
    let oid = row.columns().get(at)?.type_info().oid()?;
    if !oids.contains(&oid.0) {
        return None;
    }
    let value = row.try_get_raw(at).ok()?;
    if value.is_null() {
        return Some(None);
    }
    if value.format() != PgValueFormat::Binary {
        return None;
    }
    value.as_bytes().ok().map(Some)
}

/// The value at position `at` of a PostgreSQL row, decoded by `decode` from its binary bytes
/// (PostgreSQL's binary formats, as SQLx decodes them) when its column's type is one of `oids`:
/// without SQLx's type check, nor its generic decoding (`Row::try_get_unchecked` and the
/// type's `Decode`, whose errors are boxed); for the 1,078 values of a nested request, 35,000
/// instructions fewer, 1.5% of the request's (`bench/rounds/count.sh instructions`). `None`
/// where the checked read is needed ([`binary_at`]) or `decode` refuses the bytes (a length
/// that is not the type's), for the checked read to say what is wrong.
fn unchecked<'r, T>(
    res: &'r QueryResult,
    at: usize,
    oids: &[u32],
    decode: impl FnOnce(&'r [u8]) -> Option<T>,
) -> Option<Option<T>> {
    match binary_at(res, at, oids)? {
        None => Some(None),
        Some(bytes) => decode(bytes).map(Some),
    }
}

/// The big-endian integer or float of `N` bytes that `bytes` is, if that is their length.
fn big_endian<const N: usize, T>(bytes: &[u8], from: fn([u8; N]) -> T) -> Option<T> {
    <[u8; N]>::try_from(bytes).ok().map(from)
}

/// The OIDs of PostgreSQL's text types, which SQLx decodes as strings (`text`, `varchar`,
/// `bpchar`, `name`).
const TEXT_OIDS: &[u32] = &[25, 1043, 1042, 19];

/// [`Cell`] for types SQLx decodes, and for their `Option`s, with the OIDs of the built-in
/// PostgreSQL types SQLx's check accepts for each and their decoding from binary.
macro_rules! decoded_cells {
    ($($ty:ty => $oids:expr, $decode:expr),* $(,)?) => {$(
        impl Cell for $ty {
            fn cell(res: &QueryResult, at: usize) -> Result<Self, DbErr> {
                match unchecked(res, at, $oids, $decode) {
                    Some(Some(value)) => Ok(value),
                    _ => res.try_get_by_index(at),
                }
            }

            fn element(oid: u32, bytes: Option<&[u8]>) -> Option<Self> {
                if !$oids.contains(&oid) {
                    return None;
                }
                ($decode)(bytes?)
            }
        }

        impl Cell for Option<$ty> {
            fn cell(res: &QueryResult, at: usize) -> Result<Self, DbErr> {
                match unchecked(res, at, $oids, $decode) {
                    Some(value) => Ok(value),
                    None => res.try_get_by_index(at),
                }
            }

            fn element(oid: u32, bytes: Option<&[u8]>) -> Option<Self> {
                nullable_element(oid, bytes)
            }
        }
    )*};
}

decoded_cells!(
    bool => &[16], |b: &[u8]| match b { [byte] => Some(*byte != 0), _ => None },
    i32 => &[23], |b: &[u8]| big_endian(b, i32::from_be_bytes),
    i64 => &[20], |b: &[u8]| big_endian(b, i64::from_be_bytes),
    f64 => &[701], |b: &[u8]| big_endian(b, f64::from_be_bytes),
    String => TEXT_OIDS, |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_owned),
);

/// The OID of PostgreSQL's `timestamptz`.
const TIMESTAMPTZ_OID: u32 = 1184;

/// 2000-01-01T00:00:00Z, PostgreSQL's epoch, in microseconds since the Unix epoch.
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// A PostgreSQL `timestamptz` at position `at` of `res`, from the microseconds since 2000 its
/// binary value is (SQLx adds them to its epoch as a `chrono` duration and goes through a fixed
/// offset). `None` where the checked read is needed ([`binary_at`]); an instant out of
/// `chrono`'s range (PostgreSQL's `infinity`) is an error here where SQLx's addition panics.
fn instant_at(
    res: &QueryResult,
    at: usize,
) -> Option<Result<Option<chrono::DateTime<chrono::Utc>>, DbErr>> {
    let micros = unchecked(res, at, &[TIMESTAMPTZ_OID], |b| {
        big_endian(b, i64::from_be_bytes)
    })?;
    Some(match micros {
        None => Ok(None),
        Some(micros) => instant(micros)
            .map(Some)
            .ok_or_else(|| DbErr::Type(format!("the instant at column {at} is out of range"))),
    })
}

/// The instant `micros` microseconds after PostgreSQL's epoch, if `chrono` holds it.
fn instant(micros: i64) -> Option<chrono::DateTime<chrono::Utc>> {
    micros
        .checked_add(POSTGRES_EPOCH_MICROS)
        .and_then(chrono::DateTime::from_timestamp_micros)
}

impl Cell for chrono::DateTime<chrono::Utc> {
    fn cell(res: &QueryResult, at: usize) -> Result<Self, DbErr> {
        match instant_at(res, at) {
            Some(Ok(Some(instant))) => Ok(instant),
            Some(Err(e)) => Err(e),
            _ => res.try_get_by_index(at),
        }
    }

    fn element(oid: u32, bytes: Option<&[u8]>) -> Option<Self> {
        if oid != TIMESTAMPTZ_OID {
            return None;
        }
        instant(big_endian(bytes?, i64::from_be_bytes)?)
    }
}

impl Cell for Option<chrono::DateTime<chrono::Utc>> {
    fn cell(res: &QueryResult, at: usize) -> Result<Self, DbErr> {
        match instant_at(res, at) {
            Some(read) => read,
            None => res.try_get_by_index(at),
        }
    }

    fn element(oid: u32, bytes: Option<&[u8]>) -> Option<Self> {
        nullable_element(oid, bytes)
    }
}

/// [`Cell::element`] for `Option<T>`: `Some(None)` for a NULL, as `T` reads it otherwise.
pub(crate) fn nullable_element<T: Cell>(oid: u32, bytes: Option<&[u8]>) -> Option<Option<T>> {
    match bytes {
        None => Some(None),
        Some(bytes) => T::element(oid, Some(bytes)).map(Some),
    }
}

/// A string enum's value at position `at` of `res`: the stored string, borrowed from the row
/// (not copied), given to `parse` (the enum's `from_stored`); a string `parse` does not know,
/// and whatever [`Cell`] reads the checked way, is read by sea-orm, which says what is wrong.
///
/// # Errors
/// As sea-orm's read of `T`.
pub(crate) fn stored_at<T: TryGetable>(
    res: &QueryResult,
    at: usize,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, DbErr> {
    match unchecked(res, at, TEXT_OIDS, |b| std::str::from_utf8(b).ok()) {
        Some(Some(text)) => parse(text).map_or_else(|| res.try_get_by_index(at), Ok),
        _ => res.try_get_by_index(at),
    }
}

/// [`Cell::element`] for a string enum: the stored string, borrowed from the array, given to
/// `parse` (the enum's `from_stored`).
pub(crate) fn stored_element<T>(
    oid: u32,
    bytes: Option<&[u8]>,
    parse: impl Fn(&str) -> Option<T>,
) -> Option<T> {
    if !TEXT_OIDS.contains(&oid) {
        return None;
    }
    parse(std::str::from_utf8(bytes?).ok()?)
}

/// The OIDs of PostgreSQL's `json` and `jsonb`.
const JSON_OID: u32 = 114;
const JSONB_OID: u32 = 3802;

/// [`Cell::element`] for a value stored as JSON: `json`'s text, or `jsonb`'s binary form (its
/// version, 1, then the text), read by serde.
pub(crate) fn json_element<T: serde::de::DeserializeOwned>(
    oid: u32,
    bytes: Option<&[u8]>,
) -> Option<T> {
    let text = match (oid, bytes?) {
        (JSON_OID, text) => text,
        (JSONB_OID, [1, text @ ..]) => text,
        _ => return None,
    };
    serde_json::from_slice(text).ok()
}

/// The models a row holds as an array of records at position `at` (the rows of a to-many
/// relation, `ARRAY(SELECT ROW(…) …)` in the row's statement, each record the columns of a set
/// in the set's order): `read` reads each in turn from [`Values`] over its record's fields, by
/// their place in the record (a [`Layout::in_order`]). No model for an empty array or a NULL.
///
/// # Errors
/// Not a PostgreSQL row, not an array of records in binary, of more than one dimension,
/// malformed, or a field `read` cannot decode.
pub fn in_records<M>(
    res: &QueryResult,
    at: usize,
    mut read: impl FnMut(&mut Record<'_>) -> Result<M, DbErr>,
) -> Result<Vec<M>, DbErr> {
    let not_records = || {
        DbErr::Type(format!(
            "the value at column {at} is not an array of records"
        ))
    };
    let row = res
        .try_as_pg_row()
        .ok_or_else(|| DbErr::Type("records are read from PostgreSQL rows only".to_owned()))?;
    let value = row
        .try_get_raw(at)
        .map_err(|e| DbErr::Type(format!("column {at}: {e}")))?;
    if value.is_null() {
        return Ok(Vec::new());
    }
    let bytes = match value.format() {
        PgValueFormat::Binary => value.as_bytes().map_err(|_| not_records())?,
        PgValueFormat::Text => return Err(not_records()),
    };
    let mut elements = Elements::of(bytes).ok_or_else(not_records)?;
    if elements.left > 0 && elements.oid != RECORD_OID {
        return Err(not_records());
    }
    // Each element takes four bytes at least: a count the bytes cannot hold is not reserved.
    let mut models = Vec::with_capacity((elements.left as usize).min(elements.bytes.len() / 4));
    while elements.left > 0 {
        let mut record = elements
            .next()
            .flatten()
            .and_then(Record::of)
            .ok_or_else(not_records)?;
        models.push(read(&mut record)?);
    }
    Ok(models)
}

/// The OID of PostgreSQL's anonymous `record`.
const RECORD_OID: u32 = 2249;

/// A PostgreSQL record in binary, being read into a model ([`in_records`]): its fields, each
/// its type's OID, its length (-1 for NULL) and its bytes. A model reads its fields in the
/// record's order; each read goes on from the last, and starts again from the first when a
/// field before it is asked for.
#[derive(Debug)]
pub struct Record<'r> {
    fields: &'r [u8],
    count: usize,
    /// The bytes from the field of index `next` on.
    rest: &'r [u8],
    next: usize,
}

impl<'r> Record<'r> {
    /// The record `bytes` are (its number of fields, then the fields): `None` for a negative
    /// count.
    fn of(bytes: &'r [u8]) -> Option<Self> {
        let (count, fields) = be_i32(bytes)?;
        Some(Record {
            fields,
            count: usize::try_from(count).ok()?,
            rest: fields,
            next: 0,
        })
    }

    /// The field of index `at`: its type's OID and its bytes (`None`: NULL); `None` past the
    /// last field or for a field cut short.
    fn field(&mut self, at: usize) -> Option<(u32, Option<&'r [u8]>)> {
        if at >= self.count {
            return None;
        }
        if at < self.next {
            (self.rest, self.next) = (self.fields, 0);
        }
        loop {
            let (oid, rest) = be_i32(self.rest)?;
            let (length, rest) = be_i32(rest)?;
            let (value, rest) = match usize::try_from(length) {
                Ok(length) => {
                    let (value, rest) = rest.split_at_checked(length)?;
                    (Some(value), rest)
                }
                Err(_) => (None, rest),
            };
            (self.rest, self.next) = (rest, self.next + 1);
            if self.next > at {
                return Some((u32::from_be_bytes(oid.to_be_bytes()), value));
            }
        }
    }
}

impl Values for Record<'_> {
    fn value<T: Cell>(&mut self, at: usize) -> Result<T, DbErr> {
        self.field(at)
            .and_then(|(oid, bytes)| T::element(oid, bytes))
            .ok_or_else(|| {
                DbErr::Type(format!(
                    "field {at} of a record is not a {}",
                    std::any::type_name::<T>()
                ))
            })
    }
}

/// The elements of a one-dimensional PostgreSQL array in binary, not yet read: the element
/// type's OID, how many are left, and their bytes (each its length, -1 for NULL, then the
/// value's bytes).
#[derive(Debug)]
struct Elements<'r> {
    oid: u32,
    left: u32,
    bytes: &'r [u8],
}

impl<'r> Elements<'r> {
    /// The array `bytes` are (dimensions, a flag for NULLs, the element type's OID, then per
    /// dimension its length and lower bound): `None` for more than one dimension or a header
    /// cut short.
    fn of(bytes: &'r [u8]) -> Option<Self> {
        let (dimensions, rest) = be_i32(bytes)?;
        let (_nulls, rest) = be_i32(rest)?;
        let (oid, rest) = be_i32(rest)?;
        let oid = u32::from_be_bytes(oid.to_be_bytes());
        match dimensions {
            0 => Some(Elements {
                oid,
                left: 0,
                bytes: rest,
            }),
            1 => {
                let (length, rest) = be_i32(rest)?;
                let (_lower_bound, rest) = be_i32(rest)?;
                Some(Elements {
                    oid,
                    left: u32::try_from(length).ok()?,
                    bytes: rest,
                })
            }
            _ => None,
        }
    }

    /// The next element's bytes (`Some(None)`: NULL); `None` when there is none left or its
    /// length runs past the array.
    fn next(&mut self) -> Option<Option<&'r [u8]>> {
        self.left = self.left.checked_sub(1)?;
        let (length, rest) = be_i32(self.bytes)?;
        if length < 0 {
            self.bytes = rest;
            return Some(None);
        }
        let (value, rest) = rest.split_at_checked(usize::try_from(length).ok()?)?;
        self.bytes = rest;
        Some(Some(value))
    }
}

/// The big-endian `i32` `bytes` start with, and the bytes after it.
fn be_i32(bytes: &[u8]) -> Option<(i32, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<4>()?;
    Some((i32::from_be_bytes(*head), rest))
}

/// What every table's `Columns` (made by `column_set!`) can do, for code that serves several
/// tables: the empty set, the union of two, and the union of the sets a selection's fields
/// read.
pub trait ColumnSet: Copy + PartialEq {
    /// No column.
    const EMPTY: Self;

    /// This set and every column of `other`.
    #[must_use]
    fn and(self, other: Self) -> Self;

    /// Where the set's columns stand in a record of them, in the set's order (see
    /// [`Layout::in_order`]).
    fn in_order(self) -> Layout;

    /// This set and each of `parts`, or `whole` as soon as a part is `None` (a field that needs
    /// the whole row).
    #[must_use]
    fn and_each(self, parts: impl IntoIterator<Item = Option<Self>>, whole: Self) -> Self {
        let mut set = self;
        for part in parts {
            match part {
                Some(more) => set = set.and(more),
                None => return whole,
            }
        }
        set
    }
}

/// Defines `Columns`, a set of the module's `Column`s (at most 64, the last one named), beside
/// the entity it is written in.
macro_rules! column_set {
    ($last:ident) => {
        /// A set of the table's columns (see [`crate::columns`]).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct Columns(u64);

        impl Columns {
            /// Every column: the row as stored.
            pub const ALL: Columns = Columns((1 << (Column::$last as u32 + 1)) - 1);
            /// None yet.
            pub const NONE: Columns = Columns(0);

            /// This set and `column`.
            #[must_use]
            pub const fn with(self, column: Column) -> Columns {
                Columns(self.0 | 1 << column as u32)
            }

            /// This set without `column`.
            #[must_use]
            pub const fn without(self, column: Column) -> Columns {
                Columns(self.0 & !(1 << column as u32))
            }

            /// This set and every column of `other`.
            #[must_use]
            pub const fn union(self, other: Columns) -> Columns {
                Columns(self.0 | other.0)
            }

            pub const fn contains(self, column: Column) -> bool {
                self.0 & (1 << column as u32) != 0
            }

            /// The columns of the set, in the table's order.
            pub fn iter(self) -> impl Iterator<Item = Column> {
                <Column as sea_orm::Iterable>::iter().filter(move |c| self.contains(*c))
            }

            /// Where the set's columns, each named `prefix` + column, stand in `res`.
            ///
            /// # Errors
            /// A column of the set is not in the row.
            pub fn layout(
                self,
                res: &sea_orm::QueryResult,
                prefix: &str,
            ) -> Result<$crate::columns::Layout, sea_orm::DbErr> {
                $crate::columns::Layout::of(
                    res,
                    prefix,
                    self.iter()
                        .map(|c| (c as u32, sea_orm::IdenStatic::as_str(&c))),
                )
            }
        }

        /// Reads the rows of one statement that selected a set of columns, each named with a
        /// prefix: the columns are found by name in the first row, and every row is read by
        /// position ([`Model::read_at`]).
        #[derive(Debug)]
        pub struct Reader<'a> {
            prefix: &'a str,
            columns: Columns,
            layout: Option<$crate::columns::Layout>,
        }

        impl<'a> Reader<'a> {
            pub fn new(prefix: &'a str, columns: Columns) -> Self {
                Reader {
                    prefix,
                    columns,
                    layout: None,
                }
            }

            /// A row of the statement (see [`Model::read_at`]).
            ///
            /// # Errors
            /// A selected column is missing or cannot be decoded.
            pub fn read(&mut self, res: &sea_orm::QueryResult) -> Result<Model, sea_orm::DbErr> {
                let layout = match &self.layout {
                    Some(layout) => layout,
                    None => self.layout.insert(self.columns.layout(res, self.prefix)?),
                };
                Model::read_at(res, layout, self.columns)
            }
        }

        impl $crate::columns::ColumnSet for Columns {
            const EMPTY: Columns = Columns::NONE;

            fn and(self, other: Columns) -> Columns {
                self.union(other)
            }

            fn in_order(self) -> $crate::columns::Layout {
                $crate::columns::Layout::in_order(self.iter().map(|c| c as u32))
            }
        }

        const _: () = assert!(
            (Column::$last as u32) < 64,
            "a column set holds at most 64 columns"
        );
    };
}

pub(crate) use column_set;

/// A table's `Model::read_at`, beside its `Columns`, from its fields and their columns: each
/// field is read from its column when the set holds it, or is an empty value for a reader that
/// does not look at it (`Default::default()`: `""`, `0`, `false`, none, the epoch; or the value
/// given after `=`).
macro_rules! read_at {
    ({ $($field:ident: $column:ident $(= $empty:expr)?),* $(,)? }) => {
        impl Model {
            /// A row of a statement that selected `columns`, each column at the position
            /// `layout` gives (found once for all the rows of a statement: see [`Reader`]).
            ///
            /// # Errors
            /// A selected column cannot be decoded.
            pub fn read_at(
                res: &sea_orm::QueryResult,
                layout: &$crate::columns::Layout,
                columns: Columns,
            ) -> Result<Model, sea_orm::DbErr> {
                Model::read_from(&mut &*res, layout, columns)
            }

            /// [`Model::read_at`] from `values`: a row, or a record
            /// ([`crate::columns::in_records`]).
            ///
            /// # Errors
            /// A selected column cannot be decoded.
            pub fn read_from(
                values: &mut impl $crate::columns::Values,
                layout: &$crate::columns::Layout,
                columns: Columns,
            ) -> Result<Model, sea_orm::DbErr> {
                Ok(Model {
                    $($field: if columns.contains(Column::$column) {
                        values.value(layout.at(Column::$column as u32))?
                    } else {
                        $crate::columns::read_at!(@empty $($empty)?)
                    },)*
                })
            }
        }
    };
    (@empty) => {
        Default::default()
    };
    (@empty $empty:expr) => {
        $empty
    };
}

pub(crate) use read_at;

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

    use super::{ColumnSet, Elements, Layout, QueryResult, Record, nullable_at};
    use crate::publisher::{Column, Columns};

    /// A row of a real SQLite statement: `p_id` 7, `p_name` NULL, `p_title` 'x'.
    async fn row() -> QueryResult {
        let db = Database::connect("sqlite::memory:").await.expect("sqlite");
        db.query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT 7 AS p_id, NULL AS p_name, 'x' AS p_title",
        ))
        .await
        .expect("select")
        .expect("a row")
    }

    #[tokio::test]
    async fn a_nullable_column_reads_as_sea_orm_reads_it() {
        let res = row().await;
        assert_eq!(nullable_at::<i64>(&res, 0).expect("id"), Some(7));
        assert_eq!(nullable_at::<i64>(&res, 1).expect("null"), None);
        assert_eq!(nullable_at::<String>(&res, 1).expect("null"), None);
        assert_eq!(
            nullable_at::<String>(&res, 2).expect("text"),
            Some("x".to_owned())
        );
        // The same answers as sea-orm's own read, errors included: a value of another type, a
        // position out of the row.
        for at in 0..3 {
            assert_eq!(
                nullable_at::<i64>(&res, at).ok(),
                res.try_get_by_index::<Option<i64>>(at).ok(),
                "{at}"
            );
        }
        assert!(nullable_at::<i64>(&res, 2).is_err());
        assert!(nullable_at::<i64>(&res, 3).is_err());
    }

    #[tokio::test]
    async fn a_layout_finds_its_columns_by_prefixed_name_or_says_which_is_missing() {
        let res = row().await;
        let layout = Layout::of(&res, "p_", [(0, "id"), (5, "title")].into_iter()).expect("found");
        assert_eq!((layout.at(0), layout.at(5)), (0, 2));
        let missing = Layout::of(&res, "p_", [(0, "id"), (1, "logo")].into_iter());
        assert!(
            matches!(&missing, Err(sea_orm::DbErr::Type(m)) if m == "no column p_logo in the row"),
            "{missing:?}"
        );
        // The prefix is part of the name.
        assert!(Layout::of(&res, "o_", [(0, "id")].into_iter()).is_err());
    }

    /// PostgreSQL's binary form of a one-dimensional array of two records, each a `bigint`
    /// and a `text` (NULL in the second).
    fn two_records() -> Vec<u8> {
        let mut bytes = Vec::new();
        let int = |b: &mut Vec<u8>, v: i32| b.extend_from_slice(&v.to_be_bytes());
        for header in [1, 0, 2249, 2, 1] {
            int(&mut bytes, header);
        }
        for (id, text) in [(7_i64, Some("vélo")), (8, None)] {
            let mut record = Vec::new();
            for field in [2, 20, 8] {
                int(&mut record, field);
            }
            record.extend_from_slice(&id.to_be_bytes());
            int(&mut record, 25);
            match text {
                Some(text) => {
                    int(&mut record, i32::try_from(text.len()).expect("short"));
                    record.extend_from_slice(text.as_bytes());
                }
                None => int(&mut record, -1),
            }
            int(&mut bytes, i32::try_from(record.len()).expect("short"));
            bytes.extend_from_slice(&record);
        }
        bytes
    }

    /// Every field of every record of `bytes`, read backwards within each record (each read
    /// before the last starts again from the first); `None` as soon as something is missing.
    fn fields(bytes: &[u8]) -> Option<Vec<(u32, Option<Vec<u8>>)>> {
        let mut elements = Elements::of(bytes)?;
        let mut read = Vec::new();
        while elements.left > 0 {
            let mut record = Record::of(elements.next()??)?;
            for at in (0..record.count).rev() {
                let (oid, value) = record.field(at)?;
                read.push((oid, value.map(<[u8]>::to_vec)));
            }
            if record.field(record.count).is_some() {
                return None;
            }
        }
        Some(read)
    }

    #[test]
    fn records_are_read_from_their_bytes_and_cut_short_they_are_none() {
        let bytes = two_records();
        assert_eq!(
            fields(&bytes).expect("whole"),
            [
                (25, Some("vélo".as_bytes().to_vec())),
                (20, Some(7_i64.to_be_bytes().to_vec())),
                (25, None),
                (20, Some(8_i64.to_be_bytes().to_vec())),
            ]
        );
        // Cut anywhere, the bytes read as nothing, never out of bounds.
        for end in 0..bytes.len() {
            assert_eq!(fields(&bytes[..end]), None, "cut at {end}");
        }
        // Two dimensions are refused; a negative count of elements or fields too.
        let mut two = bytes.clone();
        two[3] = 2;
        assert!(Elements::of(&two).is_none());
        let mut negative = bytes;
        negative[12] = 0xff;
        assert!(Elements::of(&negative).is_none());
        assert!(Record::of(&(-1_i32).to_be_bytes()).is_none());
    }

    #[test]
    fn a_selections_sets_make_their_union_or_the_whole_row_when_one_needs_it() {
        let id = Columns::NONE.with(Column::Id);
        let name = Columns::NONE.with(Column::Name);
        let logo = Columns::NONE.with(Column::Logo);
        let whole = Columns::ALL.without(Column::FeedPassword);
        assert_eq!(
            id.and_each([Some(name), Some(logo), Some(Columns::NONE)], whole),
            id.with(Column::Name).with(Column::Logo)
        );
        assert_eq!(id.and_each([Some(name), None, Some(logo)], whole), whole);
        assert_eq!(id.and_each([], whole), id);
    }
}
