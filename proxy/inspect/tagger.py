"""A learned name tagger: how likely the words around a span make it a person's name.

The model is Rampart (National Design Studio, CC BY 4.0; `data/tagger/NOTICE`), a 4-bit ONNX
MiniLM token classifier trained on English, French, German, Spanish, Italian, Dutch and
Portuguese text, shipped in the repository and run with onnxruntime on one thread (invariant
7: nothing is downloaded). It reads context the rules cannot write down ("roos zit al 2 weken
thuis", "prices rose"), but cannot tell a public figure from a private person, nor a brand
from a surname: `detectors/learned_names.py` asks it only what the rules leave open.
"""
from __future__ import annotations

import json
from importlib import resources
from typing import Sequence

from .ner import sentence_windows

_NAME_LABELS = frozenset({"B-GIVEN_NAME", "I-GIVEN_NAME", "B-SURNAME", "I-SURNAME"})
_MAX_TOKENS = 512  # the model's window, [CLS] and [SEP] included


class NameTagger:
    """Loads the model on first use; one instance per inspection worker."""

    def __init__(self) -> None:
        self._session = None

    def _load(self) -> None:
        import numpy
        import onnxruntime
        from tokenizers import Tokenizer

        folder = resources.files("proxy.inspect").joinpath("data/tagger")
        options = onnxruntime.SessionOptions()
        # One thread: the pool already runs one worker per core.
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(folder.joinpath("model_q4.onnx").read_bytes(), options,
                                                     providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_str(folder.joinpath("tokenizer.json").read_text("utf-8"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(_MAX_TOKENS)
        labels = json.loads(folder.joinpath("config.json").read_text("utf-8"))["id2label"]
        self._names = numpy.array([labels[str(i)] in _NAME_LABELS for i in range(len(labels))])

    def warm_up(self) -> None:
        self.name_odds("warm up", [(0, 4)])

    def name_odds(self, text: str, spans: Sequence[tuple[int, int]]) -> list[float]:
        """For each span, the least probability the tagger gives any of its tokens of being part
        of a given name or a surname, read in its sentence (what comes before it in a long text
        changes the reading); 0 for a span it cannot see."""
        import numpy

        if self._session is None:
            self._load()
        odds = [0.0] * len(spans)
        for start, end in sentence_windows(text, sorted(spans)):
            inside = [k for k, (a, b) in enumerate(spans) if start <= a and b <= end]
            encoding = self._tokenizer.encode(text[start:end])
            ids = numpy.array([encoding.ids], dtype=numpy.int64)
            logits = self._session.run(None, {"input_ids": ids, "attention_mask": numpy.ones_like(ids),
                                              "token_type_ids": numpy.zeros_like(ids)})[0][0]
            probs = numpy.exp(logits - logits.max(-1, keepdims=True))
            name = (probs[:, self._names].sum(-1) / probs.sum(-1)).tolist()
            for k in inside:
                a, b = spans[k][0] - start, spans[k][1] - start
                covered = [p for (s, e), p in zip(encoding.offsets, name) if e > s and s < b and e > a]
                odds[k] = min(covered) if covered else 0.0
        return odds

