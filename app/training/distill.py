"""Distil a compact ALBERT encoder from the MiniLM teacher on unlabelled English text.

Student: transformers AlbertModel with factorized embeddings (E=128 -> H=384) and cross-layer
parameter sharing (Lan et al. 2019): by default one shared transformer layer applied `layers` times
(num_hidden_groups=1); `--groups N` splits the stack into N groups of consecutive layers that share one
layer each (the paper's section 4.5 variant). Initialisation: the teacher's word/position embeddings
factorised by truncated SVD into ALBERT's V x E table and E x H projection; each shared layer starts from
the teacher layer (among those it stands in for) whose copy gives the best sentence-embedding agreement.
Loss: per-layer hidden-state MSE + attention KL on the last layer + cosine loss on mean-pooled sentence
embeddings.

    python -m app.training.distill --minutes 60          # resumable, run again to continue
    python -m app.training.distill --init-from models/albert-encoder-en --start-step 159 --total-steps 1350
                                                         # continue from a shipped encoder (fresh optimizer)
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from app.training.common import (DATA_DIR, RUNS_DIR, get_logger, load_checkpoint, optimizer_step, read_jsonl, save_json,
                                 seed_everything, teacher_dir)


def check_groups(layers: int, groups: int) -> None:
    """Shared-layer groups must split the layers evenly and still share (fewer groups than layers)."""
    if groups < 1 or layers % groups:
        raise SystemExit(f"--groups {groups}: must divide the {layers} layers evenly")
    if groups == layers:
        raise SystemExit(f"--groups {groups}: that is no cross-layer sharing at all (not ALBERT); use fewer groups")


def student_config(layers: int = 6, groups: int = 1):
    """ALBERT student. groups=1 shares one layer across all `layers` (the paper's default, all-shared);
    groups=N splits the stack into N groups of layers/N consecutive layers that share one layer each
    (Lan et al. 2019, section 4.5: "dividing the L layers into N groups of size M")."""
    from transformers import AlbertConfig

    check_groups(layers, groups)
    return AlbertConfig(
        vocab_size=30522, embedding_size=128, hidden_size=384, num_hidden_layers=layers,
        num_hidden_groups=groups, inner_group_num=1, num_attention_heads=12, intermediate_size=1536,
        hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        max_position_embeddings=512, type_vocab_size=2, pad_token_id=0,
        attn_implementation="eager",
    )


HELD_OUT_REVIEWS = 2000  # the last unlabelled reviews: never trained on, the agreement probe comes from them


def load_texts(limit_val: int = HELD_OUT_REVIEWS):
    """Unlabelled IMDB reviews (train part) and a held-out slice for agreement measurement."""
    texts = [r["text"].replace("<br />", " ") for r in read_jsonl(DATA_DIR / "unlabeled-en" / "imdb-unsup.jsonl")]
    val = texts[-limit_val:]
    return texts[:-limit_val], val


def chunk_stream(texts, tokenizer, max_len: int, seed: int):
    """Yield token-id lists of at most max_len-2 word pieces, cutting reviews at sentence ends."""
    import random

    rng = random.Random(seed)
    order = list(range(len(texts)))
    epoch = 0
    while True:
        rng.shuffle(order)
        for i in order:
            ids = tokenizer(texts[i], add_special_tokens=False)["input_ids"]
            step = max_len - 2
            for s in range(0, len(ids), step):
                piece = ids[s:s + step]
                if len(piece) >= 8:
                    yield piece
        epoch += 1


def factorize_embeddings(student, teacher) -> dict:
    """Truncated SVD of the teacher's word table into the student's E-wide table and E -> H mapping.

    Returns the kept share of the spectral energy and the relative reconstruction error of the word table."""
    import torch

    tw = teacher.embeddings.word_embeddings.weight.data.float()  # V x H
    E = student.config.embedding_size
    U, S, Vh = torch.linalg.svd(tw, full_matrices=False)
    proj = Vh[:E]  # E x H, orthonormal rows
    with torch.no_grad():
        student.embeddings.word_embeddings.weight.copy_(U[:, :E] * S[:E])
        student.encoder.embedding_hidden_mapping_in.weight.copy_(proj.T)  # Linear(E -> H): weight is H x E
        student.encoder.embedding_hidden_mapping_in.bias.zero_()
        student.embeddings.position_embeddings.weight.copy_(teacher.embeddings.position_embeddings.weight @ proj.T)
        student.embeddings.token_type_embeddings.weight.copy_(teacher.embeddings.token_type_embeddings.weight @ proj.T)
    recon = (U[:, :E] * S[:E]) @ proj
    return {"embedding_size": E, "energy_kept": float((S[:E] ** 2).sum() / (S ** 2).sum()),
            "relative_error": float(torch.linalg.norm(recon - tw) / torch.linalg.norm(tw))}


def map_layer(dst, src) -> None:
    """One BERT layer's weights into one ALBERT layer (they compute the same function)."""
    dst.attention.query.load_state_dict(src.attention.self.query.state_dict())
    dst.attention.key.load_state_dict(src.attention.self.key.state_dict())
    dst.attention.value.load_state_dict(src.attention.self.value.state_dict())
    dst.attention.dense.load_state_dict(src.attention.output.dense.state_dict())
    dst.attention.LayerNorm.load_state_dict(src.attention.output.LayerNorm.state_dict())
    dst.ffn.load_state_dict(src.intermediate.dense.state_dict())
    dst.ffn_output.load_state_dict(src.output.dense.state_dict())
    dst.full_layer_layer_norm.load_state_dict(src.output.LayerNorm.state_dict())


def init_student_from_teacher(student, teacher, logger):
    info = factorize_embeddings(student, teacher)
    logger.info(f"SVD embedding factorisation keeps {info['energy_kept']:.3f} of the energy")


def copy_layer(student, teacher, idx: int, group: int = 0):
    map_layer(student.encoder.albert_layer_groups[group].albert_layers[0], teacher.encoder.layer[idx])


def widen_groups(weights: dict, groups: int, logger=None) -> dict:
    """Start an N-group student from a 1-group (all-shared) ALBERT state dict (an encoder's or a classifier's):
    every group gets a copy of the shared layer, so the widened model computes exactly what the shared one did
    and the groups then specialise in training."""
    seg = "albert_layer_groups."
    have = {k.split(seg, 1)[1].split(".", 1)[0] for k in weights if seg in k}
    if groups == 1 or have != {"0"}:
        return weights
    out = dict(weights)
    for k, v in weights.items():
        if seg + "0." in k:
            for g in range(1, groups):
                out[k.replace(seg + "0.", f"{seg}{g}.", 1)] = v.clone()
    if logger:
        logger.info(f"widened the shared layer into {groups} groups (each starts as a copy)")
    return out


def mean_pool(h, mask):
    m = mask.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(1) / m.sum(1).clamp(min=1e-6)


def hidden_mse(student_states, teacher_states, mask):
    """Mean over layers 1..L of the per-element MSE between student and teacher hidden states, padding
    masked out (the embedding outputs, index 0, are not compared)."""
    m = mask.unsqueeze(-1).float()
    n = m.sum() * student_states[-1].size(-1)
    pairs = list(zip(student_states[1:], teacher_states[1:]))
    return sum(((s - t) ** 2 * m).sum() / n for s, t in pairs) / len(pairs)


def batches(stream, batch_size: int, cls_id: int, sep_id: int):
    import torch

    while True:
        pieces = [next(stream) for _ in range(batch_size)]
        L = max(len(p) for p in pieces) + 2
        ids = torch.zeros(batch_size, L, dtype=torch.long)
        mask = torch.zeros(batch_size, L, dtype=torch.long)
        for i, p in enumerate(pieces):
            seq = [cls_id] + p + [sep_id]
            ids[i, :len(seq)] = torch.tensor(seq)
            mask[i, :len(seq)] = 1
        yield ids, mask


def agreement(student, teacher, tokenizer, texts, batch_size: int = 32, max_len: int = 128):
    """Mean cosine between student and teacher sentence embeddings on held-out text."""
    import torch
    import torch.nn.functional as F

    sims = []
    student.eval()
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(texts[i:i + batch_size], truncation=True, max_length=max_len, padding=True, return_tensors="pt")
            t = mean_pool(teacher(**enc).last_hidden_state, enc["attention_mask"])
            s = mean_pool(student(**enc).last_hidden_state, enc["attention_mask"])
            sims.append(F.cosine_similarity(s, t).cpu())
    student.train()
    return float(torch.cat(sims).mean())


def export_encoder_folder(encoder_dir: Path, dest: Path, metrics: dict, version: str = "1.0.0", name: str | None = None,
                          training_data: str = "IMDB unlabelled reviews (Maas et al. 2011), 48k reviews",
                          base_model: str = "sentence-transformers/all-MiniLM-L6-v2 (teacher)") -> None:
    """Ship the distilled encoder as PyTorch fp16 weights (the base for fine-tuning) with a manifest."""
    import shutil

    import torch
    from transformers import AlbertModel

    from app.core.registry import write_manifest

    enc = AlbertModel.from_pretrained(str(encoder_dir), add_pooling_layer=False)
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    enc.to(torch.float16).save_pretrained(tmp)
    shutil.copy(teacher_dir() / "tokenizer.json", tmp / "tokenizer.json")
    params = sum(p.numel() for p in enc.parameters())
    write_manifest(tmp, {
        "id": "albert-encoder-en", "version": version, "task": "encoder",
        "name": (name or "English ALBERT encoder (distilled from all-MiniLM-L6-v2, {params:.1f}M parameters)").format(params=params / 1e6),
        "architecture": "albert", "languages": ["en"], "max_length": 512, "parameters": params,
        "tokenizer": {"type": "wordpiece", "file": "tokenizer.json", "lowercase": True},
        "graphs": {}, "files": ["config.json", "model.safetensors", "tokenizer.json"],
        "metrics": metrics, "license": "Apache-2.0 (distilled from sentence-transformers/all-MiniLM-L6-v2, Apache-2.0)",
        "base_model": base_model,
        "training_data": training_data,
    })
    card = Path(__file__).resolve().parent / "cards" / "albert-encoder-en.md"
    if card.exists():
        shutil.copy(card, tmp / "MODEL_CARD.md")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def _arguments(argv) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--export", action="store_true", help="write models/albert-encoder-en from the last run")
    ap.add_argument("--out", type=Path, default=RUNS_DIR / "distill")
    ap.add_argument("--minutes", type=float, default=60.0, help="wall-clock budget for this piece")
    ap.add_argument("--total-steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--init-from", type=Path, default=None,
                    help="start from this encoder folder (e.g. models/albert-encoder-en) instead of the teacher")
    ap.add_argument("--start-step", type=int, default=0,
                    help="with --init-from: the steps that encoder already had (places it on the schedule)")
    ap.add_argument("--version", default="1.0.0", help="version written into the exported manifest")
    ap.add_argument("--groups", type=int, default=1,
                    help="shared-layer groups (1 = all layers share one layer; 3 = layers 1-2, 3-4, 5-6 share one each)")
    return ap.parse_args(argv)


def _export(args) -> None:
    """--export: the last run in --out as the models/albert-encoder-en folder."""
    import glob
    import json

    from app.training.common import MODELS_DIR

    runs = sorted(glob.glob(str(args.out / "agreement_*.json")), key=lambda p: int(p.rsplit("_", 1)[1][:-5]))
    metrics = json.loads(Path(runs[-1]).read_text()) if runs else {}
    metrics = {"teacher_agreement_cosine": metrics.get("agreement"), "distillation_steps": metrics.get("step"),
               "agreement_text": "mean cosine of mean-pooled sentence embeddings vs the teacher, 300 held-out IMDB reviews"}
    export_encoder_folder(args.out / "encoder", MODELS_DIR / "albert-encoder-en", metrics, args.version)


def _initialise(student, opt, teacher, tokenizer, val_probe, args, ckpt: Path, out: Path, log) -> int:
    """The student's starting weights (a checkpoint to resume, an encoder folder, or the teacher's layers);
    returns the step it starts at."""
    if ckpt.exists():
        state = load_checkpoint(ckpt)
        if state.get("groups", 1) != args.groups:
            raise SystemExit(f"{ckpt}: a run with --groups {state.get('groups', 1)}, not {args.groups}")
        student.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        log.info(f"resumed at step {state['step']}")
        return state["step"]
    if args.init_from:
        from safetensors.torch import load_file

        weights = {k: v.float() for k, v in load_file(str(args.init_from / "model.safetensors")).items()}
        weights = widen_groups(weights, args.groups, log)
        missing, unexpected = student.load_state_dict(weights, strict=False)
        if [k for k in missing if "position_ids" not in k] or unexpected:
            raise SystemExit(f"{args.init_from}: not this student's weights (missing {missing}, unexpected {unexpected})")
        step = args.start_step
        a0 = agreement(student, teacher, tokenizer, val_probe)
        save_json({"init_agreement": a0, "init_from": str(args.init_from), "start_step": step}, out / "init.json")
        log.info(f"initialised from {args.init_from} (step {step}): agreement {a0:.4f}")
        return step
    _init_from_teacher_layers(student, teacher, tokenizer, val_probe, args.groups, out, log)
    return 0


def _init_from_teacher_layers(student, teacher, tokenizer, val_probe, groups: int, out: Path, log) -> None:
    """Embeddings factorized from the teacher's; each group's shared layer the teacher layer that agrees best."""
    init_student_from_teacher(student, teacher, log)
    n_t = teacher.config.num_hidden_layers
    size = n_t // groups if n_t % groups == 0 else None
    chosen = []
    for g in range(groups):  # a teacher layer in every group first, so each greedy choice is scored in context
        copy_layer(student, teacher, g * size if size else 0, g)
    # group g covers student layers [g*M, (g+1)*M); with a teacher of the same depth its candidates are the
    # teacher layers it stands in for (greedy, group by group); otherwise any teacher layer
    for g in range(groups):
        cands = range(g * size, (g + 1) * size) if size and groups > 1 else range(n_t)
        best = (-1.0, 0)
        for idx in cands:
            copy_layer(student, teacher, idx, g)
            a = agreement(student, teacher, tokenizer, val_probe[:96])
            log.info(f"group {g} from teacher layer {idx}: agreement {a:.4f}")
            best = max(best, (a, idx))
        copy_layer(student, teacher, best[1], g)
        chosen.append(best[1])
        log.info(f"shared layer of group {g} initialised from teacher layer {best[1]}")
    a0 = agreement(student, teacher, tokenizer, val_probe)
    save_json({"init_agreement": a0, "init_layer": chosen[0], "init_layers": chosen, "groups": groups},
              out / "init.json")
    log.info(f"agreement at init: {a0:.4f}")


def _train(student, opt, teacher, tokenizer, train_texts, args, step: int, ckpt: Path, log) -> int:
    """Distil until --total-steps or --minutes, saving a checkpoint every 5 minutes; returns the last step."""
    import torch
    import torch.nn.functional as F

    def lr_at(s):
        warm = 100
        if s < warm:
            return args.lr * (s + 1) / warm
        return args.lr * max(0.05, 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, args.total_steps - warm))))

    stream = chunk_stream(train_texts, tokenizer, args.max_len, args.seed + step)
    data = batches(stream, args.batch_size, tokenizer.cls_token_id, tokenizer.sep_token_id)
    student.train()
    t0 = time.time()
    tokens = 0
    last_save = time.time()
    while step < args.total_steps and (time.time() - t0) < args.minutes * 60:
        ids, mask = next(data)
        with torch.no_grad():
            to = teacher(input_ids=ids, attention_mask=mask, output_hidden_states=True, output_attentions=True)
        so = student(input_ids=ids, attention_mask=mask, output_hidden_states=True, output_attentions=True)
        hid = hidden_mse(so.hidden_states, to.hidden_states, mask)
        sa, ta = so.attentions[-1], to.attentions[-1]
        qmask = mask[:, None, :, None].float()
        att = (ta * (torch.log(ta.clamp_min(1e-9)) - torch.log(sa.clamp_min(1e-9))) * qmask).sum() / (qmask.sum() * sa.size(1))
        se, te = mean_pool(so.last_hidden_state, mask), mean_pool(to.last_hidden_state, mask)
        cos = (1 - F.cosine_similarity(se, te)).mean()
        loss = hid + att + 10.0 * cos
        optimizer_step(student, opt, loss, lr_at(step))
        step += 1
        tokens += int(mask.sum())
        if step % 10 == 0:
            el = time.time() - t0
            log.info(f"step {step} loss {loss.item():.4f} hid {hid.item():.4f} att {att.item():.4f} cos {cos.item():.4f} lr {lr_at(step):.2e} tok/s {tokens / el:.0f}")
        if time.time() - last_save > 300:
            torch.save({"model": student.state_dict(), "opt": opt.state_dict(), "step": step, "groups": args.groups}, ckpt)
            last_save = time.time()
    return step


def main(argv=None) -> None:
    args = _arguments(argv)
    if args.export:
        _export(args)
        return

    import torch
    from transformers import AlbertModel, AutoTokenizer, BertModel

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    log = get_logger("distill", out / "train.log")
    tdir = teacher_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(tdir))
    teacher = BertModel.from_pretrained(str(tdir), attn_implementation="eager").eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    train_texts, val_texts = load_texts()
    val_probe = [t[:600] for t in val_texts[:300]]

    ckpt = out / "checkpoint.pt"
    student = AlbertModel(student_config(groups=args.groups), add_pooling_layer=False)
    opt = torch.optim.AdamW(student.parameters(), lr=args.lr, weight_decay=0.01)
    step = _initialise(student, opt, teacher, tokenizer, val_probe, args, ckpt, out, log)
    log.info(f"student parameters: {sum(p.numel() for p in student.parameters()):,}")
    step = _train(student, opt, teacher, tokenizer, train_texts, args, step, ckpt, log)
    torch.save({"model": student.state_dict(), "opt": opt.state_dict(), "step": step, "groups": args.groups}, ckpt)
    a = agreement(student, teacher, tokenizer, val_probe)
    log.info(f"step {step}: held-out sentence-embedding agreement (cosine) {a:.4f}")
    save_json({"step": step, "agreement": a}, out / f"agreement_{step}.json")
    student.save_pretrained(out / "encoder")
    tokenizer.save_pretrained(out / "encoder")


if __name__ == "__main__":
    main()
