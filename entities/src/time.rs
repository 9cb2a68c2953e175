//! Timestamps as the database stores them.
use chrono::{DateTime, SubsecRound, Utc};

/// The current time truncated to the second.
///
/// SQLite stores timestamps as RFC 3339 text and compares them as text: truncating every stored
/// timestamp to the second keeps one width, so text order is time order on both engines.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// Truncates a timestamp to the second (see [`now`]).
pub fn to_db(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(0)
}
