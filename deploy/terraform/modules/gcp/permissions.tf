# The compute API methods routeplane's GCE provider calls, and the IAM permissions each needs
# (from each method's "IAM Permissions" in the compute v1 reference). The custom role holds their
# union and nothing else. This file uses no provider, so CI evaluates it with `terraform console`
# although the google provider cannot be fetched there, and tests/least_privilege.rs compares
# the methods with the ones in providers/gce.
locals {
  method_permissions = {
    "routes.list"           = ["compute.routes.list"]
    "routes.get"            = ["compute.routes.get"]
    "routes.insert"         = ["compute.routes.create", "compute.networks.updatePolicy"]
    "routes.delete"         = ["compute.routes.delete"]
    "instances.get"         = ["compute.instances.get"]
    "networks.get"          = ["compute.networks.get"]
    "globalOperations.get"  = ["compute.globalOperations.get"]
    "globalOperations.wait" = ["compute.globalOperations.get"]
  }
  role_permissions = sort(distinct(flatten(values(local.method_permissions))))
}
