//! A generator of large, realistic API Engagement feeds, for benchmarks and tests: the same
//! bytes for the same arguments.
use std::io::{self, Write};

const DOMAINS: &[&str] = &[
    "environnement",
    "solidarite-insertion",
    "Éducation",
    "sport",
    "santé",
    "culture-loisirs",
    "mémoire et citoyenneté",
    "animaux",
];
/// (city, postal code, lon, lat)
const CITIES: &[(&str, &str, f64, f64)] = &[
    ("Lyon", "69002", 4.8320, 45.7620),
    ("Paris", "75011", 2.3800, 48.8590),
    ("Marseille", "13001", 5.3800, 43.3000),
    ("Bordeaux", "33000", -0.5792, 44.8378),
    ("Lille", "59000", 3.0573, 50.6292),
    ("Toulouse", "31000", 1.4442, 43.6047),
    ("Nantes", "44000", -1.5536, 47.2184),
    ("Strasbourg", "67000", 7.7521, 48.5734),
    ("Rennes", "35000", -1.6778, 48.1173),
    ("Nice", "06000", 7.2620, 43.7102),
    ("Ajaccio", "20000", 8.7386, 41.9192),
    ("Saint-Denis", "97400", 55.4504, -20.8823),
];
const TASKS: &[&str] = &[
    "Aide aux devoirs",
    "Distribution alimentaire",
    "Nettoyage des berges",
    "Accompagnement de personnes âgées",
    "Animation sportive",
    "Atelier numérique",
    "Collecte de vêtements",
    "Visites de musée",
];

/// Writes a feed of `missions` missions to `out`. `revision` changes the title of every tenth
/// mission, so that two revisions differ by 10% updates. One address in twenty has no
/// coordinates (the import places it at its commune's centroid).
///
/// # Errors
/// Writing to `out` fails.
pub fn write_feed<W: Write>(mut out: W, missions: usize, revision: u32) -> io::Result<()> {
    writeln!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<source>\n  <publisher>Banc d'essai</publisher>\n  <lastBuildDate>2026-11-01T08:00:00Z</lastBuildDate>"
    )?;
    for i in 0..missions {
        let task = TASKS[i % TASKS.len()];
        let domain = DOMAINS[(i / 3) % DOMAINS.len()];
        let (city, postal, lon, lat) = CITIES[(i * 7) % CITIES.len()];
        let org = i / 10;
        let suffix = if i % 10 == 0 && revision > 0 {
            format!(" (v{revision})")
        } else {
            String::new()
        };
        let jitter = (i % 1000) as f64 / 20_000.0;
        writeln!(out, "  <mission>")?;
        writeln!(out, "    <clientId>bench-{i}</clientId>")?;
        writeln!(
            out,
            "    <title><![CDATA[{task} à {city} n°{i}{suffix}]]></title>"
        )?;
        writeln!(
            out,
            "    <description><![CDATA[<p>{task} avec l'association n°{org}, deux demi-journées par semaine.</p><p>Vous rejoindrez une équipe de bénévoles engagés ; aucune compétence particulière n'est requise, une formation est prévue. Les horaires sont adaptables et les frais de transport remboursés.</p>]]></description>"
        )?;
        writeln!(
            out,
            "    <applicationUrl>https://bench.example.org/missions/{i}</applicationUrl>"
        )?;
        writeln!(
            out,
            "    <postedAt>2026-10-{:02}</postedAt>\n    <startAt>2026-12-{:02}</startAt>\n    <endAt>2027-06-30</endAt>",
            1 + i % 28,
            1 + i % 28
        )?;
        writeln!(out, "    <domain>{domain}</domain>")?;
        writeln!(
            out,
            "    <remote>{}</remote>\n    <places>{}</places>\n    <openToMinors>{}</openToMinors>",
            ["no", "possible", "full"][i % 3],
            1 + i % 12,
            if i % 4 == 0 { "yes" } else { "no" }
        )?;
        writeln!(
            out,
            "    <tags><value>bénévolat</value><value>{}</value></tags>",
            city.to_lowercase()
        )?;
        writeln!(
            out,
            "    <adresse>{} rue de la République</adresse>\n    <postalCode>{postal}</postalCode>\n    <city>{city}</city>",
            1 + i % 150
        )?;
        if i % 20 != 7 {
            writeln!(
                out,
                "    <lonlat>{:.5},{:.5}</lonlat>",
                lon + jitter,
                lat + jitter
            )?;
        }
        writeln!(
            out,
            "    <organizationClientId>org-{org}</organizationClientId>\n    <organizationName>Association n°{org} de {city}</organizationName>\n    <organizationPostCode>{postal}</organizationPostCode>\n    <organizationCity>{city}</organizationCity>"
        )?;
        writeln!(out, "  </mission>")?;
    }
    writeln!(out, "</source>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::FeedReader;

    #[test]
    fn the_generated_feed_reads_back_whole_and_revisions_differ_by_a_tenth() {
        let mut a = Vec::new();
        write_feed(&mut a, 50, 0).expect("write");
        let mut b = Vec::new();
        write_feed(&mut b, 50, 1).expect("write");
        let titles = |bytes: &[u8]| {
            let mut reader = FeedReader::new(bytes);
            let mut titles = Vec::new();
            while let Some(m) = reader.next_mission().expect("valid feed") {
                titles.push(crate::normalize::normalize(&m));
            }
            titles
        };
        let (a, b) = (titles(&a), titles(&b));
        assert_eq!(a.len(), 50);
        assert!(
            a.iter().all(|m| m.violations.is_empty()),
            "{:?}",
            a[0].violations
        );
        let changed = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        assert_eq!(changed, 5);
    }
}
