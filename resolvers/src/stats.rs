//! `volunteerStats` and `applicationStats`: counts over volunteers and applications, for
//! analysts (never a row of personal data), referents (over their territory) and admins.
//!
//! For analysts, a count below the configured minimum is left out (a bucket) or null (the total),
//! so that a narrow filter cannot single out a young person.
use async_graphql::{Context, Object};
use passerelle_entities::{ApplicationStatus, Domain, application, mission, volunteer};
use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Order, Query, SelectStatement};
use sea_orm::{Condition, ConnectionTrait, DatabaseConnection, FromQueryResult};

use crate::enums::{self, graphql_name};
use crate::error::ApiResult;
use crate::mission::FacetCount;
use crate::volunteer::VolunteerFilter;
use crate::{db, scope};

/// Settings of the aggregates.
#[derive(Debug, Clone, Copy)]
pub struct StatsSettings {
    /// The smallest count shown to analysts.
    pub analyst_min_count: i64,
}

impl Default for StatsSettings {
    fn default() -> Self {
        StatsSettings {
            analyst_min_count: 5,
        }
    }
}

/// The smallest count the viewer of the request may see.
fn min_count(ctx: &Context<'_>) -> i64 {
    match scope::access(ctx).kind() {
        passerelle_entities::access::Kind::Analyst => {
            ctx.data_opt::<StatsSettings>()
                .copied()
                .unwrap_or_default()
                .analyst_min_count
        }
        _ => 1,
    }
}

#[derive(FromQueryResult)]
struct Bucket {
    value: Option<String>,
    n: i64,
}

/// A statement over applications joined to their volunteers (and missions when asked), for the
/// volunteers of `volunteers`.
fn applications_of(volunteers: &Condition, with_missions: bool) -> SelectStatement {
    let mut q = Query::select();
    q.from(application::Entity)
        .inner_join(
            volunteer::Entity,
            Expr::col((volunteer::Entity, volunteer::Column::Id))
                .equals((application::Entity, application::Column::VolunteerId)),
        )
        .cond_where(volunteers.clone());
    if with_missions {
        q.inner_join(
            mission::Entity,
            Expr::col((mission::Entity, mission::Column::Id))
                .equals((application::Entity, application::Column::MissionId)),
        );
    }
    q
}

async fn buckets(
    db: &DatabaseConnection,
    mut q: SelectStatement,
    by: Expr,
    min: i64,
) -> ApiResult<Vec<(String, i64)>> {
    q.expr_as(by.clone(), Alias::new("value"))
        .expr_as(Expr::col(Asterisk).count(), Alias::new("n"))
        .add_group_by([by])
        .order_by_expr(Expr::col(Alias::new("n")), Order::Desc)
        .order_by_expr(Expr::col(Alias::new("value")), Order::Asc);
    let rows = Bucket::find_by_statement(db.get_database_backend().build(&q))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|b| b.n >= min)
        .filter_map(|b| b.value.map(|v| (v, b.n)))
        .collect())
}

async fn total(
    db: &DatabaseConnection,
    mut q: SelectStatement,
    min: i64,
) -> ApiResult<Option<i64>> {
    q.expr_as(Expr::col(Asterisk).count(), Alias::new("n"));
    let n = match db.query_one(&q).await? {
        Some(row) => row.try_get::<i64>("", "n")?,
        None => 0,
    };
    Ok((n >= min).then_some(n))
}

fn plain(rows: Vec<(String, i64)>) -> Vec<FacetCount> {
    rows.into_iter()
        .map(|(value, count)| FacetCount { value, count })
        .collect()
}

/// Counts over the volunteers of a filter. Each list is computed only when asked for.
pub struct VolunteerStats {
    /// The volunteers counted: the filter within the viewer's reach.
    volunteers: Condition,
}

impl VolunteerStats {
    fn select(&self) -> SelectStatement {
        Query::select()
            .from(volunteer::Entity)
            .cond_where(self.volunteers.clone())
            .to_owned()
    }

    async fn by(&self, ctx: &Context<'_>, column: volunteer::Column) -> ApiResult<Vec<FacetCount>> {
        let rows = buckets(
            db(ctx)?,
            self.select(),
            Expr::col((volunteer::Entity, column)),
            min_count(ctx),
        )
        .await?;
        Ok(plain(rows))
    }
}

/// Counts over the volunteers of a filter, most frequent first. For analysts, counts below
/// `minimumCount` are left out (null for the total).
#[Object]
impl VolunteerStats {
    async fn count(&self, ctx: &Context<'_>) -> ApiResult<Option<i64>> {
        total(db(ctx)?, self.select(), min_count(ctx)).await
    }
    async fn by_department(&self, ctx: &Context<'_>) -> ApiResult<Vec<FacetCount>> {
        self.by(ctx, volunteer::Column::DepartmentCode).await
    }
    async fn by_region(&self, ctx: &Context<'_>) -> ApiResult<Vec<FacetCount>> {
        self.by(ctx, volunteer::Column::Region).await
    }
    async fn by_cohort(&self, ctx: &Context<'_>) -> ApiResult<Vec<FacetCount>> {
        self.by(ctx, volunteer::Column::Cohort).await
    }
    async fn by_phase1_status(&self, ctx: &Context<'_>) -> ApiResult<Vec<FacetCount>> {
        self.by(ctx, volunteer::Column::Phase1Status).await
    }
    async fn by_phase2_status(&self, ctx: &Context<'_>) -> ApiResult<Vec<FacetCount>> {
        self.by(ctx, volunteer::Column::Phase2Status).await
    }
    async fn by_phase3_status(&self, ctx: &Context<'_>) -> ApiResult<Vec<FacetCount>> {
        self.by(ctx, volunteer::Column::Phase3Status).await
    }
    /// The smallest count shown: the configured minimum for analysts, 1 for others.
    async fn minimum_count(&self, ctx: &Context<'_>) -> i64 {
        min_count(ctx)
    }
}

/// Counts over the applications of the volunteers of a filter. Each list is computed only when
/// asked for.
pub struct ApplicationStats {
    volunteers: Condition,
}

/// Counts over the applications of the volunteers of a filter, most frequent first. For
/// analysts, counts below `minimumCount` are left out (null for the total).
#[Object]
impl ApplicationStats {
    async fn count(&self, ctx: &Context<'_>) -> ApiResult<Option<i64>> {
        total(
            db(ctx)?,
            applications_of(&self.volunteers, false),
            min_count(ctx),
        )
        .await
    }
    /// By application status (`WAITING_VALIDATION`, `DONE`, …).
    async fn by_status(&self, ctx: &Context<'_>) -> ApiResult<Vec<FacetCount>> {
        let rows = buckets(
            db(ctx)?,
            applications_of(&self.volunteers, false),
            Expr::col((application::Entity, application::Column::Status)),
            min_count(ctx),
        )
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(v, count)| {
                ApplicationStatus::from_stored(&v).map(|s| FacetCount {
                    value: graphql_name(&enums::ApplicationStatus::from(s)),
                    count,
                })
            })
            .collect())
    }
    /// By the volunteer's department.
    async fn by_department(&self, ctx: &Context<'_>) -> ApiResult<Vec<FacetCount>> {
        let rows = buckets(
            db(ctx)?,
            applications_of(&self.volunteers, false),
            Expr::col((volunteer::Entity, volunteer::Column::DepartmentCode)),
            min_count(ctx),
        )
        .await?;
        Ok(plain(rows))
    }
    /// By the mission's domain (`SPORT`, `ENVIRONNEMENT`, …).
    async fn by_mission_domain(&self, ctx: &Context<'_>) -> ApiResult<Vec<FacetCount>> {
        let rows = buckets(
            db(ctx)?,
            applications_of(&self.volunteers, true),
            Expr::col((mission::Entity, mission::Column::Domain)),
            min_count(ctx),
        )
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(v, count)| {
                Domain::from_stored(&v).map(|d| FacetCount {
                    value: graphql_name(&enums::Domain::from(d)),
                    count,
                })
            })
            .collect())
    }
    /// The smallest count shown: the configured minimum for analysts, 1 for others.
    async fn minimum_count(&self, ctx: &Context<'_>) -> i64 {
        min_count(ctx)
    }
}

/// The aggregate queries.
#[derive(Default)]
pub struct StatsQuery;

#[Object]
impl StatsQuery {
    /// Counts over volunteers: for analysts over all of them, for referents over their
    /// territory's, for admins over all. `FORBIDDEN` for other callers.
    async fn volunteer_stats(
        &self,
        ctx: &Context<'_>,
        filter: Option<VolunteerFilter>,
    ) -> ApiResult<Option<VolunteerStats>> {
        Ok(reach(ctx, filter)?.map(|volunteers| VolunteerStats { volunteers }))
    }

    /// Counts over the applications of volunteers, as `volunteerStats` counts volunteers.
    async fn application_stats(
        &self,
        ctx: &Context<'_>,
        filter: Option<VolunteerFilter>,
    ) -> ApiResult<Option<ApplicationStats>> {
        Ok(reach(ctx, filter)?.map(|volunteers| ApplicationStats { volunteers }))
    }
}

/// The volunteers a viewer may aggregate over, narrowed by a filter.
fn reach(ctx: &Context<'_>, filter: Option<VolunteerFilter>) -> ApiResult<Option<Condition>> {
    let filter = filter.unwrap_or_default().condition()?;
    Ok(scope::access(ctx)
        .aggregated_volunteers()
        .map(|c| c.add(filter)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::ColumnTrait;
    use sea_orm::sea_query::SqliteQueryBuilder;

    #[test]
    fn application_counts_join_only_what_they_group_by() {
        let c = Condition::all().add(volunteer::Column::DepartmentCode.eq("69"));
        let sql = applications_of(&c, false).to_string(SqliteQueryBuilder);
        assert!(sql.contains("JOIN \"volunteers\""), "{sql}");
        assert!(!sql.contains("\"missions\""), "{sql}");
        let sql = applications_of(&c, true).to_string(SqliteQueryBuilder);
        assert!(sql.contains("JOIN \"missions\""), "{sql}");
    }
}
