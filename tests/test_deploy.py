"""docker-compose.yml and the Dockerfile, checked for what can be checked without a Docker engine."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from handover.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_temporal_on_todays_images_as_temporals_own_examples_do():
    """temporalio/server with the schema set up by temporalio/admin-tools (auto-setup is no longer
    built), the namespace created before the search attributes, every image pinned."""
    services = compose()["services"]
    assert "auto-setup" not in (ROOT / "docker-compose.yml").read_text()
    assert services["temporal"]["image"].startswith("temporalio/server:")
    schema = services["temporal-schema"]
    assert schema["image"].startswith("temporalio/admin-tools:")
    for db, schema_dir in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        assert f"{db}:{schema_dir}" in schema["command"][0]
    assert "/etc/temporal/schema/postgresql/v12/" in schema["command"][0]
    assert services["temporal"]["depends_on"] == {
        "temporal-schema": {"condition": "service_completed_successfully"}
    }
    setup = services["temporal-setup"]["command"][0]
    assert setup.index("namespace create -n default") < setup.index("search-attribute create")
    versions = {
        services[name]["image"].rsplit(":", 1)[1]
        for name in ("temporal", "temporal-schema", "temporal-setup")
    }
    assert len(versions) == 1, f"the server and its admin tools are one release: {versions}"
    for name, service in services.items():
        assert ("image" in service) != ("build" in service), f"{name}: an image or a build"
        if "image" in service:
            assert re.fullmatch(r"[a-z0-9/_.-]+:\d+(\.\d+)*", service["image"]), f"{name}: pin a release"
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on {needed}, which is not a service"
    for name in ("postgresql", "temporal", "endpoint"):
        assert "healthcheck" in services[name], name
    for volume in services["temporal"]["volumes"]:
        assert (ROOT / volume.split(":")[0]).exists(), volume


def test_compose_has_the_cluster_the_workers_and_the_optional_sandbox():
    services = compose()["services"]
    workers = {"workflows-worker": "workflows", "activities-worker": "activities"}
    assert {"postgresql", "temporal", "temporal-ui", *workers, "endpoint", "sandbox"} <= set(services)
    for name, runs in workers.items():
        assert services[name]["deploy"]["replicas"] == 2
        assert services[name]["command"] == ["python", "worker.py"]
        assert services[name]["environment"]["HANDOVER_WORKER_RUNS"] == runs
        assert services[name]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert services["sandbox"]["profiles"] == ["sandbox"]


def test_every_project_command_exists_in_the_image():
    services = compose()["services"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    for name, service in services.items():
        if "build" not in service:
            continue
        command = service["command"]
        assert command[0] == "python", name
        target = command[2] if command[1] == "-m" else command[1]
        path = ROOT / (f"{target}/__main__.py" if command[1] == "-m" else target)
        assert path.exists(), f"{name}: {path} does not exist"
        copied = re.findall(r"^COPY (.+) \S+$", dockerfile, re.M)
        assert any(target.split("/")[0].removesuffix(".py") in line for line in copied), name


def test_the_image_holds_every_package_the_project_declares():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in project["packages"]:
        assert f"COPY {package} {package}" in dockerfile
    for module in project["py-modules"]:
        assert f"{module}.py" in dockerfile


def test_compose_environment_names_are_settings():
    names = {field.alias for field in Settings.model_fields.values()}
    for service in ("workflows-worker", "activities-worker", "endpoint"):
        environment = compose()["services"][service]["environment"]
        assert set(environment) <= names, set(environment) - names


def test_compose_registers_every_search_attribute_the_workflow_sets():
    from handover import visibility

    command = compose()["services"]["temporal-setup"]["command"][0]
    for key in visibility.ALL:
        assert re.search(rf" {key.name}:{visibility.type_name(key)}[ ;]", command), key.name
