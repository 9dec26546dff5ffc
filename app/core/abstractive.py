"""Abstractive summaries: an encoder-decoder (BART, PEGASUS, T5) writes the summary (numpy + ONNX Runtime only).

A model added with `albert-studio models add CHECKPOINT --task summary` is a summary model whose manifest has
an "abstractive" entry; `summary.load_summarizer` builds this class for it instead of the extractive
Summarizer, so the analyzer, the CLI (`--model summary=ID`) and the window use it the same way.

Decoding is the translator's (app.core.translate.Translator: encoder once, decoder with its key/value cache,
greedy or beam search), with the text read and written by the checkpoint's own fast tokenizer (tokenizer.json,
the `tokenizers` package). A document longer than the model reads (`max_length` tokens) is cut into chunks
of whole sentences that fit, each chunk is summarised, and the chunk summaries follow one another in
document order (each says which part of the document it summarises).
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Callable, Sequence

from app.core.errors import ModelError
from app.core.registry import Manifest, read_manifest
from app.core.runtime import RuntimeOptions
from app.core.segment import split_sentences
from app.core.types import ModelInfo, Sentence, Summary, SummarySentence

_WORD = re.compile(r"\S+")


class TextTokenizer:
    """A checkpoint's fast tokenizer: text -> ids with its special tokens (cut to `max_tokens`), ids -> text."""

    def __init__(self, path: Path, max_tokens: int):
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - a packaging problem, not a user one
            raise ModelError("Abstractive summaries need the 'tokenizers' package") from exc
        try:
            self._tok = Tokenizer.from_file(str(path))
        except Exception as exc:
            raise ModelError(f"{path}: not a tokenizer.json the app can read ({exc})") from None
        self._tok.no_padding()
        self._tok.enable_truncation(max_tokens)
        self.max_tokens = max_tokens
        self.specials = len(self._tok.encode("").ids)  # what the template adds (<s> ... </s>, or ... </s>)

    def encode(self, texts: Sequence[str], max_tokens: int | None = None) -> list[list[int]]:
        """Ids with the special tokens, each cut to the `max_tokens` given at construction (the translator's
        signature: its own `max_tokens` argument is not needed here)."""
        return [list(e.ids) for e in self._tok.encode_batch(list(texts))]

    def count(self, text: str) -> int:
        """Pieces of `text` without the special tokens (at most `max_tokens`: the tokenizer cuts there)."""
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def counts(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=True).strip()


class AbstractiveSummarizer:
    """`summarize(text)`: a summary the model writes, chunk by chunk for a long document."""

    def __init__(self, manifest: Manifest, options: RuntimeOptions = RuntimeOptions(), graph: str | None = None,
                 check: bool = True):
        from app.core.translate import Translator

        if manifest.task != "summary" or not manifest.raw.get("abstractive"):
            raise ModelError(f"{manifest.id} is not an abstractive summary model")
        spec = manifest.raw["abstractive"]
        self.manifest = manifest
        self.prefix = str(spec.get("prefix", ""))
        self.max_new_tokens = int(spec.get("max_new_tokens", 128))
        self.beam = int(spec.get("num_beams", 4))
        self.length_penalty = float(spec.get("length_penalty", 1.0))
        self.max_source_tokens = int(manifest.raw.get("max_source_tokens") or manifest.max_length)
        self.tokenizer = TextTokenizer(manifest.path(manifest.tokenizer.get("file", "tokenizer.json")),
                                       self.max_source_tokens)
        # the translator's decoder: encoder once, decoder with its cache, greedy or beam search
        self.decoder = Translator(manifest, options, graph, check=check, task="summary", tokenizer=self.tokenizer)
        self.inputs: list[str] = []  # reads no shared encoder

    @classmethod
    def from_folder(cls, folder: str | Path, options: RuntimeOptions = RuntimeOptions()) -> "AbstractiveSummarizer":
        return cls(read_manifest(Path(folder)), options)

    @property
    def sessions(self) -> dict:
        return self.decoder.sessions

    @property
    def model_info(self) -> ModelInfo:
        return self.decoder.model_info

    def shares_encoder_with(self, model) -> bool:
        return False

    def budget(self) -> int:
        """Pieces of document text one part may hold: the model's input less its special tokens and prefix."""
        budget = max(8, self.max_source_tokens - self.tokenizer.specials - self.tokenizer.count(self.prefix))
        # sentences are counted alone; read together their pieces can differ slightly at the joins: keep a margin
        return max(8, int(budget * 0.95))

    def chunks(self, sentences: Sequence) -> list[list[int]]:
        """Sentence indices of each chunk: whole sentences, in order, as many as fit in the model's input
        (`fit` first cuts a sentence longer than that into pieces that fit)."""
        budget = self.budget()
        out: list[list[int]] = []
        used = 0
        for i, n in enumerate(self.tokenizer.counts([s.text for s in sentences])):
            n += 1
            if out and used + n <= budget:
                out[-1].append(i)
                used += n
            else:
                out.append([i])
                used = n
        return out

    def fit(self, sentences: Sequence[Sentence]) -> list[Sentence]:
        """`sentences` with each one longer than a part cut at spaces into pieces that fit (text with no full
        stops, such as a transcript or a pasted list, is one "sentence" of thousands of pieces: read whole
        and cut at the model's limit, all but its start would be left out of the summary without a word)."""
        return fit_sentences(sentences, self.tokenizer, self.budget())

    def summarize(self, text: str, sentences: int | None = None, ratio: float | None = None,
                  sents: Sequence | None = None, beam: int | None = None) -> Summary:
        """The model's summary of `text` (`sentences` and `ratio` are for extractive models: the length of an
        abstractive summary is the model's own, at most `max_new_tokens` pieces a chunk)."""
        return self.summarize_many([text], sentences, ratio, [sents] if sents is not None else None, beam=beam)[0]

    def summarize_many(self, texts: Sequence[str], sentences: int | None = None, ratio: float | None = None,
                       sents: Sequence[Sequence] | None = None, step: Callable[[int, int], None] | None = None,
                       encoded: Sequence | None = None, beam: int | None = None) -> list[Summary]:
        """`summarize` for several documents: every chunk of every document decoded in one set of
        length-sorted batches; `step(n, total)` after each batch of n chunks (it may raise to stop)."""
        docs = [self.fit(s) for s in sents] if sents is not None else [self.fit(split_sentences(t)) for t in texts]
        sources, where = [], []  # chunk text; (document, first sentence, last sentence)
        for d, items in enumerate(docs):
            for idx in self.chunks(items):
                sources.append(self.prefix + " ".join(items[i].text for i in idx))
                where.append((d, idx[0], idx[-1]))
        done = [0]

        def progress(n_done: int, total: int) -> None:
            if step is not None and n_done > done[0]:
                step(n_done - done[0], total)
            done[0] = n_done

        hyps = self.decoder.generate_hypotheses(
            self.tokenizer.encode(sources), beam=beam or self.beam, max_length=self.max_new_tokens,
            length_penalty=self.length_penalty, step=progress) if sources else []
        parts: list[list[SummarySentence]] = [[] for _ in docs]
        for (d, a, b), h in zip(where, hyps):
            text = self.tokenizer.decode(h.ids)
            if not text:
                continue
            # how sure the model was of its words: the mean probability of the tokens it wrote
            score = math.exp(h.mean_logprob) if h.mean_logprob is not None else 0.0
            start, end = docs[d][a].start, docs[d][b].end
            parts[d] += [SummarySentence(s.text, round(score, 4), -1, start, end)
                         for s in split_sentences(text)] or [SummarySentence(text, round(score, 4), -1, start, end)]
        return [Summary(tuple(p), abstractive=True) for p in parts]

    def generate(self, texts: Sequence[str], beam: int = 1, max_new_tokens: int | None = None) -> list[list[int]]:
        """Token ids the model writes for each text (prefix added, cut to the model's input): what the import
        compares with transformers' generate."""
        ids = self.tokenizer.encode([self.prefix + t for t in texts])
        return self.decoder.generate(ids, beam=beam, max_length=max_new_tokens or self.max_new_tokens,
                                     length_penalty=self.length_penalty)


def fit_sentences(sentences: Sequence[Sentence], tokenizer: TextTokenizer, budget: int) -> list[Sentence]:
    """Each sentence of more than `budget` pieces cut at spaces into consecutive pieces of at most `budget`
    (a single word longer than that stays whole: the tokenizer cuts it); the others as they are."""
    lengths = tokenizer.counts([s.text for s in sentences])
    out: list[Sentence] = []
    for s, n in zip(sentences, lengths):
        if n + 1 <= budget:
            out.append(s)
            continue
        words = [m.span() for m in _WORD.finditer(s.text)]
        # a word is counted with the space before it, as it is read inside the sentence
        sizes = tokenizer.counts([" " + s.text[a:b] for a, b in words])
        first = used = 0
        for k, size in enumerate(sizes):
            if k > first and used + size + 1 > budget:
                out.append(_piece(s, words[first][0], words[k - 1][1]))
                first, used = k, 0
            used += size
        if words:
            out.append(_piece(s, words[first][0], words[-1][1]))
    return out


def _piece(s: Sentence, a: int, b: int) -> Sentence:
    return Sentence(s.text[a:b], s.start + a, s.start + b, s.paragraph)
