//! Applies a feed to the database: one transaction per feed, so that readers never see half a
//! run and a feed that fails part-way changes nothing.
use std::collections::{HashMap, HashSet};
use std::io::BufRead;

use chrono::{DateTime, Utc};
use passerelle_entities::mission::StringList;
use passerelle_entities::{
    Domain, MissionStatus, mission, mission_address, organization, search, time,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QuerySelect, Set, TransactionTrait,
};

use crate::feed::{FeedError, FeedReader};
use crate::normalize::{self, Mission};

/// Why an import changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the feed cannot be read: {0}")]
    Feed(#[from] FeedError),
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

/// A mission the import refused, for the partner to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub client_id: String,
    pub code: String,
    pub message: String,
}

/// What one import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub received: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub refused: u64,
    pub deleted: u64,
    /// Client ids seen more than once in the feed: the first one was kept.
    pub duplicates: Vec<String>,
    pub refusals: Vec<Refusal>,
}

/// What the import knows of a mission already stored.
struct Stored {
    id: i64,
    hash: Option<String>,
    deleted_at: Option<DateTime<Utc>>,
}

/// A stable 64-bit FNV-1a fingerprint (the standard library's hasher may change between
/// releases; this one is stored).
fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Imports a whole feed for `publisher_id`.
///
/// Missions are keyed by (publisher, clientId): new ones are created, changed ones updated,
/// unchanged ones left untouched; invalid ones are stored REFUSED with their reasons; the
/// publisher's missions absent from the feed are soft-deleted, unless the feed holds no
/// mission at all (an empty feed deletes nothing).
///
/// # Errors
/// The feed is unreadable or the database fails: the transaction is rolled back, nothing changes.
pub async fn import_feed<R: BufRead>(
    db: &DatabaseConnection,
    publisher_id: i64,
    input: R,
) -> Result<ImportReport, ImportError> {
    let now = time::now();
    let txn = db.begin().await?;
    let mut report = ImportReport::default();
    let existing: HashMap<String, Stored> = mission::Entity::find()
        .select_only()
        .columns([
            mission::Column::ClientId,
            mission::Column::Id,
            mission::Column::ContentHash,
            mission::Column::DeletedAt,
        ])
        .filter(mission::Column::PublisherId.eq(publisher_id))
        .into_tuple::<(String, i64, Option<String>, Option<DateTime<Utc>>)>()
        .all(&txn)
        .await?
        .into_iter()
        .map(|(client, id, hash, deleted_at)| {
            (
                client,
                Stored {
                    id,
                    hash,
                    deleted_at,
                },
            )
        })
        .collect();
    let mut organizations: HashMap<String, i64> = organization::Entity::find()
        .select_only()
        .columns([organization::Column::ClientId, organization::Column::Id])
        .filter(organization::Column::PublisherId.eq(publisher_id))
        .into_tuple::<(String, i64)>()
        .all(&txn)
        .await?
        .into_iter()
        .collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut reader = FeedReader::new(input);
    while let Some(raw) = reader.next_mission()? {
        report.received += 1;
        let m = normalize::normalize(&raw);
        if !m.client_id.is_empty() && !seen.insert(m.client_id.clone()) {
            report.duplicates.push(m.client_id.clone());
            continue;
        }
        if m.client_id.is_empty() {
            // Without a key the mission cannot be stored; it is reported only.
            report.refused += 1;
            report.refusals.extend(m.violations.iter().map(|v| Refusal {
                client_id: String::new(),
                code: v.code.to_owned(),
                message: v.message.clone(),
            }));
            continue;
        }
        let hash = fingerprint(&format!("{m:?}"));
        let valid = m.violations.is_empty();
        if !valid {
            report.refused += 1;
            report.refusals.extend(m.violations.iter().map(|v| Refusal {
                client_id: m.client_id.clone(),
                code: v.code.to_owned(),
                message: v.message.clone(),
            }));
        }
        match existing.get(&m.client_id) {
            Some(Stored {
                hash: Some(old),
                deleted_at: None,
                ..
            }) if *old == hash => report.unchanged += u64::from(valid),
            Some(Stored { id, .. }) => {
                let org =
                    upsert_organization(&txn, publisher_id, &m, &mut organizations, now).await?;
                write_mission(&txn, publisher_id, Some(*id), &m, org, &hash, now).await?;
                report.updated += u64::from(valid);
            }
            None => {
                let org =
                    upsert_organization(&txn, publisher_id, &m, &mut organizations, now).await?;
                write_mission(&txn, publisher_id, None, &m, org, &hash, now).await?;
                report.created += u64::from(valid);
            }
        }
    }
    if report.received > 0 {
        let gone: Vec<i64> = existing
            .iter()
            .filter(|(client, stored)| stored.deleted_at.is_none() && !seen.contains(*client))
            .map(|(_, stored)| stored.id)
            .collect();
        for chunk in gone.chunks(500) {
            mission::Entity::update_many()
                .col_expr(
                    mission::Column::DeletedAt,
                    sea_orm::sea_query::Expr::value(now),
                )
                .col_expr(
                    mission::Column::UpdatedAt,
                    sea_orm::sea_query::Expr::value(now),
                )
                .filter(mission::Column::Id.is_in(chunk.iter().copied()))
                .exec(&txn)
                .await?;
        }
        report.deleted = gone.len() as u64;
    }
    txn.commit().await?;
    Ok(report)
}

async fn upsert_organization<C: ConnectionTrait>(
    db: &C,
    publisher_id: i64,
    m: &Mission,
    known: &mut HashMap<String, i64>,
    now: DateTime<Utc>,
) -> Result<Option<(i64, String)>, DbErr> {
    let Some(o) = &m.organization else {
        return Ok(None);
    };
    let department = o
        .postal_code
        .as_deref()
        .and_then(passerelle_entities::geo::department_of_postal_code);
    let mut model = organization::ActiveModel {
        publisher_id: Set(publisher_id),
        client_id: Set(o.client_id.clone()),
        name: Set(o.name.clone()),
        rna: Set(o.rna.clone()),
        siren: Set(o.siren.clone()),
        siret: Set(None),
        legal_status: Set(o.legal_status.clone()),
        organization_type: Set(o.organization_type.clone()),
        description: Set(o.description.clone()),
        url: Set(o.url.clone()),
        logo: Set(o.logo.clone()),
        address: Set(o.address.clone()),
        postal_code: Set(o.postal_code.clone()),
        city: Set(o.city.clone()),
        department_code: Set(department.map(|d| d.code.to_owned())),
        region: Set(department.map(|d| d.region.to_owned())),
        parent_network: Set(o.parent_network.clone()),
        updated_at: Set(now),
        ..Default::default()
    };
    let id = match known.get(&o.client_id) {
        Some(id) => {
            model.id = Set(*id);
            model.update(db).await?;
            *id
        }
        None => {
            model.created_at = Set(now);
            let id = model.insert(db).await?.id;
            known.insert(o.client_id.clone(), id);
            id
        }
    };
    Ok(Some((id, o.name.clone())))
}

async fn write_mission<C: ConnectionTrait>(
    db: &C,
    publisher_id: i64,
    id: Option<i64>,
    m: &Mission,
    organization: Option<(i64, String)>,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let places = m
        .places
        .unwrap_or(1)
        .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    let refused = !m.violations.is_empty();
    let start_at = time::to_db(m.start_at.or(m.posted_at).unwrap_or(now));
    let cities = m.addresses.iter().filter_map(|a| a.city.as_deref());
    let mut model = mission::ActiveModel {
        publisher_id: Set(publisher_id),
        organization_id: Set(organization.as_ref().map(|(id, _)| *id)),
        client_id: Set(m.client_id.clone()),
        title: Set(m.title.clone()),
        description: Set(m.description.clone()),
        domain: Set(m.domain.unwrap_or(Domain::Autre)),
        activities: Set(StringList(m.activities.clone())),
        mission_type: Set(m.mission_type),
        remote: Set(m.remote),
        start_at: Set(start_at),
        end_at: Set(m.end_at.map(time::to_db)),
        posted_at: Set(time::to_db(m.posted_at.unwrap_or(now))),
        places: Set(places),
        places_left: Set(places.max(0)),
        snu: Set(m.snu),
        snu_places: Set(m.snu_places.clamp(0, i64::from(i32::MAX)) as i32),
        open_to_minors: Set(m.open_to_minors),
        reduced_mobility_accessible: Set(m.reduced_mobility_accessible),
        close_to_transport: Set(m.close_to_transport),
        schedule: Set(m.schedule.clone()),
        tags: Set(StringList(m.tags.clone())),
        audience: Set(StringList(m.audience.clone())),
        soft_skills: Set(StringList(m.soft_skills.clone())),
        requirements: Set(StringList(m.requirements.clone())),
        application_url: Set(m.application_url.clone()),
        status: Set(if refused {
            MissionStatus::Refused
        } else {
            MissionStatus::Validated
        }),
        status_comment: Set(refused.then(|| {
            m.violations
                .iter()
                .map(|v| format!("{}: {}", v.code, v.message))
                .collect::<Vec<_>>()
                .join("; ")
        })),
        search_text: Set(search::document(
            &m.title,
            &m.description,
            organization.as_ref().map(|(_, n)| n.as_str()),
            cities,
        )),
        content_hash: Set(Some(hash.to_owned())),
        updated_at: Set(now),
        deleted_at: Set(None),
        ..Default::default()
    };
    let mission_id = match id {
        Some(id) => {
            model.id = Set(id);
            model.update(db).await?;
            mission_address::Entity::delete_many()
                .filter(mission_address::Column::MissionId.eq(id))
                .exec(db)
                .await?;
            id
        }
        None => {
            model.created_at = Set(now);
            model.insert(db).await?.id
        }
    };
    if !m.addresses.is_empty() {
        let rows = m
            .addresses
            .iter()
            .enumerate()
            .map(|(i, a)| mission_address::ActiveModel {
                mission_id: Set(mission_id),
                position: Set(i as i32),
                street: Set(a.street.clone()),
                postal_code: Set(a.postal_code.clone()),
                city: Set(a.city.clone()),
                department_code: Set(a.department_code.clone()),
                department_name: Set(a.department_name.clone()),
                region: Set(a.region.clone()),
                country: Set(a.country.clone()),
                lat: Set(a.lat.filter(|l| (-90.0..=90.0).contains(l))),
                lon: Set(a.lon.filter(|l| (-180.0..=180.0).contains(l))),
                ..Default::default()
            });
        mission_address::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}
