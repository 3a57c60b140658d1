//! [`CloudProvider`]: the provider the flags chose, as one type. `RouteProvider` returns
//! `impl Future`, so it cannot be a trait object; an enum that forwards each call keeps the
//! controller, `plan` and `status` free of per-cloud code paths.

use std::time::Duration;

use routeplane_aws::AwsProvider;
use routeplane_core::model::{Cloud, CloudRoute, DesiredRoute, RouteSnapshot};
use routeplane_core::provider::{ProviderError, RouteProvider};
use routeplane_core::provider_id::InstanceRef;
use routeplane_gce::GceProvider;

/// The AWS or the GCE provider.
#[derive(Debug)]
pub enum CloudProvider {
    Aws(AwsProvider),
    Gce(GceProvider),
}

impl RouteProvider for CloudProvider {
    fn cloud(&self) -> Cloud {
        match self {
            CloudProvider::Aws(p) => p.cloud(),
            CloudProvider::Gce(p) => p.cloud(),
        }
    }

    fn reuses_listing(&self) -> bool {
        match self {
            CloudProvider::Aws(p) => p.reuses_listing(),
            CloudProvider::Gce(p) => p.reuses_listing(),
        }
    }

    fn route_as_listed(&self, route: &DesiredRoute) -> CloudRoute {
        match self {
            CloudProvider::Aws(p) => p.route_as_listed(route),
            CloudProvider::Gce(p) => p.route_as_listed(route),
        }
    }

    async fn list_routes(&self, nodes: &[InstanceRef]) -> Result<RouteSnapshot, ProviderError> {
        match self {
            CloudProvider::Aws(p) => p.list_routes(nodes).await,
            CloudProvider::Gce(p) => p.list_routes(nodes).await,
        }
    }

    async fn create_route(&self, route: &DesiredRoute) -> Result<(), ProviderError> {
        match self {
            CloudProvider::Aws(p) => p.create_route(route).await,
            CloudProvider::Gce(p) => p.create_route(route).await,
        }
    }

    async fn replace_route(
        &self,
        existing: &CloudRoute,
        route: &DesiredRoute,
    ) -> Result<Duration, ProviderError> {
        match self {
            CloudProvider::Aws(p) => p.replace_route(existing, route).await,
            CloudProvider::Gce(p) => p.replace_route(existing, route).await,
        }
    }

    async fn delete_route(&self, route: &CloudRoute) -> Result<(), ProviderError> {
        match self {
            CloudProvider::Aws(p) => p.delete_route(route).await,
            CloudProvider::Gce(p) => p.delete_route(route).await,
        }
    }

    async fn ensure_forwarding(&self, target: &InstanceRef) -> Result<(), ProviderError> {
        match self {
            CloudProvider::Aws(p) => p.ensure_forwarding(target).await,
            CloudProvider::Gce(p) => p.ensure_forwarding(target).await,
        }
    }
}
