//! The accept loop of the mock clouds: plain HTTP/1.1 on hyper, one task per connection, each
//! with a kill switch a request handler can pull to close its socket without an answer (the
//! "dropped connection" fault), all stopped by one cancellation token.

use std::convert::Infallible;
use std::future::Future;

use axum::body::Body;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Serves `listener` until `shutdown`. `handler` gets each request and its connection's kill
/// switch; cancelling the switch drops the connection. `name` labels the log lines.
pub async fn serve<H, F>(
    listener: TcpListener,
    shutdown: CancellationToken,
    name: &'static str,
    handler: H,
) where
    H: Fn(Request<Incoming>, CancellationToken) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, mock = name, "accept failed");
                        continue;
                    }
                };
                let handler = handler.clone();
                let shutdown = shutdown.clone();
                conns.spawn(async move {
                    let kill = CancellationToken::new();
                    let svc_kill = kill.clone();
                    let service = hyper::service::service_fn(move |req| handler(req, svc_kill.clone()));
                    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        result = conn => if let Err(error) = result {
                            tracing::debug!(%error, mock = name, "connection ended with an error");
                        },
                        // Dropping the connection future closes the socket with no answer.
                        () = kill.cancelled() => {},
                        () = shutdown.cancelled() => {},
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}
