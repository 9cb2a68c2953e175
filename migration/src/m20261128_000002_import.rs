//! What the feed import needs on missions: a fingerprint of the content last imported, so that
//! an unchanged mission is recognised without comparing every field.
use sea_orm_migration::prelude::*;

use crate::run_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(
            manager,
            &["ALTER TABLE missions ADD COLUMN content_hash TEXT"],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(manager, &["ALTER TABLE missions DROP COLUMN content_hash"]).await
    }
}
