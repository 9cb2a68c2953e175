//! The life of a mission, once: which status follows which, on which action, and who may take
//! it. Mutations, moderation and the scheduler all ask [`transition`]; nothing else changes a
//! mission's status (imports and partners' pushes publish directly: a partner's platform
//! moderated its missions already).
use crate::access::Access;
use crate::enums::MissionStatus;

/// Who acts on a mission, as the lifecycle sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mover {
    /// The staff of the mission's organization.
    Structure,
    /// A referent of the mission's territory, or an admin.
    Moderator,
    /// Passerelle itself (the scheduler archiving missions past their end).
    System,
}

/// What is done to a mission's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Submit,
    Validate,
    RequestCorrection,
    Refuse,
    Cancel,
    Archive,
}

impl Action {
    /// SCREAMING_SNAKE_CASE, as the history and the API name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Submit => "SUBMIT",
            Action::Validate => "VALIDATE",
            Action::RequestCorrection => "REQUEST_CORRECTION",
            Action::Refuse => "REFUSE",
            Action::Cancel => "CANCEL",
            Action::Archive => "ARCHIVE",
        }
    }
}

/// One legal move.
#[derive(Debug, Clone, Copy)]
pub struct Transition {
    pub from: MissionStatus,
    pub action: Action,
    pub to: MissionStatus,
    /// Who may take it.
    pub by: &'static [Mover],
}

use Action::*;
use MissionStatus::*;
use Mover::*;

/// Every legal move; anything else is refused.
pub const TRANSITIONS: &[Transition] = &[
    Transition {
        from: Draft,
        action: Submit,
        to: WaitingValidation,
        by: &[Structure],
    },
    Transition {
        from: WaitingCorrection,
        action: Submit,
        to: WaitingValidation,
        by: &[Structure],
    },
    Transition {
        from: WaitingValidation,
        action: Validate,
        to: Validated,
        by: &[Moderator],
    },
    Transition {
        from: WaitingValidation,
        action: RequestCorrection,
        to: WaitingCorrection,
        by: &[Moderator],
    },
    Transition {
        from: WaitingValidation,
        action: Refuse,
        to: Refused,
        by: &[Moderator],
    },
    Transition {
        from: Validated,
        action: Cancel,
        to: Cancelled,
        by: &[Structure, Moderator],
    },
    Transition {
        from: Validated,
        action: Archive,
        to: Archived,
        by: &[Structure, Moderator, System],
    },
];

/// Why a move is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionError {
    /// No such move from this status.
    Illegal { from: MissionStatus, action: Action },
    /// The move exists, for others.
    NotYours { from: MissionStatus, action: Action },
}

impl TransitionError {
    /// The stable code of the refusal.
    pub fn code(self) -> &'static str {
        match self {
            TransitionError::Illegal { .. } => "ILLEGAL_TRANSITION",
            TransitionError::NotYours { .. } => "TRANSITION_NOT_ALLOWED",
        }
    }

    /// The message of the refusal.
    pub fn message(self) -> String {
        match self {
            TransitionError::Illegal { from, action } => format!(
                "a mission in status {from} cannot be {}; allowed from {from}: {}",
                past(action),
                allowed_from(from)
            ),
            TransitionError::NotYours { from, action } => format!(
                "a mission in status {from} can be {} only by {}",
                past(action),
                TRANSITIONS
                    .iter()
                    .find(|t| t.from == from && t.action == action)
                    .map(|t| t
                        .by
                        .iter()
                        .map(|m| match m {
                            Structure => "its structure",
                            Moderator => "a moderator",
                            System => "Passerelle",
                        })
                        .collect::<Vec<_>>()
                        .join(" or "))
                    .unwrap_or_default()
            ),
        }
    }
}

fn past(action: Action) -> &'static str {
    match action {
        Submit => "submitted",
        Validate => "validated",
        RequestCorrection => "sent back for correction",
        Refuse => "refused",
        Cancel => "cancelled",
        Archive => "archived",
    }
}

fn allowed_from(from: MissionStatus) -> String {
    let actions: Vec<&str> = TRANSITIONS
        .iter()
        .filter(|t| t.from == from)
        .map(|t| t.action.as_str())
        .collect();
    if actions.is_empty() {
        "nothing (a final status)".to_owned()
    } else {
        actions.join(", ")
    }
}

/// The status `action` leads to from `from`, when one of `movers` may take it.
///
/// # Errors
/// No such move from `from`, or none of `movers` may take it.
pub fn transition(
    from: MissionStatus,
    action: Action,
    movers: &[Mover],
) -> Result<MissionStatus, TransitionError> {
    let t = TRANSITIONS
        .iter()
        .find(|t| t.from == from && t.action == action)
        .ok_or(TransitionError::Illegal { from, action })?;
    if t.by.iter().any(|m| movers.contains(m)) {
        Ok(t.to)
    } else {
        Err(TransitionError::NotYours { from, action })
    }
}

/// Whom an access acts as on a mission it manages: structure staff as the structure, referents
/// as moderators, admins as both. Partners' keys and the rest move no status.
pub fn movers(access: &Access) -> &'static [Mover] {
    match access {
        Access::StructureStaff { .. } => &[Structure],
        Access::ReferentDepartment { .. } | Access::ReferentRegion { .. } => &[Moderator],
        Access::Admin => &[Structure, Moderator],
        _ => &[],
    }
}

/// Statuses in which a mission's content may still be edited.
pub fn editable(status: MissionStatus) -> bool {
    matches!(
        status,
        Draft | WaitingValidation | WaitingCorrection | Validated
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_its_moves_and_the_final_ones_none() {
        assert_eq!(
            transition(Draft, Submit, &[Structure]),
            Ok(WaitingValidation)
        );
        assert_eq!(
            transition(WaitingCorrection, Submit, &[Structure]),
            Ok(WaitingValidation)
        );
        assert_eq!(
            transition(WaitingValidation, Validate, &[Moderator]),
            Ok(Validated)
        );
        assert_eq!(transition(Validated, Archive, &[System]), Ok(Archived));
        assert_eq!(
            transition(WaitingValidation, Validate, &[Structure]),
            Err(TransitionError::NotYours {
                from: WaitingValidation,
                action: Validate
            })
        );
        for from in [Refused, Cancelled, Archived] {
            for action in [Submit, Validate, RequestCorrection, Refuse, Cancel, Archive] {
                let e = transition(from, action, &[Structure, Moderator, System])
                    .expect_err("a final status");
                assert_eq!(e.code(), "ILLEGAL_TRANSITION");
                assert!(
                    e.message().contains("nothing (a final status)"),
                    "{}",
                    e.message()
                );
            }
        }
        let e = transition(Draft, Validate, &[Moderator]).expect_err("draft first");
        assert!(
            e.message().contains("allowed from DRAFT: SUBMIT"),
            "{}",
            e.message()
        );
    }
}
