//! The life of an SNU phase 2 application, once: which status follows which, on which action,
//! who may take it, under which condition, what it does to the mission's places and whom it
//! notifies. Every mutation on applications asks [`transition`]; nothing else changes an
//! application's status.
//!
//! ```text
//!  apply (volunteer) ──► WAITING_VALIDATION ──verify (referent)──► WAITING_ACCEPTATION
//!  propose (referent) ─────────────────────────────────────────────► WAITING_ACCEPTATION
//!  WAITING_ACCEPTATION ──accept (structure; the volunteer, for a proposal)──► VALIDATED  [takes a place]
//!  VALIDATED ──start (structure)──► IN_PROGRESS ──complete (structure, hours)──► DONE
//!  WAITING_VALIDATION ──refuse (referent)──► REFUSED ◄──refuse (structure)── WAITING_ACCEPTATION
//!  WAITING_* (any time) / VALIDATED (before the start) ──cancel (volunteer)──► CANCELLED  [frees a place]
//!  VALIDATED (after the start) / IN_PROGRESS ──abandon──► ABANDONED            [frees a place]
//! ```
use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::access::Access;
use crate::enums::ApplicationStatus;

/// The hours of general-interest mission that complete phase 2.
pub const PHASE2_HOURS: i32 = 84;
/// The most live applications a volunteer has at once, unless configured otherwise.
pub const DEFAULT_MAX_LIVE_APPLICATIONS: u32 = 15;
/// The most hours one mission may report.
pub const MAX_REPORTED_HOURS: i32 = 1_000;

/// Who acts on an application, as the lifecycle sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Party {
    /// The applicant.
    Volunteer,
    /// The staff of the mission's organization.
    Structure,
    /// A referent of the volunteer's territory (admins act as every party).
    Referent,
}

impl Party {
    /// SCREAMING_SNAKE_CASE, as the history names it.
    pub fn name(self) -> &'static str {
        match self {
            Party::Volunteer => "VOLUNTEER",
            Party::Structure => "STRUCTURE",
            Party::Referent => "REFERENT",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Party::Volunteer => "the volunteer",
            Party::Structure => "the mission's structure",
            Party::Referent => "a referent of the volunteer's territory",
        }
    }
}

/// What is done to an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A volunteer applies (creates the application).
    Apply,
    /// A referent proposes a mission to a volunteer (creates the application).
    Propose,
    /// The referent found the volunteer eligible: the structure decides next.
    Verify,
    /// The structure accepts the volunteer (the volunteer, for a referent's proposal).
    Accept,
    Refuse,
    /// The volunteer withdraws, before the mission starts.
    Cancel,
    /// The mission starts for the volunteer.
    Start,
    /// The structure reports the hours done.
    Complete,
    /// The volunteer stops after the start.
    Abandon,
}

impl Action {
    /// SCREAMING_SNAKE_CASE, as the history and the API name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Apply => "APPLY",
            Action::Propose => "PROPOSE",
            Action::Verify => "VERIFY",
            Action::Accept => "ACCEPT",
            Action::Refuse => "REFUSE",
            Action::Cancel => "CANCEL",
            Action::Start => "START",
            Action::Complete => "COMPLETE",
            Action::Abandon => "ABANDON",
        }
    }

    fn past(self) -> &'static str {
        match self {
            Action::Apply => "applied to",
            Action::Propose => "proposed",
            Action::Verify => "verified",
            Action::Accept => "accepted",
            Action::Refuse => "refused",
            Action::Cancel => "cancelled",
            Action::Start => "started",
            Action::Complete => "completed",
            Action::Abandon => "abandoned",
        }
    }
}

/// A condition on the application or its mission, beyond its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    /// The application is a referent's proposal.
    Proposed,
    /// The volunteer applied.
    Applied,
    /// The mission has not started yet.
    BeforeStart,
    /// The mission has started.
    AfterStart,
}

/// What a move does to the mission's SNU places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Places {
    Keep,
    /// One place taken: refused when none is left.
    Take,
    /// The place the application held is free again.
    Free,
}

/// One legal move.
#[derive(Debug, Clone, Copy)]
pub struct Transition {
    /// `None`: the move creates the application.
    pub from: Option<ApplicationStatus>,
    pub action: Action,
    pub to: ApplicationStatus,
    /// Who may take it.
    pub by: &'static [Party],
    pub when: When,
    pub places: Places,
    /// Whom it concerns: they are notified (but for the party who made the move).
    pub notify: &'static [Party],
}

use Action::*;
use ApplicationStatus::*;
use Party::{Referent, Structure, Volunteer};

const fn t(
    from: Option<ApplicationStatus>,
    action: Action,
    to: ApplicationStatus,
    by: &'static [Party],
    when: When,
    places: Places,
    notify: &'static [Party],
) -> Transition {
    Transition {
        from,
        action,
        to,
        by,
        when,
        places,
        notify,
    }
}

const ALL: &[Party] = &[Volunteer, Structure, Referent];

/// Every legal move; anything else is refused.
#[rustfmt::skip]
pub const TRANSITIONS: &[Transition] = &[
    t(None, Apply, WaitingValidation, &[Volunteer], When::Always, Places::Keep, &[Volunteer, Referent]),
    t(None, Propose, WaitingAcceptation, &[Referent], When::Always, Places::Keep, &[Volunteer, Structure]),
    t(Some(WaitingValidation), Verify, WaitingAcceptation, &[Referent], When::Always, Places::Keep, &[Volunteer, Structure]),
    t(Some(WaitingValidation), Refuse, Refused, &[Referent], When::Always, Places::Keep, &[Volunteer]),
    t(Some(WaitingValidation), Cancel, Cancelled, &[Volunteer], When::Always, Places::Keep, &[Referent]),
    t(Some(WaitingAcceptation), Accept, Validated, &[Structure], When::Applied, Places::Take, ALL),
    t(Some(WaitingAcceptation), Accept, Validated, &[Volunteer], When::Proposed, Places::Take, ALL),
    t(Some(WaitingAcceptation), Refuse, Refused, &[Structure], When::Applied, Places::Keep, &[Volunteer, Referent]),
    t(Some(WaitingAcceptation), Cancel, Cancelled, &[Volunteer], When::Always, Places::Keep, &[Structure, Referent]),
    t(Some(Validated), Cancel, Cancelled, &[Volunteer], When::BeforeStart, Places::Free, &[Structure, Referent]),
    t(Some(Validated), Start, InProgress, &[Structure, Referent], When::Always, Places::Keep, &[Volunteer]),
    t(Some(Validated), Abandon, Abandoned, ALL, When::AfterStart, Places::Free, ALL),
    t(Some(InProgress), Complete, Done, &[Structure], When::Always, Places::Keep, &[Volunteer, Referent]),
    t(Some(InProgress), Abandon, Abandoned, ALL, When::Always, Places::Free, ALL),
];

/// What the lifecycle needs to know of an application and its mission, beyond the status.
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    pub proposed: bool,
    pub mission_started: bool,
}

impl When {
    fn holds(self, facts: Facts) -> bool {
        match self {
            When::Always => true,
            When::Proposed => facts.proposed,
            When::Applied => !facts.proposed,
            When::BeforeStart => !facts.mission_started,
            When::AfterStart => facts.mission_started,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            When::Always => "",
            When::Proposed => " (for a referent's proposal)",
            When::Applied => " (for an application the volunteer made)",
            When::BeforeStart => " before the mission starts",
            When::AfterStart => " after the mission started",
        }
    }
}

/// Why a move is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionError {
    /// No such move from this status, or not in this situation.
    Illegal {
        from: ApplicationStatus,
        action: Action,
        why: String,
    },
    /// The move exists, for others.
    NotYours {
        from: ApplicationStatus,
        action: Action,
        who: String,
    },
}

impl TransitionError {
    /// The stable code of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            TransitionError::Illegal { .. } => "ILLEGAL_TRANSITION",
            TransitionError::NotYours { .. } => "TRANSITION_NOT_ALLOWED",
        }
    }

    pub fn message(&self) -> String {
        match self {
            TransitionError::Illegal { from, action, why } => format!(
                "an application in status {from} cannot be {}{why}; allowed from {from}: {}",
                action.past(),
                allowed_from(*from)
            ),
            TransitionError::NotYours { from, action, who } => format!(
                "an application in status {from} can be {} only by {who}",
                action.past()
            ),
        }
    }
}

fn allowed_from(from: ApplicationStatus) -> String {
    let mut actions: Vec<&str> = TRANSITIONS
        .iter()
        .filter(|t| t.from == Some(from))
        .map(|t| t.action.as_str())
        .collect();
    actions.dedup();
    if actions.is_empty() {
        "nothing (a final status)".to_owned()
    } else {
        actions.join(", ")
    }
}

/// The move `action` makes from `from` (`None`: creating the application), when one of
/// `parties` may take it in the situation `facts` describes.
///
/// # Errors
/// No such move from `from` in this situation, or none of `parties` may take it.
pub fn transition(
    from: Option<ApplicationStatus>,
    action: Action,
    parties: &[Party],
    facts: Facts,
) -> Result<&'static Transition, TransitionError> {
    let candidates: Vec<&Transition> = TRANSITIONS
        .iter()
        .filter(|t| t.from == from && t.action == action)
        .collect();
    let status = from.unwrap_or(WaitingValidation);
    if candidates.is_empty() {
        return Err(TransitionError::Illegal {
            from: status,
            action,
            why: String::new(),
        });
    }
    let fitting: Vec<&&Transition> = candidates.iter().filter(|t| t.when.holds(facts)).collect();
    if fitting.is_empty() {
        return Err(TransitionError::Illegal {
            from: status,
            action,
            why: candidates
                .iter()
                .map(|t| t.when.describe())
                .collect::<Vec<_>>()
                .join(" or"),
        });
    }
    fitting
        .iter()
        .find(|t| t.by.iter().any(|p| parties.contains(p)))
        .map(|t| **t)
        .ok_or_else(|| TransitionError::NotYours {
            from: status,
            action,
            who: fitting
                .iter()
                .flat_map(|t| t.by.iter().map(|p| p.as_str()))
                .collect::<Vec<_>>()
                .join(" or "),
        })
}

/// The parties an access acts as on an application: `own` when it is the viewer's own
/// application, `structure` when the mission is its organization's, `referent` when the
/// volunteer is of its territory. Admins act as every party.
pub fn parties(access: &Access, own: bool, structure: bool, referent: bool) -> Vec<Party> {
    match access {
        Access::Admin => ALL.to_vec(),
        Access::Volunteer { .. } if own => vec![Volunteer],
        Access::StructureStaff { .. } if structure => vec![Structure],
        Access::ReferentDepartment { .. } | Access::ReferentRegion { .. } if referent => {
            vec![Referent]
        }
        _ => Vec::new(),
    }
}

/// How the history names the author of a move `t` made by an access acting as `parties`.
pub fn author(access: &Access, parties: &[Party], t: &Transition) -> &'static str {
    if matches!(access, Access::Admin) {
        return "ADMIN";
    }
    t.by.iter()
        .find(|p| parties.contains(p))
        .map_or("PASSERELLE", |p| p.name())
}

/// Whether the status holds a place of its mission.
pub fn holds_place(status: ApplicationStatus) -> bool {
    matches!(status, Validated | InProgress | Done)
}

/// Whether an application is live: not ended one way or another.
pub fn is_live(status: ApplicationStatus) -> bool {
    matches!(
        status,
        WaitingValidation | WaitingAcceptation | Validated | InProgress
    )
}

/// The live statuses, for queries.
pub const LIVE: [ApplicationStatus; 4] =
    [WaitingValidation, WaitingAcceptation, Validated, InProgress];

/// Phase 1 statuses that open phase 2.
pub const PHASE1_DONE: [&str; 2] = ["DONE", "EXEMPTED"];

/// Age in whole years on `day`.
pub fn age_on(birthdate: NaiveDate, day: NaiveDate) -> i32 {
    let mut age = day.year() - birthdate.year();
    if (day.month(), day.day()) < (birthdate.month(), birthdate.day()) {
        age -= 1;
    }
    age
}

/// What applying needs of the volunteer and the mission.
#[derive(Debug, Clone)]
pub struct Candidacy<'a> {
    pub phase1_status: &'a str,
    pub birthdate: NaiveDate,
    pub erased: bool,
    pub mission_status: crate::enums::MissionStatus,
    pub mission_deleted: bool,
    pub snu: bool,
    pub snu_places: i32,
    pub open_to_minors: bool,
    pub start_at: DateTime<Utc>,
    pub end_at: Option<DateTime<Utc>>,
    /// A live application of the volunteer to this mission exists.
    pub already_applied: bool,
    /// The volunteer's live applications, to any mission.
    pub live_applications: u64,
    pub max_live_applications: u32,
}

/// An eligibility rule a candidacy breaks: a stable code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ineligible {
    pub code: &'static str,
    pub message: String,
}

/// Every eligibility rule the candidacy breaks, at `now`; empty: the volunteer may apply.
pub fn eligibility(c: &Candidacy<'_>, now: DateTime<Utc>) -> Vec<Ineligible> {
    let mut out = Vec::new();
    let mut no = |code: &'static str, message: String| out.push(Ineligible { code, message });
    if c.erased {
        no(
            "VOLUNTEER_ERASED",
            "this volunteer's data was erased".to_owned(),
        );
    }
    if !PHASE1_DONE.contains(&c.phase1_status) {
        no(
            "PHASE1_NOT_VALIDATED",
            format!(
                "phase 2 opens once phase 1 is validated (it is {})",
                c.phase1_status
            ),
        );
    }
    let age = age_on(c.birthdate, c.start_at.date_naive());
    if age < 18 && !c.open_to_minors {
        no(
            "MINORS_NOT_ALLOWED",
            format!(
                "the mission is not open to minors, and the volunteer is {age} on its start date"
            ),
        );
    }
    if c.mission_deleted || c.mission_status != crate::enums::MissionStatus::Validated {
        no(
            "MISSION_NOT_OPEN",
            "the mission is not published (validated)".to_owned(),
        );
    }
    if c.end_at.is_some_and(|end| end <= now) {
        no("MISSION_ENDED", "the mission has ended".to_owned());
    }
    if !c.snu {
        no(
            "MISSION_NOT_OPEN_TO_SNU",
            "the mission is not open to SNU volunteers".to_owned(),
        );
    } else if c.snu_places <= 0 {
        no(
            "NO_PLACES_LEFT",
            "the mission has no SNU place left".to_owned(),
        );
    }
    if c.already_applied {
        no(
            "ALREADY_APPLIED",
            "the volunteer already has a live application to this mission".to_owned(),
        );
    }
    if c.live_applications >= u64::from(c.max_live_applications) {
        no(
            "TOO_MANY_APPLICATIONS",
            format!(
                "at most {} live applications at once; cancel one first",
                c.max_live_applications
            ),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPLIED: Facts = Facts {
        proposed: false,
        mission_started: false,
    };

    #[test]
    fn each_status_has_its_moves_by_its_parties() {
        let go = |from, action, party, facts| {
            transition(Some(from), action, &[party], facts).map(|t| t.to)
        };
        assert_eq!(
            go(WaitingValidation, Verify, Referent, APPLIED),
            Ok(WaitingAcceptation)
        );
        assert_eq!(
            go(WaitingAcceptation, Accept, Structure, APPLIED),
            Ok(Validated)
        );
        let proposal = Facts {
            proposed: true,
            ..APPLIED
        };
        assert_eq!(
            go(WaitingAcceptation, Accept, Volunteer, proposal),
            Ok(Validated)
        );
        let e = go(WaitingAcceptation, Accept, Structure, proposal).expect_err("the volunteer's");
        assert_eq!(e.code(), "TRANSITION_NOT_ALLOWED");
        assert!(
            e.message().contains("only by the volunteer"),
            "{}",
            e.message()
        );
        let started = Facts {
            mission_started: true,
            ..APPLIED
        };
        let e = go(Validated, Cancel, Volunteer, started).expect_err("too late to cancel");
        assert_eq!(e.code(), "ILLEGAL_TRANSITION");
        assert!(
            e.message().contains("before the mission starts"),
            "{}",
            e.message()
        );
        assert_eq!(go(Validated, Abandon, Volunteer, started), Ok(Abandoned));
        for from in [Refused, Cancelled, Done, Abandoned] {
            let e = go(from, Accept, Structure, APPLIED).expect_err("final");
            assert!(
                e.message().contains("nothing (a final status)"),
                "{}",
                e.message()
            );
        }
        assert_eq!(
            transition(None, Apply, &[Volunteer], APPLIED).map(|t| t.to),
            Ok(WaitingValidation)
        );
    }

    #[test]
    fn only_the_moves_into_and_out_of_held_statuses_touch_places() {
        for t in TRANSITIONS {
            let held_before = t.from.is_some_and(holds_place);
            let expected = match (held_before, holds_place(t.to)) {
                (false, true) => Places::Take,
                (true, false) => Places::Free,
                _ => Places::Keep,
            };
            assert_eq!(t.places, expected, "{:?} {:?}", t.from, t.action);
        }
    }

    #[test]
    fn ages_count_whole_years() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).expect("date");
        assert_eq!(age_on(d(2009, 5, 1), d(2027, 4, 30)), 17);
        assert_eq!(age_on(d(2009, 5, 1), d(2027, 5, 1)), 18);
    }
}
