"""A Hugging Face checkpoint exported to the app's model folder layout, and checked against PyTorch on the way.

`export_checkpoint(ck, folder, model_id)` writes into `folder` (a temporary folder the caller renames or
removes): the ONNX graphs (fp32, dynamic int8), the tokenizer files the runtime reads, manifest.json (every
file's sha256) and MODEL_CARD.md. Exported with torch.onnx (TorchScript exporter, opset 17), not optimum:
optimum's exporter now lives in optimum-onnx, whose releases pin transformers < 4.58, and this project
trains with transformers 5 (docs/models.md says more). Checks, all recorded in the manifest's metrics and
the card, any failure a ModelError that stops the import:

  * the runtime's tokenizer (tokenizers / sentencepiece, no transformers) gives the ids transformers does;
  * classifiers: ONNX fp32 logits within 1e-3 of PyTorch's on sample texts; int8 label agreement reported;
  * translators: greedy and beam-4 output tokens of the app's Translator identical to transformers' generate.
"""
from __future__ import annotations

import inspect
import json
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np

from app.core.errors import Cancelled, ModelError
from app.core.hf_import import Checkpoint, weights_file
from app.core.types import CLASSIFICATION, classification_name

LOGIT_TOLERANCE = 1e-3
Step = Callable[[str, float], None]  # (what is happening, fraction of the export done)

# sample inputs for the checks: short and long, punctuation, digits, casing, a non-ASCII word
SAMPLES = [
    "The film was wonderful, and the actors were great.",
    "I would not recommend this product to anyone.",
    "Service was slow; the food arrived cold after 45 minutes.",
    "A quiet, thoughtful book that stays with you.",
    "Terrible.",
    "It works.",
    "The update broke my settings again, and support never answered my three emails about it.",
    "Das Hotel war sauber, aber das Frühstück war enttäuschend.",
    "Prices rose 3.5% in March (the highest since 2019), the office said on Tuesday.",
    "What a great day at the beach with friends and family, we will definitely come back next summer!",
    "Nothing about this phone feels cheap.",
    "The second half drags, although the ending is strong.",
]
TRANSLATION_SAMPLES = [
    "A man is riding a bicycle.",
    "Two dogs play in the snow near a tree.",
    "The meeting starts at ten o'clock tomorrow.",
    "Click Save to keep your changes.",
]


def _cancel_point(cancelled: Callable[[], bool] | None) -> None:
    if cancelled is not None and cancelled():
        raise Cancelled()


def check_weights(folder: Path) -> Path:
    """The weights file, after checking that a pickled one reads with torch.load(weights_only=True) (so loading
    it runs no code); ModelError naming the file otherwise."""
    import pickle

    import torch

    path = weights_file(folder)
    if path.suffix == ".bin":
        try:
            torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, ValueError) as exc:
            raise ModelError(f"{path}: pickled weights that torch.load(weights_only=True) cannot read; they may run "
                             f"code when loaded, so they are refused ({str(exc).splitlines()[0][:160]}). Convert "
                             "them to model.safetensors where you trust them.") from None
    return path


def _load(ck: Checkpoint, cls_name: str):
    import torch
    import transformers

    cls = getattr(transformers, cls_name)
    try:
        model = cls.from_pretrained(str(ck.folder), local_files_only=True, trust_remote_code=False,
                                    attn_implementation="eager", dtype=torch.float32)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelError(f"{ck.folder}: transformers cannot load this {ck.architecture} checkpoint "
                         f"({str(exc).splitlines()[0][:200]})") from None
    return model.eval()


def _hf_tokenizer(ck: Checkpoint):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(ck.folder), local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{ck.folder}: its tokenizer cannot be loaded ({str(exc).splitlines()[0][:200]})") from None


def _sizes(folder: Path, files: list[str]) -> dict[str, int]:
    return {f: (folder / f).stat().st_size for f in files}


# ---- sequence classifiers ------------------------------------------------------------------------

def _classifier_inputs(model) -> list[str]:
    params = inspect.signature(model.forward).parameters
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in params and int(getattr(model.config, "type_vocab_size", 0) or 0) >= 2:
        names.append("token_type_ids")
    return names


def _max_length(ck: Checkpoint, hf_tok) -> int:
    cfg = ck.config
    positions = int(cfg.get("max_position_embeddings") or 512)
    if ck.model_type in ("roberta", "xlm-roberta", "mpnet"):  # positions start after the padding index
        positions -= int(cfg.get("pad_token_id", 1)) + 1
    limit = getattr(hf_tok, "model_max_length", 0) or 0
    if 0 < limit < positions:
        positions = int(limit)
    return max(8, min(512, positions))


def _export_classifier_graph(model, path: Path, inputs: list[str]) -> None:
    import torch

    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, *args):
            return self.m(**dict(zip(inputs, args))).logits

    ids = torch.randint(5, model.config.vocab_size, (2, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    args = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    axes = {n: {0: "batch", 1: "sequence"} for n in inputs} | {"logits": {0: "batch"}}
    wrapper = Logits().eval()
    with torch.no_grad():
        torch.onnx.export(wrapper, tuple(args[n] for n in inputs), str(path), input_names=inputs,
                          output_names=["logits"], dynamic_axes=axes, opset_version=17, do_constant_folding=True,
                          dynamo=False)


def _feeds(seqs: list[list[int]], pad_id: int) -> dict[str, np.ndarray]:
    from app.core.runtime import pad

    ids, mask = pad(seqs, pad_id)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def _session(path: Path):
    from app.core.runtime import RuntimeOptions, Session

    return Session(path, RuntimeOptions(device="cpu", tune=False))


def _timed(fn: Callable[[], object], repeats: int = 3, cancelled: Callable[[], bool] | None = None) -> float:
    best = float("inf")
    for _ in range(repeats):
        _cancel_point(cancelled)
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _check_tokenizer(ours: list[list[int]], theirs: list[list[int]], texts: list[str], folder: Path) -> None:
    for text, a, b in zip(texts, ours, theirs):
        if list(a) != list(b):
            raise ModelError(f"{folder}: the app's tokenizer reads '{text[:60]}' as {list(a)[:12]}..., transformers "
                             f"as {list(b)[:12]}...; this tokenizer is not supported")


def export_classifier(ck: Checkpoint, out: Path, step: Step | None = None,
                      cancelled: Callable[[], bool] | None = None) -> dict:
    """Graphs, tokenizer.json and the checks of a sequence classifier; returns the manifest's fields."""
    import torch

    from app.core.encoder_text import EncoderTokenizer
    from app.training.common import quantize_int8

    step = step or (lambda _what, _f: None)
    step("loading the checkpoint", 0.05)
    check_weights(ck.folder)
    hf_tok = _hf_tokenizer(ck)
    model = _load(ck, "AutoModelForSequenceClassification")
    if model.config.num_labels != len(ck.labels):
        raise ModelError(f"{ck.folder}: the model has {model.config.num_labels} outputs but id2label names "
                         f"{len(ck.labels)} classes")
    _cancel_point(cancelled)
    _save_tokenizer_json(ck, hf_tok, out)
    max_length = _max_length(ck, hf_tok)
    tok = EncoderTokenizer(out / "tokenizer.json", max_length)
    ours = tok.encode(SAMPLES)
    theirs = hf_tok(SAMPLES, truncation=True, max_length=max_length)["input_ids"]
    _check_tokenizer(ours, theirs, SAMPLES, ck.folder)
    long_text = " ".join(SAMPLES * 8)
    windows = [w for w, _ in tok.windows(tok.pieces([long_text]))][:2]
    seqs = ours + windows

    step("exporting to ONNX", 0.2)
    inputs = _classifier_inputs(model)
    _export_classifier_graph(model, out / "model.onnx", inputs)
    _cancel_point(cancelled)
    step("quantizing to int8", 0.5)
    quantize_int8(out / "model.onnx", out / "model.int8.onnx")
    _cancel_point(cancelled)

    step("checking the ONNX graphs against PyTorch", 0.7)
    feeds = _feeds(seqs, tok.pad_id)
    with torch.no_grad():
        args = {k: torch.from_numpy(v) for k, v in feeds.items() if k in inputs}
        ref = model(**args).logits.numpy()
    fp32, int8 = _session(out / "model.onnx"), _session(out / "model.int8.onnx")
    got = fp32(feeds)["logits"]
    diff = float(np.abs(got - ref).max())
    if not diff <= LOGIT_TOLERANCE:
        raise ModelError(f"{ck.folder}: the ONNX export's logits differ from PyTorch's by {diff:.2g} (more than "
                         f"{LOGIT_TOLERANCE:g}) on the sample texts; the export is refused")
    q = int8(feeds)["logits"]
    agree = float(np.mean(q.argmax(1) == ref.argmax(1)))

    def probs(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    prob_diff = float(np.abs(probs(q) - probs(ref)).max())
    _cancel_point(cancelled)
    step("timing", 0.85)
    short = _feeds(ours, tok.pad_id)
    t_fp32, t_int8 = _timed(lambda: fp32(short)), _timed(lambda: int8(short))
    with torch.no_grad():
        t_torch = _timed(lambda: model(**{k: torch.from_numpy(v) for k, v in short.items() if k in inputs}))
    n = len(ours)
    files = ["model.onnx", "model.int8.onnx", "tokenizer.json"]
    checks = {
        "samples": len(seqs), "sample_tokens_max": int(max(len(s) for s in seqs)),
        "tokenizer_matches_transformers": True,
        "fp32_max_abs_logit_diff": diff, "fp32_tolerance": LOGIT_TOLERANCE,
        "int8_label_agreement": agree, "int8_max_abs_probability_diff": prob_diff,
        "labels_pytorch": [ck.labels[i] for i in ref.argmax(1)],
    }
    speed = {"sentences": n, "sentences_per_s_fp32": n / t_fp32, "sentences_per_s_int8": n / t_int8,
             "sentences_per_s_pytorch": n / t_torch, "threads": "app default", "batch": n}
    return {
        "labels": list(ck.labels), "max_length": max_length,
        "tokenizer": {"type": "tokenizers", "file": "tokenizer.json"},
        "graphs": {"fp32": {"file": "model.onnx", "inputs": list(fp32.input_names)},
                   "int8": {"file": "model.int8.onnx", "inputs": list(int8.input_names)}},
        "default_graph": "fp32", "files": files,
        "metrics": {"import_checks": checks, "speed": speed, "sizes": _sizes(out, files)},
    }


# ---- Marian translators --------------------------------------------------------------------------

def _marian_reference(model, ids: list[int], beam: int, max_new: int, pad_id: int, eos_id: int) -> list[int]:
    import torch

    x = torch.tensor([ids])
    ref = model.generate(x, attention_mask=torch.ones_like(x), num_beams=beam, do_sample=False,
                         max_new_tokens=max_new, bad_words_ids=[[pad_id]], length_penalty=1.0,
                         early_stopping=False, num_return_sequences=1,
                         forced_eos_token_id=None)  # the app's decoder stops at the length limit without forcing </s>
    return [t for t in ref[0, 1:].tolist() if t not in (eos_id, pad_id)]


def export_translator(ck: Checkpoint, out: Path, model_id: str, step: Step | None = None,
                      cancelled: Callable[[], bool] | None = None) -> dict:
    """Encoder / decoder / decoder-with-past graphs (fp32 and int8) of a MarianMTModel, its SentencePiece files,
    and the checks; returns the manifest's fields."""
    from app.core.registry import read_manifest
    from app.core.translate import Translator
    from app.training.translation_export import export_marian

    step = step or (lambda _what, _f: None)
    step("loading the checkpoint", 0.05)
    check_weights(ck.folder)
    hf_tok = _hf_tokenizer(ck)
    model = _load(ck, "MarianMTModel")
    for name in ("source.spm", "target.spm", "vocab.json"):
        shutil.copyfile(ck.folder / name, out / name)
    _cancel_point(cancelled)
    step("exporting to ONNX (encoder, decoder, decoder with cache)", 0.15)
    spec = {"type": "sentencepiece", "source": "source.spm", "target": "target.spm", "vocab": "vocab.json"}
    export_marian(model, out, spec, ck.source_lang, ck.target_lang, model_id=model_id, int8=True)
    _cancel_point(cancelled)
    raw = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    raw["cut_loops"] = False  # decode exactly as the checkpoint does (what the checks compare)
    raw["transformers_scores"] = True
    (out / "manifest.json").write_text(json.dumps(raw, indent=2), encoding="utf-8")

    step("checking generation against transformers", 0.6)
    checks: dict = {"sentences": len(TRANSLATION_SAMPLES)}
    max_len = 24
    translators = {v: Translator(read_manifest(out), _cpu(), graph=v, check=False) for v in ("fp32", "int8")}
    tr = translators["fp32"]
    sources = tr.tokenizer.encode(TRANSLATION_SAMPLES)
    theirs = hf_tok(TRANSLATION_SAMPLES)["input_ids"]
    _check_tokenizer(sources, theirs, TRANSLATION_SAMPLES, ck.folder)
    cfg = model.config
    for beam in (1, 4):
        ours = tr.generate(sources, beam=beam, max_length=max_len)
        for text, ids, got in zip(TRANSLATION_SAMPLES, sources, ours):
            _cancel_point(cancelled)
            ref = _marian_reference(model, ids, beam, min(max_len, 2 * len(ids) + 10), cfg.pad_token_id,
                                    cfg.eos_token_id)
            if ref != got:
                raise ModelError(f"{ck.folder}: the ONNX translator's {'greedy' if beam == 1 else f'beam-{beam}'} "
                                 f"output for '{text}' differs from transformers' generate ({len(got)} tokens "
                                 f"{got[:8]}... vs {len(ref)} tokens {ref[:8]}...); the export is refused")
        checks[f"{'greedy' if beam == 1 else f'beam{beam}'}_tokens_equal_transformers"] = True
    greedy_q = translators["int8"].generate(sources, beam=1, max_length=max_len)
    greedy = tr.generate(sources, beam=1, max_length=max_len)
    checks["int8_greedy_identical_sentences"] = float(np.mean([a == b for a, b in zip(greedy, greedy_q)]))
    step("timing", 0.85)
    speed = {}
    for v, t in translators.items():
        out_tokens = sum(len(o) for o in t.generate(sources, beam=4, max_length=max_len))
        secs = _timed(lambda t=t: t.generate(sources, beam=4, max_length=max_len), repeats=2)
        speed[f"target_tokens_per_s_{v}_beam4"] = out_tokens / secs
    files = sorted(raw["files"])
    raw["metrics"] = {"import_checks": checks, "speed": speed, "sizes": _sizes(out, files)}
    raw["default_variant"] = "fp32"
    raw["files"] = files
    return raw


def _cpu():
    from app.core.runtime import RuntimeOptions

    return RuntimeOptions(device="cpu", tune=False)


# ---- abstractive summarizers (BART, PEGASUS, T5) ---------------------------------------------------

SUMMARY_SAMPLES = [
    "The city council met on Tuesday to discuss the new budget. Members agreed to spend more on parks and "
    "schools, and to delay the new bus line by a year. The vote is planned for next month.",
    "A storm hit the coast overnight. Thousands of homes lost power, and several roads were closed by fallen "
    "trees. Crews expect to restore electricity by Friday.",
    "The company reported higher sales in the third quarter. Its new phone sold well in Europe and Asia, while "
    "sales of laptops fell. Shares rose 5% after the announcement.",
]
# what transformers' generate would add on top of the checkpoint's settings and the app's decoder does not do
NOT_APPLIED = ("encoder_no_repeat_ngram_size", "repetition_penalty", "early_stopping", "forced_eos_token_id")


def _generation_settings(model) -> tuple[dict, dict]:
    """(what the app's decoder applies, what it leaves out) from the checkpoint's summarization settings:
    T5's task_specific_params["summarization"] (prefix "summarize: "), else its generation config."""
    cfg = model.config
    task = (getattr(cfg, "task_specific_params", None) or {}).get("summarization") or {}
    gen = model.generation_config

    def pick(key, default):
        v = task.get(key, getattr(gen, key, None))
        return default if v is None else v

    max_len = int(pick("max_length", 0) or 0)
    # 20 is transformers' default (the checkpoint set nothing); above 512 the app's own cap
    max_new = min(max_len, 512) if max_len > 20 else 128
    applied = {"prefix": str(task.get("prefix", "") or ""), "max_new_tokens": max_new,
               "num_beams": max(1, min(16, int(pick("num_beams", 4)))),
               "length_penalty": float(pick("length_penalty", 1.0)),
               "min_length": max(0, min(max_new, int(pick("min_length", 0) or 0))),
               "no_repeat_ngram_size": max(0, min(16, int(pick("no_repeat_ngram_size", 0) or 0)))}
    left = {k: pick(k, None) for k in NOT_APPLIED}
    return applied, {k: v for k, v in left.items() if v not in (None, 0, 1.0, False)}


def _source_limit(ck: Checkpoint, hf_tok) -> int:
    """Input tokens the summarizer reads at once: the position table (BART, PEGASUS) or the tokenizer's
    model_max_length (T5: relative positions, trained at 512), at most 1024."""
    limit = int(ck.config.get("max_position_embeddings") or 0) or 512
    tok_max = int(getattr(hf_tok, "model_max_length", 0) or 0)
    if 0 < tok_max < limit or (ck.model_type == "t5" and 0 < tok_max <= 4096):
        limit = tok_max
    return max(16, min(1024, limit))


def _seq2seq_reference(model, ids: list[int], beam: int, max_new: int, m: dict) -> list[int]:
    """transformers' generate with exactly what the app's decoder does (the checkpoint's other settings off)."""
    import torch

    x = torch.tensor([ids])
    pad, eos = m["pad_token_id"], m["eos_token_id"]
    ref = model.generate(x, attention_mask=torch.ones_like(x), num_beams=beam, do_sample=False,
                         max_new_tokens=max_new, bad_words_ids=[[pad]], length_penalty=m["abstractive"]["length_penalty"],
                         early_stopping=False, num_return_sequences=1, forced_eos_token_id=None,
                         forced_bos_token_id=m.get("forced_bos_token_id"), min_length=m.get("min_length", 0),
                         no_repeat_ngram_size=m.get("no_repeat_ngram_size", 0),
                         encoder_no_repeat_ngram_size=0, repetition_penalty=1.0,
                         decoder_start_token_id=m["decoder_start_token_id"])
    return [t for t in ref[0, 1:].tolist() if t not in (eos, pad)]


def _export_summary_graphs(ck: Checkpoint, model, out: Path) -> dict:
    from app.training.translation_export import export_seq2seq_graphs

    try:
        return export_seq2seq_graphs(model, out, int8=True)
    except Exception as exc:  # the tracer's and the exporter's many error types
        raise ModelError(f"{ck.folder}: {ck.architecture} could not be exported to ONNX here, so it is not "
                         f"supported ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})") \
            from None


def export_summarizer(ck: Checkpoint, out: Path, model_id: str, step: Step | None = None,
                      cancelled: Callable[[], bool] | None = None) -> dict:
    """Encoder / decoder / decoder-with-past graphs (fp32 and int8) of a BART, PEGASUS or T5 summarizer, its
    tokenizer.json and the checks (greedy and beam-4 tokens equal transformers' generate); the manifest's fields."""
    from app.core.abstractive import AbstractiveSummarizer
    from app.core.registry import read_manifest, write_manifest
    from app.core.runtime import cancellable
    from app.training.translation_export import variants

    step = step or (lambda _what, _f: None)
    step("loading the checkpoint", 0.05)
    check_weights(ck.folder)
    hf_tok = _hf_tokenizer(ck)
    model = _load(ck, ck.architecture)
    _save_tokenizer_json(ck, hf_tok, out)
    applied, left_out = _generation_settings(model)
    cfg = model.config
    start = cfg.decoder_start_token_id if cfg.decoder_start_token_id is not None else cfg.pad_token_id
    forced = getattr(model.generation_config, "forced_bos_token_id", None)
    _cancel_point(cancelled)
    step("exporting to ONNX (encoder, decoder, decoder with cache)", 0.15)
    graphs = _export_summary_graphs(ck, model, out)
    _cancel_point(cancelled)
    limit = _source_limit(ck, hf_tok)
    raw = {
        "id": model_id, "version": "1.0.0", "task": "summary", "max_length": limit, "max_source_tokens": limit,
        "tokenizer": {"type": "tokenizers", "file": "tokenizer.json"},
        "graphs": graphs, "variants": variants(graphs), "default_variant": "fp32", "default_graph": "encoder",
        "decoder_start_token_id": int(start), "eos_token_id": int(cfg.eos_token_id),
        "pad_token_id": int(cfg.pad_token_id), "suppress_token_ids": [int(cfg.pad_token_id)],
        **({"forced_bos_token_id": int(forced)} if forced is not None else {}),
        "cut_loops": False, "transformers_scores": True,  # decode exactly as transformers does (what is checked)
        "min_length": applied["min_length"], "no_repeat_ngram_size": applied["no_repeat_ngram_size"],
        "abstractive": applied, "generation_not_applied": left_out,
        "files": sorted([g["file"] for g in graphs.values()] + ["tokenizer.json"]),
    }
    write_manifest(out, raw)

    step("checking generation against transformers", 0.6)
    # a cancel stops the ONNX runs in progress (the checks and the timing take minutes on a big checkpoint)
    with cancellable(cancelled):
        summarizers = {v: AbstractiveSummarizer(read_manifest(out), _cpu(), graph=v, check=False)
                       for v in ("fp32", "int8")}
        sm = summarizers["fp32"]
        texts = [applied["prefix"] + t for t in SUMMARY_SAMPLES]
        sources = sm.tokenizer.encode(texts)
        theirs = hf_tok(texts, truncation=True, max_length=limit)["input_ids"]
        _check_tokenizer(sources, theirs, texts, ck.folder)
        max_len = min(48, applied["max_new_tokens"])
        checks: dict = {"paragraphs": len(SUMMARY_SAMPLES), "max_new_tokens_checked": max_len}
        diff = max(_decoder_logit_diff(sm, model, ids, out) for ids, out in
                   zip(sources, sm.decoder.generate(sources, beam=1, max_length=max_len)))
        if not diff <= LOGIT_TOLERANCE:
            raise ModelError(f"{ck.folder}: the ONNX summarizer's logits differ from PyTorch's by {diff:.2g} (more "
                             f"than {LOGIT_TOLERANCE:g}) on the sample paragraphs; the export is refused")
        checks["fp32_max_abs_logit_diff"] = diff
        for beam in (1, 4):
            step(f"checking {'greedy' if beam == 1 else f'beam-{beam}'} output against transformers",
                 0.6 if beam == 1 else 0.7)
            ours = sm.decoder.generate(sources, beam=beam, max_length=max_len, length_penalty=applied["length_penalty"])
            for text, ids, got in zip(SUMMARY_SAMPLES, sources, ours):
                _cancel_point(cancelled)
                ref = _seq2seq_reference(model, ids, beam, max_len, raw)
                if ref != got:
                    raise ModelError(f"{ck.folder}: the ONNX summarizer's {'greedy' if beam == 1 else f'beam-{beam}'} "
                                     f"output for '{text[:50]}...' differs from transformers' generate ({len(got)} "
                                     f"tokens {got[:8]}... vs {len(ref)} tokens {ref[:8]}...); the export is refused")
            checks[f"{'greedy' if beam == 1 else f'beam{beam}'}_tokens_equal_transformers"] = True
        step("checking the int8 graphs", 0.8)
        greedy = sm.decoder.generate(sources, beam=1, max_length=max_len)
        greedy_q = summarizers["int8"].decoder.generate(sources, beam=1, max_length=max_len)
        checks["int8_greedy_identical_paragraphs"] = float(np.mean([a == b for a, b in zip(greedy, greedy_q)]))
        if left_out:
            checks["checkpoint_settings_not_applied"] = ", ".join(f"{k}={v}" for k, v in left_out.items())
        step("timing", 0.85)
        batch = hf_tok(texts, truncation=True, max_length=limit, padding=True, return_tensors="pt")
        speed = _summary_speed(summarizers, sources, model, batch, max_len, raw, cancelled)
    files = raw["files"]
    raw["metrics"] = {"import_checks": checks, "speed": speed, "sizes": _sizes(out, files)}
    return raw


def _summary_speed(summarizers: dict, sources: list[list[int]], model, batch, max_len: int, raw: dict,
                   cancelled: Callable[[], bool] | None) -> dict:
    """Summary tokens per second, beam 4, of each ONNX graph and of transformers' generate on the same batch
    (the best of two runs each; a cancel is heard between runs and, inside `cancellable`, during them)."""
    import torch

    speed = {}
    for v, sv in summarizers.items():
        n_out = sum(len(o) for o in sv.decoder.generate(sources, beam=4, max_length=max_len))
        secs = _timed(lambda sv=sv: sv.decoder.generate(sources, beam=4, max_length=max_len), 2, cancelled)
        speed[f"summary_tokens_per_s_{v}_beam4"] = n_out / secs
    with torch.no_grad():
        secs = _timed(lambda: model.generate(**batch, num_beams=4, do_sample=False, max_new_tokens=max_len,
                                             min_length=raw["min_length"],
                                             no_repeat_ngram_size=raw["no_repeat_ngram_size"]), 2, cancelled)
    speed["summary_tokens_per_s_pytorch_beam4"] = n_out / secs
    return speed


def decoder_logits(sm, ids: list[int], target: list[int]) -> np.ndarray:
    """The ONNX encoder and decoder (no cache) of a summarizer run on `ids`, the decoder reading the start token
    and `target`: its logits at every step (what PyTorch's forward gives for the same tokens)."""
    src = np.array([ids], dtype=np.int64)
    mask = np.ones_like(src)
    g = sm.decoder.graphs
    hidden = g.encoder({"input_ids": src, "attention_mask": mask})
    hidden = hidden.get("last_hidden_state", next(iter(hidden.values())))
    start = sm.decoder._start_id(sm.decoder.target_lang)
    dec = np.array([[start, *target]], dtype=np.int64)
    return g.decoder({"input_ids": dec, "encoder_attention_mask": mask, "encoder_hidden_states": hidden},
                     ["logits"])["logits"][0]


def _decoder_logit_diff(sm, model, ids: list[int], target: list[int]) -> float:
    """Largest difference between the ONNX and PyTorch logits, teacher-forced on `target`."""
    import torch

    ours = decoder_logits(sm, ids, target)
    start = sm.decoder._start_id(sm.decoder.target_lang)
    with torch.no_grad():
        ref = model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                    decoder_input_ids=torch.tensor([[start, *target]])).logits[0].numpy()
    return float(np.abs(ours - ref).max())


def _save_tokenizer_json(ck: Checkpoint, hf_tok, out: Path) -> None:
    if (ck.folder / "tokenizer.json").is_file():
        shutil.copyfile(ck.folder / "tokenizer.json", out / "tokenizer.json")
    elif getattr(hf_tok, "backend_tokenizer", None) is not None:
        hf_tok.backend_tokenizer.save(str(out / "tokenizer.json"))
    else:
        raise ModelError(f"{ck.folder}: the tokenizer has no fast (tokenizer.json) form the app can run")


# ---- fine-tuning bases (plain encoders, sentence-transformers) ----------------------------------------

def export_encoder(ck: Checkpoint, out: Path, step: Step | None = None,
                   cancelled: Callable[[], bool] | None = None) -> dict:
    """A plain encoder as a fine-tuning base: its weights as model.safetensors + config.json (no head), its
    tokenizer.json, and the checks (the app's tokenizer gives transformers' ids; the saved weights give the
    source's hidden states); the manifest's fields. No ONNX graph: a base is trained, not run."""
    import torch
    from transformers import AutoModel

    from app.core.encoder_text import EncoderTokenizer
    from app.core.hf_import import sentence_transformers_pooling

    step = step or (lambda _what, _f: None)
    step("loading the checkpoint", 0.05)
    check_weights(ck.folder)
    hf_tok = _hf_tokenizer(ck)
    model = _load(ck, "AutoModel")
    _save_tokenizer_json(ck, hf_tok, out)
    max_length = _max_length(ck, hf_tok)
    tok = EncoderTokenizer(out / "tokenizer.json", max_length)
    ours = tok.encode(SAMPLES)
    _check_tokenizer(ours, hf_tok(SAMPLES, truncation=True, max_length=max_length)["input_ids"], SAMPLES, ck.folder)
    _cancel_point(cancelled)
    step("saving the encoder's weights", 0.3)
    model.config.architectures = [type(model).__name__]
    model.save_pretrained(str(out), safe_serialization=True)
    for extra in ("generation_config.json",):
        (out / extra).unlink(missing_ok=True)
    step("checking the saved weights", 0.6)
    again = AutoModel.from_pretrained(str(out), local_files_only=True, attn_implementation="eager",
                                      dtype=torch.float32).eval()
    feeds = _feeds(ours, tok.pad_id)
    with torch.no_grad():
        args = {"input_ids": torch.from_numpy(feeds["input_ids"]), "attention_mask": torch.from_numpy(feeds["attention_mask"])}
        a, b = model(**args).last_hidden_state, again(**args).last_hidden_state
    diff = float((a - b).abs().max())
    if not diff <= 1e-5:
        raise ModelError(f"{ck.folder}: the saved encoder's hidden states differ from the checkpoint's by {diff:.2g}")
    pooling = sentence_transformers_pooling(ck.folder)
    checks = {"samples": len(SAMPLES), "tokenizer_matches_transformers": True,
              "saved_weights_max_abs_hidden_diff": diff, "hidden_size": int(model.config.hidden_size),
              "layers": int(getattr(model.config, "num_hidden_layers", 0) or getattr(model.config, "n_layers", 0)),
              "sentence_transformers_pooling": pooling or "not a sentence-transformers folder",
              "fine_tuning_pooling": "mean over tokens (the app's recipe)"}
    files = sorted(["config.json", "model.safetensors", "tokenizer.json"])
    return {"max_length": max_length, "tokenizer": {"type": "tokenizers", "file": "tokenizer.json"},
            "graphs": {}, "files": files, "encoder_model_type": ck.model_type,
            "metrics": {"import_checks": checks, "sizes": _sizes(out, files)}}


# ---- the folder ----------------------------------------------------------------------------------

def export_checkpoint(ck: Checkpoint, out: Path, model_id: str, name: str | None = None,
                      step: Step | None = None, cancelled: Callable[[], bool] | None = None) -> Path:
    """Export `ck` into the empty folder `out` with manifest.json and MODEL_CARD.md; returns `out`."""
    from app.core.registry import write_manifest

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if ck.kind == "translator":
        fields = export_translator(ck, out, model_id, step, cancelled)
        languages = [ck.source_lang, ck.target_lang]
    elif ck.kind == "summarizer":
        fields = export_summarizer(ck, out, model_id, step, cancelled)
        languages = _card_languages(ck.folder)
    elif ck.kind == "encoder":
        fields = export_encoder(ck, out, step, cancelled)
        languages = _card_languages(ck.folder)
    else:
        fields = export_classifier(ck, out, step, cancelled)
        languages = _card_languages(ck.folder)  # a multilingual classifier reads them all (none named: English)
    source = f"{ck.source_id}@{ck.revision}" if ck.revision else ck.source_id
    fields.update({
        "id": model_id, "version": "1.0.0", "task": ck.task,
        "name": name or f"{ck.source_id} ({ck.architecture})",
        "languages": languages, "license": ck.license or "not stated in the checkpoint's card",
        "base_model": source, "origin": "user", "architecture": ck.architecture,
        "imported_from": {"id": ck.source_id, "revision": ck.revision, "architecture": ck.architecture,
                          "parameters_estimated": ck.parameters},
    })
    if ck.task == "sentiment":
        fields["neutral_band"] = 0.0  # the checkpoint's own probabilities, unless the user sets a band
    elif ck.task == CLASSIFICATION:  # document and per-sentence labels, like the shipped sentiment model
        fields["classification"] = {"name": classification_name(model_id), "unit": "sentence"}
    (out / "MODEL_CARD.md").write_text(model_card(fields), encoding="utf-8")
    write_manifest(out, fields)
    if step is not None:
        step("written", 1.0)
    return out


def _card_languages(folder: Path) -> list[str]:
    """The `language:` list of a hub model card's front matter (README.md); [] when it names none."""
    import re

    readme = Path(folder) / "README.md"
    if not readme.is_file() or readme.is_symlink():
        return []
    text = readme.read_text(encoding="utf-8", errors="replace")[:200_000]
    if not text.startswith("---"):
        return []
    front = text[3:].split("\n---", 1)[0]
    # `language: en`, `language: [en, fr]` or a YAML list on the lines below (`\s*` after the colon would
    # swallow the line break and read the list's first item as "- en", dropping it)
    m = re.search(r"^language:[ \t]*(.*)$((?:\n[ \t]*-[ \t]*.*)*)", front, re.M)
    if not m:
        return []
    first = m.group(1).strip()
    items = first.strip("[]").split(",") if first else []
    items += re.findall(r"-[ \t]*(.*)", m.group(2))
    items = [x.strip().strip("'\"") for x in items]
    return list(dict.fromkeys(x for x in items if re.fullmatch(r"[a-z]{2,3}", x)))[:20]


def model_card(m: dict) -> str:
    """MODEL_CARD.md of an imported checkpoint: where it came from, its licence, sizes, checks and speed."""
    metrics = m.get("metrics", {})
    checks, speed, sizes = metrics.get("import_checks", {}), metrics.get("speed", {}), metrics.get("sizes", {})
    how = ("saved as a fine-tuning base (its weights as model.safetensors, no head and no ONNX graph: the "
           "Fine-tune view and `albert-studio finetune --base ID` start from it)" if m["task"] == "encoder" else
           "exported to ONNX with torch.onnx (opset 17) and quantized to dynamic int8 with ONNX Runtime")
    task = {"encoder": "fine-tuning base", "summary": "abstractive summary"}.get(m["task"], m["task"])
    lines = [f"# {m['name']}", "",
             f"Imported with `albert-studio models add` from **{m['base_model']}** ({m['architecture']}), {how}.", "",
             f"- Task: {task}" + (f" (labels: {', '.join(m['labels'])})" if m.get("labels") else ""),
             f"- Licence: {m['license']}",
             f"- Parameters (estimated from the config): {m['imported_from']['parameters_estimated']:,}"]
    if m.get("abstractive"):
        a = m["abstractive"]
        lines.append(f"- Writing: {a['num_beams']} beams, length penalty {a['length_penalty']:g}, "
                     f"{a.get('min_length', 0)} to {a['max_new_tokens']} tokens per part of at most "
                     f"{m['max_source_tokens']} input tokens"
                     + (f", no repeated {a['no_repeat_ngram_size']}-grams" if a.get("no_repeat_ngram_size") else "")
                     + (f", prefix '{a['prefix']}'" if a.get("prefix") else ""))
    lines += ["", "## Files", "", "| file | bytes |", "|---|---:|"]
    lines += [f"| {f} | {n:,} |" for f, n in sizes.items()]
    lines += ["", "## Checks on import", ""]
    lines += [f"- {k.replace('_', ' ')}: {_fmt(v)}" for k, v in checks.items()]
    if speed:
        lines += ["", "## Speed on this machine (one run at import)", ""]
        lines += [f"- {k.replace('_', ' ')}: {_fmt(v)}" for k, v in speed.items()]
    lines += ["", "Every file's sha256 is in manifest.json and checked whenever the model is loaded.", ""]
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return str(v)
