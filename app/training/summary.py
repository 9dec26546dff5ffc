"""Train the extractive summarizer on BBC News (extractive reference summaries) and evaluate it.

    python -m app.training.summary build      # export encoder, embed, train scorer, tune, write model
    python -m app.training.summary evaluate   # ROUGE vs Lead-3, TextRank, LexRank on the validation split

Sentence labels: a sentence is positive when the reference summary (made of article sentences)
contains it. The scorer is a small MLP over ALBERT sentence embeddings plus position features;
selection uses MMR with a redundancy weight tuned on a dev split.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import time
from pathlib import Path

import numpy as np

from app.training.common import DATA_DIR, MODELS_DIR, RUNS_DIR, get_logger, quantize_int8, read_jsonl, save_json, seed_everything, teacher_dir

MODEL_ID = "albert-summary-en"


def norm(s: str) -> str:
    return re.sub(r"\s+", "", s).lower()


def load_articles():
    """(id, body text without the headline, reference summary, sentences, labels)."""
    from app.core.segment import split_sentences

    out = []
    for r in read_jsonl(DATA_DIR / "bbc-summary" / "train.jsonl"):
        lines = r["article"].strip().split("\n", 1)
        body = lines[1].strip() if len(lines) > 1 else lines[0]
        sents = [s.text for s in split_sentences(body)]
        ref = norm(r["summary"])
        labels = [1 if norm(s) and norm(s) in ref else 0 for s in sents]
        if len(sents) >= 3:
            out.append({"id": r["id"], "body": body, "summary": r["summary"], "sents": sents, "labels": labels})
    return out


def splits(seed: int = 13, n_val: int = 300, n_dev: int = 150, limit: int = 0):
    arts = load_articles()
    random.Random(seed).shuffle(arts)
    if limit:  # smoke runs only
        arts, n_val, n_dev = arts[:limit], limit // 4, limit // 8
    return arts[n_val + n_dev:], arts[n_val:n_val + n_dev], arts[:n_val]


class _Pool:
    """Mean pooling wrapper so the encoder graph outputs one embedding per sentence."""

    def __new__(cls, encoder):
        import torch

        class Pool(torch.nn.Module):
            def __init__(self, enc):
                super().__init__()
                self.enc = enc

            def forward(self, input_ids, attention_mask):
                h = self.enc(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                m = attention_mask.unsqueeze(-1).to(h.dtype)
                return (h * m).sum(1) / m.sum(1).clamp(min=1e-6)

        return Pool(encoder)


def export_encoder(encoder_dir: Path, dest: Path) -> None:
    import torch
    from transformers import AlbertModel

    enc = AlbertModel.from_pretrained(str(encoder_dir), add_pooling_layer=False, attn_implementation="eager").eval()
    ids = torch.tensor([[2, 7592, 2088, 999, 3]])
    torch.onnx.export(
        _Pool(enc), (ids, torch.ones_like(ids)), str(dest / "encoder.onnx"), dynamo=False, opset_version=17,
        input_names=["input_ids", "attention_mask"], output_names=["sentence_embedding"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                      "sentence_embedding": {0: "batch"}},
    )
    quantize_int8(dest / "encoder.onnx", dest / "encoder.int8.onnx")
    shutil.copy(teacher_dir() / "tokenizer.json", dest / "tokenizer.json")


def embed_articles(arts, encoder) -> list[tuple[np.ndarray, list[int]]]:
    return [encoder.embed(a["sents"]) for a in arts]


def train_scorer(Xtr, ytr, Xdv, ydv, log, epochs: int = 40):
    """The sentence scorer (2-layer MLP, binary cross-entropy on in-summary labels), best dev-loss epoch kept."""
    import torch

    dim = Xtr.shape[1]
    scorer = torch.nn.Sequential(torch.nn.Linear(dim, 256), torch.nn.GELU(), torch.nn.Dropout(0.2), torch.nn.Linear(256, 1))
    opt = torch.optim.AdamW(scorer.parameters(), lr=1e-3, weight_decay=1e-2)
    lossf = torch.nn.BCEWithLogitsLoss()
    best = (1e9, None)
    for epoch in range(epochs):
        scorer.train()
        perm = torch.randperm(len(Xtr))
        for i in range(0, len(perm), 256):
            b = perm[i:i + 256]
            loss = lossf(scorer(Xtr[b]).squeeze(-1), ytr[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        scorer.eval()
        with torch.no_grad():
            dl = lossf(scorer(Xdv).squeeze(-1), ydv).item()
        if dl < best[0]:
            best = (dl, {k: v.clone() for k, v in scorer.state_dict().items()})
        log.info(f"epoch {epoch} dev loss {dl:.4f}")
    scorer.load_state_dict(best[1])
    scorer.eval()
    return scorer


def rouge_eval(pairs):
    from rouge_score import rouge_scorer

    sc = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    tot = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for pred, ref in pairs:
        s = sc.score(ref, pred)
        for k in tot:
            tot[k] += s[k].fmeasure
    return {k: round(100 * v / max(len(pairs), 1), 2) for k, v in tot.items()}


def build(args) -> None:
    import torch

    from app.core.encoder_text import EncoderTokenizer
    from app.core.registry import write_manifest
    from app.core.runtime import RuntimeOptions, Session
    from app.core.summary import SentenceEncoder, select, sentence_features

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    log = get_logger("summary", out / "train.log")
    dest = args.models / MODEL_ID
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    export_encoder(args.encoder, tmp)
    encoder = SentenceEncoder(Session(tmp / "encoder.int8.onnx", RuntimeOptions(device="cpu", intra_op_threads=args.threads)),
                              EncoderTokenizer(tmp / "tokenizer.json", 128))
    train, dev, val = splits(args.seed, limit=args.limit)
    log.info(f"articles: train {len(train)} dev {len(dev)} val {len(val)}")
    t0 = time.time()
    feats = {}
    for name, arts in (("train", train), ("dev", dev), ("val", val)):
        feats[name] = embed_articles(arts, encoder)
        log.info(f"embedded {name} in {time.time() - t0:.0f}s")

    def xy(name, arts):
        X = np.concatenate([sentence_features(e, l) for e, l in feats[name]])
        y = np.concatenate([np.array(a["labels"], dtype=np.float32) for a in arts])
        return torch.tensor(X), torch.tensor(y)

    Xtr, ytr = xy("train", train)
    Xdv, ydv = xy("dev", dev)
    scorer = train_scorer(Xtr, ytr, Xdv, ydv, log)
    dim = Xtr.shape[1]

    def summaries(arts, name, k_of, lam):
        out = []
        for a, (e, l) in zip(arts, feats[name]):
            with torch.no_grad():
                s = torch.sigmoid(scorer(torch.tensor(sentence_features(e, l))).squeeze(-1)).numpy()
            unit = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-6)
            idx = select(s, unit, k_of(a), lam)
            out.append((" ".join(a["sents"][i] for i in idx), a["summary"]))
        return out

    lam_best = (-1.0, 0.0)
    for lam in (0.0, 0.1, 0.2, 0.3, 0.5):
        r = rouge_eval(summaries(dev, "dev", lambda a: 3, lam))
        log.info(f"redundancy {lam}: dev {r}")
        lam_best = max(lam_best, (r["rouge2"], lam))
    lam = lam_best[1]
    log.info(f"chosen redundancy weight {lam}")
    torch.onnx.export(scorer, (torch.zeros(3, dim),), str(tmp / "scorer.onnx"), dynamo=False, opset_version=17,
                      input_names=["features"], output_names=["logits"],
                      dynamic_axes={"features": {0: "sentences"}, "logits": {0: "sentences"}})
    np.save(out / "val_ids.npy", np.array([a["id"] for a in val]))
    metrics_file = out / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
    write_manifest(tmp, {
        "id": MODEL_ID, "version": args.version, "task": "summary",
        "name": "English extractive summarizer (distilled ALBERT + trained scorer)",
        "architecture": "albert", "languages": ["en"], "max_length": 128,
        "tokenizer": {"type": "wordpiece", "file": "tokenizer.json", "lowercase": True},
        # only the int8 encoder ships (size budget); the fp32 graph stays in the run folder
        "graphs": {"encoder_int8": {"file": "encoder.int8.onnx", "inputs": ["input_ids", "attention_mask"]},
                   "scorer": {"file": "scorer.onnx", "inputs": ["features"]}},
        "default_graph": "encoder_int8", "precision": "int8", "redundancy": lam,
        "files": ["encoder.int8.onnx", "scorer.onnx", "tokenizer.json"],
        "metrics": metrics,
        "license": "Apache-2.0 (encoder distilled from all-MiniLM-L6-v2, Apache-2.0); scorer trained on BBC News Summary (non-commercial research use)",
        "base_model": "albert-encoder-en (distilled from sentence-transformers/all-MiniLM-L6-v2)",
        "training_data": "BBC News Summary (Greene & Cunningham 2006), 1,780 articles; 300 held out for validation",
    })
    shutil.move(str(tmp / "encoder.onnx"), str(out / "encoder.fp32.onnx"))
    card = out / "MODEL_CARD.md"
    if not card.exists():  # the card kept with the recipe; its numbers are the last measured ones
        card = Path(__file__).resolve().parent / "cards" / "albert-summary-en.md"
    if card.exists():
        shutil.copy(card, tmp / "MODEL_CARD.md")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    log.info(f"wrote {dest}")


def tune(args) -> None:
    """Choose the redundancy weight and length bonus on the dev split (never validation); update the manifest."""
    from app.core.summary import Summarizer, select

    _, dev, _ = splits(args.seed, limit=args.limit)
    folder = args.models / MODEL_ID
    model = Summarizer.from_folder(folder)
    scored = [(a, *model.score(a["sents"])) for a in dev]
    best = (-1.0, 0.0, 0.0)
    for lam in (0.0, 0.25, 0.5, 0.75):
        for beta in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3):
            pairs = []
            for a, p, unit in scored:
                idx = select(p, unit, 3, lam, [len(s.split()) for s in a["sents"]], beta)
                pairs.append((" ".join(a["sents"][i] for i in idx), a["summary"]))
            r = rouge_eval(pairs)
            mean = (r["rouge1"] + r["rouge2"] + r["rougeL"]) / 3
            print(f"redundancy {lam} length_bonus {beta}: dev {r}", flush=True)
            best = max(best, (mean, lam, beta))
    raw = json.loads((folder / "manifest.json").read_text())
    raw["redundancy"], raw["length_bonus"] = best[1], best[2]
    raw["tuned_on"] = "BBC dev split (150 articles), mean of ROUGE-1/2/L F1 at 3 sentences"
    (folder / "manifest.json").write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n")
    print(f"chosen redundancy {best[1]}, length bonus {best[2]}")


class _Words:
    """Word tokenizer for sumy that needs no NLTK data download."""

    def to_words(self, text):
        return re.findall(r"[A-Za-z0-9']+", text)

    def to_sentences(self, text):
        from app.core.segment import split_sentences

        return [s.text for s in split_sentences(text)]


def sumy_summary(sents, k, kind):
    from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
    from sumy.nlp.stemmers import Stemmer
    from sumy.summarizers.lex_rank import LexRankSummarizer
    from sumy.summarizers.text_rank import TextRankSummarizer

    tok = _Words()
    doc = ObjectDocumentModel([Paragraph([Sentence(s, tok) for s in sents])])
    summ = (TextRankSummarizer if kind == "textrank" else LexRankSummarizer)(Stemmer("english"))
    picked = {str(s) for s in summ(doc, k)}
    return " ".join(s for s in sents if s in picked)


def evaluate(args) -> dict:
    """ROUGE F1 of the shipped summarizer vs Lead-k, TextRank and LexRank, same k, validation split."""
    from app.core.summary import Summarizer

    _, _, val = splits(args.seed, limit=args.limit)
    model = Summarizer.from_folder(args.models / MODEL_ID)
    from app.core.segment import split_sentences

    results = {}
    for klabel, k_of in (("3 sentences", lambda a: 3), ("reference length", lambda a: max(1, sum(a["labels"])))):
        rows = {"ALBERT summarizer": [], "Lead": [], "TextRank (sumy)": [], "LexRank (sumy)": []}
        for a in val:
            k = k_of(a)
            items = split_sentences(a["body"])
            rows["ALBERT summarizer"].append((model.summarize(a["body"], sentences=k, sents=items).text, a["summary"]))
            rows["Lead"].append((" ".join(a["sents"][:k]), a["summary"]))
            rows["TextRank (sumy)"].append((sumy_summary(a["sents"], k, "textrank"), a["summary"]))
            rows["LexRank (sumy)"].append((sumy_summary(a["sents"], k, "lexrank"), a["summary"]))
        results[klabel] = {name: rouge_eval(p) for name, p in rows.items()}
    print(f"BBC News validation split: {len(val)} articles (seed {args.seed}); ROUGE F1 x100 (rouge-score, stemmed)")
    for klabel, table in results.items():
        print(f"\nsummary length: {klabel}")
        print(f"{'method':22s} {'R-1':>6s} {'R-2':>6s} {'R-L':>6s}")
        for name, r in table.items():
            print(f"{name:22s} {r['rouge1']:6.2f} {r['rouge2']:6.2f} {r['rougeL']:6.2f}")
    save_json(results, args.out / "metrics.json")
    from app.core.registry import write_manifest

    folder = args.models / MODEL_ID  # the measured numbers travel with the model
    raw = json.loads((folder / "manifest.json").read_text())
    raw["metrics"] = {"validation": f"BBC News Summary, {len(val)} held-out articles, ROUGE F1 x100", **results}
    write_manifest(folder, raw)
    return results


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["build", "tune", "evaluate"])
    ap.add_argument("--out", type=Path, default=RUNS_DIR / "summary")
    ap.add_argument("--encoder", type=Path, default=RUNS_DIR / "distill" / "encoder")
    ap.add_argument("--models", type=Path, default=MODELS_DIR)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--limit", type=int, default=0, help="use only this many articles (smoke runs)")
    args = ap.parse_args(argv)
    {"build": build, "tune": tune, "evaluate": evaluate}[args.command](args)


if __name__ == "__main__":
    main()
