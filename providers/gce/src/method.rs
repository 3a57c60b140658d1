//! The Compute API methods this provider calls, the budget class each is paid from, and the
//! default client-side budget per class.
//!
//! Compute Engine meters API rate quotas per project and per minute, in groups (read requests,
//! list requests, operation read requests, write requests). The budget has one token bucket
//! per group, so a burst of route writes never starves the one `routes.list` of a pass, and
//! operation polls cannot eat the write budget.

use routeplane_core::budget::{ApiBudget, BucketSpec};

/// A Compute method routeplane uses; its name is the metric label and IAM-style method name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    RoutesList,
    RoutesGet,
    RoutesInsert,
    RoutesDelete,
    OperationsGet,
    InstancesGet,
    NetworksGet,
}

/// The budget class of a method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    Read,
    List,
    Write,
    Operation,
}

impl Class {
    pub const ALL: [Class; 4] = [Class::Read, Class::List, Class::Write, Class::Operation];

    pub const fn name(self) -> &'static str {
        match self {
            Class::Read => "read",
            Class::List => "list",
            Class::Write => "write",
            Class::Operation => "operation",
        }
    }
}

impl Method {
    pub const fn name(self) -> &'static str {
        match self {
            Method::RoutesList => "routes.list",
            Method::RoutesGet => "routes.get",
            Method::RoutesInsert => "routes.insert",
            Method::RoutesDelete => "routes.delete",
            Method::OperationsGet => "globalOperations.get",
            Method::InstancesGet => "instances.get",
            Method::NetworksGet => "networks.get",
        }
    }

    pub const fn class(self) -> Class {
        match self {
            Method::RoutesList => Class::List,
            Method::RoutesGet | Method::InstancesGet | Method::NetworksGet => Class::Read,
            Method::RoutesInsert | Method::RoutesDelete => Class::Write,
            Method::OperationsGet => Class::Operation,
        }
    }

    /// The IAM permission(s) the method needs (docs/gce.md lists them for a custom role).
    pub const fn permission(self) -> &'static str {
        match self {
            Method::RoutesList => "compute.routes.list",
            Method::RoutesGet => "compute.routes.get",
            Method::RoutesInsert => "compute.routes.create and compute.networks.updatePolicy",
            Method::RoutesDelete => "compute.routes.delete and compute.networks.updatePolicy",
            Method::OperationsGet => "compute.globalOperations.get",
            Method::InstancesGet => "compute.instances.get",
            Method::NetworksGet => "compute.networks.get",
        }
    }

    pub const fn is_mutating(self) -> bool {
        matches!(self.class(), Class::Write)
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// routeplane's default bucket per class (burst, then per second). Compute Engine's rate
/// quotas are per project, per group and per minute (default 1,500 per minute for each of
/// queries/mutations, read, list and operation read requests; "Compute Engine rate quotas",
/// cloud.google.com/compute/api-quota). A bucket of 100 refilled at 20/s lets at most
/// 95 + 20·60 = 1,295 requests of a class leave in any minute (client side, see
/// [`BucketSpec::client_side`]), so routeplane alone never exhausts a group; lower them with the
/// `--gce-*-budget` flags when other tools share the project, or set a window such as
/// `1500/60s` ([`BucketSpec::window`]) when routeplane may use a whole group's quota.
pub const GCE_DEFAULT_BUCKETS: [(Class, BucketSpec); 4] = [
    (Class::Read, BucketSpec::new(100.0, 20.0)),
    (Class::List, BucketSpec::new(20.0, 5.0)),
    (Class::Write, BucketSpec::new(100.0, 20.0)),
    (Class::Operation, BucketSpec::new(100.0, 20.0)),
];

/// The default buckets, with any class overridden (the flags), each run just under its spec.
pub fn gce_budget(overrides: &[(Class, Option<BucketSpec>)]) -> ApiBudget {
    ApiBudget::new(GCE_DEFAULT_BUCKETS.iter().map(|(class, spec)| {
        let over = overrides
            .iter()
            .find(|(c, _)| c == class)
            .and_then(|(_, s)| *s);
        (class.name(), over.unwrap_or(*spec).client_side())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_has_a_class_with_a_bucket() {
        let budget = gce_budget(&[]);
        for m in [
            Method::RoutesList,
            Method::RoutesGet,
            Method::RoutesInsert,
            Method::RoutesDelete,
            Method::OperationsGet,
            Method::InstancesGet,
            Method::NetworksGet,
        ] {
            assert!(budget.spec(m.class().name()).is_some(), "{m}");
        }
        assert!(Method::RoutesInsert.is_mutating() && Method::RoutesDelete.is_mutating());
        assert!(!Method::OperationsGet.is_mutating());
    }

    #[test]
    fn overrides_replace_one_class_and_keep_headroom() {
        let budget = gce_budget(&[(Class::Write, Some(BucketSpec::new(10.0, 1.0)))]);
        assert_eq!(budget.spec("write"), Some(BucketSpec::new(8.0, 1.0)));
        assert_eq!(
            budget.spec("read"),
            Some(BucketSpec::new(100.0, 20.0).client_side())
        );
    }
}
