//! Opaque Relay cursors: which list they belong to, the sort value and the id tie-break.
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
    /// The list and ordering this cursor was issued for, e.g. `missions:START_AT:ASC`.
    #[serde(rename = "l")]
    pub list: String,
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<SortValue>,
    #[serde(rename = "i")]
    pub id: i64,
}

impl Cursor {
    pub fn new(list: impl Into<String>, value: Option<SortValue>, id: i64) -> Self {
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

/// The text form of a timestamp inside cursors.
pub fn time_value(t: DateTime<Utc>) -> SortValue {
    SortValue::Text(t.to_rfc3339())
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
}
