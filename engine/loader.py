"""Load a Hugging Face checkpoint directory from local disk: config, weights, tokenizer, chat template.

Nothing is ever downloaded: a missing file is a `CheckpointError` naming it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .config import CheckpointError, ModelConfig


@dataclass
class Checkpoint:
    path: Path
    config: ModelConfig
    tokenizer: object  # tokenizers.Tokenizer
    chat_template: str
    bos_token: str
    eos_token: str
    eos_token_ids: list[int]


def _token_str(v) -> str:
    # tokenizer_config.json stores special tokens either as strings or as AddedToken dicts.
    if isinstance(v, dict):
        return v.get("content", "")
    return v or ""


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"missing {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: invalid JSON ({e})") from None


def load_checkpoint(model_dir: str | Path) -> Checkpoint:
    from tokenizers import Tokenizer

    path = Path(model_dir)
    if not path.is_dir():
        raise CheckpointError(f"model directory {path} does not exist")
    config = ModelConfig.from_dir(path)
    tok_file = path / "tokenizer.json"
    if not tok_file.is_file():
        raise CheckpointError(f"missing {tok_file}")
    tokenizer = Tokenizer.from_file(str(tok_file))
    tok_cfg = _read_json(path / "tokenizer_config.json") if (path / "tokenizer_config.json").is_file() else {}
    template = _chat_template(path, tok_cfg)
    eos_token = _token_str(tok_cfg.get("eos_token"))
    eos_ids = list(config.eos_token_ids)
    gen = path / "generation_config.json"
    if gen.is_file():
        e = _read_json(gen).get("eos_token_id")
        eos_ids += [e] if isinstance(e, int) else list(e or [])
    if eos_token and tokenizer.token_to_id(eos_token) is not None:
        eos_ids.append(tokenizer.token_to_id(eos_token))
    if not eos_ids:
        raise CheckpointError(f"{path}: no eos_token_id in config.json, generation_config.json or tokenizer_config.json")
    return Checkpoint(path, config, tokenizer, template, _token_str(tok_cfg.get("bos_token")), eos_token,
                      sorted(set(eos_ids)))


def _chat_template(path: Path, tok_cfg: dict) -> str:
    t = tok_cfg.get("chat_template")
    if isinstance(t, list):  # named templates: take the default one
        t = next((x["template"] for x in t if x.get("name") == "default"), t[0]["template"] if t else None)
    if t:
        return t
    jinja = path / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text()
    raise CheckpointError(f"no chat template: neither {path / 'tokenizer_config.json'} (chat_template) nor {jinja}")


def weight_files(path: Path) -> list[Path]:
    index = path / "model.safetensors.index.json"
    if index.is_file():
        names = sorted(set(_read_json(index)["weight_map"].values()))
        files = [path / n for n in names]
        for f in files:
            if not f.is_file():
                raise CheckpointError(f"missing {f} (listed in {index.name})")
        return files
    single = path / "model.safetensors"
    if single.is_file():
        return [single]
    raise CheckpointError(f"missing {single} (or model.safetensors.index.json with shards)")


def load_model(ckpt: Checkpoint, device: str = "cpu", dtype=None, pack: bool = True):
    """Build the model with the checkpoint's weights (bf16 linears prepacked for oneDNN on CPU)."""
    import torch
    from safetensors import safe_open

    from .model import Transformer

    dtype = dtype or torch.float32
    files = weight_files(ckpt.path)
    with torch.device("meta"):
        model = Transformer(ckpt.config)
    # Cast while still on the meta device, so memory is allocated once, in the final dtype.
    model = model.to(dtype).to_empty(device=device)
    # Buffers were lost to the meta device: rebuild RoPE frequencies in fp32.
    model.rotary.inv_freq = ckpt.config.inv_freq().to(device)

    def tensors():
        for f in files:
            with safe_open(str(f), framework="pt") as sf:
                for name in sf.keys():
                    yield name, sf.get_tensor(name)

    with torch.no_grad():
        model.load_weights(tensors())
        if pack:
            model.pack_linears()
    return model.eval()
