//! The one place core errors become HTTP answers. Missing and refused are the same
//! 404 with the same body; server-side failures are opaque to the client and carry a
//! reference that appears in the log.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tiaki_core::CoreError;

/// The machine-readable error body of the JSON API.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
}

/// How a core error is presented.
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (throttled sign-ins).
    pub retry_after: Option<u64>,
}

pub const NOT_FOUND_MESSAGE: &str = "There is nothing here, or you do not have access to it.";

/// The one answer to every failed API sign-in: unknown username, wrong password,
/// missing or wrong second factor, throttled. Nothing in it says which.
pub const SIGN_IN_FAILED_MESSAGE: &str = "Signing in needs your username, your password and a \
current code from your authenticator app (or one of your recovery codes). One of them was \
missing or not right.";

impl From<CoreError> for Problem {
    fn from(e: CoreError) -> Self {
        let retry_after = match e {
            CoreError::Throttled { retry_after_secs } => Some(retry_after_secs),
            _ => None,
        };
        let (status, code, message) = match e {
            CoreError::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                NOT_FOUND_MESSAGE.to_owned(),
            ),
            CoreError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Please sign in.".to_owned(),
            ),
            CoreError::BadCredentials => {
                (StatusCode::UNAUTHORIZED, "bad_credentials", e.to_string())
            }
            // Throttled looks the same as any other failed sign-in, plus Retry-After.
            CoreError::SecondFactorRequired | CoreError::Throttled { .. } => (
                StatusCode::UNAUTHORIZED,
                "second_factor_required",
                SIGN_IN_FAILED_MESSAGE.to_owned(),
            ),
            CoreError::StepUpRequired => (
                StatusCode::FORBIDDEN,
                "step_up_required",
                "Please confirm it is you: enter a current code from your authenticator app, \
then try again."
                    .to_owned(),
            ),
            CoreError::Frozen => (StatusCode::FORBIDDEN, "account_frozen", e.to_string()),
            CoreError::ModuleClosed => (
                StatusCode::SERVICE_UNAVAILABLE,
                "module_closed",
                e.to_string(),
            ),
            CoreError::Invalid { code, ref message } => {
                (StatusCode::BAD_REQUEST, code, message.clone())
            }
            CoreError::Gone { code, ref message } => (StatusCode::GONE, code, message.clone()),
            CoreError::TooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
            }
            CoreError::UnsupportedType(ref m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_type",
                m.clone(),
            ),
            CoreError::Unavailable(ref detail) => {
                let reference = uuid::Uuid::now_v7();
                tracing::error!(%reference, detail = %detail, "request failed closed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    format!(
                        "The service cannot complete this safely right now. Reference {reference}."
                    ),
                )
            }
        };
        Self {
            status,
            code,
            message,
            retry_after,
        }
    }
}

impl Problem {
    #[must_use]
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    #[must_use]
    pub fn not_found() -> Self {
        CoreError::NotFound.into()
    }
}

/// A JSON API error.
#[derive(Debug)]
pub struct ApiError(pub Problem);

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        Self(e.into())
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        Self(p)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let Problem {
            status,
            code,
            message,
            retry_after,
        } = self.0;
        let mut response = (status, Json(ErrorBody { code, message })).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        response
    }
}
