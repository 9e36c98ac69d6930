//! Demo data: three practices, their staff, ~60 patients with valid test-range NHIs and
//! real PDF and PNG documents, seeded once through the same use cases a practice uses
//! (so every demo document is encrypted, audited and stored like any other).

mod awaiting;
mod family;
mod image;
mod pdf;
mod people;

use crate::auth::password_policy;
use crate::documents::Upload;
use crate::{CoreError, Tiaki};
use bytes::Bytes;
use futures::StreamExt;
use secrecy::SecretString;
use serde::Serialize;
use std::path::{Path, PathBuf};
use tiaki_audit::RequestContext;
use tiaki_crypto::generate_token;
use tiaki_domain::{
    AccountId, Actor, ActorKind, Nhi, OperatorRole, PatientId, PracticeId, SessionId, StaffRole,
};
use tiaki_store::{Account, CanaryKind, Patient, Practice};
use time::{Date, Duration, Month, OffsetDateTime};

pub use awaiting::AWAITING_REGISTRATION;
pub use pdf::{Line, render as render_pdf};

const SEEDED_SETTING: &str = "demo_seeded";
const PATIENTS_PER_PRACTICE: usize = 20;

/// One demo login, as written to `demo-logins.json`.
#[derive(Debug, Clone, Serialize)]
pub struct DemoLogin {
    pub role: String,
    pub username: String,
    pub password: String,
    /// The account's TOTP seed (base32): give it to an authenticator app, or compute
    /// codes from it in tests.
    pub totp_secret: String,
    /// One-time recovery codes, for when no authenticator is at hand.
    pub recovery_codes: Vec<String>,
    pub display_name: String,
    pub practice: Option<String>,
    pub practice_id: Option<PracticeId>,
    pub patient_id: Option<PatientId>,
    /// Whose records this login may act for (a proxy's or a guardian's grant).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub acts_for: Vec<family::DemoActsFor>,
}

/// What a demo account is handed, to be written to `demo-logins.json`.
struct DemoSecrets {
    password: String,
    totp_secret: String,
    recovery_codes: Vec<String>,
}

/// What seeding did.
#[derive(Debug)]
pub enum Seeded {
    /// Seeded now; logins written to the path.
    Fresh { logins: PathBuf, documents: usize },
    /// The demo was seeded before; nothing changed.
    Already { logins: PathBuf },
}

impl Tiaki {
    /// Creates a patient with their own patient key (one transaction).
    pub async fn create_patient(&self, patient: &Patient) -> Result<(), CoreError> {
        let key = self.vault.new_patient_key(patient.id, patient.practice)?;
        self.store.patient_insert(patient, &key).await?;
        Ok(())
    }

    /// Creates a login account with a freshly hashed password. The password must pass
    /// the [password policy](crate::auth::password_policy); a refusal is
    /// [`CoreError::Invalid`] with a code and a message that says why. The account has
    /// no second factor yet: it enrols one at its first sign-in (or is provisioned one
    /// with [`Tiaki::provision_totp`]).
    pub async fn create_account(
        &self,
        username: &str,
        display_name: &str,
        password: &SecretString,
        kind: ActorKind,
    ) -> Result<Account, CoreError> {
        let (candidate, personal) = (
            password.clone(),
            [username.trim().to_lowercase(), display_name.to_owned()],
        );
        // zxcvbn's first call builds its dictionaries: keep it off the async threads.
        let verdict = tokio::task::spawn_blocking(move || {
            let personal: Vec<&str> = personal.iter().map(String::as_str).collect();
            password_policy::check(&candidate, &personal)
        })
        .await
        .map_err(|_| CoreError::Unavailable("the password check stopped".into()))?;
        if let Err(problem) = verdict {
            return Err(CoreError::invalid(problem.code(), problem.message()));
        }
        let account = Account {
            id: AccountId::new(),
            username: username.trim().to_lowercase(),
            display_name: display_name.to_owned(),
            password_hash: self.hash_password(password).await?,
            kind,
            disabled: false,
            created_at: OffsetDateTime::now_utc(),
        };
        self.store.account_insert(&account).await?;
        Ok(account)
    }

    /// Seeds the demo once; later calls change nothing.
    pub async fn seed_demo(&self, data_dir: &Path) -> Result<Seeded, CoreError> {
        let logins_path = data_dir.join("demo-logins.json");
        if self.store.setting(SEEDED_SETTING).await?.is_some() {
            return Ok(Seeded::Already {
                logins: logins_path,
            });
        }
        let mut logins = Vec::new();
        let mut documents = 0;
        let mut sequence = 0u32;
        for (p_index, (name, region, slug)) in people::PRACTICES.iter().enumerate() {
            let practice = Practice {
                id: PracticeId::new(),
                name: (*name).to_owned(),
                region: (*region).to_owned(),
            };
            self.store.practice_insert(&practice).await?;
            let mut clinician = None;
            for (role, display) in people::STAFF {
                let role = StaffRole::parse(role)
                    .ok_or_else(|| CoreError::Unavailable("unknown demo role".into()))?;
                let username = format!("{}.{slug}", role.as_str().replace('_', "-"));
                let (account, secrets) = self
                    .demo_account(
                        &username,
                        display,
                        ActorKind::Staff {
                            practice: practice.id,
                            role,
                        },
                    )
                    .await?;
                if role == StaffRole::Clinician {
                    clinician = Some(actor_for(&account));
                }
                logins.push(DemoLogin {
                    role: role.as_str().to_owned(),
                    username,
                    password: secrets.password,
                    totp_secret: secrets.totp_secret,
                    recovery_codes: secrets.recovery_codes,
                    display_name: display.to_owned(),
                    practice: Some(practice.name.clone()),
                    practice_id: Some(practice.id),
                    patient_id: None,
                    acts_for: Vec::new(),
                });
            }
            let clinician =
                clinician.ok_or_else(|| CoreError::Unavailable("no demo clinician".into()))?;
            for n in 0..PATIENTS_PER_PRACTICE {
                let index = p_index * PATIENTS_PER_PRACTICE + n;
                let (patient, login) = self.demo_patient(&practice, index, &mut sequence).await?;
                documents += self
                    .demo_documents(&clinician, &login.1, &patient, &practice, index)
                    .await?;
                logins.push(login.0);
            }
            documents += self
                .demo_canary(&clinician, &practice, p_index, &mut sequence)
                .await?;
            self.demo_awaiting_registration(&practice, p_index, &mut sequence)
                .await?;
        }
        self.demo_family(&mut logins, &mut sequence).await?;
        for (role, username, display) in [
            (OperatorRole::PlatformAdmin, "operator", "Platform Operator"),
            (OperatorRole::PrivacyOfficer, "privacy", "Privacy Officer"),
        ] {
            let (_, secrets) = self
                .demo_account(username, display, ActorKind::Operator { role })
                .await?;
            logins.push(DemoLogin {
                role: role.as_str().to_owned(),
                username: username.to_owned(),
                password: secrets.password,
                totp_secret: secrets.totp_secret,
                recovery_codes: secrets.recovery_codes,
                display_name: display.to_owned(),
                practice: None,
                practice_id: None,
                patient_id: None,
                acts_for: Vec::new(),
            });
        }
        write_logins(&logins_path, &logins)
            .map_err(|e| CoreError::Unavailable(format!("writing demo logins: {e}")))?;
        self.store.setting_put(SEEDED_SETTING, "1").await?;
        Ok(Seeded::Fresh {
            logins: logins_path,
            documents,
        })
    }

    async fn demo_account(
        &self,
        username: &str,
        display: &str,
        kind: ActorKind,
    ) -> Result<(Account, DemoSecrets), CoreError> {
        let (token, _) = generate_token()?;
        let password: String = token
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(16)
            .collect();
        let account = self
            .create_account(
                username,
                display,
                &SecretString::from(password.clone()),
                kind,
            )
            .await?;
        // Demo accounts come with their second factor ready, so the README's commands
        // work end to end; the seed goes to demo-logins.json.
        let factors = self.provision_totp(account.id).await?;
        // And a confirmed (made-up) address, `<username>@example.test`, so password
        // resets and notices can be tried: they land in the outbox.
        self.set_verified_email(account.id, &format!("{}@example.test", account.username))
            .await?;
        let secrets = DemoSecrets {
            password,
            totp_secret: factors.totp.to_base32().to_string(),
            recovery_codes: factors
                .recovery_codes
                .iter()
                .map(|c| c.to_string())
                .collect(),
        };
        Ok((account, secrets))
    }

    /// A believable enrolled patient (no account).
    async fn demo_person(
        &self,
        practice: &Practice,
        index: usize,
        sequence: &mut u32,
    ) -> Result<Patient, CoreError> {
        let given = people::GIVEN
            .get(index % people::GIVEN.len())
            .copied()
            .unwrap_or("Kim");
        let family = people::FAMILY
            .get((index * 7 + index / 30) % people::FAMILY.len())
            .copied()
            .unwrap_or("Smith");
        let nhi = loop {
            *sequence += 1;
            if let Some(nhi) = Nhi::synthesize(*b"ZTK", *sequence) {
                break nhi;
            }
        };
        let year = 1940 + i32::try_from(index * 37 % 80).unwrap_or(0);
        let month =
            Month::try_from(u8::try_from(index % 12 + 1).unwrap_or(1)).unwrap_or(Month::January);
        let day = u8::try_from(index % 27 + 1).unwrap_or(1);
        let date_of_birth = Date::from_calendar_date(year, month, day)
            .map_err(|e| CoreError::Unavailable(format!("demo date: {e}")))?;
        let patient = Patient {
            id: PatientId::new(),
            practice: practice.id,
            nhi,
            given_name: given.to_owned(),
            family_name: family.to_owned(),
            date_of_birth,
            email: Some(format!("patient{index}@example.test")),
            created_at: OffsetDateTime::now_utc(),
        };
        self.create_patient(&patient).await?;
        Ok(patient)
    }

    async fn demo_patient(
        &self,
        practice: &Practice,
        index: usize,
        sequence: &mut u32,
    ) -> Result<(Patient, (DemoLogin, Actor)), CoreError> {
        let patient = self.demo_person(practice, index, sequence).await?;
        let (given, family) = (patient.given_name.clone(), patient.family_name.clone());
        let username = format!("{}.{}{index}", ascii_slug(&given), ascii_slug(&family));
        let display = format!("{given} {family}");
        let (account, secrets) = self
            .demo_account(
                &username,
                &display,
                ActorKind::Patient {
                    patient: patient.id,
                    practice: practice.id,
                },
            )
            .await?;
        let login = DemoLogin {
            role: "patient".to_owned(),
            username,
            password: secrets.password,
            totp_secret: secrets.totp_secret,
            recovery_codes: secrets.recovery_codes,
            display_name: display,
            practice: Some(practice.name.clone()),
            practice_id: Some(practice.id),
            patient_id: Some(patient.id),
            acts_for: Vec::new(),
        };
        Ok((patient, (login, actor_for(&account))))
    }

    async fn demo_documents(
        &self,
        clinician: &Actor,
        patient_actor: &Actor,
        patient: &Patient,
        practice: &Practice,
        index: usize,
    ) -> Result<usize, CoreError> {
        let ctx = RequestContext {
            address: None,
            purpose: Some("demo seed".to_owned()),
        };
        let name = format!("{} {}", patient.given_name, patient.family_name);
        let condition = people::CONDITIONS
            .get(index % people::CONDITIONS.len())
            .copied()
            .unwrap_or("review");
        let specialty = people::SPECIALTIES
            .get(index % people::SPECIALTIES.len())
            .copied()
            .unwrap_or("Medicine");
        let years_ago = i64::try_from(index % 9).unwrap_or(0);
        let admitted = (OffsetDateTime::now_utc() - Duration::days(365 * years_ago + 40)).date();
        let letters = [
            (
                "discharge_summary",
                format!("Discharge summary, {admitted}"),
                discharge_summary(&name, patient, condition, admitted),
            ),
            (
                "referral_letter",
                format!("Referral to {specialty}"),
                referral_letter(&name, patient, practice, specialty),
            ),
            (
                "lab_report",
                "Full blood count and renal function".to_owned(),
                lab_report(&name, patient, index),
            ),
        ];
        let mut count = 0;
        for (kind, title, body) in letters {
            let upload = Upload {
                title,
                kind: Some(kind.to_owned()),
                filename: format!("{kind}.pdf"),
                declared_type: "application/pdf".to_owned(),
            };
            self.upload_document(clinician, patient.id, upload, bytes_source(body), &ctx)
                .await?;
            count += 1;
        }
        if index.is_multiple_of(2) {
            let png = image::render_png(320, 240, index as u64)
                .map_err(|e| CoreError::Unavailable(format!("demo image: {e}")))?;
            let upload = Upload {
                title: "Photo of rash for Dr".to_owned(),
                kind: None,
                filename: "IMG_2041.png".to_owned(),
                declared_type: "image/png".to_owned(),
            };
            self.upload_document(patient_actor, patient.id, upload, bytes_source(png), &ctx)
                .await?;
            count += 1;
        }
        Ok(count)
    }
}

impl Tiaki {
    /// A decoy patient of the practice, with letters like anyone else's, that no
    /// workflow opens: the guard contains whoever reads them. It has no account and is
    /// not in demo-logins.json (`tiaki guard canaries` lists decoys).
    async fn demo_canary(
        &self,
        clinician: &Actor,
        practice: &Practice,
        p_index: usize,
        sequence: &mut u32,
    ) -> Result<usize, CoreError> {
        // An odd index beyond the real patients: a believable name, no patient upload.
        let index = people::PRACTICES.len() * PATIENTS_PER_PRACTICE + 2 * p_index + 1;
        let patient = self.demo_person(practice, index, sequence).await?;
        let count = self
            .demo_documents(clinician, clinician, &patient, practice, index)
            .await?;
        self.register_canary(CanaryKind::Patient, *patient.id.as_uuid(), practice.id)
            .await?;
        for doc in self.store.documents_of(patient.id).await? {
            self.register_canary(CanaryKind::Document, *doc.id.as_uuid(), practice.id)
                .await?;
        }
        Ok(count)
    }
}

fn actor_for(account: &Account) -> Actor {
    Actor {
        account: account.id,
        session: SessionId::new(),
        kind: account.kind,
    }
}

fn bytes_source(bytes: Vec<u8>) -> crate::documents::UploadSource<'static> {
    futures::stream::once(async move { Ok(Bytes::from(bytes)) }).boxed()
}

fn ascii_slug(name: &str) -> String {
    name.chars()
        .filter_map(|c| match c {
            'ā' | 'Ā' => Some('a'),
            'ē' | 'Ē' => Some('e'),
            'ī' | 'Ī' => Some('i'),
            'ō' | 'Ō' => Some('o'),
            'ū' | 'Ū' => Some('u'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

fn header(name: &str, patient: &Patient) -> Vec<Line> {
    vec![
        Line::Text(format!(
            "Patient: {name}    NHI: {}    DOB: {}",
            patient.nhi, patient.date_of_birth
        )),
        Line::Gap,
    ]
}

fn discharge_summary(name: &str, patient: &Patient, condition: &str, admitted: Date) -> Vec<u8> {
    let mut lines = vec![Line::Heading(
        "Te Whatu Ora - Hospital Discharge Summary".into(),
    )];
    lines.extend(header(name, patient));
    lines.extend([
        Line::Text(format!("Admitted: {admitted}    Length of stay: 3 days")),
        Line::Text(format!("Diagnosis: {condition}")),
        Line::Gap,
        Line::Text("Treatment: intravenous therapy, then oral medication on the ward.".into()),
        Line::Text("Observations stable for 24 hours before discharge.".into()),
        Line::Gap,
        Line::Text("Follow-up: GP review in 7 to 10 days. Return if symptoms worsen.".into()),
        Line::Text("Medications on discharge: see attached chart.".into()),
    ]);
    pdf::render(&lines)
}

fn referral_letter(name: &str, patient: &Patient, practice: &Practice, specialty: &str) -> Vec<u8> {
    let mut lines = vec![Line::Heading(format!("Referral to {specialty}"))];
    lines.extend(header(name, patient));
    lines.extend([
        Line::Text(format!("From: {}, {}", practice.name, practice.region)),
        Line::Gap,
        Line::Text("Dear colleague,".into()),
        Line::Text(format!(
            "Thank you for seeing {name}, whom I would value your opinion on."
        )),
        Line::Text("Symptoms have persisted despite first-line management in primary care.".into()),
        Line::Gap,
        Line::Text("Nga mihi,".into()),
        Line::Text("Dr Anahera Henare".into()),
    ]);
    pdf::render(&lines)
}

fn lab_report(name: &str, patient: &Patient, index: usize) -> Vec<u8> {
    let hb = 120 + (index * 7 % 40);
    let creatinine = 60 + (index * 13 % 70);
    let mut lines = vec![Line::Heading("Community Laboratory Report".into())];
    lines.extend(header(name, patient));
    lines.extend([
        Line::Text(format!("Haemoglobin        {hb} g/L        (130 - 175)")),
        Line::Text("White cell count   7.2 x10^9/L  (4.0 - 11.0)".into()),
        Line::Text("Platelets          265 x10^9/L  (150 - 400)".into()),
        Line::Text(format!(
            "Creatinine         {creatinine} umol/L    (60 - 105)"
        )),
        Line::Text("eGFR               >90 mL/min/1.73m2".into()),
        Line::Gap,
        Line::Text("Comment: results reviewed by the requesting clinician.".into()),
    ]);
    pdf::render(&lines)
}

fn write_logins(path: &Path, logins: &[DemoLogin]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let json = serde_json::to_vec_pretty(logins).map_err(std::io::Error::other)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(&json)?;
    file.sync_all()
}
