//! Publishers' API keys: made from 32 random bytes, shown once, stored as a SHA-256 hash under
//! a public prefix, compared in constant time, revoked at once on every instance (each request
//! reads the key's row), and their last use recorded at most once a minute.
//!
//! A key reads `pk_<12 hex>.<43 base64url>`: the prefix names the key in lists and logs; the
//! rest is the secret.
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use passerelle_entities::audit_entry::{self, Actor};
use passerelle_entities::{api_key, publisher, time};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use secrecy::SecretString;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::publishers;
use passerelle_db::Pools;

/// How a key starts.
const TAG: &str = "pk_";
/// Random bytes in the prefix (hex: twice as many characters).
const PREFIX_BYTES: usize = 6;
/// Random bytes in the secret part.
const SECRET_BYTES: usize = 32;
/// The last use is written at most this often per key.
pub const LAST_USED_EVERY_SECS: i64 = 60;

/// A key just made: the whole key, to show once, its prefix, and the hash to store.
pub struct Generated {
    pub key: SecretString,
    pub prefix: String,
    pub hash: String,
}

/// A key just stored: the whole key, to show once, and its row.
pub struct NewKey {
    pub key: SecretString,
    pub prefix: String,
    pub row: api_key::Model,
}

/// Makes a new random key.
///
/// # Errors
/// The system has no randomness to give.
pub fn generate() -> anyhow::Result<Generated> {
    let prefix = format!(
        "{TAG}{}",
        random(PREFIX_BYTES)?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let key = format!("{prefix}.{}", URL_SAFE_NO_PAD.encode(random(SECRET_BYTES)?));
    Ok(Generated {
        hash: hash(&key),
        key: SecretString::from(key),
        prefix,
    })
}

fn random(bytes: usize) -> anyhow::Result<Vec<u8>> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(buf)
}

/// The lower-case hex SHA-256 of a key.
pub fn hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The prefix of a well-formed key; `None` for anything else.
pub fn prefix_of(key: &str) -> Option<&str> {
    let (prefix, secret) = key.split_once('.')?;
    let hex = prefix.strip_prefix(TAG)?;
    let well_formed = hex.len() == PREFIX_BYTES * 2
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then_some(prefix)
}

/// Makes a key for a publisher and records it in the audit log.
///
/// # Errors
/// No publisher has this name, a label over 100 characters, or a database failure.
pub async fn create(
    db: &DatabaseConnection,
    publisher_name: &str,
    label: Option<String>,
    actor: &Actor,
) -> anyhow::Result<NewKey> {
    let p = publishers::by_name(db, publisher_name).await?;
    create_for(db, &p, label, actor).await
}

/// Makes a key for a publisher and records it in the audit log.
///
/// # Errors
/// A label over 100 characters, or a database failure.
pub async fn create_for(
    db: &DatabaseConnection,
    p: &publisher::Model,
    label: Option<String>,
    actor: &Actor,
) -> anyhow::Result<NewKey> {
    let label = label.map(|l| l.trim().to_owned()).filter(|l| !l.is_empty());
    if label.as_ref().is_some_and(|l| l.chars().count() > 100) {
        bail!("--label has at most 100 characters");
    }
    let Generated { key, prefix, hash } = generate()?;
    let txn = db.begin().await?;
    let row = api_key::ActiveModel {
        publisher_id: Set(p.id),
        prefix: Set(prefix.clone()),
        hash: Set(hash),
        label: Set(label.clone()),
        created_at: Set(time::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .context("cannot store the key")?;
    audit_entry::entry(
        actor,
        "KEY_CREATED",
        format!("key:{prefix}"),
        json!({ "publisher": p.id, "publisherName": p.name, "label": label }),
    )
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(NewKey { key, prefix, row })
}

/// One line per key: prefix, publisher, label, created, last used, revoked; never the key.
///
/// # Errors
/// An unknown publisher name, or a database failure.
pub async fn list(
    db: &DatabaseConnection,
    publisher_name: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let mut query = api_key::Entity::find().order_by_asc(api_key::Column::Id);
    if let Some(name) = publisher_name {
        let p = publishers::by_name(db, name).await?;
        query = query.filter(api_key::Column::PublisherId.eq(p.id));
    }
    let publishers: std::collections::HashMap<i64, String> = publisher::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(
            || "-".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M").to_string(),
        )
    };
    Ok(query
        .all(db)
        .await?
        .into_iter()
        .map(|k| {
            format!(
                "{}\t{}\t{}\tcreated {}\tlast used {}{}",
                k.prefix,
                publishers.get(&k.publisher_id).map_or("?", String::as_str),
                k.label.as_deref().unwrap_or("-"),
                when(Some(k.created_at)),
                when(k.last_used_at),
                k.revoked_at
                    .map(|t| format!("\trevoked {}", when(Some(t))))
                    .unwrap_or_default()
            )
        })
        .collect())
}

/// Revokes a key by its prefix; the next request with it is refused, on every instance.
///
/// # Errors
/// No key has this prefix, it is already revoked, or a database failure.
pub async fn revoke(db: &DatabaseConnection, prefix: &str, actor: &Actor) -> anyhow::Result<()> {
    let prefix = prefix.trim();
    let Some(key) = api_key::Entity::find()
        .filter(api_key::Column::Prefix.eq(prefix))
        .one(db)
        .await?
    else {
        bail!("no key has the prefix {prefix:?}; `passerelle keys list` shows them");
    };
    if key.revoked_at.is_some() {
        bail!("the key {prefix} is already revoked");
    }
    let txn = db.begin().await?;
    api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(time::now()))
        .filter(api_key::Column::Id.eq(key.id))
        .exec(&txn)
        .await?;
    audit_entry::entry(
        actor,
        "KEY_REVOKED",
        format!("key:{prefix}"),
        json!({ "publisher": key.publisher_id }),
    )
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Why a presented key is refused. The client is told only that the key is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    Malformed,
    Unknown,
    Revoked,
}

impl KeyError {
    /// The stable reason, in `extensions.reason`.
    pub fn reason(self) -> &'static str {
        match self {
            KeyError::Malformed => "KEY_MALFORMED",
            KeyError::Unknown => "KEY_UNKNOWN",
            KeyError::Revoked => "KEY_REVOKED",
        }
    }
}

/// When this process last recorded each key's use, so that it asks the database at most once
/// a minute per key.
#[derive(Default)]
pub struct LastUses(std::sync::Mutex<std::collections::HashMap<i64, std::time::Instant>>);

impl LastUses {
    /// Whether this process should record a use of `key_id` now.
    fn due(&self, key_id: i64) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        match seen.get(&key_id) {
            Some(at) if now.duration_since(*at).as_secs() < LAST_USED_EVERY_SECS as u64 => false,
            _ => {
                seen.insert(key_id, now);
                true
            }
        }
    }
}

/// The key row of a presented key, if it is a live key.
///
/// Its last use is recorded in the background when the recorded one is a minute old or more:
/// at most once a minute per key by this process (`last_uses`), by an update conditional on
/// the stored time, so that several instances write it once a minute at most.
///
/// # Errors
/// `Ok(Err(_))` for a refused key; `Err` for a database failure.
pub async fn check(
    pools: &Pools,
    presented: &str,
    last_uses: &LastUses,
) -> Result<Result<api_key::Model, KeyError>, sea_orm::DbErr> {
    let Some(prefix) = prefix_of(presented) else {
        return Ok(Err(KeyError::Malformed));
    };
    let Some(row) = api_key::Entity::find()
        .filter(api_key::Column::Prefix.eq(prefix))
        .one(&pools.read)
        .await?
    else {
        return Ok(Err(KeyError::Unknown));
    };
    let matches: bool = hash(presented).as_bytes().ct_eq(row.hash.as_bytes()).into();
    if !matches {
        return Ok(Err(KeyError::Unknown));
    }
    if row.revoked_at.is_some() {
        return Ok(Err(KeyError::Revoked));
    }
    let now = time::now();
    let stale = now - Duration::seconds(LAST_USED_EVERY_SECS);
    if row.last_used_at.is_none_or(|t| t <= stale) && last_uses.due(row.id) {
        let db = pools.write.clone();
        let id = row.id;
        tokio::spawn(async move {
            let written = api_key::Entity::update_many()
                .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
                .filter(api_key::Column::Id.eq(id))
                .filter(
                    Condition::any()
                        .add(api_key::Column::LastUsedAt.is_null())
                        .add(api_key::Column::LastUsedAt.lte(stale)),
                )
                .exec(&db)
                .await;
            if let Err(e) = written {
                tracing::warn!(error = %e, key.id = id, "cannot record a key's last use");
            }
        });
    }
    Ok(Ok(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_keys_have_a_prefix() {
        let key = format!("pk_0123456789ab.{}", "A".repeat(43));
        assert_eq!(prefix_of(&key), Some("pk_0123456789ab"));
        for bad in [
            "",
            "pk_0123456789ab",
            "pk_0123456789AB.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            &format!("pk_0123456789ab.{}", "A".repeat(42)),
            &format!("sk_0123456789ab.{}", "A".repeat(43)),
            &format!("pk_0123456789ab.{}!", "A".repeat(42)),
        ] {
            assert_eq!(prefix_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn generated_keys_are_well_formed_and_differ() {
        use secrecy::ExposeSecret;
        let (a, b) = (generate().expect("key"), generate().expect("key"));
        assert_eq!(prefix_of(a.key.expose_secret()), Some(a.prefix.as_str()));
        assert_eq!(hash(a.key.expose_secret()), a.hash);
        assert_ne!(a.key.expose_secret(), b.key.expose_secret());
        assert_ne!(a.prefix, b.prefix);
    }

    #[test]
    fn hashes_are_sha256_in_hex() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
