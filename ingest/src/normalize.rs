//! From a feed mission to typed values and the reasons it is refused.
//!
//! A mission with violations is still stored (status REFUSED, with the reasons) so that the
//! partner can see and fix it; the rules are `passerelle_entities::rules`, the same for every
//! way missions arrive.
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use passerelle_entities::rules::{MissionCandidate, Violation, validate_mission};
use passerelle_entities::{Domain, MissionType, Remote, geo, search};

use crate::feed::{FeedAddress, FeedMission};

/// An address with coordinates in the right order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Address {
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub department_code: Option<String>,
    pub department_name: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// The feed gave "lat,lon" where "lon,lat" was expected; the order was fixed.
    pub swapped: bool,
}

/// The organization of a mission, with a stable id even when the feed gives none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Organization {
    pub client_id: String,
    pub name: String,
    pub rna: Option<String>,
    pub siren: Option<String>,
    pub url: Option<String>,
    pub logo: Option<String>,
    pub description: Option<String>,
    pub legal_status: Option<String>,
    pub organization_type: Option<String>,
    pub address: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub parent_network: Option<String>,
}

/// A mission read from a feed, typed, with what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Mission {
    pub client_id: String,
    pub title: String,
    pub description: String,
    pub application_url: String,
    pub domain: Option<Domain>,
    pub mission_type: MissionType,
    pub remote: Remote,
    pub posted_at: Option<DateTime<Utc>>,
    pub start_at: Option<DateTime<Utc>>,
    pub end_at: Option<DateTime<Utc>>,
    pub places: Option<i64>,
    pub open_to_minors: bool,
    pub reduced_mobility_accessible: bool,
    pub close_to_transport: bool,
    pub snu: bool,
    pub snu_places: i64,
    pub schedule: Option<String>,
    pub activities: Vec<String>,
    pub tags: Vec<String>,
    pub audience: Vec<String>,
    pub soft_skills: Vec<String>,
    pub requirements: Vec<String>,
    pub addresses: Vec<Address>,
    pub organization: Option<Organization>,
    /// Empty when the mission may be published.
    pub violations: Vec<Violation>,
}

/// The words of a domain, without the little ones: "Mémoire et citoyenneté" and
/// "memoire-et-citoyennete" give the same key.
fn domain_key(text: &str) -> String {
    search::tokens(text)
        .into_iter()
        .filter(|w| !matches!(w.as_str(), "et" | "de" | "la" | "le" | "les" | "des" | "du"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A domain from its slug or its label.
pub fn parse_domain(text: &str) -> Option<Domain> {
    let key = domain_key(text);
    Domain::ALL
        .iter()
        .copied()
        .find(|d| domain_key(d.as_str()) == key)
}

/// `yes`/`no` and their usual spellings; `None` for anything else.
pub fn parse_flag(text: &str) -> Option<bool> {
    match search::fold(text.trim()).as_str() {
        "yes" | "oui" | "true" | "1" | "y" => Some(true),
        "no" | "non" | "false" | "0" | "n" => Some(false),
        _ => None,
    }
}

/// RFC 3339, or a date, or a date and time without zone (taken as UTC).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, format) {
            return Some(d.and_utc());
        }
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

/// Where French addresses are: metropolitan France with Corsica, and the overseas departments.
const FRANCE: &[(f64, f64, f64, f64)] = &[
    (41.2, 51.2, -5.3, 9.7),
    (15.8, 16.6, -61.9, -60.9),
    (14.3, 14.9, -61.3, -60.7),
    (2.0, 6.0, -54.7, -51.5),
    (-21.5, -20.8, 55.1, 55.9),
    (-13.1, -12.5, 44.9, 45.4),
];

fn in_france(lat: f64, lon: f64) -> bool {
    FRANCE
        .iter()
        .any(|&(a, b, c, d)| (a..=b).contains(&lat) && (c..=d).contains(&lon))
}

/// Reads "lon,lat" (the name partners give the field), detecting feeds that send "lat,lon":
/// France's coordinates make the order unambiguous. Returns `(lat, lon, swapped)`.
pub fn parse_lonlat(text: &str) -> Option<(f64, f64, bool)> {
    let mut parts = text.split([',', ' ', ';']).filter(|p| !p.is_empty());
    let a: f64 = parts.next()?.trim().parse().ok()?;
    let b: f64 = parts.next()?.trim().parse().ok()?;
    if parts.next().is_some() || !a.is_finite() || !b.is_finite() {
        return None;
    }
    match (in_france(b, a), in_france(a, b)) {
        (true, _) => Some((b, a, false)),
        (false, true) => Some((a, b, true)),
        // Outside France: trust the name, unless only the other order is on Earth.
        _ if b.abs() > 90.0 && a.abs() <= 90.0 => Some((a, b, true)),
        _ => Some((b, a, false)),
    }
}

fn address(a: &FeedAddress, violations: &mut Vec<Violation>) -> Address {
    let clean = |v: &Option<String>| {
        v.as_ref()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let postal_code = clean(&a.postal_code);
    let department = clean(&a.department_code)
        .as_deref()
        .and_then(geo::department)
        .or_else(|| {
            postal_code
                .as_deref()
                .and_then(geo::department_of_postal_code)
        });
    let (lat, lon, swapped) = match a.lonlat.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => (None, None, false),
        Some(text) => match parse_lonlat(text) {
            Some((lat, lon, swapped)) => (Some(lat), Some(lon), swapped),
            None => {
                violations.push(Violation {
                    code: "INVALID_COORDINATES",
                    field: "lonlat",
                    message: format!("{text:?} is not \"lon,lat\""),
                });
                (None, None, false)
            }
        },
    };
    Address {
        street: clean(&a.street),
        postal_code,
        city: clean(&a.city),
        department_code: department
            .map(|d| d.code.to_owned())
            .or_else(|| clean(&a.department_code)),
        department_name: department
            .map(|d| d.name.to_owned())
            .or_else(|| clean(&a.department_name)),
        region: department
            .map(|d| d.region.to_owned())
            .or_else(|| clean(&a.region)),
        country: clean(&a.country).or_else(|| Some("FR".to_owned())),
        lat,
        lon,
        swapped,
    }
}

/// The organization's stable id: the feed's own, else from its RNA, its SIREN, its name.
fn organization(m: &FeedMission) -> Option<Organization> {
    let name = m.get(&["organizationName"]).map(str::to_owned);
    let rna = m
        .get(&["organizationRNA", "organizationRna"])
        .map(|s| s.to_uppercase());
    let siren = m
        .get(&["organizationSiren"])
        .map(|s| s.chars().filter(char::is_ascii_digit).collect::<String>());
    let client_id = match m.get(&["organizationClientId", "organizationId"]) {
        Some(id) => id.to_owned(),
        None => match (&rna, &siren, &name) {
            (Some(rna), _, _) => format!("rna:{rna}"),
            (None, Some(siren), _) if !siren.is_empty() => format!("siren:{siren}"),
            (None, _, Some(name)) => format!("name:{}", search::tokens(name).join("-")),
            _ => return None,
        },
    };
    Some(Organization {
        name: name.unwrap_or_else(|| client_id.clone()),
        client_id,
        rna,
        siren,
        url: m.get(&["organizationUrl"]).map(str::to_owned),
        logo: m.get(&["organizationLogo"]).map(str::to_owned),
        description: m.get(&["organizationDescription"]).map(str::to_owned),
        legal_status: m.get(&["organizationStatusJuridique"]).map(str::to_owned),
        organization_type: m.get(&["organizationType"]).map(str::to_owned),
        address: m.get(&["organizationFullAddress"]).map(str::to_owned),
        postal_code: m.get(&["organizationPostCode"]).map(str::to_owned),
        city: m.get(&["organizationCity"]).map(str::to_owned),
        parent_network: m.list(&["organizationReseaux"]).first().cloned(),
    })
}

/// Types and checks a feed mission.
pub fn normalize(m: &FeedMission) -> Mission {
    let mut violations = Vec::new();
    let text = |names: &[&str]| m.get(names).unwrap_or_default().to_owned();
    let flag =
        |names: &[&str], field: &'static str, violations: &mut Vec<Violation>| match m.get(names) {
            None => false,
            Some(v) => parse_flag(v).unwrap_or_else(|| {
                violations.push(Violation {
                    code: "INVALID_FLAG",
                    field,
                    message: format!("{v:?} is not yes or no"),
                });
                false
            }),
        };
    let open_to_minors = flag(&["openToMinors"], "openToMinors", &mut violations);
    let reduced_mobility_accessible = flag(
        &["reducedMobilityAccessible"],
        "reducedMobilityAccessible",
        &mut violations,
    );
    let close_to_transport = flag(&["closeToTransport"], "closeToTransport", &mut violations);
    let snu = flag(&["snu"], "snu", &mut violations);
    let time = |name: &'static str, violations: &mut Vec<Violation>| {
        m.get(&[name]).and_then(|v| {
            let t = parse_time(v);
            if t.is_none() {
                violations.push(Violation {
                    code: "INVALID_DATE",
                    field: name,
                    message: format!("{v:?} is not a date"),
                });
            }
            t
        })
    };
    let posted_at = time("postedAt", &mut violations);
    let start_at = time("startAt", &mut violations);
    let end_at = time("endAt", &mut violations);
    let domain = match m.get(&["domain"]) {
        None => None,
        Some(d) => {
            let parsed = parse_domain(d);
            if parsed.is_none() {
                violations.push(Violation {
                    code: "UNKNOWN_DOMAIN",
                    field: "domain",
                    message: format!("{d:?} is not a domain"),
                });
            }
            parsed
        }
    };
    let remote = match m.get(&["remote"]) {
        None => Remote::No,
        Some(r) => Remote::from_stored(&search::fold(r.trim())).unwrap_or_else(|| {
            violations.push(Violation {
                code: "UNKNOWN_REMOTE",
                field: "remote",
                message: format!("{r:?} is not no, possible or full"),
            });
            Remote::No
        }),
    };
    let mission_type = match m.get(&["type"]) {
        None => MissionType::Benevolat,
        Some(t) => MissionType::from_stored(t.trim()).unwrap_or_else(|| {
            violations.push(Violation {
                code: "UNKNOWN_TYPE",
                field: "type",
                message: format!("{t:?} is not a mission type"),
            });
            MissionType::Benevolat
        }),
    };
    let number = |name: &'static str, violations: &mut Vec<Violation>| {
        m.get(&[name]).and_then(|v| {
            let n = v.trim().parse::<i64>().ok();
            if n.is_none() {
                violations.push(Violation {
                    code: "INVALID_NUMBER",
                    field: name,
                    message: format!("{v:?} is not a whole number"),
                });
            }
            n
        })
    };
    let places = number("places", &mut violations);
    let snu_places = number("snuPlaces", &mut violations).unwrap_or(0);
    let mut addresses: Vec<Address> = m
        .addresses
        .iter()
        .map(|a| address(a, &mut violations))
        .collect();
    if addresses.is_empty()
        && let Some(flat) = &m.flat_address
    {
        addresses.push(address(flat, &mut violations));
    }
    let mission = Mission {
        client_id: text(&["clientId"]),
        title: text(&["title"]),
        description: text(&["description"]),
        application_url: text(&["applicationUrl"]),
        domain,
        mission_type,
        remote,
        posted_at,
        start_at,
        end_at,
        places,
        open_to_minors,
        reduced_mobility_accessible,
        close_to_transport,
        snu,
        snu_places,
        schedule: m.get(&["schedule"]).map(str::to_owned),
        activities: m.list(&["activity", "activities"]),
        tags: m.list(&["tags"]),
        audience: m.list(&["audience"]),
        soft_skills: m.list(&["softSkills", "soft_skills"]),
        requirements: m.list(&["requirements"]),
        addresses,
        organization: organization(m),
        violations: Vec::new(),
    };
    let candidate = MissionCandidate {
        client_id: &mission.client_id,
        title: &mission.title,
        description: &mission.description,
        application_url: &mission.application_url,
        places: mission.places,
        start_at: mission.start_at,
        end_at: mission.end_at,
        coordinates: mission
            .addresses
            .iter()
            .filter_map(|a| Some((a.lat?, a.lon?)))
            .collect(),
    };
    violations.extend(validate_mission(&candidate));
    if !m.truncated.is_empty() {
        violations.push(Violation {
            code: "TOO_LARGE",
            field: "mission",
            message: format!("cut while reading: {}", m.truncated.join(", ")),
        });
    }
    let broken = [&mission.title, &mission.description]
        .iter()
        .any(|t| t.contains('\u{FFFD}'));
    if broken {
        violations.push(Violation {
            code: "BROKEN_ENCODING",
            field: "description",
            message: "the text holds undecodable bytes (wrong declared encoding?)".to_owned(),
        });
    }
    Mission {
        violations,
        ..mission
    }
}
