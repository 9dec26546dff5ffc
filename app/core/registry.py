"""Model folders and their manifests: discovery, validation on load, defaults, import.

A model is a folder holding `manifest.json` (format below), the files it names, and usually a
MODEL_CARD.md. Shipped models live in the repository's (or the bundle's) `models/`; models the
user imports or fine-tunes live in the user data folder. Every file's sha256 is checked and every
ONNX graph's inputs must match what the manifest declares before a task may use it.

    {"format": 1, "id": "albert-sentiment-en", "version": "1.0.0", "task": "sentiment",
     "name": "...", "languages": ["en"], "labels": ["negative", "positive"], "max_length": 256,
     "tokenizer": {"type": "wordpiece", "file": "tokenizer.json"},
     "graphs": {"fp32": {"file": "model.onnx", "inputs": ["input_ids", "attention_mask"]},
                "int8": {"file": "model.int8.onnx", "inputs": ["input_ids", "attention_mask"]}},
     "default_graph": "int8", "files": {"model.onnx": "<sha256>", ...},
     "metrics": {...}, "license": "...", "base_model": "...", "source": "shipped"}
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core import model_files
from app.core.errors import ModelError
from app.core.manifest_schema import TASKS, validate
from app.core.types import CLASSIFICATION, classification_name

MANIFEST = "manifest.json"
CARD = "MODEL_CARD.md"
MAX_CARD_BYTES = 1_000_000


def shipped_models_dir() -> Path:
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2]))
    return base / "models"


def user_models_dir() -> Path:
    import os

    env = os.environ.get("ALBERT_STUDIO_MODELS")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("albert-studio")) / "models"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Manifest:
    folder: Path
    id: str
    version: str
    task: str
    name: str
    graphs: dict[str, dict[str, Any]]
    files: dict[str, str]
    default_graph: str
    tokenizer: dict[str, Any]
    labels: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    source_lang: str = ""
    target_lang: str = ""
    max_length: int = 512
    metrics: dict[str, Any] = field(default_factory=dict)
    license: str = ""
    base_model: str = ""
    origin: str = "shipped"
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def target_langs(self) -> tuple[str, ...]:
        """Languages a translation model writes (one model may serve several target languages)."""
        targets = self.raw.get("targets")
        if isinstance(targets, dict) and targets:
            return tuple(targets)
        return (self.target_lang,) if self.target_lang else ()

    @property
    def headline(self) -> str:
        """The model's key measured figures in one line, as a person would quote them ("" when unknown)."""
        m = self.metrics or {}
        try:
            if self.task == "translation":
                q, variant = m.get("quality") or {}, self.raw.get("default_variant", "fp32")
                rows = [(lang, q.get(f"{lang}-{variant}-beam 4") or q.get(f"{lang}-{variant}-greedy"))
                        for lang in self.target_langs]
                rows = [(lang, r) for lang, r in rows if r]
                if rows:
                    src = self.source_lang or "en"
                    bleu = ", ".join(f"{src}→{lang} {r['bleu']:.1f}" for lang, r in rows)
                    return f"BLEU {bleu} ({variant}, {rows[0][1]['decoding']}, {rows[0][1]['sentences']} val sentences)"
                # a model measured per domain ("docs fr int8 beam 4", "multi30k fr int8 beam 4")
                for v in dict.fromkeys([variant, "int8", "fp32"]):
                    docs = [(lang, q.get(f"docs {lang} {v} beam 4")) for lang in self.target_langs]
                    docs = [(lang, r) for lang, r in docs if r]
                    if docs:
                        src = self.source_lang or "en"
                        caps = [q.get(f"multi30k {lang} {v} beam 4") for lang, _ in docs]
                        line = "BLEU documentation " + ", ".join(f"{src}→{lang} {r['bleu']:.1f}" for lang, r in docs)
                        if all(caps):
                            line += "; captions " + " / ".join(f"{c['bleu']:.1f}" for c in caps)
                        everyday = [q.get(f"tatoeba {lang} {v} beam 4") for lang, _ in docs]
                        if all(everyday):
                            line += "; everyday sentences " + " / ".join(f"{c['bleu']:.1f}" for c in everyday)
                        return line + f" ({v}, beam 4, {docs[0][1]['sentences']} val sentences)"
            elif self.task == "summary":
                r = (m.get("3 sentences") or {}).get("ALBERT summarizer")
                if r:
                    return f"ROUGE-1/2/L {r['rouge1']:.1f} / {r['rouge2']:.1f} / {r['rougeL']:.1f} (3 sentences)"
            elif self.task == "encoder" and isinstance(m.get("teacher_agreement_cosine"), (int, float)):
                return f"agreement with its teacher {m['teacher_agreement_cosine']:.3f} (cosine)"
            elif self.task in ("sentiment", CLASSIFICATION):
                g = "int8" if "int8" in self.default_graph else "fp32"
                if "sst2_accuracy_" + g in m:
                    other = "".join(f", {name} {100 * m[key]:.1f}%" for key, name in (
                        ("fr_tvseries_polar_accuracy", "French reviews"), ("germeval_polar_accuracy", "German posts"))
                        if isinstance(m.get(key), (int, float)))
                    return (f"accuracy SST-2 {100 * m['sst2_accuracy_' + g]:.1f}%, "
                            f"IMDB reviews {100 * m['imdb_accuracy_' + g]:.1f}%{other} ({g})")
                v = m.get("validation")
                if isinstance(v, dict) and "accuracy" in v:  # a fine-tuned model: its own validation split
                    return f"accuracy {100 * v['accuracy']:.1f}%, macro-F1 {v['macro_f1']:.3f} ({v.get('n', '?')} held out)"
        except (KeyError, TypeError, ValueError):  # a hand-written manifest: fall back to the raw figures
            return ""
        return ""

    @property
    def classification_name(self) -> str:
        """A classifier's name ("topic"), the key its column and results go under ("" for other tasks)."""
        spec = self.raw.get("classification") if self.task == CLASSIFICATION else None
        return str(spec.get("name") or "") if isinstance(spec, dict) else ""

    @property
    def classification_unit(self) -> str:
        """"sentence" when the classifier was trained on sentences (it labels each one too), else "document"."""
        spec = self.raw.get("classification") if self.task == CLASSIFICATION else None
        return str(spec.get("unit") or "document") if isinstance(spec, dict) else "document"

    @property
    def domain(self) -> str:
        """The kind of text the model was trained on, when its manifest says (e.g. "image captions")."""
        return str(self.raw.get("domain") or "")

    @property
    def size_bytes(self) -> int:
        return sum((self.folder / f).lstat().st_size for f in self.files if (self.folder / f).is_file())

    @property
    def card(self) -> Path | None:
        p = self.folder / CARD
        return p if p.is_file() and not p.is_symlink() else None

    def path(self, name: str) -> Path:
        """A file of the model, checked to be a regular file inside its folder (ModelError otherwise)."""
        return model_files.inside(self.folder, name, self.id)

    def graph_file(self, graph: str | None = None) -> Path:
        g = graph or self.default_graph
        if g not in self.graphs:
            raise ModelError(f"{self.id}: no graph '{g}' (has {', '.join(self.graphs)})")
        return self.path(self.graphs[g]["file"])

    def describe(self) -> str:
        langs = f"{self.source_lang}->{','.join(self.target_langs)}" if self.task == "translation" else ",".join(self.languages)
        return f"{self.id} {self.version} ({self.task}, {langs})"


def _polar(labels) -> bool:
    """negative/positive, and at most a learned neutral besides: sentiment, not a classification."""
    return sorted(labels) in (["negative", "positive"], ["negative", "neutral", "positive"])


def size_text(n_bytes: int) -> str:
    """A model's size as the window and `models list` both show it: decimal megabytes (1 MB = 1,000,000 bytes,
    as Linux and macOS file managers count; 131.8 MB is 125.7 MiB)."""
    if n_bytes >= 10**9:
        return f"{n_bytes / 1e9:.2f} GB"
    return f"{n_bytes / 1e6:.1f} MB"


def read_manifest(folder: Path, origin: str = "shipped") -> Manifest:
    """Read and validate `folder`/manifest.json against the schema; every problem is a ModelError naming its field."""
    folder = Path(folder)
    mpath = folder / MANIFEST
    if not os.path.lexists(mpath):
        raise ModelError(f"{folder}: not a model folder (no {MANIFEST})")
    data = model_files.read_small(mpath, model_files.MAX_MANIFEST_BYTES, MANIFEST, str(folder))
    try:
        raw = json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{mpath}: manifest is not valid JSON ({exc})") from exc
    except RecursionError:
        raise ModelError(f"{mpath}: manifest is not valid JSON (nested too deeply)") from None
    except ValueError as exc:  # an integer of more than 4,300 digits (Python's int conversion limit)
        raise ModelError(f"{mpath}: manifest is not valid JSON ({exc})") from None
    if isinstance(raw, dict):  # say the one thing people get wrong most plainly
        missing = [k for k in ("id", "version", "task", "graphs", "files") if k not in raw]
        if missing:
            raise ModelError(f"{mpath}: manifest lacks {', '.join(missing)}")
        if raw["task"] not in TASKS:
            raise ModelError(f"{mpath}: unknown task '{raw['task']}' (expected one of {', '.join(TASKS)})")
    schema, problems = validate(raw)
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ModelError(f"{mpath}: invalid manifest: {shown}")
    graphs = {k: g.model_dump(exclude_none=True) for k, g in schema.graphs.items()}
    if not graphs and schema.task != "encoder":
        raise ModelError(f"{mpath}: 'graphs' must name at least one ONNX graph")
    default_graph = schema.default_graph or next(iter(graphs), "")
    if graphs and default_graph not in graphs:
        raise ModelError(f"{mpath}: default_graph '{default_graph}' is not one of the graphs ({', '.join(graphs)})")
    tokenizer = schema.tokenizer.model_dump(exclude_none=True)
    named = [(f"graph '{k}'", g["file"]) for k, g in graphs.items()]
    named += [(f"tokenizer.{k}", tokenizer[k]) for k in ("file", "source", "target") if k in tokenizer]
    named += [(f"head '{k}'", h.file) for k, h in schema.heads.items()]
    for what, name in named:
        if name not in schema.files:
            raise ModelError(f"{mpath}: {what} file {name} is not listed in 'files' (every file needs its sha256)")
    task = schema.task
    if task == "sentiment" and raw.get("source") == "fine-tuned" and not _polar(schema.labels):
        # fine-tuned before classification was its own task: a "topic" model registered as sentiment
        task = CLASSIFICATION
        raw = {**raw, "task": task, "classification": {"name": classification_name(schema.id), "unit": "document"},
               "migrated_from": "sentiment"}
    return Manifest(
        folder=folder, id=schema.id, version=schema.version, task=task,
        name=schema.name or schema.id, graphs=graphs, files=dict(schema.files),
        default_graph=default_graph, tokenizer=tokenizer,
        labels=tuple(schema.labels), languages=tuple(schema.languages),
        source_lang=schema.source_lang, target_lang=schema.target_lang,
        max_length=schema.max_length, metrics=schema.metrics,
        license=schema.license, base_model=schema.base_model,
        origin=schema.origin or origin, raw=raw,
    )


def verify(manifest: Manifest, check_graphs: bool = True) -> None:
    """Raise ModelError if a file is missing, not a regular file inside the folder, has the wrong sha256, or a
    graph's inputs differ from the manifest (or cannot take `max_length` tokens). Hashes are remembered by
    (path, size, mtime), so verifying an unchanged model again costs no re-reading. A task model checks only
    the graphs it opens, on its own sessions (`check_graph_inputs`); this opens a CPU session per graph."""
    verify_files(manifest)
    if check_graphs:
        check_graph_inputs(manifest, {name: _graph_session(manifest.path(g["file"]))
                                      for name, g in manifest.graphs.items() if "inputs" in g})


def verify_files(manifest: Manifest) -> None:
    """Every listed file present, regular, inside the folder and with the sha256 the manifest gives."""
    for name, digest in manifest.files.items():
        p = manifest.path(name)
        if model_files.sha256_of(p, name, manifest.id) != digest:
            raise ModelError(f"{manifest.id}: {name} is damaged or was changed (sha256 does not match the manifest)")
    for gname, g in manifest.graphs.items():
        if g.get("file") not in manifest.files:
            raise ModelError(f"{manifest.id}: graph '{gname}' file {g.get('file')} is not listed in 'files'")


def check_graph_inputs(manifest: Manifest, sessions: dict) -> None:
    """Each opened graph (graph name -> runtime.Session) takes the inputs its manifest declares, and a
    sentiment or summary encoder takes `max_length` tokens."""
    for gname, sess in sessions.items():
        g = manifest.graphs.get(gname) or {}
        if "inputs" not in g:
            continue
        have = list(sess.input_names)
        want = list(g["inputs"])
        if sorted(have) != sorted(want):
            raise ModelError(f"{manifest.id}: graph {g['file']} takes inputs {have}, but the manifest declares {want}")
        # an encoder graph (a decoder also needs the encoder's states: it is not run alone here)
        if manifest.task in ("sentiment", "summary") and "input_ids" in have and \
                set(have) <= {"input_ids", "attention_mask", "token_type_ids"}:
            _check_max_length(manifest, g["file"], sess)


def _check_max_length(manifest: Manifest, file: str, sess) -> None:
    """One run at max_length tokens: a graph whose position table is shorter fails here, not mid-batch."""
    import numpy as np

    ones = np.ones((1, manifest.max_length), dtype=np.int64)
    try:
        sess({"input_ids": ones, "attention_mask": ones, "token_type_ids": np.zeros_like(ones)})
    except ModelError as exc:
        cause = exc.__cause__ or exc
        raise ModelError(f"{manifest.id}: max_length {manifest.max_length} is more than graph {file} can take "
                         f"({str(cause).splitlines()[0][:200]})") from None


def _graph_session(path: Path):
    from app.core.runtime import RuntimeOptions, Session

    return Session(path, RuntimeOptions(device="cpu", tune=False))  # reading inputs: no per-CPU probe


def graph_inputs(path: Path) -> list[str]:
    """The inputs a graph file takes, read from the file (training code: onnx is there) without opening an
    inference session, so no device is touched; a session on the CPU where the onnx package is missing."""
    try:
        import onnx
    except ImportError:
        return list(_graph_session(path).input_names)
    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {t.name for t in graph.initializer}
    return [i.name for i in graph.input if i.name not in weights]


def write_manifest(folder: Path, data: dict[str, Any]) -> Path:
    """Fill in the sha256 of every listed file and write manifest.json."""
    folder = Path(folder)
    data = dict(data)
    data.setdefault("format", 1)
    data["files"] = {name: sha256_file(folder / name) for name in data["files"]}
    p = folder / MANIFEST
    p.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return p


def _manifest_files(root: Path) -> list[Path]:
    """manifest.json of each model folder under root; dot folders (imports in progress) are not models yet."""
    return sorted(m for m in root.glob(f"*/{MANIFEST}") if not m.parent.name.startswith("."))


class Registry:
    """The installed models: shipped ones plus the user's, with a default per task."""

    def __init__(self, roots: list[Path] | None = None, settings_file: Path | None = None):
        self.user_dir = user_models_dir()
        self.roots = roots if roots is not None else [shipped_models_dir(), self.user_dir]
        self.settings_file = settings_file or (self.user_dir / "defaults.json")

    def scan(self) -> tuple[list[Manifest], list[tuple[Path, str]]]:
        """(the usable models, the broken folders with why): one bad folder is listed and skipped, it never
        stops the others from being listed or used."""
        found: dict[str, Manifest] = {}
        broken: list[tuple[Path, str]] = []
        listing = []
        for root in self.roots:
            if root.is_dir():
                for m in _manifest_files(root):
                    try:
                        st = m.stat()
                        listing.append((root, m, st.st_mtime_ns, st.st_size, st.st_ino))
                    except OSError:
                        listing.append((root, m, 0, -1, 0))
        key = tuple(listing)
        cached = getattr(self, "_scan_cache", None)
        if cached is not None and cached[0] == key:  # no manifest changed since: a batch asks many times a chunk
            return list(cached[1]), list(cached[2])
        for root in self.roots:
            if not root.is_dir():
                continue
            origin = "user" if root == self.user_dir else "shipped"
            for m in _manifest_files(root):
                try:
                    man = read_manifest(m.parent, origin)
                except ModelError as exc:
                    broken.append((m.parent, str(exc)))
                    continue
                except (OSError, ValueError, TypeError, RecursionError, MemoryError) as exc:  # never one folder's traceback
                    broken.append((m.parent, f"{m}: unreadable manifest ({type(exc).__name__}: {exc})"))
                    continue
                found[man.id] = man  # user models override shipped ones of the same id
        self._scan_cache = (key, list(found.values()), list(broken))
        return list(found.values()), broken

    def manifests(self) -> list[Manifest]:
        return self.scan()[0]

    def problems(self) -> list[tuple[Path, str]]:
        """Folders that look like models but cannot be read (`models list`, `models verify`, the Models view)."""
        return self.scan()[1]

    def get(self, model_id: str) -> Manifest:
        for m in self.manifests():
            if m.id == model_id:
                return m
        raise ModelError(f"No installed model '{model_id}'. Installed: {', '.join(m.id for m in self.manifests()) or 'none'}")

    def for_task(self, task: str) -> list[Manifest]:
        return [m for m in self.manifests() if m.task == task]

    def _defaults(self) -> dict[str, str]:
        try:
            return json.loads(self.settings_file.read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def default(self, task: str, target_lang: str | None = None) -> Manifest:
        cands = self.for_task(task)
        if task == "translation" and target_lang:
            cands = [m for m in cands if target_lang in m.target_langs]
        if not cands:
            what = f"{task} to '{target_lang}'" if target_lang else task
            offered = ", ".join(sorted({l for m in self.for_task('translation') for l in m.target_langs})) if task == "translation" else ""
            raise ModelError(f"No installed model for {what}" + (f" (languages offered: {offered})" if offered else ""))
        key = f"{task}:{target_lang}" if task == "translation" and target_lang else task
        chosen = self._defaults().get(key)
        for m in cands:
            if m.id == chosen:
                return m
        # a model that declares itself an alternative (the fast sentiment variant) is never picked unasked
        # while a main model exists; among the rest, shipped models come first
        main = [m for m in cands if not m.raw.get("alternative_to")] or cands
        shipped = [m for m in main if m.origin == "shipped"]
        return (shipped or main)[0]

    def active_classifiers(self) -> list[Manifest]:
        """The classifiers that run beside sentiment, in the order they were switched on. A classifier that was
        made the sentiment default before classification was its own task counts as switched on."""
        d = self._defaults()
        ids = [i for i in d.get("classifiers", ()) if isinstance(i, str)] if isinstance(d.get("classifiers"), list) else []
        if isinstance(d.get("sentiment"), str) and "classifiers" not in d:
            ids.append(d["sentiment"])
        by_id = {m.id: m for m in self.for_task(CLASSIFICATION)}
        out, names = [], set()
        for i in dict.fromkeys(ids):
            m = by_id.get(i)
            if m is not None and m.classification_name not in names:  # one model per name: the first switched on
                out.append(m)
                names.add(m.classification_name)
        return out

    def set_classifier_active(self, model_id: str, active: bool = True) -> None:
        """Switch a classifier on or off (several can be on; one per name: switching one on replaces another
        of the same name). Sentiment is never replaced by a classifier."""
        m = self.get(model_id)
        if m.task != CLASSIFICATION:
            raise ModelError(f"{model_id} is a {m.task} model, not a classifier")
        ids = [x.id for x in self.active_classifiers() if x.id != model_id
               and x.classification_name != m.classification_name]
        if active:
            ids.append(model_id)

        def change(d: dict) -> None:
            d["classifiers"] = ids
            if d.get("sentiment") not in {x.id for x in self.for_task("sentiment")}:
                d.pop("sentiment", None)  # a classifier made default before it was one (see active_classifiers)
        self._write_defaults(change)

    def default_ids(self) -> set[str]:
        """Ids of the models used when none is named: each task's default (the encoder's is the base fine-tuning
        starts from) and each translation language's. The window's Models view and `models list` both mark these."""
        ids: set[str] = {m.id for m in self.active_classifiers()}
        for task in sorted({m.task for m in self.manifests()} - {CLASSIFICATION}):
            langs = sorted({lang for m in self.for_task(task) for lang in m.target_langs}) if task == "translation" else []
            for lang in langs or [None]:
                try:
                    ids.add(self.default(task, lang).id)
                except ModelError:
                    pass
        return ids

    def set_default(self, task: str, model_id: str, target_lang: str | None = None) -> None:
        m = self.get(model_id)
        if m.task == CLASSIFICATION:
            raise ModelError(f"{model_id} is a classifier ({m.classification_name}); it runs beside sentiment "
                             "when switched on (models activate), it is never a task's default")
        if m.task != task:
            raise ModelError(f"{model_id} is a {m.task} model, not a {task} model")

        def change(d: dict) -> None:
            d[f"{task}:{target_lang}" if target_lang else task] = model_id
        self._write_defaults(change)

    def _write_defaults(self, change) -> None:
        d = self._defaults()
        change(d)
        self.settings_file.parent.mkdir(parents=True, exist_ok=True)
        # written whole, then renamed: the window and a CLI started at the same moment read the same file, and
        # a half-written one would read as "no defaults"
        tmp = self.settings_file.with_name(f".{self.settings_file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(d, indent=2))
        os.replace(tmp, self.settings_file)

    def import_folder(self, folder: Path) -> Manifest:
        """Validate a model folder and copy it into the user's model folder.

        Only the manifest, the files it lists (each checked: relative, inside the folder, no links, regular,
        hashed as copied) and MODEL_CARD.md are copied, into a temporary folder inside the models folder that
        is renamed into place once the copy verifies, and removed on any failure."""
        folder = Path(folder)
        man = read_manifest(folder, "user")
        for name in man.files:  # refuse links, FIFOs and escapes before copying a byte
            man.path(name)
        self.user_dir.mkdir(parents=True, exist_ok=True)
        dest = self.user_dir / man.id  # the schema made the id a plain name
        if os.path.lexists(dest):
            raise ModelError(f"A model with id '{man.id}' is already installed at {dest}; remove it first")
        tmp = Path(tempfile.mkdtemp(prefix=f".{man.id}.importing-", dir=self.user_dir))
        try:
            for name, digest in man.files.items():
                model_files.copy_checked(man.path(name), tmp / name, digest, name, man.id)
            card = folder / CARD
            if card.is_file() and not card.is_symlink():
                (tmp / CARD).write_bytes(model_files.read_small(card, MAX_CARD_BYTES, CARD, man.id))
            raw = dict(man.raw)
            raw["origin"] = "user"
            (tmp / MANIFEST).write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            verify(read_manifest(tmp, "user"))
            tmp.rename(dest)  # atomic: never a half-registered model
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return read_manifest(dest, "user")

    def remove(self, model_id: str) -> None:
        m = self.get(model_id)
        if m.origin != "user":
            raise ModelError(f"{model_id} ships with the application and cannot be removed")
        shutil.rmtree(m.folder)

    def rename(self, model_id: str, name: str) -> Manifest:
        """Give a user model another display name (its id, which stored results refer to, stays)."""
        m = self.get(model_id)
        if m.origin != "user":
            raise ModelError(f"{model_id} ships with the application and cannot be renamed")
        name = " ".join((name or "").split())
        if not name or len(name) > 200:
            raise ModelError("A model's name must have 1 to 200 characters.")
        path = m.folder / MANIFEST
        raw = json.loads(path.read_text(encoding="utf-8"))
        raw["name"] = name
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return self.get(model_id)
