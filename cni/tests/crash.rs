//! Crash safety: SIGKILL the plugin at every named step of ADD (the `test-kill-points` hook),
//! then GC with an empty keep-list must leave no address, link or nftables element; a new ADD
//! for the same container must then succeed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn kill_9_at_any_add_step_then_gc_leaves_nothing_behind() {
    require_root();
    let node = Node::new("crash", "10.200.9.0/24", Some("fd20:0:9::/64"));
    for step in routeplane_cni::killpoint::STEPS {
        let pod = Netns::new("crash-p");
        let r = node.run_env(
            "ADD",
            "victim",
            Some(pod.path().display().to_string()),
            "eth0",
            &node.conf,
            &[("ROUTEPLANE_CNI_KILL_AT", step)],
        );
        assert!(
            !r.ok && r.out.is_null(),
            "{step}: the plugin must have died: {r:?}"
        );
        let mut gc = node.conf.clone();
        gc["cni.dev/valid-attachments"] = json!([]);
        let g = node.run("GC", "", None, &gc);
        assert!(g.ok, "{step}: {g:?}");
        assert!(
            node.reservations().is_empty(),
            "{step}: {:?}",
            node.reservations()
        );
        assert!(node.veths().is_empty(), "{step}: {:?}", node.veths());
        assert!(node.ns.nft_pod_elements(&node.table()).is_empty(), "{step}");
        assert!(
            !pod.links().contains(&"eth0".to_string()),
            "{step}: pod end left"
        );
        // The attachment can be made again afterwards.
        let again = node.add("victim", &pod);
        assert!(again.ok, "{step}: {again:?}");
        assert!(node.del("victim", Some(&pod)).ok);
    }
}
