//! Development tokens: minted with the HS256 `jwt_secret` for a user of the `users` table
//! (`passerelle token`, the demo), as an identity provider would issue them.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use passerelle_entities::audit_entry::{self, Actor};
use passerelle_entities::{time, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use secrecy::SecretString;
use serde_json::json;

use super::jwt::{self, Audience, Claims};
use super::users;
use crate::config::Settings;
use crate::seed::{DEMO_EMAILS, DemoUser};

/// A token for `email` (and `subject`, when the user has one pinned), valid `ttl_secs`.
///
/// # Errors
/// The token cannot be encoded.
pub fn mint_for(
    secret: &SecretString,
    issuer: &str,
    audience: &str,
    email: &str,
    subject: Option<&str>,
    ttl_secs: i64,
) -> anyhow::Result<String> {
    let now = time::now().timestamp();
    jwt::mint(
        secret,
        &Claims {
            sub: subject.unwrap_or(email).to_owned(),
            email: Some(email.to_owned()),
            email_verified: Some(true),
            iss: issuer.to_owned(),
            aud: Audience::One(audience.to_owned()),
            exp: now + ttl_secs,
            nbf: Some(now),
            iat: Some(now),
        },
    )
}

/// A token for the user with this email, recorded in the audit log.
///
/// # Errors
/// No user has this email, or the token cannot be encoded or recorded.
pub async fn mint(
    db: &DatabaseConnection,
    secret: &SecretString,
    settings: &Settings,
    email: &str,
    ttl_secs: i64,
    actor: &Actor,
) -> anyhow::Result<String> {
    let u = users::by_email(db, email).await?;
    let token = mint_for(
        secret,
        &settings.jwt_issuer,
        &settings.jwt_audience,
        &u.email,
        u.subject.as_deref(),
        ttl_secs,
    )?;
    audit_entry::entry(
        actor,
        "TOKEN_MINTED",
        format!("user:{}", u.email),
        json!({ "ttlSecs": ttl_secs, "role": u.role.as_str() }),
    )
    .insert(db)
    .await?;
    Ok(token)
}

/// A random secret for this process's tokens (the demo, when none is configured).
///
/// # Errors
/// The system has no randomness to give.
pub fn random_secret() -> anyhow::Result<SecretString> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
}

/// The demo users found in the database, to print their tokens at start.
///
/// # Errors
/// A database failure.
pub async fn demo_users(db: &DatabaseConnection) -> anyhow::Result<Vec<DemoUser>> {
    let emails: Vec<&str> = DEMO_EMAILS.iter().map(|(e, _)| *e).collect();
    let rows = user::Entity::find()
        .filter(user::Column::Email.is_in(emails.clone()))
        .all(db)
        .await?;
    let mut out: Vec<DemoUser> = rows
        .iter()
        .map(|u| DemoUser {
            scope: users::scope_of(u),
            email: u.email.clone(),
            role: u.role,
        })
        .collect();
    out.sort_by_key(|u| emails.iter().position(|e| *e == u.email));
    Ok(out)
}
