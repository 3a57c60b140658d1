//! Crash safety of the plugin, with the `test-kill-points` hooks (`ROUTEPLANE_CNI_KILL_AT`,
//! `ROUTEPLANE_CNI_FAIL_AT`):
//! - SIGKILL at every listed step of ADD, DEL, ADD's rollback and GC, then the runtime's DEL
//!   and/or GC: no address, veth or nftables element or rule is left, no entry of the IPAM store
//!   is malformed, a bystander pod is untouched, and the attachment can be made again and works;
//! - an injected failure at every ADD step rolls back completely with no DEL or GC at all;
//! - 500 ADD/DEL operations in random order, 16 at a time: never a double-booked address, and
//!   the kernel, the nft sets and the store agree at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use routeplane_cni::killpoint::{ADD_STEPS, DEL_STEPS, GC_STEPS, ROLLBACK_STEPS};
use serde_json::json;

const V4: &str = "10.200.9.0/24";
const V6: &str = "fd20:0:9::/64";
const GATEWAY: &str = "10.200.9.1";

/// How the leftovers of a killed invocation are cleaned up.
#[derive(Debug, Clone, Copy)]
enum Cleanup {
    /// The runtime's DEL for the failed attachment, then a GC listing the live ones.
    DelThenGc,
    /// Only a GC listing the live attachments.
    Gc,
}

const CLEANUPS: [Cleanup; 2] = [Cleanup::DelThenGc, Cleanup::Gc];

fn gc_keeping(node: &Node, keep: &[&str]) -> Run {
    let mut conf = node.conf.clone();
    conf["cni.dev/valid-attachments"] = keep
        .iter()
        .map(|c| json!({"containerID": c, "ifname": "eth0"}))
        .collect::<Vec<_>>()
        .into();
    node.run("GC", "", None, &conf)
}

fn run_with(node: &Node, verb: &str, cid: &str, pod: &Netns, env: &[(&str, &str)]) -> Run {
    node.run_env(
        verb,
        cid,
        Some(pod.path().display().to_string()),
        "eth0",
        &node.conf,
        env,
    )
}

fn assert_killed(r: &Run, ctx: &str) {
    assert!(
        !r.ok && r.out.is_null(),
        "{ctx}: the plugin must have died at the kill point (is the step reached?): {r:?}"
    );
}

fn addresses(r: &Run) -> Vec<IpAddr> {
    (0..r.out["ips"].as_array().map_or(0, Vec::len))
        .map(|i| result_ip(&r.out, i))
        .collect()
}

/// The node holds exactly what `live` (container → addresses) owns: reservations (well formed),
/// host veths, masquerade elements, and the two static masquerade rules (or no table).
fn assert_holds_exactly(node: &Node, live: &[(&str, Vec<IpAddr>)], ctx: &str) {
    let mut want: Vec<(IpAddr, String)> = live
        .iter()
        .flat_map(|(cid, ips)| ips.iter().map(move |ip| (*ip, format!("{cid}/eth0"))))
        .collect();
    want.sort();
    assert_eq!(node.checked_reservations(), want, "{ctx}: reservations");
    let mut veths = node.veths();
    veths.sort();
    let mut want_veths: Vec<String> = live.iter().map(|(cid, _)| node.host_veth(cid)).collect();
    want_veths.sort();
    assert_eq!(veths, want_veths, "{ctx}: host veths");
    let mut elems: Vec<IpAddr> = node
        .ns
        .nft_pod_elements(&node.table())
        .iter()
        .map(|e| e.parse().unwrap())
        .collect();
    elems.sort();
    let mut want_elems: Vec<IpAddr> = want.iter().map(|(ip, _)| *ip).collect();
    want_elems.sort();
    assert_eq!(elems, want_elems, "{ctx}: masquerade elements");
    let rules = node.nft_rule_count();
    assert!(rules == 0 || rules == 2, "{ctx}: {rules} nft rules");
}

/// The attachment can be made again after the cleanup, and its pod reaches the gateway.
fn assert_reattaches(node: &Node, cid: &str, pod: &Netns, ctx: &str) {
    assert!(
        !pod.links().contains(&"eth0".to_string()),
        "{ctx}: the pod end was left behind"
    );
    let again = node.add(cid, pod);
    assert!(again.ok, "{ctx}: re-ADD: {again:?}");
    assert!(
        pod.try_exec(&["ping", "-c1", "-W2", GATEWAY]),
        "{ctx}: the re-made attachment does not reach the gateway"
    );
    let del = node.del(cid, Some(pod));
    assert!(del.ok, "{ctx}: {del:?}");
}

/// After a kill: the runtime's cleanup (`cleanup`: DEL of the victim first, or not), then a GC
/// keeping the bystander `b`; the node must hold exactly the bystander's state, the victim must
/// re-attach and work, and once the bystander is gone too nothing may be left.
fn clean_up_and_check(
    node: &Node,
    cleanup: Cleanup,
    (victim, other): (&Netns, &Netns),
    b: &Run,
    ctx: &str,
) {
    if let Cleanup::DelThenGc = cleanup {
        let d = node.del("victim", Some(victim));
        assert!(d.ok, "{ctx}: DEL: {d:?}");
    }
    let g = gc_keeping(node, &["bystander"]);
    assert!(g.ok, "{ctx}: GC: {g:?}");
    assert_holds_exactly(node, &[("bystander", addresses(b))], ctx);
    assert!(
        other.try_exec(&["ping", "-c1", "-W2", GATEWAY]),
        "{ctx}: the bystander lost its network"
    );
    assert_reattaches(node, "victim", victim, ctx);
    assert!(node.del("bystander", Some(other)).ok);
    assert_holds_exactly(node, &[], ctx);
}

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn kill_9_at_every_add_step_then_del_and_gc_leave_nothing_behind() {
    require_root();
    for step in ADD_STEPS {
        for cleanup in CLEANUPS {
            let ctx = format!("ADD killed at {step}, {cleanup:?}");
            // A fresh node, so the steps that only happen once per node (creating the bridge,
            // applying the nft table) are reached too.
            let node = Node::new("crash", V4, Some(V6));
            let (victim, other) = (Netns::new("crash-v"), Netns::new("crash-b"));
            assert_killed(
                &run_with(
                    &node,
                    "ADD",
                    "victim",
                    &victim,
                    &[("ROUTEPLANE_CNI_KILL_AT", step)],
                ),
                &ctx,
            );
            // Whatever the kill left (a bridge without its gateway, a table without its stamp,
            // a held address) must not stop the next pod.
            let b = node.add("bystander", &other);
            assert!(b.ok, "{ctx}: bystander ADD: {b:?}");
            assert!(
                other.try_exec(&["ping", "-c1", "-W2", GATEWAY]),
                "{ctx}: bystander cannot reach the gateway"
            );
            clean_up_and_check(&node, cleanup, (&victim, &other), &b, &ctx);
        }
    }
}

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn kill_9_at_every_del_step_then_del_and_gc_leave_nothing_behind() {
    require_root();
    for step in DEL_STEPS {
        for cleanup in CLEANUPS {
            let ctx = format!("DEL killed at {step}, {cleanup:?}");
            let node = Node::new("crashd", V4, Some(V6));
            let (victim, other) = (Netns::new("crashd-v"), Netns::new("crashd-b"));
            assert!(node.add("victim", &victim).ok, "{ctx}");
            let b = node.add("bystander", &other);
            assert!(b.ok, "{ctx}: {b:?}");
            assert_killed(
                &run_with(
                    &node,
                    "DEL",
                    "victim",
                    &victim,
                    &[("ROUTEPLANE_CNI_KILL_AT", step)],
                ),
                &ctx,
            );
            clean_up_and_check(&node, cleanup, (&victim, &other), &b, &ctx);
        }
    }
}

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn a_failure_at_every_add_step_rolls_back_everything_without_del_or_gc() {
    require_root();
    for step in ADD_STEPS {
        let ctx = format!("ADD failed at {step}");
        let node = Node::new("fail", V4, Some(V6));
        let pod = Netns::new("fail-p");
        let r = run_with(
            &node,
            "ADD",
            "victim",
            &pod,
            &[("ROUTEPLANE_CNI_FAIL_AT", step)],
        );
        assert!(!r.ok, "{ctx}: {r:?}");
        assert!(
            r.out["msg"]
                .as_str()
                .is_some_and(|m| m.contains(&format!("injected failure at {step}"))),
            "{ctx}: the runtime must see the original error: {r:?}"
        );
        assert_holds_exactly(&node, &[], &ctx);
        assert_reattaches(&node, "victim", &pod, &ctx);
        assert_holds_exactly(&node, &[], &ctx);
    }
}

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn kill_9_during_the_rollback_then_del_and_gc_leave_nothing_behind() {
    require_root();
    for step in ROLLBACK_STEPS {
        for cleanup in CLEANUPS {
            let ctx = format!("rollback killed at {step}, {cleanup:?}");
            let node = Node::new("crashr", V4, Some(V6));
            let (victim, other) = (Netns::new("crashr-v"), Netns::new("crashr-b"));
            let b = node.add("bystander", &other);
            assert!(b.ok, "{ctx}: {b:?}");
            // The last step fails, so the rollback undoes every kind of state.
            let env = [
                ("ROUTEPLANE_CNI_FAIL_AT", "after_masq"),
                ("ROUTEPLANE_CNI_KILL_AT", step),
            ];
            assert_killed(&run_with(&node, "ADD", "victim", &victim, &env), &ctx);
            clean_up_and_check(&node, cleanup, (&victim, &other), &b, &ctx);
        }
    }
}

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn kill_9_at_every_gc_step_then_gc_again_leaves_only_the_valid_attachments() {
    require_root();
    for step in GC_STEPS {
        let ctx = format!("GC killed at {step}");
        let node = Node::new("crashg", V4, Some(V6));
        let (victim, other) = (Netns::new("crashg-v"), Netns::new("crashg-b"));
        assert!(node.add("victim", &victim).ok, "{ctx}");
        let b = node.add("bystander", &other);
        assert!(b.ok, "{ctx}: {b:?}");
        let mut conf = node.conf.clone();
        conf["cni.dev/valid-attachments"] = json!([{"containerID": "bystander", "ifname": "eth0"}]);
        let killed = node.run_env(
            "GC",
            "",
            None,
            "eth0",
            &conf,
            &[("ROUTEPLANE_CNI_KILL_AT", step)],
        );
        assert_killed(&killed, &ctx);
        clean_up_and_check(&node, Cleanup::Gc, (&victim, &other), &b, &ctx);
    }
}

/// xorshift64*: a seeded, reproducible order without a dependency (the seed is printed).
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

#[derive(Default)]
struct Attachment {
    addrs: Option<Vec<IpAddr>>,
}

#[test]
#[ignore = "needs root (CAP_NET_ADMIN): creates network namespaces"]
fn five_hundred_concurrent_adds_and_dels_in_random_order_never_double_book() {
    require_root();
    const OPS: usize = 500;
    const PODS: usize = 120;
    const WORKERS: usize = 16;
    let seed = std::env::var("ROUTEPLANE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("random order seed {seed} (ROUTEPLANE_CRASH_SEED={seed} repeats it)");
    // Spread small seeds over the state, then let the generator warm up.
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    for _ in 0..16 {
        rng.next(2);
    }
    // Random verbs on random pods, whatever their state: an ADD of an attached pod must be
    // refused (code 100) and change nothing, a DEL of a detached one must succeed.
    let ops: Vec<(usize, &str)> = (0..OPS)
        .map(|_| (rng.next(PODS), if rng.next(5) < 3 { "ADD" } else { "DEL" }))
        .collect();
    let adds = ops.iter().filter(|(_, v)| *v == "ADD").count();
    eprintln!("{adds} ADDs and {} DELs", OPS - adds);

    let node = Node::new("storm", V4, Some(V6));
    let pods: Vec<Netns> = (0..PODS)
        .map(|i| Netns::new(&format!("storm{i}")))
        .collect();
    // Per pod: a runtime serialises the verbs of one sandbox, so do we.
    let state: Vec<Mutex<Attachment>> = (0..PODS).map(|_| Mutex::default()).collect();
    // Addresses held by pods whose DEL has not started: an ADD must never return one of these.
    let live: Mutex<HashMap<IpAddr, usize>> = Mutex::default();
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<String>> = Mutex::default();

    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&(pod, verb)) = ops.get(i) else {
                        break;
                    };
                    let cid = format!("storm{pod}");
                    let mut st = state[pod].lock().unwrap();
                    let fail = |m: String| failures.lock().unwrap().push(format!("op {i}: {m}"));
                    match (verb, st.addrs.is_some()) {
                        ("ADD", false) => {
                            let r = node.add(&cid, &pods[pod]);
                            if !r.ok {
                                fail(format!("ADD {cid}: {r:?}"));
                                continue;
                            }
                            let got = addresses(&r);
                            let mut l = live.lock().unwrap();
                            for ip in &got {
                                if let Some(holder) = l.insert(*ip, pod) {
                                    fail(format!("{ip} given to {cid} but held by storm{holder}"));
                                }
                            }
                            st.addrs = Some(got);
                        }
                        ("ADD", true) => {
                            let r = node.add(&cid, &pods[pod]);
                            if r.ok || r.code() != 100 {
                                fail(format!("second ADD {cid} not refused with 100: {r:?}"));
                            }
                        }
                        (_, attached) => {
                            if attached {
                                let mut l = live.lock().unwrap();
                                for ip in st.addrs.iter().flatten() {
                                    l.remove(ip);
                                }
                            }
                            let r = node.del(&cid, Some(&pods[pod]));
                            if !r.ok {
                                fail(format!("DEL {cid}: {r:?}"));
                            }
                            st.addrs = None;
                        }
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} failures: {failures:#?}",
        failures.len()
    );

    // The store, the kernel and the nft sets agree with what the runtime believes.
    let attached: Vec<(String, Vec<IpAddr>)> = state
        .iter()
        .enumerate()
        .filter_map(|(i, st)| {
            st.lock()
                .unwrap()
                .addrs
                .clone()
                .map(|a| (format!("storm{i}"), a))
        })
        .collect();
    eprintln!("{} pods attached after {OPS} operations", attached.len());
    let view: Vec<(&str, Vec<IpAddr>)> = attached
        .iter()
        .map(|(c, a)| (c.as_str(), a.clone()))
        .collect();
    assert_holds_exactly(&node, &view, "after the storm");
    let all: HashSet<IpAddr> = attached.iter().flat_map(|(_, a)| a.clone()).collect();
    assert_eq!(
        all.len(),
        attached.iter().map(|(_, a)| a.len()).sum::<usize>(),
        "no address is held twice"
    );
    for (cid, addrs) in &attached {
        let i: usize = cid.trim_start_matches("storm").parse().unwrap();
        let mut have: Vec<IpAddr> = pods[i]
            .addrs("eth0")
            .iter()
            .map(|a| a.split('/').next().unwrap().parse().unwrap())
            .collect();
        have.sort();
        let mut want = addrs.clone();
        want.sort();
        assert_eq!(have, want, "{cid}: the kernel disagrees with the result");
    }
    for (cid, _) in &attached {
        let i: usize = cid.trim_start_matches("storm").parse().unwrap();
        assert!(node.del(cid, Some(&pods[i])).ok);
    }
    assert_holds_exactly(&node, &[], "after deleting the rest");
}
