"""A request's state through the engine, and what it produces (no torch here)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import Enum

from .sampling_params import SamplingParams

_ids = itertools.count()


class Status(Enum):
    WAITING = 0
    RUNNING = 1
    FINISHED = 2


@dataclass(eq=False)
class Sequence:
    token_ids: list[int]
    params: SamplingParams
    id: int = field(default_factory=lambda: next(_ids))
    prompt_len: int = 0
    status: Status = Status.WAITING
    num_computed: int = 0  # tokens whose K/V are in the cache
    block_table: list[int] = field(default_factory=list)
    num_hashed: int = 0  # leading full blocks already published to the prefix cache
    last_hash: int | None = None
    num_cached_tokens: int = 0  # prompt tokens served from the prefix cache at first admission
    finish_reason: str | None = None
    generator: object = None  # torch.Generator when a seed was given
    text: str = ""  # detokenised output so far (stop strings removed)
    sent: int = 0  # characters of `text` already handed to the caller
    decoder: object = None
    reasoning_tokens: int | None = None  # output tokens up to and including </think>, once seen
    admitted_once: bool = False
    request_id: int = -1  # the first sequence's id, shared by every choice of a request (n > 1)
    index: int = 0  # which choice
    logprobs: list = field(default_factory=list)  # (token, logprob, alternatives) not yet handed out

    def __post_init__(self):
        self.prompt_len = self.prompt_len or len(self.token_ids)
        if self.request_id < 0:
            self.request_id = self.id

    def fork(self, index: int) -> "Sequence":
        """Another choice of the same request, its prompt computed: blocks are given by the block manager."""
        return Sequence(list(self.token_ids), self.params, prompt_len=self.prompt_len, status=self.status,
                        num_cached_tokens=self.num_cached_tokens, admitted_once=True,
                        request_id=self.request_id, index=index)

    @property
    def output_ids(self) -> list[int]:
        return self.token_ids[self.prompt_len:]

    @property
    def num_output(self) -> int:
        return len(self.token_ids) - self.prompt_len


class RequestError(Exception):
    """A request the engine cannot serve as asked; `param` names the offending field."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


def check_prompt(prompt_ids: list[int], params: SamplingParams, max_model_len: int) -> None:
    """Refuse prompts that leave no room for output; clip max_tokens to the room left."""
    if not prompt_ids:
        raise RequestError("the prompt is empty", "messages")
    if len(prompt_ids) >= max_model_len:
        raise RequestError(
            f"This model's maximum context length is {max_model_len} tokens; the prompt has "
            f"{len(prompt_ids)} tokens, leaving no room for output.", "messages")
    params.max_tokens = min(params.max_tokens, max_model_len - len(prompt_ids))


@dataclass
class RequestOutput:
    seq_id: int
    delta: str
    finished: bool
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int | None
    error: str | None = None
    index: int = 0  # the choice (n > 1)
    logprobs: list | None = None  # (token, logprob, [(token, logprob)]) per token since the last output
