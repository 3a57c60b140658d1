# Offline (mock provider): the policy allows exactly the EC2 actions routeplane calls, the writes
# only on route tables and network interfaces tagged for this cluster, and the variables reject
# bad input. tests/policy.json is the rendered policy for cluster "example"; the Rust test
# tests/least_privilege.rs compares its actions with the calls in providers/aws.

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = {
      partition  = "aws"
      dns_suffix = "amazonaws.com"
    }
  }
}

variables {
  cluster_name    = "example"
  cluster_cidrs   = ["10.244.0.0/16"]
  route_table_ids = ["rtb-0123456789abcdef0", "rtb-0fedcba9876543210"]
}

run "policy_is_exactly_the_committed_one" {
  command = plan

  assert {
    condition     = jsondecode(aws_iam_policy.controller.policy) == jsondecode(file("${path.module}/tests/policy.json"))
    error_message = "the rendered policy differs from tests/policy.json: update both it and the least-privilege test deliberately"
  }
}

run "only_reads_are_unscoped" {
  command = plan

  assert {
    condition = toset(flatten([
      for s in jsondecode(aws_iam_policy.controller.policy).Statement : s.Action if s.Resource == "*"
    ])) == toset(["ec2:DescribeInstances", "ec2:DescribeRouteTables"])
    error_message = "only the Describe actions may have Resource \"*\""
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.controller.policy).Statement :
      s.Resource == "*" ? true : try(s.Condition.StringEquals["aws:ResourceTag/kubernetes.io/cluster/example"], null) == ["owned", "shared"]
    ])
    error_message = "every scoped statement must require the cluster tag"
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_policy.controller.policy).Statement : s.Effect == "Allow" && !anytrue([for a in s.Action : strcontains(a, "*")])
    ])
    error_message = "no wildcard actions"
  }
}

run "route_tables_are_tagged_for_the_cluster" {
  command = plan

  assert {
    condition     = length(aws_ec2_tag.route_table) == 2 && alltrue([for t in aws_ec2_tag.route_table : t.key == "kubernetes.io/cluster/example" && t.value == "shared"])
    error_message = "each route table gets kubernetes.io/cluster/example = shared"
  }
}

run "instance_profile_by_default_irsa_on_request" {
  command = plan

  assert {
    condition     = length(aws_iam_instance_profile.instance) == 1 && length(aws_iam_role.irsa) == 0
    error_message = "an instance profile and no IRSA role by default"
  }
  assert {
    condition     = jsondecode(aws_iam_role.instance[0].assume_role_policy).Statement[0].Principal.Service == "ec2.amazonaws.com"
    error_message = "the instance role is assumed by EC2 only"
  }
}

run "irsa_role_trusts_only_the_controller_service_account" {
  command = plan

  variables {
    create_instance_profile = false
    irsa = {
      oidc_provider_arn = "arn:aws:iam::123456789012:oidc-provider/oidc.example.com/id/ABC"
      oidc_issuer       = "oidc.example.com/id/ABC"
    }
  }

  assert {
    condition     = length(aws_iam_instance_profile.instance) == 0 && length(aws_iam_role_policy_attachment.irsa) == 1
    error_message = "IRSA only"
  }
  assert {
    condition = jsondecode(aws_iam_role.irsa[0].assume_role_policy).Statement[0].Condition.StringEquals == {
      "oidc.example.com/id/ABC:sub" = "system:serviceaccount:kube-system:routeplane-controller"
      "oidc.example.com/id/ABC:aud" = "sts.amazonaws.com"
    }
    error_message = "the IRSA role must trust exactly kube-system/routeplane-controller"
  }
}

run "rejects_a_bad_cluster_name" {
  command = plan
  variables {
    cluster_name = "Prod_Cluster"
  }
  expect_failures = [var.cluster_name]
}

run "rejects_a_long_cluster_name" {
  command = plan
  variables {
    cluster_name = "a-cluster-name-that-is-much-too-long-for-iam"
  }
  expect_failures = [var.cluster_name]
}

run "rejects_a_cidr_with_host_bits" {
  command = plan
  variables {
    cluster_cidrs = ["10.244.1.0/16"]
  }
  expect_failures = [var.cluster_cidrs]
}

run "rejects_a_malformed_cidr" {
  command = plan
  variables {
    cluster_cidrs = ["10.244.0.0"]
  }
  expect_failures = [var.cluster_cidrs]
}

run "rejects_a_bad_route_table_id" {
  command = plan
  variables {
    route_table_ids = ["igw-0123456789abcdef0"]
  }
  expect_failures = [var.route_table_ids]
}
