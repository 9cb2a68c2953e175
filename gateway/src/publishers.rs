//! Registering partner platforms and their feeds (the `publisher` command).
use anyhow::{Context, bail};
use passerelle_entities::{publisher, time};
use passerelle_ingest::fetch::display_url;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};

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

/// One line per publisher: id, name, feed and schedule; never the feed's password.
pub async fn list(db: &DatabaseConnection) -> anyhow::Result<Vec<String>> {
    let rows = publisher::Entity::find()
        .order_by_asc(publisher::Column::Name)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|p| {
            // Without any user, password or query the URL itself may carry.
            let feed = match (p.feed_url.as_deref().map(display_url), &p.feed_user) {
                (Some(url), Some(user)) => format!("feed {url} (basic auth as {user})"),
                (Some(url), None) => format!("feed {url}"),
                _ => "no feed".to_owned(),
            };
            let every = p
                .import_every_secs
                .map(|s| format!(", every {}h", s as f64 / 3600.0))
                .unwrap_or_default();
            format!("{}\t{}\t{feed}{every}", p.id, p.name)
        })
        .collect())
}

/// The publisher with this name.
///
/// # Errors
/// No publisher has this name.
pub async fn by_name(db: &DatabaseConnection, name: &str) -> anyhow::Result<publisher::Model> {
    publisher::Entity::find()
        .filter(publisher::Column::Name.eq(name.trim()))
        .one(db)
        .await?
        .with_context(|| {
            format!("no publisher named {name:?}; `passerelle publisher list` shows them")
        })
}

/// The publishers that have a feed, by id.
pub async fn with_feed(db: &DatabaseConnection) -> anyhow::Result<Vec<publisher::Model>> {
    Ok(publisher::Entity::find()
        .filter(publisher::Column::FeedUrl.is_not_null())
        .order_by_asc(publisher::Column::Id)
        .all(db)
        .await?)
}
