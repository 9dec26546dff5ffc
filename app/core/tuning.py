"""Per-CPU tuning of an ONNX graph's session, probed once and cached.

The fastest way to run one graph differs from CPU to CPU (AVX2 laptops, AVX-512/VNNI/AMX desktops), so
the first time a graph is opened on the CPU with tuning on, a short probe (about `PROBE_BUDGET_S` of
timed runs on a synthetic batch shaped like the graph's inputs) compares the candidate configurations:

- the shipped graph with graph_optimization_level ORT_ENABLE_ALL (the baseline) and ORT_ENABLE_EXTENDED;
- where onnxruntime.transformers' offline optimizer and the `onnx` package are importable, the graph
  fused offline (weight Identities folded, then optimize_model(model_type="bert"): ALBERT has no type of
  its own); skipped without them.

A candidate counts only if it takes the same inputs, gives the same outputs as the baseline (within
`MATCH_TOLERANCE`) and beats it by more than `MARGIN` in the median of paired runs (a shared CPU is noisy;
ties keep the baseline).
The choice is kept in `choices.json` in the user's cache folder, keyed by the graph's sha256, the
onnxruntime version, the CPU model and its vector flags and the thread count: a changed model, runtime,
CPU or thread count probes again. A chosen fused graph is written once to the cache folder and loaded
from there. Nothing here ever breaks loading: any failure falls back to the baseline and is logged.

Candidates are opened with `ort_session.OrtSession` (`runtime.Session` asks this module for its choice, so
this module never imports runtime); it imports `onnx` and `onnxruntime.transformers` (offline graph
rewriting, not inference) only when it fuses.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from app.core.ort_session import OrtSession, RuntimeOptions, default_threads, onnxruntime_version
from app.core.ort_session import physical_cores as physical_cores  # where callers looked for it first

log = logging.getLogger(__name__)

CACHE_VERSION = 1
PROBE_BUDGET_S = 2.0
PROBE_ROWS, PROBE_TOKENS = 8, 128
MARGIN = 0.05  # a candidate must be this much faster than the baseline (median of paired runs) to be chosen
MATCH_TOLERANCE = 1e-3  # max |difference| to the baseline's outputs, relative to max(1, max |output|)
LEVELS = ("all", "extended")
# The flags that change which kernels ONNX Runtime's MLAS picks (and so which configuration wins).
KEY_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
             "avx512_fp16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16", "asimd", "asimddp", "sve", "i8mm")
_SYNTHETIC_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids")


# ---- the CPU --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CpuInfo:
    model: str
    flags: tuple[str, ...]  # the KEY_FLAGS this CPU has, sorted

    def describe(self) -> str:
        return f"{self.model} [{' '.join(self.flags) or 'no vector flags found'}]"


def read_cpu_info(cpuinfo_text: str | None = None) -> CpuInfo:
    """The CPU's model name and vector flags: /proc/cpuinfo on Linux (or the text given), else platform."""
    if cpuinfo_text is None and sys.platform.startswith("linux"):
        try:
            cpuinfo_text = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            cpuinfo_text = None
    model, flags = "", set()
    for line in (cpuinfo_text or "").splitlines():
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name in ("model name", "hardware", "cpu model") and not model:
            model = value.strip()
        elif name in ("flags", "features") and not flags:
            flags = set(value.split())
    if not model:
        model = platform.processor() or platform.machine() or "unknown CPU"
    return CpuInfo(model=" ".join(model.split()), flags=tuple(sorted(f for f in KEY_FLAGS if f in flags)))


# ---- the cache ------------------------------------------------------------------------------------------

def cache_dir() -> Path:
    """Where tuning choices and fused graphs live: $ALBERT_STUDIO_CACHE, else the user's cache folder."""
    env = os.environ.get("ALBERT_STUDIO_CACHE")
    if env:
        return Path(env) / "tuning"
    import platformdirs

    return Path(platformdirs.user_cache_dir("albert-studio")) / "tuning"


def tuning_enabled(asked: bool | None) -> bool:
    """RuntimeOptions.tune: True/False as asked; None (the default) is on unless ALBERT_STUDIO_TUNE=0."""
    if asked is not None:
        return bool(asked)
    return os.environ.get("ALBERT_STUDIO_TUNE", "1").strip().lower() not in ("0", "false", "no", "off")


class TuningCache:
    """choices.json: key -> entry; a missing, unreadable or corrupt file reads as empty (and is rewritten)."""

    def __init__(self, folder: Path | None = None):
        self.folder = Path(folder) if folder is not None else cache_dir()
        self.file = self.folder / "choices.json"

    def entries(self) -> dict[str, dict]:
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("tuning cache %s is unreadable (%s); ignoring it", self.file, exc)
            return {}
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("entries"), dict):
            return {}
        return {k: v for k, v in data["entries"].items() if isinstance(v, dict)}

    def get(self, key: str) -> dict | None:
        return self.entries().get(key)

    def put(self, key: str, entry: dict) -> None:
        entries = self.entries()
        entries[key] = entry
        self._write(entries)

    def clear(self) -> int:
        """Forget every choice and delete the fused graphs; returns how many choices there were."""
        n = len(self.entries())
        for f in (self.folder / "graphs").glob("*.onnx"):
            try:
                f.unlink()
            except OSError:
                pass
        try:
            self.file.unlink()
        except FileNotFoundError:
            pass
        return n

    def _write(self, entries: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_name(f"{self.file.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"version": CACHE_VERSION, "entries": entries}, indent=1), encoding="utf-8")
        tmp.replace(self.file)  # atomic: a reader sees the old file or the new one


def graph_key(graph: Path, threads: int, cpu: CpuInfo | None = None) -> str:
    """The cache key of `graph` opened with `threads` threads on this (or the given) CPU."""
    from app.core.model_files import sha256_of

    return cache_key(sha256_of(Path(graph), Path(graph).name), threads, cpu or read_cpu_info(), onnxruntime_version())


def cache_key(graph_sha256: str, threads: int, cpu: CpuInfo, ort_version: str) -> str:
    fields = {"graph": graph_sha256, "onnxruntime": ort_version, "cpu": cpu.model, "flags": list(cpu.flags),
              "threads": int(threads), "cache": CACHE_VERSION}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


# ---- the choice -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Choice:
    """How to open one graph: which file (the shipped one or a fused copy) at which optimization level."""
    graph: Path
    level: str = "all"
    variant: str = "shipped"  # or "fused"
    source: str = "default"  # "probed" now, "cached" from an earlier probe, or "default" (nothing chosen)
    note: str = ""


@dataclass
class ProbeResult:
    variant: str
    level: str
    fused_file: Path | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    rows: int = 0
    tokens: int = 0
    note: str = ""
    discard: Path | None = None  # a fused graph made but not chosen (deleted unless another choice uses it)


_lock = threading.Lock()


def choose(graph: Path, threads: int, *, cache: TuningCache | None = None, cpu: CpuInfo | None = None,
           budget_s: float = PROBE_BUDGET_S, probe_fn: Callable[..., ProbeResult] | None = None) -> Choice:
    """The configuration to open `graph` with on this CPU: cached, else probed now and cached. Never raises."""
    graph = Path(graph)
    try:
        return _choose(graph, threads, cache or TuningCache(), cpu or read_cpu_info(), budget_s, probe_fn or probe)
    except Exception as exc:  # tuning is an optimisation: it must never stop a model from loading
        log.warning("tuning %s failed (%s); using the shipped graph with ORT_ENABLE_ALL", graph.name, exc)
        return Choice(graph, note=f"tuning failed: {exc}")


def _choose(graph: Path, threads: int, cache: TuningCache, cpu: CpuInfo, budget_s: float, probe_fn) -> Choice:
    from app.core.model_files import sha256_of

    digest = sha256_of(graph, graph.name)
    ort_version = onnxruntime_version()
    key = cache_key(digest, threads, cpu, ort_version)
    with _lock:  # two models loading at once on two threads probe one graph once
        entry = cache.get(key)
        if entry is not None:
            choice = _from_entry(graph, entry, cache)
            if choice is not None:
                return choice
        t0 = time.perf_counter()
        try:
            result = probe_fn(graph, threads, cache.folder / "graphs", digest=digest, budget_s=budget_s)
        except Exception as exc:
            log.warning("tuning probe for %s failed (%s); using the shipped graph with ORT_ENABLE_ALL", graph.name, exc)
            result = ProbeResult("shipped", "all", note=f"probe failed: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}")
        entry = {"graph": str(graph), "graph_sha256": digest, "onnxruntime": ort_version, "cpu": cpu.model,
                 "flags": list(cpu.flags), "threads": int(threads), "variant": result.variant,
                 "level": result.level, "timings_ms": result.timings_ms, "batch": [result.rows, result.tokens],
                 "probe_s": round(time.perf_counter() - t0, 2), "probed_at": time.strftime("%Y-%m-%d %H:%M:%S"),
                 "note": result.note}
        if result.fused_file is not None:
            entry["fused_file"] = result.fused_file.name
            entry["fused_sha256"] = sha256_of(result.fused_file, result.fused_file.name)
        cache.put(key, entry)
        if result.discard is not None and not any(e.get("fused_file") == result.discard.name
                                                  for e in cache.entries().values()):
            _unlink(result.discard)
        log.info("tuned %s for %s, %d threads: %s graph, %s (%s)", graph.name, cpu.model, threads,
                 result.variant, result.level, result.timings_ms)
        choice = _from_entry(graph, entry, cache)
        return Choice(choice.graph, choice.level, choice.variant, "probed", result.note) if choice else Choice(graph)


def _from_entry(graph: Path, entry: dict, cache: TuningCache) -> Choice | None:
    """The cached choice, or None when it cannot be used (its fused file is gone or was changed)."""
    from app.core.model_files import sha256_of

    level = entry.get("level") if entry.get("level") in LEVELS else "all"
    if entry.get("variant") != "fused":
        return Choice(graph, level, "shipped", "cached", entry.get("note", ""))
    fused = cache.folder / "graphs" / str(entry.get("fused_file", ""))
    try:
        if fused.parent != cache.folder / "graphs" or sha256_of(fused, fused.name) != entry.get("fused_sha256"):
            return None
    except Exception:
        return None
    return Choice(fused, level, "fused", "cached", entry.get("note", ""))


# ---- the probe ------------------------------------------------------------------------------------------

def synthetic_feeds(session, rows: int = PROBE_ROWS, tokens: int = PROBE_TOKENS) -> dict[str, np.ndarray] | None:
    """A batch shaped like real input (rows x tokens of ids, a ragged mask, zero token types), or None when
    the graph takes something else (a decoder's hidden states, a scorer's vectors): those are not probed."""
    inputs = session.input_info()
    if not inputs or any(name not in _SYNTHETIC_INPUTS or dtype != "tensor(int64)" or rank != 2
                         for name, dtype, rank in inputs):
        return None
    rng = np.random.default_rng(0)
    lengths = np.linspace(tokens, tokens // 2, rows).astype(int)  # padding, as real batches have
    mask = (np.arange(tokens)[None, :] < lengths[:, None]).astype(np.int64)
    feeds = {"input_ids": rng.integers(5, 1000, size=(rows, tokens), dtype=np.int64) * mask,
             "attention_mask": mask, "token_type_ids": np.zeros((rows, tokens), np.int64),
             "position_ids": np.broadcast_to(np.arange(tokens, dtype=np.int64), (rows, tokens)).copy()}
    return {name: feeds[name] for name, _, _ in inputs}


def probe(graph: Path, threads: int, fused_dir: Path, *, digest: str = "", budget_s: float = PROBE_BUDGET_S,
          rows: int = PROBE_ROWS, tokens: int = PROBE_TOKENS) -> ProbeResult:
    """Time each candidate on a synthetic batch (round robin, best of its runs) and keep the fastest."""

    def opened(path: Path, level: str) -> OrtSession:
        options = RuntimeOptions(device="cpu", intra_op_threads=threads, graph_optimization=level, tune=False)
        return OrtSession(path, options, ["CPUExecutionProvider"], threads or default_threads(), path, level)

    base = opened(graph, "all")
    feeds = synthetic_feeds(base, rows, tokens)
    if feeds is None:
        return ProbeResult("shipped", "all", note="not probed: inputs are not token ids")
    candidates: dict[tuple[str, str], OrtSession] = {("shipped", "all"): base, ("shipped", "extended"): opened(graph, "extended")}
    notes = []
    fused_file = fused_dir / f"{(digest or graph.stem)[:16]}-{graph.stem}.fused.onnx"
    fused_ops: dict = {}
    try:
        made = fuse_offline(graph, fused_file, stats=fused_ops)
        if fused_ops:
            notes.append("fused " + ", ".join(f"{k} {v}" for k, v in sorted(fused_ops.items())))
    except Exception as exc:  # a graph the optimizer cannot handle: the other candidates still count
        made, note = None, f"fusion failed: {str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__}"
        notes.append(note)
        log.info("%s: %s", graph.name, note)
    if made is None and not notes:
        notes.append("offline fusion unavailable (needs the onnx package)")
    if made is not None:
        candidates[("fused", "all")] = opened(made, "all")
        if sorted(candidates[("fused", "all")].input_names) != sorted(base.input_names) or \
                candidates[("fused", "all")].output_names != base.output_names:
            del candidates[("fused", "all")]
            notes.append("fused graph dropped: its inputs or outputs differ")

    # One warm-up run each; if that is slow, shrink the batch so every candidate gets a few timed runs.
    t0 = time.perf_counter()
    base(feeds)
    first = time.perf_counter() - t0
    per_run = budget_s / (4 * len(candidates))
    if first > per_run and rows > 1:
        rows = max(1, int(rows * per_run / first))
        feeds = {k: v[:rows] for k, v in feeds.items()}
    reference = base(feeds)
    for name, sess in list(candidates.items()):
        if name == ("shipped", "all"):
            continue
        try:
            out = sess(feeds)
        except Exception as exc:
            del candidates[name]
            notes.append(f"{name[0]}/{name[1]} failed to run ({str(exc)[:120]})")
            continue
        diff = _max_difference(reference, out)
        if diff > MATCH_TOLERANCE:
            del candidates[name]
            notes.append(f"{name[0]}/{name[1]} dropped: outputs differ by {diff:.1e}")

    # Round robin, and each candidate judged by its median time relative to the baseline's in the same round:
    # a burst of other work on a shared machine then slows both sides of the comparison alike.
    times: dict[tuple[str, str], list[float]] = {name: [] for name in candidates}
    baseline = ("shipped", "all")
    deadline = time.perf_counter() + budget_s
    while time.perf_counter() < deadline or len(times[baseline]) < 3:
        for name, sess in candidates.items():
            t0 = time.perf_counter()
            sess(feeds)
            times[name].append(time.perf_counter() - t0)
    relative = {name: float(np.median(np.array(t) / np.array(times[baseline]))) for name, t in times.items()}
    timings = {f"{v}/{lv}": round(float(np.median(t)) * 1000, 2) for (v, lv), t in times.items()}
    winner = min(relative, key=relative.get)
    if relative[winner] > 1 - MARGIN:
        winner = baseline
    keep = winner[0] == "fused"
    return ProbeResult(winner[0], winner[1], made if keep else None, timings, rows, tokens, "; ".join(notes),
                       discard=None if keep else made)


def _max_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    worst = 0.0
    for k, x in a.items():
        y = b.get(k)
        if y is None or np.shape(x) != np.shape(y):
            return float("inf")
        x = np.asarray(x, dtype=np.float64)
        scale = max(1.0, float(np.abs(x).max(initial=0.0)))
        worst = max(worst, float(np.abs(x - np.asarray(y, dtype=np.float64)).max(initial=0.0)) / scale)
    return worst


def _unlink(path: Path) -> None:
    try:
        Path(path).unlink()
    except OSError:
        pass


# ---- offline fusion -------------------------------------------------------------------------------------

def offline_optimizer() -> Callable | None:
    """onnxruntime.transformers' optimize_model, or None where it (or the onnx package it needs) is missing."""
    try:
        import onnx  # noqa: F401  (the optimizer needs it; a training extra here)
        from onnxruntime.transformers.optimizer import optimize_model
    except Exception:  # ImportError, or a bundle's half-present package: then there is no fused candidate
        return None
    return optimize_model


def fuse_offline(src: Path, dst: Path, num_heads: int | None = None, hidden_size: int | None = None,
                 stats: dict | None = None) -> Path | None:
    """Write `src` fused for transformer inference (Attention, SkipLayerNormalization, Gelu...) to `dst`, once;
    None when the optimizer is not importable. Heads and width come from the graph unless given; `stats`
    receives the fused operator counts."""
    optimize_model = offline_optimizer()
    if optimize_model is None:
        return None
    dst = Path(dst)
    if dst.exists():
        return dst
    import onnx

    model = onnx.load(str(src))
    fold_weight_identities(model)
    if not (num_heads and hidden_size):
        num_heads, hidden_size = attention_shape(model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    folded = dst.with_name(f"{dst.stem}.{os.getpid()}.folded.onnx")
    tmp = dst.with_name(f"{dst.stem}.{os.getpid()}.tmp.onnx")
    logging.disable(logging.WARNING)  # its modules log every pattern they did not find, under bare names
    try:
        onnx.save(model, str(folded))
        opt = optimize_model(str(folded), model_type="bert", num_heads=num_heads, hidden_size=hidden_size,
                             use_gpu=False)
        if stats is not None:
            stats.update({k: v for k, v in opt.get_fused_operator_statistics().items() if v})
        opt.save_model_to_file(str(tmp))
        tmp.replace(dst)
    finally:
        logging.disable(logging.NOTSET)
        _unlink(folded)
        _unlink(tmp)
    return dst


def attention_shape(model) -> tuple[int, int]:
    """(heads, hidden size) read from an encoder graph; (0, 0) lets the optimizer detect them itself."""
    from onnx import numpy_helper

    g = model.graph
    inits = {t.name: t for t in g.initializer}
    squares = {}
    for t in g.initializer:
        if len(t.dims) == 2 and t.dims[0] == t.dims[1] and t.dims[0] >= 8:
            squares[t.dims[0]] = squares.get(t.dims[0], 0) + 1
    if not squares:
        return 0, 0
    hidden = max(squares, key=squares.get)  # Q, K, V and output projections are hidden x hidden
    consts = {n.output[0]: n for n in g.node if n.op_type == "Constant"}
    for n in g.node:
        if n.op_type != "Reshape" or len(n.input) < 2:
            continue
        shape_name = n.input[1]
        try:
            if shape_name in inits:
                shape = numpy_helper.to_array(inits[shape_name])
            elif shape_name in consts:
                shape = numpy_helper.to_array(consts[shape_name].attribute[0].t)
            else:
                continue
        except Exception:
            continue
        shape = [int(x) for x in np.ravel(shape)]
        if len(shape) == 4 and shape[2] > 0 and shape[3] > 0 and shape[2] * shape[3] == hidden:
            return shape[2], hidden
    return 0, 0  # the optimizer takes both or neither


def fold_weight_identities(model) -> int:
    """Rewire every node fed by an Identity of an initializer (how torch.onnx.export reaches a weight shared
    across ALBERT's layers) to read the initializer itself, and drop those Identities; the graph computes the
    same. Returns how many were folded. Graph outputs are left alone."""
    g = model.graph
    inits = {t.name for t in g.initializer}
    alias = {n.output[0]: n.input[0] for n in g.node if n.op_type == "Identity" and n.input[0] in inits}
    graph_outputs = {o.name for o in g.output}
    alias = {k: v for k, v in alias.items() if k not in graph_outputs}
    keep = [n for n in g.node if not (n.op_type == "Identity" and n.output[0] in alias)]
    for n in keep:
        for i, name in enumerate(n.input):
            if name in alias:
                n.input[i] = alias[name]
    del g.node[:]
    g.node.extend(keep)
    return len(alias)
