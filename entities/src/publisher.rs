//! A partner platform: an annonceur (publishes missions) and/or a diffuseur (shows them).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "publishers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    pub url: Option<String>,
    pub logo: Option<String>,
    pub description: Option<String>,
    pub is_annonceur: bool,
    pub is_diffuseur: bool,
    pub moderator: bool,
    /// The partner's XML feed, if it publishes through one.
    pub feed_url: Option<String>,
    pub feed_user: Option<String>,
    /// Basic-auth password of the feed: never printed, logged or served.
    pub feed_password: Option<String>,
    /// How often `serve` imports the feed, in seconds.
    pub import_every_secs: Option<i64>,
    /// The `ETag` of the last feed imported, sent back as `If-None-Match`.
    pub feed_etag: Option<String>,
    /// The `Last-Modified` of the last feed imported, sent back as `If-Modified-Since`.
    pub feed_last_modified: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::mission::Entity")]
    Mission,
    #[sea_orm(has_many = "super::organization::Entity")]
    Organization,
    #[sea_orm(has_many = "super::import_run::Entity")]
    ImportRun,
}

impl Related<super::mission::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Mission.def()
    }
}

impl Related<super::organization::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Organization.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

crate::columns::column_set!(UpdatedAt);

crate::columns::read_at!({
    id: Id,
    name: Name,
    url: Url,
    logo: Logo,
    description: Description,
    is_annonceur: IsAnnonceur,
    is_diffuseur: IsDiffuseur,
    moderator: Moderator,
    feed_url: FeedUrl,
    feed_user: FeedUser,
    feed_password: FeedPassword,
    import_every_secs: ImportEverySecs,
    feed_etag: FeedEtag,
    feed_last_modified: FeedLastModified,
    created_at: CreatedAt,
    updated_at: UpdatedAt,
});

/// The URL without its user, password and query (which may carry a token), for logs, run
/// records and admins.
pub fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "(invalid URL)".to_owned(),
    }
}
