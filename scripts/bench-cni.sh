#!/usr/bin/env bash
# ADD/DEL latency of routeplane-bridge vs the reference bridge + host-local plugins
# (Debian's containernetworking-plugins, /usr/lib/cni), same config, same run.
#
# Everything happens inside namespaces this script creates: a "node" namespace where both
# plugins run (bridges, iptables/nftables, sysctls live there) and N pod namespaces. All are
# removed on exit. Needs root, nftables, iptables, containernetworking-plugins.
#
# usage: sudo scripts/bench-cni.sh [PODS] [PARALLEL]     (defaults: 50 8)
set -euo pipefail

PODS=${1:-50}
PAR=${2:-8}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OURS=${OURS:-$ROOT/target/release/routeplane-bridge}
REFDIR=${REFDIR:-/usr/lib/cni}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ -x "$OURS" ] || { echo "build first: cargo build --release -p routeplane-cni --bin routeplane-bridge" >&2; exit 1; }
[ -x "$REFDIR/bridge" ] && [ -x "$REFDIR/host-local" ] || { echo "apt-get install containernetworking-plugins" >&2; exit 1; }

TAG="rpbench$$"
WORK=$(mktemp -d)
NODE="$TAG-node"
cleanup() {
    { echo "netns del $NODE"; for i in $(seq 0 $((PODS - 1))); do echo "netns del $TAG-p$i"; done; } | ip -force -batch - 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

{ echo "netns add $NODE"; for i in $(seq 0 $((PODS - 1))); do echo "netns add $TAG-p$i"; done; } | ip -batch -
ip -n "$NODE" link set lo up

common='"isGateway":true,"isDefaultGateway":true,"ipMasq":true,"hairpinMode":true,"mtu":1400'
cat > "$WORK/ref.json" <<JSON
{"cniVersion":"1.0.0","name":"benchref","type":"bridge","bridge":"refbr0",$common,
 "ipam":{"type":"host-local","ranges":[[{"subnet":"10.201.0.0/24"}]],"dataDir":"$WORK/ref-ipam"}}
JSON
cat > "$WORK/ours.json" <<JSON
{"cniVersion":"1.0.0","name":"benchours","type":"routeplane-bridge","bridge":"rpbr0",$common,
 "nonMasqueradeCIDRs":["10.202.0.0/16"],
 "ipam":{"ranges":[[{"subnet":"10.202.0.0/24"}]],"dataDir":"$WORK/ours-ipam"}}
JSON

# One timed invocation, run inside the node namespace: prints "<microseconds> <exit code>".
cat > "$WORK/one.sh" <<'SH'
#!/bin/bash
# args: plugin conf command index tag
plugin=$1 conf=$2 cmd=$3 i=$4 tag=$5
export CNI_COMMAND=$cmd CNI_CONTAINERID="bench$i" CNI_NETNS="/run/netns/$tag-p$i" CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni
s=$EPOCHREALTIME
"$plugin" < "$conf" > /dev/null 2>&1
rc=$?
e=$EPOCHREALTIME
echo "$(( ${e/./} - ${s/./} )) $rc"
SH
chmod +x "$WORK/one.sh"

# phase <name> <plugin> <conf> <cmd> <parallel>: writes latencies (µs) to $WORK/<name>
phase() {
    local name=$1 plugin=$2 conf=$3 cmd=$4 par=$5
    seq 0 $((PODS - 1)) | ip netns exec "$NODE" xargs -P "$par" -I{} "$WORK/one.sh" "$plugin" "$conf" "$cmd" {} "$TAG" > "$WORK/$name.raw"
    if awk '$2 != 0 { bad = 1 } END { exit !bad }' "$WORK/$name.raw"; then
        echo "FAILED: $name had non-zero exits" >&2; exit 1
    fi
    cut -d' ' -f1 "$WORK/$name.raw" | sort -n > "$WORK/$name"
}

stats() { # file -> "median p95" in ms
    awk '{ a[NR] = $1 } END { m = a[int((NR + 1) / 2)]; p = a[int(NR * 0.95 + 0.999)];
          printf "%.2f %.2f\n", m / 1000, p / 1000 }' "$1"
}

# Warm-up (page cache, first bridge/table creation) not counted: one ADD+DEL each.
for who in ref ours; do
    plugin=$([ $who = ref ] && echo "$REFDIR/bridge" || echo "$OURS")
    ip netns exec "$NODE" "$WORK/one.sh" "$plugin" "$WORK/$who.json" ADD 0 "$TAG" > /dev/null
    ip netns exec "$NODE" "$WORK/one.sh" "$plugin" "$WORK/$who.json" DEL 0 "$TAG" > /dev/null
done

for par in 1 "$PAR"; do
    for who in ref ours; do
        plugin=$([ $who = ref ] && echo "$REFDIR/bridge" || echo "$OURS")
        phase "$who-add-$par" "$plugin" "$WORK/$who.json" ADD "$par"
        phase "$who-del-$par" "$plugin" "$WORK/$who.json" DEL "$par"
    done
done

echo "pods=$PODS parallel=$PAR kernel=$(uname -r) cpus=$(nproc)"
printf "%-10s %-5s %-8s %12s %12s\n" plugin verb parallel median_ms p95_ms
for par in 1 "$PAR"; do
    for verb in add del; do
        for who in ref ours; do
            read -r med p95 < <(stats "$WORK/$who-$verb-$par")
            printf "%-10s %-5s %-8s %12s %12s\n" "$who" "$verb" "$par" "$med" "$p95"
        done
    done
done
