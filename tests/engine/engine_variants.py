"""Tiny checkpoint variants shared by the engine tests."""

# name -> make_tiny keyword arguments: GQA, tied and untied, with and without qkv bias,
# both config styles (qwen2: rope_theta; llama: rope_parameters with Llama-3 scaling), sharding.
VARIANTS = {
    "qwen2-tied": dict(arch="qwen2"),
    "qwen2-untied": dict(arch="qwen2", tie_embeddings=False, num_shards=2),
    "llama-untied": dict(arch="llama", num_shards=3),
    "llama-tied-bias-mha": dict(arch="llama", tie_embeddings=True, qkv_bias=True, num_kv_heads=4),
}


def make_scripted(out_dir, reasoning: str, answer: str):
    """A tiny Llama whose weights spell out `<think>\\n{reasoning}</think>{answer}<eos>` after any R1 prompt.

    Attention and MLP outputs are zeroed, so the residual stream is the current token's
    embedding and the model becomes a bigram table; lm_head rows are set so each token
    of the script is followed by the next. This gives the server tests a real checkpoint
    with known output, run by the unmodified engine.
    """
    import torch
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    from engine.tiny import EOS, END_THINK, make_tiny, save_weights

    out = make_tiny(out_dir, "llama", tie_embeddings=False)
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    script = ([tok.token_to_id("Ċ")] + tok.encode(reasoning, add_special_tokens=False).ids
              + [tok.token_to_id(END_THINK)] + tok.encode(answer, add_special_tokens=False).ids
              + [tok.token_to_id(EOS)])
    assert len(set(script[:-1])) == len(script) - 1, "script tokens must be distinct to form a bigram chain"
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
