//! The `diffusion` command: what a diffuseur's key shows of other publishers' missions. The
//! rules are checked and written by the same code as the admin mutation `setDiffusionRules`.
use anyhow::bail;
use passerelle_entities::audit_entry::Actor;
use passerelle_entities::{DiffusionField, DiffusionOperator, diffusion_rule};
use passerelle_resolvers::diffusion::{RuleSpec, replace_rules, rules_of};
use sea_orm::DatabaseConnection;

use crate::publishers;

/// The rules given on the command line, by field; each option may be repeated.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RuleArgs {
    /// An annonceur whose missions the diffuseur shows, by name.
    #[arg(long = "annonceur")]
    pub annonceurs: Vec<String>,
    /// An organization whose missions it leaves out, by id.
    #[arg(long = "exclude-organization")]
    pub exclude_organizations: Vec<String>,
    /// Only missions of this type (benevolat, volontariat_service_civique, …).
    #[arg(long = "type")]
    pub types: Vec<String>,
    #[arg(long = "exclude-type")]
    pub exclude_types: Vec<String>,
    /// Only missions of this domain (sport, environnement, …).
    #[arg(long = "domain")]
    pub domains: Vec<String>,
    #[arg(long = "exclude-domain")]
    pub exclude_domains: Vec<String>,
    /// Only missions with an address in this department.
    #[arg(long = "department")]
    pub departments: Vec<String>,
    #[arg(long = "exclude-department")]
    pub exclude_departments: Vec<String>,
    /// Only missions of organizations of this network.
    #[arg(long = "network")]
    pub networks: Vec<String>,
    #[arg(long = "exclude-network")]
    pub exclude_networks: Vec<String>,
}

/// Replaces a diffuseur's rules with those given (none: it shows only its own missions).
///
/// # Errors
/// An unknown diffuseur or annonceur, a rule value that cannot be set (each is listed), or a
/// database failure; then nothing changes.
pub async fn set(
    db: &DatabaseConnection,
    diffuseur: &str,
    args: RuleArgs,
    actor: &Actor,
) -> anyhow::Result<Vec<String>> {
    use DiffusionField as F;
    use DiffusionOperator::{Exclude, Include};
    let p = publishers::by_name(db, diffuseur).await?;
    let mut specs = Vec::new();
    for name in &args.annonceurs {
        let a = publishers::by_name(db, name).await?;
        specs.push((F::Annonceur, Include, a.id.to_string()));
    }
    for (field, op, values) in [
        (F::Organization, Exclude, &args.exclude_organizations),
        (F::MissionType, Include, &args.types),
        (F::MissionType, Exclude, &args.exclude_types),
        (F::Domain, Include, &args.domains),
        (F::Domain, Exclude, &args.exclude_domains),
        (F::Department, Include, &args.departments),
        (F::Department, Exclude, &args.exclude_departments),
        (F::Network, Include, &args.networks),
        (F::Network, Exclude, &args.exclude_networks),
    ] {
        specs.extend(values.iter().map(|v| (field, op, v.clone())));
    }
    let rules: Vec<RuleSpec> = specs
        .iter()
        .map(|(field, operator, value)| RuleSpec {
            field: *field,
            operator: *operator,
            value: value.clone(),
        })
        .collect();
    match replace_rules(db, p.id, rules, actor).await? {
        Ok(stored) => Ok(stored.iter().map(describe).collect()),
        Err(problems) => {
            let lines: Vec<String> = problems
                .iter()
                .map(|pr| {
                    let (field, op, value) = &specs[pr.index.min(specs.len().saturating_sub(1))];
                    format!(
                        "{} {} {value:?}: {} ({})",
                        op.as_str(),
                        field.as_str(),
                        pr.message,
                        pr.code
                    )
                })
                .collect();
            bail!("nothing changed:\n  {}", lines.join("\n  "))
        }
    }
}

/// The rules of a diffuseur, one line each.
///
/// # Errors
/// An unknown diffuseur, or a database failure.
pub async fn show(db: &DatabaseConnection, diffuseur: &str) -> anyhow::Result<Vec<String>> {
    let p = publishers::by_name(db, diffuseur).await?;
    Ok(rules_of(db, p.id).await?.iter().map(describe).collect())
}

fn describe(r: &diffusion_rule::Model) -> String {
    format!("{}\t{}\t{}", r.operator.as_str(), r.field.as_str(), r.value)
}
