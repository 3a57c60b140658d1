# A small self-managed cluster network for routeplane: one VPC, one public subnet and route table
# per AZ (the per-AZ tables routeplane keeps in step), a control-plane instance and workers with
# source/dest check off, and the routeplane module granting the controller its permissions
# through the nodes' instance profile. Install Kubernetes (kubeadm) on the instances, then the
# chart with the `helm_values` output.

terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}

provider "aws" {
  region = var.region
}

data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  azs         = slice(data.aws_availability_zones.available.names, 0, var.az_count)
  cluster_tag = "kubernetes.io/cluster/${var.cluster_name}"
  tags        = { (local.cluster_tag) = "owned" }
}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = var.cluster_name })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(local.tags, { Name = var.cluster_name })
}

resource "aws_subnet" "node" {
  count                   = var.az_count
  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.vpc_cidr, 8, count.index)
  map_public_ip_on_launch = true
  tags                    = merge(local.tags, { Name = "${var.cluster_name}-${local.azs[count.index]}" })
}

# One table per AZ. The module tags them for the cluster; routeplane writes a route per node Pod
# CIDR into each.
resource "aws_route_table" "node" {
  count  = var.az_count
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${var.cluster_name}-${local.azs[count.index]}" }
}

resource "aws_route" "internet" {
  count                  = var.az_count
  route_table_id         = aws_route_table.node[count.index].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "node" {
  count          = var.az_count
  subnet_id      = aws_subnet.node[count.index].id
  route_table_id = aws_route_table.node[count.index].id
}

module "routeplane" {
  source          = "../../modules/aws"
  cluster_name    = var.cluster_name
  cluster_cidrs   = [var.pod_cidr]
  route_table_ids = aws_route_table.node[*].id
}

resource "aws_security_group" "node" {
  name   = "${var.cluster_name}-node"
  vpc_id = aws_vpc.this.id
  tags   = local.tags

  # Nodes and pods talk to each other with their own addresses: no overlay, no port list.
  ingress {
    description = "nodes and pods of the cluster"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = [var.vpc_cidr, var.pod_cidr]
  }
  ingress {
    description = "SSH and the API server from the admin network"
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = var.admin_cidrs
  }
  ingress {
    description = "Kubernetes API from the admin network"
    from_port   = 6443
    to_port     = 6443
    protocol    = "tcp"
    cidr_blocks = var.admin_cidrs
  }
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

# The launch template tags the instances AND their network interfaces with the cluster tag: the
# policy lets routeplane change source/dest check only on interfaces carrying it.
resource "aws_launch_template" "node" {
  name_prefix   = "${var.cluster_name}-node-"
  image_id      = var.ami_id
  instance_type = var.instance_type
  key_name      = var.key_name

  iam_instance_profile {
    name = module.routeplane.instance_profile_name
  }
  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }
  network_interfaces {
    security_groups = [aws_security_group.node.id]
  }
  tag_specifications {
    resource_type = "instance"
    tags          = local.tags
  }
  tag_specifications {
    resource_type = "network-interface"
    tags          = local.tags
  }
}

resource "aws_instance" "node" {
  count     = var.node_count
  subnet_id = aws_subnet.node[count.index % var.az_count].id
  # Pods' packets leave the node with pod source addresses: the interface must forward them.
  source_dest_check = false

  launch_template {
    id      = aws_launch_template.node.id
    version = "$Latest"
  }
  tags = merge(local.tags, { Name = "${var.cluster_name}-${count.index == 0 ? "control-plane" : "node-${count.index}"}" })
}
