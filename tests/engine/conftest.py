"""Tiny checkpoints built locally (no downloads) and engines over them."""
from __future__ import annotations

import importlib.util

import pytest

if importlib.util.find_spec("torch") is None:  # installed without the [engine] extra
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session", autouse=True)
def _two_threads():
    import torch

    torch.set_num_threads(2)  # the suite's budget: 2 cores


@pytest.fixture(scope="session")
def checkpoint_dir(tmp_path_factory):
    from engine.tiny import make_tiny
    from engine_variants import VARIANTS

    made = {}

    def get(name: str):
        if name not in made:
            made[name] = make_tiny(tmp_path_factory.mktemp(name), **VARIANTS[name])
        return made[name]

    return get


@pytest.fixture(scope="session")
def loaded(checkpoint_dir):
    from engine.loader import load_checkpoint, load_model

    cache = {}

    def get(name: str):
        if name not in cache:
            ck = load_checkpoint(checkpoint_dir(name))
            cache[name] = (ck, load_model(ck))
        return cache[name]

    return get


@pytest.fixture
def make_engine(loaded):
    """A fresh engine (fresh cache and scheduler) over a shared loaded model."""
    from engine.config import EngineConfig
    from engine.llm_engine import LLMEngine

    def make(name: str = "llama-untied", num_blocks: int = 256, block_size: int = 4, **kw):
        ck, model = loaded(name)
        config = EngineConfig(str(ck.path), max_kv_tokens=num_blocks * block_size, block_size=block_size, **kw)
        return LLMEngine(ck, model, config)

    return make
