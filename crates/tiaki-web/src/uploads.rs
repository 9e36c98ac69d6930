//! Reading an upload form (API and page alike). Fields are read in order and the file
//! must come last, so it can stream straight into the vault without being buffered.

use crate::AppState;
use crate::auth::PageSession;
use crate::error::Problem;
use axum::extract::Multipart;
use axum::http::StatusCode;
use futures::StreamExt;
use tiaki_audit::RequestContext;
use tiaki_core::documents::Upload;
use tiaki_domain::{Actor, DocumentMeta, PatientId};

/// Longest text field accepted in an upload form.
const FIELD_MAX: usize = 4096;

fn bad(code: &'static str, message: &str) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, code, message)
}

/// Reads the form and hands the file to the core as a stream. For pages, `session`
/// is given and the `csrf` field must come first and match.
pub async fn read_upload(
    state: &AppState,
    actor: &Actor,
    patient: PatientId,
    mut multipart: Multipart,
    ctx: &RequestContext,
    session: Option<&PageSession>,
) -> Result<DocumentMeta, Problem> {
    let mut upload = Upload::default();
    let mut csrf_checked = session.is_none();
    loop {
        let field = multipart.next_field().await.map_err(|e| {
            bad(
                "invalid_body",
                &format!("The form could not be read: {}", e.body_text()),
            )
        })?;
        let Some(mut field) = field else {
            return Err(bad("missing_file", "Choose a file to upload."));
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            if !csrf_checked {
                return Err(crate::auth::csrf_problem());
            }
            upload.filename = field.file_name().unwrap_or_default().to_owned();
            if upload.declared_type.is_empty() {
                upload.declared_type = field.content_type().unwrap_or_default().to_owned();
            }
            let source = async_stream(&mut field);
            return state
                .core
                .upload_document(actor, patient, upload, source, ctx)
                .await
                .map_err(Problem::from);
        }
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| {
            bad(
                "invalid_body",
                &format!("The form could not be read: {}", e.body_text()),
            )
        })? {
            value.extend_from_slice(&chunk);
            if value.len() > FIELD_MAX {
                return Err(bad("field_too_long", "A form field is too long."));
            }
        }
        let value = String::from_utf8(value)
            .map_err(|_| bad("invalid_body", "Form fields must be UTF-8 text."))?;
        match name.as_str() {
            "csrf" => {
                if let Some(session) = session {
                    session.check_csrf(state, &value)?;
                    csrf_checked = true;
                }
            }
            "title" => upload.title = value,
            "type" | "kind" => upload.kind = Some(value),
            "content_type" => upload.declared_type = value,
            _ => {
                return Err(bad(
                    "unknown_field",
                    &format!(
                        "The form has an unexpected field '{}'.",
                        name.chars().take(40).collect::<String>()
                    ),
                ));
            }
        }
    }
}

fn async_stream<'a>(
    field: &'a mut axum::extract::multipart::Field<'_>,
) -> tiaki_core::documents::UploadSource<'a> {
    // The stream ends after the first transport error.
    futures::stream::unfold(Some(field), |field| async move {
        let field = field?;
        match field.chunk().await {
            Ok(Some(bytes)) => Some((Ok(bytes), Some(field))),
            Ok(None) => None,
            Err(e) => Some((Err(e.body_text()), None)),
        }
    })
    .boxed()
}
