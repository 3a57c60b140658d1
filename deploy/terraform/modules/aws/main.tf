# The IAM permissions of the routeplane controller, and the tags that scope them.
#
# The actions are exactly the EC2 calls in providers/aws (tests/least_privilege.rs compares the two
# through tests/policy.json, which tests/policy.tftest.hcl pins to what this module renders).

data "aws_partition" "current" {}

locals {
  name_prefix = coalesce(var.name_prefix, "routeplane-${var.cluster_name}")
  cluster_tag = "kubernetes.io/cluster/${var.cluster_name}"
  arn_ec2     = "arn:${data.aws_partition.current.partition}:ec2:*:*"

  # Only resources carrying the cluster tag: routeplane's tables, routeplane's nodes.
  tagged_for_cluster = {
    StringEquals = { "aws:ResourceTag/${local.cluster_tag}" = ["owned", "shared"] }
  }

  policy = {
    Version = "2012-10-17"
    Statement = [
      {
        # Describe* actions support no resource-level permissions: "*" is the only resource.
        Sid      = "ReadRouteTablesAndInstances"
        Effect   = "Allow"
        Action   = ["ec2:DescribeInstances", "ec2:DescribeRouteTables"]
        Resource = "*"
      },
      {
        Sid       = "WriteRoutesInClusterTables"
        Effect    = "Allow"
        Action    = ["ec2:CreateRoute", "ec2:DeleteRoute", "ec2:ReplaceRoute"]
        Resource  = "${local.arn_ec2}:route-table/*"
        Condition = local.tagged_for_cluster
      },
      {
        # Turning source/dest check off on a node's primary network interface.
        Sid       = "SourceDestCheckOnClusterInterfaces"
        Effect    = "Allow"
        Action    = ["ec2:ModifyNetworkInterfaceAttribute"]
        Resource  = "${local.arn_ec2}:network-interface/*"
        Condition = local.tagged_for_cluster
      },
    ]
  }
}

resource "aws_iam_policy" "controller" {
  name        = "${local.name_prefix}-controller"
  description = "routeplane controller for cluster ${var.cluster_name}: read route tables and instances, write routes in the cluster's tagged route tables."
  policy      = jsonencode(local.policy)
  tags        = var.tags
}

# Tag the route tables routeplane manages: the policy's condition and `--route-tables tagged`
# both key on it.
resource "aws_ec2_tag" "route_table" {
  for_each    = toset(var.route_table_ids)
  resource_id = each.value
  key         = local.cluster_tag
  value       = var.cluster_tag_value
}

# Controllers on nodes (kubeadm): an instance profile.
resource "aws_iam_role" "instance" {
  count = var.create_instance_profile ? 1 : 0
  name  = "${local.name_prefix}-instance"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "ec2.${data.aws_partition.current.dns_suffix}" }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "instance" {
  # Static keys: the policy's ARN is only known after apply.
  for_each = var.create_instance_profile ? merge(
    { routeplane = aws_iam_policy.controller.arn },
    { for i, arn in var.instance_role_extra_policy_arns : "extra-${i}" => arn },
  ) : {}
  role       = aws_iam_role.instance[0].name
  policy_arn = each.value
}

resource "aws_iam_instance_profile" "instance" {
  count = var.create_instance_profile ? 1 : 0
  name  = "${local.name_prefix}-instance"
  role  = aws_iam_role.instance[0].name
  tags  = var.tags
}

# Controllers with a projected ServiceAccount token (IRSA): a role only that ServiceAccount assumes.
resource "aws_iam_role" "irsa" {
  count = var.irsa == null ? 0 : 1
  name  = "${local.name_prefix}-irsa"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRoleWithWebIdentity"
      Principal = { Federated = var.irsa.oidc_provider_arn }
      Condition = {
        StringEquals = {
          "${var.irsa.oidc_issuer}:sub" = "system:serviceaccount:${var.irsa.namespace}:${var.irsa.service_account}"
          "${var.irsa.oidc_issuer}:aud" = "sts.amazonaws.com"
        }
      }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "irsa" {
  count      = var.irsa == null ? 0 : 1
  role       = aws_iam_role.irsa[0].name
  policy_arn = aws_iam_policy.controller.arn
}
