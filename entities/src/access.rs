//! Who is asking, and which rows they may read: the one place where a viewer becomes the
//! conditions on each entity. Every list, lookup and loader of the API asks here; none builds
//! its own rule, so a field added later is scoped by the loader or list it goes through.
//!
//! A condition is `None` when the viewer may read no row of the entity at all: callers then
//! answer without asking the database.
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition};

use crate::enums::{DiffusionField, DiffusionOperator, MissionStatus, Role};
use crate::{api_key, application, diffusion_rule, geo, import_run, mission, user, volunteer};

/// Who is asking, resolved once per request from its credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct Viewer {
    pub principal: Principal,
    pub access: Access,
}

impl Viewer {
    /// A caller without credentials.
    pub fn anonymous() -> Viewer {
        Viewer {
            principal: Principal::Anonymous,
            access: Access::Anonymous,
        }
    }

    /// How the audit log names this viewer.
    pub fn actor_name(&self) -> String {
        match &self.principal {
            Principal::Anonymous => "anonymous".to_owned(),
            Principal::ApiKey { prefix, .. } => format!("key:{prefix}"),
            Principal::User { user_id, email, .. } => format!("user:{user_id} <{email}>"),
        }
    }
}

/// The credentials a request came with, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    /// A publisher's API key.
    ApiKey {
        key_id: i64,
        prefix: String,
    },
    /// A person, from a bearer token, known in the `users` table.
    User {
        user_id: i64,
        email: String,
        role: Role,
    },
}

/// What a viewer may reach: a kind, with its scope.
#[derive(Debug, Clone, PartialEq)]
pub enum Access {
    Anonymous,
    /// A partner platform, by its API key or one of its people (PARTNER_STAFF).
    Partner {
        publisher_id: i64,
        diffusion: Diffusion,
    },
    Volunteer {
        volunteer_id: i64,
    },
    StructureStaff {
        organization_id: i64,
    },
    ReferentDepartment {
        department_code: String,
    },
    /// `departments` are the codes of the region's departments.
    ReferentRegion {
        region: String,
        departments: Vec<&'static str>,
    },
    Analyst,
    Admin,
}

/// The kind of an [`Access`], for rules that depend on the kind only (which fields a kind of
/// viewer may read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Anonymous,
    Partner,
    Volunteer,
    StructureStaff,
    ReferentDepartment,
    ReferentRegion,
    Analyst,
    Admin,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Anonymous,
        Kind::Partner,
        Kind::Volunteer,
        Kind::StructureStaff,
        Kind::ReferentDepartment,
        Kind::ReferentRegion,
        Kind::Analyst,
        Kind::Admin,
    ];

    /// SCREAMING_SNAKE_CASE, as the API and the docs name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Anonymous => "ANONYMOUS",
            Kind::Partner => "PARTNER",
            Kind::Volunteer => "VOLUNTEER",
            Kind::StructureStaff => "STRUCTURE_STAFF",
            Kind::ReferentDepartment => "REFERENT_DEPARTMENT",
            Kind::ReferentRegion => "REFERENT_REGION",
            Kind::Analyst => "ANALYST",
            Kind::Admin => "ADMIN",
        }
    }
}

/// Why a user's row cannot become an access: its scope does not fit its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeMismatch(pub String);

impl std::fmt::Display for ScopeMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Role {
    /// The scope option a role needs (`--volunteer`, `--organization`, …), if any: the one
    /// place that pairs roles with scopes, for the CLI and for [`Access::of_user`].
    pub fn scope_option(self) -> Option<&'static str> {
        match self {
            Role::Volunteer => Some("--volunteer"),
            Role::StructureStaff => Some("--organization"),
            Role::ReferentDepartment => Some("--department"),
            Role::ReferentRegion => Some("--region"),
            Role::PartnerStaff => Some("--publisher"),
            Role::Analyst | Role::Admin => None,
        }
    }
}

impl Access {
    /// The access of a user's row. `diffusion` is the rules of the user's publisher, for
    /// PARTNER_STAFF.
    ///
    /// # Errors
    /// The row lacks the scope its role needs.
    pub fn of_user(u: &user::Model, diffusion: Diffusion) -> Result<Access, ScopeMismatch> {
        let missing = || {
            ScopeMismatch(format!(
                "user {} has role {} without its scope",
                u.id,
                u.role.as_str()
            ))
        };
        Ok(match u.role {
            Role::Volunteer => Access::Volunteer {
                volunteer_id: u.volunteer_id.ok_or_else(missing)?,
            },
            Role::StructureStaff => Access::StructureStaff {
                organization_id: u.organization_id.ok_or_else(missing)?,
            },
            Role::ReferentDepartment => Access::ReferentDepartment {
                department_code: u.department_code.clone().ok_or_else(missing)?,
            },
            Role::ReferentRegion => {
                let region = u.region.clone().ok_or_else(missing)?;
                let departments = geo::departments_of_region(&region);
                if departments.is_empty() {
                    return Err(missing());
                }
                Access::ReferentRegion {
                    region,
                    departments,
                }
            }
            Role::PartnerStaff => Access::Partner {
                publisher_id: u.publisher_id.ok_or_else(missing)?,
                diffusion,
            },
            Role::Analyst => Access::Analyst,
            Role::Admin => Access::Admin,
        })
    }

    pub fn kind(&self) -> Kind {
        match self {
            Access::Anonymous => Kind::Anonymous,
            Access::Partner { .. } => Kind::Partner,
            Access::Volunteer { .. } => Kind::Volunteer,
            Access::StructureStaff { .. } => Kind::StructureStaff,
            Access::ReferentDepartment { .. } => Kind::ReferentDepartment,
            Access::ReferentRegion { .. } => Kind::ReferentRegion,
            Access::Analyst => Kind::Analyst,
            Access::Admin => Kind::Admin,
        }
    }

    /// The departments of a referent's territory.
    fn territory(&self) -> Option<Vec<String>> {
        match self {
            Access::ReferentDepartment { department_code } => Some(vec![department_code.clone()]),
            Access::ReferentRegion { departments, .. } => {
                Some(departments.iter().map(|d| (*d).to_owned()).collect())
            }
            _ => None,
        }
    }

    /// Missions with a status in `statuses` that the viewer may read. Soft-deleted missions
    /// are read by nobody.
    ///
    /// Validated missions are public (a partner's narrowed by its diffusion rules); missions in
    /// other statuses only to those who manage them (see [`Access::managed_missions`]). Asked
    /// for VALIDATED only, the condition starts with [`mission::is_public`], which the partial
    /// indexes are made for.
    pub fn missions(&self, statuses: StatusSet) -> Option<Condition> {
        let public = statuses.contains(MissionStatus::Validated).then(|| {
            let c = mission::is_public();
            match self {
                Access::Partner {
                    publisher_id,
                    diffusion,
                } => c.add(
                    Condition::any()
                        .add(mission::Column::PublisherId.eq(*publisher_id))
                        .add_option(diffusion.condition()),
                ),
                _ => c,
            }
        });
        let others = statuses.without(MissionStatus::Validated);
        let managed = self
            .managed_missions()
            .filter(|_| !others.is_empty())
            .map(|m| {
                Condition::all()
                    .add(mission::Column::DeletedAt.is_null())
                    .add(mission::Column::Status.is_in(others.iter()))
                    // Redundant with the list, but it names the predicate of the indexes of
                    // non-public missions (migration 8), which SQLite uses only then; a literal,
                    // as in `mission::is_public`.
                    .add(
                        Expr::col((mission::Entity, mission::Column::Status))
                            .ne(Expr::cust("'VALIDATED'")),
                    )
                    .add(m)
            });
        match (public, managed) {
            (Some(p), Some(m)) => Some(Condition::any().add(p).add(m)),
            (p, m) => p.or(m),
        }
    }

    /// The missions the viewer manages, whatever their status: a partner's own, a structure's,
    /// those with an address in a referent's territory, every one for an admin.
    fn managed_missions(&self) -> Option<Condition> {
        match self {
            Access::Partner { publisher_id, .. } => {
                Some(Condition::all().add(mission::Column::PublisherId.eq(*publisher_id)))
            }
            Access::StructureStaff { organization_id } => {
                Some(Condition::all().add(mission::Column::OrganizationId.eq(*organization_id)))
            }
            Access::ReferentDepartment { .. } | Access::ReferentRegion { .. } => {
                let departments = self.territory().unwrap_or_default();
                Some(
                    Condition::all()
                        .add(mission::Column::Id.in_subquery(missions_in_departments(departments))),
                )
            }
            Access::Admin => Some(Condition::all()),
            Access::Anonymous | Access::Volunteer { .. } | Access::Analyst => None,
        }
    }

    /// Whether the viewer manages a mission: what reading its moderation comment needs.
    /// `departments` are the department codes of the mission's addresses.
    pub fn manages_mission(
        &self,
        publisher_id: i64,
        organization_id: Option<i64>,
        departments: &[String],
    ) -> bool {
        match self {
            Access::Partner {
                publisher_id: own, ..
            } => *own == publisher_id,
            Access::StructureStaff {
                organization_id: own,
            } => Some(*own) == organization_id,
            Access::ReferentDepartment { .. } | Access::ReferentRegion { .. } => {
                let territory = self.territory().unwrap_or_default();
                departments.iter().any(|d| territory.contains(d))
            }
            Access::Admin => true,
            Access::Anonymous | Access::Volunteer { .. } | Access::Analyst => false,
        }
    }

    /// Whether a department is in a referent's territory (false for every other access).
    pub fn in_territory(&self, department_code: &str) -> bool {
        self.territory()
            .is_some_and(|t| t.iter().any(|d| d == department_code))
    }

    /// Whether the mission's addresses matter to [`Access::manages_mission`].
    pub fn manages_by_territory(&self) -> bool {
        matches!(
            self,
            Access::ReferentDepartment { .. } | Access::ReferentRegion { .. }
        )
    }

    /// Volunteers the viewer may read: their own record, the applicants to their
    /// organization's missions, their territory's, or all of them.
    pub fn volunteers(&self) -> Option<Condition> {
        let c = Condition::all();
        match self {
            Access::Volunteer { volunteer_id } => {
                Some(c.add(volunteer::Column::Id.eq(*volunteer_id)))
            }
            Access::StructureStaff { organization_id } => {
                let applicants = Query::select()
                    .column(application::Column::VolunteerId)
                    .from(application::Entity)
                    .and_where(
                        application::Column::MissionId
                            .in_subquery(missions_of_organization(*organization_id)),
                    )
                    .to_owned();
                Some(c.add(volunteer::Column::Id.in_subquery(applicants)))
            }
            Access::ReferentDepartment { .. } | Access::ReferentRegion { .. } => Some(c.add(
                volunteer::Column::DepartmentCode.is_in(self.territory().unwrap_or_default()),
            )),
            Access::Admin => Some(c),
            Access::Anonymous | Access::Partner { .. } | Access::Analyst => None,
        }
    }

    /// Applications the viewer may read: their own, those to their organization's missions,
    /// those of their territory's volunteers, or all of them.
    pub fn applications(&self) -> Option<Condition> {
        let c = Condition::all();
        match self {
            Access::Volunteer { volunteer_id } => {
                Some(c.add(application::Column::VolunteerId.eq(*volunteer_id)))
            }
            Access::StructureStaff { organization_id } => Some(
                c.add(
                    application::Column::MissionId
                        .in_subquery(missions_of_organization(*organization_id)),
                ),
            ),
            Access::ReferentDepartment { .. } | Access::ReferentRegion { .. } => {
                let volunteers = Query::select()
                    .column(volunteer::Column::Id)
                    .from(volunteer::Entity)
                    .and_where(
                        volunteer::Column::DepartmentCode
                            .is_in(self.territory().unwrap_or_default()),
                    )
                    .to_owned();
                Some(c.add(application::Column::VolunteerId.in_subquery(volunteers)))
            }
            Access::Admin => Some(c),
            Access::Anonymous | Access::Partner { .. } | Access::Analyst => None,
        }
    }

    /// Aggregates over volunteers and applications: analysts, referents (over their
    /// territory) and admins. `None`: no aggregate at all.
    pub fn aggregated_volunteers(&self) -> Option<Condition> {
        match self {
            Access::Analyst => Some(Condition::all()),
            Access::ReferentDepartment { .. } | Access::ReferentRegion { .. } | Access::Admin => {
                self.volunteers()
            }
            _ => None,
        }
    }

    /// Import runs: a partner's own, or all of them for an admin.
    pub fn import_runs(&self) -> Option<Condition> {
        self.own_publisher_rows(import_run::Column::PublisherId)
    }

    /// API keys (never the key itself): a partner's own, or all of them for an admin.
    pub fn api_keys(&self) -> Option<Condition> {
        self.own_publisher_rows(api_key::Column::PublisherId)
    }

    /// Diffusion rules: a partner's own, or all of them for an admin.
    pub fn diffusion_rules(&self) -> Option<Condition> {
        self.own_publisher_rows(diffusion_rule::Column::DiffuseurId)
    }

    /// Webhooks: a partner's own, or all of them for an admin.
    pub fn webhooks(&self) -> Option<Condition> {
        self.own_publisher_rows(crate::webhook::Column::PublisherId)
    }

    /// Whether the viewer may read a publisher's private side (keys, rules, import runs).
    pub fn manages_publisher(&self, publisher_id: i64) -> bool {
        match self {
            Access::Partner {
                publisher_id: own, ..
            } => *own == publisher_id,
            Access::Admin => true,
            _ => false,
        }
    }

    /// Feed settings and the audit log: admins only.
    pub fn is_admin(&self) -> bool {
        matches!(self, Access::Admin)
    }

    fn own_publisher_rows(&self, column: impl ColumnTrait) -> Option<Condition> {
        match self {
            Access::Partner { publisher_id, .. } => {
                Some(Condition::all().add(column.eq(*publisher_id)))
            }
            Access::Admin => Some(Condition::all()),
            _ => None,
        }
    }
}

fn missions_of_organization(organization_id: i64) -> SelectStatement {
    Query::select()
        .column(mission::Column::Id)
        .from(mission::Entity)
        .and_where(mission::Column::OrganizationId.eq(organization_id))
        .to_owned()
}

fn missions_in_departments(departments: Vec<String>) -> SelectStatement {
    let addresses = Alias::new("mission_addresses");
    Query::select()
        .column((addresses.clone(), Alias::new("mission_id")))
        .from(addresses.clone())
        .and_where(Expr::col((addresses, Alias::new("department_code"))).is_in(departments))
        .to_owned()
}

/// A set of mission statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StatusSet(u8);

impl StatusSet {
    /// VALIDATED only: what lists show unless asked otherwise.
    pub const VALIDATED: StatusSet = StatusSet(1 << 3);

    /// Every status (for lookups by id).
    pub fn all() -> StatusSet {
        MissionStatus::ALL.iter().copied().collect()
    }

    fn bit(status: MissionStatus) -> u8 {
        let index = MissionStatus::ALL
            .iter()
            .position(|s| *s == status)
            .unwrap_or_default();
        1 << index
    }

    pub fn contains(self, status: MissionStatus) -> bool {
        self.0 & Self::bit(status) != 0
    }

    pub fn without(self, status: MissionStatus) -> StatusSet {
        StatusSet(self.0 & !Self::bit(status))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = MissionStatus> {
        MissionStatus::ALL
            .iter()
            .copied()
            .filter(move |s| self.contains(*s))
    }
}

impl FromIterator<MissionStatus> for StatusSet {
    fn from_iter<I: IntoIterator<Item = MissionStatus>>(iter: I) -> Self {
        StatusSet(iter.into_iter().fold(0, |acc, s| acc | Self::bit(s)))
    }
}

/// What a diffuseur's key sees of other publishers' missions (API Engagement's semantics): the
/// missions of the annonceurs it has chosen (an allowlist), narrowed by rules on organization,
/// type, domain, department and organization network. Its own missions are always in view.
///
/// Rules on one field combine: the mission must match one of the field's INCLUDE values (when
/// the field has any) and none of its EXCLUDE values. Fields combine with AND. Without any
/// INCLUDE rule on ANNONCEUR, a diffuseur sees no other publisher's mission.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diffusion {
    rules: Vec<(DiffusionField, DiffusionOperator, String)>,
}

impl Diffusion {
    pub fn new(rules: impl IntoIterator<Item = diffusion_rule::Model>) -> Diffusion {
        Diffusion {
            rules: rules
                .into_iter()
                .map(|r| (r.field, r.operator, r.value))
                .collect(),
        }
    }

    /// The rules, in the order given.
    pub fn rules(&self) -> &[(DiffusionField, DiffusionOperator, String)] {
        &self.rules
    }

    fn values(&self, field: DiffusionField, op: DiffusionOperator) -> Vec<String> {
        self.rules
            .iter()
            .filter(|(f, o, _)| *f == field && *o == op)
            .map(|(_, _, v)| v.clone())
            .collect()
    }

    fn ids(&self, field: DiffusionField, op: DiffusionOperator) -> Vec<i64> {
        self.values(field, op)
            .iter()
            .filter_map(|v| v.parse().ok())
            .collect()
    }

    /// The other publishers' public missions this diffuseur may show; `None` when it has
    /// chosen no annonceur.
    pub fn condition(&self) -> Option<Condition> {
        use DiffusionField as F;
        use DiffusionOperator::{Exclude, Include};
        let annonceurs = self.ids(F::Annonceur, Include);
        if annonceurs.is_empty() {
            return None;
        }
        let mut c = Condition::all().add(mission::Column::PublisherId.is_in(annonceurs));
        let excluded = self.ids(F::Annonceur, Exclude);
        if !excluded.is_empty() {
            c = c.add(mission::Column::PublisherId.is_not_in(excluded));
        }
        let included = self.ids(F::Organization, Include);
        if !included.is_empty() {
            c = c.add(mission::Column::OrganizationId.is_in(included));
        }
        let excluded = self.ids(F::Organization, Exclude);
        if !excluded.is_empty() {
            c = c.add(
                Condition::any()
                    .add(mission::Column::OrganizationId.is_null())
                    .add(mission::Column::OrganizationId.is_not_in(excluded)),
            );
        }
        for (field, column) in [
            (F::MissionType, mission::Column::MissionType),
            (F::Domain, mission::Column::Domain),
        ] {
            let included = self.values(field, Include);
            if !included.is_empty() {
                c = c.add(column.is_in(included));
            }
            let excluded = self.values(field, Exclude);
            if !excluded.is_empty() {
                c = c.add(column.is_not_in(excluded));
            }
        }
        let included = self.values(F::Department, Include);
        if !included.is_empty() {
            c = c.add(mission::Column::Id.in_subquery(missions_in_departments(included)));
        }
        let excluded = self.values(F::Department, Exclude);
        if !excluded.is_empty() {
            c = c.add(mission::Column::Id.not_in_subquery(missions_in_departments(excluded)));
        }
        let networks = |names: Vec<String>| {
            let organizations = Alias::new("organizations");
            Query::select()
                .column((organizations.clone(), Alias::new("id")))
                .from(organizations.clone())
                .and_where(Expr::col((organizations, Alias::new("parent_network"))).is_in(names))
                .to_owned()
        };
        let included = self.values(F::Network, Include);
        if !included.is_empty() {
            c = c.add(mission::Column::OrganizationId.in_subquery(networks(included)));
        }
        let excluded = self.values(F::Network, Exclude);
        if !excluded.is_empty() {
            c = c.add(
                Condition::any()
                    .add(mission::Column::OrganizationId.is_null())
                    .add(mission::Column::OrganizationId.not_in_subquery(networks(excluded))),
            );
        }
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{PostgresQueryBuilder, Query};

    fn sql(c: Option<Condition>) -> String {
        match c {
            None => "NONE".to_owned(),
            Some(c) => Query::select()
                .column(mission::Column::Id)
                .from(mission::Entity)
                .cond_where(c)
                .to_string(PostgresQueryBuilder),
        }
    }

    #[test]
    fn validated_missions_alone_keep_the_literal_the_partial_indexes_need() {
        let got = sql(Access::Anonymous.missions(StatusSet::VALIDATED));
        assert!(got.contains("'VALIDATED'"), "{got}");
        assert!(!got.contains(" OR "), "{got}");
    }

    #[test]
    fn statuses_other_than_validated_are_read_only_by_those_who_manage_the_mission() {
        let drafts: StatusSet = [MissionStatus::Draft].into_iter().collect();
        assert_eq!(sql(Access::Anonymous.missions(drafts)), "NONE");
        assert_eq!(sql(Access::Analyst.missions(drafts)), "NONE");
        let staff = sql(Access::StructureStaff { organization_id: 7 }.missions(drafts));
        assert!(staff.contains("\"organization_id\" = 7"), "{staff}");
        assert!(staff.contains("\"deleted_at\" IS NULL"), "{staff}");
        // No public branch; the term the indexes of non-public missions are made for.
        assert!(!staff.contains("= ('VALIDATED')"), "{staff}");
        assert!(staff.contains("\"status\" <> ('VALIDATED')"), "{staff}");
    }

    #[test]
    fn a_diffuseur_without_annonceurs_sees_only_its_own_missions() {
        let partner = Access::Partner {
            publisher_id: 3,
            diffusion: Diffusion::default(),
        };
        let got = sql(partner.missions(StatusSet::VALIDATED));
        assert!(got.contains("\"publisher_id\" = 3"), "{got}");
        assert!(!got.contains("IN ("), "{got}");
    }

    #[test]
    fn diffusion_rules_combine_includes_by_field_and_excludes_all() {
        let rule = |field, operator, value: &str| diffusion_rule::Model {
            id: 0,
            diffuseur_id: 1,
            field,
            operator,
            value: value.to_owned(),
            created_at: Default::default(),
        };
        use DiffusionField as F;
        use DiffusionOperator::{Exclude, Include};
        let d = Diffusion::new([
            rule(F::Annonceur, Include, "2"),
            rule(F::Annonceur, Include, "4"),
            rule(F::Organization, Exclude, "9"),
            rule(F::MissionType, Include, "benevolat"),
            rule(F::Department, Include, "69"),
        ]);
        let got = sql(d.condition());
        assert!(got.contains("\"publisher_id\" IN (2, 4)"), "{got}");
        assert!(got.contains("\"organization_id\" NOT IN (9)"), "{got}");
        assert!(got.contains("\"mission_type\" IN ('benevolat')"), "{got}");
        assert!(got.contains("\"department_code\" IN ('69')"), "{got}");
    }

    #[test]
    fn status_sets_hold_what_they_are_made_of() {
        let s: StatusSet = [MissionStatus::Draft, MissionStatus::Validated]
            .into_iter()
            .collect();
        assert!(s.contains(MissionStatus::Draft) && s.contains(MissionStatus::Validated));
        assert!(!s.contains(MissionStatus::Refused));
        assert_eq!(s.without(MissionStatus::Validated).iter().count(), 1);
        assert!(StatusSet::VALIDATED.contains(MissionStatus::Validated));
        assert_eq!(StatusSet::all().iter().count(), MissionStatus::ALL.len());
    }
}
