"""Tiny checkpoint variants shared by the engine tests."""

# name -> make_tiny keyword arguments: GQA, tied and untied, with and without qkv bias,
# both config styles (qwen2: rope_theta; llama: rope_parameters with Llama-3 scaling), sharding.
VARIANTS = {
    "qwen2-tied": dict(arch="qwen2"),
    "qwen2-untied": dict(arch="qwen2", tie_embeddings=False, num_shards=2),
    "llama-untied": dict(arch="llama", num_shards=3),
    "llama-tied-bias-mha": dict(arch="llama", tie_embeddings=True, qkv_bias=True, num_kv_heads=4),
}

