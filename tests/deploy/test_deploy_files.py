"""The deployment files pass their offline checks: the image, Compose and Kubernetes.

Nothing here needs a container engine or a cluster: hadolint lints the
Containerfile, the Compose file is validated against the Compose specification's
JSON schema (vendored in deploy/schemas/), and every Kubernetes overlay is
rendered the way ``kubectl kustomize`` renders JSON 6902 patches and validated
against the Kubernetes API schemas (kubernetes-validate, strict).
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonpatch
import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.33.0"
OVERLAYS = ("single-node", "ha")


def _documented_variables() -> set[str]:
    return set(re.findall(r"`(KYODO_[A-Z0-9_]+)`", (ROOT / "README.md").read_text()))


def _known(name: str) -> bool:
    documented = _documented_variables()
    return name in documented or (name.endswith("_FILE") and name.removesuffix("_FILE") in documented)


# --------------------------------------------------------------------------- image


def test_the_containerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", str(DEPLOY / "Containerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_as_a_user_without_build_tools() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    final = text.rsplit("\nFROM ", 1)[1]
    assert re.search(r"^USER 10001$", final, re.M), "the final stage runs as an unprivileged user"
    for tool in ("uv sync", "gcc", "build-essential"):
        assert tool not in final, tool
    assert "poppler-utils" in final, "pdfsig is in the image"
    assert "fonts-ipaexfont-gothic" in final
    assert 'ENTRYPOINT ["tini", "--", "kyodo"]' in final
    assert "HEALTHCHECK" in final
    assert "/health/live" in final
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".kyodo", "tests"} <= set(ignored)


# --------------------------------------------------------------------------- compose


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def test_the_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads((DEPLOY / "schemas" / "compose-spec.json").read_text())
    # The specification is written in draft 7 (its "$schema" URL lacks the trailing "#").
    jsonschema.Draft7Validator(schema).validate(_compose())


def test_compose_runs_every_role_twice_behind_tls_with_secrets() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "migrate", "web", "worker", "beat", "watch", "proxy"} <= set(services)
    for role in ("web", "worker", "beat"):
        assert services[role]["deploy"]["replicas"] == 2, role
        assert services[role]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["web"]["healthcheck"]["test"][-1].count("/health/ready") == 1
    assert "443:443" in services["proxy"]["ports"]
    environment = services["web"]["environment"]
    assert environment["KYODO_SECURE_COOKIES"] == "true"
    assert environment["KYODO_MASTER_KEY_FILE"].startswith("/run/secrets/")
    assert "KYODO_MASTER_KEY" not in environment, "keys come as secrets, never as plain variables"
    unknown = [name for name in environment if name.startswith("KYODO_") and not _known(name)]
    assert unknown == [], f"variables the platform does not read: {unknown}"
    declared = set(_compose()["secrets"])
    used = {s["source"] if isinstance(s, dict) else s for svc in services.values() for s in svc.get("secrets", [])}
    assert used <= declared


# --------------------------------------------------------------------------- kubernetes


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _build(directory: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize`` for the features these files use: resources, labels, namespace, JSON 6902 patches."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    resources: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        resources += _build(target) if target.is_dir() else _documents(target)
    resources = copy.deepcopy(resources)
    for label in kustomization.get("labels", []):
        for resource in resources:
            resource["metadata"].setdefault("labels", {}).update(label["pairs"])
    for patch in kustomization.get("patches", []):
        selector = patch["target"]
        matched = [r for r in resources if r["kind"] == selector["kind"] and r["metadata"]["name"] == selector["name"]]
        assert matched, f"patch target {selector} matches no resource"
        operations = yaml.safe_load(patch["patch"])
        for resource in matched:
            patched = jsonpatch.apply_patch(resource, operations)
            resource.clear()
            resource.update(patched)
    if namespace := kustomization.get("namespace"):
        for resource in resources:
            resource["metadata"]["namespace"] = namespace
    return resources


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_renders_to_valid_kubernetes_objects(overlay: str) -> None:
    resources = _build(DEPLOY / "kubernetes" / "overlays" / overlay)
    assert resources
    for resource in resources:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def _by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_probed_limited_and_unprivileged(overlay: str) -> None:
    resources = _build(DEPLOY / "kubernetes" / "overlays" / overlay)
    deployments = _by_kind(resources, "Deployment")
    assert set(deployments) == {"kyodo-web", "kyodo-worker", "kyodo-beat", "kyodo-watch"}
    web = deployments["kyodo-web"]["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert web["livenessProbe"]["httpGet"]["path"] == "/health/live"
    pods = [d["spec"]["template"]["spec"] for d in deployments.values()]
    pods += [j["spec"]["template"]["spec"] for j in _by_kind(resources, "Job").values()]
    pods += [c["spec"]["jobTemplate"]["spec"]["template"]["spec"] for c in _by_kind(resources, "CronJob").values()]
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["resources"]["requests"], container["name"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            refs = [e["configMapRef"]["name"] for e in container.get("envFrom", [])]
            assert refs == ["kyodo-config"], container["name"]
    config = _by_kind(resources, "ConfigMap")["kyodo-config"]["data"]
    unknown = [name for name in config if not _known(name)]
    assert unknown == [], f"variables the platform does not read: {unknown}"
    assert not any(name in config for name in ("KYODO_MASTER_KEY", "KYODO_SECRET_KEY")), "keys live in the Secret"
    assert _by_kind(resources, "Job")["kyodo-migrate"]["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "db",
        "upgrade",
    ]
    backup = _by_kind(resources, "CronJob")["kyodo-backup"]["spec"]
    assert backup["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][:2] == ["backup", "create"]
    # Every budget selects pods that exist.
    labels = {d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] for d in deployments.values()}
    for budget in _by_kind(resources, "PodDisruptionBudget").values():
        assert budget["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] in labels


def test_the_ha_overlay_survives_a_lost_node() -> None:
    resources = _build(DEPLOY / "kubernetes" / "overlays" / "ha")
    deployments = _by_kind(resources, "Deployment")
    budgets = _by_kind(resources, "PodDisruptionBudget")
    for name in ("kyodo-web", "kyodo-worker"):
        replicas = deployments[name]["spec"]["replicas"]
        assert replicas >= 3
        assert budgets[name]["spec"]["minAvailable"] < replicas
        assert deployments[name]["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert deployments["kyodo-beat"]["spec"]["replicas"] == 2, "a second beat waits to take over"
    documents = _by_kind(resources, "PersistentVolumeClaim")["kyodo-documents"]
    assert documents["spec"]["accessModes"] == ["ReadWriteMany"], "pods on every node reach the documents"
