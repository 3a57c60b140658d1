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

/// A server started by [`Running::start`]: its address and the task serving it. Dropping it
/// stops the server; [`Running::stop`] also waits for it.
#[derive(Debug)]
pub struct Running {
    addr: std::net::SocketAddr,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Binds `listen` and serves it with `handler` (see [`serve`]) in a background task.
    ///
    /// # Errors
    /// The I/O error of binding the address or reading it back.
    pub async fn start<H, F>(
        listen: std::net::SocketAddr,
        name: &'static str,
        handler: H,
    ) -> std::io::Result<Self>
    where
        H: Fn(Request<Incoming>, CancellationToken) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
    {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(listener, shutdown.clone(), name, handler));
        tracing::debug!(%addr, mock = name, "listening");
        Ok(Self {
            addr,
            shutdown,
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Stops the server and waits for it.
    ///
    /// # Errors
    /// The join error if the server task panicked.
    pub async fn stop(mut self) -> Result<(), tokio::task::JoinError> {
        self.shutdown.cancel();
        match self.task.take() {
            Some(task) => task.await,
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
