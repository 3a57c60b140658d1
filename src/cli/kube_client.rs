//! Building the Kubernetes client: an explicit `--kubeconfig`, or the usual inference
//! (`KUBECONFIG`, `~/.kube/config`, then the in-cluster service account).

use std::path::Path;

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};

pub async fn client(kubeconfig: Option<&Path>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("loading kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .context("no Kubernetes configuration found: pass --kubeconfig, set KUBECONFIG, or run in a cluster")?,
    };
    let url = config.cluster_url.clone();
    kube::Client::try_from(config).with_context(|| format!("building a client for {url}"))
}
