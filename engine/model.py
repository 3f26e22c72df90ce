"""Qwen2 / Llama decoder in PyTorch (the R1-distill architectures), over a paged KV cache."""
from __future__ import annotations

from functools import partial
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .attention import AttnMeta, decode_attention, gather_decode_kv, paged_attention
from .config import CheckpointError, ModelConfig


class PackedLinear(nn.Module):
    """A bf16 linear layer whose weight oneDNN reorders once, at load, for this CPU.

    F.linear lets oneDNN reorder the weight on every call, which doubles the memory
    traffic of a memory-bound decode step; packed, the same products (bit for bit)
    run about 1.5-2x faster on a 125M model.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        self.out_features = weight.shape[0]
        self.register_buffer("packed", torch.ops.mkldnn._reorder_linear_weight(weight, 32), persistent=False)
        self.register_buffer("bias", bias, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_compiling():
            # Inductor lowers mkldnn._linear_pointwise only for weights it packed itself (frozen
            # constants); behind an opaque op of ours, the compiled graph calls it on ours.
            return torch.ops.r1gate.packed_linear(x, self.packed, self.bias)
        return _packed_linear(x, self.packed, self.bias)


def _packed_linear(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")


# A plain library op: torch.library.custom_op's wrapper costs about 5 µs more per call.
_OPS = torch.library.Library("r1gate", "DEF")
_OPS.define("packed_linear(Tensor x, Tensor packed, Tensor? bias) -> Tensor")
_OPS.impl("packed_linear", _packed_linear, "CompositeExplicitAutograd")


@torch.library.register_fake("r1gate::packed_linear")
def _(x, packed, bias):
    return x.new_empty((*x.shape[:-1], packed.shape[0]))


def can_pack(weight: torch.Tensor) -> bool:
    if weight.device.type != "cpu" or weight.dtype != torch.bfloat16 or not torch.backends.mkldnn.is_available():
        return False
    try:  # the ops are private: check they exist and agree with F.linear before relying on them
        x = torch.randn(3, weight.shape[1], dtype=weight.dtype)
        return torch.equal(PackedLinear(weight[:8], None)(x), F.linear(x, weight[:8]))
    except (AttributeError, RuntimeError):
        return False


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in fp32 then cast back, as the reference does; bf16 variance is too coarse.
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


class Rotary(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.register_buffer("inv_freq", cfg.inv_freq(), persistent=False)

    def cos_sin(self, positions: torch.Tensor, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        # Once per forward, shared by all layers.
        freqs = positions.float()[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(dtype)[:, None, :], emb.sin().to(dtype)[:, None, :]


def apply_rotary(q, k, cos, sin):
    return q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin


def _rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        self.q_size, self.kv_size = self.heads * self.head_dim, self.kv_heads * self.head_dim
        # q, k and v fused into one matmul: fewer, larger kernels matter on CPU.
        self.qkv_proj = nn.Linear(cfg.hidden_size, self.q_size + 2 * self.kv_size, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(self.q_size, cfg.hidden_size, bias=False)
        self.scale = self.head_dim ** -0.5

    def qkv(self, x, cos, sin):
        """The new tokens' queries, keys and values, rotated."""
        q, k, v = self.qkv_proj(x).split([self.q_size, self.kv_size, self.kv_size], dim=-1)
        q = q.view(-1, self.heads, self.head_dim)
        k = k.view(-1, self.kv_heads, self.head_dim)
        v = v.view(-1, self.kv_heads, self.head_dim)
        q, k = apply_rotary(q, k, cos, sin)
        return q, k, v


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gate_up_proj = nn.Linear(cfg.hidden_size, 2 * cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x):
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class Layer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, h, cos, sin, attend):
        """attend(q, k, v) gives the attention's output [T, heads*head_dim]. Returns the new
        hidden states and the new tokens' keys and values."""
        q, k, v = self.self_attn.qkv(self.input_layernorm(h), cos, sin)
        h = h + self.self_attn.o_proj(attend(q, k, v))
        return h + self.mlp(self.post_attention_layernorm(h)), k, v


@torch.compiler.nested_compile_region
def _decode_layer(layer: Layer, h, cos, sin, kv, block_tables, context_lens):
    # A region torch.compile optimises once and reuses for every layer: a graph per batch
    # size then compiles in about the time of one layer, not of all of them.
    attend = partial(decode_attention, kv=kv, block_tables=block_tables, context_lens=context_lens,
                     scale=layer.self_attn.scale)
    h, k, v = layer(h, cos, sin, attend)
    # Stacked, not returned as they are: v is a view of the projection's output, and a region
    # that returns a view of its own intermediate hands back garbage (torch 2.13's
    # invoke_subgraph assumes no such aliasing; a clone of a contiguous view is elided).
    return h, torch.stack((k, v))


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.num_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.rotary = Rotary(cfg)
        self.lm_head = None if cfg.tie_embeddings else nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.kv_cache: torch.Tensor | None = None  # [layers, 2, blocks, block_size, kv_heads, head_dim]
        self.decode_kv: torch.Tensor | None = None  # flat room for a step's gathered decode K/V

    def allocate_kv_cache(self, num_blocks: int, block_size: int) -> None:
        p = self.embed_tokens.weight
        self.kv_cache = torch.zeros(
            self.cfg.num_layers, 2, num_blocks, block_size, self.cfg.num_kv_heads, self.cfg.head_dim,
            dtype=p.dtype, device=p.device,
        )
        self.decode_kv = torch.empty(0, dtype=p.dtype, device=p.device)

    def reserve_decode_kv(self, num_blocks: int) -> None:
        """Room to gather `num_blocks` blocks of every layer (grows, never shrinks)."""
        need = num_blocks * self.kv_cache[:, :, 0].numel()
        if self.decode_kv.numel() < need:
            self.decode_kv = torch.empty(need, dtype=self.kv_cache.dtype, device=self.kv_cache.device)

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, meta: AttnMeta) -> torch.Tensor:
        h = self.embed_tokens(input_ids)
        cos, sin = self.rotary.cos_sin(positions, h.dtype)
        decode_kv = gather_decode_kv(self.kv_cache, meta, self.decode_kv)
        for i, layer in enumerate(self.layers):
            attend = partial(paged_attention, k_cache=self.kv_cache[i, 0], v_cache=self.kv_cache[i, 1], meta=meta,
                             scale=layer.self_attn.scale, decode_kv=None if decode_kv is None else decode_kv[i])
            h, _, _ = layer(h, cos, sin, attend)
        return self.norm(h)

    def decode(self, input_ids: torch.Tensor, positions: torch.Tensor, block_tables: torch.Tensor,
               context_lens: torch.Tensor, kv_cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One new token per row, writing nothing (what decode_graphs.py compiles): the logits
        [rows, V] and the new tokens' K/V [layers, 2, rows, kv_heads, head_dim] for the caller
        to write to the cache. block_tables: [rows, W]; context_lens: [rows], new token included."""
        h = self.embed_tokens(input_ids)
        cos, sin = self.rotary.cos_sin(positions, h.dtype)
        new = []
        for layer, kv in zip(self.layers, kv_cache):
            h, new_kv = _decode_layer(layer, h, cos, sin, kv, block_tables, context_lens)
            new.append(new_kv)
        return self.logits(self.norm(h)), torch.stack(new)

    def pack_linears(self) -> bool:
        """Swap every linear layer for a PackedLinear when the CPU path supports it."""
        if not can_pack(self.embed_tokens.weight):
            return False
        for layer in self.layers:
            for parent, name in ((layer.self_attn, "qkv_proj"), (layer.self_attn, "o_proj"),
                                 (layer.mlp, "gate_up_proj"), (layer.mlp, "down_proj")):
                lin = getattr(parent, name)
                setattr(parent, name, PackedLinear(lin.weight.data, None if lin.bias is None else lin.bias.data))
        # Tied checkpoints keep the embedding for lookups and a packed copy for the logits.
        head = self.embed_tokens.weight if self.lm_head is None else self.lm_head.weight
        self.lm_head = PackedLinear(head.data, None)
        return True

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.lm_head is None:
            return F.linear(hidden, self.embed_tokens.weight).float()
        return self.lm_head(hidden).float()

    # --- weights ---------------------------------------------------------------------
    _FUSED = {"q_proj": ("qkv_proj", 0), "k_proj": ("qkv_proj", 1), "v_proj": ("qkv_proj", 2),
              "gate_proj": ("gate_up_proj", 0), "up_proj": ("gate_up_proj", 1)}

    def load_weights(self, tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Copy Hugging Face-named tensors in, fusing q/k/v and gate/up on the way."""
        params = dict(self.named_parameters())
        seen: set[str] = set()
        for name, t in tensors:
            if "rotary_emb" in name:
                continue
            name = name.removeprefix("model.")
            if name == "lm_head.weight" and self.lm_head is None:
                continue  # tied checkpoints sometimes store a copy
            parts = name.split(".")
            if len(parts) >= 2 and parts[-2] in self._FUSED:
                fused, idx = self._FUSED[parts[-2]]
                target_name = ".".join(parts[:-2] + [fused, parts[-1]])
                target = params[target_name]
                sizes = self._split_sizes(fused)
                off = sum(sizes[:idx])
                target.data[off : off + sizes[idx]].copy_(t)
                seen.add(f"{target_name}#{idx}")
            elif name in params:
                params[name].data.copy_(t)
                seen.add(name)
            else:
                raise CheckpointError(f"unexpected tensor {name!r} in checkpoint")
        parts_of = {"qkv_proj": ("q_proj", "k_proj", "v_proj"), "gate_up_proj": ("gate_proj", "up_proj")}
        missing = []
        for pname in params:
            fused = next((f for f in parts_of if f".{f}." in pname), None)
            if fused is None:
                if pname not in seen:
                    missing.append(pname)
                continue
            for i, part in enumerate(parts_of[fused]):
                if f"{pname}#{i}" not in seen:  # report the checkpoint's own name for the piece
                    missing.append(pname.replace(fused, part))
        if missing:
            raise CheckpointError(f"checkpoint lacks tensors: {', '.join(missing[:5])}")

    def _split_sizes(self, fused: str) -> list[int]:
        c = self.cfg
        if fused == "qkv_proj":
            kv = c.num_kv_heads * c.head_dim
            return [c.num_heads * c.head_dim, kv, kv]
        return [c.intermediate_size, c.intermediate_size]
