//! Uploads: decide, validate, encrypt while streaming, then commit metadata, wrapped
//! key and audit event in one transaction. A failure at any step leaves no document
//! (a blob written before a crash is an orphan the sweep removes).

use crate::{CoreError, Tiaki};
use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_crypto::{DocumentContext, seal_stream};
use tiaki_domain::{
    Action, Actor, ActorKind, ContentType, DocumentId, DocumentKind, DocumentMeta, Filename,
    PatientId, Target, Title,
};
use tiaki_store::{DocumentRecord, DocumentState};
use time::OffsetDateTime;

/// The file's bytes as they arrive; the error is the transport's, as text.
pub type UploadSource<'a> = BoxStream<'a, Result<Bytes, String>>;

/// What the uploader says about the file. Everything here is untrusted.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    pub title: String,
    pub kind: Option<String>,
    pub filename: String,
    pub declared_type: String,
}

/// How many leading bytes are examined to decide the real type.
const SNIFF_BYTES: usize = 512;

#[derive(Debug, Clone)]
enum Failure {
    TooLarge,
    Transport(String),
}

impl Tiaki {
    /// Adds a document to a patient's record.
    pub async fn upload_document(
        &self,
        actor: &Actor,
        patient: PatientId,
        upload: Upload,
        source: UploadSource<'_>,
        ctx: &RequestContext,
    ) -> Result<DocumentMeta, CoreError> {
        let target = self
            .patient_target(actor, Action::UploadDocument, patient, ctx)
            .await?;
        let grant = self
            .decide(actor, Action::UploadDocument, target, ctx)
            .await?;
        self.admit_write(&grant, ctx).await?;
        let practice = target
            .practice()
            .ok_or_else(|| CoreError::Unavailable("patient without practice".into()))?;

        let title = Title::parse(&upload.title)
            .map_err(|e| CoreError::invalid("invalid_title", e.to_string()))?;
        let kind = upload_kind(actor, upload.kind.as_deref())?;
        let content_type = ContentType::from_mime(&upload.declared_type).ok_or_else(|| {
            CoreError::UnsupportedType(
                "only PDF, JPEG, PNG and plain-text files can be uploaded".to_owned(),
            )
        })?;
        let filename = Filename::sanitize(&upload.filename);

        let (head, rest) = read_head(source).await?;
        if head.is_empty() {
            return Err(CoreError::invalid("empty_file", "the file is empty"));
        }
        if !content_type.matches_head(&head) {
            return Err(CoreError::UnsupportedType(format!(
                "the file's contents are not a {} file",
                content_type.extension().to_uppercase()
            )));
        }

        let limit = self.config.max_upload_bytes;
        let failure: Arc<Mutex<Option<Failure>>> = Arc::default();
        let counted = Arc::new(AtomicU64::new(0));
        let guarded = guard_stream(head, rest, limit, failure.clone(), counted.clone());
        let (guarded, tap) = self.fingerprint_tap(content_type, guarded);

        let document = DocumentId::new();
        let doc_ctx = DocumentContext {
            document,
            patient,
            practice,
        };
        let Some(patient_key) = self.store.patient_key(patient).await? else {
            // Erased at their request: nothing more can be added (a clear 410, not a
            // fault); otherwise a missing key is a fault.
            if self.store.patient_erased_at(patient).await?.is_some() {
                return Err(CoreError::Gone {
                    code: "erased",
                    message: "This record was erased at the patient's request; nothing \
                              more can be added to it."
                        .into(),
                });
            }
            return Err(CoreError::Unavailable("patient key missing".into()));
        };
        let (data_key, sealer) = self.vault.seal_document(&patient_key, &doc_ctx)?;
        let blob_key = format!("documents/{document}");

        if let Err(e) = self
            .blobs
            .put_stream(&blob_key, seal_stream(sealer, guarded))
            .await
        {
            let failed = failure.lock().ok().and_then(|f| f.clone());
            return Err(match failed {
                Some(Failure::TooLarge) => CoreError::TooLarge {
                    limit_mib: limit.div_ceil(1024 * 1024),
                },
                Some(Failure::Transport(t)) => CoreError::invalid(
                    "upload_interrupted",
                    format!("the upload did not complete: {t}"),
                ),
                None => CoreError::from(e),
            });
        }

        let meta = DocumentMeta {
            id: document,
            patient,
            practice,
            kind,
            title,
            filename,
            content_type,
            size_bytes: counted.load(Ordering::SeqCst),
            created_at: OffsetDateTime::now_utc(),
            uploaded_by: actor.account,
        };
        let record = DocumentRecord {
            meta: meta.clone(),
            blob_key: blob_key.clone(),
            data_key,
            state: DocumentState::Online,
        };
        let event = AuditEvent::new(
            Some(grant.actor()),
            Action::UploadDocument,
            Some(&Target::Document {
                document,
                patient,
                practice,
            }),
            Outcome::Allowed,
            ctx,
        )
        .attributed_to(&grant)
        .with_bytes(meta.size_bytes);
        if let Err(e) = self.store.document_insert(&record, &event).await {
            // Best effort: anything left behind is an orphan the sweep removes.
            if let Err(cleanup) = self.blobs.delete(&blob_key).await {
                tracing::warn!(document = %document, error = %cleanup, "could not remove blob of failed upload");
            }
            return Err(e.into());
        }
        self.keep_upload_fingerprints(document, tap).await;
        tracing::info!(document = %document, patient = %patient, bytes = meta.size_bytes, "document stored");
        Ok(meta)
    }
}

/// Patients' own files are always patient uploads; staff choose a clinical kind.
fn upload_kind(actor: &Actor, declared: Option<&str>) -> Result<DocumentKind, CoreError> {
    let declared = declared.map(str::trim).filter(|s| !s.is_empty());
    let parsed = declared
        .map(|d| {
            DocumentKind::parse(d).ok_or_else(|| {
                CoreError::invalid("invalid_kind", format!("'{d}' is not a document type"))
            })
        })
        .transpose()?;
    match (actor.kind, parsed) {
        (ActorKind::Patient { .. }, None | Some(DocumentKind::PatientUpload)) => {
            Ok(DocumentKind::PatientUpload)
        }
        (ActorKind::Patient { .. }, Some(_)) => Err(CoreError::invalid(
            "invalid_kind",
            "patients can only add their own uploads",
        )),
        (_, None) => Ok(DocumentKind::ClinicalLetter),
        (_, Some(DocumentKind::PatientUpload)) => Err(CoreError::invalid(
            "invalid_kind",
            "staff add clinical documents, not patient uploads",
        )),
        (_, Some(kind)) => Ok(kind),
    }
}

/// Reads until `SNIFF_BYTES` are buffered or the file ends.
async fn read_head(source: UploadSource<'_>) -> Result<(Bytes, UploadSource<'_>), CoreError> {
    // Fused: the rest may be polled again after the head already saw the end.
    let mut source = source.fuse();
    let mut head = BytesMut::new();
    while head.len() < SNIFF_BYTES {
        match source.next().await {
            Some(Ok(piece)) => head.extend_from_slice(&piece),
            Some(Err(e)) => {
                return Err(CoreError::invalid(
                    "upload_interrupted",
                    format!("the upload did not complete: {e}"),
                ));
            }
            None => break,
        }
    }
    Ok((head.freeze(), source.boxed()))
}

/// The head followed by the rest, counting bytes and stopping at the size limit. The
/// reason for stopping is left in `failure` for the caller to report.
fn guard_stream(
    head: Bytes,
    rest: UploadSource<'_>,
    limit: u64,
    failure: Arc<Mutex<Option<Failure>>>,
    counted: Arc<AtomicU64>,
) -> UploadSource<'_> {
    let all = stream::once(async move { Ok(head) }).chain(rest);
    all.map(move |piece| {
        let record = |f: Failure| {
            if let Ok(mut slot) = failure.lock() {
                slot.get_or_insert(f);
            }
        };
        match piece {
            Ok(bytes) => {
                let total =
                    counted.fetch_add(bytes.len() as u64, Ordering::SeqCst) + bytes.len() as u64;
                if total > limit {
                    record(Failure::TooLarge);
                    Err("file too large".to_owned())
                } else {
                    Ok(bytes)
                }
            }
            Err(e) => {
                record(Failure::Transport(e.clone()));
                Err(e)
            }
        }
    })
    .boxed()
}
