"""`r1gate engine serve|make-tiny`. torch is imported only when a command runs."""
from __future__ import annotations

import argparse
import sys

from .config import DTYPES, WAIT_POLICIES


def register(subparsers) -> None:
    """Add the `engine` command to an argparse sub-parsers action (the gateway's CLI calls this)."""
    p = subparsers.add_parser("engine", help="the on-prem R1 inference engine")
    sub = p.add_subparsers(dest="engine_command", required=True)

    s = sub.add_parser("serve", help="serve a checkpoint over an OpenAI-compatible API")
    s.add_argument("--model", required=True, metavar="DIR", help="Hugging Face checkpoint directory (local)")
    s.add_argument("--served-model-name", metavar="NAME", help="model id clients use (default: the directory name)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    s.add_argument("--dtype", default="auto", help=f"one of {', '.join(DTYPES)} (auto: bf16 on cuda and on CPUs with native bf16, else fp32)")
    s.add_argument("--max-kv-tokens", type=int, metavar="N", help="KV cache size in tokens (default: a share of free memory)")
    s.add_argument("--kv-memory-fraction", type=float, metavar="F",
                   help="without --max-kv-tokens: share of free memory for the cache (default 0.85 GPU, 0.2 CPU up to 4 GiB)")
    s.add_argument("--compile", action="store_true",
                   help="torch.compile the decode step, one graph per batch size 1, 2, 4 … --max-seqs, all "
                        "compiled at start (slow start: see bench/README.md)")
    s.add_argument("--max-model-len", type=int, metavar="N", help="cap on prompt + output tokens")
    s.add_argument("--max-batched-tokens", type=int, default=512, metavar="N", help="tokens per step (prefill chunk budget)")
    s.add_argument("--max-seqs", type=int, default=64, metavar="N", help="sequences decoded together")
    s.add_argument("--max-waiting", type=int, default=256, metavar="N", help="queued requests before answering 503")
    s.add_argument("--block-size", type=int, default=16, metavar="N")
    s.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch (default: one per core)")
    s.add_argument("--wait-policy", default="passive", metavar="POLICY",
                   help=f"OpenMP threads between ops, one of {', '.join(WAIT_POLICIES)} (passive: sleep at once; "
                        "spin: a bounded busy wait, faster when the engine has its cores to itself, far slower "
                        "when they are shared: see bench/README.md)")
    s.set_defaults(func=serve)

    t = sub.add_parser("make-tiny", help="write a tiny random checkpoint (tests, demos)")
    t.add_argument("dir", metavar="DIR")
    t.add_argument("--arch", default="qwen2", help="qwen2 or llama")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=make_tiny)


def _fail(msg: str) -> int:
    print(f"r1gate engine: {msg}", file=sys.stderr)
    return 2


def _need_torch():
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return _fail("the engine needs PyTorch: pip install 'r1gate[engine]'")
    return None


def serve(args) -> int:
    from .config import CheckpointError, ConfigError, EngineConfig

    if args.port < 1:
        return _fail(f"--port must be positive, got {args.port}")
    try:
        config = EngineConfig(
            model=args.model, device=args.device, dtype=args.dtype, max_kv_tokens=args.max_kv_tokens,
            kv_memory_fraction=args.kv_memory_fraction, block_size=args.block_size,
            max_batched_tokens=args.max_batched_tokens, max_seqs=args.max_seqs, max_waiting=args.max_waiting,
            max_model_len=args.max_model_len, compile=args.compile, threads=args.threads,
            wait_policy=args.wait_policy)
    except ConfigError as e:
        return _fail(str(e))
    if (err := _need_torch()) is not None:
        return err
    import socket

    from .server import build_app

    # Bind first: a busy port should fail in a second, not after loading the weights.
    try:
        sock = socket.create_server((args.host, args.port))
    except OSError as e:
        return _fail(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}")
    try:
        app = build_app(config, served_name=args.served_model_name)
    except CheckpointError as e:
        return _fail(str(e))
    except Exception as e:  # a corrupt shard, an out-of-memory device: still one line, no traceback
        return _fail(f"cannot load {args.model}: {type(e).__name__}: {e}")
    import uvicorn

    print(f"r1gate engine: serving {args.model} on http://{args.host}:{args.port}/v1", file=sys.stderr)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    return 0


def make_tiny(args) -> int:
    if args.arch not in ("qwen2", "llama"):
        return _fail(f"--arch must be qwen2 or llama, not {args.arch!r}")
    if (err := _need_torch()) is not None:
        return err
    from .tiny import make_tiny as make

    try:
        out = make(args.dir, args.arch, seed=args.seed)
    except OSError as e:
        return _fail(f"cannot write {args.dir}: {e.strerror}")
    print(out)
    return 0
