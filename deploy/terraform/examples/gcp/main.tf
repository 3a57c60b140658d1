# A small self-managed cluster network for routeplane on GCE: one VPC network with a subnet per
# region, instances that may forward packets (can_ip_forward), and the routeplane module. The
# nodes run as routeplane's service account, so the controller gets its permissions from the
# metadata server. Install Kubernetes (kubeadm) on the instances, then the chart with the
# `helm_values` output.

terraform {
  required_version = ">= 1.6"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 5.0, < 7.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

resource "google_compute_network" "this" {
  name                    = var.cluster_name
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
}

resource "google_compute_subnetwork" "nodes" {
  name          = "${var.cluster_name}-nodes"
  network       = google_compute_network.this.id
  region        = var.region
  ip_cidr_range = var.node_cidr
}

# Nodes and pods talk to each other with their own addresses: no overlay, no port list.
resource "google_compute_firewall" "internal" {
  name          = "${var.cluster_name}-internal"
  network       = google_compute_network.this.name
  source_ranges = [var.node_cidr, var.pod_cidr]
  allow {
    protocol = "all"
  }
}

resource "google_compute_firewall" "admin" {
  count         = length(var.admin_cidrs) > 0 ? 1 : 0
  name          = "${var.cluster_name}-admin"
  network       = google_compute_network.this.name
  source_ranges = var.admin_cidrs
  allow {
    protocol = "tcp"
    ports    = ["22", "6443"]
  }
}

module "routeplane" {
  source        = "../../modules/gcp"
  project_id    = var.project_id
  cluster_name  = var.cluster_name
  cluster_cidrs = [var.pod_cidr]
  network       = google_compute_network.this.name
}

resource "google_compute_instance" "node" {
  count        = var.node_count
  name         = "${var.cluster_name}-${count.index == 0 ? "control-plane" : "node-${count.index}"}"
  zone         = var.zones[count.index % length(var.zones)]
  machine_type = var.machine_type
  # Pods' packets leave the node with pod source addresses: the instance must forward them.
  can_ip_forward = true
  tags           = [var.cluster_name]

  boot_disk {
    initialize_params {
      image = var.image
    }
  }
  network_interface {
    subnetwork = google_compute_subnetwork.nodes.id
    access_config {}
  }
  service_account {
    email  = module.routeplane.service_account_email
    scopes = ["cloud-platform"]
  }
}
