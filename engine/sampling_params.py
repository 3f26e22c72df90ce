"""How one request wants its tokens chosen (OpenAI's sampling fields, checked by the server)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SamplingParams:
    max_tokens: int = 256
    temperature: float = 0.6  # DeepSeek's recommendation for R1 when the caller says nothing
    top_p: float = 1.0
    top_k: int = 0  # 0: off
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    stop: list[str] = field(default_factory=list)
    ignore_eos: bool = False
    n: int = 1  # choices: sampled side by side, sharing the prompt's KV blocks
    logprobs: bool = False
    top_logprobs: int = 0  # alternatives reported per token (with logprobs)

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0
