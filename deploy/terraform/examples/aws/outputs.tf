output "vpc_id" {
  description = "The VPC of the cluster."
  value       = aws_vpc.this.id
}

output "route_table_ids" {
  description = "The per-AZ route tables routeplane manages (tagged for the cluster)."
  value       = aws_route_table.node[*].id
}

output "node_private_ips" {
  description = "Private IPs of the instances, control plane first."
  value       = aws_instance.node[*].private_ip
}

output "node_public_ips" {
  description = "Public IPs of the instances, control plane first."
  value       = aws_instance.node[*].public_ip
}

output "helm_values" {
  description = "Values for deploy/helm/routeplane: terraform output -json helm_values > routeplane-values.json."
  value = merge(module.routeplane.helm_values, {
    aws = {
      region      = var.region
      vpcId       = aws_vpc.this.id
      routeTables = "tagged"
    }
  })
}
