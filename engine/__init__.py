"""The on-prem R1 engine: an OpenAI-compatible server for Qwen2/Llama (R1-distill) checkpoints.

Its stages, as in nano-vllm:
config.py          EngineConfig (the CLI's settings, passed down whole); ModelConfig (config.json)
loader.py          checkpoint directory → tokenizer, chat template, weights (no downloads)
sampling_params.py how a request wants its tokens chosen; sequence.py a request's state
scheduler.py       continuous batching over block_manager.py (which cache blocks a sequence holds,
                   prefix sharing), and the postprocess that appends tokens and finishes sequences
model_runner.py    batch → model inputs (preallocated) → logits; model.py the decoder and its KV
                   tensors, attention.py its paged attention
decode_graphs.py   `--compile`: decode steps through torch.compile graphs, one per padded batch size
sampler.py         batched sampling
llm_engine.py      one step: schedule, run, sample, detokenise and stop strings, postprocess
worker.py          the engine in its own process; server.py the HTTP API; chat.py templates
cli.py             `r1gate engine serve|make-tiny` (torch imported only when they run)
tiny.py            tiny random (or scripted) checkpoints for tests and demos
"""
