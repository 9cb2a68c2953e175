//! Registering partner platforms and their feeds (the `publisher` command).
use anyhow::Context;
use passerelle_entities::publisher;
use passerelle_ingest::fetch::display_url;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

pub use passerelle_db::publishers::add;

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
