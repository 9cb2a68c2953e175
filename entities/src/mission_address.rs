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

impl Model {
    /// A row read from a statement that selected `columns` (unprefixed): each column outside
    /// the set is empty (`0`, none, the first source, `false`), for a reader that does not
    /// look at it.
    ///
    /// # Errors
    /// A selected column is missing or cannot be decoded.
    pub fn read_columns(res: &QueryResult, columns: Columns) -> Result<Model, DbErr> {
        Model::read_at(res, &columns.layout(res, "")?, columns)
    }

    /// A row read as [`Model::read_columns`] reads it, each column at the position `layout`
    /// gives (found once for all the rows of a statement: see [`Reader`]).
    ///
    /// # Errors
    /// A selected column cannot be decoded.
    pub fn read_at(
        res: &QueryResult,
        layout: &crate::columns::Layout,
        columns: Columns,
    ) -> Result<Model, DbErr> {
        crate::columns::read_columns!(res, layout, columns, {
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
        })
    }
}
