//! Moderation help: rules that propose a decision on a mission waiting for validation, each
//! with its reason; the referent accepts the proposal or overrides it with `moderateMission`.
//! The thresholds and the deny-list are settings (`ModerationRules`), listed in the README.
use std::sync::Arc;

use async_graphql::{Context, SimpleObject};
use chrono::{DateTime, Duration, Utc};
use passerelle_entities::{MissionStatus as DbStatus, Remote, mission_address, search};

use super::types::Mission;
use super::write::ModerationDecision;
use crate::error::ApiResult;
use crate::loader::{AddressesOf, OrganizationId, ValidatedTitlesOf};
use crate::loaders;

/// The automatic moderation rules' settings; a threshold of 0 turns its rule off.
#[derive(Debug, Clone)]
pub struct ModerationRules {
    /// A mission still waiting this many days after its creation is proposed for refusal.
    pub stale_days: i64,
    /// A mission starting within this many days…
    pub soon_start_days: i64,
    /// …and ending within this many is proposed for refusal (too short notice to recruit).
    pub soon_end_days: i64,
    /// A description shorter than this (in characters, HTML removed) needs more detail.
    pub min_description_chars: usize,
    /// Words or phrases that may not appear in a title or an organization's name, folded
    /// (accents and case ignored).
    pub deny_list: Arc<Vec<String>>,
    /// Whether a near-identical title among the organization's validated missions is flagged.
    pub duplicates: bool,
}

impl Default for ModerationRules {
    fn default() -> Self {
        ModerationRules {
            stale_days: 180,
            soon_start_days: 7,
            soon_end_days: 21,
            min_description_chars: 300,
            deny_list: Arc::new(Vec::new()),
            duplicates: true,
        }
    }
}

impl ModerationRules {
    /// The deny-list as given, folded for matching; blank entries dropped.
    pub fn with_deny_list(mut self, words: &[String]) -> Self {
        self.deny_list = Arc::new(
            words
                .iter()
                .map(|w| search::tokens(w).join(" "))
                .filter(|w| !w.is_empty())
                .collect(),
        );
        self
    }
}

/// Why a rule fired.
#[derive(Debug, Clone, PartialEq, Eq, SimpleObject)]
pub struct ModerationReason {
    /// `STALE`, `STARTS_TOO_SOON`, `SHORT_DESCRIPTION`, `NO_CITY`, `DENY_LIST` or
    /// `LIKELY_DUPLICATE`.
    pub rule: String,
    /// What this rule alone proposes.
    pub decision: ModerationDecision,
    pub message: String,
}

/// What the rules propose for a mission.
#[derive(Debug, Clone, PartialEq, Eq, SimpleObject)]
pub struct ModerationProposal {
    /// REFUSE if any rule proposes it, else REQUEST_CORRECTION if any does, else VALIDATE.
    pub decision: ModerationDecision,
    /// Every rule that fired; none for VALIDATE.
    pub reasons: Vec<ModerationReason>,
}

/// A title as the duplicate rule compares them: folded words.
pub(crate) fn title_key(title: &str) -> String {
    search::tokens(title).join(" ")
}

/// Whether two folded titles are the same but for a few characters (edit distance at most a
/// tenth of the longer, and at most 3).
fn near_identical(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let longest = a.len().max(b.len());
    let allowed = (longest / 10).min(3);
    if a.len().abs_diff(b.len()) > allowed || allowed == 0 {
        return false;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        if current.iter().min().copied().unwrap_or(0) > allowed {
            return false;
        }
        previous = current;
    }
    previous[b.len()] <= allowed
}

/// Whether `text` holds `phrase` as whole words (both folded).
fn holds(text: &str, phrase: &str) -> bool {
    let padded = format!(" {text} ");
    padded.contains(&format!(" {phrase} "))
}

/// What a mission needs for the rules, besides itself.
pub(crate) struct Facts<'a> {
    pub now: DateTime<Utc>,
    pub cities: usize,
    pub organization_name: Option<&'a str>,
    /// The organization's other validated missions: (id, title key).
    pub validated_titles: &'a [(i64, String)],
}

/// Runs every rule on a mission.
pub(crate) fn propose(
    m: &Mission,
    facts: &Facts<'_>,
    rules: &ModerationRules,
) -> ModerationProposal {
    use ModerationDecision::{Refuse, RequestCorrection, Validate};
    let mut reasons = Vec::new();
    let mut fire = |rule: &str, decision, message: String| {
        reasons.push(ModerationReason {
            rule: rule.to_owned(),
            decision,
            message,
        });
    };
    let status: DbStatus = m.status.into();
    if rules.stale_days > 0
        && status == DbStatus::WaitingValidation
        && m.created_at.0 < facts.now - Duration::days(rules.stale_days)
    {
        fire(
            "STALE",
            Refuse,
            format!(
                "created on {} and still waiting after more than {} days",
                m.created_at.0.date_naive(),
                rules.stale_days
            ),
        );
    }
    if rules.soon_start_days > 0
        && rules.soon_end_days > 0
        && m.start_at.0 < facts.now + Duration::days(rules.soon_start_days)
        && m.end_at
            .is_some_and(|end| end.0 < facts.now + Duration::days(rules.soon_end_days))
    {
        fire(
            "STARTS_TOO_SOON",
            Refuse,
            format!(
                "starts within {} days and ends within {}: too little time to find volunteers",
                rules.soon_start_days, rules.soon_end_days
            ),
        );
    }
    let description = search::html_to_text(&m.description);
    let chars = description
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .count();
    if rules.min_description_chars > 0 && chars < rules.min_description_chars {
        fire(
            "SHORT_DESCRIPTION",
            RequestCorrection,
            format!(
                "the description has {chars} characters; at least {} tell volunteers what they will do",
                rules.min_description_chars
            ),
        );
    }
    if facts.cities == 0 && Remote::from(m.remote) != Remote::Full {
        fire(
            "NO_CITY",
            RequestCorrection,
            "no address names a city, and the mission is not fully remote".to_owned(),
        );
    }
    let title = title_key(&m.title);
    let organization = facts.organization_name.map(title_key).unwrap_or_default();
    if let Some(word) = rules
        .deny_list
        .iter()
        .find(|w| holds(&title, w) || holds(&organization, w))
    {
        fire(
            "DENY_LIST",
            Refuse,
            format!("the title or the organization's name holds {word:?}, which is not allowed"),
        );
    }
    if rules.duplicates
        && let Some((other, _)) = facts
            .validated_titles
            .iter()
            .find(|(id, t)| *id != m.id.0 && near_identical(&title, t))
    {
        fire(
            "LIKELY_DUPLICATE",
            Refuse,
            format!(
                "mission {other} of the same organization, already validated, has the same title"
            ),
        );
    }
    let decision = if reasons.iter().any(|r| r.decision == Refuse) {
        Refuse
    } else if reasons.iter().any(|r| r.decision == RequestCorrection) {
        RequestCorrection
    } else {
        Validate
    };
    ModerationProposal { decision, reasons }
}

impl Mission {
    /// The proposal of the rules, with the facts loaded in batches.
    pub(crate) async fn moderation_proposal_of(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<ModerationProposal> {
        let loaders = loaders(ctx)?;
        let cities = loaders
            .load_one(AddressesOf(self.id.0, mission_address::Columns::ALL))
            .await?
            .unwrap_or_default()
            .iter()
            .filter(|a| a.city.as_deref().is_some_and(|c| !c.trim().is_empty()))
            .count();
        let (organization, titles) = match self.organization_id {
            Some(id) => (
                loaders.load_one(OrganizationId(id)).await?,
                loaders
                    .load_one(ValidatedTitlesOf(id))
                    .await?
                    .unwrap_or_default(),
            ),
            None => (None, Vec::new()),
        };
        let rules = ctx
            .data_opt::<ModerationRules>()
            .cloned()
            .unwrap_or_default();
        Ok(propose(
            self,
            &Facts {
                now: passerelle_entities::time::now(),
                cities,
                organization_name: organization.as_ref().map(|o| o.name.as_str()),
                validated_titles: &titles,
            },
            &rules,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_a_few_characters_apart_are_near_identical() {
        let a = title_key("Aide aux devoirs pour collégiens");
        assert!(near_identical(
            &a,
            &title_key("Aide aux devoirs pour collegiens !")
        ));
        assert!(near_identical(
            &a,
            &title_key("Aide aux devoir pour collégien")
        ));
        assert!(!near_identical(
            &a,
            &title_key("Aide aux courses pour seniors")
        ));
        assert!(
            !near_identical("repas", "rapas"),
            "short titles must match exactly"
        );
    }

    #[test]
    fn deny_list_words_match_whole_words_only() {
        let rules = ModerationRules::default().with_deny_list(&["Crypto".into(), " ".into()]);
        assert_eq!(*rules.deny_list, vec!["crypto".to_owned()]);
        assert!(holds(&title_key("Formation CRYPTO-monnaie"), "crypto"));
        assert!(!holds(&title_key("Cryptographie"), "crypto"));
    }
}
