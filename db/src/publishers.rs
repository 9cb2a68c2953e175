//! Registering a partner platform, with its feed if it has one.
use anyhow::{Context, bail};
use passerelle_entities::{publisher, time};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

/// Adds a publisher.
///
/// # Errors
/// A blank or taken name, a feed URL that is not http(s), or a database failure.
pub async fn add(
    db: &DatabaseConnection,
    name: &str,
    feed_url: Option<String>,
    feed_user: Option<String>,
    feed_password: Option<String>,
    every_secs: Option<i64>,
) -> anyhow::Result<publisher::Model> {
    let name = name.trim();
    if name.is_empty() {
        bail!("the publisher name is empty");
    }
    if let Some(url) = &feed_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        bail!("--feed-url must be an http:// or https:// URL");
    }
    if publisher::Entity::find()
        .filter(publisher::Column::Name.eq(name))
        .one(db)
        .await?
        .is_some()
    {
        bail!("a publisher named {name:?} already exists");
    }
    let now = time::now();
    let every = feed_url.as_ref().map(|_| every_secs.unwrap_or(6 * 3600));
    publisher::ActiveModel {
        name: Set(name.to_owned()),
        is_annonceur: Set(true),
        is_diffuseur: Set(false),
        moderator: Set(false),
        feed_url: Set(feed_url),
        feed_user: Set(feed_user),
        feed_password: Set(feed_password),
        import_every_secs: Set(every),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .context("cannot add the publisher")
}
