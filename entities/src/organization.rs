//! A host structure (association, local authority, public body), known to one publisher.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "organizations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub publisher_id: i64,
    /// The publisher's own identifier, unique per publisher.
    pub client_id: String,
    pub name: String,
    pub rna: Option<String>,
    pub siren: Option<String>,
    pub siret: Option<String>,
    pub legal_status: Option<String>,
    pub organization_type: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub logo: Option<String>,
    pub address: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub department_code: Option<String>,
    pub region: Option<String>,
    pub parent_network: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::publisher::Entity",
        from = "Column::PublisherId",
        to = "super::publisher::Column::Id"
    )]
    Publisher,
    #[sea_orm(has_many = "super::mission::Entity")]
    Mission,
}

impl Related<super::publisher::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Publisher.def()
    }
}

impl Related<super::mission::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Mission.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

crate::columns::column_set!(UpdatedAt);

crate::columns::read_at!({
    id: Id,
    publisher_id: PublisherId,
    client_id: ClientId,
    name: Name,
    rna: Rna,
    siren: Siren,
    siret: Siret,
    legal_status: LegalStatus,
    organization_type: OrganizationType,
    description: Description,
    url: Url,
    logo: Logo,
    address: Address,
    postal_code: PostalCode,
    city: City,
    department_code: DepartmentCode,
    region: Region,
    parent_network: ParentNetwork,
    created_at: CreatedAt,
    updated_at: UpdatedAt,
});
