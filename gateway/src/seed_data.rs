//! The reference data the demo seed draws from: real cities with their postal codes and
//! coordinates, and the words missions are made of.

/// A French city: name, postal code, latitude, longitude.
pub type City = (&'static str, &'static str, f64, f64);

pub const CITIES: &[City] = &[
    ("Paris", "75011", 48.8575, 2.3795),
    ("Paris", "75018", 48.8925, 2.3444),
    ("Marseille", "13001", 43.2999, 5.3841),
    ("Lyon", "69001", 45.7676, 4.8344),
    ("Lyon", "69007", 45.7450, 4.8420),
    ("Villeurbanne", "69100", 45.7719, 4.8902),
    ("Vénissieux", "69200", 45.6975, 4.8867),
    ("Toulouse", "31000", 43.6045, 1.4440),
    ("Nice", "06000", 43.7009, 7.2683),
    ("Nantes", "44000", 47.2184, -1.5536),
    ("Montpellier", "34000", 43.6108, 3.8767),
    ("Strasbourg", "67000", 48.5734, 7.7521),
    ("Bordeaux", "33000", 44.8378, -0.5792),
    ("Lille", "59000", 50.6292, 3.0573),
    ("Roubaix", "59100", 50.6942, 3.1746),
    ("Rennes", "35000", 48.1173, -1.6778),
    ("Reims", "51100", 49.2583, 4.0317),
    ("Saint-Étienne", "42000", 45.4397, 4.3872),
    ("Le Havre", "76600", 49.4944, 0.1079),
    ("Toulon", "83000", 43.1242, 5.9280),
    ("Grenoble", "38000", 45.1885, 5.7245),
    ("Dijon", "21000", 47.3220, 5.0415),
    ("Angers", "49000", 47.4784, -0.5632),
    ("Nîmes", "30000", 43.8367, 4.3601),
    ("Clermont-Ferrand", "63000", 45.7772, 3.0870),
    ("Le Mans", "72000", 48.0061, 0.1996),
    ("Aix-en-Provence", "13100", 43.5297, 5.4474),
    ("Brest", "29200", 48.3904, -4.4861),
    ("Tours", "37000", 47.3941, 0.6848),
    ("Amiens", "80000", 49.8941, 2.2958),
    ("Limoges", "87000", 45.8336, 1.2611),
    ("Annecy", "74000", 45.8992, 6.1294),
    ("Perpignan", "66000", 42.6887, 2.8948),
    ("Metz", "57000", 49.1193, 6.1757),
    ("Besançon", "25000", 47.2378, 6.0241),
    ("Orléans", "45000", 47.9030, 1.9093),
    ("Rouen", "76000", 49.4432, 1.0999),
    ("Caen", "14000", 49.1829, -0.3707),
    ("Nancy", "54000", 48.6921, 6.1844),
    ("Argenteuil", "95100", 48.9472, 2.2467),
    ("Montreuil", "93100", 48.8638, 2.4485),
    ("Saint-Denis", "93200", 48.9362, 2.3574),
    ("Créteil", "94000", 48.7904, 2.4556),
    ("Nanterre", "92000", 48.8924, 2.2071),
    ("Versailles", "78000", 48.8049, 2.1204),
    ("Évry-Courcouronnes", "91000", 48.6290, 2.4410),
    ("Meaux", "77100", 48.9601, 2.8788),
    ("Avignon", "84000", 43.9493, 4.8055),
    ("Poitiers", "86000", 46.5802, 0.3404),
    ("La Rochelle", "17000", 46.1603, -1.1511),
    ("Pau", "64000", 43.2951, -0.3708),
    ("Bayonne", "64100", 43.4929, -1.4748),
    ("Quimper", "29000", 47.9960, -4.1024),
    ("Vannes", "56000", 47.6582, -2.7608),
    ("Troyes", "10000", 48.2973, 4.0744),
    ("Colmar", "68000", 48.0794, 7.3585),
    ("Mulhouse", "68100", 47.7508, 7.3359),
    ("Chambéry", "73000", 45.5646, 5.9178),
    ("Valence", "26000", 44.9334, 4.8924),
    ("Bourg-en-Bresse", "01000", 46.2052, 5.2255),
    ("Ajaccio", "20000", 41.9192, 8.7386),
    ("Bastia", "20200", 42.6973, 9.4509),
    ("Pointe-à-Pitre", "97110", 16.2411, -61.5331),
    ("Fort-de-France", "97200", 14.6161, -61.0588),
    ("Cayenne", "97300", 4.9224, -52.3135),
    ("Saint-Denis", "97400", -20.8823, 55.4504),
    ("Mamoudzou", "97600", -12.7806, 45.2278),
    ("Albi", "81000", 43.9289, 2.1464),
    ("Rodez", "12000", 44.3506, 2.5750),
    ("Auxerre", "89000", 47.7982, 3.5673),
];

/// Per domain: mission titles (with `{city}` where it reads well).
pub const TITLES: &[(&str, &[&str])] = &[
    (
        "animaux",
        &[
            "Soigner les animaux du refuge de {city}",
            "Promener les chiens en attente d'adoption",
            "Recenser les oiseaux des jardins",
        ],
    ),
    (
        "autre",
        &[
            "Accueillir le public d'une maison de quartier",
            "Participer à la vie d'une association de {city}",
        ],
    ),
    (
        "batiment-industrie-logistique",
        &[
            "Rénover un local associatif",
            "Trier les dons dans un entrepôt solidaire",
            "Aider au chantier d'un jardin partagé",
        ],
    ),
    (
        "benevolat-competences",
        &[
            "Accompagner une association dans sa comptabilité",
            "Mettre vos compétences juridiques au service d'une association",
        ],
    ),
    (
        "communication",
        &[
            "Animer les réseaux sociaux d'une association",
            "Réaliser des vidéos sur la vie associative à {city}",
        ],
    ),
    (
        "culture-loisirs",
        &[
            "Accueillir les visiteurs d'un festival à {city}",
            "Animer des ateliers de lecture pour enfants",
            "Faire découvrir le patrimoine de {city}",
        ],
    ),
    (
        "education",
        &[
            "Aide aux devoirs pour des collégiens",
            "Accompagnement scolaire à {city}",
            "Lutter contre l'illettrisme avec des adultes",
        ],
    ),
    (
        "emploi",
        &[
            "Préparer des jeunes aux entretiens d'embauche",
            "Accompagner la recherche d'emploi de personnes éloignées de l'emploi",
        ],
    ),
    (
        "environnement",
        &[
            "Nettoyer les berges de la rivière",
            "Sensibiliser au tri des déchets à {city}",
            "Planter des haies avec les agriculteurs",
            "Protéger les espaces naturels du littoral",
        ],
    ),
    (
        "gestion-finance-droit",
        &[
            "Tenir une permanence d'accès aux droits",
            "Aider des familles à remplir leurs démarches administratives",
        ],
    ),
    (
        "humanitaire",
        &[
            "Préparer des colis pour les personnes sinistrées",
            "Soutenir l'accueil de personnes réfugiées à {city}",
        ],
    ),
    (
        "memoire-et-citoyennete",
        &[
            "Participer aux cérémonies commémoratives",
            "Recueillir la mémoire des anciens de {city}",
            "Faire vivre la citoyenneté au conseil des jeunes",
        ],
    ),
    (
        "numerique",
        &[
            "Accompagner les seniors au numérique",
            "Animer un atelier de réparation d'ordinateurs à {city}",
        ],
    ),
    (
        "prevention-protection",
        &[
            "Sensibiliser aux gestes qui sauvent",
            "Prévenir les risques routiers auprès des jeunes",
        ],
    ),
    (
        "recherche",
        &[
            "Participer à un programme de sciences participatives",
            "Collecter des données sur la biodiversité urbaine",
        ],
    ),
    (
        "sante",
        &[
            "Accompagner des patients à l'hôpital de {city}",
            "Participer à une collecte de sang",
            "Rompre l'isolement des personnes malades",
        ],
    ),
    (
        "service-public-defense-securite",
        &[
            "Renforcer l'accueil d'une mairie",
            "Soutenir l'action de la réserve communale de {city}",
        ],
    ),
    (
        "sport",
        &[
            "Encadrer un club de football pour enfants",
            "Organiser une course solidaire à {city}",
            "Animer des activités sportives adaptées",
        ],
    ),
    (
        "solidarite-insertion",
        &[
            "Distribuer des repas aux personnes sans abri",
            "Collecter des denrées pour la banque alimentaire",
            "Accompagner des familles en difficulté à {city}",
        ],
    ),
    (
        "vivre-ensemble",
        &[
            "Rendre visite à des personnes âgées isolées",
            "Animer un café intergénérationnel à {city}",
            "Favoriser les échanges entre voisins",
        ],
    ),
];

/// Organization name patterns, with `{city}` and `{department}`, and the network they belong to.
pub const ORGANIZATIONS: &[(&str, Option<&str>)] = &[
    ("Les Restos du Cœur – {department}", Some("Restos du Cœur")),
    (
        "Croix-Rouge française – unité locale de {city}",
        Some("Croix-Rouge française"),
    ),
    (
        "Secours populaire de {department}",
        Some("Secours populaire"),
    ),
    (
        "Banque alimentaire de {department}",
        Some("Fédération française des banques alimentaires"),
    ),
    ("Association Solidarité {city}", None),
    (
        "Ligue pour la Protection des Oiseaux – {department}",
        Some("LPO France"),
    ),
    ("Mairie de {city}", None),
    ("Centre communal d'action sociale de {city}", None),
    (
        "Maison des jeunes et de la culture de {city}",
        Some("Fédération française des MJC"),
    ),
    (
        "Les Petits Frères des Pauvres – {city}",
        Some("Petits Frères des Pauvres"),
    ),
    ("Emmaüs {city}", Some("Emmaüs France")),
    ("Club sportif de {city}", None),
    ("Association des Amis du patrimoine de {city}", None),
    (
        "France Nature Environnement {department}",
        Some("France Nature Environnement"),
    ),
    (
        "Lire et faire lire – {department}",
        Some("Lire et faire lire"),
    ),
];

pub const FIRST_NAMES: &[&str] = &[
    "Léa", "Hugo", "Chloé", "Lucas", "Inès", "Nathan", "Jade", "Mohamed", "Manon", "Louis",
    "Camille", "Gabriel", "Sarah", "Adam", "Emma", "Yanis", "Zoé", "Raphaël", "Lina", "Enzo",
    "Maëlys", "Noah", "Anaïs", "Théo",
];

pub const LAST_NAMES: &[&str] = &[
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "Nguyen", "Benali",
];

pub const SKILLS: &[&str] = &[
    "Écoute",
    "Travail en équipe",
    "Autonomie",
    "Patience",
    "Organisation",
    "Créativité",
    "Sens du contact",
];
pub const AUDIENCES: &[&str] = &[
    "Jeunes",
    "Personnes âgées",
    "Personnes en situation de handicap",
    "Familles",
    "Tous publics",
    "Enfants",
];
pub const SCHEDULES: &[&str] = &[
    "2 heures par semaine",
    "1 demi-journée par semaine",
    "Week-ends",
    "Ponctuel",
    "24 heures par semaine",
];
