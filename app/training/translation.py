"""Train, export and evaluate the ALBERT-style English->French/German translation model.

One multilingual model serves both directions: the decoder starts from a target-language token
(<2fr> or <2de>, as mBART does), so the encoder reads plain English and one encoder pass per
training sentence feeds both the French and the German decoder pass (the encoder costs half what
two separate directions would). The vocabulary is one SentencePiece unigram model trained on the
English, French and German training text.

    python -m app.training.translation --minutes 100      # train; run again to resume
    python -m app.training.translation --export           # average checkpoints, ONNX fp32 + int8, model folder
    python -m app.training.translation --evaluate         # BLEU/chrF greedy vs beam, fp32 vs int8, words/s
    python -m app.training.translation --all --minutes 100   # the whole recipe in one command

Data: Multi30k (Elliott et al. 2016) under $ALBERT_STUDIO_DATA/multi30k/{train,val}.{en,de,fr}.
The val split is held out from training and used for every reported figure.
"""
from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

from app.training.common import DATA_DIR, get_logger, load_checkpoint, seed_everything, token_budget_batches
from app.training.mt_model import (BOS, EOS, MODEL_DIR, MODEL_ID, PAD, RUN, SPECIALS, TARGETS, UNK,  # noqa: F401
                                   build_model, checkpoint_files)

MAX_LEN = 100


def corpus(split: str) -> dict[str, list[str]]:
    root = DATA_DIR / "multi30k"
    return {lang: (root / f"{split}.{lang}").read_text(encoding="utf-8").splitlines() for lang in ("en", "fr", "de")}


def train_spm(vocab_size: int = 8000) -> Path:
    import sentencepiece as spm

    prefix = RUN / "spm"
    if (RUN / "spm.model").exists():
        return RUN / "spm.model"
    RUN.mkdir(parents=True, exist_ok=True)
    text = RUN / "spm_train.txt"
    data = corpus("train")
    with open(text, "w", encoding="utf-8") as f:
        for lang in ("en", "fr", "de"):
            for line in data[lang]:
                f.write(line.strip() + "\n")
    spm.SentencePieceTrainer.train(
        input=str(text), model_prefix=str(prefix), vocab_size=vocab_size, model_type="unigram",
        character_coverage=1.0, pad_id=PAD, unk_id=UNK, bos_id=BOS, eos_id=EOS,
        user_defined_symbols=SPECIALS, num_threads=1, input_sentence_size=0, shuffle_input_sentence=False,
    )
    text.unlink()
    return RUN / "spm.model"


def encode_examples(sp, split: str) -> list[tuple[list[int], dict[str, list[int]]]]:
    """(English ids + </s>, {target lang: target ids + </s>}) per line."""
    data = corpus(split)
    src = sp.encode(data["en"])
    tgts = {lang: sp.encode(data[lang]) for lang in TARGETS}
    out = []
    for i, s in enumerate(src):
        t = {lang: tgts[lang][i][: MAX_LEN - 1] + [EOS] for lang in TARGETS if tgts[lang][i]}
        if s and len(t) == len(TARGETS):
            out.append((s[: MAX_LEN - 1] + [EOS], t))
    return out


def example_len(ex) -> int:
    return max(len(ex[0]), *(len(t) + 1 for t in ex[1].values()))


def make_batches(examples, max_tokens: int, seed: int) -> list[list[int]]:
    """Token-budget batches of similar length (with a little noise so batches differ per epoch)."""
    return token_budget_batches([example_len(ex) for ex in examples], max_tokens, seed, noise=2.0)


def collate(examples, idx, sp):
    """English source once; targets of every language stacked along the batch (memory is repeated)."""
    import torch

    b = [examples[i] for i in idx]
    s_len = max(len(e[0]) for e in b)
    src = torch.zeros(len(b), s_len, dtype=torch.long)
    for j, e in enumerate(b):
        src[j, : len(e[0])] = torch.tensor(e[0])
    t_len = max(len(t) for e in b for t in e[1].values()) + 1
    tgt = torch.zeros(len(b) * len(TARGETS), t_len, dtype=torch.long)
    for li, lang in enumerate(TARGETS):
        tag = sp.piece_to_id(f"<2{lang}>")
        for j, e in enumerate(b):
            t = [tag] + e[1][lang]
            tgt[li * len(b) + j, : len(t)] = torch.tensor(t)
    return src, (src != PAD).long(), tgt[:, :-1], tgt[:, 1:]


def forward_multi(model, src, src_mask, tgt_in):
    """Encode once, decode every target language against the same memory."""
    reps = tgt_in.shape[0] // src.shape[0]
    mem = model.encode(src, src_mask)
    return model.decode(tgt_in, mem.repeat(reps, 1, 1), src_mask.repeat(reps, 1))


def schedule(args) -> str:
    """The learning-rate schedule of a training piece, in words (for the model card)."""
    text = f"linear warm-up over {args.warmup} updates to {args.lr:g}, then inverse square root decay"
    if args.cooldown_minutes > 0:
        text += f"; in the last {args.cooldown_minutes:g} of {args.minutes:g} minutes, linear decay to 2%"
    return text


def lr_at(step: int, peak: float, warmup: int) -> float:
    """Linear warm-up, then inverse square root decay."""
    step = max(step, 1)
    return peak * min(step / warmup, math.sqrt(warmup / step))


def greedy_torch(model, sp, sentences: list[str], lang: str, max_len: int = 80) -> list[str]:
    """Quick greedy decode in torch, used only to follow training progress."""
    import torch

    model.eval()
    tag = sp.piece_to_id(f"<2{lang}>")
    out = []
    with torch.no_grad():
        for k in range(0, len(sentences), 64):
            ids = [x[: MAX_LEN - 1] + [EOS] for x in sp.encode(sentences[k: k + 64])]
            w = max(map(len, ids))
            src = torch.tensor([x + [PAD] * (w - len(x)) for x in ids])
            mask = (src != PAD).long()
            mem = model.encode(src, mask)
            ys = torch.full((len(ids), 1), tag, dtype=torch.long)
            done = torch.zeros(len(ids), dtype=torch.bool)
            for _ in range(min(max_len, int(1.3 * w) + 5)):
                nxt = model.decode(ys, mem, mask)[:, -1].argmax(-1)
                nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
                ys = torch.cat([ys, nxt[:, None]], 1)
                done |= nxt == EOS
                if done.all():
                    break
            for row in ys[:, 1:].tolist():
                row = row[: row.index(EOS)] if EOS in row else row
                out.append(sp.decode([t for t in row if t != PAD]))
    model.train()
    return out


def train(args) -> None:
    import sacrebleu  # noqa: F401 - missing (the eval extra), training stops now rather than at its first BLEU
    import sentencepiece as spm
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    RUN.mkdir(parents=True, exist_ok=True)
    log = get_logger("translation", RUN / "train.log")
    sp = spm.SentencePieceProcessor(model_file=str(train_spm(args.vocab)))
    pairs = encode_examples(sp, "train")
    val = corpus("val")
    val_pairs = encode_examples(sp, "val")
    cfg = dict(vocab_size=sp.get_piece_size(), embedding_size=args.embedding, d_model=args.d_model, heads=args.heads,
               ffn=args.ffn, enc_repeats=args.enc_repeats, dec_layers=args.dec_layers, dropout=args.dropout)
    state_path = RUN / "last.pt"
    seed_everything(args.seed)
    if state_path.exists():
        st = load_checkpoint(state_path)
        cfg = st["config"]
    model = build_model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.98), eps=1e-9)
    step, epoch, pos, seconds = 0, 0, 0, 0.0
    if state_path.exists():
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optim"])
        step, epoch, pos, seconds = st["step"], st["epoch"], st["pos"], st["seconds"]
        torch.set_rng_state(st["rng"])
        log.info(f"resumed at step {step} epoch {epoch} ({seconds / 60:.1f} min trained)")
    n_params = sum(p.numel() for p in model.parameters())
    log.info(f"model {cfg} params={n_params:,} sentences={len(pairs)} threads={args.threads} args={vars(args)}")
    model.train()
    t_end = time.time() + args.minutes * 60
    last_save = time.time()
    tok_seen, loss_sum, t0 = 0, 0.0, time.time()
    n_saves = 0

    def save():
        st = dict(model=model.state_dict(), optim=opt.state_dict(), step=step, epoch=epoch, pos=pos,
                  seconds=seconds, config=cfg, rng=torch.get_rng_state(), schedule=schedule(args))
        torch.save(st, RUN / "last.tmp")
        os.replace(RUN / "last.tmp", state_path)
        torch.save({"model": model.state_dict(), "config": cfg, "step": step}, RUN / f"snap_{step}.pt")
        for old in checkpoint_files()[: -args.keep]:
            old.unlink()

    while time.time() < t_end:
        batches = make_batches(pairs, args.max_tokens, seed=args.seed + epoch)
        while pos < len(batches) and time.time() < t_end:
            src, src_mask, tgt_in, tgt_out = collate(pairs, batches[pos], sp)
            lr = lr_at(step + 1, args.lr, args.warmup)
            if args.cooldown_minutes > 0:  # decay linearly to zero over the last minutes of this run
                lr *= min(1.0, max(0.02, (t_end - time.time()) / (args.cooldown_minutes * 60)))
            for g in opt.param_groups:
                g["lr"] = lr
            t_step = time.time()
            logits = forward_multi(model, src, src_mask, tgt_in)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1),
                                   ignore_index=PAD, label_smoothing=args.smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            seconds += time.time() - t_step
            step += 1
            pos += 1
            n = int((tgt_out != PAD).sum())
            tok_seen += n
            loss_sum += loss.item() * n
            if step % 50 == 0:
                el = time.time() - t0
                log.info(f"step {step} ep {epoch} {pos}/{len(batches)} loss {loss_sum / tok_seen:.3f} "
                         f"lr {opt.param_groups[0]['lr']:.2e} {tok_seen / el:.0f} tgt tok/s")
                tok_seen, loss_sum, t0 = 0, 0.0, time.time()
            if time.time() - last_save > args.save_minutes * 60:
                save()
                last_save = time.time()
                n_saves += 1
                if n_saves % 2 == 0:  # every other snapshot: a cheap look at greedy BLEU
                    evaluate_progress(model, sp, val, val_pairs, log, quick=True)
        if pos >= len(batches):
            epoch, pos = epoch + 1, 0
            log.info(f"epoch {epoch} done at step {step}")
    save()
    evaluate_progress(model, sp, val, val_pairs, log, quick=False)


def validation_nll(model, limit: int = 0) -> float:
    """Teacher-forced per-token NLL on the validation split (first `limit` lines), both target languages."""
    import sentencepiece as spm
    import torch
    import torch.nn.functional as F

    sp = spm.SentencePieceProcessor(model_file=str(RUN / "spm.model"))
    examples = encode_examples(sp, "val")[: limit or None]
    model.eval()
    tot, n = 0.0, 0
    with torch.no_grad():
        for idx in make_batches(examples, 4000, seed=0):
            src, sm, ti, to = collate(examples, idx, sp)
            lg = forward_multi(model, src, sm, ti)
            tot += F.cross_entropy(lg.reshape(-1, lg.shape[-1]), to.reshape(-1), ignore_index=PAD, reduction="sum").item()
            n += int((to != PAD).sum())
    return tot / n


def evaluate_progress(model, sp, val, val_pairs, log, quick: bool) -> None:
    import sacrebleu
    import torch
    import torch.nn.functional as F

    model.eval()
    with torch.no_grad():
        tot, n = 0.0, 0
        for idx in make_batches(val_pairs[:300] if quick else val_pairs, 4000, seed=0):
            src, sm, ti, to = collate(val_pairs, idx, sp)
            lg = forward_multi(model, src, sm, ti)
            k = int((to != PAD).sum())
            tot += F.cross_entropy(lg.reshape(-1, lg.shape[-1]), to.reshape(-1), ignore_index=PAD, reduction="sum").item()
            n += k
    model.train()
    m = 64 if quick else len(val["en"])
    msg = [f"val nll {tot / n:.3f}"]
    for lang in TARGETS:
        hyp = greedy_torch(model, sp, val["en"][:m], lang)
        msg.append(f"{lang} greedy BLEU[{m}] {sacrebleu.corpus_bleu(hyp, [val[lang][:m]]).score:.1f}")
    log.info(" | ".join(msg))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=0, help="train (or resume) for this long")
    p.add_argument("--export", action="store_true")
    p.add_argument("--evaluate", action="store_true")
    p.add_argument("--all", action="store_true", help="train --minutes, export, evaluate")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--train-threads", default="1", help="how the training threads are described in the card")
    p.add_argument("--vocab", type=int, default=8000)
    p.add_argument("--embedding", type=int, default=128)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=768)
    p.add_argument("--enc-repeats", type=int, default=4)
    p.add_argument("--dec-layers", type=int, default=3)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--smoothing", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=1.5e-3)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--max-tokens", type=int, default=1100)
    p.add_argument("--save-minutes", type=float, default=8)
    p.add_argument("--cooldown-minutes", type=float, default=0,
                   help="in the last N minutes of this run, decay the learning rate linearly towards zero")
    p.add_argument("--keep", type=int, default=6, help="snapshots kept for averaging")
    p.add_argument("--average", type=int, default=0,
                   help="average the last N snapshots at export (0: the N with the lowest validation loss)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--version", default="1.1.0", help="version written into the exported manifest")
    p.add_argument("--schedule", default="", help="at export: the schedule, in words, for checkpoints that do not record it")
    p.add_argument("--limit", type=int, default=0, help="evaluate on the first N val lines only")
    p.add_argument("--speed-sentences", type=int, default=64, help="val lines timed for the speed table (0: none)")
    p.add_argument("--variants", default="fp32,int8", help="graph variants to evaluate (run one per process to parallelise)")
    p.add_argument("--langs", default="fr,de", help="target languages to evaluate (the speed table runs with the first)")
    args = p.parse_args(argv)
    if args.minutes > 0:
        train(args)
    if args.export or args.all:
        from app.training.translation_export import export

        export(args, validation_nll)
    if args.evaluate or args.all:
        from app.training.translation_export import evaluate

        evaluate(args, corpus("val"))


if __name__ == "__main__":
    main()
