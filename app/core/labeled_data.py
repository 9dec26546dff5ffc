"""Labelled examples for fine-tuning: read a table file, map its columns, validate, evaluate predictions.

    table = read_labeled_table("tickets.csv")          # CSV, TSV, JSONL or XLSX -> columns + rows
    text_col, label_col = guess_columns(table)         # a starting point for the column-mapping step
    data = dataset_from_table(table, text_col, label_col)   # LabeledDataset or LabelDataError

No torch here: the window, the CLI and the training worker all use it.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence
from xml.etree import ElementTree

import numpy as np

from app.core.documents import open_table, read_rows
from app.core.documents.safezip import ZipReader
from app.core.errors import DocumentError, LabelDataError

FORMATS = ("csv", "tsv", "jsonl", "xlsx")
MIN_PER_CLASS = 4  # fewer and a stratified split cannot put one in validation and keep some to train on
MAX_CLASSES = 20
TEXT_NAMES = ("text", "sentence", "review", "body", "content", "message", "comment", "document")
LABEL_NAMES = ("label", "labels", "class", "category", "target", "sentiment", "y")


@dataclass(frozen=True)
class Table:
    """A labelled file as rows of strings, before the user says which column is which."""

    source: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    encoding: str = "utf-8"


@dataclass(frozen=True)
class LabeledDataset:
    """Texts with their class names, ready to train on."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]  # one class name per text
    classes: tuple[str, ...]  # sorted class names; a label's index in here is its class id
    source: str = ""
    warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def label_ids(self) -> tuple[int, ...]:
        index = {c: i for i, c in enumerate(self.classes)}
        return tuple(index[y] for y in self.labels)

    def counts(self) -> dict[str, int]:
        c = Counter(self.labels)
        return {k: c[k] for k in self.classes}

    def describe(self) -> str:
        return f"{len(self)} examples, {len(self.classes)} classes (" + ", ".join(
            f"{k}: {n}" for k, n in self.counts().items()) + ")"

    def renamed(self, names: dict[str, str]) -> "LabeledDataset":
        """The same examples with classes renamed ({"0": "negative", "1": "positive"}): the names the new
        model will show. Unnamed classes keep their label; two classes may not get one name."""
        mapping = {c: (names.get(c) or c).strip() or c for c in self.classes}
        taken: dict[str, str] = {}
        for old, new in mapping.items():
            if new in taken:
                raise LabelDataError(f"'{taken[new]}' and '{old}' cannot both be named '{new}'; give each class its own name.")
            taken[new] = old
        unknown = sorted(set(names) - set(self.classes))
        if unknown:
            raise LabelDataError(f"no class {', '.join(map(repr, unknown))} in the data (its classes: "
                                 f"{', '.join(self.classes)})")
        return LabeledDataset(self.texts, tuple(mapping[y] for y in self.labels), tuple(sorted(taken)),
                              self.source, self.warnings)

    def needs_names(self) -> bool:
        """Classes that are bare numbers or single letters ("0", "1"): worth a name before training."""
        return all(c.strip().isdigit() or len(c.strip()) == 1 for c in self.classes)


def parse_label_names(spec: str) -> dict[str, str]:
    """'0=negative,1=positive' -> {"0": "negative", "1": "positive"} (--label-names)."""
    out: dict[str, str] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        old, sep, new = part.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise LabelDataError(f"--label-names wants LABEL=NAME pairs separated by commas, e.g. 0=negative,1=positive "
                                 f"(got {part.strip()!r})")
        out[old.strip()] = new.strip()
    return out


# -- reading


def _sniff_format(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    if ext in FORMATS:
        return ext
    if ext in ("ndjson", "json"):
        return "jsonl"
    if ext == "tab" or ext == "txt":
        return "tsv"
    raise LabelDataError(f"{path}: cannot read '.{ext}' files as labelled data; use CSV, TSV, JSONL or XLSX.")


def read_labeled_table(path: str | Path) -> Table:
    """Read a CSV, TSV, JSONL or XLSX file into a Table (all cells as strings).

    CSV, TSV and JSONL go through the documents' row reader (documents.read_rows), so a file a batch can read
    (UTF-16, a BOM, a legacy code page, huge cells) reads as labelled data too; a bad row is an error here,
    since a training set with rows silently dropped would not be the one the user labelled."""
    path = Path(path)
    fmt = _sniff_format(path)
    if fmt == "xlsx":
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise LabelDataError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
        if not raw.strip():
            raise LabelDataError(f"{path}: the file is empty.")
        return _read_xlsx(raw, str(path))
    try:
        # tab-separated labelled sets are plain TSV (GLUE's, SST-2's): a cell may start with a quote it never closes
        table = open_table(path, fmt, refuse_mixed_encodings=True, quoted_tabs=False)
        records = []
        for item in read_rows(table):
            if isinstance(item, DocumentError):
                raise LabelDataError(f"{item}. Fix or delete that row, then load the file again.")
            records.append(item[1])
    except DocumentError as exc:
        raise LabelDataError(str(exc)) from exc
    columns: list[str] = []
    for r in records:
        columns += [k for k in r if k not in columns]
    if not records or not columns:
        raise LabelDataError(f"{path}: needs a header row and at least one row of data.")
    rows = tuple(tuple(_cell(r.get(c)) for c in columns) for r in records)
    return Table(str(path), tuple(columns), rows, table.encoding)


def _cell(value) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def _read_xlsx(raw: bytes, source: str) -> Table:
    """First worksheet of an .xlsx file, read with the standard library (no spreadsheet package needed)."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    try:
        # the bytes actually inflated are bounded, whatever the zip's headers declare (documents/safezip.py)
        z = ZipReader(source, raw, kind=".xlsx workbook")
        shared: list[str] = []
        if "xl/sharedStrings.xml" in z.names():
            for si in ElementTree.fromstring(z.read("xl/sharedStrings.xml")).findall("m:si", ns):
                shared.append("".join(t.text or "" for t in si.iter(f"{{{ns['m']}}}t")))
        sheets = sorted(n for n in z.names() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))
        if not sheets:
            raise LabelDataError(f"{source}: the workbook has no worksheet.")
        sheet = ElementTree.fromstring(z.read(sheets[0]))
    except DocumentError as exc:
        raise LabelDataError(str(exc)) from None
    except (ElementTree.ParseError, KeyError) as exc:
        raise LabelDataError(f"{source}: not a readable .xlsx workbook ({exc}).") from exc
    grid: list[dict[int, str]] = []
    for row in sheet.iter(f"{{{ns['m']}}}row"):
        cells: dict[int, str] = {}
        for k, c in enumerate(row.findall("m:c", ns)):
            ref = c.get("r", "")
            letters = re.match(r"[A-Z]+", ref)
            col = k
            if letters:
                col = 0
                for ch in letters.group(0):
                    col = col * 26 + ord(ch) - 64
                col -= 1
            kind = c.get("t")
            v = c.find("m:v", ns)
            if kind == "s" and v is not None:
                val = shared[int(v.text)]
            elif kind == "inlineStr":
                val = "".join(t.text or "" for t in c.iter(f"{{{ns['m']}}}t"))
            else:
                val = v.text if v is not None and v.text is not None else ""
                if re.fullmatch(r"-?\d+\.0", val):
                    val = val[:-2]
            cells[col] = val
        if any(s.strip() for s in cells.values()):
            grid.append(cells)
    if len(grid) < 2:
        raise LabelDataError(f"{source}: needs a header row and at least one row of data.")
    width = max(max(r) for r in grid) + 1
    header = tuple((grid[0].get(i) or f"column {i + 1}").strip() for i in range(width))
    rows = tuple(tuple(r.get(i, "") for i in range(width)) for r in grid[1:])
    return Table(source, header, rows)


def guess_columns(table: Table) -> tuple[str, str]:
    """A likely (text column, label column): known names first, else longest-text and fewest-values columns."""
    lower = [c.lower() for c in table.columns]

    def by_name(names: Sequence[str]) -> str | None:
        for n in names:
            if n in lower:
                return table.columns[lower.index(n)]
        return None

    sample = table.rows[:500]
    mean_len = [np.mean([len(r[i]) for r in sample]) if sample else 0 for i in range(len(table.columns))]
    distinct = [len({r[i] for r in sample}) for i in range(len(table.columns))]
    text = by_name(TEXT_NAMES) or table.columns[int(np.argmax(mean_len))]
    label = by_name(LABEL_NAMES)
    if label is None or label == text:
        others = [i for i, c in enumerate(table.columns) if c != text]
        label = table.columns[min(others, key=lambda i: distinct[i])] if others else text
    return text, label


# -- validation


def dataset_from_table(table: Table, text_col: str, label_col: str, min_per_class: int = MIN_PER_CLASS) -> LabeledDataset:
    """Take the mapped columns of a table and validate them (see `make_dataset`)."""
    for name, col in (("text", text_col), ("label", label_col)):
        if col not in table.columns:
            raise LabelDataError(
                f"{table.source}: no column '{col}' for the {name}. Columns: {', '.join(table.columns)}")
    if text_col == label_col:
        raise LabelDataError("The text column and the label column must be different columns.")
    ti, li = table.columns.index(text_col), table.columns.index(label_col)
    # row numbers as a person sees them in the file: header is row 1
    return make_dataset(((r[ti], r[li]) for r in table.rows), table.source, min_per_class, first_row=2)


def make_dataset(pairs: Iterable[tuple[str, str]], source: str = "", min_per_class: int = MIN_PER_CLASS,
                 first_row: int = 1) -> LabeledDataset:
    """Validate (text, label) pairs: no empty text or label, 2..20 classes, enough per class, no conflicts.

    Exact duplicates (same text, same label) are kept once, with a warning, so that a text cannot be
    in both the training and the validation split; the same text with two labels is an error.
    """
    where = f"{source}: " if source else ""
    texts: list[str] = []
    labels: list[str] = []
    empty_text, empty_label = [], []
    seen: dict[str, tuple[str, int]] = {}
    dupes, conflicts = [], []
    for n, (t, y) in enumerate(pairs, first_row):
        t, y = (t or "").strip(), (y or "").strip()
        if not t:
            empty_text.append(n)
            continue
        if not y:
            empty_label.append(n)
            continue
        key = " ".join(t.split()).lower()
        if key in seen:
            (dupes if seen[key][0] == y else conflicts).append((seen[key][1], n))
            continue
        seen[key] = (y, n)
        texts.append(t)
        labels.append(y)

    def rows(ns: list, k: int = 8) -> str:
        return ", ".join(map(str, ns[:k])) + (f" and {len(ns) - k} more" if len(ns) > k else "")

    if empty_text:
        raise LabelDataError(f"{where}{len(empty_text)} row(s) have no text (rows {rows(empty_text)}). "
                             "Fill them in or delete them.")
    if empty_label:
        raise LabelDataError(f"{where}{len(empty_label)} row(s) have no label (rows {rows(empty_label)}). "
                             "Label them or delete them.")
    if conflicts:
        pairs_s = ", ".join(f"{a} and {b}" for a, b in conflicts[:5])
        raise LabelDataError(f"{where}{len(conflicts)} text(s) appear twice with different labels "
                             f"(rows {pairs_s}). Keep one label per text.")
    counts = Counter(labels)
    if len(counts) < 2:
        only = next(iter(counts), "none")
        raise LabelDataError(f"{where}all examples have the same label ('{only}'); a classifier needs at least "
                             "two classes. Check the label column.")
    if len(counts) > MAX_CLASSES:
        raise LabelDataError(f"{where}{len(counts)} different labels; at most {MAX_CLASSES} are supported. "
                             "Is the label column right? (It looks like free text.)")
    small = sorted((k for k, v in counts.items() if v < min_per_class), key=lambda k: counts[k])
    if small:
        raise LabelDataError(
            f"{where}too few examples for " + ", ".join(f"'{k}' ({counts[k]})" for k in small)
            + f"; each class needs at least {min_per_class}. Label more, or merge or drop those classes.")
    warnings = []
    if dupes:
        warnings.append(f"{len(dupes)} duplicate row(s) kept once (e.g. rows {dupes[0][0]} and {dupes[0][1]}).")
    return LabeledDataset(tuple(texts), tuple(labels), tuple(sorted(counts)), source, tuple(warnings))


def dataset_from_store(label_rows: Iterable, min_per_class: int = MIN_PER_CLASS) -> LabeledDataset:
    """The labels a user made in the window (Store.labels() rows) as a dataset."""
    rows = list(label_rows)
    if not rows:
        raise LabelDataError("The library has no labels yet. Label some documents or sentences first "
                             "(right-click a sentence in the viewer), or pick a labelled file.")
    return make_dataset(((r.text, r.label) for r in rows), "library labels", min_per_class)


def load_labeled(path: str | Path, text_col: str | None = None, label_col: str | None = None,
                 min_per_class: int = MIN_PER_CLASS) -> LabeledDataset:
    """Read and validate a labelled file; columns default to the best guess."""
    table = read_labeled_table(path)
    g_text, g_label = guess_columns(table)
    return dataset_from_table(table, text_col or g_text, label_col or g_label, min_per_class)


# -- evaluation (numpy only, so the window can recompute it from stored predictions)


@dataclass(frozen=True)
class ClassScores:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Evaluation:
    """Scores of one model on one labelled set."""

    accuracy: float
    macro_f1: float
    per_class: tuple[ClassScores, ...]
    confusion: tuple[tuple[int, ...], ...]  # rows: true class, columns: predicted class
    classes: tuple[str, ...]
    n: int
    model: str = ""

    def as_dict(self) -> dict:
        return {"accuracy": round(self.accuracy, 4), "macro_f1": round(self.macro_f1, 4), "n": self.n,
                "per_class": {c.label: {"precision": round(c.precision, 4), "recall": round(c.recall, 4),
                                        "f1": round(c.f1, 4), "support": c.support} for c in self.per_class},
                "confusion": [list(r) for r in self.confusion], "classes": list(self.classes),
                "model": self.model}

    @classmethod
    def from_dict(cls, d: dict) -> Evaluation:
        per = tuple(ClassScores(k, v["precision"], v["recall"], v["f1"], v["support"])
                    for k, v in d["per_class"].items())
        return cls(d["accuracy"], d["macro_f1"], per, tuple(tuple(r) for r in d["confusion"]),
                   tuple(d["classes"]), d["n"], d.get("model", ""))


def evaluate(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str], model: str = "") -> Evaluation:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix."""
    k = len(classes)
    cm = np.zeros((k, k), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        cm[int(t), int(p)] += 1
    per = []
    for i, c in enumerate(classes):
        tp = cm[i, i]
        prec = tp / cm[:, i].sum() if cm[:, i].sum() else 0.0
        rec = tp / cm[i].sum() if cm[i].sum() else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per.append(ClassScores(c, float(prec), float(rec), float(f1), int(cm[i].sum())))
    n = int(cm.sum())
    return Evaluation(float(np.trace(cm) / n) if n else 0.0, float(np.mean([c.f1 for c in per])),
                      tuple(per), tuple(tuple(int(v) for v in r) for r in cm), tuple(classes), n, model)


def stratified_split(label_ids: Sequence[int], val_fraction: float = 0.2, seed: int = 13) -> tuple[list[int], list[int]]:
    """Indices (train, validation) with every class in both, in the same proportions, deterministically."""
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(label_ids):
        by_class.setdefault(int(y), []).append(i)
    train, val = [], []
    for y in sorted(by_class):
        idx = list(rng.permutation(by_class[y]))
        n_val = min(max(1, round(len(idx) * val_fraction)), len(idx) - 1)
        val += idx[:n_val]
        train += idx[n_val:]
    return sorted(int(i) for i in train), sorted(int(i) for i in val)
