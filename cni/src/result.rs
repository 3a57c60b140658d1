//! The ADD result, written in the format of the requested `cniVersion`.
//!
//! 0.4.0 differs from 1.x only in the `version` field of each IP; 1.1.0 adds the interface
//! `mtu`. A `prevResult` (we are chained after another plugin) is kept at the front, and our
//! interface indexes are shifted past its interfaces.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Value, json};

/// An interface of the result.
#[derive(Debug, Clone)]
pub struct Interface {
    /// Name.
    pub name: String,
    /// MAC.
    pub mac: String,
    /// Netns path for the pod's interface.
    pub sandbox: Option<String>,
    /// MTU (reported from 1.1.0 on).
    pub mtu: Option<u32>,
}

/// An address of the result.
#[derive(Debug, Clone)]
pub struct IpConfig {
    /// Address with prefix length.
    pub address: IpNet,
    /// Gateway.
    pub gateway: Option<IpAddr>,
    /// Index into `interfaces`.
    pub interface: usize,
}

/// A route of the result.
#[derive(Debug, Clone)]
pub struct RouteOut {
    /// Destination.
    pub dst: IpNet,
    /// Next hop.
    pub gw: Option<IpAddr>,
}

/// What ADD reports.
#[derive(Debug, Clone, Default)]
pub struct CniResult {
    /// Bridge, host veth, pod interface.
    pub interfaces: Vec<Interface>,
    /// The pod's addresses.
    pub ips: Vec<IpConfig>,
    /// The pod's routes.
    pub routes: Vec<RouteOut>,
    /// DNS from the config, verbatim.
    pub dns: Option<Value>,
}

impl CniResult {
    /// Serialises for `version`, merged behind `prev`.
    pub fn to_json(&self, version: &str, prev: Option<&Value>) -> Value {
        let legacy = version == "0.4.0";
        let mut interfaces: Vec<Value> = prev
            .and_then(|p| p["interfaces"].as_array().cloned())
            .unwrap_or_default();
        let offset = interfaces.len();
        let mut ips: Vec<Value> = prev
            .and_then(|p| p["ips"].as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .map(|mut ip| {
                if let Some(o) = ip.as_object_mut() {
                    if legacy {
                        let fam = o
                            .get("address")
                            .and_then(Value::as_str)
                            .map_or("4", |a| if a.contains(':') { "6" } else { "4" });
                        o.insert("version".into(), json!(fam));
                    } else {
                        o.remove("version");
                    }
                }
                ip
            })
            .collect();
        let mut routes: Vec<Value> = prev
            .and_then(|p| p["routes"].as_array().cloned())
            .unwrap_or_default();

        for i in &self.interfaces {
            let mut v = json!({ "name": i.name, "mac": i.mac });
            if let Some(s) = &i.sandbox {
                v["sandbox"] = json!(s);
            }
            if version == "1.1.0"
                && let Some(m) = i.mtu
            {
                v["mtu"] = json!(m);
            }
            interfaces.push(v);
        }
        for ip in &self.ips {
            let mut v = json!({
                "address": ip.address.to_string(),
                "interface": ip.interface + offset,
            });
            if let Some(gw) = ip.gateway {
                v["gateway"] = json!(gw.to_string());
            }
            if legacy {
                v["version"] = json!(if ip.address.addr().is_ipv4() {
                    "4"
                } else {
                    "6"
                });
            }
            ips.push(v);
        }
        for r in &self.routes {
            let mut v = json!({ "dst": r.dst.to_string() });
            if let Some(gw) = r.gw {
                v["gw"] = json!(gw.to_string());
            }
            routes.push(v);
        }
        let dns = self
            .dns
            .clone()
            .or_else(|| prev.map(|p| p["dns"].clone()).filter(|d| !d.is_null()))
            .unwrap_or_else(|| json!({}));
        json!({
            "cniVersion": version,
            "interfaces": interfaces,
            "ips": ips,
            "routes": routes,
            "dns": dns,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample() -> CniResult {
        CniResult {
            interfaces: vec![Interface {
                name: "eth0".into(),
                mac: "02:00:00:00:00:01".into(),
                sandbox: Some("/run/netns/x".into()),
                mtu: Some(1400),
            }],
            ips: vec![IpConfig {
                address: "10.1.0.5/24".parse().unwrap(),
                gateway: Some("10.1.0.1".parse().unwrap()),
                interface: 0,
            }],
            routes: vec![RouteOut {
                dst: "0.0.0.0/0".parse().unwrap(),
                gw: Some("10.1.0.1".parse().unwrap()),
            }],
            dns: None,
        }
    }

    #[test]
    fn legacy_results_carry_the_ip_version_and_new_ones_the_mtu() {
        let v = sample().to_json("0.4.0", None);
        assert_eq!(v["ips"][0]["version"], "4");
        assert!(v["interfaces"][0].get("mtu").is_none());
        let v = sample().to_json("1.1.0", None);
        assert!(v["ips"][0].get("version").is_none());
        assert_eq!(v["interfaces"][0]["mtu"], 1400);
    }

    #[test]
    fn prev_result_is_kept_and_indexes_shift() {
        let prev =
            json!({"interfaces":[{"name":"lo"}],"ips":[{"address":"1.2.3.4/32","interface":0}]});
        let v = sample().to_json("1.0.0", Some(&prev));
        assert_eq!(v["interfaces"].as_array().unwrap().len(), 2);
        assert_eq!(v["ips"][1]["interface"], 1);
    }
}
