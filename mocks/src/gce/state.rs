//! The live project state behind one lock: the world, its operations and the operation delay.
//! Every access first completes the operations that are due, so tests that read the world see
//! exactly what a `routes.list` at that instant would.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::error::Error;
use super::operations::{OpFailure, Operations};
use super::world::{GceWorld, Instance, NextHop, Route, valid_name};

/// The world, the operations and the delay operations take.
#[derive(Debug)]
pub(crate) struct State {
    pub world: GceWorld,
    pub ops: Operations,
    pub op_delay: Duration,
}

/// A shared, lock-guarded project: what the server reads and tests edit while it runs. Never
/// hold it across an `.await`; every method takes the lock for one step.
#[derive(Debug, Clone)]
pub struct GceWorldHandle {
    inner: Arc<Mutex<State>>,
    started: Instant,
}

impl GceWorldHandle {
    pub(crate) fn new(world: GceWorld, op_delay: Duration, started: Instant) -> Self {
        Self {
            inner: Arc::new(Mutex::new(State {
                world,
                ops: Operations::default(),
                op_delay,
            })),
            started,
        }
    }

    /// Time since the server started.
    pub(crate) fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Runs `f` on the settled state at the current time.
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut State, Duration) -> R) -> R {
        let now = self.now();
        let mut guard = self.inner.lock();
        let state = &mut *guard;
        state.ops.settle(&mut state.world, now);
        f(state, now)
    }

    /// A copy of the whole world (e.g. to dump it as YAML).
    pub fn snapshot(&self) -> GceWorld {
        self.read(Clone::clone)
    }

    /// Reads the world under the lock.
    pub fn read<R>(&self, f: impl FnOnce(&GceWorld) -> R) -> R {
        self.with_state(|s, _| f(&s.world))
    }

    /// Edits the world under the lock.
    pub fn edit<R>(&self, f: impl FnOnce(&mut GceWorld) -> R) -> R {
        self.with_state(|s, _| f(&mut s.world))
    }

    /// Every route, sorted by name.
    pub fn routes(&self) -> Vec<Route> {
        let mut v = self.read(|w| w.routes.clone());
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// One route by name.
    pub fn route(&self, name: &str) -> Option<Route> {
        self.read(|w| w.find_route(name).cloned())
    }

    /// Adds a route directly, as another tool or a person would (no operation, no quota).
    ///
    /// # Errors
    /// [`Error::InvalidWorld`] for a bad name, a taken name or an unknown network.
    pub fn add_route(&self, mut route: Route) -> Result<(), Error> {
        self.edit(|w| {
            if !valid_name(&route.name) {
                return Err(Error::InvalidWorld(format!(
                    "route name '{}' is not valid",
                    route.name
                )));
            }
            if w.find_route(&route.name).is_some() {
                return Err(Error::InvalidWorld(format!(
                    "route '{}' exists",
                    route.name
                )));
            }
            if w.find_network(&route.network).is_none() {
                return Err(Error::InvalidWorld(format!(
                    "unknown network '{}'",
                    route.network
                )));
            }
            route.id = w.next_id();
            route.creation_timestamp = super::clock::rfc3339_now();
            w.routes.push(route);
            Ok(())
        })
    }

    /// Removes a route directly; whether it existed.
    pub fn remove_route(&self, name: &str) -> bool {
        self.edit(|w| {
            let before = w.routes.len();
            w.routes.retain(|r| r.name != name);
            w.routes.len() != before
        })
    }

    /// Points an existing route somewhere else, as someone recreating it by hand would (GCE
    /// routes cannot be updated, so it gets a new id).
    ///
    /// # Errors
    /// [`Error::InvalidWorld`] if the route does not exist.
    pub fn hijack_route(&self, name: &str, next_hop: NextHop) -> Result<(), Error> {
        self.edit(|w| {
            let id = w.next_id();
            let route = w
                .routes
                .iter_mut()
                .find(|r| r.name == name)
                .ok_or_else(|| Error::InvalidWorld(format!("no route '{name}'")))?;
            route.next_hop = next_hop;
            route.id = id;
            Ok(())
        })
    }

    /// Sets an instance's `canIpForward`; whether the instance exists.
    pub fn set_can_ip_forward(&self, zone: &str, name: &str, can_ip_forward: bool) -> bool {
        self.edit(|w| {
            w.find_instance_mut(zone, name)
                .map(|i| i.can_ip_forward = can_ip_forward)
                .is_some()
        })
    }

    /// Adds an instance.
    ///
    /// # Errors
    /// [`Error::InvalidWorld`] if the result is inconsistent (nothing is changed then).
    pub fn add_instance(&self, instance: Instance) -> Result<(), Error> {
        self.edit(|w| w.add_instance(instance))
    }

    /// Deletes an instance (routes to it stay, with a `NEXT_HOP_INSTANCE_NOT_FOUND` warning);
    /// whether it existed.
    pub fn remove_instance(&self, zone: &str, name: &str) -> bool {
        self.edit(|w| {
            let before = w.instances.len();
            w.instances.retain(|i| !(i.zone == zone && i.name == name));
            w.instances.len() != before
        })
    }

    /// Sets the routes allowed per network.
    pub fn set_route_quota(&self, quota: usize) {
        self.edit(|w| w.route_quota = quota);
    }

    /// Makes `method` (e.g. `compute.routes.insert`) answer 403 `forbidden`, or not.
    pub fn set_denied(&self, method: &str, denied: bool) {
        self.edit(|w| {
            if denied {
                w.denied_methods.insert(method.to_string());
            } else {
                w.denied_methods.remove(method);
            }
        });
    }

    /// Sets how long new operations take to reach DONE.
    pub fn set_op_delay(&self, delay: Duration) {
        self.with_state(|s, _| s.op_delay = delay);
    }

    /// Makes the next `n` operations of `kind` (`Some("insert")`, `Some("delete")`, or any with
    /// `None`) end DONE with `failure` inside and no effect: an asynchronous failure.
    pub fn fail_next_operations(&self, kind: Option<&'static str>, n: usize, failure: OpFailure) {
        self.with_state(|s, _| s.ops.inject(kind, n, &failure));
    }

    /// Operations not yet DONE.
    pub fn pending_operations(&self) -> usize {
        self.with_state(|s, now| {
            s.ops
                .all()
                .iter()
                .filter(|o| o.status(now) != super::operations::Status::Done)
                .count()
        })
    }
}
