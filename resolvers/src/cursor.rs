//! Opaque Relay cursors: which list they belong to, the sort value and the id tie-break.
//!
//! A page keeps its rows' cursors as values and writes one out only when the client reads it
//! (`edges { cursor }`, `pageInfo { startCursor endCursor }`): a page read for its `nodes`
//! encodes none (writing 120 cursors was 4% of a nested query's instructions,
//! docs/BENCHMARKS.md).
use std::borrow::Cow;

use async_graphql::parser::types::Field;
use async_graphql::{ContextSelectionSet, OutputType, Positioned, ServerResult, Value};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The sort value a cursor stands at.
///
/// Numbers travel as the bits of the `f64`: a decimal text would not always parse back to the
/// same float, and a keyset page must restart at exactly the value the database computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    FloatBits(u64),
    Text(String),
    /// A timestamp, written as its RFC 3339 text (and read back as [`SortValue::Text`]): kept
    /// as a value until the cursor is written.
    #[serde(skip_deserializing, serialize_with = "rfc3339")]
    Time(DateTime<Utc>),
}

fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339())
}

impl SortValue {
    pub fn float(x: f64) -> Self {
        SortValue::FloatBits(x.to_bits())
    }
}

/// A position in one ordering of one list. Encoded as base64 of a small JSON document; clients
/// must treat it as opaque.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The list and ordering this cursor was issued for, e.g. `missions:StartAt:Asc`.
    #[serde(rename = "l")]
    pub list: Cow<'static, str>,
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<SortValue>,
    #[serde(rename = "i")]
    pub id: i64,
}

impl Cursor {
    pub fn new(list: impl Into<Cow<'static, str>>, value: Option<SortValue>, id: i64) -> Self {
        Cursor {
            list: list.into(),
            value,
            id,
        }
    }

    pub fn encode(&self) -> String {
        // Serializing plain strings and numbers cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Reads the `after` argument of a list whose orderings are named `list`.
    ///
    /// # Errors
    /// `BAD_USER_INPUT` when the text is not a cursor, or is one from another list or ordering.
    pub fn decode(text: &str, list: &str) -> Result<Self, ApiError> {
        let invalid = || {
            ApiError::bad_input(
                "after",
                "not a cursor of this list; use a cursor returned by it",
            )
        };
        if text.len() > 512 {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| invalid())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if cursor.list != list {
            return Err(ApiError::bad_input(
                "after",
                "this cursor belongs to another list or another order; start again without `after`",
            ));
        }
        Ok(cursor)
    }

    /// The sort value as a timestamp.
    pub fn time(&self) -> Result<DateTime<Utc>, ApiError> {
        match &self.value {
            Some(SortValue::Text(t)) => DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| ApiError::bad_input("after", "malformed cursor")),
            Some(SortValue::Time(t)) => Ok(*t),
            _ => Err(ApiError::bad_input("after", "malformed cursor")),
        }
    }

    /// The sort value as a number.
    pub fn number(&self) -> Result<f64, ApiError> {
        match &self.value {
            Some(SortValue::FloatBits(bits)) if f64::from_bits(*bits).is_finite() => {
                Ok(f64::from_bits(*bits))
            }
            _ => Err(ApiError::bad_input("after", "malformed cursor")),
        }
    }

    /// The sort value as text.
    pub fn text(&self) -> Result<String, ApiError> {
        match &self.value {
            Some(SortValue::Text(t)) => Ok(t.clone()),
            _ => Err(ApiError::bad_input("after", "malformed cursor")),
        }
    }
}

/// A timestamp as a cursor's sort value.
pub fn time_value(t: DateTime<Utc>) -> SortValue {
    SortValue::Time(t)
}

/// A cursor is a `String` in the schema, written when it is resolved.
impl OutputType for Cursor {
    fn type_name() -> Cow<'static, str> {
        <String as OutputType>::type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        <String as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        _: &ContextSelectionSet<'_>,
        _: &Positioned<Field>,
    ) -> ServerResult<Value> {
        Ok(Value::String(self.encode()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_lists() {
        let c = Cursor::new("missions:START_AT:ASC", Some(SortValue::float(1.5)), 42);
        let text = c.encode();
        assert_eq!(Cursor::decode(&text, "missions:START_AT:ASC").ok(), Some(c));
        assert!(Cursor::decode(&text, "missions:POSTED_AT:ASC").is_err());
        assert!(Cursor::decode("not a cursor!", "missions:START_AT:ASC").is_err());
        assert!(Cursor::decode("bm90IGpzb24", "missions:START_AT:ASC").is_err());
        // Floats come back bit for bit, whatever their decimal form.
        for x in [10.343185917549121_f64, 0.1 + 0.2, 1e-300, 123456.789] {
            let c = Cursor::new("l", Some(SortValue::float(x)), 1);
            let back = Cursor::decode(&c.encode(), "l")
                .ok()
                .and_then(|c| c.number().ok());
            assert_eq!(back.map(f64::to_bits), Some(x.to_bits()));
        }
    }

    #[test]
    fn a_timestamp_is_written_as_its_text_and_read_back() {
        let t = DateTime::parse_from_rfc3339("2025-09-04T09:00:00.123456+00:00")
            .map(|t| t.with_timezone(&Utc))
            .expect("a timestamp");
        let kept = Cursor::new("l", Some(time_value(t)), 7);
        let text = Cursor::new("l", Some(SortValue::Text(t.to_rfc3339())), 7);
        // The same text as cursors issued before timestamps were kept as values.
        assert_eq!(kept.encode(), text.encode());
        let back = Cursor::decode(&kept.encode(), "l").expect("a cursor");
        assert_eq!(back.time().ok(), Some(t));
        assert_eq!(back.id, 7);
    }
}
