//! The list arguments of filters, checked the same way everywhere: at most
//! [`MAX_LIST_VALUES`] values, an empty list narrows nothing, ids and department codes are
//! parsed and normalised, and a bad value is `BAD_USER_INPUT` naming its field.
use async_graphql::ID;
use passerelle_entities::geo;

use crate::error::{ApiError, ApiResult};

/// The most values a list filter may hold.
pub const MAX_LIST_VALUES: usize = 200;

/// A list argument: `None` when absent or empty.
///
/// # Errors
/// `BAD_USER_INPUT` for more than [`MAX_LIST_VALUES`] values.
pub fn non_empty<T>(field: &str, list: Option<Vec<T>>) -> ApiResult<Option<Vec<T>>> {
    match list {
        Some(v) if v.len() > MAX_LIST_VALUES => Err(ApiError::bad_input(
            field,
            format!("at most {MAX_LIST_VALUES} values"),
        )),
        Some(v) if !v.is_empty() => Ok(Some(v)),
        _ => Ok(None),
    }
}

/// Parses an `ID` argument into a database id.
///
/// # Errors
/// `BAD_USER_INPUT` for anything but a positive integer.
pub fn parse_id(field: &str, id: &ID) -> ApiResult<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::bad_input(field, format!("{:?} is not an id", id.as_str())))
}

/// A list of ids.
///
/// # Errors
/// See [`non_empty`] and [`parse_id`].
pub fn ids(field: &str, list: Option<Vec<ID>>) -> ApiResult<Option<Vec<i64>>> {
    non_empty(field, list)?
        .map(|ids| ids.iter().map(|i| parse_id(field, i)).collect())
        .transpose()
}

/// A list of department codes, in the form stored ("2a" and " 69" become "2A" and "69").
///
/// # Errors
/// See [`non_empty`]; `BAD_USER_INPUT` for a code that is not a French department.
pub fn department_codes(
    field: &str,
    list: Option<Vec<String>>,
) -> ApiResult<Option<Vec<&'static str>>> {
    non_empty(field, list)?
        .map(|codes| {
            codes
                .iter()
                .map(|c| {
                    geo::department(c).map(|d| d.code).ok_or_else(|| {
                        ApiError::bad_input(field, format!("{c:?} is not a French department code"))
                    })
                })
                .collect()
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_capped_parsed_and_normalised() {
        assert_eq!(non_empty::<u8>("f", Some(vec![])).ok(), Some(None));
        assert!(non_empty("f", Some(vec![0; MAX_LIST_VALUES + 1])).is_err());
        assert_eq!(
            department_codes("f", Some(vec!["2a".into(), " 69".into()])).ok(),
            Some(Some(vec!["2A", "69"]))
        );
        assert!(department_codes("f", Some(vec!["99".into()])).is_err());
        assert_eq!(
            ids("f", Some(vec![ID::from("7")])).ok(),
            Some(Some(vec![7]))
        );
        assert!(ids("f", Some(vec![ID::from("-7")])).is_err());
    }
}
