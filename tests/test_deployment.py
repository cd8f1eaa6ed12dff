"""The production shape: docker-compose.yml (validated against the Compose
Specification's schema), the Dockerfile, the lock file and the audit script."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = Path(__file__).resolve().parent / "schemas" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_compose_file_is_valid_against_the_compose_spec(compose: dict[str, Any]) -> None:
    validator = Draft7Validator(json.loads(SCHEMA.read_text()))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_schema_does_catch_mistakes(compose: dict[str, Any]) -> None:
    """The vendored schema is strict enough to fail a wrong file."""
    validator = Draft7Validator(json.loads(SCHEMA.read_text()))
    broken = json.loads(json.dumps(compose))
    broken["services"]["web"]["depends_on"]["migrate"]["condition"] = "service_done"
    broken["services"]["web"]["restart_policy"] = "always"
    assert len(list(validator.iter_errors(broken))) >= 2


def command(service: dict[str, Any]) -> str:
    value = service["command"]
    return " ".join(value) if isinstance(value, list) else str(value)


def test_services_of_the_production_shape(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {
        "db", "redis", "mailpit", "migrate", "web", "worker", "delivery", "beat"
    }  # fmt: skip
    assert "gunicorn" in command(services["web"])
    assert "barometre:create_app()" in command(services["web"])
    assert command(services["worker"]).startswith("celery -A alerts worker")
    assert command(services["worker"]).endswith("-Q ${CELERY_QUEUE:-barometre}")
    # Alerts on a queue of their own (Settings.delivery_queue), in a threads pool.
    delivery = command(services["delivery"])
    assert delivery.startswith("celery -A alerts worker") and "--pool threads" in delivery
    assert delivery.endswith("-Q ${CELERY_QUEUE:-barometre}.delivery")
    # Two processes of 4 threads, as the bench measured them (bench/worker.py).
    assert "--concurrency 4" in delivery and services["delivery"]["deploy"]["replicas"] == 2
    assert command(services["beat"]).startswith("celery -A alerts beat")
    assert services["beat"]["deploy"]["replicas"] == 1
    assert default_image(services["db"]).startswith("postgres:")
    assert default_image(services["mailpit"]).startswith("axllent/mailpit:")
    redis = command(services["redis"])
    assert "--appendonly yes" in redis and "--maxmemory-policy noeviction" in redis


def default_image(service: dict[str, Any]) -> str:
    """`${POSTGRES_IMAGE:-postgres:16.9-alpine}` -> `postgres:16.9-alpine`."""
    found = re.fullmatch(r"\$\{[A-Z_]+:-(.+)\}", service["image"])
    return found.group(1) if found else str(service["image"])


def test_every_image_is_pinned_to_a_release(compose: dict[str, Any]) -> None:
    """No floating tag: a version with its patch number (python, postgres, redis, mailpit)."""
    images = [default_image(s) for s in compose["services"].values() if "build" not in s]
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    assert base is not None
    build_args = compose["x-app"]["build"]["args"]["PYTHON_IMAGE"]
    assert build_args == "${PYTHON_IMAGE:-" + base.group(1) + "}"
    for image in [*images, base.group(1)]:
        tag = image.partition(":")[2]
        assert re.match(r"v?\d+\.\d+", tag), image  # 16.9, 7.4.2, v1.27.0; never 16 or latest
    assert {i.partition(":")[0] for i in images} == {"postgres", "redis", "axllent/mailpit"}


def test_migrations_run_first_and_once(compose: dict[str, Any]) -> None:
    services = compose["services"]
    migrate = command(services["migrate"])
    assert "flask --app barometre db upgrade && flask --app barometre seed" in migrate
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "delivery", "beat"):
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name


def test_every_service_checks_its_own_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    tests = {
        name: command({"command": service["healthcheck"].get("test", [])})
        for name, service in services.items()
    }
    assert "pg_isready" in tests["db"]
    assert "redis-cli ping" in tests["redis"]
    assert "/mailpit readyz" in tests["mailpit"]
    assert "127.0.0.1:8000/healthz" in tests["web"]
    assert tests["worker"] == "CMD python -m barometre.heartbeat worker"
    assert tests["delivery"] == "CMD python -m barometre.heartbeat worker"
    assert tests["beat"] == "CMD python -m barometre.heartbeat beat"
    # The one-shot's exit code is its health; nothing inherits the web check.
    assert services["migrate"]["healthcheck"] == {"disable": True}
    assert not re.search(r"^HEALTHCHECK", (ROOT / "Dockerfile").read_text(), re.MULTILINE)


def seconds(duration: str) -> int:
    total, units = 0, {"h": 3600, "m": 60, "s": 1}
    for amount, unit in re.findall(r"(\d+)([hms])", duration):
        total += int(amount) * units[unit]
    return total


def test_grace_periods_outlast_the_work_in_flight(compose: dict[str, Any]) -> None:
    from alerts.celery_app import DELIVERY_TASKS, LONGEST_TASK, TIME_LIMITS

    services = compose["services"]
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    assert spec is not None and spec.loader is not None
    gunicorn = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gunicorn)
    assert seconds(services["web"]["stop_grace_period"]) > gunicorn.graceful_timeout
    assert max(hard for _soft, hard in TIME_LIMITS.values()) == LONGEST_TASK
    assert seconds(services["worker"]["stop_grace_period"]) > LONGEST_TASK
    delivery_tasks = max(TIME_LIMITS[name][1] for name in DELIVERY_TASKS)
    assert seconds(services["delivery"]["stop_grace_period"]) > delivery_tasks
    for name in ("db", "redis", "mailpit", "web", "worker", "beat"):
        assert seconds(services[name]["stop_grace_period"]) >= 10, name  # set, never below 10 s


def test_a_stop_during_start_is_not_lost(compose: dict[str, Any]) -> None:
    """As PID 1, a Python process ignores the SIGTERM that comes before Celery or
    gunicorn set their handler, and `docker compose stop` (scripts/restore.sh) then
    waits the whole grace period, 30 minutes for the worker: an init process is PID 1
    and hands the signal over."""
    for name in ("migrate", "web", "worker", "delivery", "beat"):
        assert compose["services"][name].get("init") is True, name


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in service.get("environment", {}).items()}


def test_each_secret_goes_only_where_it_is_used(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert all("env_file" not in s for s in services.values())  # .env as a whole: nowhere
    holders: dict[str, set[str]] = {}
    for name, service in services.items():
        for value in environment(service).values():
            for secret in ("SECRET_KEY", "POSTGRES_PASSWORD", "SMTP_PASSWORD", "METRICS_TOKEN"):
                if "${" + secret in value:
                    holders.setdefault(secret, set()).add(name)
    assert holders == {
        "SECRET_KEY": {"web", "worker", "delivery", "beat"},
        "POSTGRES_PASSWORD": {"db", "migrate", "web", "worker", "delivery"},
        "SMTP_PASSWORD": {"worker", "delivery"},
        "METRICS_TOKEN": {"web"},
    }
    assert (
        environment(services["beat"])["DATABASE_URL"] == "postgresql://barometre@db:5432/barometre"
    )
    assert "SECRET_KEY=" in command(services["migrate"])  # a throwaway key of its own


def test_every_setting_reaches_the_app_containers(compose: dict[str, Any]) -> None:
    """.env is no longer handed over whole: each setting is passed by name."""
    from dataclasses import fields

    from barometre.settings import INTERNAL_FIELDS, Settings

    names = {
        f.metadata.get("env", f.name.upper())
        for f in fields(Settings)
        if f.name not in INTERNAL_FIELDS
    }
    only_elsewhere = {
        "web": {"SMTP_PASSWORD"},
        "worker": {"METRICS_TOKEN"},
        "delivery": {"METRICS_TOKEN"},
    }
    for service, elsewhere in only_elsewhere.items():
        passed = set(environment(compose["services"][service]))
        assert names - passed == {"TESTING", *elsewhere}, service


def test_gunicorn_has_no_control_socket_and_logs_json() -> None:
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    assert spec is not None and spec.loader is not None
    config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config)
    assert config.control_socket_disable is True
    error_logger = config.logconfig_dict["loggers"]["gunicorn.error"]
    assert error_logger["propagate"] is False
    handler = config.logconfig_dict["handlers"][error_logger["handlers"][0]]
    formatter = config.logconfig_dict["formatters"][handler["formatter"]]
    assert formatter["()"] == "barometre.logs.JsonFormatter"


def test_health_checks_and_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("db", "redis", "mailpit", "web", "worker", "delivery", "beat"):
        assert services[name]["healthcheck"]["test"], name
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    assert "redisdata:/data" in services["redis"]["volumes"]
    assert {"pgdata", "redisdata"} <= set(compose["volumes"])
    assert services["web"]["depends_on"]["db"]["condition"] == "service_healthy"


def test_nothing_is_published_beyond_loopback(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_app_containers_are_locked_down(compose: dict[str, Any]) -> None:
    for name in ("migrate", "web", "worker", "delivery", "beat"):
        service = compose["services"][name]
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert service["environment"]["BAROMETRE_ENV"] == "production", name
        assert service["image"] == "barometre:local", name


def test_required_variables_are_in_env_example() -> None:
    """Every ${VAR:?…} that compose insists on is listed in .env.example."""
    text = (ROOT / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    assert required == {"SECRET_KEY", "POSTGRES_PASSWORD"}
    example = (ROOT / ".env.example").read_text()
    # The image overrides are for stand-ins (scripts/compose-smoke.sh), not for .env.
    standins = {"PYTHON_IMAGE", "POSTGRES_IMAGE", "REDIS_IMAGE", "MAILPIT_IMAGE"}
    for name in required | set(re.findall(r"\$\{([A-Z_]+):-", text)) - standins:
        assert re.search(rf"^{name}=", example, re.MULTILINE), name


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM ${PYTHON_IMAGE}" in text.splitlines()
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert "pip install --requirement requirements.lock" in text
    assert "pip install --no-deps ." in text
    for source in re.findall(r"^COPY (.+) \S+$", text, re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), path
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".venv" in ignored


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_lock_covers_every_runtime_dependency() -> None:
    """A dependency added to pyproject.toml without `make lock` would be missing from the image."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {
        normalise(re.split(r"[\[<>=!~ ;]", d, maxsplit=1)[0]) for d in project["dependencies"]
    }
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    locked = {normalise(line.split("==")[0]) for line in lines if "==" in line}
    assert wanted - locked == set(), "run `make lock`"
    assert all("==" in line for line in lines if line and not line.startswith("#"))


def test_gunicorn_config_matches_compose() -> None:
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    assert spec is not None and spec.loader is not None
    config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config)
    assert config.bind == "0.0.0.0:8000"
    assert config.accesslog is None  # the app logs requests itself, without query strings
    assert callable(config.on_starting)


STUB = """#!/bin/sh
# A stand-in for pip-audit: writes the JSON report the test chose.
while [ "$#" -gt 0 ]; do
  if [ "$1" = "--output" ]; then cp "$STUB_REPORT" "$2"; fi
  shift
done
"""


def run_audit(
    tmp_path: Path, report: dict[str, Any], **env: str
) -> subprocess.CompletedProcess[str]:
    stub = tmp_path / "pip-audit"
    stub.write_text(STUB)
    stub.chmod(0o755)
    (tmp_path / "report.json").write_text(json.dumps(report))
    environ = {
        "PATH": os.environ["PATH"],
        "PIP_AUDIT": str(stub),
        "STUB_REPORT": str(tmp_path / "report.json"),
        **env,
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "audit.py"), str(ROOT / "requirements.lock")],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_audit_fails_on_a_known_vulnerability(tmp_path: Path) -> None:
    vuln = {"id": "PYSEC-0000-1", "fix_versions": ["9.9"], "description": ""}
    report = {"dependencies": [{"name": "flask", "version": "3.1.3", "vulns": [vuln]}]}
    done = run_audit(tmp_path, report)
    assert done.returncode == 1
    assert "VULNERABLE flask 3.1.3: PYSEC-0000-1 (9.9)" in done.stdout


def test_audit_says_clearly_when_it_could_not_audit(tmp_path: Path) -> None:
    skipped = {"name": "flask", "version": "3.1.3", "skip_reason": "Dependency not found on PyPI"}
    report = {"dependencies": [skipped]}
    done = run_audit(tmp_path, report)
    assert done.returncode == 0 and "NOT AUDITED" in done.stdout
    strict = run_audit(tmp_path, report, AUDIT_REQUIRED="1")
    assert strict.returncode == 2 and "NOT AUDITED" in strict.stdout


def test_audit_passes_when_everything_was_checked(tmp_path: Path) -> None:
    report = {"dependencies": [{"name": "flask", "version": "3.1.3", "vulns": []}]}
    done = run_audit(tmp_path, report)
    assert done.returncode == 0 and "1 locked packages audited" in done.stdout
