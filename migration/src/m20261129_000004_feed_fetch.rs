//! What fetching feeds over HTTP and geocoding need: the feed's validators (`ETag`,
//! `Last-Modified`) so that an unchanged feed costs one conditional request; where each run's
//! feed came from and whether it was unchanged; and where each address's coordinates came from.
use sea_orm_migration::prelude::*;

use crate::run_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(
            manager,
            &[
                "ALTER TABLE publishers ADD COLUMN feed_etag TEXT",
                "ALTER TABLE publishers ADD COLUMN feed_last_modified TEXT",
                "ALTER TABLE import_runs ADD COLUMN source TEXT",
                "ALTER TABLE import_runs ADD COLUMN not_modified BOOLEAN NOT NULL DEFAULT FALSE",
                "ALTER TABLE import_runs ADD COLUMN fetched_bytes BIGINT",
                // PUBLISHER, GEOCODER, FALLBACK or NOT_FOUND (see entities::enums::GeoSource).
                "ALTER TABLE mission_addresses ADD COLUMN geo_source TEXT NOT NULL DEFAULT 'NOT_FOUND'",
                "UPDATE mission_addresses SET geo_source = 'PUBLISHER' WHERE lat IS NOT NULL AND lon IS NOT NULL",
                // The geocoding pass looks for the addresses it may still improve.
                "CREATE INDEX mission_addresses_geo_source_idx ON mission_addresses (geo_source, mission_id) WHERE geo_source <> 'PUBLISHER' AND geo_source <> 'GEOCODER'",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(
            manager,
            &[
                "DROP INDEX IF EXISTS mission_addresses_geo_source_idx",
                "ALTER TABLE mission_addresses DROP COLUMN geo_source",
                "ALTER TABLE import_runs DROP COLUMN fetched_bytes",
                "ALTER TABLE import_runs DROP COLUMN not_modified",
                "ALTER TABLE import_runs DROP COLUMN source",
                "ALTER TABLE publishers DROP COLUMN feed_last_modified",
                "ALTER TABLE publishers DROP COLUMN feed_etag",
            ],
        )
        .await
    }
}
