//! Global operations. `routes.insert` and `routes.delete` answer with an Operation that goes
//! PENDING → RUNNING (after half the delay) → DONE (after the delay); the change takes effect
//! when it is DONE, and a failure found then (the name was taken meanwhile, the network's route
//! quota is full, an injected failure) is carried inside the operation as
//! `error.errors[].code` with `httpErrorStatusCode`/`httpErrorMessage`, as GCE reports
//! asynchronous failures. Completion is evaluated lazily, in deadline order, whenever the state
//! is touched, so it needs no background task and follows a paused tokio clock.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use serde_json::{Value, json};

use super::links;
use super::world::{GceWorld, Route};

/// What an operation does when it completes.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Add this route.
    InsertRoute(Route),
    /// Remove the route of this name.
    DeleteRoute(String),
}

impl Effect {
    /// GCE's `operationType`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InsertRoute(_) => "insert",
            Self::DeleteRoute(_) => "delete",
        }
    }
    fn route_name(&self) -> &str {
        match self {
            Self::InsertRoute(r) => &r.name,
            Self::DeleteRoute(n) => n,
        }
    }
}

/// An error carried inside a finished operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpFailure {
    /// `error.errors[].code`, e.g. `QUOTA_EXCEEDED`, `RESOURCE_ALREADY_EXISTS`.
    pub code: String,
    /// `error.errors[].message`.
    pub message: String,
    /// `httpErrorStatusCode`.
    pub http_status: u16,
}

impl OpFailure {
    /// A failure with the given code, message and HTTP status.
    pub fn new(code: &str, message: &str, http_status: u16) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            http_status,
        }
    }
    /// `INTERNAL_ERROR` (500), a transient backend failure worth retrying.
    pub fn internal() -> Self {
        Self::new("INTERNAL_ERROR", "Internal error. Please try again.", 500)
    }
    /// `RESOURCE_NOT_READY` (400), e.g. the target instance is being changed.
    pub fn not_ready() -> Self {
        Self::new(
            "RESOURCE_NOT_READY",
            "The resource is not ready. Please try again.",
            400,
        )
    }
    fn http_message(&self) -> &'static str {
        match self.http_status {
            400 => "BAD REQUEST",
            403 => "FORBIDDEN",
            404 => "NOT FOUND",
            409 => "CONFLICT",
            429 => "TOO MANY REQUESTS",
            503 => "SERVICE UNAVAILABLE",
            _ => "INTERNAL SERVER ERROR",
        }
    }
}

/// Operation status at a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Accepted, not started.
    Pending,
    /// Started.
    Running,
    /// Finished, with or without an error.
    Done,
}

impl Status {
    /// GCE's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Done => "DONE",
        }
    }
}

/// One global operation.
#[derive(Debug, Clone)]
pub struct Operation {
    /// `operation-…`.
    pub name: String,
    /// Numeric id.
    pub id: u64,
    /// The change.
    pub effect: Effect,
    /// The route's id (the inserted one, or the deleted one).
    pub target_id: u64,
    /// Creation time, from the server's start.
    pub created: Duration,
    /// Completion time, from the server's start.
    pub deadline: Duration,
    /// RFC 3339 creation time.
    pub insert_time: String,
    /// Set when DONE: `None` for success.
    pub failure: Option<OpFailure>,
    /// Set when DONE.
    pub end_time: Option<String>,
    /// The `requestId` the operation was created with, reported as `clientOperationId`.
    pub request_id: Option<String>,
    seq: u64,
}

impl Operation {
    /// The status at `now`.
    pub fn status(&self, now: Duration) -> Status {
        if self.end_time.is_some() {
            Status::Done
        } else if now >= self.created + (self.deadline - self.created) / 2 {
            Status::Running
        } else {
            Status::Pending
        }
    }

    /// The Operation JSON at `now`.
    pub fn render(&self, project: &str, now: Duration) -> Value {
        let status = self.status(now);
        let mut v = json!({
            "kind": "compute#operation",
            "id": self.id.to_string(),
            "name": self.name,
            "operationType": self.effect.kind(),
            "targetLink": links::url(&format!("projects/{project}/global/routes/{}", self.effect.route_name())),
            "targetId": self.target_id.to_string(),
            "status": status.as_str(),
            "user": format!("routeplane-mock@{project}.iam.gserviceaccount.com"),
            "progress": if status == Status::Done { 100 } else { 0 },
            "insertTime": self.insert_time,
            "selfLink": links::url(&format!("projects/{project}/global/operations/{}", self.name)),
        });
        if status != Status::Pending {
            v["startTime"] = json!(self.insert_time);
        }
        if let Some(r) = &self.request_id {
            v["clientOperationId"] = json!(r);
        }
        if let Some(end) = &self.end_time {
            v["endTime"] = json!(end);
        }
        if let Some(f) = &self.failure {
            v["error"] = json!({"errors": [{"code": f.code, "message": f.message}]});
            v["httpErrorStatusCode"] = json!(f.http_status);
            v["httpErrorMessage"] = json!(f.http_message());
        }
        v
    }
}

/// Every operation of the project, and the queue of injected failures.
#[derive(Debug, Default)]
pub struct Operations {
    ops: BTreeMap<String, Operation>,
    by_request_id: HashMap<String, String>,
    injected: VecDeque<(Option<&'static str>, OpFailure)>,
    seq: u64,
}

impl Operations {
    /// An operation by name.
    pub fn get(&self, name: &str) -> Option<&Operation> {
        self.ops.get(name)
    }

    /// Every operation, oldest first.
    pub fn all(&self) -> Vec<&Operation> {
        let mut v: Vec<&Operation> = self.ops.values().collect();
        v.sort_by_key(|o| o.seq);
        v
    }

    /// The operation an earlier request with this `requestId` created.
    pub fn by_request_id(&self, request_id: &str) -> Option<&Operation> {
        self.by_request_id
            .get(request_id)
            .and_then(|n| self.ops.get(n))
    }

    /// Makes the next `n` operations of `kind` (`insert`, `delete`, or any when `None`) fail with
    /// `failure` when they complete, without taking effect.
    pub fn inject(&mut self, kind: Option<&'static str>, n: usize, failure: &OpFailure) {
        for _ in 0..n {
            self.injected.push_back((kind, failure.clone()));
        }
    }

    /// Starts an operation at `now` that completes at `now + delay`.
    pub fn start(
        &mut self,
        world: &mut GceWorld,
        effect: Effect,
        target_id: u64,
        now: Duration,
        delay: Duration,
        request_id: Option<&str>,
    ) -> String {
        self.seq += 1;
        let id = world.next_id();
        let name = format!(
            "operation-{}-{:013x}-{:08x}-{:08x}",
            chrono::Utc::now().timestamp_millis(),
            id % (1 << 52),
            self.seq,
            (id >> 20) as u32
        );
        if let Some(r) = request_id {
            self.by_request_id.insert(r.to_string(), name.clone());
        }
        self.ops.insert(
            name.clone(),
            Operation {
                name: name.clone(),
                id,
                effect,
                target_id,
                created: now,
                deadline: now + delay,
                insert_time: super::clock::rfc3339_now(),
                failure: None,
                end_time: None,
                request_id: request_id.map(str::to_string),
                seq: self.seq,
            },
        );
        name
    }

    /// Completes, in deadline order, every operation due by `now`.
    pub fn settle(&mut self, world: &mut GceWorld, now: Duration) {
        let mut due: Vec<(Duration, u64, String)> = self
            .ops
            .values()
            .filter(|o| o.end_time.is_none() && o.deadline <= now)
            .map(|o| (o.deadline, o.seq, o.name.clone()))
            .collect();
        due.sort();
        for (_, _, name) in due {
            let Some(op) = self.ops.get(&name) else {
                continue;
            };
            let kind = op.effect.kind();
            let injected = self
                .injected
                .iter()
                .position(|(k, _)| k.is_none_or(|k| k == kind))
                .and_then(|i| self.injected.remove(i))
                .map(|(_, f)| f);
            let failure = match injected {
                Some(f) => Some(f),
                None => apply(world, &op.effect),
            };
            if let Some(op) = self.ops.get_mut(&name) {
                op.failure = failure;
                op.end_time = Some(super::clock::rfc3339_now());
            }
        }
    }
}

/// Applies a change to the world, or says why it failed.
fn apply(world: &mut GceWorld, effect: &Effect) -> Option<OpFailure> {
    let project = world.project.clone();
    match effect {
        Effect::InsertRoute(route) => {
            let path = format!("projects/{project}/global/routes/{}", route.name);
            if world.find_route(&route.name).is_some() {
                return Some(OpFailure::new(
                    "RESOURCE_ALREADY_EXISTS",
                    &format!("The resource '{path}' already exists"),
                    409,
                ));
            }
            if world.routes_in(&route.network) >= world.route_quota {
                return Some(OpFailure::new(
                    "QUOTA_EXCEEDED",
                    &format!(
                        "Quota 'ROUTES' exceeded.  Limit: {}.0 globally.",
                        world.route_quota
                    ),
                    403,
                ));
            }
            world.routes.push(route.clone());
            None
        }
        Effect::DeleteRoute(name) => {
            let before = world.routes.len();
            world.routes.retain(|r| &r.name != name);
            (world.routes.len() == before).then(|| {
                OpFailure::new(
                    "RESOURCE_NOT_FOUND",
                    &format!(
                        "The resource 'projects/{project}/global/routes/{name}' was not found"
                    ),
                    404,
                )
            })
        }
    }
}
