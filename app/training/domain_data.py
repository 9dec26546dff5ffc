"""English sentiment beyond movie reviews: the labelled sets of other domains, with fixed validation splits.

Every set of ../shared/data that carries English sentiment labels, read into one row type and split once
(seed 13, by a hash-free shuffle of the file order) into training and validation parts; validation rows are
never trained on. TweetEval's file is its validation split, so it is validation only here. Multi30k image
captions are factual descriptions: their training part is a source of neutral sentences, their validation
part a check that factual text reads neutral.

    python -m app.training.domain_data          # the table of sets, sizes and label counts

Labels are "negative", "positive" and, where the set has it, "neutral". `polar_only` sets (binary sources
that dropped their neutral rows: SST-2, IMDB, UCI sentences, Blitzer reviews) never teach "not neutral" by
omission: their rows are opinions by construction, so they are trained as such.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from app.training.common import DATA_DIR, read_jsonl

LABELS3 = ("negative", "positive", "neutral")  # indices 0/1 as in the binary models; neutral appended


@dataclass(frozen=True)
class LabeledText:
    text: str
    label: str  # one of LABELS3
    source: str  # the set's short name
    kind: str  # "sentence" or "document"
    weight: float = 1.0  # < 1 for rows the source marks as uncertain (airline tweets' confidence)


@dataclass(frozen=True)
class SetSpec:
    name: str
    path: str
    n_val: int  # validation rows (all rows when the file is a validation split)
    kind: str
    has_neutral: bool
    val_only: bool = False
    n_calib: int = 0  # rows kept apart from training to fit the temperature (never validation)


SETS = (
    SetSpec("uci", "uci-sentiment-sentences/train.jsonl", 400, "sentence", False),
    SetSpec("phrasebank", "financial-phrasebank/train.jsonl", 800, "sentence", True, n_calib=300),
    SetSpec("blitzer", "multi-domain-sentiment/train.jsonl", 800, "document", False),
    SetSpec("semeval", "semeval14-absa/train.jsonl", 700, "sentence", True, n_calib=300),
    SetSpec("airline", "twitter-airline-sentiment/train.jsonl", 1500, "sentence", True, n_calib=300),
    SetSpec("tweeteval", "tweeteval-sentiment/dev.jsonl", 2000, "sentence", True, val_only=True),
)
CAPTIONS_VAL = "multi30k/val.en"
CAPTIONS_TRAIN = "multi30k/train.en"


def _rows(spec: SetSpec) -> list[LabeledText]:
    out = []
    for r in read_jsonl(DATA_DIR / spec.path):
        text, label = str(r.get("text", "")).strip(), str(r.get("label", "")).strip().lower()
        if not text or label not in LABELS3:
            continue
        weight = 1.0
        if spec.name == "airline":
            # the source's annotator agreement: a 0.35-confidence "positive" is a coin toss
            weight = float(r.get("confidence") or 1.0)
        out.append(LabeledText(text, label, spec.name, spec.kind, weight))
    return out


def split3(spec: SetSpec, seed: int = 13) -> tuple[list[LabeledText], list[LabeledText], list[LabeledText]]:
    """(training, calibration, validation) rows of one set; the same for a given seed on every machine."""
    rows = _rows(spec)
    if spec.val_only:
        return [], [], rows
    rng = random.Random(f"{spec.name}-{seed}")
    order = list(range(len(rows)))
    rng.shuffle(order)
    val = set(order[: spec.n_val])
    calib = set(order[spec.n_val: spec.n_val + spec.n_calib])
    # a text that occurs twice (retweets, duplicated sentences) goes wholly to the held part if either copy does
    held = {rows[i].text for i in val | calib}
    train = [r for i, r in enumerate(rows) if i not in val and i not in calib and r.text not in held]
    return train, [rows[i] for i in sorted(calib)], [rows[i] for i in sorted(val)]


def split(spec: SetSpec, seed: int = 13) -> tuple[list[LabeledText], list[LabeledText]]:
    """(training rows, validation rows) of one set (calibration rows are in neither)."""
    train, _, val = split3(spec, seed)
    return train, val


def captions(part: str, n: int | None = None, seed: int = 13) -> list[LabeledText]:
    """Multi30k English captions as neutral rows ("train" or "val")."""
    path = DATA_DIR / (CAPTIONS_TRAIN if part == "train" else CAPTIONS_VAL)
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if n is not None:
        rng = random.Random(f"captions-{seed}")
        rng.shuffle(lines)
        lines = lines[:n]
    return [LabeledText(t, "neutral", "captions", "sentence") for t in lines]


def all_splits(seed: int = 13) -> dict[str, tuple[list[LabeledText], list[LabeledText]]]:
    return {s.name: split(s, seed) for s in SETS}


def spec(name: str) -> SetSpec:
    return next(s for s in SETS if s.name == name)


def main() -> None:
    print(f"{'set':<12}{'kind':<10}{'train':>8}{'calib':>7}{'val':>7}  labels (val)")
    for s in SETS:
        tr, ca, va = split3(s)
        print(f"{s.name:<12}{s.kind:<10}{len(tr):>8}{len(ca):>7}{len(va):>7}  {dict(Counter(r.label for r in va))}")
    print(f"{'captions':<12}{'sentence':<10}{len(captions('train')):>8}{0:>7}{len(captions('val')):>7}  all neutral")


if __name__ == "__main__":
    main()
