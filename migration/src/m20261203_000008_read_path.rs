//! The SNU places a mission offers, apart from those left (so that editing or re-importing a
//! mission keeps the places its applications took), and an index of the read path, checked by
//! the `EXPLAIN QUERY PLAN` tests: a domain's public missions in start order (the listing every
//! domain page shows) walk an index and stop after a page, instead of sorting every mission of
//! the domain; and an index that knows distance for `near` (R*Tree on SQLite, GiST on
//! PostgreSQL).
use crate::run_all;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    // The SNU places offered, apart from those left (accepted applications take them): until
    // now nothing took any, so what is left is what is offered.
    "ALTER TABLE missions ADD COLUMN snu_capacity INTEGER NOT NULL DEFAULT 0",
    "UPDATE missions SET snu_capacity = snu_places",
    "CREATE INDEX missions_public_domain_start_idx ON missions (domain, start_at, id) WHERE status = 'VALIDATED' AND deleted_at IS NULL",
];

/// An index that knows distance, for `near`: SQLite's R*Tree module over each address's point,
/// kept in step by triggers; PostgreSQL's GiST over `point(lon, lat)`. Both find the addresses in
/// the search circle's bounding box without reading a band of the whole country; the exact
/// great-circle distance is then computed on those few.
const SQLITE_GEO: &[&str] = &[
    "CREATE VIRTUAL TABLE mission_addresses_geo_rtree USING rtree(id, min_lat, max_lat, min_lon, max_lon)",
    "INSERT INTO mission_addresses_geo_rtree SELECT id, lat, lat, lon, lon FROM mission_addresses WHERE lat IS NOT NULL AND lon IS NOT NULL",
    "CREATE TRIGGER mission_addresses_geo_insert AFTER INSERT ON mission_addresses
        WHEN new.lat IS NOT NULL AND new.lon IS NOT NULL BEGIN
        INSERT INTO mission_addresses_geo_rtree VALUES (new.id, new.lat, new.lat, new.lon, new.lon);
    END",
    "CREATE TRIGGER mission_addresses_geo_delete AFTER DELETE ON mission_addresses BEGIN
        DELETE FROM mission_addresses_geo_rtree WHERE id = old.id;
    END",
    "CREATE TRIGGER mission_addresses_geo_update AFTER UPDATE OF lat, lon ON mission_addresses BEGIN
        DELETE FROM mission_addresses_geo_rtree WHERE id = old.id;
        INSERT INTO mission_addresses_geo_rtree SELECT new.id, new.lat, new.lat, new.lon, new.lon
            WHERE new.lat IS NOT NULL AND new.lon IS NOT NULL;
    END",
];

const POSTGRES_GEO: &[&str] =
    &["CREATE INDEX mission_addresses_point_idx ON mission_addresses USING gist (point(lon, lat))"];

const SQLITE_GEO_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS mission_addresses_geo_update",
    "DROP TRIGGER IF EXISTS mission_addresses_geo_delete",
    "DROP TRIGGER IF EXISTS mission_addresses_geo_insert",
    "DROP TABLE IF EXISTS mission_addresses_geo_rtree",
];

const POSTGRES_GEO_DOWN: &[&str] = &["DROP INDEX IF EXISTS mission_addresses_point_idx"];

const DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS missions_public_domain_start_idx",
    "ALTER TABLE missions DROP COLUMN snu_capacity",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(manager, UP).await?;
        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => run_all(manager, SQLITE_GEO).await,
            _ => run_all(manager, POSTGRES_GEO).await,
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => run_all(manager, SQLITE_GEO_DOWN).await?,
            _ => run_all(manager, POSTGRES_GEO_DOWN).await?,
        }
        run_all(manager, DOWN).await
    }
}
