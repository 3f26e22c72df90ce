"""The Grafana dashboard and the Prometheus alerts use only metrics the gateway exports.

A real `r1gate serve --workers 2` (as the compose and Kubernetes gateways run) answers mixed
traffic (cloud, on-prem, streamed, a cache hit, a failing upstream, an exhausted budget,
Redis, Anthropic's Messages API), then its /metrics is scraped: every metric name the
dashboard or the alerts query must be there, with every label they group by. promtool
checks the rules, and every dashboard query as PromQL.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import CLOUD_KEY, ROOT, free_port, wait_healthy

OBS = ROOT / "deploy" / "observability"
R1GATE = [sys.executable, "-m", "proxy.cli"]
PROMETHEUS_OWN = {"up"}  # recorded by Prometheus for each scrape target, not by the gateway
PROMETHEUS_LABELS = {"instance", "job"}  # added by Prometheus to every series it scrapes
# Grafana's variables, given values so that the queries are plain PromQL.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "6h", "$team": ".*"}


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI"):
            raise RuntimeError("CI needs promtool (Debian package prometheus)")
        pytest.skip("promtool is not installed")
    return path


def dashboard_queries() -> list[str]:
    dashboard = json.loads((OBS / "grafana-dashboard.json").read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    queries += [v["query"]["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return queries


def alert_queries() -> list[str]:
    import yaml

    rules = yaml.safe_load((OBS / "alerts.yaml").read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def metric_names(query: str) -> set[str]:
    names = set(re.findall(r"\b(r1gate_[a-z0-9_]+)", query))
    names |= {n for n in PROMETHEUS_OWN if re.search(rf"\b{n}\{{", query)}
    return names


def grouped_labels(query: str) -> set[tuple[str, str]]:
    """(metric, label) for each label a query groups by: `sum by (route, api) (rate(r1gate_…`."""
    grouped = re.findall(r"by \(([^)]*)\) \((?:\w+\()?(r1gate_[a-z0-9_]+)", query)
    return {(metric, label.strip()) for labels, metric in grouped for label in labels.split(",")}


def test_alert_rules_pass_promtool() -> None:
    done = subprocess.run([_promtool(), "check", "rules", str(OBS / "alerts.yaml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    import yaml

    rules = []
    for i, query in enumerate(dashboard_queries()):
        if query.startswith("label_values("):
            query = query.removeprefix("label_values(").split(",")[0]  # the metric it reads labels from
        for var, value in GRAFANA_VARIABLES.items():
            query = query.replace(var, value)
        rules.append({"record": f"dashboard:query_{i}", "expr": query})
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run([_promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboard_and_alerts_use_only_metrics_the_gateway_exports(tmp_path, cloud, onprem, redis_server) -> None:
    env = {**os.environ, "R1GATE_CLOUD_URL": cloud.url, "R1GATE_CLOUD_API_KEY": CLOUD_KEY,
           "R1GATE_ONPREM_URL": f"{onprem.url}/v1", "R1GATE_DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}",
           "R1GATE_REDIS_URL": redis_server.url, "R1GATE_INSPECTION_WORKERS": "1",
           "R1GATE_POLICY": str(ROOT / "policies" / "default.yaml")}

    def cli(*args: str) -> str:
        return subprocess.run([*R1GATE, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout

    key = cli("keys", "create", "--team", "apps").split()[-1]
    broke = cli("keys", "create", "--team", "broke", "--budget-usd", "0").split()[-1]
    port = free_port()
    # Two workers, as deployed: the series are summed across them.
    proc = subprocess.Popen([*R1GATE, "serve", "--port", str(port), "--workers", "2"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, proc)
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
        ask = [{"role": "user", "content": "Plan a team offsite."}]
        client.chat.completions.create(model="deepseek-chat", messages=ask)
        client.chat.completions.create(model="deepseek-chat", messages=[
            {"role": "user", "content": "Mail jean.martin@dupont-industries.fr the offer."}])
        for _ in range(2):  # stored, then a hit
            client.chat.completions.create(model="deepseek-chat", messages=ask, temperature=0)
        for _ in client.chat.completions.create(model="deepseek-reasoner", messages=ask, stream=True):
            pass
        cloud.fail(500, times=5)  # the cloud fails: the error is counted, the answer falls back on-prem
        client.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "Hi there."}])
        with pytest.raises(openai.RateLimitError):
            openai.OpenAI(base_url=f"{base}/v1", api_key=broke, max_retries=0).chat.completions.create(
                model="deepseek-chat", messages=ask)
        anthropic.Anthropic(base_url=f"{base}/anthropic", api_key=key, max_retries=0).messages.create(
            model="claude-sonnet-4-5", max_tokens=64, messages=ask)
        httpx.get(f"{base}/readyz")  # reports Redis (r1gate_redis_up)
        scraped = httpx.get(f"{base}/metrics").text
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    exported = {line.split("{")[0].split(" ")[0] for line in scraped.splitlines() if line and not line.startswith("#")}
    used = set().union(*map(metric_names, dashboard_queries() + alert_queries()))
    assert used - PROMETHEUS_OWN, "the dashboard queries gateway metrics"
    assert used - PROMETHEUS_OWN <= exported, sorted(used - PROMETHEUS_OWN - exported)
    samples = [s for family in text_string_to_metric_families(scraped) for s in family.samples]
    grouped = set().union(*map(grouped_labels, dashboard_queries() + alert_queries()))
    missing = {(m, label) for m, label in grouped if label not in PROMETHEUS_LABELS} - {
        (s.name, label) for s in samples for label in s.labels}
    assert grouped and not missing, sorted(missing)
    assert {s.labels["api"] for s in samples if s.name == "r1gate_requests_total"} == {"chat", "messages"}
