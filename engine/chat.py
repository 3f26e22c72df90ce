"""Chat formatting with the checkpoint's own template, and the reasoning/content split."""
from __future__ import annotations

import json
from datetime import datetime

from proxy.think import partial_suffix

END_THINK, THINK = "</think>", "<think>"


class TemplateError(Exception):
    pass


class ChatFormatter:
    def __init__(self, template: str, bos_token: str, eos_token: str):
        from jinja2.exceptions import TemplateError as JinjaError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        # The same environment transformers uses, so templates written for it render alike.
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
        env.filters["tojson"] = lambda x, indent=None, ensure_ascii=False: json.dumps(x, indent=indent, ensure_ascii=ensure_ascii)
        env.globals["raise_exception"] = _raise
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        try:
            self.template = env.from_string(template)
        except JinjaError as e:
            raise TemplateError(f"chat template does not compile: {e}") from None
        self.bos, self.eos = bos_token, eos_token

    def render(self, messages: list[dict], tools: list | None = None) -> str:
        from jinja2.exceptions import TemplateError as JinjaError

        clean = []
        for m in messages:
            # Earlier turns' reasoning is never fed back (DeepSeek's API rejects it; the template drops it).
            m = {k: v for k, v in m.items() if k not in ("reasoning_content", "reasoning")}
            if isinstance(m.get("content"), list):
                m["content"] = "".join(p.get("text", "") for p in m["content"] if isinstance(p, dict))
            clean.append(m)
        try:
            return self.template.render(messages=clean, tools=tools, add_generation_prompt=True,
                                        bos_token=self.bos, eos_token=self.eos)
        except (JinjaError, TypeError) as e:
            raise TemplateError(f"chat template failed on these messages: {e}") from None


def _raise(msg):
    raise TemplateError(msg)


class ReasoningSplitter:
    """Routes streamed text to reasoning or content, split at the first `</think>`.

    When the prompt already opened `<think>` (R1 templates do), output starts as reasoning;
    otherwise it starts as content unless the model itself opens with `<think>`.
    """

    def __init__(self, prompt_text: str):
        self.in_reasoning = prompt_text.rstrip().endswith(THINK)
        self.undecided = not self.in_reasoning  # may still see a leading <think>
        self.buf = ""
        self.strip_content = False

    def feed(self, text: str, final: bool = False) -> tuple[str, str]:
        """Returns (reasoning, content) ready to send; keeps back what may be a partial tag."""
        self.buf += text
        reasoning = content = ""
        if self.undecided:
            lead = self.buf.lstrip()
            if lead.startswith(THINK):
                self.in_reasoning, self.undecided = True, False
                self.buf = lead[len(THINK):].lstrip("\n")
            elif THINK.startswith(lead) and not final:
                return "", ""
            else:
                self.undecided = False
        if self.in_reasoning:
            i = self.buf.find(END_THINK)
            if i >= 0:
                reasoning, self.buf = self.buf[:i], self.buf[i + len(END_THINK):]
                self.in_reasoning, self.strip_content = False, True
            else:
                keep = 0 if final else partial_suffix(self.buf, END_THINK)
                reasoning, self.buf = self.buf[: len(self.buf) - keep], self.buf[len(self.buf) - keep:]
                return reasoning, ""
        if self.strip_content:
            # The answer usually starts after "</think>\n\n"; the API does not show those newlines.
            self.buf = self.buf.lstrip("\n")
            if not self.buf and not final:
                return reasoning, ""
            self.strip_content = False
        content, self.buf = self.buf, ""
        return reasoning, content
