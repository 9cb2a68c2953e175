//! Sets of a table's columns: those a read selects, when it needs fewer than all.
//!
//! A list of 20 missions with their organizations' first five, asking for titles and dates, read
//! all 35 columns of 120 rows: on SQLite most of its time went into copying and decoding the
//! columns nobody asked for (docs/BENCHMARKS.md). Reads select the columns their selection
//! needs, and each table's `Model::read_columns` fills the others with empty values.

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
        }

        const _: () = assert!(
            (Column::$last as u32) < 64,
            "a column set holds at most 64 columns"
        );
    };
}

pub(crate) use column_set;

/// The body of a table's `Model::read_columns(res, prefix, columns)`, beside its `Columns`: the
/// whole row when `columns` is every column, else each field from its column (named `prefix` +
/// column) when the set holds it, or an empty value for a reader that does not look at it
/// (`Default::default()`, or the one given after `=`).
macro_rules! read_columns {
    ($res:ident, $prefix:expr, $columns:ident, { $($field:ident: $column:ident $(= $empty:expr)?),* $(,)? }) => {{
        if $columns == Columns::ALL {
            return <Model as sea_orm::FromQueryResult>::from_query_result($res, $prefix);
        }
        Ok(Model {
            $($field: if $columns.contains(Column::$column) {
                $res.try_get($prefix, sea_orm::IdenStatic::as_str(&Column::$column))?
            } else {
                $crate::columns::read_columns!(@empty $($empty)?)
            },)*
        })
    }};
    (@empty) => {
        Default::default()
    };
    (@empty $empty:expr) => {
        $empty
    };
}

pub(crate) use read_columns;
