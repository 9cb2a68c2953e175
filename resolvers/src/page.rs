//! Page sizes and the page info of Relay connections.
use std::borrow::Cow;

use async_graphql::{OutputType, SimpleObject, TypeName};

use crate::cursor::Cursor;
use crate::error::ApiError;
use crate::inline::Inline;

/// The page size when `first` is not given.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
/// The largest `first` a list accepts.
pub const MAX_PAGE_SIZE: u64 = 100;

/// Checks `first` and returns the page size.
///
/// # Errors
/// `BAD_USER_INPUT` when `first` is negative or above [`MAX_PAGE_SIZE`].
pub fn page_size(first: Option<i32>) -> Result<u64, ApiError> {
    match first {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if n < 0 => Err(ApiError::bad_input("first", "must not be negative")),
        Some(n) if n as u64 > MAX_PAGE_SIZE => Err(ApiError::bad_input(
            "first",
            format!("must be at most {MAX_PAGE_SIZE}"),
        )),
        Some(n) => Ok(n as u64),
    }
}

/// Where a page stands in its list.
#[derive(Debug, Clone, Default, SimpleObject)]
pub struct PageInfo {
    /// Whether more items follow this page.
    pub has_next_page: bool,
    /// Whether items come before this page (true when `after` was given).
    pub has_previous_page: bool,
    /// The cursor of the first item of this page.
    pub start_cursor: Option<Cursor>,
    /// The cursor of the last item of this page; pass it as `after` for the next page.
    pub end_cursor: Option<Cursor>,
}

impl PageInfo {
    /// The page of up to `size + 1` rows fetched in order (the extra row only tells that a next
    /// page exists): how many rows it holds, and where it stands.
    pub fn of<R>(
        rows: &[R],
        size: u64,
        had_after: bool,
        cursor: impl Fn(&R) -> Cursor,
    ) -> (usize, PageInfo) {
        let len = rows.len().min(usize::try_from(size).unwrap_or(usize::MAX));
        let page = &rows[..len];
        let info = PageInfo {
            has_next_page: rows.len() > len,
            has_previous_page: had_after,
            start_cursor: page.first().map(&cursor),
            end_cursor: page.last().map(&cursor),
        };
        (len, info)
    }
}

// Named after its node (`MissionEdge`, see `TypeName` below), so that this module names no
// domain type.
/// An item of a list with its cursor.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name_type)]
pub struct Edge<T: OutputType> {
    /// Pass it as `after` to get the items after this one.
    pub cursor: Cursor,
    pub node: T,
}

impl<T: OutputType> TypeName for Edge<T> {
    fn type_name() -> Cow<'static, str> {
        format!("{}Edge", T::type_name()).into()
    }
}

/// One page of a list: its items (with cursors) and where it stands.
#[derive(Debug, Clone)]
pub struct Page<T: OutputType> {
    pub edges: Vec<Edge<T>>,
    pub info: PageInfo,
}

impl<T: OutputType> Page<T> {
    /// Builds a page from up to `size + 1` rows fetched in order: the extra row only tells that a
    /// next page exists.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        size: u64,
        had_after: bool,
        cursor: impl Fn(&R) -> Cursor,
        node: impl Fn(R) -> T,
    ) -> Self {
        let (len, info) = PageInfo::of(&rows, size, had_after, &cursor);
        rows.truncate(len);
        let edges: Vec<Edge<T>> = rows
            .into_iter()
            .map(|r| Edge {
                cursor: cursor(&r),
                node: node(r),
            })
            .collect();
        Page { edges, info }
    }

    /// The items, borrowed from the edges (a node is never copied to be written out), each
    /// resolving its fields side by side ([`Inline`]).
    pub fn nodes(&self) -> Vec<Inline<&T>> {
        self.edges.iter().map(|e| Inline(&e.node)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_info_counts_the_extra_row_as_a_next_page_not_as_an_item() {
        let cursor = |id: &i64| Cursor::new("l", None, *id);
        let ids = |c: &Option<Cursor>| c.as_ref().map(|c| c.id);
        let (len, info) = PageInfo::of(&[1, 2, 3], 2, true, cursor);
        assert_eq!(len, 2);
        assert!(info.has_next_page && info.has_previous_page);
        assert_eq!(
            (ids(&info.start_cursor), ids(&info.end_cursor)),
            (Some(1), Some(2))
        );
        let (len, info) = PageInfo::of(&[1, 2], 2, false, cursor);
        assert_eq!(len, 2);
        assert!(!info.has_next_page && !info.has_previous_page);
        assert_eq!(ids(&info.end_cursor), Some(2));
        let (len, info) = PageInfo::of(&[7], 0, false, cursor);
        assert_eq!(len, 0);
        assert!(info.has_next_page);
        assert_eq!(
            (ids(&info.start_cursor), ids(&info.end_cursor)),
            (None, None)
        );
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(page_size(None).ok(), Some(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(Some(0)).ok(), Some(0));
        assert_eq!(page_size(Some(100)).ok(), Some(100));
        assert!(page_size(Some(101)).is_err());
        assert!(page_size(Some(-1)).is_err());
    }
}
