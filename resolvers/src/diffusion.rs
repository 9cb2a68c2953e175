//! Editing a diffuseur's diffusion rules: one function that checks and replaces them, recorded in
//! the audit log, called by the admin mutation `setDiffusionRules` and by the
//! `passerelle diffusion set` command alike.
//!
//! Writes are allowed to admins only (checked by the mutation, and by the command line being the
//! operator's), so this module reads the tables it checks against directly.
#![allow(clippy::disallowed_methods)]
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use passerelle_entities::audit_entry::{self, Actor};
use passerelle_entities::{
    DiffusionField, DiffusionOperator, Domain, MissionType, diffusion_rule, geo, organization,
    publisher, time,
};
use std::collections::HashSet;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde_json::json;

use crate::enums;
use crate::error::{ApiError, ApiResult};
use crate::filter::parse_id;
use crate::loader::PublisherId;
use crate::publisher::{DiffusionRule, Publisher};
use crate::{loaders, scope, writer};

/// The most rules one diffuseur may have.
pub const MAX_RULES: usize = 500;
/// The longest network name a rule may hold.
const MAX_VALUE_CHARS: usize = 200;

/// A rule to set, as a caller gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub field: DiffusionField,
    pub operator: DiffusionOperator,
    pub value: String,
}

/// Why a rule cannot be set: the rule's position, a stable code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    pub index: usize,
    pub code: &'static str,
    pub message: String,
}

/// The value of a type or domain rule in its stored form, given as stored (`benevolat`) or as
/// the API names it (`BENEVOLAT`).
fn stored<T: Copy>(value: &str, all: &[T], as_str: impl Fn(T) -> &'static str) -> Option<T> {
    let wanted = value.trim();
    all.iter().copied().find(|v| {
        let s = as_str(*v);
        s == wanted || s.to_ascii_uppercase().replace('-', "_") == wanted
    })
}

/// Which of `ids` exist in `E`, in one statement (none for no ids).
async fn existing<E: EntityTrait>(
    db: &DatabaseConnection,
    id: E::Column,
    ids: Vec<i64>,
) -> Result<HashSet<i64>, DbErr> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(E::find()
        .select_only()
        .column(id)
        .filter(id.is_in(ids))
        .into_tuple::<i64>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// Checks rules and puts their values in stored form.
async fn check(
    db: &DatabaseConnection,
    rules: Vec<RuleSpec>,
) -> Result<Result<Vec<RuleSpec>, Vec<RuleProblem>>, DbErr> {
    let mut problems = Vec::new();
    let mut out: Vec<RuleSpec> = Vec::with_capacity(rules.len());
    if rules.len() > MAX_RULES {
        problems.push(RuleProblem {
            index: MAX_RULES,
            code: "TOO_MANY_RULES",
            message: format!("at most {MAX_RULES} rules"),
        });
        return Ok(Err(problems));
    }
    // The publishers and organizations the rules name, each table read once.
    let named = |field: DiffusionField| -> Vec<i64> {
        rules
            .iter()
            .filter(|r| r.field == field)
            .filter_map(|r| r.value.trim().parse().ok())
            .collect()
    };
    let publishers =
        existing::<publisher::Entity>(db, publisher::Column::Id, named(DiffusionField::Annonceur))
            .await?;
    let organizations = existing::<organization::Entity>(
        db,
        organization::Column::Id,
        named(DiffusionField::Organization),
    )
    .await?;
    for (index, rule) in rules.into_iter().enumerate() {
        let value = rule.value.trim();
        let mut problem = |code: &'static str, message: String| {
            problems.push(RuleProblem {
                index,
                code,
                message,
            });
        };
        let normalised = match rule.field {
            _ if value.is_empty() => {
                problem("EMPTY_VALUE", "the value is empty".to_owned());
                continue;
            }
            DiffusionField::Annonceur | DiffusionField::Organization => {
                let Some(id) = value.parse::<i64>().ok().filter(|i| *i > 0) else {
                    problem("INVALID_ID", format!("{value:?} is not an id"));
                    continue;
                };
                let exists = if rule.field == DiffusionField::Annonceur {
                    publishers.contains(&id)
                } else {
                    organizations.contains(&id)
                };
                if !exists {
                    let code = if rule.field == DiffusionField::Annonceur {
                        "UNKNOWN_PUBLISHER"
                    } else {
                        "UNKNOWN_ORGANIZATION"
                    };
                    problem(
                        code,
                        format!("no {} has id {id}", rule.field.as_str().to_lowercase()),
                    );
                    continue;
                }
                id.to_string()
            }
            DiffusionField::MissionType => {
                match stored(value, MissionType::ALL, MissionType::as_str) {
                    Some(t) => t.as_str().to_owned(),
                    None => {
                        problem("UNKNOWN_TYPE", format!("{value:?} is not a mission type"));
                        continue;
                    }
                }
            }
            DiffusionField::Domain => match stored(value, Domain::ALL, Domain::as_str) {
                Some(d) => d.as_str().to_owned(),
                None => {
                    problem("UNKNOWN_DOMAIN", format!("{value:?} is not a domain"));
                    continue;
                }
            },
            DiffusionField::Department => match geo::department(value) {
                Some(d) => d.code.to_owned(),
                None => {
                    problem(
                        "UNKNOWN_DEPARTMENT",
                        format!("{value:?} is not a French department code"),
                    );
                    continue;
                }
            },
            DiffusionField::Network => {
                if value.chars().count() > MAX_VALUE_CHARS {
                    problem(
                        "VALUE_TOO_LONG",
                        format!("a network name has at most {MAX_VALUE_CHARS} characters"),
                    );
                    continue;
                }
                value.to_owned()
            }
        };
        let spec = RuleSpec {
            value: normalised,
            ..rule
        };
        if !out.contains(&spec) {
            out.push(spec);
        }
    }
    Ok(if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    })
}

/// Replaces every diffusion rule of `diffuseur_id` with `rules`, and records it in the audit
/// log, in one transaction. Duplicate rules are set once. When any rule is refused, nothing
/// changes and every problem is returned.
///
/// # Errors
/// A database failure; then nothing changes.
pub async fn replace_rules(
    db: &DatabaseConnection,
    diffuseur_id: i64,
    rules: Vec<RuleSpec>,
    actor: &Actor,
) -> Result<Result<Vec<diffusion_rule::Model>, Vec<RuleProblem>>, DbErr> {
    let rules = match check(db, rules).await? {
        Ok(rules) => rules,
        Err(problems) => return Ok(Err(problems)),
    };
    let txn = db.begin().await?;
    let before = diffusion_rule::Entity::find()
        .filter(diffusion_rule::Column::DiffuseurId.eq(diffuseur_id))
        .count(&txn)
        .await?;
    diffusion_rule::Entity::delete_many()
        .filter(diffusion_rule::Column::DiffuseurId.eq(diffuseur_id))
        .exec(&txn)
        .await?;
    let now = time::now();
    for rule in &rules {
        diffusion_rule::ActiveModel {
            diffuseur_id: Set(diffuseur_id),
            field: Set(rule.field),
            operator: Set(rule.operator),
            value: Set(rule.value.clone()),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    let details = json!({
        "before": before,
        "rules": rules
            .iter()
            .map(|r| json!([r.field.as_str(), r.operator.as_str(), r.value]))
            .collect::<Vec<_>>(),
    });
    audit_entry::entry(
        actor,
        "DIFFUSION_RULES_SET",
        format!("publisher:{diffuseur_id}"),
        details,
    )
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(Ok(rules_of(db, diffuseur_id).await?))
}

/// A diffuseur's rules, in the order they were set.
///
/// # Errors
/// A database failure.
pub async fn rules_of(
    db: &DatabaseConnection,
    diffuseur_id: i64,
) -> Result<Vec<diffusion_rule::Model>, DbErr> {
    diffusion_rule::Entity::find()
        .filter(diffusion_rule::Column::DiffuseurId.eq(diffuseur_id))
        .order_by_asc(diffusion_rule::Column::Id)
        .all(db)
        .await
}

/// A rule to set.
#[derive(Debug, Clone, InputObject)]
pub struct DiffusionRuleInput {
    pub field: enums::DiffusionField,
    pub operator: enums::DiffusionOperator,
    /// A publisher or organization id, a type or domain (`benevolat` or `BENEVOLAT`), a
    /// department code, or a network name.
    pub value: String,
}

/// What to set.
#[derive(Debug, Clone, InputObject)]
pub struct SetDiffusionRulesInput {
    /// The diffuseur whose rules are replaced.
    pub diffuseur_id: ID,
    /// Every rule of the diffuseur after the change (an empty list removes them all).
    pub rules: Vec<DiffusionRuleInput>,
}

/// A rule the caller must fix: where, a stable code, and a message.
#[derive(Debug, Clone, SimpleObject)]
pub struct UserError {
    /// The input path at fault, e.g. `rules.2.value`.
    pub field: String,
    pub code: String,
    pub message: String,
}

impl UserError {
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        UserError {
            field: field.into(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// What `setDiffusionRules` did.
#[derive(Debug, Clone, SimpleObject)]
pub struct SetDiffusionRulesPayload {
    /// The diffuseur.
    pub publisher: Option<Publisher>,
    /// Its rules after the change (before it, when there are user errors).
    pub rules: Vec<DiffusionRule>,
    /// Why nothing changed; empty when the rules were set.
    pub user_errors: Vec<UserError>,
}

/// Mutations over diffusion rules.
#[derive(Default)]
pub struct DiffusionMutation;

#[Object]
impl DiffusionMutation {
    /// Replaces every diffusion rule of a diffuseur (admins only), recorded in the audit log.
    /// Rule values that cannot be set are `userErrors` and nothing changes. Errors: `NOT_FOUND`
    /// for an unknown diffuseur.
    async fn set_diffusion_rules(
        &self,
        ctx: &Context<'_>,
        input: SetDiffusionRulesInput,
    ) -> ApiResult<SetDiffusionRulesPayload> {
        if !scope::access(ctx).is_admin() {
            return Err(scope::forbidden("setDiffusionRules"));
        }
        let db = writer(ctx)?;
        let id = parse_id("input.diffuseurId", &input.diffuseur_id)?;
        let Some(publisher) = loaders(ctx)?.load_one(PublisherId(id)).await? else {
            return Err(ApiError::not_found(
                "publisher",
                input.diffuseur_id.to_string(),
            ));
        };
        let specs = input
            .rules
            .into_iter()
            .map(|r| RuleSpec {
                field: r.field.into(),
                operator: r.operator.into(),
                value: r.value,
            })
            .collect();
        match replace_rules(db, id, specs, &scope::actor(ctx)).await? {
            Ok(rules) => Ok(SetDiffusionRulesPayload {
                publisher: Some(publisher.into()),
                rules: rules.into_iter().map(DiffusionRule::from).collect(),
                user_errors: Vec::new(),
            }),
            Err(problems) => {
                let current = rules_of(db, id).await?;
                Ok(SetDiffusionRulesPayload {
                    publisher: Some(publisher.into()),
                    rules: current.into_iter().map(DiffusionRule::from).collect(),
                    user_errors: problems
                        .into_iter()
                        .map(|p| UserError {
                            field: format!("input.rules.{}.value", p.index),
                            code: p.code.to_owned(),
                            message: p.message,
                        })
                        .collect(),
                })
            }
        }
    }
}
