//! The JSON API under `/api/v1`.

pub mod archive;
pub mod audit;
pub mod documents;
pub mod email;
pub mod factors;
pub mod guard;
pub mod health;
pub mod invitations;
mod mail_openapi;
pub mod openapi;
pub mod password;
pub mod patients;
pub mod platform;
pub mod proxies;
pub mod security_status;
pub mod sessions;

use crate::error::Problem;
use std::str::FromStr;

/// Parses an id from a path. A malformed id is answered exactly like a missing one.
pub fn path_id<T: FromStr>(raw: &str) -> Result<T, Problem> {
    raw.parse().map_err(|_| Problem::not_found())
}

/// A JSON body whose rejections are answered in the API's error format.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = crate::error::ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(Problem::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("The request body is not valid: {}", rejection.body_text()),
            )
            .into()),
        }
    }
}
