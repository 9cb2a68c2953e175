//! `viewer`: who the request's credentials say the caller is, and what they reach.
use async_graphql::{ComplexObject, Context, Enum, Object, SimpleObject};
use passerelle_entities::access::{Access, Principal};

use crate::enums::Role;
use crate::error::ApiResult;
use crate::loader::{OrganizationId, PublisherId, VolunteerId};
use crate::organization::Organization;
use crate::publisher::Publisher;
use crate::volunteer::Volunteer;
use crate::{loaders, scope};

/// The kind of caller, which decides the fields they may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "passerelle_entities::access::Kind")]
pub enum ViewerKind {
    /// No credentials: public data only.
    Anonymous,
    /// A partner platform's API key, or one of its people.
    Partner,
    Volunteer,
    StructureStaff,
    ReferentDepartment,
    ReferentRegion,
    Analyst,
    Admin,
}

/// Who the caller is, as their credentials say, and the scope of what they may read.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "Viewer", complex)]
pub struct ViewerInfo {
    pub kind: ViewerKind,
    /// The role of a person who signed in with a token.
    pub role: Option<Role>,
    /// The email of a person who signed in with a token.
    pub email: Option<String>,
    /// The public prefix of the API key used.
    pub api_key_prefix: Option<String>,
    /// The department of a department referent.
    pub department_code: Option<String>,
    /// The region of a region referent.
    pub region: Option<String>,
    #[graphql(skip)]
    publisher_id: Option<i64>,
    #[graphql(skip)]
    organization_id: Option<i64>,
    #[graphql(skip)]
    volunteer_id: Option<i64>,
}

#[ComplexObject]
impl ViewerInfo {
    /// The partner platform of a key or of its people.
    async fn publisher(&self, ctx: &Context<'_>) -> ApiResult<Option<Publisher>> {
        let Some(id) = self.publisher_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)?
            .load_one(PublisherId(id))
            .await?
            .map(Publisher::from))
    }

    /// The organization of structure staff.
    async fn organization(&self, ctx: &Context<'_>) -> ApiResult<Option<Organization>> {
        let Some(id) = self.organization_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)?
            .load_one(OrganizationId(id))
            .await?
            .map(Organization::from))
    }

    /// A volunteer's own record.
    async fn volunteer(&self, ctx: &Context<'_>) -> ApiResult<Option<Volunteer>> {
        let Some(id) = self.volunteer_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)?
            .load_one(VolunteerId(id))
            .await?
            .map(Volunteer::from))
    }
}

/// The `viewer` query.
#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// Who the caller is: anonymous, a partner's key, or a person with a role and its scope.
    async fn viewer(&self, ctx: &Context<'_>) -> ViewerInfo {
        let viewer = scope::viewer(ctx);
        let (role, email, api_key_prefix) = match &viewer.principal {
            Principal::Anonymous => (None, None, None),
            Principal::ApiKey { prefix, .. } => (None, None, Some(prefix.clone())),
            Principal::User { email, role, .. } => {
                (Some((*role).into()), Some(email.clone()), None)
            }
        };
        let mut info = ViewerInfo {
            kind: viewer.access.kind().into(),
            role,
            email,
            api_key_prefix,
            department_code: None,
            region: None,
            publisher_id: None,
            organization_id: None,
            volunteer_id: None,
        };
        match &viewer.access {
            Access::Partner { publisher_id, .. } => info.publisher_id = Some(*publisher_id),
            Access::Volunteer { volunteer_id } => info.volunteer_id = Some(*volunteer_id),
            Access::StructureStaff { organization_id } => {
                info.organization_id = Some(*organization_id);
            }
            Access::ReferentDepartment { department_code } => {
                info.department_code = Some(department_code.clone());
            }
            Access::ReferentRegion { region, .. } => info.region = Some(region.clone()),
            Access::Anonymous | Access::Analyst | Access::Admin => {}
        }
        info
    }
}
