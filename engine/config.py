"""The engine's settings (`EngineConfig`, from the CLI down) and the model's (`ModelConfig`, from `config.json`)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path


class CheckpointError(Exception):
    """A checkpoint directory is unusable; the message names the file or field at fault."""


class ConfigError(ValueError):
    """A setting is out of range; the message names the command-line option."""


DTYPES = ("auto", "float32", "bfloat16", "float16")
WAIT_POLICIES = ("passive", "spin")


@dataclass(frozen=True)
class EngineConfig:
    """Everything `r1gate engine serve` is told, read once by each stage that needs it."""

    model: str  # checkpoint directory
    device: str = "cpu"  # cpu, cuda or cuda:N
    dtype: str = "auto"  # auto: bf16 on GPUs and on CPUs with native bf16 dot products, else fp32
    max_kv_tokens: int | None = None  # KV cache size; default: a share of free memory
    kv_memory_fraction: float | None = None
    block_size: int = 16
    max_batched_tokens: int = 512  # tokens per step (prefill chunk budget)
    max_seqs: int = 64  # sequences decoded together
    max_waiting: int = 256  # queued requests before refusing
    max_model_len: int | None = None  # cap on prompt + output tokens
    compile: bool = False  # decode steps through torch.compile graphs, one per padded batch size
    threads: int | None = None  # CPU threads for torch (default: torch's, one per core)
    wait_policy: str = "passive"  # OpenMP workers between ops: sleep at once, or spin a bounded while

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ConfigError(f"--dtype must be one of {', '.join(DTYPES)}, not {self.dtype!r}")
        if not (self.device == "cpu" or self.device == "cuda" or self.device.startswith("cuda:")):
            raise ConfigError(f"--device must be cpu or cuda, not {self.device!r}")
        if self.wait_policy not in WAIT_POLICIES:
            raise ConfigError(f"--wait-policy must be one of {', '.join(WAIT_POLICIES)}, not {self.wait_policy!r}")
        for name in ("max_kv_tokens", "block_size", "max_batched_tokens", "max_seqs", "max_model_len", "threads"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {v}")
        if self.max_waiting < 0:
            raise ConfigError(f"--max-waiting must not be negative, got {self.max_waiting}")
        if self.kv_memory_fraction is not None and not 0 < self.kv_memory_fraction <= 1:
            raise ConfigError(f"--kv-memory-fraction must be in (0, 1], got {self.kv_memory_fraction}")


@dataclass
class ModelConfig:
    arch: str  # "qwen2" | "llama"
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    max_position: int
    tie_embeddings: bool
    qkv_bias: bool
    rope_scaling: dict = field(default_factory=dict)
    eos_token_ids: list[int] = field(default_factory=list)
    bos_token_id: int | None = None

    @classmethod
    def from_dir(cls, model_dir: Path) -> "ModelConfig":
        path = Path(model_dir) / "config.json"
        if not path.is_file():
            raise CheckpointError(f"missing {path}")
        cfg = json.loads(path.read_text())
        return cls.from_dict(cfg)

    @classmethod
    def from_dict(cls, cfg: dict) -> "ModelConfig":
        model_type = cfg.get("model_type", "")
        if model_type not in ("qwen2", "llama"):
            raise CheckpointError(f"config.json: unsupported model_type {model_type!r} (expected qwen2 or llama)")
        try:
            heads = cfg["num_attention_heads"]
            hidden = cfg["hidden_size"]
            # Two config styles coexist: `rope_theta` + `rope_scaling` (transformers 4.x)
            # and a single `rope_parameters` dict (transformers 5.x).
            rope = dict(cfg.get("rope_parameters") or cfg.get("rope_scaling") or {})
            theta = rope.get("rope_theta", cfg.get("rope_theta", 10000.0))
            eos = cfg.get("eos_token_id")
            return cls(
                arch=model_type,
                vocab_size=cfg["vocab_size"],
                hidden_size=hidden,
                intermediate_size=cfg["intermediate_size"],
                num_layers=cfg["num_hidden_layers"],
                num_heads=heads,
                num_kv_heads=cfg.get("num_key_value_heads") or heads,
                head_dim=cfg.get("head_dim") or hidden // heads,
                rms_norm_eps=cfg.get("rms_norm_eps", 1e-6),
                rope_theta=float(theta),
                max_position=cfg.get("max_position_embeddings", 4096),
                tie_embeddings=bool(cfg.get("tie_word_embeddings", False)),
                # Qwen2 always has q/k/v biases; Llama only when `attention_bias` says so.
                qkv_bias=model_type == "qwen2" or bool(cfg.get("attention_bias", False)),
                rope_scaling=rope,
                eos_token_ids=[] if eos is None else ([eos] if isinstance(eos, int) else list(eos)),
                bos_token_id=cfg.get("bos_token_id"),
            )
        except KeyError as e:
            raise CheckpointError(f"config.json: missing field {e.args[0]!r}") from None

    def inv_freq(self):
        import torch

        inv = 1.0 / (self.rope_theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.float32) / self.head_dim))
        # float32 like the reference implementation, so fp32 logits match to ~1e-6
        kind = self.rope_scaling.get("rope_type") or self.rope_scaling.get("type") or "default"
        if kind == "llama3":
            inv = _llama3_scale(inv, self.rope_scaling)
        elif kind == "linear":
            inv = inv / float(self.rope_scaling["factor"])
        elif kind != "default":
            raise CheckpointError(f"config.json: unsupported rope type {kind!r}")
        return inv


def _llama3_scale(inv, p: dict):
    # Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, a smooth ramp between.
    import torch

    factor, low, high = float(p["factor"]), float(p.get("low_freq_factor", 1.0)), float(p.get("high_freq_factor", 4.0))
    old_ctx = float(p.get("original_max_position_embeddings", 8192))
    low_wavelen, high_wavelen = old_ctx / low, old_ctx / high
    wavelen = 2 * math.pi / inv
    scaled = torch.where(wavelen > low_wavelen, inv / factor, inv)
    smooth = (old_ctx / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
    return torch.where(medium, smoothed, scaled)
