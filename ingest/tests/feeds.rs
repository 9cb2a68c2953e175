//! The fixture feeds of `examples/feeds/`, read as partners send them.
use std::io::BufReader;

use passerelle_entities::{Domain, MissionType, Remote};
use passerelle_ingest::feed::{FeedError, FeedMission, FeedReader};
use passerelle_ingest::normalize::{normalize, parse_domain, parse_lonlat};

fn read(name: &str) -> Result<Vec<FeedMission>, FeedError> {
    let path = format!("{}/../examples/feeds/{name}", env!("CARGO_MANIFEST_DIR"));
    let file = std::fs::File::open(&path).expect("fixture");
    let mut reader = FeedReader::new(BufReader::new(file));
    let mut missions = Vec::new();
    while let Some(m) = reader.next_mission()? {
        missions.push(m);
    }
    Ok(missions)
}

fn codes(m: &passerelle_ingest::normalize::Mission) -> Vec<&'static str> {
    m.violations.iter().map(|v| v.code).collect()
}

#[test]
fn a_valid_feed_reads_every_field_cdata_lists_entities_and_addresses() {
    let path = format!("{}/../examples/feeds/valid.xml", env!("CARGO_MANIFEST_DIR"));
    let mut reader = FeedReader::new(BufReader::new(std::fs::File::open(path).expect("fixture")));
    let mut missions = Vec::new();
    while let Some(m) = reader.next_mission().expect("valid feed") {
        missions.push(normalize(&m));
    }
    assert_eq!(reader.header.publisher.as_deref(), Some("Réseau Exemple"));
    assert_eq!(missions.len(), 3);
    for m in &missions {
        assert!(
            m.violations.is_empty(),
            "{}: {:?}",
            m.client_id,
            m.violations
        );
    }
    let m = &missions[0];
    assert_eq!(m.title, "Aide aux devoirs & soutien scolaire");
    assert!(m.description.contains("<b>collégiens</b>"), "HTML is kept");
    assert_eq!(m.domain, Some(Domain::Education), "a label with an accent");
    assert_eq!(m.activities, ["Soutien scolaire", "Animation"]);
    assert_eq!(m.tags, ["collège", "soir"]);
    assert_eq!(
        (
            m.open_to_minors,
            m.reduced_mobility_accessible,
            m.snu,
            m.snu_places
        ),
        (true, false, true, 2)
    );
    assert_eq!(m.places, Some(4));
    assert_eq!(
        m.start_at.map(|t| t.to_rfc3339()),
        Some("2026-11-15T08:00:00+00:00".to_owned())
    );
    let a = &m.addresses[0];
    assert_eq!(
        (a.lat, a.lon, a.swapped),
        (Some(45.762), Some(4.832), false)
    );
    assert_eq!(
        (a.street.as_deref(), a.department_code.as_deref()),
        (Some("12 rue Mercière"), Some("69"))
    );
    let org = m.organization.as_ref().expect("organization");
    assert_eq!(
        org.client_id, "rna:W691234567",
        "no id: derived from the RNA"
    );
    assert_eq!(
        org.parent_network.as_deref(),
        Some("Ligue de l'enseignement")
    );

    let m = &missions[1];
    assert_eq!(m.title, "Nettoyer les berges du Rhône & de la Saône");
    assert_eq!(m.description, "Ramassage des déchets le samedi matin.");
    assert_eq!(m.remote, Remote::Possible);
    assert_eq!(m.addresses.len(), 2);
    assert_eq!(
        (
            m.addresses[0].lat,
            m.addresses[0].lon,
            m.addresses[0].swapped
        ),
        (Some(45.741), Some(4.818), true)
    );
    assert_eq!(
        (
            m.addresses[1].lat,
            m.addresses[1].department_code.as_deref()
        ),
        (Some(41.9192), Some("2A"))
    );
    assert_eq!(
        m.organization.as_ref().map(|o| o.client_id.as_str()),
        Some("org-42")
    );

    let m = &missions[2];
    assert_eq!(m.domain, Some(Domain::MemoireEtCitoyennete));
    assert_eq!(m.mission_type, MissionType::VolontariatServiceCivique);
    let a = &m.addresses[0];
    assert_eq!(
        (a.lat, a.lon, a.swapped),
        (Some(16.2411), Some(-61.5331), true),
        "Guadeloupe sent as lat,lon"
    );
    assert_eq!(a.department_code.as_deref(), Some("971"));
    assert_eq!(
        m.organization.as_ref().map(|o| o.client_id.as_str()),
        Some("siren:219711207")
    );
}

#[test]
fn invalid_missions_are_read_with_every_reason() {
    let missions: Vec<_> = read("invalid-missions.xml")
        .expect("well-formed")
        .iter()
        .map(normalize)
        .collect();
    assert_eq!(
        missions.len(),
        3,
        "duplicates are read; the import keeps the first"
    );
    let first = codes(&missions[0]);
    for code in [
        "UNKNOWN_DOMAIN",
        "UNKNOWN_REMOTE",
        "UNKNOWN_TYPE",
        "INVALID_FLAG",
        "MISSING_TITLE",
        "INVALID_PLACES",
        "END_BEFORE_START",
        "INVALID_COORDINATES",
    ] {
        assert!(first.contains(&code), "{code} in {first:?}");
    }
    let second = codes(&missions[1]);
    for code in ["INVALID_DATE", "INVALID_NUMBER", "INVALID_COORDINATES"] {
        assert!(second.contains(&code), "{code} in {second:?}");
    }
    assert_eq!(missions[1].client_id, missions[2].client_id);
}

#[test]
fn declared_entities_are_refused_not_expanded() {
    assert_eq!(
        read("billion-laughs.xml"),
        Err(FeedError::EntityDeclaration)
    );
}

#[test]
fn iso_8859_1_feeds_are_decoded() {
    let missions = read("iso-8859-1.xml").expect("decoded");
    let m = normalize(&missions[0]);
    assert_eq!(m.title, "Activités à Orléans");
    assert_eq!(m.description, "Été solidaire");
    assert!(m.violations.is_empty(), "{:?}", m.violations);
}

#[test]
fn broken_bodies_fail_the_whole_feed() {
    assert!(matches!(
        read("truncated.xml"),
        Err(FeedError::Malformed { .. })
    ));
    for (body, expected) in [
        ("", FeedError::NoDocument),
        ("not xml at all", FeedError::NoDocument),
        (
            "<rss><item/></rss>",
            FeedError::UnexpectedRoot("rss".into()),
        ),
        (
            "<source><mission><title>&nbsp;</title></mission></source>",
            FeedError::UnknownEntity("nbsp".into()),
        ),
    ] {
        let mut reader = FeedReader::new(body.as_bytes());
        let mut result = Ok(None);
        for _ in 0..10 {
            result = reader.next_mission();
            if !matches!(result, Ok(Some(_))) {
                break;
            }
        }
        assert_eq!(result, Err(expected), "{body:?}");
    }
    let mut reader = FeedReader::new("<source><mission><title>a</title></source>".as_bytes());
    assert!(
        matches!(reader.next_mission(), Err(FeedError::Malformed { .. })),
        "mismatched tags"
    );
}

#[test]
fn an_empty_feed_has_no_mission() {
    for body in [
        "<?xml version=\"1.0\"?><source></source>",
        "<source/>",
        "<source><publisher>P</publisher></source>",
    ] {
        let mut reader = FeedReader::new(body.as_bytes());
        assert_eq!(reader.next_mission(), Ok(None), "{body}");
        assert_eq!(reader.next_mission(), Ok(None), "{body}: stays at the end");
    }
    assert_eq!(
        FeedReader::new("<rss/>".as_bytes()).next_mission(),
        Err(FeedError::UnexpectedRoot("rss".into()))
    );
}

#[test]
fn domains_are_found_from_slugs_and_labels() {
    for (text, domain) in [
        ("culture-loisirs", Domain::CultureLoisirs),
        ("Culture et loisirs", Domain::CultureLoisirs),
        ("Bénévolat de compétences", Domain::BenevolatCompetences),
        (
            "Service public, défense, sécurité",
            Domain::ServicePublicDefenseSecurite,
        ),
        ("SOLIDARITÉ ET INSERTION", Domain::SolidariteInsertion),
    ] {
        assert_eq!(parse_domain(text), Some(domain), "{text}");
    }
    assert_eq!(parse_domain("piscine"), None);
}

#[test]
fn coordinates_are_read_in_either_order_in_france() {
    assert_eq!(
        parse_lonlat("2.3522,48.8566"),
        Some((48.8566, 2.3522, false))
    );
    assert_eq!(
        parse_lonlat("48.8566,2.3522"),
        Some((48.8566, 2.3522, true))
    );
    assert_eq!(
        parse_lonlat("55.4504,-20.8823"),
        Some((-20.8823, 55.4504, false)),
        "La Réunion"
    );
    assert_eq!(
        parse_lonlat("-20.8823,55.4504"),
        Some((-20.8823, 55.4504, true))
    );
    assert_eq!(
        parse_lonlat("-73.98,40.75"),
        Some((40.75, -73.98, false)),
        "outside France, as named"
    );
    assert_eq!(parse_lonlat("4.8"), None);
}

#[test]
fn bytes_of_another_encoding_than_declared_fail_the_feed_and_replacement_characters_the_mission() {
    // Latin-1 bytes in a feed declared UTF-8: the feed cannot be trusted, nothing is imported.
    let body: &[u8] =
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><source><mission><clientId>b</clientId>\
        <title>Activit\xe9s</title></mission></source>";
    assert!(matches!(
        FeedReader::new(body).next_mission(),
        Err(FeedError::Malformed { .. })
    ));
    // Text already mangled by the partner (U+FFFD): that mission is refused, the feed is read.
    let body = "<source><mission><clientId>b</clientId><title>Activit\u{FFFD}s</title>\
        <description>d</description><applicationUrl>u</applicationUrl></mission></source>";
    let mut reader = FeedReader::new(body.as_bytes());
    let m = normalize(
        &reader
            .next_mission()
            .expect("readable")
            .expect("one mission"),
    );
    assert_eq!(codes(&m), ["BROKEN_ENCODING"]);
    assert_eq!(reader.next_mission(), Ok(None));
    let unsupported = "<?xml version=\"1.0\" encoding=\"KLINGON-1\"?><source></source>";
    assert!(matches!(
        FeedReader::new(unsupported.as_bytes()).next_mission(),
        Err(FeedError::Malformed { .. })
    ));
}

fn read_bytes(bytes: Vec<u8>) -> Result<Vec<FeedMission>, FeedError> {
    let mut reader = FeedReader::new(std::io::Cursor::new(bytes));
    let mut missions = Vec::new();
    while let Some(m) = reader.next_mission()? {
        missions.push(m);
    }
    Ok(missions)
}

#[test]
fn a_utf16_feed_that_declares_another_encoding_is_refused_cleanly() {
    let text = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><source><mission><clientId>u</clientId></mission></source>";
    for (bom, encode) in [
        (vec![0xFF, 0xFE], u16::to_le_bytes as fn(u16) -> [u8; 2]),
        (vec![0xFE, 0xFF], u16::to_be_bytes),
    ] {
        let mut bytes = bom;
        bytes.extend(text.encode_utf16().flat_map(encode));
        let err = read_bytes(bytes).expect_err("refused, not a panic");
        assert!(
            err.to_string()
                .contains("UTF-16 byte order mark but declares \"ISO-8859-1\""),
            "{err}"
        );
    }
    // A UTF-16 feed that says so is read.
    let honest = text.replace("ISO-8859-1", "UTF-16");
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(honest.encode_utf16().flat_map(u16::to_le_bytes));
    let missions = read_bytes(bytes).expect("UTF-16 feed");
    assert_eq!(missions[0].get(&["clientId"]), Some("u"));
}

#[test]
fn what_a_feed_writes_into_an_error_is_cut_short() {
    let long = "x".repeat(10_000);
    for feed in [
        format!("<source><mission><title>&{long};</title></mission></source>"),
        format!("<{long}></{long}>"),
    ] {
        let err = read_bytes(feed.into_bytes()).expect_err("refused");
        let message = err.to_string();
        assert!(
            message.len() < 400,
            "{} bytes: {}",
            message.len(),
            &message[..200]
        );
        assert!(message.contains("(10000 characters)"), "{message}");
    }
}

#[test]
fn oversized_elements_lists_and_addresses_are_cut_while_reading_and_the_mission_refused() {
    let values: String = (0..500)
        .map(|i| format!("<value>{i}{}</value>", "v".repeat(2_000)))
        .collect();
    let addresses: String = (0..80)
        .map(|i| format!("<address><city>Ville {i}</city></address>"))
        .collect();
    let big = "d".repeat(200_000);
    let feed = format!(
        "<source><mission><clientId>big</clientId><title>Trop</title><description>{big}</description>\
         <tags>{values}</tags><addresses>{addresses}</addresses></mission></source>"
    );
    let missions = read_bytes(feed.into_bytes()).expect("read");
    let m = &missions[0];
    assert_eq!(
        m.list(&["tags"]).len(),
        100,
        "a list keeps its first 100 values"
    );
    assert_eq!(m.addresses.len(), 50);
    assert_eq!(
        m.get(&["description"]),
        None,
        "the oversized text is not kept"
    );
    let normalised = normalize(m);
    let too_large = normalised
        .violations
        .iter()
        .find(|v| v.code == "TOO_LARGE")
        .expect("refused");
    for what in [
        "description (over",
        "tags (over 100 values)",
        "addresses (over 50)",
    ] {
        assert!(
            too_large.message.contains(what),
            "{what}: {}",
            too_large.message
        );
    }
}
