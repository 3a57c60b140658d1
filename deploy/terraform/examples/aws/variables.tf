variable "region" {
  description = "AWS Region."
  type        = string
  default     = "us-east-1"
}

variable "cluster_name" {
  description = "Cluster name (routeplane --cluster-name, the kubernetes.io/cluster/<name> tag)."
  type        = string
  default     = "demo"
  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.cluster_name)) && length(var.cluster_name) <= 40
    error_message = "cluster_name must be 1-40 lowercase letters, digits or '-'."
  }
}

variable "vpc_cidr" {
  description = "The VPC's CIDR; each AZ gets a /24 of it."
  type        = string
  default     = "10.0.0.0/16"
  validation {
    condition     = try(cidrhost(var.vpc_cidr, 0) == split("/", var.vpc_cidr)[0] && tonumber(split("/", var.vpc_cidr)[1]) <= 16, false)
    error_message = "vpc_cidr must be an IPv4 CIDR of /16 or larger without host bits, like 10.0.0.0/16."
  }
}

variable "pod_cidr" {
  description = "The cluster's Pod CIDR (kubeadm --pod-network-cidr, routeplane --cluster-cidr). Must not overlap the VPC."
  type        = string
  default     = "10.244.0.0/16"
  validation {
    condition     = try(cidrhost(var.pod_cidr, 0) == split("/", var.pod_cidr)[0], false)
    error_message = "pod_cidr must be a CIDR without host bits, like 10.244.0.0/16."
  }
}

variable "az_count" {
  description = "Availability zones (one subnet and one route table each)."
  type        = number
  default     = 3
  validation {
    condition     = var.az_count >= 1 && var.az_count <= 6
    error_message = "az_count must be between 1 and 6."
  }
}

variable "node_count" {
  description = "Instances, the first one being the control plane."
  type        = number
  default     = 3
  validation {
    condition     = var.node_count >= 1 && var.node_count <= 50
    error_message = "node_count must be between 1 and 50 (EC2's default route table quota is 50 routes)."
  }
}

variable "ami_id" {
  description = "AMI of the nodes (a Linux with a container runtime and kubeadm, or one you install them on)."
  type        = string
  default     = "ami-00000000000000000"
  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must look like ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  description = "Instance type of the nodes."
  type        = string
  default     = "t3.medium"
}

variable "key_name" {
  description = "EC2 key pair for SSH (null: none)."
  type        = string
  default     = null
}

variable "admin_cidrs" {
  description = "Networks allowed to reach SSH and the API server."
  type        = list(string)
  default     = []
}
