# A custom role with exactly the permissions routeplane uses, a service account that holds it on
# the network's project, and optionally the Workload Identity binding for the controller's
# Kubernetes ServiceAccount.

locals {
  # Role IDs allow letters, digits, '_' and '.'; service account IDs 6-30 of [-a-z0-9].
  role_id    = "routeplane_${replace(var.cluster_name, "-", "_")}"
  account_id = "routeplane-${var.cluster_name}"
}

resource "google_project_iam_custom_role" "routeplane" {
  project     = var.project_id
  role_id     = local.role_id
  title       = "routeplane controller (${var.cluster_name})"
  description = "Read instances and the network, write the cluster's routes in it."
  permissions = local.role_permissions
}

resource "google_service_account" "routeplane" {
  project      = var.project_id
  account_id   = local.account_id
  display_name = "routeplane controller for ${var.cluster_name}"
}

resource "google_project_iam_member" "routeplane" {
  project = var.project_id
  role    = google_project_iam_custom_role.routeplane.id
  member  = "serviceAccount:${google_service_account.routeplane.email}"
}

resource "google_service_account_iam_member" "workload_identity" {
  count              = var.workload_identity == null ? 0 : 1
  service_account_id = google_service_account.routeplane.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.workload_identity.pool}[${var.workload_identity.namespace}/${var.workload_identity.service_account}]"
}
