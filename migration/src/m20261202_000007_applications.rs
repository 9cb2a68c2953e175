//! SNU phase 2 applications as a workflow: a version and the hours done per application, the
//! history of every move, in-app notifications, the outbox of emails and webhook calls, the
//! partners' webhooks, and the mark of a volunteer whose data was erased.
use crate::m20261128_000001_core::engine;
use crate::run_all;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "ALTER TABLE applications ADD COLUMN proposed BOOLEAN NOT NULL DEFAULT {false}",
    "ALTER TABLE applications ADD COLUMN status_comment TEXT",
    "ALTER TABLE applications ADD COLUMN hours_done INTEGER",
    "ALTER TABLE applications ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
    // A volunteer's live applications, counted against the most allowed at once.
    "CREATE INDEX applications_volunteer_status_idx ON applications (volunteer_id, status)",
    "ALTER TABLE volunteers ADD COLUMN erased_at {time}",
    "CREATE TABLE application_events (
        id {pk},
        application_id {ref} NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
        at {time} NOT NULL,
        actor TEXT NOT NULL,
        party TEXT NOT NULL,
        action TEXT NOT NULL,
        from_status TEXT,
        to_status TEXT NOT NULL,
        comment TEXT)",
    "CREATE INDEX application_events_application_idx ON application_events (application_id, id)",
    "CREATE TABLE notifications (
        id {pk},
        user_id {ref} NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        topic TEXT NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        application_id {ref} REFERENCES applications(id) ON DELETE CASCADE,
        mission_id {ref} REFERENCES missions(id) ON DELETE CASCADE,
        created_at {time} NOT NULL,
        read_at {time})",
    "CREATE INDEX notifications_user_idx ON notifications (user_id, id)",
    "CREATE INDEX notifications_unread_idx ON notifications (user_id, id) WHERE read_at IS NULL",
    "CREATE TABLE webhooks (
        id {pk},
        publisher_id {ref} NOT NULL REFERENCES publishers(id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        topics {json} NOT NULL,
        secret TEXT NOT NULL,
        previous_secret TEXT,
        previous_secret_expires_at {time},
        created_at {time} NOT NULL,
        updated_at {time} NOT NULL)",
    "CREATE INDEX webhooks_publisher_idx ON webhooks (publisher_id, id)",
    "CREATE TABLE outbox (
        id {pk},
        event_id TEXT NOT NULL UNIQUE,
        channel TEXT NOT NULL,
        topic TEXT NOT NULL,
        recipient TEXT NOT NULL,
        webhook_id {ref} REFERENCES webhooks(id) ON DELETE CASCADE,
        volunteer_id {ref} REFERENCES volunteers(id) ON DELETE CASCADE,
        payload {json} NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at {time} NOT NULL,
        locked_until {time},
        locked_by TEXT,
        last_error TEXT,
        created_at {time} NOT NULL,
        sent_at {time})",
    // What the workers claim: pending rows, due first.
    "CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id) WHERE status = 'PENDING'",
    "CREATE INDEX outbox_status_idx ON outbox (status, id)",
    "CREATE INDEX outbox_volunteer_idx ON outbox (volunteer_id)",
];

const DOWN: &[&str] = &[
    "DROP TABLE IF EXISTS outbox",
    "DROP TABLE IF EXISTS webhooks",
    "DROP TABLE IF EXISTS notifications",
    "DROP TABLE IF EXISTS application_events",
    "ALTER TABLE volunteers DROP COLUMN erased_at",
    "DROP INDEX IF EXISTS applications_volunteer_status_idx",
    "ALTER TABLE applications DROP COLUMN version",
    "ALTER TABLE applications DROP COLUMN hours_done",
    "ALTER TABLE applications DROP COLUMN status_comment",
    "ALTER TABLE applications DROP COLUMN proposed",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let engine = engine(manager.get_database_backend())?;
        let up: Vec<String> = UP.iter().map(|t| engine.render(t)).collect();
        run_all(manager, &up).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(manager, DOWN).await
    }
}
