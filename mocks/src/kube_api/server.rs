//! The accept loop. It serves the router over HTTP/1.1 with hyper directly rather than through
//! `axum::serve`, so that `faults` can cut live connections (a watch sees its stream end the way
//! it would if the API server died) and refuse new ones.

use std::sync::Arc;

use axum::Router;
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::debug;

use super::faults::Gate;

/// Serves until `shutdown` fires, then cuts every connection and waits for their tasks. `gate`
/// decides which connections this listener admits and cuts.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    gate: Arc<Gate>,
    shutdown: CancellationToken,
) {
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Usually fd exhaustion; back off instead of spinning.
                debug!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let Some(cut) = gate.admit_connection() else {
            // Unreachable: close the socket before reading a byte.
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        connections.spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                result = connection => {
                    if let Err(error) = result {
                        debug!(%error, "connection ended with an error");
                    }
                }
                // Dropping the connection future closes the socket mid-request or mid-watch.
                () = cut.cancelled() => {}
            }
        });
    }
    connections.close();
    connections.wait().await;
}
