//! A running Tiaki with a small, known world: practice X (patients A and B, one staff
//! member of every role), practice Y (patient C and a clinician), and both operators.
//!
//! Every account has an authenticator (its seed kept here, so tests can compute codes
//! as a phone would). [`World::login`] signs in through the core's one-call sign-in with
//! a recovery code the harness gives the account just before, because the same TOTP
//! code is accepted only once per 30 seconds and tests sign in far more often.

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{AUTHORIZATION, COOKIE};
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tempfile::TempDir;
use tiaki_audit::RequestContext;
use tiaki_core::auth::SecondFactor;
use tiaki_core::documents::Upload;
use tiaki_core::{CoreConfig, Tiaki};
use tiaki_crypto::{Keyring, TotpSecret, Vault};
use tiaki_domain::{
    Actor, ActorKind, DocumentMeta, Nhi, OperatorRole, PatientId, PracticeId, SessionId, StaffRole,
};
use tiaki_store::{BlobStore, Patient, Practice, Store};
use tiaki_web::{AppState, WebConfig};
use time::{Date, Month, OffsetDateTime};

pub const PASSWORD: &str = "correct horse battery staple";

/// Which database the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// PostgreSQL with ciphertext in a real S3-compatible server.
    PostgresS3,
}

/// A password-only session: the password was right, no second factor yet.
#[derive(Debug, Clone)]
pub struct Pending {
    pub token: String,
    pub session: SessionId,
    pub csrf: String,
}

/// One signed-in person, for both surfaces.
#[derive(Debug, Clone)]
pub struct Login {
    pub actor: Actor,
    pub token: String,
    pub csrf: String,
}

pub struct World {
    pub addr: SocketAddr,
    pub core: Tiaki,
    pub store: Arc<dyn Store>,
    pub client: reqwest::Client,
    pub patient_a: PatientId,
    /// Patient A's account.
    pub patient_a_account: tiaki_domain::AccountId,
    pub patient_b: PatientId,
    pub patient_c: PatientId,
    pub doc_a: DocumentMeta,
    pub doc_c: DocumentMeta,
    /// A decoy patient of practice X, and a decoy document of theirs.
    pub canary_patient: PatientId,
    pub canary_doc: DocumentMeta,
    /// Every account's authenticator seed, by username.
    pub totp: BTreeMap<String, TotpSecret>,
    /// A full session of patient A that only the BOLA matrix touches (its
    /// `{session_id}` routes).
    pub target_session: SessionId,
    pub db_path: Option<std::path::PathBuf>,
    pub blob_dir: Option<std::path::PathBuf>,
    _s3: Option<tiaki_store::testing::S3Server>,
    _dir: TempDir,
}

/// A small valid PNG (a 1×1 pixel).
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

pub fn pdf_with(marker: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% {marker}\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n").into_bytes()
}

impl World {
    pub async fn start() -> Self {
        Self::start_with(Backend::Sqlite, CoreConfig::default()).await
    }

    /// A world whose guard does not contain on refused or missing ids: most tests
    /// (the BOLA matrix above all) make many on purpose. Budgets and decoys still apply.
    pub async fn start_with(backend: Backend, mut config: CoreConfig) -> Self {
        for budget in [
            &mut config.guard.patient,
            &mut config.guard.clinical_staff,
            &mut config.guard.front_desk_staff,
            &mut config.guard.operator,
            &mut config.guard.address,
        ] {
            budget.probes = u64::MAX;
        }
        Self::start_guarded(backend, config).await
    }

    /// A world with the guard configured exactly as given.
    pub async fn start_guarded(backend: Backend, config: CoreConfig) -> Self {
        let dir = TempDir::new().unwrap();
        let keyring = Keyring::generate().unwrap();
        let (store, blobs, s3, db_path, blob_dir) = match backend {
            Backend::Sqlite => {
                let db = dir.path().join("tiaki.db");
                let store = tiaki_store::open_store(&format!("sqlite://{}", db.display()))
                    .await
                    .unwrap();
                let blob_dir = dir.path().join("blobs");
                (
                    store,
                    BlobStore::local(&blob_dir).unwrap(),
                    None,
                    Some(db),
                    Some(blob_dir),
                )
            }
            Backend::PostgresS3 => {
                let url = tiaki_store::testing::fresh_postgres_url().await.unwrap();
                let store = tiaki_store::open_store(&url).await.unwrap();
                let s3 = tiaki_store::testing::S3Server::start().await.unwrap();
                let blobs = BlobStore::s3(&s3.config()).unwrap();
                (store, blobs, Some(s3), None, None)
            }
        };
        let core = Tiaki::new(store.clone(), blobs, Vault::new(keyring), config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = AppState::new(core.clone(), WebConfig::default());
        tokio::spawn(tiaki_web::serve(listener, state, std::future::pending()));

        let mut totp = BTreeMap::new();
        let practice_x = practice(&store, "Practice X").await;
        let practice_y = practice(&store, "Practice Y").await;
        let patient_a = patient(&core, practice_x, "Aroha", "Ngata", 1).await;
        let patient_b = patient(&core, practice_x, "Bruce", "Ngata", 2).await;
        let patient_c = patient(&core, practice_y, "Carla", "Ngata", 3).await;
        for (name, role, practice) in [
            ("clinician.x", StaffRole::Clinician, practice_x),
            ("nurse.x", StaffRole::Nurse, practice_x),
            ("reception.x", StaffRole::Reception, practice_x),
            ("admin.x", StaffRole::PracticeAdmin, practice_x),
            ("clinician.y", StaffRole::Clinician, practice_y),
        ] {
            account(&core, &mut totp, name, ActorKind::Staff { practice, role }).await;
        }
        for (name, patient, practice) in [
            ("patient.a", patient_a, practice_x),
            ("patient.b", patient_b, practice_x),
            ("patient.c", patient_c, practice_y),
        ] {
            account(
                &core,
                &mut totp,
                name,
                ActorKind::Patient { patient, practice },
            )
            .await;
        }
        account(
            &core,
            &mut totp,
            "operator",
            ActorKind::Operator {
                role: OperatorRole::PlatformAdmin,
            },
        )
        .await;
        account(
            &core,
            &mut totp,
            "privacy",
            ActorKind::Operator {
                role: OperatorRole::PrivacyOfficer,
            },
        )
        .await;

        let clinician_x = system_actor(&store, "clinician.x").await;
        let clinician_y = system_actor(&store, "clinician.y").await;
        let doc_a = seed_doc(
            &core,
            &clinician_x,
            patient_a,
            "Discharge summary",
            pdf_with("A-SECRET"),
        )
        .await;
        let doc_c = seed_doc(
            &core,
            &clinician_y,
            patient_c,
            "Referral",
            pdf_with("C-SECRET"),
        )
        .await;

        let patient_a_account = store
            .account_by_username("patient.a")
            .await
            .unwrap()
            .unwrap()
            .id;
        let canary_patient = patient(&core, practice_x, "Mere", "Tawhiri", 40).await;
        let canary_doc = seed_doc(
            &core,
            &clinician_x,
            canary_patient,
            "Referral letter",
            pdf_with("DECOY"),
        )
        .await;
        core.register_canary(
            tiaki_store::CanaryKind::Patient,
            *canary_patient.as_uuid(),
            practice_x,
        )
        .await
        .unwrap();
        core.register_canary(
            tiaki_store::CanaryKind::Document,
            *canary_doc.id.as_uuid(),
            practice_x,
        )
        .await
        .unwrap();

        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut world = Self {
            addr,
            core,
            store,
            client,
            patient_a,
            patient_a_account,
            patient_b,
            patient_c,
            doc_a,
            doc_c,
            canary_patient,
            canary_doc,
            totp,
            target_session: SessionId::new(),
            db_path,
            blob_dir,
            _s3: s3,
            _dir: dir,
        };
        world.target_session = world.login("patient.a").await.actor.session;
        world
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Signs in through the core (the same call the API makes: password and a second
    /// factor, here a fresh recovery code) and keeps the token.
    pub async fn login(&self, username: &str) -> Login {
        let code = self.recovery_code(username).await;
        let session = self
            .core
            .login(
                username,
                &SecretString::from(PASSWORD),
                Some(&SecondFactor::RecoveryCode(SecretString::from(code))),
                &RequestContext::default(),
                None,
            )
            .await
            .unwrap();
        Login {
            actor: session.actor,
            token: session.token.expose_secret().to_owned(),
            csrf: self.core.csrf_token(session.session),
        }
    }

    /// Gives the account one new recovery code (replacing its others) and returns it.
    pub async fn recovery_code(&self, username: &str) -> String {
        let account = self
            .store
            .account_by_username(username)
            .await
            .unwrap()
            .unwrap();
        let (code, hash) = tiaki_crypto::generate_recovery_code().unwrap();
        self.store
            .recovery_codes_replace(account.id, &[hash], OffsetDateTime::now_utc())
            .await
            .unwrap();
        code.to_string()
    }

    /// The code the account's authenticator shows now.
    pub fn totp_now(&self, username: &str) -> String {
        let now = u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap();
        self.totp[username].code_at(now).unwrap()
    }

    /// A password-only session: the first step of signing in, through the core.
    pub async fn pending(&self, username: &str) -> Pending {
        let accepted = self
            .core
            .login_password(
                username,
                &SecretString::from(PASSWORD),
                &RequestContext::default(),
                None,
            )
            .await
            .unwrap();
        Pending {
            token: accepted.token.expose_secret().to_owned(),
            session: accepted.session,
            csrf: self.core.csrf_token(accepted.session),
        }
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path))
    }

    pub fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        login: Option<&Login>,
    ) -> reqwest::RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match login {
            Some(l) => request.header(AUTHORIZATION, format!("Bearer {}", l.token)),
            None => request,
        }
    }

    /// GETs a JSON API resource (as `login`, if given) and parses the body.
    pub async fn get_json(&self, path: &str, login: Option<&Login>) -> serde_json::Value {
        self.api(reqwest::Method::GET, path, login)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub fn page(
        &self,
        method: reqwest::Method,
        path: &str,
        login: Option<&Login>,
    ) -> reqwest::RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match login {
            Some(l) => request.header(COOKIE, format!("__Host-tiaki_session={}", l.token)),
            None => request,
        }
    }

    /// An upload form for the API: title, then file.
    pub fn upload_form(
        title: &str,
        filename: &str,
        mime: &str,
        bytes: Vec<u8>,
    ) -> reqwest::multipart::Form {
        reqwest::multipart::Form::new()
            .text("title", title.to_owned())
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes)
                    .file_name(filename.to_owned())
                    .mime_str(mime)
                    .unwrap(),
            )
    }

    pub async fn document_count(&self) -> usize {
        let mut n = 0;
        for p in [self.patient_a, self.patient_b, self.patient_c] {
            n += self.store.documents_of(p).await.unwrap().len();
        }
        n
    }

    /// Every file in the local blob directory, with its bytes.
    pub fn blob_files(&self) -> Vec<(std::path::PathBuf, Vec<u8>)> {
        fn walk(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    out.push((path, bytes));
                }
            }
        }
        let mut out = Vec::new();
        if let Some(dir) = &self.blob_dir {
            walk(dir, &mut out);
        }
        out
    }

    /// A raw connection to the SQLite file, for fault injection.
    pub async fn sqlite(&self) -> sqlx::SqlitePool {
        let path = self.db_path.as_ref().expect("sqlite backend");
        sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap()
    }
}

async fn practice(store: &Arc<dyn Store>, name: &str) -> PracticeId {
    let p = Practice {
        id: PracticeId::new(),
        name: name.to_owned(),
        region: "Wellington".to_owned(),
    };
    store.practice_insert(&p).await.unwrap();
    p.id
}

async fn patient(
    core: &Tiaki,
    practice: PracticeId,
    given: &str,
    family: &str,
    n: u32,
) -> PatientId {
    let p = Patient {
        id: PatientId::new(),
        practice,
        nhi: (n..).find_map(|k| Nhi::synthesize(*b"ZWT", k * 7)).unwrap(),
        given_name: given.to_owned(),
        family_name: family.to_owned(),
        date_of_birth: Date::from_calendar_date(1980, Month::March, 3).unwrap(),
        email: None,
        created_at: OffsetDateTime::now_utc(),
    };
    core.create_patient(&p).await.unwrap();
    p.id
}

async fn account(
    core: &Tiaki,
    totp: &mut BTreeMap<String, TotpSecret>,
    username: &str,
    kind: ActorKind,
) {
    let account = core
        .create_account(username, username, &SecretString::from(PASSWORD), kind)
        .await
        .unwrap();
    let factors = core.provision_totp(account.id).await.unwrap();
    totp.insert(username.to_owned(), factors.totp);
}

async fn system_actor(store: &Arc<dyn Store>, username: &str) -> Actor {
    let account = store.account_by_username(username).await.unwrap().unwrap();
    Actor {
        account: account.id,
        session: SessionId::new(),
        kind: account.kind,
    }
}

async fn seed_doc(
    core: &Tiaki,
    actor: &Actor,
    patient: PatientId,
    title: &str,
    bytes: Vec<u8>,
) -> DocumentMeta {
    let upload = Upload {
        title: title.to_owned(),
        kind: Some("discharge_summary".to_owned()),
        filename: "letter.pdf".to_owned(),
        declared_type: "application/pdf".to_owned(),
    };
    let source = futures::stream::once(async move { Ok(Bytes::from(bytes)) }).boxed();
    core.upload_document(actor, patient, upload, source, &RequestContext::default())
        .await
        .unwrap()
}

/// The account that holds the grants on patient A the BOLA matrix revokes and ends
/// ([`World::grant_in_force`]); it never signs in.
#[derive(Debug, Clone, Copy)]
pub struct ProxyTargets {
    pub holder: tiaki_domain::AccountId,
    pub patient_a_login: tiaki_domain::AccountId,
    pub admin: tiaki_domain::AccountId,
}

/// The usernames of the proxy roles, each a patient with a login of their own:
/// `proxy.live` (A's documents, to act; messages, to see), `proxy.reader` (A's
/// documents, to see), `proxy.expired` (every scope, expired yesterday),
/// `proxy.revoked` (every scope, revoked by A), `proxy.scoped` (A's appointments
/// only) and `guardian` (guardian of A).
pub const PROXY_ROLES: [&str; 6] = [
    "proxy.live",
    "proxy.reader",
    "proxy.expired",
    "proxy.revoked",
    "proxy.scoped",
    "guardian",
];

impl World {
    /// Adds patient A's proxies and guardian (see [`PROXY_ROLES`]). Grants go through
    /// the core as A would make them, except the expired one (the core refuses a date
    /// in the past) and the guardian's: guardianship is for children, and A is an adult
    /// here, so the matrix's guardian is stored directly (the age rule has its own
    /// tests in `proxies.rs`).
    pub async fn add_proxies(&mut self) -> ProxyTargets {
        use tiaki_core::proxies::ProxyRequest;
        use tiaki_domain::{Access, ProxyAccess, ProxyGrantId, ProxyKind, Scopes};
        let practice_x = self
            .store
            .patient(self.patient_a)
            .await
            .unwrap()
            .unwrap()
            .practice;
        let practice_y = self
            .store
            .patient(self.patient_c)
            .await
            .unwrap()
            .unwrap()
            .practice;
        let mut ids = BTreeMap::new();
        for (n, username) in (500..).step_by(10).zip(PROXY_ROLES) {
            // Some are enrolled elsewhere: a proxy needs no link to A's practice.
            let practice = if n % 20 == 0 { practice_x } else { practice_y };
            let patient = patient(&self.core, practice, "Proxy", username, n).await;
            let kind = ActorKind::Patient { patient, practice };
            account(&self.core, &mut self.totp, username, kind).await;
            let id = self
                .store
                .account_by_username(username)
                .await
                .unwrap()
                .unwrap()
                .id;
            ids.insert(username, id);
        }
        let aroha = self.login("patient.a").await;
        let in_a_year = (OffsetDateTime::now_utc() + time::Duration::days(365)).date();
        let grant = |username: &str, scopes: &[(&str, &str)]| ProxyRequest {
            username: username.to_owned(),
            scopes: scopes
                .iter()
                .map(|(s, a)| ((*s).to_owned(), (*a).to_owned()))
                .collect(),
            expires_on: in_a_year.to_string(),
        };
        let ctx = RequestContext::default();
        for request in [
            grant("proxy.live", &[("documents", "act"), ("messages", "read")]),
            grant("proxy.reader", &[("documents", "read")]),
            grant("proxy.scoped", &[("appointments", "act")]),
            grant("proxy.revoked", &[("documents", "act"), ("records", "act")]),
        ] {
            self.core
                .grant_proxy(&aroha.actor, self.patient_a, &request, &ctx)
                .await
                .unwrap();
        }
        let revoked = self
            .store
            .proxy_grant_between(ids["proxy.revoked"], self.patient_a)
            .await
            .unwrap()
            .unwrap();
        self.core
            .revoke_proxy(&aroha.actor, self.patient_a, revoked.id, &ctx)
            .await
            .unwrap();

        let admin = self
            .store
            .account_by_username("admin.x")
            .await
            .unwrap()
            .unwrap()
            .id;
        let now = OffsetDateTime::now_utc();
        let stored = |grantee, kind, created_by, created_at, expires_at| ProxyAccess {
            id: ProxyGrantId::new(),
            kind,
            patient: self.patient_a,
            grantee,
            scopes: Scopes::all(Access::Act),
            created_by,
            created_at,
            expires_at,
            revoked_at: None,
            revoked_by: None,
        };
        let event = |action: &str| {
            tiaki_audit::AuditEvent::named(
                action,
                None,
                None,
                tiaki_audit::Outcome::Allowed,
                &RequestContext::default(),
            )
        };
        let a = aroha.actor.account;
        let day = time::Duration::days(1);
        let expired = stored(
            ids["proxy.expired"],
            ProxyKind::Proxy,
            a,
            now - 60 * day,
            now - day,
        );
        let guardian = stored(
            ids["guardian"],
            ProxyKind::Guardian,
            admin,
            now,
            now + 365 * day,
        );
        self.store
            .proxy_grant_insert(&expired, &event("proxy.grant"))
            .await
            .unwrap();
        self.store
            .proxy_grant_insert(&guardian, &event("guardian.start"))
            .await
            .unwrap();

        // The holder of the grants the matrix ends: an account that never signs in.
        let spare = patient(&self.core, practice_x, "Spare", "Proxy", 600).await;
        let holder = tiaki_store::Account {
            id: tiaki_domain::AccountId::new(),
            username: "spare.holder".to_owned(),
            display_name: "Spare holder".to_owned(),
            password_hash: "not a hash: this account never signs in".to_owned(),
            kind: ActorKind::Patient {
                patient: spare,
                practice: practice_x,
            },
            disabled: false,
            created_at: now,
        };
        self.store.account_insert(&holder).await.unwrap();
        ProxyTargets {
            holder: holder.id,
            patient_a_login: a,
            admin,
        }
    }

    /// A new grant on patient A to `targets.holder`, in force for a year (replacing
    /// the holder's previous one): made by A for a proxy, by the practice admin for a
    /// guardian.
    pub async fn grant_in_force(
        &self,
        targets: ProxyTargets,
        kind: tiaki_domain::ProxyKind,
    ) -> tiaki_domain::ProxyGrantId {
        use tiaki_domain::{Access, ProxyAccess, ProxyGrantId, ProxyKind, Scopes};
        let now = OffsetDateTime::now_utc();
        let grant = ProxyAccess {
            id: ProxyGrantId::new(),
            kind,
            patient: self.patient_a,
            grantee: targets.holder,
            scopes: Scopes::all(Access::Act),
            created_by: if kind == ProxyKind::Proxy {
                targets.patient_a_login
            } else {
                targets.admin
            },
            created_at: now,
            expires_at: now + time::Duration::days(365),
            revoked_at: None,
            revoked_by: None,
        };
        let event = tiaki_audit::AuditEvent::named(
            "proxy.grant",
            None,
            None,
            tiaki_audit::Outcome::Allowed,
            &RequestContext::default(),
        );
        self.store.proxy_grant_insert(&grant, &event).await.unwrap();
        grant.id
    }
}
