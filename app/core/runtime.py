"""Sessions as the tasks use them, and batching helpers: `Session` opens a graph on the device asked for, the
way the per-CPU tuning (`tuning.py`) chose for this CPU. ONNX Runtime itself is imported only in
`ort_session.py`; its names are re-exported here (RuntimeOptions, choose_providers, cancellable...)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from app.core import tuning
from app.core.errors import ModelError
from app.core.ort_session import (
    DEVICES,
    OrtSession,
    RuntimeOptions,
    available_providers,
    cancellable,
    choose_providers,
    default_threads,
    onnxruntime_version,
    physical_cores,
)

__all__ = [
    "DEVICES", "RuntimeOptions", "Session", "available_providers", "cancellable", "choose_providers",
    "default_threads", "length_batches", "onnxruntime_version", "pad", "physical_cores", "softmax",
]

log = logging.getLogger(__name__)


class Session(OrtSession):
    """A loaded ONNX graph: call it with a dict of numpy arrays, get a dict of outputs back.

    On the CPU with tuning on, the graph is opened the way core/tuning.py chose for this CPU (`self.tuning`
    says which; `self.loaded_path` is the file really loaded: the shipped graph or a fused copy)."""

    def __init__(self, path: Path, options: RuntimeOptions = RuntimeOptions()):
        path = Path(path)
        threads = options.intra_op_threads or default_threads()  # ALBERT_STUDIO_THREADS sets an unset count
        providers = choose_providers(options.device)
        choice = None
        load, level = path, options.graph_optimization
        if providers[0] == "CPUExecutionProvider" and path.is_file() and tuning.tuning_enabled(options.tune):
            choice = tuning.choose(path, threads)  # never raises; the shipped graph when unsure
            load, level = choice.graph, choice.level
        try:
            super().__init__(path, options, providers, threads, load, level)
        except ModelError as exc:
            if load == path and level == options.graph_optimization:
                raise
            cause = exc.__cause__ or exc
            log.warning("tuned %s (%s) did not load (%s); using the shipped graph",
                        path.name, load.name, str(cause).splitlines()[0][:200])
            choice = None
            super().__init__(path, options, providers, threads)
        self.tuning = choice
        self.options = options  # the tasks read max_padding from here when they batch


def length_batches(lengths: Sequence[int], max_tokens: int = 4096, max_batch: int = 64,
                   max_padding: float = 0.5) -> list[list[int]]:
    """Group indices of similar length so padding stays small; each batch fits a token budget.

    A batch also ends where the next (longer) sequence would make padding more than `max_padding` of the
    real tokens (and more than 256 tokens): one document's 254-token windows and its 20-token sentences
    then run as two batches instead of every sentence padded to 254."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    cur: list[int] = []
    longest = real = 0
    for i in order:
        longest_if = max(longest, lengths[i])
        padded = longest_if * (len(cur) + 1)
        wasted = padded - real - lengths[i]
        if cur and (padded > max_tokens or len(cur) >= max_batch
                    or (wasted > 256 and wasted > max_padding * (real + lengths[i]))):
            batches.append(cur)
            cur, longest_if, real = [], lengths[i], 0
        cur.append(i)
        longest = longest_if
        real += lengths[i]
    if cur:
        batches.append(cur)
    return batches


def pad(seqs: Iterable[Sequence[int]], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad token id lists to one array; returns (ids, attention_mask) as int64."""
    seqs = list(seqs)
    width = max((len(s) for s in seqs), default=0)
    ids = np.full((len(seqs), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
        mask[i, : len(s)] = 1
    return ids, mask


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)
