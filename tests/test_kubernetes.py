"""deploy/kubernetes/, rendered by `kubectl kustomize` (the binary is on these machines) and checked
for what a production deployment needs: two workers running the workflows and two the activities,
each with a disruption budget, a grace period longer than the worker's graceful shutdown and a
probe that asks Temporal whether the pod polls; the endpoint with a Service and probes on
/healthz; configuration from a ConfigMap, secrets only in a Secret, the metrics ports annotated
for scraping."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import get_args

import pytest
import yaml
from pydantic import SecretStr

from handover.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


@pytest.fixture(scope="module")
def rendered() -> dict[tuple[str, str], dict]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "deploy" / "kubernetes")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(out) if o}


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


WORKERS = {"oncall-handover-workflows": "workflows", "oncall-handover-activities": "activities"}
"""The workers' Deployments and what each runs (HANDOVER_WORKER_RUNS)."""


@pytest.mark.parametrize("name", sorted(WORKERS))
def test_two_workers_a_budget_a_grace_period_and_a_probe_that_asks_temporal(rendered, name: str):
    worker = rendered[("Deployment", name)]
    assert worker["spec"]["replicas"] == 2
    budget = rendered[("PodDisruptionBudget", name)]
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == worker["spec"]["selector"]["matchLabels"]
    pod = worker["spec"]["template"]
    assert pod["spec"]["terminationGracePeriodSeconds"] > 10 * 3, "longer than worker.py's 10 s shutdown"
    for probe in ("livenessProbe", "readinessProbe"):
        assert container(worker)[probe]["exec"]["command"] == ["python", "-m", "handover.probe"]
    assert (ROOT / "handover" / "probe.py").exists()
    port = {p["name"]: p["containerPort"] for p in container(worker)["ports"]}["metrics"]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    config = rendered[("ConfigMap", "oncall-handover-config")]["data"]
    assert config["HANDOVER_METRICS_ADDRESS"].endswith(f":{port}")


def test_one_deployment_runs_the_workflows_and_the_other_the_activities(rendered):
    deployments = [key for key in rendered if key[0] == "Deployment"]
    runs = {
        name: {e["name"]: e["value"] for e in container(rendered[("Deployment", name)]).get("env", [])}
        for _, name in deployments
    }
    assert {name: env.get("HANDOVER_WORKER_RUNS") for name, env in runs.items() if name in WORKERS} == WORKERS
    assert "HANDOVER_WORKER_RUNS" not in rendered[("ConfigMap", "oncall-handover-config")]["data"]
    selectors = [rendered[("Deployment", name)]["spec"]["selector"]["matchLabels"] for name in WORKERS]
    assert selectors[0] != selectors[1], "each budget and probe counts its own pods"
    assert set(WORKERS.values()) <= set(get_args(Settings.model_fields["worker_runs"].annotation))


def test_the_endpoint_has_a_service_and_probes_on_healthz(rendered):
    endpoint = rendered[("Deployment", "oncall-handover-endpoint")]
    service = rendered[("Service", "oncall-handover-endpoint")]
    labels = endpoint["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    for probe in ("livenessProbe", "readinessProbe"):
        assert container(endpoint)[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container(endpoint)["command"][:3] == ["python", "-m", "endpoint"]


def test_configuration_from_a_configmap_and_secrets_only_in_the_secret(rendered):
    names = {field.alias for field in Settings.model_fields.values()}
    secret_names = {f.alias for f in Settings.model_fields.values() if SecretStr in _types(f.annotation)}
    config = rendered[("ConfigMap", "oncall-handover-config")]["data"]
    secret = rendered[("Secret", "oncall-handover-secrets")]["stringData"]
    assert set(config) <= names, set(config) - names
    assert not set(config) & secret_names, "a secret in the ConfigMap"
    endpoint_tokens = {"HANDOVER_SERVICE_TOKENS", "HANDOVER_ADMIN_TOKENS"}
    assert set(secret) <= secret_names | endpoint_tokens
    assert {"PAGERDUTY_API_TOKEN", "SLACK_BOT_TOKEN", "PLATFORM_API_TOKEN"} <= set(secret)
    for name in (*WORKERS, "oncall-handover-endpoint"):
        sources = container(rendered[("Deployment", name)])["envFrom"]
        assert {"configMapRef": {"name": "oncall-handover-config"}} in sources
        assert {"secretRef": {"name": "oncall-handover-secrets"}} in sources
        assert (
            rendered[("Deployment", name)]["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
            == 10001
        )


def _types(annotation) -> set:
    return {annotation, *getattr(annotation, "__args__", ())}
