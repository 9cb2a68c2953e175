//! Publishers (partner platforms): the type, `publishers`, and the private side a publisher and
//! admins read (import runs, API keys, diffusion rules) or admins only (feed settings).
use std::sync::Arc;

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use passerelle_entities::{api_key, diffusion_rule, publisher};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};

use crate::enums::{DiffusionField, DiffusionOperator};
use crate::error::ApiResult;
use crate::filter::parse_id;
use crate::import_run::ImportRun;
use crate::loader::PublisherId;
use crate::row_id::RowId;
use crate::{db, loaders, scope};

pub(crate) mod columns;

/// A partner platform, as the row its loader shares: each field is read from the row when a
/// response asks for it. Read for a mission (`Mission.publisher`), the row holds the columns
/// that field's selection reads ([`columns::of_object`]) and empty values for the others.
#[derive(Debug, Clone)]
pub struct Publisher(Arc<publisher::Model>);

/// Where and how often a publisher's feed is imported. Credentials are never served.
#[derive(Debug, Clone, SimpleObject)]
pub struct PublisherFeed {
    /// The feed's URL, without user, password or query.
    pub url: String,
    /// The basic-auth user, when the feed needs one.
    pub user: Option<String>,
    /// Whether a basic-auth password is stored.
    pub has_password: bool,
    /// How often `serve` imports it, in seconds.
    pub every_secs: Option<i64>,
}

/// An API key of a publisher: never the key itself, which is shown once, when it is made.
#[derive(Debug, Clone, SimpleObject)]
pub struct ApiKey {
    /// The public part of the key (`pk_…`), how it is listed and revoked.
    pub prefix: String,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When it was last used, to the minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; a revoked key is refused.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<api_key::Model> for ApiKey {
    fn from(k: api_key::Model) -> Self {
        ApiKey {
            prefix: k.prefix,
            label: k.label,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// One rule of what a diffuseur shows of other publishers' missions.
#[derive(Debug, Clone, SimpleObject)]
pub struct DiffusionRule {
    pub field: DiffusionField,
    pub operator: DiffusionOperator,
    /// A publisher or organization id, a stored type or domain (`benevolat`, `sport`), a
    /// department code, or a network name.
    pub value: String,
}

impl From<diffusion_rule::Model> for DiffusionRule {
    fn from(r: diffusion_rule::Model) -> Self {
        DiffusionRule {
            field: r.field.into(),
            operator: r.operator.into(),
            value: r.value,
        }
    }
}

/// A partner platform: an annonceur publishes missions, a diffuseur shows other publishers'
/// missions; many are both.
#[Object]
impl Publisher {
    async fn id(&self) -> RowId {
        RowId(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn url(&self) -> Option<&str> {
        self.0.url.as_deref()
    }
    async fn logo(&self) -> Option<&str> {
        self.0.logo.as_deref()
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// Publishes missions (through a feed or the API).
    async fn is_annonceur(&self) -> bool {
        self.0.is_annonceur
    }
    /// Shows other publishers' missions.
    async fn is_diffuseur(&self) -> bool {
        self.0.is_diffuseur
    }
    /// Keeps its own decision on the missions it diffuses (`moderateAsPublisher`).
    async fn is_moderator(&self) -> bool {
        self.0.moderator
    }

    /// The publisher's most recent feed import, if it ever had one. Readable by the publisher
    /// itself and by admins (null for other publishers).
    async fn last_import(&self, ctx: &Context<'_>) -> ApiResult<Option<ImportRun>> {
        Box::pin(crate::import_run::last_import(ctx, self.0.id)).await
    }

    /// The publisher's feed settings: admins only.
    async fn feed(&self) -> Option<PublisherFeed> {
        let p = &self.0;
        p.feed_url.as_deref().map(|url| PublisherFeed {
            url: passerelle_entities::publisher::display_url(url),
            user: p.feed_user.clone(),
            has_password: p.feed_password.is_some(),
            every_secs: p.import_every_secs,
        })
    }

    /// The publisher's API keys, newest first. Readable by the publisher itself and by admins
    /// (null for other publishers).
    async fn api_keys(&self, ctx: &Context<'_>) -> ApiResult<Option<Vec<ApiKey>>> {
        let Some(select) = scope::find::<api_key::Entity>(scope::access(ctx))
            .filter(|_| scope::access(ctx).manages_publisher(self.0.id))
        else {
            return Ok(None);
        };
        let keys = Box::pin(
            select
                .filter(api_key::Column::PublisherId.eq(self.0.id))
                .order_by_desc(api_key::Column::Id)
                .all(db(ctx)?),
        )
        .await?;
        Ok(Some(keys.into_iter().map(ApiKey::from).collect()))
    }

    /// What the publisher, as a diffuseur, shows of other publishers' missions (its own are
    /// always shown). Readable by the publisher itself and by admins (null for others).
    async fn diffusion_rules(&self, ctx: &Context<'_>) -> ApiResult<Option<Vec<DiffusionRule>>> {
        let Some(select) = scope::find::<diffusion_rule::Entity>(scope::access(ctx))
            .filter(|_| scope::access(ctx).manages_publisher(self.0.id))
        else {
            return Ok(None);
        };
        let rules = Box::pin(
            select
                .filter(diffusion_rule::Column::DiffuseurId.eq(self.0.id))
                .order_by_asc(diffusion_rule::Column::Id)
                .all(db(ctx)?),
        )
        .await?;
        Ok(Some(rules.into_iter().map(DiffusionRule::from).collect()))
    }
}

/// A publisher as its loader shares it.
impl From<Arc<publisher::Model>> for Publisher {
    fn from(p: Arc<publisher::Model>) -> Self {
        Publisher(p)
    }
}

impl From<publisher::Model> for Publisher {
    fn from(p: publisher::Model) -> Self {
        Publisher(Arc::new(p))
    }
}

/// Queries over publishers.
#[derive(Default)]
pub struct PublisherQuery;

#[Object]
impl PublisherQuery {
    /// Every publisher, by name. There are a few dozen: this list is not paginated.
    async fn publishers(&self, ctx: &Context<'_>) -> ApiResult<Vec<Publisher>> {
        let Some(select) = scope::find::<publisher::Entity>(scope::access(ctx)) else {
            return Ok(Vec::new());
        };
        let rows = select
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
