//! Publishers (partner platforms): the type and `publishers`.
use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject};
use passerelle_entities::publisher;
use sea_orm::{EntityTrait, QueryOrder};

use crate::error::ApiResult;
use crate::import_run::ImportRun;
use crate::loader::PublisherId;
use crate::mission::parse_id;
use crate::{db, loaders};

/// A partner platform: an annonceur publishes missions, a diffuseur shows other publishers'
/// missions; many are both.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct Publisher {
    pub id: ID,
    pub name: String,
    pub url: Option<String>,
    pub logo: Option<String>,
    pub description: Option<String>,
    /// Publishes missions (through a feed or the API).
    pub is_annonceur: bool,
    /// Shows other publishers' missions.
    pub is_diffuseur: bool,
}

#[ComplexObject]
impl Publisher {
    /// The publisher's most recent feed import, if it ever had one.
    async fn last_import(&self, ctx: &Context<'_>) -> ApiResult<Option<ImportRun>> {
        let id = parse_id("id", &self.id)?;
        crate::import_run::last_import(ctx, id).await
    }
}

impl From<publisher::Model> for Publisher {
    fn from(p: publisher::Model) -> Self {
        Publisher {
            id: ID(p.id.to_string()),
            name: p.name,
            url: p.url,
            logo: p.logo,
            description: p.description,
            is_annonceur: p.is_annonceur,
            is_diffuseur: p.is_diffuseur,
        }
    }
}

/// Queries over publishers.
#[derive(Default)]
pub struct PublisherQuery;

#[Object]
impl PublisherQuery {
    /// Every publisher, by name. There are a few dozen: this list is not paginated.
    async fn publishers(&self, ctx: &Context<'_>) -> ApiResult<Vec<Publisher>> {
        let rows = publisher::Entity::find()
            .order_by_asc(publisher::Column::Name)
            .all(db(ctx)?)
            .await?;
        Ok(rows.into_iter().map(Publisher::from).collect())
    }

    /// Federation: a publisher by its key.
    #[graphql(entity)]
    async fn find_publisher_by_id(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> ApiResult<Option<Publisher>> {
        let key = parse_id("id", &id)?;
        Ok(loaders(ctx)?
            .load_one(PublisherId(key))
            .await?
            .map(Publisher::from))
    }
}
