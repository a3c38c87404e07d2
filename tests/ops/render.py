"""A small kustomize renderer for k8s/, so that the manifests can be checked without kubectl.

It implements the part of kustomize that k8s/ uses, and refuses anything else rather than render it
wrongly: `resources` (files and directories), strategic-merge `patches` (by kind and name),
`namespace`, `images` and `replicas`. ops/check.sh compares its output with `kubectl kustomize` when
kubectl is installed.

    python -m tests.ops.render k8s/overlays/production              # the rendered YAML on stdout
    python -m tests.ops.render --compare rendered.yaml k8s/base     # exit 1 when they differ
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = frozenset(
    {"apiVersion", "kind", "resources", "namespace", "images", "replicas", "patches"}
)
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "IngressClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    }
)
REPLICATED_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"})
# Strategic-merge keys of the lists k8s/ patches (the Kubernetes API's patchMergeKey).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
}
# kustomize's legacy output order (the kinds k8s/ uses, then the rest by name).
KIND_ORDER = (
    "Namespace",
    "ResourceQuota",
    "LimitRange",
    "ServiceAccount",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Service",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
)


class RenderError(Exception):
    """The kustomization uses something this renderer does not implement, or is inconsistent."""


def render(directory: str | Path) -> list[Resource]:
    """The resources of the kustomization in `directory`, as kustomize would build them."""
    directory = Path(directory)
    kustomization = _load_kustomization(directory)
    unsupported = set(kustomization) - SUPPORTED_FIELDS
    if unsupported:
        raise RenderError(f"{directory}: kustomization fields not supported here: {sorted(unsupported)}")

    resources: list[Resource] = []
    for entry in kustomization.get("resources") or []:
        path = directory / entry
        resources.extend(render(path) if path.is_dir() else _load_documents(path))
    _check_unique(resources, directory)

    for patch in kustomization.get("patches") or []:
        _apply_patch(resources, patch, directory)
    if namespace := kustomization.get("namespace"):
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED_KINDS:
                resource["metadata"]["namespace"] = namespace
    for image in kustomization.get("images") or []:
        _set_image(resources, image)
    for replicas in kustomization.get("replicas") or []:
        _set_replicas(resources, replicas, directory)
    return sort_resources(resources)


def sort_resources(resources: Iterable[Resource]) -> list[Resource]:
    def key(resource: Resource) -> tuple[int, str, str, str]:
        kind = resource["kind"]
        rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
        metadata = resource["metadata"]
        return rank, kind, metadata.get("namespace", ""), metadata["name"]

    return sorted(resources, key=key)


def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    """`patch` merged into `target` (a copy) the way a strategic-merge patch does, for k8s/'s needs.

    Maps merge key by key (a null deletes the key); lists named in MERGE_KEYS merge item by item on
    their key (ports on containerPort or port); other lists are replaced.
    """
    if isinstance(patch, dict) and isinstance(target, dict):
        if any(key.startswith("$") for key in patch):
            raise RenderError(f"strategic-merge directives are not supported: {sorted(patch)}")
        merged = copy.deepcopy(target)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = strategic_merge(merged[key], value, key)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    if isinstance(patch, list) and isinstance(target, list):
        merge_key = _list_merge_key(field, patch)
        if merge_key is None:
            return copy.deepcopy(patch)
        merged_list = copy.deepcopy(target)
        for item in patch:
            if not isinstance(item, dict) or merge_key not in item:
                raise RenderError(f"an item of {field!r} has no {merge_key!r}: {item!r}")
            for index, existing in enumerate(merged_list):
                if isinstance(existing, dict) and existing.get(merge_key) == item[merge_key]:
                    merged_list[index] = strategic_merge(existing, item, field)
                    break
            else:
                merged_list.append(copy.deepcopy(item))
        return merged_list
    return copy.deepcopy(patch)


def pod_specs(resource: Resource) -> Iterator[Resource]:
    """The pod specs inside a workload (none for other kinds)."""
    kind = resource["kind"]
    spec = resource.get("spec") or {}
    if kind == "Pod":
        yield spec
    elif kind == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]
    elif "template" in spec and kind in REPLICATED_KINDS | {"DaemonSet", "Job"}:
        yield spec["template"]["spec"]


def containers(pod_spec: Resource) -> Iterator[Resource]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        yield from pod_spec.get(field) or []


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """`registry/name:tag@digest` as (name, tag, digest)."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest or None


def _list_merge_key(field: str, patch: list[Any]) -> str | None:
    if field == "ports":
        return "containerPort" if any("containerPort" in item for item in patch) else "port"
    return MERGE_KEYS.get(field)


def _load_kustomization(directory: Path) -> Resource:
    for name in KUSTOMIZATION_FILES:
        path = directory / name
        if path.is_file():
            data = yaml.safe_load(path.read_text())
            if not isinstance(data, dict):
                raise RenderError(f"{path}: not a mapping")
            return data
    raise RenderError(f"{directory}: no kustomization file")


def _load_documents(path: Path) -> list[Resource]:
    if not path.is_file():
        raise RenderError(f"{path}: no such resource file")
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    for doc in documents:
        if not isinstance(doc, dict) or not {"apiVersion", "kind", "metadata"} <= doc.keys():
            raise RenderError(f"{path}: a document without apiVersion, kind and metadata")
        if "name" not in doc["metadata"]:
            raise RenderError(f"{path}: a {doc['kind']} without metadata.name")
    return documents


def _identity(resource: Resource) -> tuple[str, str, str]:
    group = resource["apiVersion"].rpartition("/")[0]
    return group, resource["kind"], resource["metadata"]["name"]


def _check_unique(resources: list[Resource], directory: Path) -> None:
    seen: set[tuple[str, str, str, str]] = set()
    for resource in resources:
        key = (*_identity(resource), resource["metadata"].get("namespace", ""))
        if key in seen:
            raise RenderError(f"{directory}: {key} is defined twice")
        seen.add(key)


def _apply_patch(resources: list[Resource], entry: Resource, directory: Path) -> None:
    if set(entry) - {"path", "patch"} or len(entry) != 1:
        raise RenderError(f"{directory}: only `path` or inline `patch` entries are supported: {entry!r}")
    text = (directory / entry["path"]).read_text() if "path" in entry else entry["patch"]
    documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    if len(documents) != 1 or not isinstance(documents[0], dict) or "kind" not in documents[0]:
        raise RenderError(f"{directory}: a patch must be one strategic-merge document: {entry!r}")
    patch = documents[0]
    key = _identity(patch)
    matches = [index for index, resource in enumerate(resources) if _identity(resource) == key]
    if len(matches) != 1:
        raise RenderError(f"{directory}: the patch for {key} matches {len(matches)} resources, not 1")
    resources[matches[0]] = strategic_merge(resources[matches[0]], patch)


def _set_image(resources: list[Resource], image: Resource) -> None:
    for resource in resources:
        for pod_spec in pod_specs(resource):
            for container in containers(pod_spec):
                name, tag, digest = split_image(container["image"])
                if name != image["name"]:
                    continue
                name = image.get("newName", name)
                if "digest" in image:
                    tag, digest = None, image["digest"]
                elif "newTag" in image:
                    tag, digest = str(image["newTag"]), None
                container["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _set_replicas(resources: list[Resource], replicas: Resource, directory: Path) -> None:
    targets = [
        r for r in resources if r["kind"] in REPLICATED_KINDS and r["metadata"]["name"] == replicas["name"]
    ]
    if not targets:
        raise RenderError(f"{directory}: replicas for {replicas['name']!r} match no workload")
    for resource in targets:
        resource["spec"]["replicas"] = int(replicas["count"])


def _keyed(resources: Iterable[Resource]) -> dict[tuple[str, str, str, str], Resource]:
    return {(*_identity(r), r["metadata"].get("namespace", "")): r for r in resources}


def differences(ours: list[Resource], theirs: list[Resource]) -> list[str]:
    """What differs between two renderings, compared resource by resource (order aside)."""
    mine, other = _keyed(ours), _keyed(theirs)
    problems = [f"only in this renderer's output: {key}" for key in mine.keys() - other.keys()]
    problems += [f"only in the other output: {key}" for key in other.keys() - mine.keys()]
    problems += [
        f"differs: {key}"
        for key in sorted(mine.keys() & other.keys())
        if yaml.safe_dump(mine[key], sort_keys=True) != yaml.safe_dump(other[key], sort_keys=True)
    ]
    return problems


def dump(resources: Iterable[Resource]) -> str:
    return yaml.safe_dump_all(list(resources), sort_keys=False, default_flow_style=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.ops.render", description=__doc__.splitlines()[0])
    parser.add_argument("directory", help="a directory with a kustomization.yaml")
    parser.add_argument("--compare", metavar="FILE", help="compare with this rendering instead of printing")
    args = parser.parse_args(argv)
    try:
        resources = render(args.directory)
    except (RenderError, OSError, yaml.YAMLError) as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 2
    if args.compare is None:
        sys.stdout.write(dump(resources))
        return 0
    other = [doc for doc in yaml.safe_load_all(Path(args.compare).read_text()) if doc is not None]
    problems = differences(resources, other)
    for problem in problems:
        print(f"render: {args.directory}: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
