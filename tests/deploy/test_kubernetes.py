"""The Kubernetes manifests (deploy/kubernetes/) and the image (Dockerfile), checked offline: every
manifest against the Kubernetes JSON schemas of two versions (kubernetes-validate, strict: an unknown
field fails), then what a schema cannot see: probes, labels, settings, drain timing, privileges.

No cluster and no registry run here, so nothing is applied and the image is not built: the Dockerfile
is parsed and its instructions checked."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate import utils as kv

from tesserra_adapters.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
VERSIONS = ("1.30.0", "1.37.0")
"""The oldest and the newest minor the manifests are checked against."""
SETTINGS = {f"TESSERRA_{name.upper()}" for name in Settings.__struct_fields__}
HELPERS = {"POD_IP"}
"""Variables the manifests define only for another's value (``$(POD_IP)``)."""
LABELS = {"app.kubernetes.io/name": "tesserra", "app.kubernetes.io/component": "server"}

Doc = dict[str, Any]


def _docs(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _kustomized(directory: Path) -> Iterator[Path]:
    """The resource files a kustomization applies, its bases' included."""
    (kustomization,) = _docs(directory / "kustomization.yaml")
    assert set(kustomization) <= {"apiVersion", "kind", "resources"}, kustomization
    for entry in kustomization["resources"]:
        target = (directory / entry).resolve()
        assert target.is_relative_to(K8S), entry
        if target.is_dir():
            yield from _kustomized(target)
        else:
            assert target.is_file(), entry
            yield target


def _resources(directory: str) -> dict[str, Doc]:
    """``kind/name`` -> the resource, for what ``kubectl apply -k deploy/kubernetes/<directory>`` applies."""
    found: dict[str, Doc] = {}
    for path in _kustomized(K8S / directory):
        for doc in _docs(path):
            key = f"{doc['kind']}/{doc['metadata']['name']}"
            assert key not in found, f"{key} twice"
            found[key] = doc
    return found


APP = _resources("app")
MIGRATE = _resources("migrate")
SECRET = _docs(K8S / "secret.example.yaml")[0]
ALL_FILES = sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def test_every_manifest_file_is_applied_by_a_kustomization_or_is_the_secret_example() -> None:
    applied = set(_kustomized(K8S / "app")) | set(_kustomized(K8S / "migrate"))
    assert set(ALL_FILES) == applied | {K8S / "secret.example.yaml"}


@pytest.mark.parametrize(("directory", "resources"), [("app", APP), ("migrate", MIGRATE)])
def test_kustomize_builds_what_the_tests_read(directory: str, resources: dict[str, Doc]) -> None:
    """kubectl's own kustomize (offline) renders each kustomization to the resources checked here."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:  # not in Debian's archive: a skip even in CI (the schemas are checked without it)
        pytest.skip("kubectl is not installed (a cloud SDK's package) for its kustomize")
    built = subprocess.run(
        [kubectl, "kustomize", str(K8S / directory)], capture_output=True, text=True, timeout=60, check=False
    )
    assert built.returncode == 0, built.stderr
    rendered = {f"{d['kind']}/{d['metadata']['name']}": d for d in yaml.safe_load_all(built.stdout) if d}
    assert rendered == resources


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_is_valid_against_the_kubernetes_schema(path: Path, version: str) -> None:
    for doc in _docs(path):
        kv.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_schema_check_catches_a_mistake(version: str) -> None:
    """The check above can fail: a misspelt field, a string where a number goes, a missing container."""
    deployment = APP["Deployment/tesserra"]
    misspelt = copy.deepcopy(deployment)
    misspelt["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/ready"}}
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "three"
    no_containers = copy.deepcopy(deployment)
    del no_containers["spec"]["template"]["spec"]["containers"]
    for broken in (misspelt, wrong_type, no_containers):
        with pytest.raises(kv.ValidationError):
            kv.validate(broken, version, strict=True)


def _server() -> tuple[Doc, Doc]:
    deployment = APP["Deployment/tesserra"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return deployment, container


def _port(container: Doc, port: int | str) -> int:
    """A probe's or a Service's port (a name or a number) as the container's port number."""
    numbers = {p["containerPort"] for p in container["ports"]}
    named = {p["name"]: p["containerPort"] for p in container["ports"] if "name" in p}
    assert port in numbers or port in named, port
    return named.get(str(port), port) if isinstance(port, str) else port


def test_replicas_labels_service_and_budget_agree() -> None:
    deployment, container = _server()
    spec = deployment["spec"]
    assert spec["replicas"] >= 2
    assert spec["selector"]["matchLabels"] == LABELS
    assert LABELS.items() <= spec["template"]["metadata"]["labels"].items()
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

    budget = APP["PodDisruptionBudget/tesserra"]["spec"]
    assert budget["selector"]["matchLabels"] == spec["selector"]["matchLabels"]
    assert budget.get("maxUnavailable", 0) >= 1 or budget["minAvailable"] < spec["replicas"], budget
    assert budget.get("maxUnavailable", 1) < spec["replicas"]

    service = APP["Service/tesserra"]["spec"]
    assert service["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    (port,) = service["ports"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert _port(container, port["targetPort"]) == int(env["TESSERRA_PORT"])


def test_each_pod_advertises_its_own_address_and_machine_to_the_others() -> None:
    """The runtime proxy forwards a request for a sandbox of another pod to that pod's address (the
    pod IP, at the server's port); pods on one machine share its boot id but not their loopback, so
    each advertises one of its own (its uid)."""
    _, container = _server()
    env = {e["name"]: e for e in container["env"]}
    port = env["TESSERRA_PORT"]["value"]
    assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    names = [e["name"] for e in container["env"]]
    assert names.index("POD_IP") < names.index("TESSERRA_NODE_URL")  # defined first, or not expanded
    assert env["TESSERRA_NODE_URL"]["value"] == f"http://$(POD_IP):{port}"
    assert env["TESSERRA_BOOT_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.uid"}}


def test_probes_ask_the_server_on_its_own_port() -> None:
    _, container = _server()
    env = {e["name"]: e.get("value") for e in container["env"]}
    port = int(env["TESSERRA_PORT"])
    assert env["TESSERRA_HOST"] == "0.0.0.0"  # the pod's address, which the probes reach
    paths = {"readinessProbe": "/ready", "livenessProbe": "/health", "startupProbe": "/health"}
    for probe, path in paths.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert _port(container, get["port"]) == port, probe
        assert get.get("scheme", "HTTP") == "HTTP"


def _config() -> dict[str, str]:
    return dict(APP["ConfigMap/tesserra-config"]["data"])


def _env_names(container: Doc) -> set[str]:
    names = {e["name"] for e in container.get("env", [])}
    for source in container.get("envFrom", []):
        assert set(source) == {"configMapRef"}, source
        assert source["configMapRef"]["name"] == "tesserra-config"
        names |= set(_config())
    return names


def _containers() -> Iterator[Doc]:
    for resources in (APP, MIGRATE):
        for doc in resources.values():
            if doc["kind"] in ("Deployment", "Job"):
                spec = doc["spec"]["template"]["spec"]
                yield from spec.get("initContainers", []) + spec["containers"]


def test_every_variable_given_is_a_setting_and_every_secret_reference_exists() -> None:
    secret_keys = set(SECRET["stringData"])
    assert SECRET["metadata"]["name"] == "tesserra-secrets"
    for container in _containers():
        unknown = _env_names(container) - SETTINGS - HELPERS
        assert not unknown, f"{container['name']}: not settings: {unknown}"
        for entry in container.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == "tesserra-secrets"
                assert ref["key"] in secret_keys or ref.get("optional"), ref
    _, server = _server()
    secret_env = {e["name"] for e in server["env"] if "valueFrom" in e}
    wanted = {"TESSERRA_DATABASE_URL", "TESSERRA_REDIS_URL", "TESSERRA_SECRET_KEY", "TESSERRA_METRICS_TOKEN"}
    assert wanted <= secret_env
    assert not wanted & set(_config()), "secrets belong in the Secret, not the ConfigMap"


def test_the_settings_given_are_accepted_by_the_server() -> None:
    """The ConfigMap and the example Secret, as the pod's environment, make valid Settings."""
    _, container = _server()
    env = _config() | {e["name"]: e["value"] for e in container["env"] if "value" in e}
    by_key = SECRET["stringData"]
    for entry in container["env"]:
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref and ref["key"] in by_key:
            env[entry["name"]] = by_key[ref["key"]]
    settings = Settings.from_env(env)
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.limiter == "redis"
    assert settings.mcp_stateless
    assert settings.workers == 1
    assert len(settings.secret()) >= 32


def test_termination_grace_covers_the_drain() -> None:
    deployment, _ = _server()
    config = _config()
    drain = float(config["TESSERRA_DRAIN_DELAY"]) + int(config["TESSERRA_DRAIN_GRACE"])
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    # the kubelet sends SIGKILL after terminationGracePeriodSeconds: the drain and the exit must fit
    assert drain + 5 <= grace <= drain + 30, (drain, grace)
    # the endpoints drop a terminating pod at once, but kube-proxy and ingress controllers see it a
    # few seconds later: the server keeps accepting that long (no preStop hook needed)
    assert float(config["TESSERRA_DRAIN_DELAY"]) >= 5


def test_pods_run_unprivileged_on_a_read_only_root_with_their_data_dir_writable() -> None:
    for resources in (APP, MIGRATE):
        for doc in resources.values():
            if doc["kind"] not in ("Deployment", "Job"):
                continue
            pod = doc["spec"]["template"]["spec"]
            assert pod["automountServiceAccountToken"] is False
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["securityContext"]["runAsUser"] > 0
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            for container in pod["containers"]:
                context = container["securityContext"]
                assert context["readOnlyRootFilesystem"] is True
                assert context["allowPrivilegeEscalation"] is False
                assert context["capabilities"]["drop"] == ["ALL"]
                for kind in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(container["resources"][kind]), (container["name"], kind)
                mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
                assert "emptyDir" in volumes[mounts["/tmp"]]
                data_dir = {e["name"]: e.get("value") for e in container["env"]}.get("TESSERRA_DATA_DIR")
                if data_dir:  # below a writable volume's root, so the server makes it 0700 itself
                    (holder,) = [m for m in mounts if Path(data_dir).is_relative_to(m)]
                    assert Path(data_dir) != Path(holder)
                    assert "emptyDir" in volumes[mounts[holder]]


def test_the_migration_job_upgrades_the_same_database_with_the_same_image() -> None:
    job = MIGRATE["Job/tesserra-migrate"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    _, server = _server()
    assert container["command"] == ["tesserra", "db", "upgrade"]
    assert container["image"] == server["image"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
    database = [e for e in container["env"] if e["name"] == "TESSERRA_DATABASE_URL"]
    assert database == [e for e in server["env"] if e["name"] == "TESSERRA_DATABASE_URL"]
    assert "Deployment/tesserra" not in MIGRATE, "the server starts only after the Job (a second step)"


def _instructions(path: Path) -> list[tuple[str, str]]:
    """The Dockerfile's instructions (keyword, arguments), comments dropped and continuations joined."""
    joined = re.sub(r"\\\n(\s*#.*\n)*", " ", path.read_text())
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_the_image_runs_the_server_unprivileged_with_a_health_check() -> None:
    instructions = _instructions(ROOT / "Dockerfile")
    stages = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    final = instructions[stages[-1] :]
    last = {keyword: rest for keyword, rest in final}  # the last of each kind wins, as in Docker
    assert json.loads(last["CMD"]) == ["tesserra", "serve"]
    user = last["USER"].split(":")[0]
    assert user.isdigit(), "a numeric uid, so runAsNonRoot can verify it"
    assert int(user) > 0
    _, server = _server()
    assert int(user) == APP["Deployment/tesserra"]["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    options, _, check = last["HEALTHCHECK"].partition("CMD ")
    assert "--interval=" in options
    env = {e["name"]: e.get("value") for e in server["env"]}
    assert f"http://127.0.0.1:{env['TESSERRA_PORT']}/health" in check
    assert last["EXPOSE"] == env["TESSERRA_PORT"]
    assert f"TESSERRA_DATA_DIR={env['TESSERRA_DATA_DIR']}" in last["ENV"]
    builds = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert "-c requirements.lock" in builds, "the image installs the pinned versions"
    copied = " ".join(rest for keyword, rest in instructions if keyword == "COPY")
    for needed in ("pyproject.toml", "requirements.lock", "src"):
        assert needed in copied
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for needed in ("pyproject.toml", "requirements.lock", "README.md", "src/"):
        assert f"!{needed}" in ignored
