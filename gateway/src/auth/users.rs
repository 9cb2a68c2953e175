//! People who sign in: their role and scope (the `users` command), and how a token's identity
//! finds them.
use anyhow::{Context, bail};
use passerelle_entities::audit_entry::{self, Actor};
use passerelle_entities::{Role, geo, organization, time, user, volunteer};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, ModelTrait,
    QueryFilter, QueryOrder, Set, TransactionTrait,
};
use serde_json::json;

use crate::publishers;

/// The scope given to `users add`, one option at most.
#[derive(Debug, Clone, Default)]
pub struct ScopeArgs {
    pub department: Option<String>,
    pub region: Option<String>,
    pub organization: Option<i64>,
    pub publisher: Option<String>,
    pub volunteer: Option<i64>,
}

impl ScopeArgs {
    fn given(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.department.is_some() {
            out.push("--department");
        }
        if self.region.is_some() {
            out.push("--region");
        }
        if self.organization.is_some() {
            out.push("--organization");
        }
        if self.publisher.is_some() {
            out.push("--publisher");
        }
        if self.volunteer.is_some() {
            out.push("--volunteer");
        }
        out
    }
}

/// Parses a role as the command line writes it: `REFERENT_DEPARTMENT` or `referent-department`.
///
/// # Errors
/// An unknown role, with the list of roles.
pub fn parse_role(text: &str) -> Result<Role, String> {
    let wanted = text.trim().to_ascii_uppercase().replace('-', "_");
    Role::from_stored(&wanted).ok_or_else(|| {
        let all: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        format!("{text:?} is not a role; one of {}", all.join(", "))
    })
}

/// Checks an email address enough to catch typos, and lower-cases it.
fn normalise_email(email: &str) -> anyhow::Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !email.chars().any(char::is_whitespace);
    if !valid {
        bail!("{email:?} is not an email address");
    }
    Ok(email)
}

/// Adds a user with a role and the scope it needs, and records it in the audit log.
///
/// # Errors
/// A malformed email, an email already used, a scope that does not fit the role, a scope that
/// does not exist (department, region, organization, publisher, volunteer), or a database
/// failure.
pub async fn add(
    db: &DatabaseConnection,
    email: &str,
    role: Role,
    scope: ScopeArgs,
    subject: Option<String>,
    actor: &Actor,
) -> anyhow::Result<user::Model> {
    let email = normalise_email(email)?;
    let given = scope.given();
    match (role.scope_option(), given.as_slice()) {
        (Some(needed), [one]) if *one == needed => {}
        (Some(needed), _) => bail!("role {} needs {needed} (and no other scope)", role.as_str()),
        (None, []) => {}
        (None, _) => bail!(
            "role {} takes no scope ({})",
            role.as_str(),
            given.join(", ")
        ),
    }
    let mut row = user::ActiveModel {
        email: Set(email.clone()),
        subject: Set(subject
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())),
        role: Set(role),
        department_code: Set(None),
        region: Set(None),
        organization_id: Set(None),
        publisher_id: Set(None),
        volunteer_id: Set(None),
        created_at: Set(time::now()),
        updated_at: Set(time::now()),
        ..Default::default()
    };
    let mut details = json!({ "role": role.as_str() });
    if let Some(code) = &scope.department {
        let d = geo::department(code)
            .with_context(|| format!("{code:?} is not a French department code"))?;
        row.department_code = Set(Some(d.code.to_owned()));
        details["department"] = json!(d.code);
    }
    if let Some(name) = &scope.region {
        let r = geo::region(name).with_context(|| {
            format!(
                "{name:?} is not a region; one of {}",
                geo::regions().join(", ")
            )
        })?;
        row.region = Set(Some(r.to_owned()));
        details["region"] = json!(r);
    }
    if let Some(id) = scope.organization {
        organization::Entity::find_by_id(id)
            .one(db)
            .await?
            .with_context(|| format!("no organization has id {id}"))?;
        row.organization_id = Set(Some(id));
        details["organization"] = json!(id);
    }
    if let Some(name) = &scope.publisher {
        let p = publishers::by_name(db, name).await?;
        row.publisher_id = Set(Some(p.id));
        details["publisher"] = json!(p.id);
    }
    if let Some(id) = scope.volunteer {
        volunteer::Entity::find_by_id(id)
            .one(db)
            .await?
            .with_context(|| format!("no volunteer has id {id}"))?;
        row.volunteer_id = Set(Some(id));
        details["volunteer"] = json!(id);
    }
    if user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(db)
        .await?
        .is_some()
    {
        bail!("a user with the email {email} already exists; `passerelle users remove` first");
    }
    let txn = db.begin().await?;
    let user = row.insert(&txn).await.context("cannot add the user")?;
    audit_entry::entry(actor, "USER_ADDED", format!("user:{email}"), details)
        .insert(&txn)
        .await?;
    txn.commit().await?;
    Ok(user)
}

/// One line per user: id, email, role, scope.
///
/// # Errors
/// A database failure.
pub async fn list(db: &DatabaseConnection) -> anyhow::Result<Vec<String>> {
    let rows = user::Entity::find()
        .order_by_asc(user::Column::Email)
        .all(db)
        .await?;
    Ok(rows
        .iter()
        .map(|u| {
            format!(
                "{}\t{}\t{}\t{}",
                u.id,
                u.email,
                u.role.as_str(),
                scope_of(u)
            )
        })
        .collect())
}

/// A user's scope in words: `department 69`, `organization 42`, … or `-`.
pub fn scope_of(u: &user::Model) -> String {
    let scope: Vec<String> = [
        u.department_code
            .as_ref()
            .map(|d| format!("department {d}")),
        u.region.as_ref().map(|r| format!("region {r}")),
        u.organization_id.map(|o| format!("organization {o}")),
        u.publisher_id.map(|p| format!("publisher {p}")),
        u.volunteer_id.map(|v| format!("volunteer {v}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if scope.is_empty() {
        "-".to_owned()
    } else {
        scope.join(", ")
    }
}

/// Removes a user: their tokens are refused from the next request on.
///
/// # Errors
/// No user has this email, or a database failure.
pub async fn remove(db: &DatabaseConnection, email: &str, actor: &Actor) -> anyhow::Result<()> {
    let email = email.trim().to_lowercase();
    let Some(user) = user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(db)
        .await?
    else {
        bail!("no user has the email {email:?}; `passerelle users list` shows them");
    };
    let role = user.role;
    let txn = db.begin().await?;
    user.delete(&txn).await?;
    audit_entry::entry(
        actor,
        "USER_REMOVED",
        format!("user:{email}"),
        json!({ "role": role.as_str() }),
    )
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The user with this email.
///
/// # Errors
/// No user has this email, or a database failure.
pub async fn by_email(db: &DatabaseConnection, email: &str) -> anyhow::Result<user::Model> {
    let email = email.trim().to_lowercase();
    user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(db)
        .await?
        .with_context(|| {
            format!("no user has the email {email:?}; `passerelle users list` shows them")
        })
}

/// The user a token's identity names: the one whose pinned subject is `sub`, else the one with
/// the token's email (when the provider does not say it is unverified) and no pinned subject.
///
/// # Errors
/// A database failure.
pub async fn for_identity(
    db: &DatabaseConnection,
    sub: &str,
    email: Option<&str>,
) -> Result<Option<user::Model>, sea_orm::DbErr> {
    let mut who = Condition::any().add(user::Column::Subject.eq(sub));
    if let Some(email) = email {
        who = who.add(
            Condition::all()
                .add(user::Column::Subject.is_null())
                .add(user::Column::Email.eq(email.trim().to_lowercase())),
        );
    }
    let mut rows = user::Entity::find().filter(who).all(db).await?;
    // A pinned subject wins over an email match.
    rows.sort_by_key(|u| u.subject.as_deref() != Some(sub));
    Ok(rows.into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_read_in_either_spelling() {
        assert_eq!(
            parse_role("referent-department"),
            Ok(Role::ReferentDepartment)
        );
        assert_eq!(parse_role("ADMIN"), Ok(Role::Admin));
        assert!(parse_role("root").is_err_and(|e| e.contains("ANALYST")));
    }

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(
            normalise_email(" Ana@Example.ORG ").ok().as_deref(),
            Some("ana@example.org")
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.org",
            "ana@example",
            "a na@example.org",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad}");
        }
    }
}
