"""Turn the default sentiment model into a shared encoder: one pass per document, heads read its hidden states.

    python -m app.training.shared_encoder graphs     # add the hidden-state outputs to both graphs
    python -m app.training.shared_encoder features   # encode the training/validation text once (cached .npz)
    python -m app.training.shared_encoder sentence   # fit + measure the per-sentence span head
    python -m app.training.shared_encoder summary    # fit + measure the summary scorer on span features
    python -m app.training.shared_encoder install    # write albert-sentiment-en 2.1.0 + albert-summary-en 2.0.0
    python -m app.training.shared_encoder measure    # document accuracy, one pass vs separate, default analysis
    python -m app.training.shared_encoder retop --src EXPORT --dest CAND   # a new top (layers 5-6) on the same layer 4
    python -m app.training.shared_encoder promote --src CAND               # CAND becomes the shipped model

The encoder's weights are not changed: the graphs gain two outputs (the last layer's and a middle layer's
hidden states), so window logits, document labels and the document head stay exactly what they were.

Per-sentence sentiment: a small head over each sentence's span, pooled from the window it sits in. Trained on
SST-2 training sentences packed in windows with other training sentences (gold labels), on each of them
alone, and on sentences of IMDB training reviews in their own review windows, labelled by the sentiment model
scoring each sentence alone (the teacher the head replaces). A sentence alone in its window keeps the window's
own logits (it is exactly the standalone score).

Summary: the summary model's scorer is retrained on sentence_features() of the span-pooled middle-layer
vectors of BBC training articles (same splits as app.training.summary), so summaries read the same pass.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from pathlib import Path

import numpy as np

from app.training.common import REPO_ROOT, RUNS_DIR, get_logger, seed_everything

SENTIMENT_ID = "albert-sentiment-en"
SUMMARY_ID = "albert-summary-en"
LAYER_TENSOR = "/albert/encoder/albert_layer_groups.{k}/albert_layers.0/full_layer_layer_norm/LayerNormalization_output_0"
HIDDEN = {"hidden_last": 5, "hidden_mid": 3}  # output name -> layer group whose output it is (0-based)
GRAPHS = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
SENTENCE_HEAD = "sentence_head.onnx"
SUMMARY_SCORER = "scorer.onnx"


def add_hidden_outputs(src: Path, dst: Path, outputs: dict[str, int] = HIDDEN, hidden: int = 384) -> None:
    """A copy of an ALBERT classifier graph that also returns the hidden states of the given layer groups."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(src))
    g = model.graph
    produced = {o for n in g.node for o in n.output}
    have = {o.name for o in g.output}
    for name, k in outputs.items():
        tensor = LAYER_TENSOR.format(k=k)
        if tensor not in produced:
            raise SystemExit(f"{src}: no tensor {tensor}")
        if name in have:
            continue
        g.node.append(helper.make_node("Identity", [tensor], [name], name=f"output_{name}"))
        g.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", "seq", hidden]))
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))


def run_dir() -> Path:
    return RUNS_DIR / "shared_encoder"


def cmd_graphs(args) -> None:
    out = run_dir()
    out.mkdir(parents=True, exist_ok=True)
    src = args.models / SENTIMENT_ID
    for graph, file in GRAPHS.items():
        add_hidden_outputs(src / file, out / file)
        print(f"{graph}: {out / file}")
    for f in ("tokenizer.json", "document_head.onnx", "manifest.json", "MODEL_CARD.md"):
        shutil.copy(src / f, out / f)


def _session(graph: str, threads: int):
    from app.core.encoder_text import EncoderTokenizer
    from app.core.runtime import RuntimeOptions, Session

    folder = run_dir()
    sess = Session(folder / GRAPHS[graph], RuntimeOptions(device="cpu", intra_op_threads=threads))
    return sess, EncoderTokenizer(folder / "tokenizer.json", 256)


def _standalone_logits(sess, tok, texts: list[str]) -> np.ndarray:
    from app.core.runtime import length_batches, pad

    seqs = tok.encode(texts)
    out = np.zeros((len(seqs), 2), dtype=np.float32)
    for batch in length_batches([len(s) for s in seqs], 8192):
        ids, mask = pad([seqs[i] for i in batch], tok.pad_id)
        out[batch] = sess({"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
                          ["logits"])["logits"]
    return out


def _packed_docs(rows: list[tuple[str, int]], rng: random.Random, per_doc: tuple[int, int] = (3, 12)):
    """Random training sentences grouped into pseudo-documents (each sentence keeps its label)."""
    rows = list(rows)
    rng.shuffle(rows)
    docs, i = [], 0
    while i < len(rows):
        n = rng.randint(*per_doc)
        docs.append(rows[i:i + n])
        i += n
    return docs


def _encode(sess, tok, docs: list[list[str]]):
    from app.core.shared_encoder import encode_documents

    enc = encode_documents(sess, tok, docs, hidden=list(HIDDEN))
    return enc


def _stack(enc, key: str) -> np.ndarray:
    return np.concatenate([e.pooled[key] for e in enc]).astype(np.float32)


def cmd_features(args) -> None:
    from app.core.segment import split_sentences
    from app.training.sentiment_data import imdb_splits, sst2_splits
    from app.training.summary import splits as bbc_splits

    out = run_dir()
    log = get_logger("shared", out / "train.log")
    rng = random.Random(args.seed)
    sess, tok = _session(args.graph, args.threads)
    t0 = time.time()

    def save(name: str, **arrays) -> None:
        np.savez_compressed(out / f"feat_{args.graph}_{name}.npz", **arrays)
        log.info(f"{name}: {', '.join(f'{k} {v.shape}' for k, v in arrays.items())} ({time.time() - t0:.0f}s)")

    sst_train, _calib, sst_val = sst2_splits()
    full = [r for r in sst_train if len(r[0].split()) >= 5]  # sentences and long phrases, not 1-word phrases
    rng.shuffle(full)
    full = full[: args.sst_train]
    for name, rows in (("sst_val", sst_val), ("sst_train", full)):
        docs = _packed_docs(rows, rng)
        flat = [r for d in docs for r in d]
        y = np.array([lab for _, lab in flat], dtype=np.float32)
        enc1 = _encode(sess, tok, [[t] for t, _ in flat])  # each sentence alone: the standalone classifier
        alone_logits = np.concatenate([e.window_logits for e in enc1])
        save(f"{name}_single", last=_stack(enc1, "hidden_last"), mid=_stack(enc1, "hidden_mid"), y=y,
             logits=alone_logits)
        enc = _encode(sess, tok, [[t for t, _ in d] for d in docs])
        save(f"{name}_packed", last=_stack(enc, "hidden_last"), mid=_stack(enc, "hidden_mid"), y=y,
             alone=np.concatenate([e.alone for e in enc]), teacher=alone_logits)

    imdb_train, _c, imdb_val = imdb_splits()
    for name, reviews in (("imdb_train", imdb_train[: args.imdb_train]), ("imdb_val", imdb_val[: args.imdb_val])):
        docs = [[s.text for s in split_sentences(t)] for t, _ in reviews]
        enc = _encode(sess, tok, docs)
        teacher = _standalone_logits(sess, tok, [s for d in docs for s in d])
        save(name, last=_stack(enc, "hidden_last"), mid=_stack(enc, "hidden_mid"), teacher=teacher,
             alone=np.concatenate([e.alone for e in enc]))

    train, dev, val = bbc_splits(args.seed)
    for name, arts in (("bbc_train", train), ("bbc_dev", dev), ("bbc_val", val)):
        enc = _encode(sess, tok, [a["sents"] for a in arts])
        save(name, last=_stack(enc, "hidden_last"), mid=_stack(enc, "hidden_mid"),
             n=np.array([e.n_sentences for e in enc]), tokens=np.concatenate([e.sentence_tokens for e in enc]))


def _load(graph: str, name: str) -> dict:
    with np.load(run_dir() / f"feat_{graph}_{name}.npz") as z:
        return {k: z[k] for k in z.files}


def _inputs(d: dict, which: str) -> np.ndarray:
    return np.concatenate([d[k] for k in which.split("+")], axis=1)


def _softmax_pos(logits: np.ndarray, temperature: float) -> np.ndarray:
    z = (logits[:, 1] - logits[:, 0]) / temperature
    return 1.0 / (1.0 + np.exp(-z))


def sentence_head_module(dim: int, hidden: int):
    import torch

    return torch.nn.Sequential(torch.nn.LayerNorm(dim), torch.nn.Linear(dim, hidden), torch.nn.GELU(),
                               torch.nn.Dropout(0.1), torch.nn.Linear(hidden, 2))


def fit_sentence_head(args, log):
    """Returns (torch head, input names, validation report)."""
    import torch

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    T = args.temperature
    which = args.inputs
    parts = []
    for name, gold in (("sst_train_packed", True), ("sst_train_single", True), ("imdb_train", False)):
        d = _load(args.graph, name)
        X = _inputs(d, which)
        if gold:
            target = d["y"]
            if "teacher" in d:  # soft: mix gold with the standalone model (what the head replaces)
                target = 0.5 * d["y"] + 0.5 * _softmax_pos(d["teacher"], T)
            elif "logits" in d:
                target = 0.5 * d["y"] + 0.5 * _softmax_pos(d["logits"], T)
        else:
            target = _softmax_pos(d["teacher"], T)
        parts.append((X, target.astype(np.float32)))
    X = torch.tensor(np.concatenate([p[0] for p in parts]))
    y = torch.tensor(np.concatenate([p[1] for p in parts]))
    head = sentence_head_module(X.shape[1], args.hidden)
    opt = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=1e-2)
    val = _load(args.graph, "sst_val_packed")
    Xv = torch.tensor(_inputs(val, which))
    steps_per_epoch = (len(X) + 255) // 256
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch)
    for epoch in range(args.epochs):
        head.train()
        perm = torch.randperm(len(X))
        for i in range(0, len(perm), 256):
            b = perm[i:i + 256]
            logits = head(X[b])
            z = logits[:, 1] - logits[:, 0]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        head.eval()
        with torch.no_grad():
            lv = head(Xv)
            acc = float(((lv[:, 1] > lv[:, 0]).numpy() == (val["y"] > 0.5)).mean())
        log.info(f"epoch {epoch}: loss {loss.item():.4f}, SST-2 validation (packed) {acc:.4f}")
    return head, which


def head_logits(head, X: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return head(torch.tensor(X)).numpy()


def sentence_report(head, which: str, graph: str, T: float) -> dict:
    """SST-2 validation sentences: the classifier on each alone, the span head on each alone, the span head on
    each packed among other validation sentences, and that with the app's rule (alone in a window -> window
    logits); IMDB validation reviews: agreement of per-sentence labels with scoring each sentence alone."""
    single, packed, imdb = _load(graph, "sst_val_single"), _load(graph, "sst_val_packed"), _load(graph, "imdb_val")
    y = single["y"] > 0.5
    acc = lambda lg, yy: round(float(((lg[:, 1] > lg[:, 0]) == yy).mean()), 4)
    hp = head_logits(head, _inputs(packed, which))
    rule = np.where(packed["alone"][:, None], packed["teacher"], hp)
    hi = head_logits(head, _inputs(imdb, which))
    rule_i = np.where(imdb["alone"][:, None], imdb["teacher"], hi)
    teacher_i = imdb["teacher"][:, 1] > imdb["teacher"][:, 0]
    pt = _softmax_pos(imdb["teacher"], T)
    ph = 1 / (1 + np.exp(-(rule_i[:, 1] - rule_i[:, 0])))
    return {
        "sst2_standalone_classifier": acc(single["logits"], y),
        "sst2_span_head_standalone": acc(head_logits(head, _inputs(single, which)), y),
        "sst2_span_head_packed": acc(hp, packed["y"] > 0.5),
        "sst2_packed_app_rule": acc(rule, packed["y"] > 0.5),
        "sst2_packed_standalone_classifier": acc(packed["teacher"], packed["y"] > 0.5),
        "imdb_sentences": int(len(teacher_i)),
        "imdb_sentence_agreement_with_standalone": round(float(((rule_i[:, 1] > rule_i[:, 0]) == teacher_i).mean()), 4),
        "imdb_sentence_mean_abs_p_diff": round(float(np.abs(pt - ph).mean()), 4),
    }


def export_sentence_head(head, which: str, dest: Path) -> None:
    import torch

    head.eval()
    names = [{"last": "hidden_last", "mid": "hidden_mid"}[k] for k in which.split("+")]
    dims = [384] * len(names)

    class Wrap(torch.nn.Module):
        def __init__(self, h):
            super().__init__()
            self.h = h

        def forward(self, *xs):
            return self.h(torch.cat(xs, dim=1))

    torch.onnx.export(Wrap(head), tuple(torch.zeros(3, d) for d in dims), str(dest), dynamo=False, opset_version=17,
                      input_names=names, output_names=["logits"],
                      dynamic_axes={**{n: {0: "sentences"} for n in names}, "logits": {0: "sentences"}})


def cmd_sentence(args) -> None:
    import torch

    out = run_dir()
    log = get_logger("shared", out / "train.log")
    head, which = fit_sentence_head(args, log)
    rep = sentence_report(head, which, args.graph, args.temperature)
    if args.graph != "fp32" and (out / "feat_fp32_sst_val_single.npz").exists():
        rep["fp32"] = sentence_report(head, which, "fp32", args.temperature)
    log.info(f"sentence head ({which}, hidden {args.hidden}): {json.dumps(rep)}")
    torch.save({"state": head.state_dict(), "inputs": which, "hidden": args.hidden, "report": rep},
               out / "sentence_head.pt")
    export_sentence_head(head, which, out / SENTENCE_HEAD)
    (out / "sentence_head.json").write_text(json.dumps({"inputs": which, "temperature": 1.0}) + "\n")
    (out / "sentence_report.json").write_text(json.dumps(rep, indent=2) + "\n")


def _bbc_features(d: dict, which: str):
    from app.core.summary import sentence_features

    X = _inputs(d, which)
    feats, embs, at = [], [], 0
    for n in d["n"]:
        e = X[at: at + n]
        feats.append(sentence_features(e, d["tokens"][at: at + n]))
        embs.append(e)
        at += n
    return feats, embs


def cmd_summary(args) -> None:
    import torch

    from app.core.summary import select
    from app.training.summary import rouge_eval, splits as bbc_splits, train_scorer

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    out = run_dir()
    log = get_logger("shared", out / "train.log")
    train, dev, val = bbc_splits(args.seed)
    which = args.summary_inputs
    F = {name: _bbc_features(_load(args.graph, f"bbc_{name}"), which) for name in ("train", "dev", "val")}
    ytr = np.concatenate([np.array(a["labels"], dtype=np.float32) for a in train])
    ydv = np.concatenate([np.array(a["labels"], dtype=np.float32) for a in dev])
    Xtr, Xdv = torch.tensor(np.concatenate(F["train"][0])), torch.tensor(np.concatenate(F["dev"][0]))
    ytr, ydv = torch.tensor(ytr), torch.tensor(ydv)
    scorer = train_scorer(Xtr, ytr, Xdv, ydv, log)
    dim = Xtr.shape[1]

    def pairs(arts, name, lam, beta):
        res = []
        for a, f, e in zip(arts, *F[name]):
            with torch.no_grad():
                s = torch.sigmoid(scorer(torch.tensor(f)).squeeze(-1)).numpy()
            unit = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-6)
            idx = select(s, unit, 3, lam, [len(x.split()) for x in a["sents"]], beta)
            res.append((" ".join(a["sents"][i] for i in idx), a["summary"]))
        return res

    best_t = (-1.0, 0.0, 0.0)
    for lam in (0.0, 0.25, 0.5):
        for beta in (0.0, 0.1, 0.2, 0.3):
            r = rouge_eval(pairs(dev, "dev", lam, beta))
            best_t = max(best_t, ((r["rouge1"] + r["rouge2"] + r["rougeL"]) / 3, lam, beta))
    _, lam, beta = best_t
    rv = rouge_eval(pairs(val, "val", lam, beta))
    log.info(f"summary ({which}): redundancy {lam}, length bonus {beta}; validation 3 sentences {rv}")
    torch.onnx.export(scorer, (torch.zeros(3, dim),), str(out / SUMMARY_SCORER), dynamo=False, opset_version=17,
                      input_names=["features"], output_names=["logits"],
                      dynamic_axes={"features": {0: "sentences"}, "logits": {0: "sentences"}})
    (out / "summary_report.json").write_text(json.dumps(
        {"inputs": which, "redundancy": lam, "length_bonus": beta, "validation_3_sentences": rv}, indent=2) + "\n")


def cmd_measure(args) -> None:
    """Document accuracy in the app's default analysis (per-sentence scores on), one pass vs the separate
    path (every sentence also encoded alone) of the same model, on the IMDB and SST-2 validation splits."""
    from app.core.registry import read_manifest
    from app.core.runtime import RuntimeOptions
    from app.core.sentiment import SentimentModel
    from app.training.sentiment_data import imdb_splits, sst2_splits

    rt = RuntimeOptions(device="cpu", intra_op_threads=args.threads)
    man = read_manifest(args.models / SENTIMENT_ID)
    one = SentimentModel(man, rt, graph=args.graph)
    sep = SentimentModel(man, rt, graph=args.graph)
    sep.sentence_head = None
    _, _, imdb = imdb_splits()
    _, _, sst = sst2_splits()
    rows = {}
    for name, data in (("imdb", imdb[: args.imdb_val_docs]), ("sst2", sst)):
        texts, y = [t for t, _ in data], np.array([lab for _, lab in data])
        for label, m in (("one pass", one), ("separate", sep)):
            t0 = time.perf_counter()
            res = []
            for i in range(0, len(texts), 32):  # the batch job's chunks
                res += m.analyze_many(texts[i:i + 32])
            p = np.array([dict(r.probabilities)["positive"] for r in res])
            rows[f"{name} {label}"] = {"accuracy": round(float(((p >= 0.5) == y).mean()), 4),
                                       "docs_per_s": round(len(texts) / (time.perf_counter() - t0), 1)}
            print(name, label, rows[f"{name} {label}"], flush=True)
    (run_dir() / f"measure_{args.graph}.json").write_text(json.dumps(rows, indent=2) + "\n")


def cmd_install(args) -> None:
    """models/albert-sentiment-en -> 2.1.0 (same weights; hidden-state outputs + the sentence head) and
    models/albert-summary-en -> 2.0.0 (a scorer on the shared encoder's span vectors, no encoder of its own)."""
    from app.core.registry import write_manifest

    out = run_dir()
    sent_rep = json.loads((out / "sentence_report.json").read_text())
    summ_rep = json.loads((out / "summary_report.json").read_text())
    head_meta = json.loads((out / "sentence_head.json").read_text())
    # sentiment: the same folder, graphs replaced by the copies with hidden-state outputs
    dest = args.models / SENTIMENT_ID
    raw = json.loads((dest / "manifest.json").read_text())
    for f in (*GRAPHS.values(), SENTENCE_HEAD):
        shutil.copy(out / f, dest / f)
    raw["version"] = args.sentiment_version
    raw["encoder_outputs"] = {name: name for name in HIDDEN}
    raw["heads"] = {"sentence": {
        "file": SENTENCE_HEAD, "temperature": head_meta["temperature"],
        "inputs": [{"last": "hidden_last", "mid": "hidden_mid"}[k] for k in head_meta["inputs"].split("+")],
        "pooling": "mean over the sentence's word pieces in its window",
        "trained_on": ("SST-2 training sentences (leak-free split) packed with other training sentences and alone "
                       "(gold labels mixed with the standalone model's), sentences of 1,500 IMDB training reviews "
                       "in their review windows (the standalone model's probabilities)"),
        "measured": "python -m app.training.shared_encoder sentence",
        "metrics": sent_rep}}
    raw["encoder_layers"] = {name: f"output of layer {k + 1} of 6" for name, k in HIDDEN.items()}
    raw["files"] = [f for f in raw["files"]] + ([SENTENCE_HEAD] if SENTENCE_HEAD not in raw["files"] else [])
    write_manifest(dest, raw)
    # summary: a scorer only
    sdest = args.models / SUMMARY_ID
    old = json.loads((sdest / "manifest.json").read_text())
    tmp = sdest.with_name(sdest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    shutil.copy(out / SUMMARY_SCORER, tmp / SUMMARY_SCORER)
    card = Path(__file__).resolve().parent / "cards" / f"{SUMMARY_ID}.md"
    if (sdest / "MODEL_CARD.md").exists():
        shutil.copy(sdest / "MODEL_CARD.md", tmp / "MODEL_CARD.md")
    elif card.exists():
        shutil.copy(card, tmp / "MODEL_CARD.md")
    rv = summ_rep["validation_3_sentences"]
    metrics = dict(old.get("metrics", {}))
    metrics["3 sentences"] = dict(metrics.get("3 sentences", {}))
    metrics["3 sentences"]["ALBERT summarizer (own encoder, 1.2.0)"] = metrics["3 sentences"].get("ALBERT summarizer")
    metrics["3 sentences"]["ALBERT summarizer"] = rv
    metrics["measured"] = "python -m app.training.shared_encoder summary"
    write_manifest(tmp, {
        "id": SUMMARY_ID, "version": args.summary_version, "task": "summary",
        "name": "English extractive summarizer (a scorer on the sentiment model's encoder: one pass per document)",
        "architecture": "albert", "languages": ["en"], "max_length": 256,
        "shared_encoder": {"model": SENTIMENT_ID, "version": args.sentiment_version,
                           "inputs": [{"last": "hidden_last", "mid": "hidden_mid"}[k]
                                      for k in summ_rep["inputs"].split("+")]},
        "graphs": {"scorer": {"file": SUMMARY_SCORER, "inputs": ["features"]}},
        "default_graph": "scorer", "redundancy": summ_rep["redundancy"], "length_bonus": summ_rep["length_bonus"],
        "tuned_on": "BBC dev split (150 articles), mean of ROUGE-1/2/L F1 at 3 sentences",
        "files": [SUMMARY_SCORER], "metrics": metrics,
        "license": ("Apache-2.0 (the encoder is albert-sentiment-en's, built from all-MiniLM-L6-v2, Apache-2.0); "
                    "scorer trained on BBC News Summary (non-commercial research use)"),
        "base_model": f"{SENTIMENT_ID} {args.sentiment_version}: its layer-4 hidden states, mean-pooled per sentence",
        "training_data": old.get("training_data", "BBC News Summary"),
    })
    shutil.rmtree(sdest)
    tmp.rename(sdest)
    print(f"installed {SENTIMENT_ID} {args.sentiment_version} and {SUMMARY_ID} {args.summary_version}")


def cmd_retop(args) -> None:
    """A new top on the shared encoder: the graphs of a sentiment export whose lower layer groups were frozen
    while training (python -m app.training.sentiment train --freeze-below 4 ..., then export) get the hidden-state
    outputs and replace the graphs of a copy of the shipped model; the sentence head and the summary scorer read
    layer 4, so they are kept, after checking that layer 4 is unchanged. The document head is then refitted
    (python -m app.training.document_head --model DEST), as its window scores changed."""
    import onnxruntime as ort

    from app.core.registry import write_manifest

    src, shipped, dest = args.src, args.models / SENTIMENT_ID, args.dest
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(shipped, dest)
    for file in GRAPHS.values():
        add_hidden_outputs(src / file, dest / file)
    # the heads' input must be what it was: compare layer 4 of both fp32 graphs on real text
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(shipped / "tokenizer.json"))
    tok.no_padding()
    ids = np.array([tok.encode("The plot was thin, but the acting kept me watching until the very end.").ids],
                   dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    gap = 0.0
    for file in GRAPHS.values():  # int8 too: the frozen layers quantize to the same integers
        mids = [ort.InferenceSession(str(d / file), providers=["CPUExecutionProvider"]).run(["hidden_mid"], feed)[0]
                for d in (shipped, dest)]
        gap = max(gap, float(np.abs(mids[0] - mids[1]).max()))
    if gap > 1e-4:
        shutil.rmtree(dest)
        raise SystemExit(f"layer 4 changed by {gap:.2e}: the sentence head and the summary scorer would read other "
                         f"vectors; train with --freeze-below 4")
    raw = json.loads((dest / "manifest.json").read_text())
    new = json.loads((src / "manifest.json").read_text())
    raw["version"] = args.sentiment_version
    raw["calibration"] = new["calibration"]
    for key in ("labels", "training_data", "license", "name"):  # a new top may have learned other labels (neutral)
        if key in new:
            raw[key] = new[key]
    if list(new.get("labels", [])) != list(json.loads((shipped / "manifest.json").read_text())["labels"]):
        raw.pop("heads", None)  # the span head scores the old labels: fit one for these (app.training.sentence_head3)
        raw["files"] = [f for f in raw["files"] if f != SENTENCE_HEAD]
        (dest / SENTENCE_HEAD).unlink(missing_ok=True)
        raw.pop("neutral_band", None)  # a learned neutral replaces the band chosen for a two-label model
        raw.pop("neutral_band_measured", None)
    raw.pop("document_head", None)  # refitted next, on the new window scores
    raw["files"] = [f for f in raw["files"] if f != "document_head.onnx"]
    (dest / "document_head.onnx").unlink(missing_ok=True)
    raw["metrics"] = {}
    write_manifest(dest, raw)
    print(f"{dest}: {args.sentiment_version}, layer 4 unchanged (max difference {gap:.1e}), temperature "
          f"{new['calibration']['temperature']}; now run python -m app.training.document_head --model {dest}")


def cmd_promote(args) -> None:
    """A finished candidate (retop + sentence head + document head + metrics) becomes the shipped sentiment model;
    the summary scorer reads the same layer 4, so its manifest names the new encoder version (checked again here
    on real text: layer 4 must be what the scorer was trained on)."""
    import onnxruntime as ort

    from app.core.registry import write_manifest

    cand, shipped = args.src, args.models / SENTIMENT_ID
    feed_text = "The summary scorer reads this layer, so it must not move."
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(shipped / "tokenizer.json"))
    ids = np.array([tok.encode(feed_text).ids], dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    mids = [ort.InferenceSession(str(d / GRAPHS["int8"]), providers=["CPUExecutionProvider"]).run(["hidden_mid"], feed)[0]
            for d in (shipped, cand)]
    gap = float(np.abs(mids[0] - mids[1]).max())
    if gap > 1e-4:
        raise SystemExit(f"layer 4 differs by {gap:.2e}: retrain the summary scorer first")
    version = json.loads((cand / "manifest.json").read_text())["version"]
    tmp = shipped.with_name(shipped.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(cand, tmp)
    shutil.rmtree(shipped)
    tmp.rename(shipped)
    sdest = args.models / SUMMARY_ID
    raw = json.loads((sdest / "manifest.json").read_text())
    raw["shared_encoder"]["version"] = version
    major, minor, patch = (raw["version"].split(".") + ["0", "0"])[:3]
    raw["version"] = f"{major}.{minor}.{int(patch) + 1}"
    raw["base_model"] = f"{SENTIMENT_ID} {version}: its layer-4 hidden states, mean-pooled per sentence"
    write_manifest(sdest, {**raw, "files": list(raw["files"])})
    print(f"{SENTIMENT_ID} {version} installed; {SUMMARY_ID} {raw['version']} reads it (layer 4 gap {gap:.1e})")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["graphs", "features", "sentence", "summary", "install", "measure", "retop",
                                        "promote"])
    ap.add_argument("--src", type=Path, default=None, help="retop: a sentiment export (model.onnx, model.int8.onnx)")
    ap.add_argument("--dest", type=Path, default=RUNS_DIR / "cand" / SENTIMENT_ID, help="retop: the new model folder")
    ap.add_argument("--models", type=Path, default=REPO_ROOT / "models")
    ap.add_argument("--graph", default="int8", choices=list(GRAPHS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--sst-train", type=int, default=20000)
    ap.add_argument("--imdb-train", type=int, default=1500)
    ap.add_argument("--imdb-val", type=int, default=200)
    ap.add_argument("--imdb-val-docs", type=int, default=1000, help="measure: IMDB validation reviews")
    ap.add_argument("--inputs", default="last+mid", help="sentence head inputs: last, mid or last+mid")
    ap.add_argument("--summary-inputs", default="mid")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--temperature", type=float, default=1.45)
    ap.add_argument("--sentiment-version", default="2.1.0")
    ap.add_argument("--summary-version", default="2.0.0")
    args = ap.parse_args(argv)
    {"graphs": cmd_graphs, "features": cmd_features, "sentence": cmd_sentence, "summary": cmd_summary,
     "install": cmd_install, "measure": cmd_measure, "retop": cmd_retop, "promote": cmd_promote}[args.command](args)


if __name__ == "__main__":
    main()
