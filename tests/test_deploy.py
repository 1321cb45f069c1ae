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


def test_compose_has_the_cluster_the_worker_and_the_optional_sandbox():
    services = compose()["services"]
    assert {"postgresql", "temporal", "temporal-ui", "worker", "endpoint", "sandbox"} <= set(services)
    assert services["worker"]["deploy"]["replicas"] == 2
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
    for service in ("worker", "endpoint"):
        environment = compose()["services"][service]["environment"]
        assert set(environment) <= names, set(environment) - names


def test_compose_registers_every_search_attribute_the_workflow_sets():
    from handover import visibility

    command = compose()["services"]["temporal-search-attributes"]["command"][0]
    for key in visibility.ALL:
        assert re.search(rf" {key.name}:{visibility.type_name(key)}[ ;]", command), key.name
