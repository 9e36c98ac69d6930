//! [`KeyStore`](crate::keys::KeyStore) for both backends. The SQL is the same on SQLite
//! and PostgreSQL except where the catalogue is read and how the retirement fence
//! keeps writers out, so one macro writes both; the call site gives those pieces.

/// Writes `impl KeyStore for $store`. `catalog` lists the tables with a `kek_version`
/// column (one text column); `fence` are statements run first in the retirement
/// transaction; `$begin` turns the pool into a write transaction.
macro_rules! impl_key_store {
    ($store:ty, catalog: $catalog:literal, fence: [$($fence:literal),*], |$pool:ident| $begin:expr) => {
        #[async_trait::async_trait]
        impl $crate::keys::KeyStore for $store {
            async fn kek_rows(
                &self,
            ) -> Result<Vec<$crate::keys::KekRows>, $crate::error::StoreError> {
                use $crate::codec::to_u64;
                use $crate::keys::{KekRows, plain_identifier, version_of};
                let tables: Vec<(String,)> =
                    sqlx::query_as($catalog).fetch_all(&self.pool).await?;
                let mut out = Vec::new();
                for (table,) in tables {
                    let Some(table) = plain_identifier(&table) else {
                        return Err($crate::error::StoreError::corrupt(
                            "a table with a kek_version column has an unusual name",
                        ));
                    };
                    let sql = format!(
                        "SELECT kek_version, COUNT(*) FROM {table} \
                         GROUP BY kek_version ORDER BY kek_version"
                    );
                    let rows: Vec<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .fetch_all(&self.pool)
                        .await?;
                    for (version, n) in rows {
                        out.push(KekRows {
                            table: table.to_owned(),
                            version: version_of(version)?,
                            rows: to_u64(n, "kek row count")?,
                        });
                    }
                }
                Ok(out)
            }

            async fn patient_keys_to_rewrap(
                &self,
                active: $crate::crypto_types::KekVersion,
                after: Option<::tiaki_domain::PatientId>,
                limit: u32,
            ) -> Result<Vec<$crate::keys::PatientKeyRow>, $crate::error::StoreError> {
                use $crate::crypto_types::WrappedPatientKey;
                use $crate::keys::{MAX_BATCH, PatientKeyRow, version_of};
                let after = after.map_or(::uuid::Uuid::nil(), |p| *p.as_uuid());
                let rows: Vec<(::uuid::Uuid, ::uuid::Uuid, i64, Vec<u8>)> = sqlx::query_as(
                    "SELECT k.patient_id, p.practice_id, k.kek_version, k.wrapped \
                     FROM patient_keys k JOIN patients p ON p.id = k.patient_id \
                     WHERE k.kek_version <> $1 AND k.patient_id > $2 \
                     ORDER BY k.patient_id LIMIT $3",
                )
                .bind(i64::from(active.0))
                .bind(after)
                .bind(i64::from(limit.min(MAX_BATCH)))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(patient, practice, version, wrapped)| {
                        Ok(PatientKeyRow {
                            patient: ::tiaki_domain::PatientId::from_uuid(patient),
                            practice: ::tiaki_domain::PracticeId::from_uuid(practice),
                            key: WrappedPatientKey {
                                kek_version: version_of(version)?,
                                bytes: wrapped,
                            },
                        })
                    })
                    .collect()
            }

            async fn patient_keys_rewrap(
                &self,
                batch: &[$crate::keys::PatientKeyRewrap],
            ) -> Result<u64, $crate::error::StoreError> {
                if batch.is_empty() {
                    return Ok(0);
                }
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                let mut written = 0;
                for r in batch {
                    let done = sqlx::query(
                        "UPDATE patient_keys SET kek_version = $1, wrapped = $2 \
                         WHERE patient_id = $3 AND kek_version = $4 AND wrapped = $5",
                    )
                    .bind(i64::from(r.new.kek_version.0))
                    .bind(&r.new.bytes)
                    .bind(r.patient.as_uuid())
                    .bind(i64::from(r.old.kek_version.0))
                    .bind(&r.old.bytes)
                    .execute(&mut *tx)
                    .await?;
                    written += done.rows_affected();
                }
                tx.commit().await?;
                Ok(written)
            }

            async fn sealed_secrets_to_rewrap(
                &self,
                active: $crate::crypto_types::KekVersion,
                after: Option<::tiaki_domain::AccountId>,
                limit: u32,
            ) -> Result<Vec<$crate::keys::SealedSecretRow>, $crate::error::StoreError> {
                use $crate::keys::{MAX_BATCH, SealedSecretRow, version_of};
                let after = after.map_or(::uuid::Uuid::nil(), |a| *a.as_uuid());
                let rows: Vec<(::uuid::Uuid, i64, Vec<u8>)> = sqlx::query_as(
                    "SELECT account_id, kek_version, sealed_secret FROM totp_factors \
                     WHERE kek_version <> $1 AND account_id > $2 \
                     ORDER BY account_id LIMIT $3",
                )
                .bind(i64::from(active.0))
                .bind(after)
                .bind(i64::from(limit.min(MAX_BATCH)))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(account, version, sealed)| {
                        Ok(SealedSecretRow {
                            account: ::tiaki_domain::AccountId::from_uuid(account),
                            purpose: ::tiaki_crypto::SecretPurpose::Totp,
                            secret: ::tiaki_crypto::SealedSecret {
                                kek_version: version_of(version)?,
                                bytes: sealed,
                            },
                        })
                    })
                    .collect()
            }

            async fn sealed_secrets_rewrap(
                &self,
                batch: &[$crate::keys::SealedSecretRewrap],
            ) -> Result<u64, $crate::error::StoreError> {
                if batch.is_empty() {
                    return Ok(0);
                }
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                let mut written = 0;
                for r in batch {
                    let (table, id) = $crate::keys::sealed_table(r.purpose);
                    let sql = format!(
                        "UPDATE {table} SET kek_version = $1, sealed_secret = $2 \
                         WHERE {id} = $3 AND kek_version = $4 AND sealed_secret = $5"
                    );
                    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(i64::from(r.new.kek_version.0))
                        .bind(&r.new.bytes)
                        .bind(r.account.as_uuid())
                        .bind(i64::from(r.old.kek_version.0))
                        .bind(&r.old.bytes)
                        .execute(&mut *tx)
                        .await?;
                    written += done.rows_affected();
                }
                tx.commit().await?;
                Ok(written)
            }

            async fn kek_retire(
                &self,
                versions: &[$crate::crypto_types::KekVersion],
                at: ::time::OffsetDateTime,
            ) -> Result<(), $crate::error::StoreError> {
                let at = $crate::codec::nanos(at)?;
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                $(
                    sqlx::query($fence).execute(&mut *tx).await?;
                )*
                for v in versions {
                    sqlx::query(
                        "INSERT INTO kek_retired (version, retired_at_ns) VALUES ($1, $2) \
                         ON CONFLICT (version) DO NOTHING",
                    )
                    .bind(i64::from(v.0))
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn kek_retired(
                &self,
            ) -> Result<Vec<$crate::crypto_types::KekVersion>, $crate::error::StoreError> {
                let rows: Vec<(i64,)> =
                    sqlx::query_as("SELECT version FROM kek_retired ORDER BY version")
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter()
                    .map(|(v,)| $crate::keys::version_of(v))
                    .collect()
            }

            async fn kek_node_report(
                &self,
                node: &$crate::keys::KekNode,
            ) -> Result<(), $crate::error::StoreError> {
                use $crate::codec::nanos;
                sqlx::query(
                    "INSERT INTO kek_nodes (node_id, active_version, held_versions, \
                     started_at_ns, seen_at_ns) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (node_id) DO UPDATE SET \
                     active_version = excluded.active_version, \
                     held_versions = excluded.held_versions, seen_at_ns = excluded.seen_at_ns",
                )
                .bind(node.node)
                .bind(i64::from(node.active.0))
                .bind($crate::keys::versions_text(&node.held))
                .bind(nanos(node.started_at)?)
                .bind(nanos(node.seen_at)?)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn kek_nodes(
                &self,
                since: ::time::OffsetDateTime,
            ) -> Result<Vec<$crate::keys::KekNode>, $crate::error::StoreError> {
                use $crate::codec::{from_nanos, nanos};
                use $crate::keys::{KekNode, parse_versions, version_of};
                let rows: Vec<(::uuid::Uuid, i64, String, i64, i64)> = sqlx::query_as(
                    "SELECT node_id, active_version, held_versions, started_at_ns, seen_at_ns \
                     FROM kek_nodes WHERE seen_at_ns >= $1 ORDER BY seen_at_ns DESC LIMIT 1000",
                )
                .bind(nanos(since)?)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(node, active, held, started, seen)| {
                        Ok(KekNode {
                            node,
                            active: version_of(active)?,
                            held: parse_versions(&held)?,
                            started_at: from_nanos(started)?,
                            seen_at: from_nanos(seen)?,
                        })
                    })
                    .collect()
            }

            async fn kek_nodes_prune(
                &self,
                before: ::time::OffsetDateTime,
            ) -> Result<u64, $crate::error::StoreError> {
                let done = sqlx::query("DELETE FROM kek_nodes WHERE seen_at_ns < $1")
                    .bind($crate::codec::nanos(before)?)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_key_store;
