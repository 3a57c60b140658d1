//! A fake Kubernetes API server that real kube-rs clients talk to, unchanged, over HTTP on
//! 127.0.0.1.
//!
//! It is written from the Kubernetes API conventions, not from any client's types: objects are
//! `serde_json::Value`s in a `store` with one global resourceVersion, served by `routes` with
//! list/watch (`watch`), optimistic concurrency, the status subresource and all four patch
//! formats (`patch`). It serves Nodes (cluster-scoped, with `/status`), coordination.k8s.io
//! Leases, and core and events.k8s.io Events. [`FakeKube`] is the handle tests hold: it writes a
//! kubeconfig for the client under test, seeds and inspects objects, injects faults (`faults`)
//! and counts requests by verb, resource and User-Agent (`requests`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), routeplane_mocks::kube_api::FakeKubeError> {
//! use routeplane_mocks::kube_api::{FakeKube, node};
//! let fake = FakeKube::start().await?;
//! fake.add_node(node("n1").pod_cidr("10.1.1.0/24").provider_id("aws:///us-east-1a/i-1").build())?;
//! fake.write_kubeconfig("/tmp/kubeconfig")?;
//! // point a kube::Client at /tmp/kubeconfig, or at fake.url()
//! # Ok(()) }
//! ```

mod faults;
mod fixtures;
#[doc(hidden)]
pub mod fuzzing;
mod lease_log;
mod patch;
mod requests;
mod resources;
mod routes;
mod selectors;
mod server;
mod status;
mod store;
mod watch;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use serde_json::Value;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

pub use fixtures::{NodeBuilder, node};
pub use lease_log::LeaseRecord;
pub use requests::RequestRecord;
pub use status::ApiError;

use patch::PatchKind;
use resources::{CORE_EVENTS, EVENTS_V1, LEASES, NODES};
use routes::Shared;
use store::{Store, Target};

/// Why the fake could not start or a helper call failed.
#[derive(Debug, thiserror::Error)]
pub enum FakeKubeError {
    #[error("binding the fake API server to {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the kubeconfig to {}", path.display())]
    WriteKubeconfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The same error an API client would get for the request.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// Options for [`FakeKube`]; `FakeKube::start()` uses the defaults.
#[derive(Debug, Clone)]
pub struct FakeKubeBuilder {
    listen: SocketAddr,
    bookmark_interval: Duration,
    history_limit: usize,
}

impl Default for FakeKubeBuilder {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            bookmark_interval: Duration::from_secs(5),
            history_limit: 10_000,
        }
    }
}

impl FakeKubeBuilder {
    /// Address to bind; the default is `127.0.0.1:0` (any free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// How often watches that allow bookmarks get one. The API server sends about one a minute;
    /// the default here is 5 s so tests see them.
    pub fn bookmark_interval(mut self, interval: Duration) -> Self {
        self.bookmark_interval = interval;
        self
    }

    /// Changes kept for watches to resume from; older resourceVersions get 410 Gone.
    pub fn history_limit(mut self, changes: usize) -> Self {
        self.history_limit = changes;
        self
    }

    /// Binds and starts serving in a background task.
    ///
    /// # Errors
    /// [`FakeKubeError::Bind`] when the address cannot be bound.
    pub async fn start(self) -> Result<FakeKube, FakeKubeError> {
        let listener =
            TcpListener::bind(self.listen)
                .await
                .map_err(|source| FakeKubeError::Bind {
                    addr: self.listen,
                    source,
                })?;
        let addr = listener
            .local_addr()
            .map_err(|source| FakeKubeError::Bind {
                addr: self.listen,
                source,
            })?;
        let shutdown = CancellationToken::new();
        let shared = Arc::new(Shared {
            store: Arc::new(Store::new(self.history_limit)),
            faults: faults::Faults::new(shutdown.clone()),
            requests: requests::RequestLog::default(),
            bookmark_interval: self.bookmark_interval,
            shutdown: shutdown.clone(),
            server_address: addr.to_string(),
        });
        let app = routes::router(Arc::clone(&shared));
        let server = tokio::spawn(server::serve(
            listener,
            app,
            Arc::clone(&shared.faults.main),
            shutdown.clone(),
        ));
        Ok(FakeKube {
            shared,
            addr,
            shutdown,
            server: Some(server),
            doors: parking_lot::Mutex::new(Vec::new()),
        })
    }
}

/// A running fake API server. Dropping it stops the server; [`FakeKube::shutdown`] also waits
/// for every connection to close.
pub struct FakeKube {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: CancellationToken,
    server: Option<JoinHandle<()>>,
    /// The accept loops of the doors opened with [`FakeKube::door`].
    doors: parking_lot::Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl FakeKube {
    /// Starts a fake on `127.0.0.1:0` with default options.
    ///
    /// # Errors
    /// [`FakeKubeError::Bind`] when no port can be bound.
    pub async fn start() -> Result<Self, FakeKubeError> {
        FakeKubeBuilder::default().start().await
    }

    pub fn builder() -> FakeKubeBuilder {
        FakeKubeBuilder::default()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:{port}`: what `kube::Config::new` takes.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig with one context pointing at this server over plain HTTP, without auth.
    pub fn kubeconfig_yaml(&self) -> String {
        Self::kubeconfig_yaml_for(&self.url())
    }

    /// A kubeconfig like [`FakeKube::kubeconfig_yaml`] for another way in (a door's URL).
    pub fn kubeconfig_yaml_for(url: &str) -> String {
        format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: routeplane-fake\n  cluster:\n    server: {url}\n\
             users:\n\
             - name: routeplane-fake\n  user: {{}}\n\
             contexts:\n\
             - name: routeplane-fake\n  context:\n    cluster: routeplane-fake\n    user: routeplane-fake\n    namespace: default\n\
             current-context: routeplane-fake\n"
        )
    }

    /// Writes [`FakeKube::kubeconfig_yaml`] to `path`.
    ///
    /// # Errors
    /// [`FakeKubeError::WriteKubeconfig`] when the file cannot be written.
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> Result<(), FakeKubeError> {
        let path = path.as_ref();
        std::fs::write(path, self.kubeconfig_yaml()).map_err(|source| {
            FakeKubeError::WriteKubeconfig {
                path: path.to_path_buf(),
                source,
            }
        })
    }

    /// Opens another way in to the same API server, on its own port, for one client: a test
    /// gives each replica its own door and then partitions one replica from the API server
    /// ([`FakeKube::set_door_unreachable`]) while the others still reach it. Returns the
    /// door's URL.
    ///
    /// # Errors
    /// [`FakeKubeError::Bind`] when no port can be bound, or when the name is taken.
    pub async fn door(&self, name: &str) -> Result<String, FakeKubeError> {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let bind_error = |source| FakeKubeError::Bind { addr: any, source };
        let listener = TcpListener::bind(any).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let gate = self.shared.faults.new_door(name).ok_or_else(|| {
            bind_error(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("a door named {name:?} is already open"),
            ))
        })?;
        let app = routes::router(Arc::clone(&self.shared));
        let task = tokio::spawn(server::serve(listener, app, gate, self.shutdown.clone()));
        self.doors.lock().push(task);
        Ok(format!("http://{addr}"))
    }

    /// Stops accepting, ends every watch and connection, and waits for them.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        let doors = std::mem::take(&mut *self.doors.lock());
        for task in self.server.take().into_iter().chain(doors) {
            // A panic in an accept loop has nothing left to clean up.
            let _ = task.await;
        }
    }

    fn store(&self) -> &Store {
        &self.shared.store
    }

    // ---- Nodes -------------------------------------------------------------------------------

    /// Creates a Node (spec and status as given), as a kubelet registering would.
    ///
    /// # Errors
    /// `AlreadyExists` when a Node of that name exists, `Invalid` without a name.
    pub fn add_node(&self, node: Value) -> Result<Value, FakeKubeError> {
        Ok(self.store().create(&NODES, "", node)?)
    }

    pub fn node(&self, name: &str) -> Option<Value> {
        self.store().get(&NODES, "", name)
    }

    /// Every Node, sorted by name.
    pub fn nodes(&self) -> Vec<Value> {
        self.store().all(&NODES)
    }

    /// Applies a JSON merge patch to the whole Node, spec and status alike, as a cluster operator
    /// or kubelet would through their own endpoints. Watches see one MODIFIED event.
    ///
    /// # Errors
    /// `NotFound` when there is no such Node.
    pub fn patch_node(&self, name: &str, merge_patch: Value) -> Result<Value, FakeKubeError> {
        let (node, _) = self.store().patch(
            &NODES,
            "",
            name,
            PatchKind::Merge,
            &merge_patch,
            Target::Whole,
        )?;
        Ok(node)
    }

    /// Deletes a Node and returns its last state.
    ///
    /// # Errors
    /// `NotFound` when there is no such Node.
    pub fn delete_node(&self, name: &str) -> Result<Value, FakeKubeError> {
        Ok(self.store().delete(&NODES, "", name, None, None)?)
    }

    /// The Node's condition of `condition_type` (e.g. `NetworkUnavailable`), if set.
    pub fn node_condition(&self, name: &str, condition_type: &str) -> Option<Value> {
        self.node(name)?
            .pointer("/status/conditions")?
            .as_array()?
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(condition_type))
            .cloned()
    }

    // ---- Leases and Events -------------------------------------------------------------------

    pub fn lease(&self, namespace: &str, name: &str) -> Option<Value> {
        self.store().get(&LEASES, namespace, name)
    }

    /// Every committed write to the Lease `namespace/name`, oldest first, with its commit time
    /// and the holder after it: the leadership terms as the API server saw them.
    pub fn lease_history(&self, namespace: &str, name: &str) -> Vec<LeaseRecord> {
        self.store()
            .lease_log()
            .into_iter()
            .filter(|r| r.namespace == namespace && r.name == name)
            .collect()
    }

    /// Every Event recorded through either API (core `v1` with `involvedObject`,
    /// `events.k8s.io/v1` with `regarding`), oldest first.
    pub fn events(&self) -> Vec<Value> {
        let mut events = self.store().all(&CORE_EVENTS);
        events.extend(self.store().all(&EVENTS_V1));
        let rv = |event: &Value| {
            event
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .and_then(|rv| rv.parse::<u64>().ok())
                .unwrap_or(0)
        };
        events.sort_by_key(rv);
        events
    }

    /// The Events whose `involvedObject` or `regarding` names `object_name`.
    pub fn events_about(&self, object_name: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|event| {
                ["/involvedObject/name", "/regarding/name"]
                    .iter()
                    .any(|p| event.pointer(p).and_then(Value::as_str) == Some(object_name))
            })
            .collect()
    }

    // ---- Requests ----------------------------------------------------------------------------

    /// Every request served so far (up to the last 100 000), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests.snapshot()
    }

    /// How many requests had this verb (`patch`, `list`, …) on this resource (`nodes/status`).
    pub fn request_count(&self, verb: &str, resource: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.verb == verb && r.resource == resource)
            .count()
    }

    pub fn clear_requests(&self) {
        self.shared.requests.clear();
    }

    // ---- Watch history -----------------------------------------------------------------------

    /// The latest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.store().resource_version()
    }

    /// Forgets the change history: watches and continue tokens from before now get 410 Gone.
    pub fn compact_history(&self) {
        self.store().compact();
    }

    /// Ends every open watch with a 410 Gone `ERROR` event, forcing clients to relist.
    pub fn expire_watches(&self) {
        self.store().expire_watches();
    }

    // ---- Faults ------------------------------------------------------------------------------

    /// While set, every open connection is cut (watches included) and new ones are closed on
    /// accept, so clients see the API server gone. Applies to every door too.
    pub fn set_unreachable(&self, unreachable: bool) {
        self.shared.faults.set_unreachable(unreachable);
    }

    /// Like [`FakeKube::set_unreachable`] for one door only: the client behind it is
    /// partitioned from the API server, everyone else is not. `false` if there is no such door.
    pub fn set_door_unreachable(&self, name: &str, unreachable: bool) -> bool {
        self.shared.faults.set_door_unreachable(name, unreachable)
    }

    /// Delays every request by `latency` before it is handled.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.faults.set_latency(latency);
    }

    /// While `Some(code)`, every request is answered with that HTTP code and a `Status`
    /// (e.g. 500 `InternalError`, 503 `ServiceUnavailable`, 429 `TooManyRequests`). kube 5
    /// clients retry 429/503/504 themselves, up to 15 times with growing backoff, so a call can
    /// block for minutes before the caller sees the error.
    pub fn set_failing(&self, code: Option<u16>) {
        self.shared.faults.set_failing(code);
    }
}
