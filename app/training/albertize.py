"""ALBERT-ize the pretrained teacher: an ALBERT whose weights start as all-MiniLM-L6-v2's own.

    python -m app.training.albertize --embedding-size 128 --groups 6 --fit-steps 200 --distill-minutes 20
    python -m app.training.albertize --export          # -> models/albert-encoder-en (fp16 safetensors)

Lan et al. 2019 (arXiv 1909.11942), both ideas, applied to a trained BERT instead of learned from scratch:
- factorized embedding parameterization from the teacher's own table: truncated SVD of the 30,522 x 384
  word embeddings, word_E = U_E S_E and embedding_hidden_mapping_in = V_E; position and token-type tables
  projected by the same V_E;
- the 6 teacher layers mapped one-to-one onto ALBERT layer groups (num_hidden_groups = 6: no sharing, exact),
  or fewer groups (cross-layer sharing) started from consecutive-layer copies and distilled.

ALBERT's embedding LayerNorm works at width E where BERT's works at width H, so the mapped model starts off;
step 1 fits the embedding block alone to the teacher's embedding output (MSE on unlabelled text), step 2
distils the whole model on the teacher's hidden states and attention maps (TinyBERT, Jiao et al. 2020) on
unlabelled IMDB reviews, BBC articles and SST-2 sentences. Every step logs the mean-pooled cosine to the
teacher on 2,000 held-out IMDB reviews (agreement).
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from app.training.common import (DATA_DIR, MODELS_DIR, RUNS_DIR, get_logger, optimizer_step, read_jsonl, save_json,
                                 seed_everything, teacher_dir)
from app.training.distill import HELD_OUT_REVIEWS, agreement, check_groups, factorize_embeddings, map_layer


def albert_config(teacher_config, embedding_size: int, groups: int):
    """The ALBERT twin of a BERT config: same width, depth, heads, FFN; factorized embeddings of size E."""
    from transformers import AlbertConfig

    layers = teacher_config.num_hidden_layers
    if groups != layers:
        check_groups(layers, groups)
    return AlbertConfig(
        vocab_size=teacher_config.vocab_size, embedding_size=embedding_size, hidden_size=teacher_config.hidden_size,
        num_hidden_layers=layers, num_hidden_groups=groups, inner_group_num=1,
        num_attention_heads=teacher_config.num_attention_heads, intermediate_size=teacher_config.intermediate_size,
        hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        max_position_embeddings=teacher_config.max_position_embeddings, type_vocab_size=teacher_config.type_vocab_size,
        layer_norm_eps=teacher_config.layer_norm_eps, pad_token_id=0, attn_implementation="eager",
    )


def albertize(teacher, embedding_size: int = 128, groups: int | None = None):
    """An `AlbertModel` built from a `BertModel`: SVD-factorized embeddings, layers mapped onto groups.

    With groups = layers every teacher layer gets its own group (exact). With fewer groups, group g starts
    as the first of the teacher layers it will stand for; distillation has to do the rest (averaging the
    teacher's layers does not work: the averaged weights compute nothing like either layer)."""
    from transformers import AlbertModel

    layers = teacher.config.num_hidden_layers
    groups = groups or layers
    student = AlbertModel(albert_config(teacher.config, embedding_size, groups), add_pooling_layer=False)
    info = factorize_embeddings(student, teacher)
    per = layers // groups
    for g in range(groups):
        map_layer(student.encoder.albert_layer_groups[g].albert_layers[0], teacher.encoder.layer[g * per])
    return student.eval(), info


def layers_forward(student, hidden, mask):
    """The student's transformer layers alone on given H-wide hidden states (for the mapping check)."""
    from transformers.masking_utils import create_bidirectional_mask

    ext = create_bidirectional_mask(config=student.config, inputs_embeds=hidden, attention_mask=mask)
    cfg = student.config
    for i in range(cfg.num_hidden_layers):
        g = int(i / (cfg.num_hidden_layers / cfg.num_hidden_groups))
        hidden = student.encoder.albert_layer_groups[g](hidden, ext)
    return hidden


def student_embeddings(student, ids):
    """The student's embedding block up to width H (ALBERT applies the E -> H mapping inside the encoder)."""
    return student.encoder.embedding_hidden_mapping_in(student.embeddings(ids))


def training_texts(seed: int) -> list[str]:
    """Diverse unlabelled English: IMDB unlabelled reviews (minus the held-out agreement slice), BBC articles
    and SST-2 training sentences, shuffled together."""
    from app.training.sentiment_data import sst2_splits

    texts = [r["text"].replace("<br />", " ") for r in read_jsonl(DATA_DIR / "unlabeled-en" / "imdb-unsup.jsonl")]
    texts = texts[:-HELD_OUT_REVIEWS]
    bbc = [r["article"] for r in read_jsonl(DATA_DIR / "bbc-summary" / "train.jsonl")]
    sst_train, _, _ = sst2_splits()
    sst = [t for t, _ in sst_train if len(t.split()) >= 4]
    # SST-2 rows are short: glue ~8 of them into one training piece so batches stay dense
    rng = random.Random(seed)
    rng.shuffle(sst)
    sst_pieces = [" ".join(sst[i:i + 8]) for i in range(0, len(sst), 8)]
    out = texts + bbc + sst_pieces
    rng.shuffle(out)
    return out


def held_out_texts() -> list[str]:
    return [r["text"].replace("<br />", " ") for r in read_jsonl(DATA_DIR / "unlabeled-en" / "imdb-unsup.jsonl")][-HELD_OUT_REVIEWS:]


def piece_stream(texts, tokenizer, max_len: int, seed: int):
    """Endless token-id pieces (at most max_len - 2 word pieces, at least 8) over shuffled texts."""
    rng = random.Random(seed)
    order = list(range(len(texts)))
    while True:
        rng.shuffle(order)
        for lo in range(0, len(order), 64):
            chunk = [texts[i] for i in order[lo:lo + 64]]
            for ids in tokenizer(chunk, add_special_tokens=False)["input_ids"]:
                room = max_len - 2
                start = rng.randrange(0, max(1, len(ids) - room + 1)) if len(ids) > room else 0
                piece = ids[start:start + room]
                if len(piece) >= 8:
                    yield piece


def next_batch(stream, batch_size: int, cls_id: int, sep_id: int):
    import torch

    pieces = [next(stream) for _ in range(batch_size)]
    L = max(len(p) for p in pieces) + 2
    ids = torch.zeros(batch_size, L, dtype=torch.long)
    mask = torch.zeros(batch_size, L, dtype=torch.long)
    for i, p in enumerate(pieces):
        seq = [cls_id, *p, sep_id]
        ids[i, : len(seq)] = torch.tensor(seq)
        mask[i, : len(seq)] = 1
    return ids, mask


def masked_mse(a, b, mask):
    m = mask.unsqueeze(-1).to(a.dtype)
    return ((a - b) ** 2 * m).sum() / (m.sum() * a.size(-1))


def attention_kl(student_att, teacher_att, mask):
    """Mean over layers of KL(teacher || student) between attention distributions of real query tokens."""
    m = mask.to(student_att[0].dtype)
    total = 0.0
    for s, t in zip(student_att, teacher_att):
        kl = (t * (t.clamp_min(1e-9).log() - s.clamp_min(1e-9).log())).sum(-1)  # B x heads x L
        total = total + (kl * m[:, None, :]).sum() / (m.sum() * s.size(1))
    return total / len(student_att)


def fit_embeddings(student, teacher, stream, steps: int, batch_size: int, lr: float, tok, log):
    """Step 1: only the embedding block (E-wide tables, their LayerNorm, the E -> H mapping) learns to
    reproduce the teacher's embedding output."""
    import torch

    params = list(student.embeddings.parameters()) + list(student.encoder.embedding_hidden_mapping_in.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    student.train()
    run = None
    for step in range(steps):
        ids, mask = next_batch(stream, batch_size, tok.cls_token_id, tok.sep_token_id)
        with torch.no_grad():
            target = teacher.embeddings(ids)
        loss = masked_mse(student_embeddings(student, ids), target, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        run = loss.item() if run is None else 0.95 * run + 0.05 * loss.item()
        if (step + 1) % 20 == 0:
            log.info(f"embedding fit step {step + 1}/{steps} mse {run:.5f}")
    student.eval()


def distill(student, teacher, stream, minutes: float, batch_size: int, lr: float, tok, log, probe, out: Path,
            attention_weight: float = 1.0, total_steps: int = 4000, step: int = 0, opt_state=None):
    """Step 2: the whole student matches the teacher's hidden states (every layer) and attention maps."""
    import torch

    opt = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=0.01)
    if opt_state:
        opt.load_state_dict(opt_state)
    warm = max(1, total_steps // 20)

    def lr_at(s):
        return lr * (s + 1) / warm if s < warm else lr * max(0.05, (total_steps - s) / (total_steps - warm))

    student.train()
    t0, last, run = time.time(), time.time(), None
    while step < total_steps and time.time() - t0 < minutes * 60:
        ids, mask = next_batch(stream, batch_size, tok.cls_token_id, tok.sep_token_id)
        with torch.no_grad():
            to = teacher(input_ids=ids, attention_mask=mask, output_hidden_states=True, output_attentions=True)
        so = student(input_ids=ids, attention_mask=mask, output_hidden_states=True, output_attentions=True)
        # hidden_states[0] is the embedding output after the E -> H mapping: all 7 states are H wide
        loss = sum(masked_mse(s, t, mask) for s, t in zip(so.hidden_states, to.hidden_states)) / len(to.hidden_states)
        if attention_weight:
            loss = loss + attention_weight * attention_kl(so.attentions, to.attentions, mask)
        optimizer_step(student, opt, loss, lr_at(step))
        step += 1
        run = loss.item() if run is None else 0.98 * run + 0.02 * loss.item()
        if step % 20 == 0:
            log.info(f"distill step {step}/{total_steps} loss {run:.5f} lr {lr_at(step):.2e}")
        if time.time() - last > 300:
            save_run(student, opt, step, out, tok)
            log.info(f"checkpoint at step {step}: agreement {agreement(student, teacher, tok, probe[:300]):.4f}")
            last = time.time()
    student.eval()
    save_run(student, opt, step, out, tok)
    return step


def save_run(student, opt, step: int, out: Path, tok) -> None:
    import torch

    student.save_pretrained(out / "final")
    tok.save_pretrained(out / "final")
    torch.save({"opt": opt.state_dict(), "step": step}, out / "optimizer.pt")


def _arguments(argv) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=RUNS_DIR / "albertize")
    ap.add_argument("--embedding-size", type=int, default=128)
    ap.add_argument("--groups", type=int, default=6, help="ALBERT layer groups (6 = one per teacher layer)")
    ap.add_argument("--init-from", type=Path, default=None,
                    help="start from an ALBERT-ized encoder folder (e.g. a 6-group run, for fewer groups)")
    ap.add_argument("--fit-steps", type=int, default=200, help="step 1: embedding-block fit steps")
    ap.add_argument("--distill-minutes", type=float, default=0, help="step 2: whole-model distillation time")
    ap.add_argument("--distill-steps", type=int, default=4000, help="step 2: length of the lr schedule")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3, help="step 1 learning rate")
    ap.add_argument("--distill-lr", type=float, default=5e-5)
    ap.add_argument("--attention-weight", type=float, default=1.0)
    ap.add_argument("--probe", type=int, default=2000, help="held-out reviews for the agreement measurement")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--export", action="store_true", help="write models/albert-encoder-en from --out")
    ap.add_argument("--version", default="2.0.0")
    ap.add_argument("--models", type=Path, default=MODELS_DIR)
    return ap.parse_args(argv)


def _export(args) -> None:
    """--export: the run in --out as the models/albert-encoder-en folder."""
    from app.training.distill import export_encoder_folder

    metrics = json.loads((args.out / "metrics.json").read_text())
    metrics["teacher_agreement_cosine"] = round(metrics.get("agreement_distilled", metrics.get("agreement_embedding_fit")), 4)
    metrics["teacher_agreement_on"] = f"mean-pooled cosine on {args.probe} held-out IMDB reviews (first 128 tokens)"
    export_encoder_folder(
        args.out / "final", args.models / "albert-encoder-en", metrics, version=args.version,
        name="English ALBERT encoder (built from all-MiniLM-L6-v2's own weights, {params:.1f}M parameters)",
        base_model="sentence-transformers/all-MiniLM-L6-v2: its weights, factorized and mapped (app.training.albertize)",
        training_data="embedding fit / distillation on IMDB unlabelled reviews, BBC News articles, SST-2 training sentences")
    print(f"exported {args.out / 'final'} -> {args.models / 'albert-encoder-en'}")


def _fewer_groups(init_from: Path, groups: int):
    """A student with `groups` layer groups from a distilled model with more: group g starts as that model's
    layer g * per."""
    import torch
    from transformers import AlbertModel

    src = AlbertModel.from_pretrained(str(init_from), add_pooling_layer=False, attn_implementation="eager",
                                      dtype=torch.float32)
    cfg = src.config.__class__.from_dict(src.config.to_dict())
    check_groups(cfg.num_hidden_layers, groups)
    per_src = cfg.num_hidden_layers // cfg.num_hidden_groups
    cfg.num_hidden_groups = groups
    student = AlbertModel(cfg, add_pooling_layer=False)
    sd = {k: v for k, v in src.state_dict().items() if "albert_layer_groups" not in k}
    student.load_state_dict(sd, strict=False)
    per = cfg.num_hidden_layers // groups
    for g in range(groups):
        layer = src.encoder.albert_layer_groups[(g * per) // per_src].albert_layers[0]
        student.encoder.albert_layer_groups[g].albert_layers[0].load_state_dict(layer.state_dict())
    return student


def main(argv=None) -> None:
    args = _arguments(argv)

    import torch
    from transformers import AlbertModel, AutoModel, AutoTokenizer

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    if args.export:
        _export(args)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    log = get_logger("albertize", args.out / "train.log")
    tok = AutoTokenizer.from_pretrained(str(teacher_dir()))
    teacher = AutoModel.from_pretrained(str(teacher_dir()), attn_implementation="eager", dtype=torch.float32).eval()
    probe = held_out_texts()[: args.probe]
    metrics: dict = {}
    resume = args.out / "optimizer.pt"
    if resume.exists() and (args.out / "final").exists():
        student = AlbertModel.from_pretrained(str(args.out / "final"), add_pooling_layer=False,
                                              attn_implementation="eager", dtype=torch.float32)
        state = torch.load(resume, map_location="cpu", weights_only=True)
        metrics = json.loads((args.out / "metrics.json").read_text()) if (args.out / "metrics.json").exists() else {}
        log.info(f"resumed at distill step {state['step']}")
    else:
        state = None
        if args.init_from:  # fewer groups from a distilled 6-group model
            student = _fewer_groups(args.init_from, args.groups)
            metrics["init_from"] = str(args.init_from)
        else:
            student, info = albertize(teacher, args.embedding_size, args.groups)
            metrics["svd"] = info
            log.info(f"SVD E={info['embedding_size']}: energy kept {info['energy_kept']:.3f}, "
                     f"relative error {info['relative_error']:.3f}")
        student.config._attn_implementation = "eager"
        metrics["agreement_mapped"] = agreement(student, teacher, tok, probe)
        log.info(f"agreement after mapping: {metrics['agreement_mapped']:.4f}")
        stream = piece_stream(training_texts(args.seed), tok, args.max_len, args.seed)
        if args.fit_steps and not args.init_from:
            t0 = time.time()
            fit_embeddings(student, teacher, stream, args.fit_steps, args.batch_size, args.lr, tok, log)
            metrics["embedding_fit"] = {"steps": args.fit_steps, "batch": args.batch_size, "seconds": round(time.time() - t0)}
            metrics["agreement_embedding_fit"] = agreement(student, teacher, tok, probe)
            log.info(f"agreement after embedding fit: {metrics['agreement_embedding_fit']:.4f}")
        student.save_pretrained(args.out / "final")
        tok.save_pretrained(args.out / "final")
    if args.distill_minutes:
        stream = piece_stream(training_texts(args.seed + 1), tok, args.max_len, args.seed + 1)
        t0 = time.time()
        step = distill(student, teacher, stream, args.distill_minutes, args.batch_size, args.distill_lr, tok, log,
                       probe, args.out, args.attention_weight, args.distill_steps,
                       step=state["step"] if state else 0, opt_state=state["opt"] if state else None)
        d = metrics.setdefault("distill", {"seconds": 0})
        d.update({"steps": step, "batch": args.batch_size, "max_len": args.max_len, "lr": args.distill_lr,
                  "seconds": d.get("seconds", 0) + round(time.time() - t0)})
        metrics["agreement_distilled"] = agreement(student, teacher, tok, probe)
        log.info(f"agreement after distillation (step {step}): {metrics['agreement_distilled']:.4f}")
    metrics["parameters"] = sum(p.numel() for p in student.parameters())
    metrics["groups"] = student.config.num_hidden_groups
    metrics["embedding_size"] = student.config.embedding_size
    save_json(metrics, args.out / "metrics.json")
    log.info(json.dumps(metrics))


if __name__ == "__main__":
    main()
