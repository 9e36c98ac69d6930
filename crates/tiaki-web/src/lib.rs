//! Tiaki's HTTP edge: server-rendered pages, the JSON API, health endpoints.
//!
//! Handlers here only gather credentials and input, call one use case in `tiaki-core`
//! and shape its answer. They never compare ids or decide access: that is the
//! policy's, reached through the core. Every route is declared once in [`routes`],
//! which the BOLA matrix and the OpenAPI test both read.

mod api;
mod auth;
mod content;
mod error;
mod headers;
mod pages;
pub mod routes;
mod uploads;

use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use tiaki_core::Tiaki;
use tokio::net::TcpListener;

/// Settings of the HTTP edge.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Extra bytes allowed on top of the upload cap for the multipart framing and
    /// form fields.
    pub form_overhead_bytes: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            form_overhead_bytes: 1024 * 1024,
        }
    }
}

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub core: Arc<Tiaki>,
    pub config: Arc<WebConfig>,
}

impl AppState {
    #[must_use]
    pub fn new(core: Tiaki, config: WebConfig) -> Self {
        Self {
            core: Arc::new(core),
            config: Arc::new(config),
        }
    }
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    routes::build(state)
}

/// Serves until `shutdown` resolves. Nagle is off: small responses must not wait for
/// the next packet.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
