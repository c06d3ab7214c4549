"""What the deployment files promise: nothing public by accident, no guessable metrics token."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
K8S = REPO_ROOT / "deploy" / "k8s"


def k8s_documents(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def test_compose_publishes_every_port_on_loopback_only():
    services = COMPOSE["services"]
    published = {name: service["ports"] for name, service in services.items() if "ports" in service}

    assert published == {
        "web": ["${WEB_BIND:-127.0.0.1}:${WEB_PORT:-8000}:8000"],
        "prometheus": ["127.0.0.1:${PROMETHEUS_PORT:-9090}:9090"],
        "grafana": ["127.0.0.1:${GRAFANA_PORT:-3000}:3000"],
        "mailpit": ["127.0.0.1:${MAILPIT_PORT:-8025}:8025"],
        "jaeger": ["127.0.0.1:${JAEGER_PORT:-16686}:16686"],
    }


def test_compose_requires_a_metrics_token_and_hands_it_to_prometheus():
    app_env = COMPOSE["x-app"]["environment"]
    scrape = yaml.safe_load((REPO_ROOT / "deploy/prometheus/prometheus.yml").read_text())
    web_job = next(j for j in scrape["scrape_configs"] if j["job_name"] == "orderflow-web")

    assert app_env["METRICS_TOKEN"].startswith("${METRICS_TOKEN:?")
    assert "X_FORWARDED" not in str(app_env)
    assert COMPOSE["secrets"] == {"metrics_token": {"environment": "METRICS_TOKEN"}}
    assert COMPOSE["services"]["prometheus"]["secrets"] == ["metrics_token"]
    assert web_job["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/run/secrets/metrics_token",
    }


def test_k8s_ships_no_metrics_token_and_the_web_pods_require_one():
    (secret,) = k8s_documents("secret.template.yaml")
    requirements = {}
    for name in ("web.yaml", "websocket.yaml"):
        (deployment,) = [d for d in k8s_documents(name) if d["kind"] == "Deployment"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        requirements[name] = env["METRICS_TOKEN"]["valueFrom"]["secretKeyRef"]

    assert "METRICS_TOKEN" not in secret["stringData"]
    assert "change-me" not in str(requirements)
    assert requirements == {
        name: {"name": "orderflow-secrets", "key": "METRICS_TOKEN", "optional": False}
        for name in ("web.yaml", "websocket.yaml")
    }


@pytest.mark.parametrize("token", ["change-me", "x" * 31])
def test_a_guessable_metrics_token_is_refused_at_start_up(token):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO_ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "METRICS_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured: METRICS_TOKEN must be at least 32 random characters" in (
        result.stderr
    )


def test_k8s_trusts_its_ingress_for_the_scheme_it_redirects_on():
    """Behind the Ingress's TLS, without a trusted proxy every request looks like HTTP."""
    (config,) = k8s_documents("configmap.yaml")

    assert config["data"]["SECURE_SSL_REDIRECT"] == "true"
    assert config["data"]["TRUSTED_PROXY_COUNT"] == "1"
