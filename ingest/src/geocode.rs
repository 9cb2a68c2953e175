//! Coordinates for addresses that arrive without them.
//!
//! Two sources, best first:
//! - a geocoder with the interface of the French address API (`POST {base}/search/csv`, as
//!   served by the Géoplateforme at `https://data.geopf.fr/geocodage` and by `addok`), asked
//!   after an import for the addresses it wrote without coordinates, a batch at a time;
//! - offline, the centroid of the commune (by postal code and name) from a table shipped with
//!   Passerelle (`ingest/data/communes.csv`, see `ingest/data/README.md`), applied while
//!   importing so that a mission is placed, roughly, from the moment it is visible.
//!
//! Each address records where its coordinates came from (`GeoSource`).
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use passerelle_entities::{GeoSource, mission, mission_address, search};
use reqwest::Url;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, JoinType, QueryFilter,
    QuerySelect, RelationTrait, TransactionTrait,
};

/// Communes by postal code: (folded name, lat, lon).
pub struct Centroids {
    by_postal_code: HashMap<String, Vec<(String, f64, f64)>>,
    by_name: HashMap<String, Vec<(f64, f64)>>,
}

static TABLE: &str = include_str!("../data/communes.csv");

/// The shipped centroid table, read on first use.
pub fn centroids() -> &'static Centroids {
    static CENTROIDS: OnceLock<Centroids> = OnceLock::new();
    CENTROIDS.get_or_init(|| Centroids::parse(TABLE))
}

/// A commune name as the table is searched: folded, "Saint" and "St" alike, without elided
/// articles ("L'", "D'"), "Cedex" or numbers.
fn name_key(name: &str) -> String {
    search::tokens(name)
        .into_iter()
        .map(|t| match t.as_str() {
            "st" => "saint".to_owned(),
            "ste" => "sainte".to_owned(),
            _ => t,
        })
        .filter(|t| t.len() > 1 && t != "cedex")
        .filter(|t| !t.chars().all(|c| c.is_ascii_digit()))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Centroids {
    fn parse(text: &str) -> Centroids {
        let mut by_postal_code: HashMap<String, Vec<(String, f64, f64)>> = HashMap::new();
        let mut by_name: HashMap<String, Vec<(f64, f64)>> = HashMap::new();
        for line in text.lines().skip(1) {
            let mut fields = line.split(',');
            let (Some(postal), Some(_insee), Some(name), Some(lat), Some(lon)) = (
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
            ) else {
                continue;
            };
            let (Ok(lat), Ok(lon)) = (lat.parse::<f64>(), lon.parse::<f64>()) else {
                continue;
            };
            let key = name_key(name);
            by_postal_code
                .entry(postal.to_owned())
                .or_default()
                .push((key.clone(), lat, lon));
            let same = by_name.entry(key).or_default();
            if !same.contains(&(lat, lon)) {
                same.push((lat, lon));
            }
        }
        // Paris, Lyon and Marseille: a postal code names an arrondissement more precisely
        // than the whole city, whose row the table also holds.
        for communes in by_postal_code.values_mut() {
            if communes
                .iter()
                .any(|(name, ..)| name.contains("arrondissement"))
            {
                communes.retain(|(name, ..)| name.contains("arrondissement"));
            }
        }
        Centroids {
            by_postal_code,
            by_name,
        }
    }

    /// Number of (postal code, commune) rows.
    pub fn len(&self) -> usize {
        self.by_postal_code.values().map(Vec::len).sum()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The centroid of the commune at `postal_code` named `city`: the commune of that name
    /// under that postal code, else the postal code's only commune (or its first, when the
    /// city is not given), else the only commune in France with that name.
    pub fn locate(&self, postal_code: Option<&str>, city: Option<&str>) -> Option<(f64, f64)> {
        let city = city.map(name_key).filter(|c| !c.is_empty());
        let postal = postal_code.map(str::trim).filter(|p| !p.is_empty());
        if let Some(communes) = postal.and_then(|p| self.by_postal_code.get(p)) {
            if let Some(city) = &city
                && let Some((_, lat, lon)) =
                    communes.iter().find(|(name, ..)| name == city).or_else(|| {
                        communes
                            .iter()
                            .find(|(name, ..)| city.starts_with(name.as_str()))
                    })
            {
                return Some((*lat, *lon));
            }
            if communes.len() == 1 || city.is_none() {
                return communes.first().map(|(_, lat, lon)| (*lat, *lon));
            }
        }
        match city.and_then(|c| self.by_name.get(&c)) {
            Some(places) if places.len() == 1 => places.first().copied(),
            _ => None,
        }
    }
}

/// An address still to geocode: id, street, postal code, city.
type Pending = (i64, Option<String>, Option<String>, Option<String>);

/// Why the geocoder could not be used. Addresses keep their fallback coordinates.
#[derive(Debug, thiserror::Error)]
pub enum GeocodeError {
    #[error("invalid geocoder URL: {0}")]
    InvalidUrl(String),
    #[error("the geocoder answered HTTP {0}")]
    Status(u16),
    #[error("cannot reach the geocoder: {0}")]
    Network(String),
    #[error("the geocoder's answer is not the expected CSV: {0}")]
    Answer(String),
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

/// An address to geocode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressQuery {
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
}

/// A geocoder answer kept: coordinates and the geocoder's confidence (0 to 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Located {
    pub lat: f64,
    pub lon: f64,
    pub score: f64,
}

/// A client of a geocoder with the French address API's batch interface.
#[derive(Debug, Clone)]
pub struct Geocoder {
    endpoint: Url,
    client: reqwest::Client,
    /// Addresses per request.
    pub batch_size: usize,
    /// Answers below this score are not kept.
    pub min_score: f64,
    /// Further attempts after a network error, a 5xx or a 429 answer.
    pub retries: u32,
    /// Wait before the first retry, doubled before each next one (a 429's Retry-After wins).
    pub backoff: Duration,
}

/// What a geocoding pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GeocodeReport {
    /// Addresses sent to the geocoder.
    pub asked: u64,
    /// Addresses it placed (now `GEOCODER`).
    pub found: u64,
}

impl Geocoder {
    /// A geocoder at `base_url` (for example `https://data.geopf.fr/geocodage`).
    ///
    /// # Errors
    /// The URL is not an http(s) URL.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Geocoder, GeocodeError> {
        let base = Url::parse(base_url.trim_end_matches('/'))
            .map_err(|e| GeocodeError::InvalidUrl(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(GeocodeError::InvalidUrl(
                "the scheme must be http or https".to_owned(),
            ));
        }
        let endpoint = Url::parse(&format!(
            "{}/search/csv",
            base.as_str().trim_end_matches('/')
        ))
        .map_err(|e| GeocodeError::InvalidUrl(e.to_string()))?;
        crate::install_tls_provider();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!(
                "Passerelle/",
                env!("CARGO_PKG_VERSION"),
                " geocoding"
            ))
            .build()
            .map_err(|e| GeocodeError::Network(e.without_url().to_string()))?;
        Ok(Geocoder {
            endpoint,
            client,
            batch_size: 1_000,
            min_score: 0.5,
            retries: 3,
            backoff: Duration::from_secs(1),
        })
    }

    /// Geocodes `queries` in one request: one answer per query, in the same order.
    ///
    /// # Errors
    /// The geocoder cannot be reached (after retries) or answers something else than its CSV.
    pub async fn locate(
        &self,
        queries: &[AddressQuery],
    ) -> Result<Vec<Option<Located>>, GeocodeError> {
        let mut body = csv::Writer::from_writer(Vec::new());
        let csv_error = |e: csv::Error| GeocodeError::Answer(e.to_string());
        body.write_record(["id", "adresse", "postcode", "city"])
            .map_err(csv_error)?;
        for (i, q) in queries.iter().enumerate() {
            body.write_record([
                i.to_string().as_str(),
                q.street.as_deref().unwrap_or(""),
                q.postal_code.as_deref().unwrap_or(""),
                q.city.as_deref().unwrap_or(""),
            ])
            .map_err(csv_error)?;
        }
        let body = body
            .into_inner()
            .map_err(|e| GeocodeError::Answer(e.to_string()))?;
        let mut attempt = 0;
        let text = loop {
            let form = reqwest::multipart::Form::new()
                .part(
                    "data",
                    reqwest::multipart::Part::bytes(body.clone())
                        .file_name("addresses.csv")
                        .mime_str("text/csv")
                        .map_err(|e| GeocodeError::Answer(e.to_string()))?,
                )
                .text("columns", "adresse")
                .text("columns", "city")
                .text("postcode", "postcode");
            let outcome = match self
                .client
                .post(self.endpoint.clone())
                .multipart(form)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => match r.text().await {
                    Ok(t) => Ok(t),
                    Err(e) => Err((GeocodeError::Network(e.without_url().to_string()), None)),
                },
                Ok(r) => {
                    let wait = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    Err((GeocodeError::Status(r.status().as_u16()), wait))
                }
                Err(e) => Err((GeocodeError::Network(e.without_url().to_string()), None)),
            };
            match outcome {
                Ok(text) => break text,
                Err((e, wait)) => {
                    let transient = match &e {
                        GeocodeError::Status(code) => *code >= 500 || *code == 429,
                        _ => true,
                    };
                    if !transient || attempt >= self.retries {
                        return Err(e);
                    }
                    let wait = wait
                        .unwrap_or_else(|| self.backoff.saturating_mul(1 << attempt.min(16)))
                        .min(Duration::from_secs(60));
                    tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "geocoder failed; retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        };
        self.read_answer(&text, queries.len())
    }

    fn read_answer(&self, text: &str, n: usize) -> Result<Vec<Option<Located>>, GeocodeError> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| GeocodeError::Answer(e.to_string()))?
            .clone();
        let column = |name: &str| headers.iter().position(|h| h == name);
        let (Some(id), Some(lat), Some(lon)) =
            (column("id"), column("latitude"), column("longitude"))
        else {
            return Err(GeocodeError::Answer(
                "no id, latitude or longitude column".to_owned(),
            ));
        };
        let score = column("result_score");
        let status = column("result_status");
        let mut answers = vec![None; n];
        for record in reader.records() {
            let record = record.map_err(|e| GeocodeError::Answer(e.to_string()))?;
            let Some(i) = record.get(id).and_then(|v| v.parse::<usize>().ok()) else {
                continue;
            };
            if status
                .and_then(|s| record.get(s))
                .is_some_and(|s| s != "ok")
            {
                continue;
            }
            let number = |c: Option<usize>| {
                c.and_then(|c| record.get(c))
                    .and_then(|v| v.parse::<f64>().ok())
            };
            let (Some(lat), Some(lon)) = (number(Some(lat)), number(Some(lon))) else {
                continue;
            };
            let score = number(score).unwrap_or(1.0);
            if score >= self.min_score
                && (-90.0..=90.0).contains(&lat)
                && (-180.0..=180.0).contains(&lon)
                && let Some(slot) = answers.get_mut(i)
            {
                *slot = Some(Located { lat, lon, score });
            }
        }
        Ok(answers)
    }

    /// Geocodes the addresses of `publisher_id`'s missions written since `since` that have
    /// only a fallback centroid or no coordinates, a batch at a time; each batch's answers are
    /// saved in one transaction.
    ///
    /// # Errors
    /// The geocoder fails after its retries, or the database fails; batches already saved stay.
    pub async fn geocode_written(
        &self,
        db: &DatabaseConnection,
        publisher_id: i64,
        since: DateTime<Utc>,
    ) -> Result<GeocodeReport, GeocodeError> {
        let pending: Vec<Pending> = mission_address::Entity::find()
            .select_only()
            .columns([
                mission_address::Column::Id,
                mission_address::Column::Street,
                mission_address::Column::PostalCode,
                mission_address::Column::City,
            ])
            .join(
                JoinType::InnerJoin,
                mission_address::Relation::Mission.def(),
            )
            .filter(mission::Column::PublisherId.eq(publisher_id))
            .filter(mission::Column::UpdatedAt.gte(since))
            .filter(mission::Column::DeletedAt.is_null())
            .filter(
                mission_address::Column::GeoSource
                    .is_in([GeoSource::Fallback, GeoSource::NotFound]),
            )
            .filter(
                Condition::any()
                    .add(mission_address::Column::PostalCode.is_not_null())
                    .add(mission_address::Column::City.is_not_null()),
            )
            .into_tuple()
            .all(db)
            .await?;
        let mut report = GeocodeReport::default();
        for chunk in pending.chunks(self.batch_size.max(1)) {
            let queries: Vec<AddressQuery> = chunk
                .iter()
                .map(|(_, street, postal_code, city)| AddressQuery {
                    street: street.clone(),
                    postal_code: postal_code.clone(),
                    city: city.clone(),
                })
                .collect();
            let answers = self.locate(&queries).await?;
            report.asked += chunk.len() as u64;
            let txn = db.begin().await?;
            for ((id, ..), answer) in chunk.iter().zip(answers) {
                let Some(found) = answer else { continue };
                mission_address::Entity::update_many()
                    .col_expr(mission_address::Column::Lat, Expr::value(found.lat))
                    .col_expr(mission_address::Column::Lon, Expr::value(found.lon))
                    .col_expr(
                        mission_address::Column::GeoSource,
                        Expr::value(GeoSource::Geocoder.as_str()),
                    )
                    .filter(mission_address::Column::Id.eq(*id))
                    .exec(&txn)
                    .await?;
                report.found += 1;
            }
            txn.commit().await?;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_places_communes_by_postal_code_and_name() {
        let c = centroids();
        assert!(c.len() > 30_000, "{} rows", c.len());
        let (lat, lon) = c.locate(Some("69001"), Some("Lyon")).expect("Lyon 1er");
        assert!(
            (45.7..45.8).contains(&lat) && (4.8..4.9).contains(&lon),
            "{lat},{lon}"
        );
        // A postal code shared by several communes: the name decides.
        let a = c.locate(Some("01400"), Some("Châtillon-sur-Chalaronne"));
        let b = c.locate(Some("01400"), Some("L'Abergement-Clémenciat"));
        assert!(a.is_some() && b.is_some() && a != b, "{a:?} {b:?}");
        // No postal code: a name found once in France is enough.
        assert!(c.locate(None, Some("Ajaccio")).is_some());
        assert_eq!(c.locate(Some("00000"), Some("Nulle Part")), None);
        // An arrondissement's postal code gives the arrondissement, not the whole city.
        let (lat, lon) = c.locate(Some("75007"), Some("Paris")).expect("Paris 7e");
        assert!(
            (48.85..48.87).contains(&lat) && (2.29..2.33).contains(&lon),
            "{lat},{lon}"
        );
        // "St" and "Saint", and "Cedex", are alike.
        assert_eq!(
            c.locate(Some("97400"), Some("St Denis Cedex")),
            c.locate(Some("97400"), Some("Saint-Denis"))
        );
    }

    #[test]
    fn an_answer_below_the_minimum_score_or_not_ok_is_not_kept() {
        let g = Geocoder::new("http://127.0.0.1:9", Duration::from_secs(1)).expect("url");
        let answer = "id,adresse,postcode,city,latitude,longitude,result_score,result_status\n\
                      0,1 rue A,69001,Lyon,45.76,4.83,0.9,ok\n\
                      1,x,00000,y,,,,not-found\n\
                      2,z,75001,Paris,48.86,2.34,0.2,ok\n";
        let got = g.read_answer(answer, 4).expect("csv");
        assert_eq!(
            got[0],
            Some(Located {
                lat: 45.76,
                lon: 4.83,
                score: 0.9
            })
        );
        assert_eq!(got[1..], [None, None, None]);
        assert!(g.read_answer("a,b\n1,2\n", 1).is_err());
    }
}
