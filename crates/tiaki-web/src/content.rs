//! Serving decrypted content: streamed, never cached, never sniffed, never scripted.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use tiaki_core::documents::OpenedDocument;
use tiaki_domain::ContentType;

/// Content may show images and a PDF viewer, and nothing else: no script, no forms, no
/// plugins loading elsewhere, no framing by other sites.
const CONTENT_CSP: &str = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; object-src 'self'; frame-ancestors 'self'; form-action 'none'; base-uri 'none'";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Inline,
    Attachment,
}

/// The response for an opened document.
pub fn respond(opened: OpenedDocument, disposition: Disposition) -> Response {
    let meta = &opened.meta;
    let mime = match meta.content_type {
        ContentType::Text => "text/plain; charset=utf-8",
        other => other.mime(),
    };
    let kind = match disposition {
        Disposition::Inline => "inline",
        Disposition::Attachment => "attachment",
    };
    // The stored filename is already sanitised to a safe ASCII set; the quoted form and
    // the RFC 5987 form are both given for old and new clients.
    let name = meta.filename.as_str();
    let disposition_value = format!(
        "{kind}; filename=\"{name}\"; filename*=UTF-8''{}",
        utf8_percent_encode(name, NON_ALPHANUMERIC)
    );
    let body = Body::from_stream(
        opened
            .content
            .map(|piece| piece.map_err(std::io::Error::other)),
    );
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(opened.length));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_CSP),
    );
    headers.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition_value) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&opened.receipt.access_id().to_string()) {
        headers.insert("x-tiaki-access-id", v);
    }
    // Leak tracing: the reference the copy carries, and whether it could be marked.
    if let Ok(v) = HeaderValue::from_str(&opened.reference) {
        headers.insert("x-tiaki-reference", v);
    }
    headers.insert(
        "x-tiaki-mark",
        HeaderValue::from_static(if opened.marked { "marked" } else { "unmarked" }),
    );
    response
}
