"""Translation with any encoder-decoder ONNX pair described by a manifest (numpy + ONNX Runtime only).

The graphs follow Hugging Face Optimum's seq2seq layout, so the shipped ALBERT-style model and a
Marian/OPUS-MT model exported with `optimum-cli export onnx` load the same way:

    "graphs": {"encoder":           {"file": "encoder_model.onnx", "inputs": [...]},
               "decoder":           {"file": "decoder_model.onnx", "inputs": [...]},
               "decoder_with_past": {"file": "decoder_with_past_model.onnx", "inputs": [...]},
               "encoder_int8": ..., "decoder_int8": ..., "decoder_with_past_int8": ...},
    "variants": {"fp32": {"encoder": "encoder", "decoder": "decoder", "decoder_with_past": "decoder_with_past"},
                 "int8": {...}},  "default_variant": "int8",
    "decoder_start_token_id": 0, "eos_token_id": 0, "pad_token_id": 58100,
    "targets": {"fr": {"decoder_start_token_id": 4}, ...}      (multilingual models only)

`decoder` takes the whole prefix (input_ids, encoder_attention_mask, encoder_hidden_states) and
returns logits plus `present.*` tensors; `decoder_with_past` takes one new token and the cache as
`past_key_values.*` (the names of the `present.*` outputs with the prefix swapped) and returns the
logits and the grown self-attention cache. Without `decoder_with_past` every step re-runs the prefix.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from app.core.errors import Cancelled, ModelError
from app.core.mt_tokenizer import MTTokenizer, detokenize
from app.core.protect import (Glossary, Protected, copy_through, find_block_protected, find_protected, fragment_text,
                              join_segments, mask, merge_protected, nothing_left, split_at, unmask)
from app.core.registry import Manifest, check_graph_inputs, read_manifest, verify_files
from app.core.runtime import RuntimeOptions, Session, length_batches, pad
from app.core.translation_confidence import ConfidenceModel, Signals, cut_repeats, sentence_signals
from app.core.types import ModelInfo, TranslatedSentence, Translation

_CLAUSE_BREAK = re.compile(r"(?<=[,;:])\s+")
LOOP_REPEATS = 3  # a phrase this many times back to back is a loop: the output is cut to one occurrence
LOOP_MAX_PHRASE = 8  # pieces


@dataclass(frozen=True)
class Hypothesis:
    """What the decoder chose for one source: target ids, each token's log-probability (the last one for
    </s> when it ended there), and how it ended: "eos", "limit" (ran to the length limit), "loop" (cut)."""

    ids: list[int]
    logprobs: list[float]
    end: str

    @property
    def mean_logprob(self) -> float | None:
        """Length-normalised log-probability (per token, </s> included)."""
        return sum(self.logprobs) / len(self.logprobs) if self.logprobs else None
Progress = Callable[[int, int], None]  # (sentences done, sentences in all)


@dataclass
class _Graphs:
    encoder: Session
    decoder: Session
    decoder_with_past: Session | None


class Translator:
    """Translate text with an encoder-decoder model: `translate(text)`, `translate_batch(texts)`."""

    def __init__(self, manifest: Manifest, options: RuntimeOptions = RuntimeOptions(), graph: str | None = None,
                 target_lang: str | None = None, check: bool = True, *, task: str = "translation",
                 tokenizer=None):
        """`task` and `tokenizer`: an abstractive summarizer (app.core.abstractive) decodes with this class too,
        its text read by its own tokenizer (anything with `encode`/`decode`); translation uses SentencePiece."""
        if manifest.task != task:
            raise ModelError(f"{manifest.id} is a {manifest.task} model, not a {task} model")
        self.task = task
        if check:
            verify_files(manifest)  # before any graph is opened
        self.manifest = manifest
        raw = manifest.raw
        self.variant = graph or raw.get("default_variant") or "fp32"
        variants = raw.get("variants") or {"fp32": {k: k for k in ("encoder", "decoder", "decoder_with_past")}}
        if self.variant not in variants:
            raise ModelError(f"{manifest.id}: no graph variant '{self.variant}' (has {', '.join(variants)})")
        names = variants[self.variant]
        for need in ("encoder", "decoder"):
            if names.get(need) not in manifest.graphs:
                raise ModelError(f"{manifest.id}: the manifest names no '{need}' graph for variant '{self.variant}'")
        with_past = names.get("decoder_with_past")
        self.graphs = _Graphs(
            Session(manifest.graph_file(names["encoder"]), options),
            Session(manifest.graph_file(names["decoder"]), options),
            Session(manifest.graph_file(with_past), options) if with_past in manifest.graphs else None,
        )
        self._graph_names = (names["encoder"], names["decoder"], with_past)
        if check:
            check_graph_inputs(manifest, self.sessions)
        self.targets: dict[str, dict] = raw.get("targets") or {manifest.target_lang: {}}
        self.target_lang = target_lang or manifest.target_lang or next(iter(self.targets))
        if self.target_lang not in self.targets:
            raise ModelError(f"{manifest.id} translates into {', '.join(self.targets)}, not '{self.target_lang}'")
        self.source_lang = manifest.source_lang or "en"
        self.eos_id = int(raw.get("eos_token_id", 0))
        self.pad_id = int(raw.get("pad_token_id", 0))
        self.tokenizer = tokenizer or MTTokenizer(manifest.folder, manifest.tokenizer, self.eos_id, self.pad_id,
                                                  raw.get("unk_token_id"))
        # the token every output starts with, whatever the model scores (BART's <s>, as transformers forces it)
        forced = raw.get("forced_bos_token_id")
        self.forced_bos = int(forced) if forced is not None else None
        self.min_length = int(raw.get("min_length", 0))  # summarizers: the checkpoint's own generation rules
        self.no_repeat_ngram = int(raw.get("no_repeat_ngram_size", 0))
        # imported checkpoints: scores as transformers computes them (suppressed tokens set to -inf after the
        # log-softmax, not removed before it), so beam search ranks hypotheses exactly as its generate does
        self.transformers_scores = bool(raw.get("transformers_scores", False))
        self.encoder_output = raw.get("encoder_output", "last_hidden_state")
        self.suppress = [int(i) for i in raw.get("suppress_token_ids", [self.pad_id])]
        self.max_repeat = int(raw.get("max_repeat", 0))  # 0 = decode exactly as the model says (imported models)
        self.max_source_tokens = int(raw.get("max_source_tokens", manifest.max_length))
        self.max_tokens = 4096  # token budget of one encoder batch
        # a phrase repeated back to back ends the output (False: decode exactly as the model says)
        self.cut_loops = bool(raw.get("cut_loops", True))
        self._letter_mask: np.ndarray | None = None
        self.confidence = ConfidenceModel.from_manifest(raw, str(manifest.folder / "manifest.json"))

    @property
    def sessions(self) -> dict[str, Session]:
        """The manifest's graphs this model opened, by graph name."""
        sessions = (self.graphs.encoder, self.graphs.decoder, self.graphs.decoder_with_past)
        return {name: sess for name, sess in zip(self._graph_names, sessions) if sess is not None}

    @classmethod
    def from_manifest(cls, manifest: Manifest, options: RuntimeOptions = RuntimeOptions(), graph: str | None = None,
                      target_lang: str | None = None) -> "Translator":
        return cls(manifest, options, graph, target_lang)

    @classmethod
    def from_folder(cls, folder: str | Path, options: RuntimeOptions = RuntimeOptions(), graph: str | None = None,
                    target_lang: str | None = None) -> "Translator":
        return cls(read_manifest(Path(folder)), options, graph, target_lang)

    @property
    def model_info(self) -> ModelInfo:
        return ModelInfo(self.manifest.id, self.manifest.version, self.task, self.graphs.encoder.provider)

    @property
    def has_cache(self) -> bool:
        return self.graphs.decoder_with_past is not None

    def _start_id(self, lang: str) -> int:
        t = self.targets.get(lang)
        if t is None:
            raise ModelError(f"{self.manifest.id} translates into {', '.join(self.targets)}, not '{lang}'")
        return int(t.get("decoder_start_token_id", self.manifest.raw.get("decoder_start_token_id", self.pad_id)))

    # ---- text level ---------------------------------------------------------------------------

    def translate(self, text: str, *, beam: int = 4, max_length: int = 200, length_penalty: float = 1.0,
                  target_lang: str | None = None, use_cache: bool = True, glossary: Glossary | None = None,
                  protect: bool = True, progress: Progress | None = None,
                  cancelled: Callable[[], bool] | None = None) -> Translation:
        """Translate a document: split into sentences, translate them in length-sorted batches, reassemble
        with the paragraph breaks of the source. Numbers, URLs, file names, code, product names and the
        glossary's terms are copied through (`protect=False`: the model sees the raw sentences)."""
        return self.translate_texts([text], beam=beam, max_length=max_length, length_penalty=length_penalty,
                                    target_lang=target_lang, use_cache=use_cache, glossary=glossary,
                                    protect=protect, progress=progress, cancelled=cancelled)[0]

    def translate_batch(self, texts: Sequence[str], *, beam: int = 4, max_length: int = 200,
                        length_penalty: float = 1.0, target_lang: str | None = None,
                        use_cache: bool = True, glossary: Glossary | None = None, protect: bool = True) -> list[str]:
        return [t.text for t in self.translate_texts(list(texts), beam=beam, max_length=max_length,
                                                     length_penalty=length_penalty, target_lang=target_lang,
                                                     use_cache=use_cache, glossary=glossary, protect=protect)]

    @property
    def copies_placeholders(self) -> bool:
        """Whether the model was trained to copy ｟n｠ placeholders (else protected spans split the sentence)."""
        return bool(self.manifest.raw.get("placeholders"))

    def translate_texts(self, texts: Sequence[str], *, beam: int = 4, max_length: int = 200,
                        length_penalty: float = 1.0, target_lang: str | None = None, use_cache: bool = True,
                        glossary: Glossary | None = None, protect: bool = True, progress: Progress | None = None,
                        cancelled: Callable[[], bool] | None = None,
                        protected_ranges: Sequence[Sequence[tuple[int, int]]] | None = None,
                        signals_out: list | None = None) -> list[Translation]:
        """One Translation per text; the sentences of all texts are translated together (one set of
        length-sorted batches for a whole document's paragraphs, repeated sentences once).
        `progress(done, total)` counts sentences after every model batch; `cancelled()` is checked
        before each batch and raises Cancelled. `protected_ranges[i]` are (start, end) character ranges
        of texts[i] to copy untranslated (monospace runs of a .docx, code of a web page); command lines
        and code blocks are found in every text. Each sentence carries its confidence (see
        app.core.translation_confidence); `signals_out`, when given, receives per text a list of each
        sentence's Signals (None for a sentence the model did not see): what the calibration is fitted on."""
        lang = target_lang or self.target_lang
        start = self._start_id(lang)
        plans, pieces = self._plan(texts, lang, glossary, protect, protected_ranges)
        unique = list(dict.fromkeys(pieces))
        step = None
        if progress is not None or cancelled is not None:
            def step(done: int, total: int) -> None:
                if cancelled is not None and cancelled():
                    raise Cancelled()
                if progress is not None:
                    progress(done, total)
        hyps = self.generate_hypotheses(self.tokenizer.encode(unique, self.max_source_tokens), start=start,
                                        beam=beam, max_length=max_length, length_penalty=length_penalty,
                                        use_cache=use_cache, step=step)
        done: dict[str, tuple[str, Hypothesis]] = {}
        for src, h in zip(unique, hyps):
            out = detokenize(self.tokenizer.decode(h.ids), lang, src)
            if self.cut_loops:
                out, cut = cut_repeats(out, src)
                if cut:
                    h = Hypothesis(h.ids, h.logprobs, "loop")
            done[src] = (out, h)
        results = []
        for plan in plans:
            translation, sigs = self._assemble(plan, pieces, done, lang)
            results.append(translation)
            if signals_out is not None:
                signals_out.append(sigs)
        return results

    def _plan(self, texts: Sequence[str], lang: str, glossary: Glossary | None, protect: bool,
              protected_ranges: Sequence[Sequence[tuple[int, int]]] | None) -> tuple[list, list[str]]:
        """What the model is given: per text, per sentence (sentence, [(piece indices | None, copied text,
        space_before)], placeholder outputs, number of protected spans), and the pieces themselves."""
        from app.core.segment import split_sentences

        mask_mode = self.copies_placeholders
        # per text, per sentence: (sentence, [(piece indices | None, copied text, space_before)], placeholder
        # outputs, protected spans)
        plans = []
        pieces: list[str] = []

        def add(piece_text: str) -> list[int]:
            idx = []
            for piece in self._fit(piece_text):
                idx.append(len(pieces))
                pieces.append(piece)
            return idx

        for t, text in enumerate(texts):
            plan = []
            text = text or ""
            ranges = list(find_block_protected(text)) if protect else []
            if protect and protected_ranges is not None and t < len(protected_ranges):
                ranges += [(a, b, "code") for a, b in protected_ranges[t]]
            for s in split_sentences(text):
                spans = []
                if protect:
                    fixed = [Protected(max(a, s.start) - s.start, min(b, s.end) - s.start, kind,
                                       s.text[max(a, s.start) - s.start:min(b, s.end) - s.start],
                                       s.text[max(a, s.start) - s.start:min(b, s.end) - s.start])
                             for a, b, kind in ranges if a < s.end and b > s.start]
                    spans = merge_protected(fixed, find_protected(s.text, glossary, lang))
                outputs: list[str] = []
                if not spans:
                    parts = [(add(s.text), "", False)]
                elif not nothing_left(s.text, spans):
                    if mask_mode:
                        masked, outputs = mask(s.text, spans)
                        parts = [(add(masked), "", False)]
                    else:
                        parts = [(add(seg.text) if seg.translate else None, seg.text, seg.space_before)
                                 for seg in split_at(s.text, spans)]
                else:  # commands, code, names and numbers only: copied as they are, the model never sees it
                    parts = [(None, copy_through(s.text, spans), False)]
                plan.append((s, parts, outputs, len(spans)))
            plans.append(plan)
        return plans, pieces

    def _assemble(self, plan: list, pieces: list[str], done: dict, lang: str) -> tuple[Translation, list]:
        """One text's Translation from its plan and the translated pieces, and its sentences' Signals."""
        sents, paragraphs, last_par, reinserted, sigs = [], [], None, 0, []
        for s, parts, outputs, _n in plan:
            joined = join_segments([(copied if idx is None else
                                     fragment_text(" ".join(t for t in (done[pieces[i]][0] for i in idx) if t), copied)
                                     if len(parts) > 1 else " ".join(t for t in (done[pieces[i]][0] for i in idx) if t),
                                     space) for idx, copied, space in parts])
            if outputs:
                joined, missing = unmask(joined, outputs)
                reinserted += missing
            if s.paragraph != last_par:
                paragraphs.append([])
                last_par = s.paragraph
            sig = self._signals(parts, pieces, done)
            sigs.append(sig)
            sents.append((s, joined, None if sig is None else self.confidence.judge(sig, lang)))
            if joined:
                paragraphs[-1].append(joined)
        text_out = "\n\n".join(" ".join(p) for p in paragraphs if p)
        out_sents, cursor = [], 0
        for s, joined, verdict in sents:  # each sentence's span in the translated text, in order
            k = text_out.find(joined, cursor) if joined else -1
            k = cursor if k < 0 else k
            cursor = k + len(joined)
            out_sents.append(TranslatedSentence(
                s.text, joined, s.start, s.end, s.paragraph, k, cursor,
                None if verdict is None else round(verdict.confidence, 4),
                bool(verdict and verdict.low), verdict.reason if verdict else ""))
        return Translation(lang=lang, text=text_out, sentences=tuple(out_sents), source_lang=self.source_lang,
                           protected=sum(p[3] for p in plan), reinserted=reinserted), sigs

    @staticmethod
    def _signals(parts, pieces: list[str], done: dict) -> Signals | None:
        """The signals of one sentence from the pieces the model translated for it (None: it translated none)."""
        idx = [i for ids, _copied, _space in parts if ids is not None for i in ids]
        if not idx:
            return None
        src = " ".join(pieces[i] for i in idx)
        out = " ".join(done[pieces[i]][0] for i in idx)
        logprobs = [x for i in idx for x in done[pieces[i]][1].logprobs]
        loop = any(done[pieces[i]][1].end == "loop" for i in idx)
        return sentence_signals(src, out, logprobs, loop)

    def _fit(self, sentence: str) -> list[str]:
        """A sentence too long for the model is cut at clause breaks, then between words."""
        limit = self.max_source_tokens - 1
        if self.tokenizer.count(sentence) <= limit:
            return [sentence]
        out, cur = [], ""
        for part in _CLAUSE_BREAK.split(sentence):
            words = [part] if self.tokenizer.count(part) <= limit else part.split()
            for w in words:
                cand = f"{cur} {w}".strip()
                if cur and self.tokenizer.count(cand) > limit:
                    out.append(cur)
                    cur = w
                else:
                    cur = cand
        if cur:
            out.append(cur)
        return out

    # ---- token level --------------------------------------------------------------------------

    def generate(self, sources: Sequence[Sequence[int]], *, start: int | None = None, beam: int = 4,
                 max_length: int = 200, length_penalty: float = 1.0, use_cache: bool = True,
                 step: Progress | None = None) -> list[list[int]]:
        """Target ids (without start and </s>) for each source id list, batched by length; `step(done, total)`
        is called before the first batch and after each one (it may raise to stop)."""
        return [h.ids for h in self.generate_hypotheses(sources, start=start, beam=beam, max_length=max_length,
                                                        length_penalty=length_penalty, use_cache=use_cache,
                                                        step=step)]

    def generate_hypotheses(self, sources: Sequence[Sequence[int]], *, start: int | None = None, beam: int = 4,
                            max_length: int = 200, length_penalty: float = 1.0, use_cache: bool = True,
                            step: Progress | None = None) -> list[Hypothesis]:
        """The chosen hypothesis for each source id list: its ids, the log-probability of each of its tokens
        (and of </s> when it ended there) and how it ended ("eos", "limit", or "loop" when a phrase repeated
        back to back was cut to one occurrence)."""
        start = self._start_id(self.target_lang) if start is None else start
        results: list[Hypothesis] = [Hypothesis([], [], "empty") for _ in sources]
        todo = [i for i, s in enumerate(sources) if len(s) > 1 or (len(s) == 1 and s[0] != self.eos_id)]
        if not todo:
            return results
        beam = max(1, int(beam))
        budget = max(self.max_tokens // beam, 256)
        n_done = 0
        if step is not None:
            step(0, len(todo))
        for batch in length_batches([len(sources[i]) for i in todo], budget, max_batch=64):
            rows = [todo[b] for b in batch]
            ids, mask = pad([sources[r] for r in rows], self.pad_id)
            hidden = self.graphs.encoder({"input_ids": ids, "attention_mask": mask})
            hidden = hidden.get(self.encoder_output, next(iter(hidden.values())))
            # a translation is about as long as its source; a summary's length is the model's own (up to
            # `max_length`, as transformers' generate gives it: a short text still gets its min_length tokens)
            limits = (np.full(len(rows), max_length, dtype=np.int64) if self.task == "summary"
                      else np.minimum(max_length, 2 * mask.sum(1) + 10).astype(np.int64))
            cached = use_cache and self.has_cache
            outs = (self._greedy if beam == 1 else self._beam)(hidden, mask, start, limits, cached, beam, length_penalty)
            for r, o in zip(rows, outs):
                results[r] = o
            n_done += len(rows)
            if step is not None:
                step(n_done, len(todo))
        return results

    def _loops(self, tokens: np.ndarray) -> np.ndarray:
        """For each row of generated ids (start token first), how many tokens to keep when its end is a loop:
        a phrase of 1-8 pieces, at least one of them a word piece, repeated LOOP_REPEATS times back to back
        ("beim beim beim", "de l'ordre de l'ordre de l'ordre"); -1 where there is none."""
        keep = np.full(tokens.shape[0], -1, dtype=np.int64)
        if not self.cut_loops:
            return keep
        gen = tokens[:, 1:]
        n_gen = gen.shape[1]
        r = LOOP_REPEATS
        for n in range(1, LOOP_MAX_PHRASE + 1):
            if n_gen < n * r:
                break
            tail = gen[:, -n * r:].reshape(gen.shape[0], r, n)
            hit = (tail == tail[:, -1:, :]).all(axis=(1, 2)) & self._letters[np.minimum(gen[:, -n:], len(self._letters) - 1)].any(axis=1)
            keep[hit & (keep < 0)] = n_gen - (r - 1) * n
        return keep

    @property
    def _letters(self) -> np.ndarray:
        if self._letter_mask is None:
            self._letter_mask = self.tokenizer.letter_pieces(self._vocab_size_hint())
        return self._letter_mask

    def _vocab_size_hint(self) -> int:
        tok = self.manifest.raw.get("tokenizer") or {}
        size = int(tok.get("vocab_size") or 0)
        if self.tokenizer.vocab is not None:
            size = max(size, max(self.tokenizer.vocab.values()) + 1)
        return max(size, self.tokenizer.target.get_piece_size(), self.pad_id + 1, self.eos_id + 1)

    def _step(self, state: dict, tokens: np.ndarray, cached: bool, normalize: bool = True) -> np.ndarray:
        """Log-probabilities of the next token for every live row (raw scores with `normalize=False`,
        enough for an argmax); updates the decoder state in place."""
        if not cached or "cache" not in state:
            prefix = tokens if not cached else tokens[:, -1:]
            out = self.graphs.decoder({"input_ids": prefix, "encoder_attention_mask": state["mask"],
                                       "encoder_hidden_states": state["hidden"]},
                                      None if cached else ["logits"])
            if cached:
                state["cache"] = {"past_key_values." + k[len("present."):]: v
                                  for k, v in out.items() if k.startswith("present.")}
        else:
            feeds = {"input_ids": tokens[:, -1:], "encoder_attention_mask": state["mask"],
                     "encoder_hidden_states": state["hidden"], **state["cache"]}
            out = self.graphs.decoder_with_past(feeds)
            for k, v in out.items():
                if k.startswith("present."):
                    state["cache"]["past_key_values." + k[len("present."):]] = v
        logits = np.array(out["logits"][:, -1, :], dtype=np.float32)
        if not self.transformers_scores:  # suppressed tokens leave the distribution (the shipped models)
            logits[:, self.suppress] = -np.inf
        if self.forced_bos is not None and tokens.shape[1] == 1:  # the first token is forced (log-probability 0)
            logits[:] = -np.inf
            logits[:, self.forced_bos] = 0.0
            return logits
        r = self.max_repeat
        if r and tokens.shape[1] > r:  # no piece more than r times in a row ("Mehrerrrrrr" on out-of-domain text)
            last = tokens[:, -1]
            rep = np.flatnonzero((tokens[:, -r:] == last[:, None]).all(axis=1))
            logits[rep, last[rep]] = -np.inf
        if normalize:
            logits -= logits.max(axis=1, keepdims=True)
            logits -= np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return self._constrain(logits, tokens)

    def _constrain(self, scores: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """Rules applied to the normalised scores, as transformers applies its logits processors (no
        renormalisation after them): suppressed tokens for imported models (its bad_words_ids), no </s> before
        `min_length` tokens (the start token counted), no n-gram of `no_repeat_ngram_size` tokens twice."""
        if self.transformers_scores:
            scores[:, self.suppress] = -np.inf
        if self.min_length and tokens.shape[1] < self.min_length:
            scores[:, self.eos_id] = -np.inf
        n = self.no_repeat_ngram
        if n and tokens.shape[1] >= n:
            grams = np.lib.stride_tricks.sliding_window_view(tokens, n, axis=1)  # rows, positions, n
            seen = (grams[:, :, :-1] == tokens[:, None, tokens.shape[1] - n + 1:]).all(axis=2) if n > 1 else \
                np.ones(grams.shape[:2], dtype=bool)
            rows, at = np.nonzero(seen)
            scores[rows, grams[rows, at, -1]] = -np.inf
        return scores

    @staticmethod
    def _select(state: dict, rows: np.ndarray, same_sentences: bool = False) -> None:
        """Keep only `rows` of the decoder state (finished sentences leave, beams are reordered).

        With `same_sentences` only beams moved within their sentence: the encoder states and the
        cross-attention cache are identical across a sentence's beams, so they stay as they are."""
        if not same_sentences:
            state["hidden"] = state["hidden"][rows]
            state["mask"] = state["mask"][rows]
        for k in list(state.get("cache", {})):
            if not (same_sentences and ".encoder." in k):
                state["cache"][k] = state["cache"][k][rows]

    def _greedy(self, hidden, mask, start, limits, cached, beam, length_penalty) -> list[Hypothesis]:
        n = hidden.shape[0]
        state = {"hidden": hidden, "mask": mask}
        tokens = np.full((n, 1), start, dtype=np.int64)
        logps = np.zeros((n, 0), dtype=np.float32)
        alive = np.arange(n)
        outs = [Hypothesis([], [], "limit") for _ in range(n)]
        for t in range(int(limits.max())):
            logits = self._step(state, tokens, cached, normalize=False)
            nxt = logits.argmax(axis=1)
            best = logits[np.arange(len(nxt)), nxt]
            # the chosen token's log-probability: its score less the log-sum-exp of the row (max = best)
            chosen = -np.log(np.exp(logits - best[:, None]).sum(axis=1))
            tokens = np.concatenate([tokens, nxt[:, None]], axis=1)
            logps = np.concatenate([logps, chosen[:, None].astype(np.float32)], axis=1)
            cut = self._loops(tokens)
            keep = []
            for j, (row, tok) in enumerate(zip(alive, nxt)):
                if cut[j] >= 0:
                    m = int(cut[j])
                    outs[row] = Hypothesis(tokens[j, 1:1 + m].tolist(), logps[j, :m].tolist(), "loop")
                elif tok == self.eos_id:
                    outs[row] = Hypothesis(tokens[j, 1:-1].tolist(), logps[j].tolist(), "eos")
                elif t + 1 >= limits[row]:
                    outs[row] = Hypothesis(tokens[j, 1:].tolist(), logps[j].tolist(), "limit")
                else:
                    keep.append(j)
            if not keep:
                break
            if len(keep) < len(alive):
                keep = np.array(keep)
                alive, tokens, logps = alive[keep], tokens[keep], logps[keep]
                self._select(state, keep)
        return outs

    def _beam(self, hidden, mask, start, limits, cached, k, length_penalty) -> list[Hypothesis]:
        n = hidden.shape[0]
        state = {"hidden": np.repeat(hidden, k, axis=0), "mask": np.repeat(mask, k, axis=0)}
        tokens = np.full((n * k, 1), start, dtype=np.int64)
        scores = np.tile(np.array([0.0] + [-np.inf] * (k - 1), dtype=np.float32), n)  # one live beam at the start
        cums = np.zeros((n * k, 1), dtype=np.float32)  # each row's running score after each of its tokens
        alive = list(range(n))  # sentence index of each block of k rows
        # per sentence: (length-normalised score, ids, each token's log-probability, how it ended)
        finished: list[list[tuple[float, list[int], list[float], str]]] = [[] for _ in range(n)]
        for t in range(int(limits.max())):
            logp = self._step(state, tokens, cached)
            vocab = logp.shape[1]
            cand = (scores[:, None] + logp).reshape(len(alive), k * vocab)
            top = np.argpartition(-cand, 2 * k, axis=1)[:, : 2 * k]
            rows, new_scores, new_tokens, keep_blocks = [], [], [], []
            for b, sent in enumerate(alive):
                order = top[b][np.argsort(-cand[b, top[b]])]
                picked = 0
                last = t + 1 >= limits[sent]
                for rank, c in enumerate(order):
                    src_row, tok = b * k + c // vocab, int(c % vocab)
                    s = float(cand[b, c])
                    if s == -np.inf:
                        break
                    if tok == self.eos_id or last:
                        if rank < k:
                            hyp = [int(x) for x in tokens[src_row, 1:]] + ([] if tok == self.eos_id else [tok])
                            steps = np.diff(cums[src_row]).tolist() + [s - float(cums[src_row, -1])]
                            # normalised by the tokens generated, </s> included when it ended there (as
                            # transformers' beam search does: a hypothesis cut at the limit has no </s>)
                            finished[sent].append((s / (len(hyp) + (tok == self.eos_id)) ** length_penalty, hyp, steps,
                                                   "eos" if tok == self.eos_id else "limit"))
                        continue
                    rows.append(src_row)
                    new_scores.append(s)
                    new_tokens.append(tok)
                    picked += 1
                    if picked == k:
                        break
                while 0 < picked < k:  # keep k rows per sentence; the copies can never win
                    rows.append(rows[-1])
                    new_scores.append(-np.inf)
                    new_tokens.append(new_tokens[-1])
                    picked += 1
                fin = sorted(finished[sent], key=lambda h: -h[0])[:k]
                finished[sent] = fin
                best_alive = new_scores[-picked] / (t + 2) ** length_penalty if picked else -np.inf
                done = last or not picked or (len(fin) >= k and fin[-1][0] >= best_alive)
                if done:
                    del rows[len(rows) - picked:], new_scores[len(new_scores) - picked:], new_tokens[len(new_tokens) - picked:]
                else:
                    keep_blocks.append(sent)
            if not keep_blocks:
                break
            rows = np.array(rows)
            tokens = np.concatenate([tokens[rows], np.array(new_tokens, dtype=np.int64)[:, None]], axis=1)
            scores = np.array(new_scores, dtype=np.float32)
            cums = np.concatenate([cums[rows], scores[:, None]], axis=1)
            self._select(state, rows, same_sentences=len(keep_blocks) == len(alive))
            alive = keep_blocks
            cut = self._loops(tokens)
            for row in np.flatnonzero((cut >= 0) & (scores > -np.inf)):
                # a loop: the hypothesis ends before its repeats, scored as it stood there, and the row stops
                m = int(cut[row])
                finished[alive[row // k]].append((float(cums[row, m]) / (m + 1) ** length_penalty,
                                                  tokens[row, 1:1 + m].tolist(), np.diff(cums[row, :m + 1]).tolist(),
                                                  "loop"))
                scores[row] = -np.inf
        out = []
        for f in finished:
            if not f:
                out.append(Hypothesis([], [], "limit"))
                continue
            _, ids, steps, end = max(f, key=lambda h: h[0])
            out.append(Hypothesis(ids, [float(x) for x in steps], end))
        return out
