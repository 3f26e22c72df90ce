"""Checkpoint loading (config styles, shards, templates, clear errors) and the CLI contract."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import httpx
import pytest

from engine.cli import register
from engine.config import CheckpointError, ModelConfig
from engine.loader import load_checkpoint, load_model


def test_rope_theta_and_rope_parameters_styles_agree():
    base = {"model_type": "llama", "vocab_size": 10, "hidden_size": 64, "intermediate_size": 8,
            "num_hidden_layers": 1, "num_attention_heads": 4}
    scaling = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 64}
    old = ModelConfig.from_dict({**base, "rope_theta": 5e5, "rope_scaling": scaling})
    new = ModelConfig.from_dict({**base, "rope_parameters": {**scaling, "rope_theta": 5e5}})
    assert old.rope_theta == new.rope_theta == 5e5
    assert old.inv_freq().tolist() == new.inv_freq().tolist()
    plain = ModelConfig.from_dict({**base, "rope_theta": 5e5})
    assert plain.inv_freq().tolist() != new.inv_freq().tolist()  # the scaling did bend something


@pytest.mark.parametrize("missing", ["config.json", "tokenizer.json", "model-00002-of-00002.safetensors"])
def test_missing_file_is_an_error_naming_it(checkpoint_dir, tmp_path, missing):
    d = tmp_path / "ck"
    shutil.copytree(checkpoint_dir("qwen2-untied"), d)
    (d / missing).unlink()
    with pytest.raises(CheckpointError, match=missing.replace(".", r"\.")):
        load_model(load_checkpoint(d))


def test_chat_template_from_jinja_file(checkpoint_dir, tmp_path):
    d = tmp_path / "ck"
    shutil.copytree(checkpoint_dir("qwen2-tied"), d)
    cfg = json.loads((d / "tokenizer_config.json").read_text())
    (d / "chat_template.jinja").write_text(cfg.pop("chat_template"))
    (d / "tokenizer_config.json").write_text(json.dumps(cfg))
    assert "<think>" in load_checkpoint(d).chat_template
    (d / "chat_template.jinja").unlink()
    with pytest.raises(CheckpointError, match="chat_template.jinja"):
        load_checkpoint(d)


def test_register_contract():
    parser = argparse.ArgumentParser(prog="r1gate")
    register(parser.add_subparsers(dest="command"))
    a = parser.parse_args(["engine", "serve", "--model", "/m", "--served-model-name", "x", "--port", "9", "--device",
                           "cpu", "--dtype", "bfloat16", "--max-kv-tokens", "1024"])
    assert (a.model, a.served_model_name, a.port, a.host, a.max_kv_tokens) == ("/m", "x", 9, "127.0.0.1", 1024)
    assert callable(a.func)
    a = parser.parse_args(["engine", "make-tiny", "/d", "--arch", "llama"])
    assert (a.dir, a.arch) == ("/d", "llama") and callable(a.func)


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "proxy.cli", "engine", *args], capture_output=True, text=True,
                          timeout=120, **kw)


@pytest.mark.parametrize("args,needle", [
    (["serve", "--model", "/nonexistent"], "does not exist"),
    (["serve", "--model", "/x", "--dtype", "int3"], "--dtype"),
    (["serve", "--model", "/x", "--device", "tpu"], "--device"),
    (["serve", "--model", "/x", "--max-kv-tokens", "0"], "--max-kv-tokens"),
    (["make-tiny", "/tmp/never", "--arch", "gpt2"], "--arch"),
])
def test_cli_bad_settings_exit_2_with_one_line(args, needle):
    r = _cli(*args)
    assert r.returncode == 2
    assert needle in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_cli_busy_port_exits_2(checkpoint_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = _cli("serve", "--model", str(checkpoint_dir("qwen2-tied")), "--port", str(s.getsockname()[1]))
    assert r.returncode == 2 and "cannot listen" in r.stderr and "Traceback" not in r.stderr


def test_cli_make_tiny_then_serve(tmp_path):
    d = tmp_path / "tiny"
    r = _cli("make-tiny", str(d), "--arch", "llama")
    assert r.returncode == 0, r.stderr
    assert load_checkpoint(d).config.arch == "llama"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "proxy.cli", "engine", "serve", "--model", str(d), "--port", str(port),
                          "--served-model-name", "tiny", "--max-kv-tokens", "512"], env=env)
    try:
        deadline = time.monotonic() + 240  # a bound for a loaded machine, not a timing
        while True:  # a separate process: poll until it listens, bounded
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models").json()["data"][0]["id"] == "tiny":
                    break
            except httpx.TransportError:
                assert p.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                       json={"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] <= 4
    finally:
        p.terminate()
        p.wait(timeout=10)


def test_missing_tensor_is_named(checkpoint_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    d = tmp_path / "ck"
    shutil.copytree(checkpoint_dir("llama-tied-bias-mha"), d)
    w = load_file(str(d / "model.safetensors"))
    del w["model.layers.1.self_attn.k_proj.bias"]
    save_file(w, str(d / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"layers\.1\.self_attn\.k_proj\.bias"):
        load_model(load_checkpoint(d))


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the no-GPU message")
def test_cli_cuda_without_gpu_is_one_line(checkpoint_dir):
    with socket.socket() as s:  # a free port: the default 8000 may be taken on a shared machine
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = _cli("serve", "--model", str(checkpoint_dir("qwen2-tied")), "--device", "cuda", "--port", str(port))
    assert r.returncode == 2 and "no CUDA device" in r.stderr and "Traceback" not in r.stderr
