output "network" {
  description = "The VPC network routeplane writes routes into."
  value       = google_compute_network.this.name
}

output "node_internal_ips" {
  description = "Internal IPs of the instances, control plane first."
  value       = google_compute_instance.node[*].network_interface[0].network_ip
}

output "helm_values" {
  description = "Values for deploy/helm/routeplane: terraform output -json helm_values > routeplane-values.json."
  value       = module.routeplane.helm_values
}
