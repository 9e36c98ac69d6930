//! Practices and patients on PostgreSQL: inserts, lookups, search and the operator counts.

use crate::codec::{date_text, limit, nanos};
use crate::crypto_types::WrappedPatientKey;
use crate::error::StoreError;
use crate::model::{Patient, Practice, PracticeCounts};
use crate::rows::{CountsRow, PatientKeyRow, PatientRow, PracticeRow, convert_all};
use crate::search::{PatientQuery, search_columns};
use sqlx::PgPool;
use tiaki_domain::{PatientId, PracticeId};

/// The columns as read: the date leaves as `YYYY-MM-DD` text, like SQLite's.
macro_rules! patient_columns {
    () => {
        "id, practice_id, nhi, given_name, family_name, \
         to_char(date_of_birth, 'YYYY-MM-DD') AS date_of_birth, email, created_at_ns"
    };
}

pub(super) async fn practice_insert(pool: &PgPool, p: &Practice) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO practices (id, name, region) VALUES ($1, $2, $3)")
        .bind(p.id.as_uuid())
        .bind(&p.name)
        .bind(&p.region)
        .execute(pool)
        .await?;
    Ok(())
}

pub(super) async fn practices(pool: &PgPool) -> Result<Vec<Practice>, StoreError> {
    let rows: Vec<PracticeRow> =
        sqlx::query_as("SELECT id, name, region FROM practices ORDER BY name, id")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(Practice::from).collect())
}

pub(super) async fn practice(
    pool: &PgPool,
    id: PracticeId,
) -> Result<Option<Practice>, StoreError> {
    let row: Option<PracticeRow> =
        sqlx::query_as("SELECT id, name, region FROM practices WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await?;
    Ok(row.map(Practice::from))
}

pub(super) async fn patient_insert(
    pool: &PgPool,
    p: &Patient,
    key: &WrappedPatientKey,
) -> Result<(), StoreError> {
    let (given, family, full) = search_columns(&p.given_name, &p.family_name);
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO patients (id, practice_id, nhi, given_name, family_name, date_of_birth, \
         email, created_at_ns, search_given, search_family, search_full) \
         VALUES ($1, $2, $3, $4, $5, $6::date, $7, $8, $9, $10, $11)",
    )
    .bind(p.id.as_uuid())
    .bind(p.practice.as_uuid())
    .bind(p.nhi.as_str())
    .bind(&p.given_name)
    .bind(&p.family_name)
    .bind(date_text(p.date_of_birth)?)
    .bind(p.email.as_deref())
    .bind(nanos(p.created_at)?)
    .bind(given)
    .bind(family)
    .bind(full)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO patient_keys (patient_id, kek_version, wrapped) VALUES ($1, $2, $3)")
        .bind(p.id.as_uuid())
        .bind(i64::from(key.kek_version.0))
        .bind(&key.bytes)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn patient(pool: &PgPool, id: PatientId) -> Result<Option<Patient>, StoreError> {
    let row: Option<PatientRow> = sqlx::query_as(concat!(
        "SELECT ",
        patient_columns!(),
        " FROM patients WHERE id = $1"
    ))
    .bind(id.as_uuid())
    .fetch_optional(pool)
    .await?;
    row.map(Patient::try_from).transpose()
}

pub(super) async fn patient_key(
    pool: &PgPool,
    id: PatientId,
) -> Result<Option<WrappedPatientKey>, StoreError> {
    let row: Option<PatientKeyRow> =
        sqlx::query_as("SELECT kek_version, wrapped FROM patient_keys WHERE patient_id = $1")
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await?;
    row.map(WrappedPatientKey::try_from).transpose()
}

pub(super) async fn search(
    pool: &PgPool,
    practice: PracticeId,
    query: &str,
    max: u32,
) -> Result<Vec<Patient>, StoreError> {
    let rows: Vec<PatientRow> = match PatientQuery::parse(query) {
        PatientQuery::Nothing => return Ok(Vec::new()),
        PatientQuery::Nhi(nhi) => {
            sqlx::query_as(concat!(
                "SELECT ",
                patient_columns!(),
                " FROM patients WHERE practice_id = $1 AND nhi = $2 LIMIT $3"
            ))
            .bind(practice.as_uuid())
            .bind(nhi.as_str())
            .bind(limit(max))
            .fetch_all(pool)
            .await?
        }
        PatientQuery::Name { prefix, upper } => {
            sqlx::query_as(concat!(
                "SELECT ",
                patient_columns!(),
                " FROM patients WHERE practice_id = $1 AND (",
                "(search_family >= $2 AND search_family < $3) OR ",
                "(search_given >= $2 AND search_given < $3) OR ",
                "(search_full >= $2 AND search_full < $3)) ",
                "ORDER BY search_family, search_given, id LIMIT $4"
            ))
            .bind(practice.as_uuid())
            .bind(prefix)
            .bind(upper)
            .bind(limit(max))
            .fetch_all(pool)
            .await?
        }
    };
    convert_all(rows)
}

pub(super) async fn platform_counts(pool: &PgPool) -> Result<Vec<PracticeCounts>, StoreError> {
    let rows: Vec<CountsRow> = sqlx::query_as(
        "SELECT p.id, p.name, p.region, \
           (SELECT count(*) FROM patients WHERE practice_id = p.id) AS patients, \
           (SELECT count(*) FROM documents WHERE practice_id = p.id) AS documents, \
           (SELECT count(*) FROM accounts WHERE practice_id = p.id AND kind = 'staff') AS staff \
         FROM practices p ORDER BY p.name, p.id",
    )
    .fetch_all(pool)
    .await?;
    convert_all(rows)
}
