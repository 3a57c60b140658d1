# The compute API methods routeplane's GCE provider calls (`Method` in
# providers/gce/src/method.rs) and the IAM permissions each needs (`Method::permission` there,
# from the compute v1 reference). The custom role holds their union and nothing else. This file
# uses no provider, so CI evaluates it with `terraform console` although the google provider
# cannot be fetched there; tests/least_privilege.rs compares it with providers/gce.
locals {
  method_permissions = {
    "routes.list"          = ["compute.routes.list"]
    "routes.get"           = ["compute.routes.get"]
    "routes.insert"        = ["compute.routes.create", "compute.networks.updatePolicy"]
    "routes.delete"        = ["compute.routes.delete", "compute.networks.updatePolicy"]
    "instances.get"        = ["compute.instances.get"]
    "networks.get"         = ["compute.networks.get"]
    "globalOperations.get" = ["compute.globalOperations.get"]
  }
  role_permissions = sort(distinct(flatten(values(local.method_permissions))))
}
