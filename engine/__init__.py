"""The on-prem R1 engine: an OpenAI-compatible server for Qwen2/Llama (R1-distill) checkpoints.

config.py     config.json → ModelConfig (both RoPE styles, Llama-3 scaling)
loader.py     checkpoint directory → tokenizer, chat template, weights (no downloads)
model.py      the decoder in PyTorch; attention.py its paged attention
kv_cache.py   block allocator with prefix sharing; scheduler.py continuous batching
sampler.py    batched sampling; sequence.py request types; runner.py batch → model inputs
engine.py     one step: schedule, run, sample, detokenise, stop strings
worker.py     the engine in its own process; server.py the HTTP API; chat.py templates
cli.py        `r1gate engine serve|make-tiny` (torch imported only when they run)
tiny.py       tiny random (or scripted) checkpoints for tests and demos
"""
