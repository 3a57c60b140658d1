variable "cluster_name" {
  description = "Cluster name, as given to routeplane --cluster-name. Route tables and instances are scoped by the tag kubernetes.io/cluster/<cluster_name>."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.cluster_name)) && length(var.cluster_name) <= 40
    error_message = "cluster_name must be 1-40 lowercase letters, digits or '-', starting and ending with a letter or digit (it becomes part of IAM names and tag keys)."
  }
}

variable "route_table_ids" {
  description = "Route tables routeplane manages. The module tags each kubernetes.io/cluster/<cluster_name> = shared, which is what the policy's condition checks. Empty: tag them yourself."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for id in var.route_table_ids : can(regex("^rtb-[0-9a-f]{8,17}$", id))])
    error_message = "route_table_ids must be route table IDs like rtb-0123456789abcdef0."
  }
}

variable "cluster_tag_value" {
  description = "Value of the kubernetes.io/cluster/<cluster_name> tag the module puts on route_table_ids: owned (the cluster's own tables) or shared."
  type        = string
  default     = "shared"
  validation {
    condition     = contains(["owned", "shared"], var.cluster_tag_value)
    error_message = "cluster_tag_value must be \"owned\" or \"shared\"."
  }
}

variable "cluster_cidrs" {
  description = "The cluster's Pod CIDR(s) (routeplane --cluster-cidr), one per family. Only used for the Helm values output; the policy cannot express a destination CIDR."
  type        = list(string)
  validation {
    condition     = length(var.cluster_cidrs) >= 1 && length(var.cluster_cidrs) <= 2 && alltrue([for c in var.cluster_cidrs : try(cidrhost(c, 0) == split("/", c)[0], false)])
    error_message = "cluster_cidrs must hold one or two CIDRs (one per family) without host bits, like 10.244.0.0/16."
  }
}

variable "create_instance_profile" {
  description = "Create an IAM role for EC2 and an instance profile carrying the policy, for controllers that run on nodes with it (kubeadm clusters)."
  type        = bool
  default     = true
}

variable "instance_role_extra_policy_arns" {
  description = "More managed policies to attach to the instance role (the nodes' other needs, e.g. AmazonSSMManagedInstanceCore)."
  type        = list(string)
  default     = []
}

variable "irsa" {
  description = "Create a role for IAM Roles for Service Accounts instead of (or as well as) the instance profile: the cluster's OIDC provider ARN and issuer host/path (without https://), and the controller's ServiceAccount."
  type = object({
    oidc_provider_arn = string
    oidc_issuer       = string
    namespace         = optional(string, "kube-system")
    service_account   = optional(string, "routeplane-controller")
  })
  default = null
  validation {
    condition     = var.irsa == null ? true : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/", var.irsa.oidc_provider_arn))
    error_message = "irsa.oidc_provider_arn must be an IAM OIDC provider ARN (arn:aws:iam::123456789012:oidc-provider/…)."
  }
  validation {
    condition     = var.irsa == null ? true : !startswith(var.irsa.oidc_issuer, "https://")
    error_message = "irsa.oidc_issuer is the issuer without the scheme, e.g. oidc.example.com/id/ABC."
  }
}

variable "name_prefix" {
  description = "Prefix of the IAM names. Default: routeplane-<cluster_name>."
  type        = string
  default     = null
  validation {
    condition     = var.name_prefix == null ? true : (length(var.name_prefix) <= 38 && can(regex("^[A-Za-z0-9+=,.@_-]+$", var.name_prefix)))
    error_message = "name_prefix must be at most 38 characters of IAM name characters (letters, digits, +=,.@_-); the module appends at most 9 more (-instance), and IAM role names stop at 64."
  }
}

variable "tags" {
  description = "Tags for every IAM resource the module creates."
  type        = map(string)
  default     = {}
}
