//! The bare HTTP stack's ceiling on this machine.

use super::Line;
use crate::nginx::Nginx;
use crate::stats::Summary;
use crate::world::World;
use crate::wrk::{self, Load};
use crate::{ComponentArgs, Result};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The bare HTTP stack: axum (as Tiaki uses it) serving the plaintext from memory, and
/// nginx from disk, under the same wrk load as W1. No audit, no crypto, no database:
/// this is a ceiling for any axum server on this machine, not a way to read documents.
pub(super) async fn http_floor(world: &World, args: &ComponentArgs) -> Result<Vec<Line>> {
    let mut files = HashMap::new();
    for d in &world.docs {
        files.insert(
            d.id.to_string(),
            Bytes::from(tokio::fs::read(&d.plaintext).await?),
        );
    }
    let app = axum::Router::new()
        .route("/d/{id}", axum::routing::get(serve_from_memory))
        .with_state(Arc::new(files));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        use axum::serve::ListenerExt as _;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    let nginx = Nginx::start(&world.nginx_root, &world.dir.path().join("nginx")).await?;
    let paths: Vec<String> = world.docs.iter().map(|d| format!("/d/{}", d.id)).collect();
    let script = wrk::write_script(&world.dir.path().join("floor.lua"), &paths, &[])?;
    let load = Load {
        threads: args.threads,
        connections: args.concurrency,
        duration: Duration::from_secs(args.duration),
    };
    let mut lines = Vec::new();
    for (name, base) in [
        (
            "HTTP floor: nginx, static files",
            format!("http://{}", nginx.addr),
        ),
        (
            "HTTP floor: axum, bytes from memory",
            format!("http://{addr}"),
        ),
    ] {
        let r = wrk::run(&base, &script, load).await?;
        lines.push(Line {
            step: format!("{name} (wrk -c{})", args.concurrency),
            summary: Summary {
                count: usize::try_from(r.requests).unwrap_or(usize::MAX),
                mean: Duration::ZERO,
                p50: r.p50,
                p99: r.p99,
            },
            rate: r.requests_per_sec,
            note: format!("{} errors", r.non_2xx + r.socket_errors),
        });
    }
    nginx.stop().await?;
    let _ = stop.send(());
    let _ = server.await;
    Ok(lines)
}

type Files = Arc<HashMap<String, Bytes>>;

async fn serve_from_memory(
    axum::extract::State(files): axum::extract::State<Files>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match files.get(&id) {
        Some(body) => (
            [(axum::http::header::CONTENT_TYPE, "image/png")],
            body.clone(),
        )
            .into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}
