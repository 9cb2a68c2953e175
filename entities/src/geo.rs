//! French departments and regions, postal codes, and great-circle distance.

/// A French department: its code ("69", "2A", "971"), name and region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Department {
    pub code: &'static str,
    pub name: &'static str,
    pub region: &'static str,
}

const ARA: &str = "Auvergne-Rhône-Alpes";
const BFC: &str = "Bourgogne-Franche-Comté";
const BRE: &str = "Bretagne";
const CVL: &str = "Centre-Val de Loire";
const COR: &str = "Corse";
const GES: &str = "Grand Est";
const HDF: &str = "Hauts-de-France";
const IDF: &str = "Île-de-France";
const NOR: &str = "Normandie";
const NAQ: &str = "Nouvelle-Aquitaine";
const OCC: &str = "Occitanie";
const PDL: &str = "Pays de la Loire";
const PAC: &str = "Provence-Alpes-Côte d'Azur";

macro_rules! departments {
    ($($code:literal $name:literal $region:expr;)+) => {
        /// Every department, in code order.
        pub const DEPARTMENTS: &[Department] = &[$(Department { code: $code, name: $name, region: $region }),+];
    };
}

departments! {
    "01" "Ain" ARA; "02" "Aisne" HDF; "03" "Allier" ARA; "04" "Alpes-de-Haute-Provence" PAC;
    "05" "Hautes-Alpes" PAC; "06" "Alpes-Maritimes" PAC; "07" "Ardèche" ARA; "08" "Ardennes" GES;
    "09" "Ariège" OCC; "10" "Aube" GES; "11" "Aude" OCC; "12" "Aveyron" OCC;
    "13" "Bouches-du-Rhône" PAC; "14" "Calvados" NOR; "15" "Cantal" ARA; "16" "Charente" NAQ;
    "17" "Charente-Maritime" NAQ; "18" "Cher" CVL; "19" "Corrèze" NAQ; "2A" "Corse-du-Sud" COR;
    "2B" "Haute-Corse" COR; "21" "Côte-d'Or" BFC; "22" "Côtes-d'Armor" BRE; "23" "Creuse" NAQ;
    "24" "Dordogne" NAQ; "25" "Doubs" BFC; "26" "Drôme" ARA; "27" "Eure" NOR;
    "28" "Eure-et-Loir" CVL; "29" "Finistère" BRE; "30" "Gard" OCC; "31" "Haute-Garonne" OCC;
    "32" "Gers" OCC; "33" "Gironde" NAQ; "34" "Hérault" OCC; "35" "Ille-et-Vilaine" BRE;
    "36" "Indre" CVL; "37" "Indre-et-Loire" CVL; "38" "Isère" ARA; "39" "Jura" BFC;
    "40" "Landes" NAQ; "41" "Loir-et-Cher" CVL; "42" "Loire" ARA; "43" "Haute-Loire" ARA;
    "44" "Loire-Atlantique" PDL; "45" "Loiret" CVL; "46" "Lot" OCC; "47" "Lot-et-Garonne" NAQ;
    "48" "Lozère" OCC; "49" "Maine-et-Loire" PDL; "50" "Manche" NOR; "51" "Marne" GES;
    "52" "Haute-Marne" GES; "53" "Mayenne" PDL; "54" "Meurthe-et-Moselle" GES; "55" "Meuse" GES;
    "56" "Morbihan" BRE; "57" "Moselle" GES; "58" "Nièvre" BFC; "59" "Nord" HDF;
    "60" "Oise" HDF; "61" "Orne" NOR; "62" "Pas-de-Calais" HDF; "63" "Puy-de-Dôme" ARA;
    "64" "Pyrénées-Atlantiques" NAQ; "65" "Hautes-Pyrénées" OCC; "66" "Pyrénées-Orientales" OCC;
    "67" "Bas-Rhin" GES; "68" "Haut-Rhin" GES; "69" "Rhône" ARA; "70" "Haute-Saône" BFC;
    "71" "Saône-et-Loire" BFC; "72" "Sarthe" PDL; "73" "Savoie" ARA; "74" "Haute-Savoie" ARA;
    "75" "Paris" IDF; "76" "Seine-Maritime" NOR; "77" "Seine-et-Marne" IDF; "78" "Yvelines" IDF;
    "79" "Deux-Sèvres" NAQ; "80" "Somme" HDF; "81" "Tarn" OCC; "82" "Tarn-et-Garonne" OCC;
    "83" "Var" PAC; "84" "Vaucluse" PAC; "85" "Vendée" PDL; "86" "Vienne" NAQ;
    "87" "Haute-Vienne" NAQ; "88" "Vosges" GES; "89" "Yonne" BFC; "90" "Territoire de Belfort" BFC;
    "91" "Essonne" IDF; "92" "Hauts-de-Seine" IDF; "93" "Seine-Saint-Denis" IDF;
    "94" "Val-de-Marne" IDF; "95" "Val-d'Oise" IDF;
    "971" "Guadeloupe" "Guadeloupe"; "972" "Martinique" "Martinique"; "973" "Guyane" "Guyane";
    "974" "La Réunion" "La Réunion"; "976" "Mayotte" "Mayotte";
}

/// The department with this code ("69", "2a" and "2A" alike), if it exists.
pub fn department(code: &str) -> Option<&'static Department> {
    let code = code.trim();
    DEPARTMENTS
        .iter()
        .find(|d| d.code.eq_ignore_ascii_case(code))
}

/// The region with this name, accents and case ignored ("auvergne-rhone-alpes" finds
/// "Auvergne-Rhône-Alpes"), as the departments table spells it.
pub fn region(name: &str) -> Option<&'static str> {
    let wanted = crate::search::fold(name.trim());
    DEPARTMENTS
        .iter()
        .map(|d| d.region)
        .find(|r| crate::search::fold(r) == wanted)
}

/// Every region's name, once each, in the order of their first department.
pub fn regions() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for d in DEPARTMENTS {
        if !out.contains(&d.region) {
            out.push(d.region);
        }
    }
    out
}

/// The codes of the departments of a region (named exactly as [`region`] returns it).
pub fn departments_of_region(region: &str) -> Vec<&'static str> {
    DEPARTMENTS
        .iter()
        .filter(|d| d.region == region)
        .map(|d| d.code)
        .collect()
}

/// The department of a French postal code: "69001" → Rhône, "20000" → Corse-du-Sud,
/// "97400" → La Réunion. `None` for anything that is not five digits of a known department.
pub fn department_of_postal_code(postal_code: &str) -> Option<&'static Department> {
    let pc = postal_code.trim();
    if pc.len() != 5 || !pc.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code = match &pc[..2] {
        "20" => {
            if pc < "20200" {
                "2A"
            } else {
                "2B"
            }
        }
        "97" | "98" => &pc[..3],
        two => two,
    };
    department(code)
}

/// The mean radius of the Earth used for distances, in kilometres.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// The great-circle (haversine) distance between two points given in degrees, in kilometres.
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// A latitude/longitude box that contains every point within `radius_km` of the centre:
/// `(min_lat, max_lat, min_lon, max_lon)`. Used to narrow a geo search to an index range
/// before the exact distance is computed.
pub fn bounding_box(lat: f64, lon: f64, radius_km: f64) -> (f64, f64, f64, f64) {
    let dlat = (radius_km / EARTH_RADIUS_KM).to_degrees();
    let min_lat = (lat - dlat).max(-90.0);
    let max_lat = (lat + dlat).min(90.0);
    // Longitude degrees shrink with latitude; at the poles, or for radii that wrap, take all.
    let widest = lat.abs() + dlat;
    if widest >= 89.0 {
        return (min_lat, max_lat, -180.0, 180.0);
    }
    let dlon = (radius_km / (EARTH_RADIUS_KM * widest.to_radians().cos())).to_degrees();
    if dlon >= 180.0 {
        return (min_lat, max_lat, -180.0, 180.0);
    }
    (min_lat, max_lat, lon - dlon, lon + dlon)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postal_codes_map_to_departments_including_corsica_and_overseas() {
        assert_eq!(
            department_of_postal_code("69001").map(|d| d.name),
            Some("Rhône")
        );
        assert_eq!(
            department_of_postal_code("20000").map(|d| d.code),
            Some("2A")
        );
        assert_eq!(
            department_of_postal_code("20200").map(|d| d.code),
            Some("2B")
        );
        assert_eq!(
            department_of_postal_code("97400").map(|d| d.code),
            Some("974")
        );
        assert_eq!(department_of_postal_code("7500"), None);
        assert_eq!(department_of_postal_code("99999"), None);
        assert_eq!(DEPARTMENTS.len(), 101);
    }

    #[test]
    fn regions_are_found_whatever_their_accents_and_list_their_departments() {
        assert_eq!(region("auvergne-rhone-alpes"), Some("Auvergne-Rhône-Alpes"));
        assert_eq!(region(" ÎLE-DE-FRANCE "), Some("Île-de-France"));
        assert_eq!(region("Atlantis"), None);
        assert_eq!(regions().len(), 18);
        let idf = departments_of_region("Île-de-France");
        assert_eq!(idf, ["75", "77", "78", "91", "92", "93", "94", "95"]);
    }

    #[test]
    fn paris_to_lyon_is_about_392_km() {
        let d = distance_km(48.8566, 2.3522, 45.7640, 4.8357);
        assert!((d - 392.0).abs() < 2.0, "{d}");
    }

    #[test]
    fn bounding_box_contains_every_point_within_the_radius() {
        for (lat, lon, r) in [
            (45.76, 4.83, 50.0),
            (-20.88, 55.45, 30.0),
            (48.85, 2.35, 300.0),
        ] {
            let (a, b, c, d) = bounding_box(lat, lon, r);
            let (mut inside, step) = (0, r / 111.0 / 40.0);
            for i in -100..=100 {
                for j in -100..=100 {
                    let (plat, plon) = (lat + f64::from(i) * step, lon + f64::from(j) * step * 2.0);
                    if distance_km(lat, lon, plat, plon) <= r {
                        inside += 1;
                        assert!(
                            plat >= a && plat <= b && plon >= c && plon <= d,
                            "{plat},{plon} for {lat},{lon},{r}"
                        );
                    }
                }
            }
            assert!(inside > 1000, "the grid crosses the circle");
        }
    }
}
