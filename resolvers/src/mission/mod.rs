//! Missions: the type, the filter and order of `missions`, the connection with facets.
mod filter;
mod query;
mod search;
mod types;

pub use crate::filter::parse_id;
pub use filter::{GeoRadius, MissionFilter, MissionOrder, MissionOrderField};
pub use query::{FacetCount, MissionConnection, MissionFacets, MissionQuery};
pub use search::status_set;
pub(crate) use types::ORGANIZATION_MISSIONS;
pub use types::{Address, Mission, OrganizationMissionConnection};
