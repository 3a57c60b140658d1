output "role_id" {
  description = "The custom role's ID (projects/<project>/roles/<id>)."
  value       = google_project_iam_custom_role.routeplane.id
}

output "role_permissions" {
  description = "The permissions in the role."
  value       = local.role_permissions
}

output "service_account_email" {
  description = "The controller's Google service account: the nodes' service account, or the Helm value serviceAccount.controller.annotations.\"iam.gke.io/gcp-service-account\" with Workload Identity."
  value       = google_service_account.routeplane.email
}

output "helm_values" {
  description = "Values for deploy/helm/routeplane: terraform output -json helm_values > routeplane-values.json."
  value = {
    cloud        = "gce"
    clusterName  = var.cluster_name
    clusterCIDRs = var.cluster_cidrs
    gce = {
      project = var.project_id
      network = var.network
    }
    serviceAccount = {
      controller = {
        name        = var.workload_identity == null ? "" : var.workload_identity.service_account
        annotations = var.workload_identity == null ? {} : { "iam.gke.io/gcp-service-account" = google_service_account.routeplane.email }
      }
    }
  }
}
