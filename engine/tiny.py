"""Write a small randomly initialised checkpoint in the Hugging Face layout (tests, demos, benchmarks).

Everything is built offline: a byte-level BPE tokenizer trained with `tokenizers` on a
generated corpus, the R1 chat template with its special tokens, and safetensors weights.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
USER, ASSISTANT = "<｜User｜>", "<｜Assistant｜>"
THINK, END_THINK = "<think>", "</think>"

# The R1-distill template, without tool calls: system prompt first, earlier answers stripped
# of their reasoning, and the assistant turn opened with "<think>\n".
R1_TEMPLATE = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(system_prompt='') %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}"
    "{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}"
    "{{ bos_token }}{{ ns.system_prompt }}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'user' %}{{ '<｜User｜>' + message['content'] }}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is not none %}"
    "{% set content = message['content'] %}"
    "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{ '<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>' }}{%- endif %}"
    "{%- endfor -%}"
    "{% if add_generation_prompt %}{{ '<｜Assistant｜><think>\\n' }}{% endif %}"
)

_TEXT = (
    "the quick brown fox jumps over the lazy dog . hello world , how are you today ? "
    "let me think about this step by step . the answer is forty two . "
    "privacy matters : sensitive prompts stay on the company servers . "
    "alice and bob exchange messages while eve listens . one two three four five six seven eight nine ten . "
)


def _corpus(n_words: int, seed: int) -> list[str]:
    # Invented syllable words give BPE enough distinct pairs to reach a large vocabulary.
    rng = random.Random(seed)
    syl = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]
    lines = [_TEXT] * 50
    for _ in range(n_words // 20):
        lines.append(" ".join("".join(rng.choice(syl) for _ in range(rng.randint(1, 4))) for _ in range(20)))
    return lines


def train_tokenizer(vocab_size: int, seed: int = 0):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = [BOS, EOS, USER, ASSISTANT]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 2, special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_corpus(max(2000, vocab_size * 8), seed), trainer)
    # As in R1's tokenizer, the think markers are added tokens but not special ones,
    # so they survive decoding with skip_special_tokens.
    tok.add_tokens([AddedToken(THINK, special=False, normalized=False),
                    AddedToken(END_THINK, special=False, normalized=False)])
    return tok


def make_tiny(
    out_dir: str | Path,
    arch: str = "qwen2",
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 128,
    vocab_size: int = 512,
    padded_vocab: int | None = None,
    tie_embeddings: bool | None = None,
    qkv_bias: bool | None = None,
    max_position: int = 2048,
    init_std: float | None = None,
    num_shards: int = 1,
    seed: int = 0,
    dtype: str = "float32",
) -> Path:
    import torch

    if arch not in ("qwen2", "llama"):
        raise ValueError(f"arch must be qwen2 or llama, not {arch!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer(vocab_size, seed)
    # Real checkpoints pad the embedding past the tokenizer (Qwen2: 151936 rows); benchmarks of
    # real shapes do the same rather than train a tokenizer that large.
    vocab = max(tok.get_vocab_size(), padded_vocab or 0)
    tok.save(str(out / "tokenizer.json"))
    bos_id, eos_id = tok.token_to_id(BOS), tok.token_to_id(EOS)
    tie = (arch == "qwen2") if tie_embeddings is None else tie_embeddings
    bias = (arch == "qwen2") if qkv_bias is None else qkv_bias
    if arch == "qwen2" and not bias:
        raise ValueError("qwen2 always has q/k/v biases; use arch=llama for none")
    head_dim = hidden_size // num_heads
    cfg = {
        "architectures": ["Qwen2ForCausalLM" if arch == "qwen2" else "LlamaForCausalLM"],
        "model_type": arch,
        "hidden_size": hidden_size, "intermediate_size": intermediate_size,
        "num_hidden_layers": num_layers, "num_attention_heads": num_heads, "num_key_value_heads": num_kv_heads,
        "vocab_size": vocab, "max_position_embeddings": max_position, "rms_norm_eps": 1e-6,
        "tie_word_embeddings": tie, "bos_token_id": bos_id, "eos_token_id": eos_id,
        "hidden_act": "silu", "torch_dtype": dtype,
    }
    if arch == "qwen2":
        cfg.update(rope_theta=10000.0, use_sliding_window=False, sliding_window=None)
    else:
        # The newer `rope_parameters` style, with Llama-3 scaling that actually bends the
        # frequencies of this small head_dim (original context far below max_position).
        cfg.update(attention_bias=bias, mlp_bias=False, rope_parameters={
            "rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 64})
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    (out / "generation_config.json").write_text(json.dumps({"bos_token_id": bos_id, "eos_token_id": eos_id}))
    (out / "tokenizer_config.json").write_text(json.dumps({
        "bos_token": BOS, "eos_token": EOS, "add_bos_token": False, "chat_template": R1_TEMPLATE,
        "model_max_length": max_position}, indent=2, ensure_ascii=False))

    g = torch.Generator().manual_seed(seed)
    std = init_std if init_std is not None else hidden_size ** -0.5
    td = getattr(torch, dtype)

    def rnd(*shape, s=std):
        return (torch.randn(*shape, generator=g) * s).to(td)

    def norm():
        return (1.0 + 0.1 * torch.randn(hidden_size, generator=g)).to(td)

    kv = num_kv_heads * head_dim
    w = {"model.embed_tokens.weight": rnd(vocab, hidden_size, s=0.5 if init_std is None else init_std),
         "model.norm.weight": norm()}
    for i in range(num_layers):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm()
        w[p + "post_attention_layernorm.weight"] = norm()
        w[p + "self_attn.q_proj.weight"] = rnd(num_heads * head_dim, hidden_size)
        w[p + "self_attn.k_proj.weight"] = rnd(kv, hidden_size)
        w[p + "self_attn.v_proj.weight"] = rnd(kv, hidden_size)
        w[p + "self_attn.o_proj.weight"] = rnd(hidden_size, num_heads * head_dim)
        if bias:
            w[p + "self_attn.q_proj.bias"] = rnd(num_heads * head_dim, s=0.1)
            w[p + "self_attn.k_proj.bias"] = rnd(kv, s=0.1)
            w[p + "self_attn.v_proj.bias"] = rnd(kv, s=0.1)
        w[p + "mlp.gate_proj.weight"] = rnd(intermediate_size, hidden_size)
        w[p + "mlp.up_proj.weight"] = rnd(intermediate_size, hidden_size)
        w[p + "mlp.down_proj.weight"] = rnd(hidden_size, intermediate_size, s=intermediate_size ** -0.5)
    if not tie:
        w["lm_head.weight"] = rnd(vocab, hidden_size)
    save_weights(w, out, num_shards)
    return out


def save_weights(w: dict, out: Path, num_shards: int = 1) -> None:
    from safetensors.torch import save_file

    names = list(w)
    if num_shards <= 1:
        save_file(w, str(out / "model.safetensors"), metadata={"format": "pt"})
        return
    weight_map = {}
    per = -(-len(names) // num_shards)
    for s in range(num_shards):
        fname = f"model-{s + 1:05d}-of-{num_shards:05d}.safetensors"
        part = {n: w[n] for n in names[s * per:(s + 1) * per]}
        save_file(part, str(out / fname), metadata={"format": "pt"})
        weight_map.update({n: fname for n in part})
    (out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}, indent=2))


def make_scripted(out_dir, reasoning: str, answer: str):
    """A tiny Llama whose weights spell out `<think>\\n{reasoning}</think>{answer}<eos>` after any R1 prompt.

    Attention and MLP outputs are zeroed, so the residual stream is the current token's
    embedding and the model becomes a bigram table; lm_head rows are set so each token
    of the script is followed by the next. This gives the server tests a real checkpoint
    with known output, run by the unmodified engine (the gateway's end-to-end tests too).
    Returns the directory and the script's token ids (the first is the prompt's "\n").
    """
    import torch
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    out = make_tiny(out_dir, "llama", tie_embeddings=False)
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    script = ([tok.token_to_id("Ċ")] + tok.encode(reasoning, add_special_tokens=False).ids
              + [tok.token_to_id(END_THINK)] + tok.encode(answer, add_special_tokens=False).ids
              + [tok.token_to_id(EOS)])
    if len(set(script[:-1])) != len(script) - 1:
        raise ValueError("the script's tokens must be distinct to form a bigram chain: pick other words")
    w = load_file(str(out / "model.safetensors"))
    for name in w:
        if name.endswith(("o_proj.weight", "down_proj.weight")):
            w[name].zero_()
    emb, norm = w["model.embed_tokens.weight"], w["model.norm.weight"]
    x = emb * torch.rsqrt(emb.pow(2).mean(-1, keepdim=True) + 1e-6) * norm
    head = torch.zeros_like(w["lm_head.weight"])
    for a, b in zip(script, script[1:]):
        head[b] += 30.0 * x[a] / x[a].pow(2).sum()
    w["lm_head.weight"] = head
    save_weights(w, out)
    return out, script
