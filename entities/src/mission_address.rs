//! One place where a mission happens; a mission has one or more.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "mission_addresses")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub mission_id: i64,
    /// The order in which the publisher listed the addresses.
    pub position: i32,
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub department_code: Option<String>,
    pub department_name: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// Where `lat` and `lon` came from.
    pub geo_source: crate::GeoSource,
    /// Whether the mission is public ([`super::mission::is_public`]), copied here by the
    /// database's triggers (migration 9) so that counting public missions by department reads
    /// the addresses alone. The database sets it whenever the address is written and when its
    /// mission's status or deletion changes: a value given here is overwritten.
    pub mission_public: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::mission::Entity",
        from = "Column::MissionId",
        to = "super::mission::Column::Id"
    )]
    Mission,
}

impl Related<super::mission::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Mission.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

crate::columns::column_set!(MissionPublic);

crate::columns::read_at!({
    id: Id,
    mission_id: MissionId,
    position: Position,
    street: Street,
    postal_code: PostalCode,
    city: City,
    department_code: DepartmentCode,
    department_name: DepartmentName,
    region: Region,
    country: Country,
    lat: Lat,
    lon: Lon,
    geo_source: GeoSource = crate::GeoSource::ALL[0],
    mission_public: MissionPublic,
});
