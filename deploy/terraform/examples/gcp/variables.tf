variable "project_id" {
  description = "Project to build the network in."
  type        = string
}

variable "region" {
  description = "Region of the subnet."
  type        = string
  default     = "us-central1"
}

variable "zones" {
  description = "Zones the instances are spread over."
  type        = list(string)
  default     = ["us-central1-a", "us-central1-b", "us-central1-c"]
}

variable "cluster_name" {
  description = "Cluster name (routeplane --cluster-name; also the network's name)."
  type        = string
  default     = "demo"
  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]*[a-z0-9])?$", var.cluster_name)) && length(var.cluster_name) <= 20
    error_message = "cluster_name must be 1-20 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "node_cidr" {
  description = "The nodes' subnet."
  type        = string
  default     = "10.0.0.0/20"
  validation {
    condition     = try(cidrhost(var.node_cidr, 0) == split("/", var.node_cidr)[0], false)
    error_message = "node_cidr must be a CIDR without host bits, like 10.0.0.0/20."
  }
}

variable "pod_cidr" {
  description = "The cluster's Pod CIDR (kubeadm --pod-network-cidr, routeplane --cluster-cidr). Must not overlap node_cidr."
  type        = string
  default     = "10.244.0.0/16"
  validation {
    condition     = try(cidrhost(var.pod_cidr, 0) == split("/", var.pod_cidr)[0], false)
    error_message = "pod_cidr must be a CIDR without host bits, like 10.244.0.0/16."
  }
}

variable "node_count" {
  description = "Instances, the first one being the control plane."
  type        = number
  default     = 3
  validation {
    condition     = var.node_count >= 1 && var.node_count <= 100
    error_message = "node_count must be between 1 and 100."
  }
}

variable "machine_type" {
  description = "Machine type of the nodes."
  type        = string
  default     = "e2-standard-2"
}

variable "image" {
  description = "Boot image of the nodes."
  type        = string
  default     = "debian-cloud/debian-12"
}

variable "admin_cidrs" {
  description = "Networks allowed to reach SSH and the API server."
  type        = list(string)
  default     = []
}
