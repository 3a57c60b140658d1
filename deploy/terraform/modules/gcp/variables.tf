variable "project_id" {
  description = "Project of the VPC network whose routes routeplane writes (the role and service account are created here)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][-a-z0-9]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID: 6-30 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "cluster_name" {
  description = "Cluster name, as given to routeplane --cluster-name (route names carry it as a prefix)."
  type        = string
  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]*[a-z0-9])?$", var.cluster_name)) && length(var.cluster_name) <= 20
    error_message = "cluster_name must be 1-20 lowercase letters, digits or '-', starting with a letter (it becomes part of the role ID, the service account ID and every route name)."
  }
}

variable "cluster_cidrs" {
  description = "The cluster's Pod CIDR(s) (routeplane --cluster-cidr), one per family. Only used for the Helm values output."
  type        = list(string)
  validation {
    condition     = length(var.cluster_cidrs) >= 1 && length(var.cluster_cidrs) <= 2 && alltrue([for c in var.cluster_cidrs : try(cidrhost(c, 0) == split("/", c)[0], false)])
    error_message = "cluster_cidrs must hold one or two CIDRs (one per family) without host bits, like 10.244.0.0/16."
  }
}

variable "network" {
  description = "Name of the VPC network routeplane writes routes into (routeplane --gce-network)."
  type        = string
  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", var.network))
    error_message = "network must be a network name: 1-63 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "workload_identity" {
  description = "Bind the controller's Kubernetes ServiceAccount to the Google service account through Workload Identity: the workload identity pool (PROJECT.svc.id.goog, or a fleet/federation pool) and the ServiceAccount. Null: use the service account as the nodes' (instance) service account instead."
  type = object({
    pool            = string
    namespace       = optional(string, "kube-system")
    service_account = optional(string, "routeplane-controller")
  })
  default = null
  validation {
    condition     = var.workload_identity == null ? true : can(regex("^[-a-z0-9.]+\\.svc\\.id\\.goog$|^[-a-z0-9.]+$", var.workload_identity.pool))
    error_message = "workload_identity.pool must be a workload identity pool like my-project.svc.id.goog."
  }
}
