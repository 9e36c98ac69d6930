//! Names and places for believable demo data. Test-range NHIs only.

pub const PRACTICES: [(&str, &str, &str); 3] = [
    ("Kōwhai Health Centre", "Wellington", "kowhai"),
    ("Harbourside Medical", "Auckland", "harbourside"),
    ("Southern Lakes Family Practice", "Otago", "lakes"),
];

pub const GIVEN: [&str; 30] = [
    "Aroha", "Tama", "Mere", "Wiremu", "Sione", "Losa", "Mei", "Arjun", "Olivia", "Jack", "Ngaio",
    "Hemi", "Ana", "Isla", "Liam", "Priya", "Tui", "Manaia", "Grace", "Noah", "Kiri", "Rangi",
    "Mele", "Leilani", "Wen", "Sofia", "Oscar", "Hana", "Rāwiri", "Ella",
];

pub const FAMILY: [&str; 30] = [
    "Ngata", "Parata", "Tuhiwai", "Fifita", "Tupou", "Chen", "Patel", "Smith", "Wilson", "Brown",
    "Walker", "Taylor", "Henare", "Pōmare", "Kaur", "Nguyen", "Williams", "Te Rangi", "Faleolo",
    "Singh", "Thompson", "Harris", "Moana", "Reid", "Kim", "Li", "Campbell", "Stewart", "Tautahi",
    "Martin",
];

pub const STAFF: [(&str, &str); 4] = [
    ("clinician", "Dr Anahera Hēnare"),
    ("nurse", "Nurse Sam Fonoti"),
    ("reception", "Jo Reception"),
    ("practice_admin", "Pat Administrator"),
];

pub const CONDITIONS: [&str; 8] = [
    "community-acquired pneumonia",
    "cellulitis of the left leg",
    "acute appendicitis (appendicectomy)",
    "asthma exacerbation",
    "atrial fibrillation with rapid response",
    "fractured right wrist (ORIF)",
    "pyelonephritis",
    "chest pain, myocardial infarction excluded",
];

pub const SPECIALTIES: [&str; 6] = [
    "Cardiology",
    "Dermatology",
    "Orthopaedics",
    "Respiratory Medicine",
    "Gastroenterology",
    "Endocrinology",
];
