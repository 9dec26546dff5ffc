"""Train, export and evaluate an ALBERT-style English->French/German translator for documents.

Data: the documentation corpus built by `python -m app.training.mt_corpus` (LibreOffice, GIMP, Debian
reference and FAQ help pages, Qt UI strings; split by document) plus Multi30k (captions stay good).
Vocabulary: one SentencePiece unigram model (16k-24k pieces) over English, French and German training
text, with the target tags <2fr>/<2de> and the placeholders ｟1｠..｟20｠ as single pieces. Placeholders are
taught by substitution: where a number, URL, file name, code or product name of an English sentence
appears verbatim in its translation, both are replaced by the same placeholder (half the pairs that have
one), so the model learns to copy them wherever the sentence puts them; the app masks protected spans
with the same pieces (app.core.protect).

Model: app.training.mt_model.AlbertMT (factorized embeddings, one encoder layer shared across
`enc_repeats` applications, unshared decoder layers, tied output), at two sizes:

    size    d_model  heads  ffn   E    enc repeats  dec layers   parameters (vocab 20k)
    small   384      6      1536  128  6            3            ~14M
    base    512      8      2048  128  6            4            ~26M

    python -m app.training.translation_docs --size base --minutes 600        # train (resumable)
    python -m app.training.translation_docs --size base --export             # average snapshots, ONNX fp32 + int8
    python -m app.training.translation_docs --size base --evaluate           # docs valid + Multi30k val, speed
    python -m app.training.translation_docs --size tiny --minutes 1 --max-pairs 3000 --vocab 1000 --all
                                                                              # the whole pipeline in ~2 CPU minutes

Runs live in runs/translation_docs/SIZE/; the exported folder goes to runs/translation_docs/SIZE/model
(`--install` copies it into models/ under its id once it is good enough to ship).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import time
from pathlib import Path

from app.training.common import DATA_DIR, MODELS_DIR, RUNS_DIR, get_logger, load_checkpoint, save_json, seed_everything
from app.training.mt_from_onnx import WEIGHTS as TRAINING_WEIGHTS  # the fp32 weights kept beside the graphs

BASE = RUNS_DIR / "translation_docs"
CORPUS = RUNS_DIR / "mt_corpus"
MODEL_ID = "albert-mt-docs-en-fr-de"
TARGETS = ("fr", "de")
PAD, UNK, BOS, EOS = 0, 1, 2, 3
TAGS = ["<2fr>", "<2de>", "<2en>"]
N_PLACEHOLDERS = 20
MAX_LEN = 128
SIZES = {
    "tiny": dict(embedding_size=32, d_model=64, heads=2, ffn=128, enc_repeats=2, dec_layers=1),
    # mini: what two CPU cores can train on the corpus in a few hours (~6M parameters, about 360 target tokens/s)
    "mini": dict(embedding_size=128, d_model=256, heads=4, ffn=1024, enc_repeats=6, dec_layers=3),
    "small": dict(embedding_size=128, d_model=384, heads=6, ffn=1536, enc_repeats=6, dec_layers=3),
    "base": dict(embedding_size=128, d_model=512, heads=8, ffn=2048, enc_repeats=6, dec_layers=4),
}


def placeholders() -> list[str]:
    from app.core.protect import PLACEHOLDER

    return [PLACEHOLDER.format(i) for i in range(1, N_PLACEHOLDERS + 1)]


# ---- data -------------------------------------------------------------------------------------

def multi30k(split: str) -> list[tuple[str, str, str]]:
    """(lang, English, target) for both targets of every Multi30k line."""
    root = DATA_DIR / "multi30k"
    if not (root / f"{split}.en").exists():
        return []
    en = (root / f"{split}.en").read_text(encoding="utf-8").splitlines()
    out = []
    for lang in TARGETS:
        tgt = (root / f"{split}.{lang}").read_text(encoding="utf-8").splitlines()
        out += [(lang, e.strip(), t.strip()) for e, t in zip(en, tgt) if e.strip() and t.strip()]
    return out


def _held_out(en: str) -> bool:
    """The validation side of the one Tatoeba/WMT split (common.tatoeba_split, which the
    confidence is fitted on): the same English never lands on both sides."""
    from app.training.common import tatoeba_split

    return tatoeba_split(en) == "valid"


def tatoeba(split: str) -> list[tuple[str, str, str]]:
    """(lang, English, target) of Tatoeba's everyday sentences (tatoeba-en-fr, tatoeba-en-de); `valid` is the
    2% carved out by a hash of the English sentence before any training, `train` the rest."""
    out = []
    for lang in TARGETS:
        root = DATA_DIR / f"tatoeba-en-{lang}"
        if not (root / "train.en").exists():
            continue
        en = (root / "train.en").read_text(encoding="utf-8").splitlines()
        tgt = (root / f"train.{lang}").read_text(encoding="utf-8").splitlines()
        rows = [(lang, e.strip(), t.strip()) for e, t in zip(en, tgt)
                if e.strip() and t.strip() and _held_out(e) == (split == "valid")]
        if split == "valid":  # one reference per English sentence (Tatoeba lists several translations)
            rows = list({e: (lg, e, t) for lg, e, t in reversed(rows)}.values())[::-1]
        out += rows
    return out


def wmt_toy(split: str) -> list[tuple[str, str, str]]:
    """(de, English, German) of the WMT sample (wmt-toy-en-de), Moses-detokenized (sacremoses) so it reads like
    the text the app translates; split like `tatoeba`."""
    root = DATA_DIR / "wmt-toy-en-de"
    if not (root / "train.en").exists():
        return []
    from sacremoses import MosesDetokenizer

    den, dde = MosesDetokenizer(lang="en"), MosesDetokenizer(lang="de")
    en = (root / "train.en").read_text(encoding="utf-8").splitlines()
    de = (root / "train.de").read_text(encoding="utf-8").splitlines()
    out = []
    for e, d in zip(en, de):
        if e.strip() and d.strip() and _held_out(e) == (split == "valid"):
            out.append(("de", den.detokenize(e.split()), dde.detokenize(d.split())))
    return out


EXTRA_SETS = {"tatoeba": tatoeba, "wmt": wmt_toy}


def docs(split: str, corpus: Path = CORPUS) -> list[tuple[str, str, str]]:
    """(lang, English, target) of a documentation corpus split."""
    from app.training.mt_corpus import read_pairs

    out = []
    for lang in TARGETS:
        if (corpus / f"{split}.en-{lang}.tsv").exists():
            out += [(lang, en, tgt) for _doc, en, tgt in read_pairs(corpus, split, lang)]
    return out


def with_placeholders(en: str, tgt: str, rng: random.Random, p: float = 0.5) -> tuple[str, str]:
    """With probability p, spans of `en` the app protects that occur verbatim in `tgt` become the same
    numbered placeholder on both sides (left to right, as the app numbers them)."""
    from app.core.protect import PLACEHOLDER, find_protected

    spans = [s for s in find_protected(en) if s.source in tgt]
    if not spans or rng.random() >= p:
        return en, tgt
    k, out_en, out_tgt, pos = 0, [], tgt, 0
    for s in spans[:N_PLACEHOLDERS]:
        if s.source not in out_tgt:
            continue
        k += 1
        tag = PLACEHOLDER.format(k)
        out_en.append(en[pos:s.start] + tag)
        pos = s.end
        out_tgt = out_tgt.replace(s.source, tag, 1)
    out_en.append(en[pos:])
    return "".join(out_en), out_tgt


def train_spm(run: Path, pairs: list[tuple[str, str, str]], vocab_size: int) -> Path:
    """Joint unigram model over the English and target sides (each English line once)."""
    import sentencepiece as spm

    model = run / "spm.model"
    if model.exists():
        return model
    run.mkdir(parents=True, exist_ok=True)
    text = run / "spm_train.txt"
    seen = set()
    with open(text, "w", encoding="utf-8") as f:
        for _lang, en, tgt in pairs:
            if en not in seen:
                seen.add(en)
                f.write(en + "\n")
            f.write(tgt + "\n")
    spm.SentencePieceTrainer.train(
        input=str(text), model_prefix=str(run / "spm"), vocab_size=vocab_size, model_type="unigram",
        character_coverage=0.9999, pad_id=PAD, unk_id=UNK, bos_id=BOS, eos_id=EOS,
        user_defined_symbols=TAGS + placeholders(), num_threads=1, input_sentence_size=2_000_000,
        shuffle_input_sentence=True, byte_fallback=False, split_digits=True,
    )
    text.unlink()
    return model


def encode(sp, pairs, rng: random.Random | None = None) -> list[tuple[list[int], int, list[int]]]:
    """(English ids + </s>, target tag id, target ids + </s>) per pair; placeholders substituted when rng is given."""
    tags = {lang: sp.piece_to_id(f"<2{lang}>") for lang in TARGETS}
    out = []
    for lang, en, tgt in pairs:
        if rng is not None:
            en, tgt = with_placeholders(en, tgt, rng)
        s, t = sp.encode(en), sp.encode(tgt)
        if s and t:
            out.append((s[: MAX_LEN - 1] + [EOS], tags[lang], t[: MAX_LEN - 1] + [EOS]))
    return out


def make_batches(examples, max_tokens: int, seed: int) -> list[list[int]]:
    from app.training.translation import make_batches as by_budget

    return by_budget([(s, {"t": t}) for s, _tag, t in examples], max_tokens, seed)


def collate(examples, idx):
    import torch

    b = [examples[i] for i in idx]
    src = torch.zeros(len(b), max(len(e[0]) for e in b), dtype=torch.long)
    tgt = torch.zeros(len(b), max(len(e[2]) for e in b) + 1, dtype=torch.long)
    for j, (s, tag, t) in enumerate(b):
        src[j, : len(s)] = torch.tensor(s)
        tgt[j, : len(t) + 1] = torch.tensor([tag] + t)
    return src, (src != PAD).long(), tgt[:, :-1], tgt[:, 1:]


# ---- training ---------------------------------------------------------------------------------

def run_dir(size: str) -> Path:
    return BASE / size


def state_path_of(run: Path) -> Path:
    return run / "last.pt"


def checkpoint_files(run: Path) -> list[Path]:
    return sorted(run.glob("snap_*.pt"), key=lambda p: int(p.stem.split("_")[1]))


def validation_nll(model, examples) -> float:
    import torch
    import torch.nn.functional as F

    model.eval()
    tot, n = 0.0, 0
    with torch.no_grad():
        device = next(model.parameters()).device
        for idx in make_batches(examples, 6000, seed=0):
            src, sm, ti, to = (x.to(device) for x in collate(examples, idx))
            lg = model(src, sm, ti)
            tot += F.cross_entropy(lg.reshape(-1, lg.shape[-1]), to.reshape(-1), ignore_index=PAD, reduction="sum").item()
            n += int((to != PAD).sum())
    model.train()
    return tot / max(n, 1)


def load_data(args, log):
    """(training pairs, validation pairs): from a pack (`--pack`, what a GPU machine gets) or from the corpus,
    Multi30k and the extra sets."""
    if args.pack:
        train, valid, meta = read_pack(Path(args.pack))
        log.info(f"training pairs from {args.pack}: {len(train):,} ({meta.get('mix')}); validation {len(valid):,}")
        return train, valid
    rng = random.Random(args.seed)
    train = docs("train", args.corpus)
    if args.max_pairs:
        rng.shuffle(train)
        train = train[: args.max_pairs]
    n_docs = len(train)
    m30k = multi30k("train")
    if args.max_pairs:
        m30k = m30k[: max(1, args.max_pairs // 4)]
    train = train + m30k * args.multi30k_repeat
    extra = {}
    for name in [x for x in args.extra.split(",") if x]:
        extra[name] = EXTRA_SETS[name]("train")
        if args.max_pairs:
            extra[name] = extra[name][: max(1, args.max_pairs // 4)]
        train += extra[name]
    valid = docs("valid", args.corpus)[: args.valid_pairs]
    args.mix = (f"{n_docs:,} documentation + {len(m30k):,} Multi30k x{args.multi30k_repeat}"
                + "".join(f" + {len(v):,} {k}" for k, v in extra.items()))
    log.info(f"training pairs: {args.mix}; validation {len(valid):,}")
    if not n_docs:
        raise SystemExit(f"No documentation corpus in {args.corpus}: run python -m app.training.mt_corpus first")
    return train, valid


# ---- a pack: the training data in one small file, for a machine without the corpus (a GPU box) ---------

def write_pack(args, out: Path) -> Path:
    """The training and validation pairs (gzip TSV) and the run's vocabulary in one zip; a GPU machine trains
    from it with `--pack FILE --device cuda` (nothing else to carry but the code)."""
    import gzip
    import zipfile

    run = run_dir(args.size)
    run.mkdir(parents=True, exist_ok=True)
    log = get_logger("translation_docs.pack", run / "pack.log")
    train, valid = load_data(args, log)
    if args.init_from:
        shutil.copy(Path(args.init_from) / "spm.model", run / "spm.model")
    spm_file = train_spm(run, train, args.vocab)
    tsv = lambda rows: gzip.compress("".join(f"{lg}\t{e}\t{t}\n" for lg, e, t in rows).encode("utf-8"), 9)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("train.tsv.gz", tsv(train))
        z.writestr("valid.tsv.gz", tsv(valid))
        z.write(spm_file, "spm.model")
        z.writestr("meta.json", json.dumps({"mix": getattr(args, "mix", ""), "train": len(train), "valid": len(valid),
                                            "vocab": args.vocab, "init_from": args.init_from or ""}))
    log.info(f"wrote {out}: {out.stat().st_size / 2**20:.1f} MiB")
    return out


def read_pack(path: Path):
    import gzip
    import zipfile

    def rows(data: bytes):
        return [tuple(line.split("\t", 2)) for line in gzip.decompress(data).decode("utf-8").splitlines() if line]

    with zipfile.ZipFile(path) as z:
        return rows(z.read("train.tsv.gz")), rows(z.read("valid.tsv.gz")), json.loads(z.read("meta.json"))


def _pack_vocabulary(pack: Path, run: Path) -> None:
    import zipfile

    if not (run / "spm.model").exists():
        with zipfile.ZipFile(pack) as z:
            (run / "spm.model").write_bytes(z.read("spm.model"))


# ---- training ---------------------------------------------------------------------------------

def device_of(args):
    import torch

    want = args.device
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device here")
    return torch.device(want)


def _same_shape(folder: Path, size: dict) -> bool:
    """Whether a shipped folder's network has the shapes of `size` (else only its vocabulary is reused)."""
    arch = json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("architecture", {})
    return all(arch.get(k) == v for k, v in size.items())


def _start(args, run: Path, sp, log):
    """The model and optimizer to train: resumed from last.pt, started from a shipped folder (--init-from), or
    new; with the step counters and what the run started from (`prior`)."""
    import torch

    from app.training.mt_model import AlbertMT, MTConfig

    state_path = state_path_of(run)
    cfg = dict(vocab_size=sp.get_piece_size(), dropout=args.dropout, max_positions=512, **SIZES[args.size])
    st = load_checkpoint(state_path) if state_path.exists() else None
    prior, init = {}, None
    if st:
        cfg, prior = st["config"], st.get("prior") or {}
    elif args.init_from and _same_shape(Path(args.init_from), SIZES[args.size]):
        from app.training.mt_from_onnx import load as load_shipped

        init, cfg = load_shipped(Path(args.init_from))
        cfg = {**cfg, "dropout": args.dropout}
        shipped = json.loads((Path(args.init_from) / "manifest.json").read_text(encoding="utf-8"))
        prior = {"from": f"{shipped['id']} {shipped['version']}",
                 **{k: shipped.get("training", {}).get(k) for k in ("steps", "train_minutes", "size")}}
        if shipped.get("training", {}).get("cumulative_minutes"):
            prior.update(steps=shipped["training"]["cumulative_steps"],
                         train_minutes=shipped["training"]["cumulative_minutes"])
    model = AlbertMT(MTConfig(**cfg))
    if init is not None:
        model.load_state_dict(init.state_dict())
        log.info(f"starting from {prior['from']} ({prior.get('train_minutes')} min, {prior.get('steps')} updates)")
    model.to(device_of(args))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.98), eps=1e-9)
    counters = {"step": 0, "epoch": 0, "pos": 0, "seconds": 0.0}
    if st:
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optim"])
        counters = {k: st[k] for k in counters}
        log.info(f"resumed at step {counters['step']} epoch {counters['epoch']} "
                 f"({counters['seconds'] / 60:.1f} min trained)")
    return model, opt, cfg, prior, counters


def train(args) -> None:
    import sentencepiece as spm
    import torch
    import torch.nn.functional as F

    from app.training.translation import lr_at

    torch.set_num_threads(args.threads)
    run = run_dir(args.size)
    run.mkdir(parents=True, exist_ok=True)
    log = get_logger(f"translation_docs.{args.size}", run / "train.log")
    seed_everything(args.seed)
    train_pairs, valid_pairs = load_data(args, log)
    if args.pack:
        _pack_vocabulary(Path(args.pack), run)
    elif args.init_from and not state_path_of(run).exists():  # the shipped model's vocabulary
        shutil.copy(Path(args.init_from) / "spm.model", run / "spm.model")
    sp = spm.SentencePieceProcessor(model_file=str(train_spm(run, train_pairs, args.vocab)))
    for ph in placeholders()[:2]:
        assert len(sp.encode(ph)) <= 2, f"{ph} is not one piece"  # "▁" + the symbol at most
    model, opt, cfg, prior, c = _start(args, run, sp, log)
    device = next(model.parameters()).device
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    log.info(f"size {args.size} {cfg} parameters={sum(p.numel() for p in model.parameters()):,} "
             f"threads={args.threads} device={device}")
    valid = encode(sp, valid_pairs)
    t_end = time.time() + args.minutes * 60
    last_save, tok, loss_sum, t0 = time.time(), 0, 0.0, time.time()

    def save():
        cpu_state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save(dict(model=cpu_state, optim=opt.state_dict(), config=cfg, prior=prior, **c), run / "last.tmp")
        (run / "last.tmp").replace(state_path_of(run))
        torch.save({"model": cpu_state, "config": cfg, "step": c["step"]}, run / f"snap_{c['step']}.pt")
        for old in checkpoint_files(run)[: -args.keep]:
            old.unlink()

    model.train()
    while time.time() < t_end:
        # placeholders are drawn again every epoch, so a pair is seen with and without them
        examples = encode(sp, train_pairs, random.Random(args.seed + c["epoch"]))
        batches = make_batches(examples, args.max_tokens, seed=args.seed + c["epoch"])
        while c["pos"] < len(batches) and time.time() < t_end:
            src, sm, ti, to = (x.to(device) for x in collate(examples, batches[c["pos"]]))
            lr = lr_at(c["step"] + 1, args.lr, args.warmup)
            if args.cooldown_minutes > 0:
                lr *= min(1.0, max(0.02, (t_end - time.time()) / (args.cooldown_minutes * 60)))
            for g in opt.param_groups:
                g["lr"] = lr
            ts = time.time()
            with amp:
                logits = model(src, sm, ti)
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), to.reshape(-1), ignore_index=PAD,
                                   label_smoothing=args.smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            c["seconds"] += time.time() - ts
            c["step"] += 1
            c["pos"] += 1
            n = int((to != PAD).sum())
            tok += n
            loss_sum += loss.item() * n
            if c["step"] % args.log_every == 0:
                log.info(f"step {c['step']} ep {c['epoch']} {c['pos']}/{len(batches)} loss {loss_sum / tok:.3f} "
                         f"lr {lr:.2e} {tok / (time.time() - t0):.0f} tgt tok/s")
                tok, loss_sum, t0 = 0, 0.0, time.time()
            if time.time() - last_save > args.save_minutes * 60:
                save()
                last_save = time.time()
                log.info(f"snapshot {c['step']}: validation NLL {validation_nll(model, valid):.3f}")
        if c["pos"] >= len(batches):
            c["epoch"], c["pos"] = c["epoch"] + 1, 0
            log.info(f"epoch {c['epoch']} done at step {c['step']}")
    save()
    log.info(f"done: step {c['step']}, validation NLL {validation_nll(model, valid):.3f}")


# ---- export -----------------------------------------------------------------------------------

def export(args) -> Path:
    import sentencepiece as spm
    import torch

    from app.training.mt_model import AlbertMT, DecoderExport, DecoderStepExport, EncoderExport, MTConfig
    from app.training.translation_export import averaged_state, export_graphs, quantize

    torch.set_num_threads(max(1, args.threads))
    run = run_dir(args.size)
    snaps = checkpoint_files(run)
    if not snaps:
        raise SystemExit(f"No checkpoints in {run}: train first with --minutes N")
    cfg = load_checkpoint(snaps[-1])["config"]
    model = AlbertMT(MTConfig(**cfg))
    sp = spm.SentencePieceProcessor(model_file=str(run / "spm.model"))
    valid = encode(sp, read_pack(Path(args.pack))[1] if args.pack else docs("valid", args.corpus)[: args.valid_pairs])
    use, best = snaps[-1:], float("inf")
    for k in range(1, min(len(snaps), args.keep) + 1):  # checkpoint averaging: the best number of last snapshots
        model.load_state_dict(averaged_state(snaps[-k:]))
        nll = validation_nll(model, valid) if valid else 0.0
        print(f"average of last {k} snapshots: validation NLL {nll:.4f}", flush=True)
        if nll < best:
            use, best = snaps[-k:], nll
    model.load_state_dict(averaged_state(use))
    model.eval()
    folder = run / "model"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    c = model.config
    graphs = export_graphs(model, c.dec_layers, c.heads, c.d_model // c.heads, c.d_model, folder,
                           EncoderExport(model), DecoderExport(model), DecoderStepExport(model), c.vocab_size)
    graphs.update(quantize(folder, graphs))
    shutil.copy(run / "spm.model", folder / "spm.model")
    state = load_checkpoint(run / "last.pt")
    prior = state.get("prior") or {}
    minutes = round(state["seconds"] / 60, 1)
    training = {"size": args.size, "steps": state["step"], "epochs": state["epoch"], "train_minutes": minutes,
                "averaged_steps": [int(p.stem.split("_")[1]) for p in use], "validation_nll": round(best, 4),
                "extra_data": args.extra, "lr": args.lr, "warmup": args.warmup,
                "cooldown_minutes": args.cooldown_minutes}
    if prior:
        training["continued_from"] = prior
        training["cumulative_minutes"] = round(minutes + float(prior.get("train_minutes") or 0), 1)
        training["cumulative_steps"] = state["step"] + int(prior.get("steps") or 0)
    save_training_weights(model, cfg, folder)
    write_manifest_and_card(folder, cfg, graphs, sp, sum(p.numel() for p in model.parameters()), training,
                            args.version)
    print(f"exported {folder} (checkpoints {training['averaged_steps']})")
    return folder




def save_training_weights(model, cfg: dict, folder: Path) -> None:
    """The exported weights in fp32 beside the graphs, so a later run continues from them exactly
    (app.training.mt_from_onnx reads them before any graph)."""
    from safetensors.torch import save_file

    save_file({k: v.detach().float().contiguous() for k, v in model.state_dict().items()},
              str(folder / TRAINING_WEIGHTS), metadata={"config": json.dumps(cfg)})


def corpus_sources(corpus: Path = CORPUS) -> dict:
    path = corpus / "stats.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def write_manifest_and_card(folder: Path, cfg: dict, graphs: dict, sp, n_params: int, training: dict,
                            version: str, metrics: dict | None = None) -> None:
    from app.core.protect import PLACEHOLDER
    from app.core.registry import write_manifest
    from app.training.mt_model import cache_names
    from app.training.translation_export import variants

    targets = {lang: {"decoder_start_token_id": sp.piece_to_id(f"<2{lang}>")} for lang in TARGETS}
    past, _, _ = cache_names(cfg["dec_layers"])
    stats = corpus_sources()
    data = {
        "format": 1, "id": MODEL_ID, "version": version, "task": "translation",
        "name": "ALBERT-style translator for documents, English to French and German",
        "languages": ["en", "fr", "de"], "source_lang": "en", "target_lang": "fr",
        "domain": "software documentation and UI text (LibreOffice, GIMP, Debian, Qt) and image captions"
                  + (", everyday sentences (Tatoeba)" if "tatoeba" in training.get("extra_data", "") else "")
                  + (", parliament and news sentences (a WMT sample, German)" if "wmt" in training.get("extra_data", "")
                     else ""),
        "targets": targets, "max_length": 400, "max_source_tokens": MAX_LEN,
        "tokenizer": {"type": "sentencepiece", "source": "spm.model", "target": "spm.model",
                      "vocab_size": sp.get_piece_size()},
        "graphs": graphs, "variants": variants(graphs), "default_variant": "int8", "default_graph": "encoder_int8",
        "encoder_output": "last_hidden_state", "decoder_start_token_id": targets["fr"]["decoder_start_token_id"],
        "eos_token_id": EOS, "pad_token_id": PAD, "unk_token_id": UNK,
        "suppress_token_ids": [PAD, UNK, BOS] + [sp.piece_to_id(t) for t in TAGS], "max_repeat": 3,
        "placeholders": {"format": PLACEHOLDER, "max": N_PLACEHOLDERS},
        "decoder_cache": {"layers": cfg["dec_layers"], "heads": cfg["heads"], "head_dim": cfg["d_model"] // cfg["heads"],
                          "past_inputs": past, "layout": "batch, heads, length, head_dim"},
        "architecture": {**cfg, "parameters": n_params}, "training": training, "metrics": metrics or {},
        "corpus": {k: v for k, v in stats.items() if k in ("sources", "splits", "packages")},
        "license": "weights derived from MPL-2.0, GFDL-1.2+, GPL-2.0+ and LGPL/GPL documentation and UI strings, "
                   "and Multi30k (research use)" + (", Tatoeba (CC-BY 2.0 FR)" if "tatoeba" in training.get("extra_data", "")
                                                    else "") + "; see MODEL_CARD.md",
        "base_model": (f"{training['continued_from']['from']} (training continued)" if training.get("continued_from")
                       else "none (trained from scratch)"),
        "files": [g["file"] for g in graphs.values()] + ["spm.model"]
                 + ([TRAINING_WEIGHTS] if (folder / TRAINING_WEIGHTS).exists() else []),
    }
    write_manifest(folder, data)
    (folder / "MODEL_CARD.md").write_text(card(data), encoding="utf-8")


def samples_md(samples: list[dict]) -> str:
    if not samples:
        return "Not run yet: `python -m app.training.translation_docs --evaluate`."
    rows = ["| kind | English | translation |", "|---|---|---|"]
    for s in samples:
        cell = lambda t: t.replace("|", "\\|").replace("\n", " ")
        rows.append(f"| {s['kind']} ({s['lang']}) | {cell(s['en'])} | {cell(s['text'])} |")
    return "\n".join(rows)


def extra_licences(m: dict) -> str:
    extra = (m.get("training") or {}).get("extra_data", "")
    out = ""
    if "tatoeba" in extra:
        out += (" Everyday sentences: Tatoeba (tatoeba.org, CC-BY 2.0 France; the ManyThings.org English-French and "
                "English-German lists, ../shared/data/README.md names the copies).")
    if "wmt" in extra:
        out += " A WMT English-German sample (Europarl, news commentary, web crawl; the OpenNMT-py toy set)."
    return out


def training_md(tr: dict) -> str:
    text = (f"Size `{tr['size']}`, {tr['steps']} updates, {tr['train_minutes']} minutes; exported weights average the "
            f"snapshots {tr['averaged_steps']} (chosen by validation loss on the documentation validation split).")
    c = tr.get("continued_from")
    if c:
        text += (f" This run went on from {c['from']} ({c.get('steps')} updates, {c.get('train_minutes')} minutes), "
                 f"read back from its shipped graphs, on more data (extra: {tr.get('extra_data') or 'none'}; peak "
                 f"learning rate {tr.get('lr')}, {tr.get('warmup')} warm-up updates, the last "
                 f"{tr.get('cooldown_minutes')} minutes decaying). **Cumulative training time: "
                 f"{tr['cumulative_minutes']} minutes, {tr['cumulative_steps']} updates** on a 2-core CPU.")
    if tr.get("note"):
        text += f" {tr['note']}"
    text += (f"\nThe fp32 weights are kept in `{TRAINING_WEIGHTS}`: `--init-from` this folder continues from them "
             "exactly.")
    return text


def comparison_md(m: dict) -> str:
    """The model it replaced, scored in the same way (metrics.baseline), and the sentence confidence's measured
    precision and recall (manifest `confidence`, app.training.translation_confidence)."""
    out = []
    base = (m.get("metrics") or {}).get("baseline")
    mine = (m.get("metrics") or {}).get("quality") or {}
    if base:
        out += ["", f"## Against {base['model']} (same splits, same settings: int8, beam 4, first 300 pairs)", "",
                f"| split / lang | this model BLEU / chrF | {base['model']} |", "|---|---|---|"]
        for k in sorted(mine):
            if k in base["quality"]:
                a, b = mine[k], base["quality"][k]
                out.append(f"| {k.replace(' int8 beam 4', '')} | {a['bleu']:.1f} / {a['chrf']:.1f} | "
                           f"{b['bleu']:.1f} / {b['chrf']:.1f} |")
    conf = (m.get("confidence") or {}).get("measured") or {}
    if conf:
        out += ["", "## Sentence confidence (held-out half of the calibration pairs; `python -m "
                "app.training.translation_confidence`)", "",
                "| language | sentences | chrF >= 50 | marked confident | precision | recall |", "|---|---|---|---|---|---|"]
        for lang, v in conf.items():
            h = v.get("held_out") or {} if isinstance(v, dict) else {}
            if h:
                out.append(f"| {lang} | {h['sentences']} | {h['usable']} | {h['confident']} | {100 * h['precision']:.1f}% "
                           f"| {100 * h['recall']:.1f}% |")
    return "\n".join(out)


def card(m: dict) -> str:
    from app.training.mt_corpus import stats_markdown

    a, tr = m["architecture"], m["training"]
    met = m.get("metrics") or {}
    rows = [f"| {k} | {v['bleu']:.1f} | {v['chrf']:.1f} | {v['sentences']} |" for k, v in sorted(met.get("quality", {}).items())]
    quality = "\n".join(["| split / lang / graphs / decoding | BLEU | chrF | sentences |", "|---|---|---|---|", *rows]) \
        if rows else "Not measured yet: `python -m app.training.translation_docs --evaluate`."
    corpus = stats_markdown(m["corpus"]) if m.get("corpus", {}).get("sources") else "(corpus statistics missing)"
    return f"""# {m['name']}

- Model id `{m['id']}` {m['version']}; English -> French (`<2fr>`) and German (`<2de>`) from one network.
- Domain: {m['domain']}. {"Continued from " + m['base_model'].split(' (')[0] + ", itself trained from scratch" if m.get('base_model', '').endswith('(training continued)') else 'Trained from scratch'}; check anything that matters.

## Architecture
Factorized embeddings ({a['vocab_size']} x {a['embedding_size']} -> d_model {a['d_model']}), one shared encoder
layer applied {a['enc_repeats']} times ({a['heads']} heads, FFN {a['ffn']}), {a['dec_layers']} decoder layers, tied
output; {a['parameters']:,} parameters. Placeholders ｟1｠..｟{m['placeholders']['max']}｠ are single pieces; numbers,
links, file names, code, product names and glossary terms are masked with them and copied back.

## Training
{training_md(tr)}

## Data (split by document; statistics of the corpus build)
{corpus}

## Evaluation (sacrebleu 13a / chrF2; documentation validation split, Multi30k val, and the Tatoeba validation slice: 2% of English sentences by hash, never trained on, one reference each)
{quality}

{comparison_md(m)}

## Ten paragraphs of other kinds (written for this card, never trained on; default graphs, beam 4)
{samples_md(met.get("samples") or [])}

## Licences
Documentation: LibreOffice help (MPL-2.0), GIMP help (GFDL-1.2+), Debian Reference and Debian FAQ (GPL-2.0+),
Qt translations (LGPL-3.0/GPL); Multi30k (research use; Elliott et al. 2016).{extra_licences(m)} gnome-user-docs is
held back for independent evaluation and was not used.
"""


# ---- evaluation -------------------------------------------------------------------------------

def evaluate(args) -> dict:
    import sacrebleu

    from app.core.registry import read_manifest, write_manifest
    from app.core.runtime import RuntimeOptions
    from app.core.translate import Translator
    from app.training.translation_export import speed_table

    baseline = args.model is not None  # another model folder (the shipped one): scored, never rewritten
    folder = Path(args.model) if baseline else run_dir(args.size) / "model"
    man = read_manifest(folder)
    opts = RuntimeOptions(device="cpu", intra_op_threads=max(1, args.threads))
    quality, speed = {}, []
    sets = {"docs": docs("valid", args.corpus), "multi30k": multi30k("val"), "tatoeba": tatoeba("valid")[::2]}
    for variant in [v for v in args.variants.split(",") if v]:
        tr = Translator.from_manifest(man, opts, graph=variant)
        for name, pairs in sets.items():
            for lang in TARGETS:
                rows = [(e, t) for lg, e, t in pairs if lg == lang][: args.limit or None]
                if not rows:
                    continue
                for beam in ([4] if args.beam_only else [1, 4]):
                    hyp = tr.translate_batch([e for e, _ in rows], beam=beam, target_lang=lang)
                    ref = [t for _, t in rows]
                    key = f"{name} {lang} {variant} {'greedy' if beam == 1 else 'beam 4'}"
                    quality[key] = {"bleu": sacrebleu.corpus_bleu(hyp, [ref]).score,
                                    "chrf": sacrebleu.corpus_chrf(hyp, [ref]).score, "sentences": len(rows)}
                    print(f"{key}: BLEU {quality[key]['bleu']:.1f} chrF {quality[key]['chrf']:.1f}", flush=True)
        if args.speed_sentences:
            src = [e for lg, e, _ in sets["docs"] if lg == "fr"][: args.speed_sentences]
            for r in speed_table(tr, src, 4, "fr"):
                speed.append({**r, "variant": variant})
    samples = []
    if not args.no_samples:
        from app.training.translation_samples import translate_samples

        tr = Translator.from_manifest(man, opts, graph=[v for v in args.variants.split(",") if v][0])
        for lang in TARGETS:
            samples += translate_samples(tr, lang, beam=4)
    metrics = {"quality": quality, "speed": speed, "samples": samples, "sacrebleu": sacrebleu.__version__,
               "model": f"{man.id} {man.version}", "limit": args.limit}
    if baseline:
        out = BASE / f"baseline-{man.id}-{man.version}.json"
        save_json(metrics, out)
        print(f"wrote {out}")
        return metrics
    save_json(metrics, run_dir(args.size) / "metrics.json")
    raw = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    raw["metrics"] = metrics
    write_manifest(folder, raw)
    (folder / "MODEL_CARD.md").write_text(card(raw), encoding="utf-8")
    return metrics


def install(args) -> Path:
    """Copy the exported folder into models/ (it becomes installable and selectable; the default model
    stays what the registry's defaults say). `--int8-only` ships the int8 graphs alone (the fp32 graphs are
    rebuilt by `--export`; the fp32 training weights stay, so training can continue)."""
    from app.core.registry import write_manifest

    src = run_dir(args.size) / "model"
    dst = MODELS_DIR / MODEL_ID
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    if args.int8_only:
        raw = json.loads((dst / "manifest.json").read_text(encoding="utf-8"))
        for key in [k for k in raw["graphs"] if not k.endswith("_int8")]:
            (dst / raw["graphs"].pop(key)["file"]).unlink(missing_ok=True)
        raw["variants"] = {"int8": raw["variants"]["int8"]}
        raw["default_variant"], raw["default_graph"] = "int8", "encoder_int8"
        raw["shipped_graphs_note"] = (f"int8 only (the fp32 graphs are rebuilt by python -m "
                                      f"app.training.translation_docs --size {args.size} --export)")
        raw["files"] = [f for f in raw["files"] if (dst / f).exists()]
        write_manifest(dst, raw)
    return dst


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=sorted(SIZES), default="base")
    p.add_argument("--minutes", type=float, default=0)
    p.add_argument("--export", action="store_true")
    p.add_argument("--evaluate", action="store_true")
    p.add_argument("--install", action="store_true", help="copy the exported model into models/")
    p.add_argument("--int8-only", action="store_true", help="with --install: ship the int8 graphs only")
    p.add_argument("--all", action="store_true", help="train --minutes, export, evaluate")
    p.add_argument("--corpus", type=Path, default=CORPUS)
    p.add_argument("--vocab", type=int, default=20000, help="joint SentencePiece pieces (16k-24k for the real runs)")
    p.add_argument("--max-pairs", type=int, default=0, help="use only this many documentation pairs (tiny runs)")
    p.add_argument("--multi30k-repeat", type=int, default=1)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"), help="where to train (cuda: bf16 autocast)")
    p.add_argument("--pack", default="", help="train from this pack (written by --write-pack) instead of the corpus")
    p.add_argument("--write-pack", default="", metavar="FILE", help="write the training data and vocabulary into FILE "
                                                                    "(a zip to carry to a GPU machine) and stop")
    p.add_argument("--extra", default="", help="more parallel text: comma list of tatoeba, wmt (../shared/data)")
    p.add_argument("--init-from", default="", help="start from this shipped model folder (its vocabulary and weights) "
                                                   "instead of from scratch; a run that has checkpoints resumes instead")
    p.add_argument("--valid-pairs", type=int, default=2000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--smoothing", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=7e-4)
    p.add_argument("--warmup", type=int, default=4000)
    p.add_argument("--max-tokens", type=int, default=6000, help="target tokens per batch")
    p.add_argument("--save-minutes", type=float, default=15)
    p.add_argument("--cooldown-minutes", type=float, default=0)
    p.add_argument("--keep", type=int, default=5, help="snapshots kept for averaging")
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--version", default="2.0.0")
    p.add_argument("--model", help="with --evaluate: score this model folder instead (the shipped one, as a baseline)")
    p.add_argument("--variants", default="int8,fp32")
    p.add_argument("--limit", type=int, default=0, help="evaluate on the first N pairs per set")
    p.add_argument("--beam-only", action="store_true", help="evaluate beam 4 only")
    p.add_argument("--no-samples", action="store_true", help="skip translating the card's ten sample paragraphs")
    p.add_argument("--speed-sentences", type=int, default=64)
    args = p.parse_args(argv)
    if args.write_pack:
        write_pack(args, Path(args.write_pack))
        return
    if args.minutes > 0:
        train(args)
    if args.export or args.all:
        export(args)
    if args.evaluate or args.all:
        evaluate(args)
    if args.install:
        print(f"installed {install(args)}")


if __name__ == "__main__":
    main()
