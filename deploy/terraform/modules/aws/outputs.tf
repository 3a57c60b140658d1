output "policy_arn" {
  description = "ARN of the controller's IAM policy."
  value       = aws_iam_policy.controller.arn
}

output "policy_json" {
  description = "The policy document, as attached."
  value       = aws_iam_policy.controller.policy
}

output "instance_profile_name" {
  description = "Instance profile for the nodes that run the controller (null when create_instance_profile = false)."
  value       = one(aws_iam_instance_profile.instance[*].name)
}

output "instance_role_name" {
  description = "Role inside the instance profile, to attach the nodes' other policies to."
  value       = one(aws_iam_role.instance[*].name)
}

output "irsa_role_arn" {
  description = "Role for IRSA (null without var.irsa): the Helm value serviceAccount.controller.annotations.\"eks.amazonaws.com/role-arn\"."
  value       = one(aws_iam_role.irsa[*].arn)
}

output "cluster_tag" {
  description = "The tag key that scopes everything: kubernetes.io/cluster/<cluster_name>."
  value       = local.cluster_tag
}

output "helm_values" {
  description = "Helm values for deploy/helm/routeplane (merge with yours: helm install -f <(terraform output -json helm_values))."
  value = {
    cloud        = "aws"
    clusterName  = var.cluster_name
    clusterCIDRs = var.cluster_cidrs
    aws = {
      routeTables = "tagged"
    }
    serviceAccount = {
      controller = {
        name        = var.irsa == null ? "" : var.irsa.service_account
        annotations = var.irsa == null ? {} : { "eks.amazonaws.com/role-arn" = aws_iam_role.irsa[0].arn }
      }
    }
  }
}
