"""Hugging Face checkpoints as the app sees them before any of their weights is read (no torch here).

`models add SOURCE` takes a folder in `save_pretrained` layout (config.json plus weights and tokenizer
files) or a hub id. This module reads config.json as plain JSON and decides what the checkpoint can become:

  * a sequence classifier of a supported architecture (ALBERT, BERT, DistilBERT, RoBERTa, XLM-R, ELECTRA,
    MPNet, DeBERTa-v2) -> a sentiment model when its labels read negative/positive (and neutral), else a
    classification model, where the app has that task;
  * a MarianMTModel (OPUS-MT: source.spm, target.spm, vocab.json) -> a translator, its language pair read
    from the checkpoint;
  * a BART, PEGASUS or T5 `*ForConditionalGeneration` -> an abstractive summary model (app.core.abstractive);
  * a plain encoder (AlbertModel, BertModel, ... without a head, a pretraining checkpoint such as
    albert-base-v2's AlbertForMaskedLM, or a sentence-transformers folder), or with `--task base` a sequence
    classifier's encoder -> a fine-tuning base (task "encoder");

and refuses, with a message naming the folder and the reason, everything it cannot run faithfully: code
shipped with the checkpoint (`auto_map`, trust_remote_code), an architecture outside the list above,
configs whose weights would not fit in this machine's memory. The torch side (weights that
torch.load(weights_only=True) refuses, export, checks) is app/training/hf_export.py; the steps in order,
with progress and cancel, are app/jobs/model_add.py.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from app.core import model_files
from app.core.errors import Cancelled, ModelError
from app.core.manifest_schema import TASKS

# architecture (config.json "architectures") -> the transformers model_type it must carry
CLASSIFIERS = {
    "AlbertForSequenceClassification": "albert",
    "BertForSequenceClassification": "bert",
    "DistilBertForSequenceClassification": "distilbert",
    "RobertaForSequenceClassification": "roberta",
    "XLMRobertaForSequenceClassification": "xlm-roberta",
    "ElectraForSequenceClassification": "electra",
    "MPNetForSequenceClassification": "mpnet",
    "DebertaV2ForSequenceClassification": "deberta-v2",
}
TRANSLATORS = {"MarianMTModel": "marian"}
SUMMARIZERS = {
    "BartForConditionalGeneration": "bart",
    "PegasusForConditionalGeneration": "pegasus",
    "T5ForConditionalGeneration": "t5",
}
# plain encoders (no head): fine-tuning bases; a classifier of the same family can be one too (--task base)
ENCODERS = {
    "AlbertModel": "albert",
    "BertModel": "bert",
    "DistilBertModel": "distilbert",
    "RobertaModel": "roberta",
    "XLMRobertaModel": "xlm-roberta",
    "ElectraModel": "electra",
    "MPNetModel": "mpnet",
    "DebertaV2Model": "deberta-v2",
}
# pretraining checkpoints of the same families (albert-base-v2, bert-base-uncased, roberta-base...): their encoder
PRETRAINED = {
    "AlbertForMaskedLM": "albert", "AlbertForPreTraining": "albert",
    "BertForMaskedLM": "bert", "BertForPreTraining": "bert",
    "DistilBertForMaskedLM": "distilbert",
    "RobertaForMaskedLM": "roberta", "XLMRobertaForMaskedLM": "xlm-roberta",
    "ElectraForPreTraining": "electra", "ElectraForMaskedLM": "electra",
    "MPNetForMaskedLM": "mpnet", "DebertaV2ForMaskedLM": "deberta-v2",
}
KNOWN = CLASSIFIERS | TRANSLATORS | SUMMARIZERS | ENCODERS | PRETRAINED
ADD_TASKS = ("sentiment", "classification", "translation", "summary", "base")
MAX_CONFIG_BYTES = 2_000_000
FOLDER_ROUTE = "huggingface-cli download {id} --local-dir DIR"
# what a download fetches: the checkpoint, its tokenizer and its card (no code, no other frameworks' weights)
HUB_FILES = ["*.json", "*.safetensors", "pytorch_model.bin", "*.spm", "*.model", "*.txt", "README.md"]


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint folder holds and what it will become (read from its JSON files only)."""

    folder: Path
    architecture: str
    model_type: str
    task: str  # the app's task: sentiment, classification, translation, summary or encoder (a fine-tuning base)
    labels: tuple[str, ...] = ()  # in class-index order, as the manifest lists them
    source_lang: str = ""
    target_lang: str = ""
    source_id: str = ""  # hub id, or the folder's name
    revision: str = ""
    license: str = ""
    parameters: int = 0  # estimated from the config
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        if self.architecture in TRANSLATORS:
            return "translator"
        if self.architecture in SUMMARIZERS:
            return "summarizer"
        return "encoder" if self.task == "encoder" else "classifier"


def _read_json(path: Path, what: str) -> dict:
    data = model_files.read_small(path, MAX_CONFIG_BYTES, path.name, str(path.parent))
    try:
        raw = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelError(f"{path}: {what} is not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ModelError(f"{path}: {what} must be a JSON object")
    return raw


def looks_like_hub_id(source: str) -> bool:
    """`owner/name` (or `name`) that is not an existing path: what `models add` downloads from the hub."""
    if os.path.exists(source):
        return False
    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?", source)) and ".." not in source


def default_model_id(source: str) -> str:
    """A manifest id from a hub id or folder: its last part, lowercased, other characters as '-'."""
    base = source.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1].lower()
    base = re.sub(r"[^a-z0-9._-]+", "-", base).strip("-._")[:64]
    return base or "imported-model"


def card_license(folder: Path) -> str:
    """The `license:` of a hub model card's YAML front matter (README.md), '' when it names none."""
    readme = Path(folder) / "README.md"
    if not readme.is_file() or readme.is_symlink():
        return ""
    try:
        text = model_files.read_small(readme, 1_000_000, "README.md").decode("utf-8", "replace")
    except ModelError:
        return ""
    if not text.startswith("---"):
        return ""
    front = text[3:].split("\n---", 1)[0]
    m = re.search(r"^license:\s*['\"]?([^\n'\"]+)", front, re.M)
    return m.group(1).strip()[:200] if m else ""


def estimate_parameters(config: dict) -> int:
    """Parameters a transformer of this config holds (embeddings + layers; within ~10% for the supported ones)."""
    def num(key: str, default: int = 0) -> int:
        v = config.get(key, default)
        return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 else default

    hidden = num("hidden_size") or num("d_model") or num("dim")
    emb = num("embedding_size") or hidden
    vocab = num("vocab_size")
    positions = num("max_position_embeddings")
    ffn = num("intermediate_size") or num("hidden_dim") or num("encoder_ffn_dim") or num("d_ff") or 4 * hidden
    layers = num("num_hidden_layers") or num("n_layers") or num("encoder_layers") or num("num_layers")
    if config.get("model_type") == "albert":  # cross-layer sharing: one set of weights per group
        layers = max(1, num("num_hidden_groups", 1))
    layers += num("decoder_layers") or num("num_decoder_layers") or (num("num_layers") if "d_ff" in config else 0)
    per_layer = 4 * hidden * hidden + 2 * hidden * ffn
    return vocab * emb + positions * emb + (emb * hidden if emb != hidden else 0) + layers * per_layer


def available_memory() -> int:
    """Bytes of memory this process can still use (MemAvailable on Linux; physical memory elsewhere; 0 unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


# export holds the PyTorch weights, the traced graph and two ONNX Runtime sessions at once: ~4 fp32 copies
EXPORT_COPIES = 4


def check_memory(folder: Path, config: dict, memory: int | None = None) -> int:
    """The config's parameter estimate; ModelError when exporting it would not fit in `memory` bytes."""
    params = estimate_parameters(config)
    memory = available_memory() if memory is None else memory
    need = params * 4 * EXPORT_COPIES
    if memory and need > memory:
        raise ModelError(f"{folder}: this checkpoint has about {params / 1e6:,.0f}M parameters; exporting it needs "
                         f"about {need / 1e9:,.1f} GB of memory and {memory / 1e9:,.1f} GB is free. Close other "
                         "programs or use a smaller model.")
    return params


def _refuse_remote_code(folder: Path, config: dict) -> None:
    if config.get("auto_map") or any(Path(folder).glob("*.py")):
        raise ModelError(f"{folder}: this checkpoint brings its own Python code (trust_remote_code); the app runs "
                         "only architectures it knows and never runs code from a model folder")


def _architecture(folder: Path, config: dict) -> str:
    archs = config.get("architectures")
    if not isinstance(archs, list) or not archs or not all(isinstance(a, str) for a in archs):
        raise ModelError(f"{folder}/config.json names no architecture ('architectures'); the app can add "
                         f"{supported_list()} checkpoints")
    arch = archs[0]
    if arch not in KNOWN:
        raise ModelError(f"{folder}: architecture {arch} is not supported; the app can add "
                         f"{supported_list()} checkpoints")
    want = KNOWN[arch]
    if config.get("model_type") != want:
        raise ModelError(f"{folder}/config.json: architecture {arch} with model_type "
                         f"'{config.get('model_type')}' (expected '{want}'): a custom architecture is not supported")
    return arch


def supported_list() -> str:
    return (f"{', '.join(sorted(CLASSIFIERS))} (classifiers), {', '.join(TRANSLATORS)} (translators), "
            f"{', '.join(SUMMARIZERS)} (summarizers) and {', '.join(ENCODERS)} and their *ForMaskedLM / "
            "*ForPreTraining checkpoints (fine-tuning bases)")


def classifier_labels(folder: Path, config: dict) -> tuple[str, ...]:
    """The classes in index order from id2label; ModelError when they are not 0..n-1 or repeat."""
    raw = config.get("id2label")
    n = config.get("num_labels")
    if not isinstance(raw, dict) or not raw:
        if isinstance(n, int) and n >= 2:
            return tuple(f"LABEL_{i}" for i in range(n))
        raise ModelError(f"{folder}/config.json: a classifier needs id2label (the name of each class)")
    try:
        pairs = sorted((int(k), str(v).strip()) for k, v in raw.items())
    except (TypeError, ValueError):
        raise ModelError(f"{folder}/config.json: id2label keys must be class numbers 0, 1, ...") from None
    if [k for k, _ in pairs] != list(range(len(pairs))) or len(pairs) < 2:
        raise ModelError(f"{folder}/config.json: id2label must number at least two classes 0..n-1")
    labels = tuple(v for _, v in pairs)
    if len(set(labels)) != len(labels) or any(not v or len(v) > 100 for v in labels):
        raise ModelError(f"{folder}/config.json: id2label names must be distinct, 1 to 100 characters")
    return labels


def sentiment_labels(labels: tuple[str, ...]) -> tuple[str, ...] | None:
    """The labels as the sentiment task spells them when they read negative/positive (and neutral), else None."""
    low = tuple(v.lower() for v in labels)
    if sorted(low) in (["negative", "positive"], ["negative", "neutral", "positive"]):
        return low
    return None


def classification_task_exists() -> bool:
    return "classification" in TASKS


def _classifier_task(folder: Path, labels: tuple[str, ...], asked: str | None) -> tuple[str, tuple[str, ...]]:
    polar = sentiment_labels(labels)
    if asked in (None, "sentiment") and polar:
        return "sentiment", polar
    if asked == "sentiment":
        raise ModelError(f"{folder}: --task sentiment needs the labels negative and positive; this classifier's "
                         f"labels are {', '.join(labels)}")
    if asked not in (None, "classification"):
        raise ModelError(f"{folder}: a sequence classifier becomes a sentiment or classification model, not {asked}")
    if not classification_task_exists():
        raise ModelError(f"{folder}: labels {', '.join(labels)} are not negative/positive, and this version of the "
                         "app has no general classification task yet; only negative/positive classifiers can be "
                         "added (as sentiment models)")
    return "classification", labels


_LANG = re.compile(r"^[a-z]{2,3}$")


def marian_languages(folder: Path, source_id: str = "") -> tuple[str, str]:
    """(source, target) language of an OPUS-MT checkpoint: tokenizer_config.json's source_lang/target_lang,
    else the `opus-mt-SRC-TGT` name of the hub id or folder."""
    tc = Path(folder) / "tokenizer_config.json"
    src = tgt = ""
    if tc.is_file():
        cfg = _read_json(tc, "tokenizer_config.json")
        src, tgt = str(cfg.get("source_lang") or ""), str(cfg.get("target_lang") or "")
    if not (src and tgt):
        for name in (source_id, Path(folder).name):
            m = re.search(r"opus-mt-([a-zA-Z]{2,3})-([a-zA-Z]{2,3})$", name or "")
            if m:
                src, tgt = m.group(1), m.group(2)
                break
    src, tgt = src.lower(), tgt.lower()
    if not (_LANG.match(src) and _LANG.match(tgt)):
        raise ModelError(f"{folder}: cannot tell which languages this Marian model translates (no source_lang/"
                         "target_lang in tokenizer_config.json and no opus-mt-SRC-TGT name); multi-target models "
                         "(>>xx<< tokens) are not supported")
    return src, tgt


MARIAN_FILES = ("source.spm", "target.spm", "vocab.json")


def inspect_checkpoint(folder: Path, task: str | None = None, source_id: str = "", revision: str = "",
                       memory: int | None = None) -> Checkpoint:
    """Read `folder` (save_pretrained layout) and decide what it becomes; ModelError with the reason otherwise."""
    folder = Path(folder)
    if task is not None and task not in ADD_TASKS:
        raise ModelError(f"unknown task '{task}' (expected one of {', '.join(ADD_TASKS)})")
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such folder")
    if not (folder / "config.json").is_file() and (folder / "0_Transformer" / "config.json").is_file():
        raise ModelError(f"{folder}: this sentence-transformers folder keeps its encoder in 0_Transformer; add "
                         f"that folder ({folder / '0_Transformer'}) with --task base")
    if not (folder / "config.json").is_file():
        raise ModelError(f"{folder}: not a Hugging Face checkpoint (no config.json); save it with "
                         "save_pretrained() or download it with huggingface-cli download ID --local-dir DIR")
    config = _read_json(folder / "config.json", "config.json")
    _refuse_remote_code(folder, config)
    arch = _architecture(folder, config)
    _check_task(folder, arch, task)
    params = check_memory(folder, config, memory)
    common = dict(folder=folder, architecture=arch, model_type=config["model_type"], source_id=source_id or folder.name,
                  revision=revision, license=card_license(folder), parameters=params, config=config)
    if arch in TRANSLATORS:
        if task not in (None, "translation"):
            raise ModelError(f"{folder}: a Marian model becomes a translation model, not {task}")
        missing = [f for f in MARIAN_FILES if not (folder / f).is_file()]
        if missing:
            extra = " (a model with separate vocabularies, target_vocab.json, is not supported)" \
                if (folder / "target_vocab.json").exists() else ""
            raise ModelError(f"{folder}: a Marian model needs {', '.join(MARIAN_FILES)}; missing {', '.join(missing)}"
                             + extra)
        src, tgt = marian_languages(folder, source_id)
        return Checkpoint(task="translation", source_lang=src, target_lang=tgt, **common)
    if arch in SUMMARIZERS:
        return Checkpoint(task="summary", **common)
    if arch in ENCODERS or arch in PRETRAINED or task == "base":
        return Checkpoint(task="encoder", **common)
    labels = classifier_labels(folder, config)
    app_task, labels = _classifier_task(folder, labels, task)
    return Checkpoint(task=app_task, labels=labels, **common)


def _check_task(folder: Path, arch: str, task: str | None) -> None:
    """`--task` must be one this architecture can become; ModelError saying what it can become otherwise."""
    if task is None:
        return
    if arch in TRANSLATORS:
        can = ("translation",)
    elif arch in SUMMARIZERS:
        can = ("summary",)
    elif arch in ENCODERS or arch in PRETRAINED:
        can = ("base",)
    else:
        can = ("sentiment", "classification", "base")
    if task not in can:
        names = {"translation": "a translation model", "summary": "an abstractive summary model",
                 "base": "a fine-tuning base", "sentiment": "a sentiment model",
                 "classification": "a classification model"}
        hint = {"summary": "; --task summary takes a BART, PEGASUS or T5 *ForConditionalGeneration checkpoint",
                "base": "; --task base takes a plain encoder or a sequence classifier",
                "translation": "; --task translation takes a MarianMTModel checkpoint"}.get(task, "")
        raise ModelError(f"{folder}: {arch} becomes {' or '.join(names[c] for c in can)}, not {task}{hint}")


def sentence_transformers_pooling(folder: Path) -> str:
    """The pooling of a sentence-transformers folder (modules.json + 1_Pooling/config.json): "mean", "cls",
    "max", ...; '' for a plain checkpoint."""
    pooling = Path(folder) / "1_Pooling" / "config.json"
    if not (Path(folder) / "modules.json").is_file() or not pooling.is_file():
        return ""
    cfg = _read_json(pooling, "1_Pooling/config.json")
    for key, name in (("pooling_mode_mean_tokens", "mean"), ("pooling_mode_cls_token", "cls"),
                      ("pooling_mode_max_tokens", "max"), ("pooling_mode_weightedmean_tokens", "weighted mean"),
                      ("pooling_mode_lasttoken", "last token")):
        if cfg.get(key):
            return name
    return "unknown"


def weights_file(folder: Path) -> Path:
    """model.safetensors when present (read without pickle), else pytorch_model.bin; ModelError when neither."""
    folder = Path(folder)
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return folder / name
    if list(folder.glob("*.index.json")):
        raise ModelError(f"{folder}: weights split in shards are not supported for import yet")
    raise ModelError(f"{folder}: no weights (model.safetensors or pytorch_model.bin)")


def _hub_endpoint() -> str | None:
    """HF_ENDPOINT as set now (huggingface_hub reads it once, when first imported)."""
    return os.environ.get("HF_ENDPOINT") or None


def download(repo_id: str, dest: Path, revision: str | None = None,
             progress: Callable[[int, int], None] | None = None,
             cancelled: Callable[[], bool] | None = None) -> tuple[Path, str]:
    """Download the hub model `repo_id` into `dest` (huggingface_hub's snapshot_download, the files a checkpoint
    needs: JSON, weights, tokenizer files, README.md); returns (folder, commit sha).

    `progress(bytes_done, bytes_total)` is called as bytes arrive; `cancelled()` true stops the download (Cancelled).
    Offline (no network, or HF_HUB_OFFLINE=1): ModelError naming the folder route. The caller owns `dest`
    (a temporary folder it removes on any failure)."""
    route = (f"download it on a machine that is online with `{FOLDER_ROUTE.format(id=repo_id)}`, copy the "
             "folder here and run `albert-studio models add DIR`")
    # checked before huggingface_hub is imported: it reads HF_HUB_OFFLINE once, at its first import
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise ModelError(f"{repo_id}: the hub is not reachable (offline mode: HF_HUB_OFFLINE is set). To add it, "
                         f"{route}")
    try:
        from huggingface_hub import HfApi, snapshot_download
        from huggingface_hub.errors import (
            HfHubHTTPError,
            LocalEntryNotFoundError,
            OfflineModeIsEnabled,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
        from tqdm.auto import tqdm
    except ImportError:
        raise ModelError("Downloading from the Hugging Face hub needs the 'huggingface_hub' package (the train "
                         f"extra installs it); or download it elsewhere with `{FOLDER_ROUTE.format(id=repo_id)}` "
                         "and add the folder") from None
    done = [0, 0]

    class Reporting(tqdm):  # snapshot_download's bars, never drawn: report the bytes written, stop on cancel
        def __init__(self, *args, **kwargs):
            self.counts_bytes = kwargs.get("unit") == "B" and str(kwargs.get("desc", "")).startswith("Reconstructing")
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            if self.counts_bytes:  # one bar per file, up to two at once: the total is the sum of theirs
                done[1] += int(getattr(self, "total", 0) or 0)

        def update(self, n=1):
            if cancelled is not None and cancelled():
                raise Cancelled()
            if self.counts_bytes:
                done[0] += int(n or 0)
                done[1] = max(done[1], done[0])
                if progress is not None:
                    progress(done[0], done[1])
            return super().update(n)

    endpoint = _hub_endpoint()
    try:
        commit = HfApi(endpoint=endpoint).model_info(repo_id, revision=revision).sha or ""
        path = snapshot_download(repo_id, revision=commit or revision, local_dir=str(dest), endpoint=endpoint,
                                 allow_patterns=HUB_FILES, tqdm_class=Reporting, max_workers=2)
    except RevisionNotFoundError:
        raise ModelError(f"{repo_id}: the hub has no revision '{revision}' of this model") from None
    except RepositoryNotFoundError:
        raise ModelError(f"{repo_id}: no such model on the hub (or it is private or gated)") from None
    except (OfflineModeIsEnabled, LocalEntryNotFoundError) as exc:
        raise ModelError(f"{repo_id}: the hub is not reachable ({str(exc).splitlines()[0][:120]}). To add it, "
                         f"{route}") from None
    except HfHubHTTPError as exc:
        raise ModelError(f"{repo_id}: the hub refused the download ({str(exc).splitlines()[0][:200]})") from None
    except Cancelled:
        raise
    except Exception as exc:  # connection refused, DNS, timeouts: the HTTP client's own error types
        if isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore",
                                                                               "requests", "urllib3"):
            raise ModelError(f"{repo_id}: the hub is not reachable ({type(exc).__name__}). To add it, {route}") \
                from None
        raise
    return Path(path), commit
