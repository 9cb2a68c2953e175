//! Which kinds of viewer may read each field of the schema. A field no rule names is denied
//! (`FORBIDDEN`), so a field added later stays closed until a rule here opens it; a test walks
//! the whole schema and fails on any field without a rule.
//!
//! Rows are scoped below, in `passerelle_entities::access`: a rule here says which kinds of
//! viewer may read a field of a row they reached at all. `Row` fields decide per row, by asking
//! the same access module from their resolver.
use std::collections::HashMap;
use std::sync::LazyLock;

use passerelle_entities::access::Kind::{
    self, Admin, Analyst, Partner, ReferentDepartment, ReferentRegion, StructureStaff, Volunteer,
};

/// Who may read a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldAccess {
    /// Every viewer who reached the row.
    Open,
    /// Only these kinds of viewer; others get `FORBIDDEN` on the field.
    Only(&'static [Kind]),
    /// Decided per row by the resolver, through `passerelle_entities::access`.
    Row,
}

/// The kinds of viewer who may read some volunteers (the rows decide which).
pub const READ_VOLUNTEERS: &[Kind] = &[
    Volunteer,
    StructureStaff,
    ReferentDepartment,
    ReferentRegion,
    Admin,
];
/// A volunteer's whole profile: themselves, the referents of their territory, admins.
pub const READ_PROFILES: &[Kind] = &[Volunteer, ReferentDepartment, ReferentRegion, Admin];
/// A publisher's private side: the publisher itself (its key or its people), admins.
pub const PARTNER_OR_ADMIN: &[Kind] = &[Partner, Admin];
/// Aggregates over volunteers and applications.
pub const READ_AGGREGATES: &[Kind] = &[Analyst, ReferentDepartment, ReferentRegion, Admin];
pub const ADMIN_ONLY: &[Kind] = &[Admin];
/// Those who write an organization's missions.
pub const WRITE_MISSIONS: &[Kind] = &[StructureStaff, Admin];
/// Those who moderate missions: referents of their territory, admins.
pub const MODERATORS: &[Kind] = &[ReferentDepartment, ReferentRegion, Admin];

use FieldAccess::{Only, Open, Row};

/// Every rule: a type, its fields (`*` for every field of a type that holds nothing to guard:
/// connections, page info, facets), and who may read them.
const RULES: &[(&str, &[&str], FieldAccess)] = &[
    (
        "Query",
        &[
            "missions",
            "mission",
            "organizations",
            "organization",
            "publishers",
            "viewer",
            "_service",
            "_entities",
            "__schema",
            "__type",
        ],
        Open,
    ),
    (
        "Query",
        &["volunteers", "volunteer", "applications", "application"],
        Only(READ_VOLUNTEERS),
    ),
    ("Query", &["importRuns"], Only(PARTNER_OR_ADMIN)),
    (
        "Query",
        &["volunteerStats", "applicationStats"],
        Only(READ_AGGREGATES),
    ),
    ("Query", &["auditLog"], Only(ADMIN_ONLY)),
    ("Mutation", &["setDiffusionRules"], Only(ADMIN_ONLY)),
    (
        "Mutation",
        &[
            "createMission",
            "updateMission",
            "submitMission",
            "duplicateMission",
        ],
        Only(WRITE_MISSIONS),
    ),
    ("Mutation", &["moderateMission"], Only(MODERATORS)),
    (
        "Mutation",
        &["upsertMissions", "deleteMissions"],
        Only(&[Partner]),
    ),
    ("Mutation", &["moderateAsPublisher"], Only(&[Partner])),
    ("Mission", &["publisherModeration"], Only(&[Partner])),
    ("PublisherModeration", &["*"], Open),
    ("ModerateAsPublisherPayload", &["*"], Open),
    ("MissionPushPayload", &["*"], Open),
    ("MissionPushResult", &["*"], Open),
    (
        "Mutation",
        &["cancelMission", "archiveMission"],
        Only(&[StructureStaff, ReferentDepartment, ReferentRegion, Admin]),
    ),
    ("Query", &["moderationQueue"], Only(MODERATORS)),
    (
        "Mission",
        &[
            "id",
            "clientId",
            "title",
            "description",
            "descriptionText",
            "domain",
            "activities",
            "type",
            "remote",
            "startAt",
            "endAt",
            "postedAt",
            "places",
            "placesLeft",
            "snu",
            "snuPlaces",
            "openToMinors",
            "reducedMobilityAccessible",
            "closeToTransport",
            "schedule",
            "tags",
            "audience",
            "softSkills",
            "requirements",
            "applicationUrl",
            "status",
            "version",
            "createdAt",
            "updatedAt",
            "distanceKm",
            "addresses",
            "organization",
            "publisher",
        ],
        Open,
    ),
    ("Mission", &["statusComment", "history"], Row),
    ("Mission", &["moderationProposal"], Only(MODERATORS)),
    ("MissionEvent", &["*"], Open),
    ("MissionPayload", &["*"], Open),
    ("ModerationProposal", &["*"], Open),
    ("ModerationReason", &["*"], Open),
    ("Mission", &["applications"], Only(READ_VOLUNTEERS)),
    (
        "Volunteer",
        &[
            "id",
            "firstName",
            "lastName",
            "email",
            "phone",
            "applications",
        ],
        Only(READ_VOLUNTEERS),
    ),
    (
        "Volunteer",
        &[
            "birthdate",
            "departmentCode",
            "region",
            "cohort",
            "phase1Status",
            "phase2Status",
            "phase3Status",
            "phase2HoursDone",
            "consentData",
            "consentImage",
            "createdAt",
            "erasedAt",
        ],
        Only(READ_PROFILES),
    ),
    (
        "Mutation",
        &["exportVolunteerData", "eraseVolunteer"],
        Only(READ_PROFILES),
    ),
    ("VolunteerDataExport", &["*"], Open),
    ("EraseVolunteerPayload", &["*"], Open),
    // Every person signed in reads their own inbox; the resolvers refuse API keys.
    ("Query", &["notifications"], Open),
    ("Mutation", &["markNotificationsRead"], Open),
    ("Notification", &["*"], Open),
    ("NotificationConnection", &["*"], Open),
    ("NotificationEdge", &["*"], Open),
    ("MarkNotificationsReadPayload", &["*"], Open),
    ("Query", &["webhooks"], Only(PARTNER_OR_ADMIN)),
    (
        "Mutation",
        &["createWebhook", "rotateWebhookSecret", "deleteWebhook"],
        Only(PARTNER_OR_ADMIN),
    ),
    ("Webhook", &["*"], Open),
    ("WebhookSecretPayload", &["*"], Open),
    ("DeleteWebhookPayload", &["*"], Open),
    (
        "Application",
        &[
            "id",
            "status",
            "motivation",
            "createdAt",
            "updatedAt",
            "mission",
            "volunteer",
            "statusComment",
            "proposed",
            "hoursDone",
            "version",
            "history",
        ],
        Open,
    ),
    ("ApplicationEvent", &["*"], Open),
    ("ApplicationPayload", &["*"], Open),
    ("Mutation", &["applyToMission"], Only(&[Volunteer])),
    ("Mutation", &["proposeMission"], Only(MODERATORS)),
    ("Mutation", &["moveApplication"], Only(READ_VOLUNTEERS)),
    (
        "Publisher",
        &[
            "id",
            "name",
            "url",
            "logo",
            "description",
            "isAnnonceur",
            "isDiffuseur",
            "isModerator",
        ],
        Open,
    ),
    (
        "Publisher",
        &["lastImport", "apiKeys", "diffusionRules"],
        Only(PARTNER_OR_ADMIN),
    ),
    ("Publisher", &["feed"], Only(ADMIN_ONLY)),
    (
        "Organization",
        &[
            "id",
            "clientId",
            "name",
            "rna",
            "siren",
            "siret",
            "legalStatus",
            "type",
            "description",
            "url",
            "logo",
            "address",
            "postalCode",
            "city",
            "departmentCode",
            "region",
            "parentNetwork",
            "createdAt",
            "updatedAt",
            "publisher",
            "missions",
        ],
        Open,
    ),
    // Reached only through a publisher the viewer manages, or as admin.
    ("ImportRun", &["*"], Open),
    ("ImportRefusal", &["*"], Open),
    ("ApiKey", &["*"], Open),
    ("DiffusionRule", &["*"], Open),
    ("PublisherFeed", &["*"], Open),
    ("AuditEntry", &["*"], Open),
    // The caller's own identity.
    ("Viewer", &["*"], Open),
    // Counts only, with small counts left out for analysts.
    ("VolunteerStats", &["*"], Open),
    ("ApplicationStats", &["*"], Open),
    ("SetDiffusionRulesPayload", &["*"], Open),
    ("UserError", &["*"], Open),
    // Shapes with nothing of their own to guard.
    ("Address", &["*"], Open),
    ("MissionConnection", &["*"], Open),
    ("MissionEdge", &["*"], Open),
    ("MissionFacets", &["*"], Open),
    ("FacetCount", &["*"], Open),
    ("OrganizationConnection", &["*"], Open),
    ("OrganizationEdge", &["*"], Open),
    ("OrganizationMissionConnection", &["*"], Open),
    ("VolunteerConnection", &["*"], Open),
    ("VolunteerEdge", &["*"], Open),
    ("ApplicationConnection", &["*"], Open),
    ("ApplicationEdge", &["*"], Open),
    ("ImportRunConnection", &["*"], Open),
    ("ImportRunEdge", &["*"], Open),
    ("ImportRefusalConnection", &["*"], Open),
    ("ImportRefusalEdge", &["*"], Open),
    ("AuditEntryConnection", &["*"], Open),
    ("AuditEntryEdge", &["*"], Open),
    ("PageInfo", &["*"], Open),
    ("_Service", &["*"], Open),
];

static BY_FIELD: LazyLock<HashMap<(&'static str, &'static str), FieldAccess>> =
    LazyLock::new(|| {
        let mut map = HashMap::new();
        for (ty, fields, access) in RULES {
            for field in *fields {
                map.insert((*ty, *field), *access);
            }
        }
        map
    });

/// The rule of a field of a type; `None`: no rule names it, so it is denied.
pub fn field_access(parent_type: &str, field: &str) -> Option<FieldAccess> {
    // Introspection types, and the elements of a list (already checked as the list's field).
    if parent_type.starts_with("__") || parent_type.starts_with('[') {
        return Some(Open);
    }
    BY_FIELD
        .get(&(parent_type, field))
        .or_else(|| BY_FIELD.get(&(parent_type, "*")))
        .copied()
}

/// Whether a kind of viewer may read a field, and the rule that decided.
pub fn allows(kind: Kind, parent_type: &str, field: &str) -> bool {
    match field_access(parent_type, field) {
        Some(Open | Row) => true,
        Some(Only(kinds)) => kinds.contains(&kind),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_fields_follow_the_roles_table() {
        assert!(allows(StructureStaff, "Volunteer", "email"));
        assert!(!allows(StructureStaff, "Volunteer", "birthdate"));
        assert!(allows(ReferentRegion, "Volunteer", "birthdate"));
        assert!(!allows(Partner, "Volunteer", "email"));
        assert!(!allows(Kind::Anonymous, "Query", "volunteers"));
        assert!(!allows(Analyst, "Query", "volunteer"));
        assert!(allows(Analyst, "Query", "volunteerStats"));
        assert!(!allows(Partner, "Publisher", "feed"));
        assert!(allows(Admin, "Publisher", "feed"));
    }

    #[test]
    fn a_field_no_rule_names_is_denied_to_everyone() {
        for kind in Kind::ALL {
            assert!(!allows(kind, "Volunteer", "socialSecurityNumber"));
            assert!(!allows(kind, "Mission", "internalNotes"));
        }
        assert!(allows(Kind::Anonymous, "__Type", "fields"));
        assert!(allows(Kind::Anonymous, "PageInfo", "hasNextPage"));
    }
}
