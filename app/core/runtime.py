"""The one place that talks to ONNX Runtime: provider choice, threads, sessions, batching helpers."""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from app.core.errors import ModelError

DEVICES = ("auto", "cpu", "cuda")


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def choose_providers(device: str = "auto") -> list[str]:
    """auto = CUDA when onnxruntime-gpu sees a device, else CPU; cuda without a GPU is an error."""
    device = (device or "auto").lower()
    if device not in DEVICES:
        raise ModelError(f"Unknown device '{device}'; choose one of {', '.join(DEVICES)}")
    have = available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in have:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise ModelError(
            "GPU requested but ONNX Runtime has no CUDA provider here "
            "(install the 'gpu' extra: pip install onnxruntime-gpu, and a CUDA driver)"
        )
    return ["CPUExecutionProvider"]


@dataclass(frozen=True)
class RuntimeOptions:
    device: str = "auto"
    intra_op_threads: int = 0  # 0 = let ONNX Runtime decide (all physical cores)
    inter_op_threads: int = 1
    # Worker threads spin between the kernels of one run (a 256-token window is hundreds of kernels, and waking
    # a sleeping thread for each costs more than the kernel on small matrices) and stop as soon as the run
    # returns (session.force_spinning_stop), so an idle app burns no CPU. False: never spin (a shared server).
    spin_during_run: bool = True


class Session:
    """A loaded ONNX graph: call it with a dict of numpy arrays, get a dict of outputs back."""

    def __init__(self, path: Path, options: RuntimeOptions = RuntimeOptions()):
        import onnxruntime as ort

        self.path = Path(path)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        threads = options.intra_op_threads or default_threads()  # ALBERT_STUDIO_THREADS caps an unset count
        if threads:
            so.intra_op_num_threads = threads
        so.inter_op_num_threads = options.inter_op_threads
        # A desktop app: idle inference threads must not keep the cores spinning, but inside a run they may.
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if options.spin_during_run else "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
        so.add_session_config_entry("session.force_spinning_stop", "1")
        so.log_severity_level = 3
        providers = choose_providers(options.device)
        try:
            self._sess = ort.InferenceSession(str(self.path), sess_options=so, providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"{self.path}: not a loadable ONNX model ({exc})") from exc
        self.provider = self._sess.get_providers()[0]
        self.input_names = [i.name for i in self._sess.get_inputs()]
        self.output_names = [o.name for o in self._sess.get_outputs()]

    @property
    def device(self) -> str:
        return "cuda" if self.provider.startswith("CUDA") else "cpu"

    def __call__(self, feeds: dict[str, np.ndarray], outputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        feeds = {k: v for k, v in feeds.items() if k in self.input_names}
        names = list(outputs) if outputs else self.output_names
        run_options = getattr(_interrupt, "run_options", None)  # set by cancellable() on this thread
        try:
            return dict(zip(names, self._sess.run(names, feeds, run_options)))
        except MemoryError:
            raise
        except Exception as exc:  # onnxruntime's own untyped errors: the model, not the document, is at fault
            if run_options is not None and run_options.terminate:
                from app.core.errors import Cancelled

                raise Cancelled() from exc
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
            raise ModelError(f"{self.path.parent.name}: the model failed while running {self.path.name} ({first})") from exc


_interrupt = threading.local()


@contextmanager
def cancellable(cancelled: Callable[[], bool] | None, poll_s: float = 0.05) -> Iterator[None]:
    """Model runs on this thread inside the block stop within ~`poll_s` of `cancelled()` turning true: a
    watcher sets ONNX Runtime's RunOptions.terminate, so even one long batch (a big document on a busy
    machine) does not hold a cancel up; the run raises Cancelled."""
    if cancelled is None or getattr(_interrupt, "run_options", None) is not None:
        yield
        return
    import onnxruntime as ort

    run_options = ort.RunOptions()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(poll_s):
            if cancelled():
                run_options.terminate = True
                return

    watcher = threading.Thread(target=watch, name="cancel-watch", daemon=True)
    _interrupt.run_options = run_options
    watcher.start()
    try:
        yield
    finally:
        done.set()
        _interrupt.run_options = None


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


def default_threads() -> int:
    """Inference threads when none are asked for: $ALBERT_STUDIO_THREADS, else 0 (ONNX Runtime's choice)."""
    try:
        return max(0, int(os.environ.get("ALBERT_STUDIO_THREADS", "0") or 0))
    except ValueError:
        return 0
