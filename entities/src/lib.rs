//! The data of Passerelle: SeaORM entities, the domain's reference values, and the pure rules
//! that belong to the data, shared by every way data arrives (GraphQL, feed import, demo seed).
//!
//! - [`enums`]: domains, mission types, remote, statuses, stored as stable strings.
//! - [`publisher`], [`organization`], [`mission`], [`mission_address`], [`volunteer`],
//!   [`application`]: one SeaORM entity per table.
//! - [`import_run`]: the record of one import of a publisher's feed.
//! - [`user`], [`api_key`], [`diffusion_rule`], [`audit_entry`]: who may sign in and with which
//!   role, publishers' hashed keys, what a diffuseur's key sees, the audit log.
//! - [`access`]: who is asking, and the one place that turns them into the rows they may read.
//! - [`rules`]: validation of a mission, application status transitions.
//! - [`lifecycle`]: a mission's statuses, the moves between them and who may make them;
//!   [`mission_event`]: the history of those moves; [`idempotency_key`]: partners' pushes kept
//!   for replay; [`mission_moderation`]: moderator publishers' own decisions.
//! - [`application_lifecycle`]: an SNU application's statuses, moves, eligibility and places;
//!   [`application_event`]: the history of those moves.
//! - [`notification`]: in-app notifications; [`outbox`]: emails and webhook calls owed, sent by
//!   the delivery worker; [`webhook`]: partners' endpoints and their signing secrets.
//! - [`geo`]: French departments and regions, postal codes, great-circle distance.
//! - [`search`]: the accent- and case-folded text that full-text search indexes.
//! - [`time`]: timestamps as the database stores them.
//! - [`columns`]: sets of a table's columns, for reads that need fewer than all.

pub mod access;
pub mod api_key;
pub mod application;
pub mod application_event;
pub mod application_lifecycle;
pub mod audit_entry;
pub mod columns;
pub mod diffusion_rule;
pub mod enums;
pub mod geo;
pub mod idempotency_key;
pub mod import_run;
pub mod lifecycle;
pub mod mission;
pub mod mission_address;
pub mod mission_event;
pub mod mission_moderation;
pub mod notification;
pub mod organization;
pub mod outbox;
pub mod publisher;
pub mod rules;
pub mod search;
pub mod time;
pub mod user;
pub mod volunteer;
pub mod webhook;

pub use enums::{
    ApplicationStatus, DiffusionField, DiffusionOperator, Domain, GeoSource, ImportStatus,
    ImportWarning, MissionStatus, MissionType, OutboxChannel, OutboxStatus,
    PublisherModerationStatus, Remote, Role,
};
