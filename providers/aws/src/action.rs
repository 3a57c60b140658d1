//! The EC2 API actions this provider calls, and the default client-side budget for each.
//!
//! EC2 meters every API action with its own token bucket per account and Region, so the
//! budget here has one bucket per action, keyed by the action's wire name (`CreateRoute`…).
//! [`crate::call`] takes a token from the action's bucket before every request.

use routeplane_core::budget::{ApiBudget, BucketSpec};

/// An EC2 action routeplane uses. The wire name doubles as the budget class and metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    DescribeRouteTables,
    DescribeInstances,
    CreateRoute,
    ReplaceRoute,
    DeleteRoute,
    ModifyNetworkInterfaceAttribute,
    CreateTags,
}

impl Action {
    /// Every action, in the order of [`EC2_DEFAULT_BUCKETS`].
    pub const ALL: [Action; 7] = [
        Action::DescribeRouteTables,
        Action::DescribeInstances,
        Action::CreateRoute,
        Action::ReplaceRoute,
        Action::DeleteRoute,
        Action::ModifyNetworkInterfaceAttribute,
        Action::CreateTags,
    ];

    /// The action's name on the wire (`Action=` in the EC2 Query protocol) and in IAM.
    pub const fn name(self) -> &'static str {
        match self {
            Action::DescribeRouteTables => "DescribeRouteTables",
            Action::DescribeInstances => "DescribeInstances",
            Action::CreateRoute => "CreateRoute",
            Action::ReplaceRoute => "ReplaceRoute",
            Action::DeleteRoute => "DeleteRoute",
            Action::ModifyNetworkInterfaceAttribute => "ModifyNetworkInterfaceAttribute",
            Action::CreateTags => "CreateTags",
        }
    }

    /// Whether the action changes anything (the `--aws-mutate-budget` flag sets these).
    pub const fn is_mutating(self) -> bool {
        !matches!(
            self,
            Action::DescribeRouteTables | Action::DescribeInstances
        )
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// EC2's documented request-token buckets for the actions we call (capacity, refill per second).
///
/// Source: "Request throttling for the Amazon EC2 API", section "Request token bucket sizes
/// and refill rates" (docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html):
/// - `DescribeRouteTables`, `DescribeInstances`: *non-mutating actions*, 100 / 20. We always
///   send a filter and `MaxResults`, which keeps `DescribeInstances` out of the smaller
///   *unfiltered and unpaginated* bucket (50 / 10).
/// - `CreateRoute`, `ReplaceRoute`, `DeleteRoute`: *mutating actions* (not listed as
///   resource-intensive or uncategorized), 50 / 5.
/// - `ModifyNetworkInterfaceAttribute`: listed under *uncategorized actions*, 100 / 5.
/// - `CreateTags`: listed under *uncategorized actions*, 100 / 10.
pub const EC2_DEFAULT_BUCKETS: [(Action, BucketSpec); 7] = [
    (Action::DescribeRouteTables, BucketSpec::new(100.0, 20.0)),
    (Action::DescribeInstances, BucketSpec::new(100.0, 20.0)),
    (Action::CreateRoute, BucketSpec::new(50.0, 5.0)),
    (Action::ReplaceRoute, BucketSpec::new(50.0, 5.0)),
    (Action::DeleteRoute, BucketSpec::new(50.0, 5.0)),
    (
        Action::ModifyNetworkInterfaceAttribute,
        BucketSpec::new(100.0, 5.0),
    ),
    (Action::CreateTags, BucketSpec::new(100.0, 10.0)),
];

/// A fresh [`ApiBudget`] with EC2's documented bucket for every action we call.
pub fn ec2_default_budget() -> ApiBudget {
    ec2_budget(None, None)
}

/// EC2's buckets, with every read action set to `describe` and every mutating action set to
/// `mutate` when given (the `--aws-describe-budget` / `--aws-mutate-budget` flags).
pub fn ec2_budget(describe: Option<BucketSpec>, mutate: Option<BucketSpec>) -> ApiBudget {
    ApiBudget::new(EC2_DEFAULT_BUCKETS.iter().map(|(action, spec)| {
        let over = if action.is_mutating() {
            mutate
        } else {
            describe
        };
        // The flags and the table give EC2's buckets; the client runs just under them.
        (action.name(), over.unwrap_or(*spec).client_side())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_budget_has_a_bucket_per_action_just_under_the_documented_sizes() {
        let budget = ec2_default_budget();
        for action in Action::ALL {
            assert!(budget.spec(action.name()).is_some(), "{action}");
        }
        assert_eq!(
            budget.spec("DescribeRouteTables"),
            Some(BucketSpec::new(95.0, 20.0))
        );
        assert_eq!(budget.spec("CreateRoute"), Some(BucketSpec::new(48.0, 5.0)));
        assert_eq!(
            budget.spec("ModifyNetworkInterfaceAttribute"),
            Some(BucketSpec::new(98.0, 5.0))
        );
    }

    #[test]
    fn flags_override_reads_and_writes_separately() {
        let budget = ec2_budget(
            Some(BucketSpec::new(10.0, 1.0)),
            Some(BucketSpec::new(2.0, 0.5)),
        );
        // Flag values are EC2's numbers too: the client still runs just under them.
        assert_eq!(
            budget.spec("DescribeInstances"),
            Some(BucketSpec::new(8.0, 1.0))
        );
        assert_eq!(budget.spec("DeleteRoute"), Some(BucketSpec::new(1.0, 0.5)));
        assert_eq!(
            budget.spec("ModifyNetworkInterfaceAttribute"),
            Some(BucketSpec::new(1.0, 0.5))
        );
    }
}
