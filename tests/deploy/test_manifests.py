"""Static checks of deploy/: what can be validated without running containers or a cluster.

The Dockerfile is linted (hadolint), the compose file validated against the Compose
Specification's JSON schema (vendored by check-jsonschema), every kustomize overlay rendered
(kubectl's kustomize) and each object validated against the Kubernetes 1.30 schemas
(kubernetes-validate), HAProxy's and Prometheus' files checked by their own tools, and every
settings file and R1GATE_* variable they hold loaded by r1gate's own settings loader.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from proxy import config
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent  # tools installed by the [dev] extra
OVERLAYS = ["base", "overlays/engine-distill", "overlays/sglang-r1", "overlays/sglang-r1-multinode", "overlays/vllm-r1"]
K8S_VERSION = "1.30.0"
# Values for the variables that come from secrets, so the settings they make can be loaded.
SECRET_VALUES = {"R1GATE_CLOUD_API_KEY": "sk-placeholder", "R1GATE_SECRET": "0" * 64,
                 "R1GATE_DATABASE_URL": "postgresql://r1gate:pw@postgres:5432/r1gate",
                 "R1GATE_REDIS_URL": "redis://:pw@redis:6379/0"}


def _tool(name: str) -> str:
    path = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if path is None:
        if os.environ.get("CI"):
            raise RuntimeError(f"CI needs {name}")
        pytest.skip(f"{name} is not installed")
    return path


def _run(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})})
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


def _render(overlay: str) -> list[dict[str, Any]]:
    out = _run(_tool("kubectl"), "kustomize", "--load-restrictor", "LoadRestrictionsNone",
               str(DEPLOY / "kubernetes" / overlay))
    return [doc for doc in yaml.safe_load_all(out) if doc]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {})
    templates = [spec.get("template")] if "template" in spec else []
    lws = spec.get("leaderWorkerTemplate", {})
    templates += [lws.get("leaderTemplate"), lws.get("workerTemplate")]
    return [c for t in templates if t for c in t["spec"]["containers"]]


def _flag(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name:
            return args[i + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None


def _settings(text: str, environ: dict[str, str], tmp_path: Path) -> config.Settings:
    path = tmp_path / "r1gate.yaml"
    path.write_text(text)
    return config.load(path, environ=environ)


# ---- image ----

def test_dockerfile_passes_hadolint() -> None:
    _run(_tool("hadolint"), str(DEPLOY / "docker" / "Dockerfile"))


def test_image_settings_file_is_valid(tmp_path: Path) -> None:
    text = (DEPLOY / "docker" / "r1gate.yaml").read_text()
    settings = _settings(text, {}, tmp_path)
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    assert f"COPY policies/default.yaml {settings.policy}" in dockerfile


# ---- compose ----

def test_compose_file_matches_the_compose_specification() -> None:
    _run(_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(DEPLOY / "compose" / "compose.yaml"))


def _compose_r1gate_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for service in _compose()["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if name.startswith("R1GATE_"):
                env[name] = re.sub(r"\$\{[^}]+\}", "pw", str(value))  # compose's ${VAR} interpolation
    for line in (DEPLOY / "compose" / ".env.example").read_text().splitlines():
        name, _, value = line.partition("=")
        if name.startswith("R1GATE_"):
            env[name] = value
    return env


def test_compose_sets_only_real_settings_and_they_load(tmp_path: Path) -> None:
    env = _compose_r1gate_env()
    assert set(env) and set(env) <= set(config.ENV), set(env) - set(config.ENV)
    settings = _settings((DEPLOY / "compose" / "r1gate.yaml").read_text(), env, tmp_path)
    assert settings.database_url.startswith("postgresql://") and settings.redis_url
    served = {_flag(s["command"], "--served-model-name") for name, s in _compose()["services"].items()
              if name.startswith("engine")}
    assert served == {"deepseek-r1-distill"}
    assert {m.onprem for m in settings.models.values()} == served


def test_compose_replicas_sit_behind_a_health_checked_load_balancer() -> None:
    services = _compose()["services"]
    gateways = [n for n, s in services.items() if s.get("image", "").startswith("r1gate:")]
    assert len(gateways) == 2
    lb = services["lb"]["environment"]
    assert {lb["GATEWAY_1"], lb["GATEWAY_2"]} == {f"{g}:8080" for g in gateways}
    assert "option httpchk GET /readyz" in (DEPLOY / "haproxy" / "haproxy.cfg").read_text()
    prometheus = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    scraped = {t for job in prometheus["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    assert {f"{g}:8080" for g in gateways} <= scraped


def test_haproxy_config_is_valid(tmp_path: Path) -> None:
    _run(_tool("haproxy"), "-c", "-f", str(DEPLOY / "haproxy" / "haproxy.cfg"), env={
        "HAPROXY_BIND": "127.0.0.1:8080", "HAPROXY_STATS_SOCKET": str(tmp_path / "s.sock"),
        "HAPROXY_ERRORS": str(DEPLOY / "haproxy" / "errors"),
        "GATEWAY_1": "127.0.0.1:1", "GATEWAY_2": "127.0.0.1:2"})


def test_prometheus_config_is_valid() -> None:
    _run(_tool("promtool"), "check", "config", str(DEPLOY / "compose" / "prometheus.yml"))


# ---- kubernetes ----

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates_against_kubernetes_1_30(overlay: str) -> None:
    objects = _render(overlay)
    problems = []
    for obj in objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["apiVersion"].startswith("leaderworkerset.x-k8s.io/"):
            # The CRD's published schema (1.2 MB) is not vendored here: its pod templates,
            # where every container setting lives, are validated as core/v1 PodTemplates.
            lws = obj["spec"]["leaderWorkerTemplate"]
            assert isinstance(lws["size"], int) and lws["size"] >= 2
            docs = [{"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": f"{where}-{part}"},
                     "template": lws[part]} for part in ("leaderTemplate", "workerTemplate")]
        else:
            docs = [obj]
        for doc in docs:
            try:
                kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                problems.append(f"{where}: {exc.message} at {'.'.join(map(str, exc.path))}")
    assert problems == []


def test_schema_validation_rejects_a_wrong_field() -> None:
    """The validator really checks: an unknown field fails (so a pass above means something)."""
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
                                      "spec": {"portz": []}}, K8S_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_sets_only_real_settings_and_maps_models_to_its_engine(overlay: str, tmp_path: Path) -> None:
    objects = _render(overlay)
    gateway = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "r1gate")
    (container,) = _containers(gateway)
    names = {e["name"] for e in container["env"]}
    r1gate_vars = {n for n in names if n.startswith("R1GATE_")}
    assert r1gate_vars <= set(config.ENV), r1gate_vars - set(config.ENV)
    environ = {n: SECRET_VALUES.get(n, e.get("value", "")) for e in container["env"] for n in [e["name"]]}
    (cm,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("r1gate-config")]
    settings = _settings(cm["data"]["r1gate.yaml"], environ, tmp_path)
    # The policy ConfigMap is mounted where the settings look for it, as a directory (hot reload).
    policy_mount = next(m for m in container["volumeMounts"] if m["name"] == "policy")
    assert settings.policy == f"{policy_mount['mountPath']}/default.yaml" and "subPath" not in policy_mount
    (policy,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "r1gate-policy"]
    assert policy["data"]["default.yaml"] == (ROOT / "policies" / "default.yaml").read_text()
    engines = [o for o in objects if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "engine"
               and o["kind"] in ("Deployment", "LeaderWorkerSet")]
    if overlay == "base":
        assert engines == []
        return
    (engine,) = engines
    served = {_flag(c.get("args", []), "--served-model-name") for c in _containers(engine)}
    assert len(served) == 1 and None not in served
    assert settings.models["deepseek-reasoner"].onprem in served and settings.models["deepseek-reasoner"].reasoner
    service = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "r1gate-engine")
    assert settings.onprem.url == f"http://r1gate-engine:{service['spec']['ports'][0]['port']}/v1"


def test_gateway_pods_are_locked_down() -> None:
    objects = _render("base")
    gateway = next(o for o in objects if o["kind"] == "Deployment")
    pod = gateway["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert all("value" not in e for e in container["env"] if e["name"] in SECRET_VALUES)  # from the Secret
    kinds = {o["kind"] for o in objects}
    assert {"HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Service"} <= kinds
    (policy,) = [o for o in objects if o["kind"] == "NetworkPolicy"]
    ports = sorted(p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"])
    assert ports == [53, 53, 443, 5432, 6379, 8000]  # DNS, DeepSeek, PostgreSQL, Redis, the engine


@pytest.mark.parametrize("overlay", ["overlays/sglang-r1", "overlays/sglang-r1-multinode", "overlays/vllm-r1"])
def test_full_r1_engines_use_the_r1_parsers(overlay: str) -> None:
    (engine,) = [o for o in _render(overlay) if o["kind"] in ("Deployment", "LeaderWorkerSet")
                 and o["metadata"]["name"] == "r1gate-engine"]
    for c in _containers(engine):
        args = c["args"]
        if "sglang" in c["image"]:
            assert _flag(args, "--reasoning-parser") == "deepseek-r1" and _flag(args, "--tool-call-parser") == "deepseekv3"
            assert _flag(args, "--speculative-algorithm") == "EAGLE"
            assert _flag(args, "--tp") == ("16" if engine["kind"] == "LeaderWorkerSet" else "8")
        else:
            assert _flag(args, "--reasoning-parser") == "deepseek_r1" and "--enable-expert-parallel" in args
            assert _flag(args, "--tensor-parallel-size") == "8"


# ---- the example settings file ----

def _setting_names(model: type) -> set[str]:
    """Every setting's name, nested ones included (the fields of r1gate's settings models)."""
    from typing import get_args

    from pydantic import BaseModel

    names = set()
    for name, field in model.model_fields.items():
        names.add(name)
        for t in (field.annotation, *get_args(field.annotation)):
            if isinstance(t, type) and issubclass(t, BaseModel):
                names |= _setting_names(t)
    return names


def test_example_settings_file_names_every_setting() -> None:
    text = (DEPLOY / "r1gate.example.yaml").read_text()
    missing = {n for n in _setting_names(config.Settings) if not re.search(rf"\b{n}:", text)}
    assert missing == set()
