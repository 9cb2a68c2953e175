//! Rules that belong to the data, used by every way data arrives (GraphQL mutations, feed
//! import, demo seed): a mission is validated by the same code whichever way it comes.
use chrono::{DateTime, Utc};

use crate::enums::ApplicationStatus;

/// The longest description a mission may have, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 20_000;

/// The longest title a mission may have, in characters: a title is a line, not a text. The
/// organizations' pages of missions read titles from an index (migration 13), whose entries
/// PostgreSQL bounds at 2,704 bytes: 500 characters are 2,000 bytes at most in UTF-8.
pub const MAX_TITLE_CHARS: usize = 500;

/// One reason a mission is refused: a stable code for programs, a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Stable, SCREAMING_SNAKE_CASE: partners match on it.
    pub code: &'static str,
    /// The field at fault, in the feed's and the API's camelCase.
    pub field: &'static str,
    pub message: String,
}

/// What the rules need to see of a mission, however it arrived.
#[derive(Debug, Clone, Default)]
pub struct MissionCandidate<'a> {
    pub client_id: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub application_url: &'a str,
    pub places: Option<i64>,
    pub start_at: Option<DateTime<Utc>>,
    pub end_at: Option<DateTime<Utc>>,
    /// `(lat, lon)` of each address that has coordinates.
    pub coordinates: Vec<(f64, f64)>,
}

/// Checks a mission against the rules; an empty list means it may be published.
pub fn validate_mission(m: &MissionCandidate<'_>) -> Vec<Violation> {
    let mut v = Vec::new();
    let mut missing = |value: &str, code: &'static str, field: &'static str| {
        if value.trim().is_empty() {
            v.push(Violation {
                code,
                field,
                message: format!("{field} is missing"),
            });
        }
    };
    missing(m.client_id, "MISSING_CLIENT_ID", "clientId");
    missing(m.title, "MISSING_TITLE", "title");
    missing(m.description, "MISSING_DESCRIPTION", "description");
    missing(
        m.application_url,
        "MISSING_APPLICATION_URL",
        "applicationUrl",
    );
    let chars = m.title.chars().count();
    if chars > MAX_TITLE_CHARS {
        v.push(Violation {
            code: "TITLE_TOO_LONG",
            field: "title",
            message: format!("title has {chars} characters, more than {MAX_TITLE_CHARS}"),
        });
    }
    let chars = m.description.chars().count();
    if chars > MAX_DESCRIPTION_CHARS {
        v.push(Violation {
            code: "DESCRIPTION_TOO_LONG",
            field: "description",
            message: format!(
                "description has {chars} characters, more than {MAX_DESCRIPTION_CHARS}"
            ),
        });
    }
    if let Some(places) = m.places.filter(|p| *p <= 0) {
        v.push(Violation {
            code: "INVALID_PLACES",
            field: "places",
            message: format!("places must be at least 1, got {places}"),
        });
    }
    if let (Some(start), Some(end)) = (m.start_at, m.end_at)
        && end < start
    {
        v.push(Violation {
            code: "END_BEFORE_START",
            field: "endAt",
            message: format!("endAt {end} is before startAt {start}"),
        });
    }
    for &(lat, lon) in &m.coordinates {
        if !(-90.0..=90.0).contains(&lat)
            || !(-180.0..=180.0).contains(&lon)
            || lat.is_nan()
            || lon.is_nan()
        {
            v.push(Violation {
                code: "INVALID_COORDINATES",
                field: "addresses",
                message: format!("coordinates ({lat}, {lon}) are outside the world"),
            });
        }
    }
    v
}

impl ApplicationStatus {
    /// The statuses an application may move to from this one.
    pub fn next_allowed(self) -> &'static [ApplicationStatus] {
        use ApplicationStatus::*;
        match self {
            WaitingValidation => &[WaitingAcceptation, Validated, Refused, Cancelled],
            WaitingAcceptation => &[Validated, Refused, Cancelled],
            Validated => &[InProgress, Cancelled, Abandoned],
            InProgress => &[Done, Abandoned],
            Refused | Cancelled | Done | Abandoned => &[],
        }
    }

    /// Whether an application in this status may move to `next`.
    pub fn can_move_to(self, next: ApplicationStatus) -> bool {
        self.next_allowed().contains(&next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn valid() -> MissionCandidate<'static> {
        MissionCandidate {
            client_id: "m-1",
            title: "Aide aux devoirs",
            description: "Accompagner des collégiens.",
            application_url: "https://example.org/m-1",
            places: Some(3),
            start_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single(),
            end_at: Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).single(),
            coordinates: vec![(45.76, 4.83)],
        }
    }

    #[test]
    fn a_complete_mission_has_no_violation() {
        assert!(validate_mission(&valid()).is_empty());
    }

    #[test]
    fn each_broken_rule_is_reported_with_its_code() {
        let long = "x".repeat(MAX_DESCRIPTION_CHARS + 1);
        let m = MissionCandidate {
            title: " ",
            description: &long,
            places: Some(0),
            end_at: Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single(),
            coordinates: vec![(91.0, 0.0)],
            ..valid()
        };
        let codes: Vec<_> = validate_mission(&m).into_iter().map(|v| v.code).collect();
        assert_eq!(
            codes,
            [
                "MISSING_TITLE",
                "DESCRIPTION_TOO_LONG",
                "INVALID_PLACES",
                "END_BEFORE_START",
                "INVALID_COORDINATES"
            ]
        );
    }

    #[test]
    fn a_title_may_hold_up_to_its_limit_in_characters_not_bytes() {
        let codes = |title: &str| -> Vec<_> {
            validate_mission(&MissionCandidate { title, ..valid() })
                .into_iter()
                .map(|v| v.code)
                .collect()
        };
        // 500 four-byte characters: 2,000 bytes, still a title.
        assert!(codes(&"🌱".repeat(MAX_TITLE_CHARS)).is_empty());
        assert_eq!(codes(&"é".repeat(MAX_TITLE_CHARS + 1)), ["TITLE_TOO_LONG"]);
    }

    #[test]
    fn finished_applications_cannot_move() {
        assert!(ApplicationStatus::WaitingValidation.can_move_to(ApplicationStatus::Validated));
        assert!(!ApplicationStatus::Done.can_move_to(ApplicationStatus::InProgress));
        assert!(!ApplicationStatus::Refused.can_move_to(ApplicationStatus::Validated));
    }
}
