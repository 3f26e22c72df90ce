"""The image's install recipe works: deploy/docker/install.sh, the script every Dockerfile
stage runs, installs into a scratch virtual environment here, and what it installed serves.

Containers cannot run on these machines, so this is the image minus the base layers: the
same script, the same settings file, the same start command.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import openai

from tests.conftest import CLOUD_KEY, ROOT, free_port, wait_healthy

INSTALL = ROOT / "deploy" / "docker" / "install.sh"


def test_install_script_builds_a_gateway_that_serves(tmp_path: Path, cloud, onprem) -> None:
    # What the Dockerfile's source stage copies, and nothing else (no build leftovers).
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("proxy", "engine"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "opt-r1gate"
    done = subprocess.run(["sh", str(INSTALL), str(venv), "gateway", str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    r1gate = str(venv / "bin" / "r1gate")
    # The image's settings file, with the paths it names moved under tmp_path.
    policy = tmp_path / "etc" / "policies" / "default.yaml"
    policy.parent.mkdir(parents=True)
    policy.write_text((ROOT / "policies" / "default.yaml").read_text())
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "R1GATE_POLICY": str(policy),
           "R1GATE_DATABASE_URL": f"sqlite:///{tmp_path / 'r1gate.db'}", "R1GATE_CLOUD_URL": cloud.url,
           "R1GATE_CLOUD_API_KEY": CLOUD_KEY, "R1GATE_ONPREM_URL": f"{onprem.url}/v1"}
    config = str(ROOT / "deploy" / "docker" / "r1gate.yaml")
    key = subprocess.run([r1gate, "keys", "create", "--team", "ops", "--config", config], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout.split()[-1]
    port = free_port()
    proc = subprocess.Popen([r1gate, "serve", "--host", "127.0.0.1", "--port", str(port), "--config", config],
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, proc)
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
        answer = client.chat.completions.with_raw_response.create(model="deepseek-chat", messages=[
            {"role": "user", "content": "Write to jean.martin@dupont-industries.fr about the offer."}])
        assert answer.headers["x-r1gate-route"] == "onprem"  # the language models are in the install
        assert not cloud.bodies
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert not list(venv.glob("lib/python*/site-packages/torch")), "the gateway image carries no torch"
