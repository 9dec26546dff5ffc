"""ONNX Runtime itself, the one module that imports it: providers, session options and threads, a graph
opened exactly as asked (`OrtSession`), and cancelling a run. `runtime.Session` (what the tasks use) adds
the per-CPU tuning choice of `tuning.py` on top; `tuning.py` probes with `OrtSession` directly."""
from __future__ import annotations

import functools
import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

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
    intra_op_threads: int = 0  # 0 = $ALBERT_STUDIO_THREADS, else this machine's physical cores
    inter_op_threads: int = 1
    # Worker threads spin between the kernels of one run (a 256-token window is hundreds of kernels, and waking
    # a sleeping thread for each costs more than the kernel on small matrices) and stop as soon as the run
    # returns (session.force_spinning_stop), so an idle app burns no CPU. False: never spin (a shared server).
    spin_during_run: bool = True
    # Per-CPU tuning (core/tuning.py): on the CPU, the first open of a graph probes its session configurations
    # (~2 s) and caches the fastest. None = on unless ALBERT_STUDIO_TUNE=0 (the test suite sets it).
    tune: bool | None = None
    graph_optimization: str = "all"  # "all" or "extended" (ORT_ENABLE_*); tuning may choose for you
    # How the tasks batch sequences of different lengths (runtime.length_batches): a batch ends where the next,
    # longer sequence would make padding more than this share of its real tokens. float("inf") = the token
    # budget only (every short sentence padded to the longest window of its batch); bench/bench_batch.py
    # compares the two.
    max_padding: float = 0.5


_LEVELS = {"all": "ORT_ENABLE_ALL", "extended": "ORT_ENABLE_EXTENDED", "basic": "ORT_ENABLE_BASIC"}


def onnxruntime_version() -> str:
    import onnxruntime as ort

    return ort.__version__


def _session_options(options: RuntimeOptions, threads: int, level: str):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _LEVELS.get(level, "ORT_ENABLE_ALL"))
    if threads:
        so.intra_op_num_threads = threads
    so.inter_op_num_threads = options.inter_op_threads
    # A desktop app: idle inference threads must not keep the cores spinning, but inside a run they may.
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if options.spin_during_run else "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.add_session_config_entry("session.force_spinning_stop", "1")
    so.log_severity_level = 3
    return so


@functools.lru_cache(maxsize=1)
def physical_cores() -> int:
    """Physical cores this process may run on (hyperthread siblings counted once); 0 when unknown."""
    if sys.platform.startswith("linux"):
        try:
            cpus = sorted(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cpus = list(range(os.cpu_count() or 0))
        cores = set()
        for cpu in cpus:
            topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
            try:
                cores.add((topo.joinpath("physical_package_id").read_text().strip(),
                           topo.joinpath("core_id").read_text().strip()))
            except OSError:
                cores.add(("cpu", str(cpu)))
        return len(cores)
    if sys.platform == "darwin":
        import subprocess

        try:
            return int(subprocess.run(["sysctl", "-n", "hw.physicalcpu"], capture_output=True, text=True,
                                      timeout=5).stdout.strip() or 0)
        except (OSError, ValueError, subprocess.SubprocessError):
            return 0
    return 0  # Windows and others: ONNX Runtime's own default is the physical core count


def default_threads() -> int:
    """Inference threads when none are asked for: $ALBERT_STUDIO_THREADS, else this machine's physical cores
    (hyperthread siblings share one core's vector units, so a second thread on them slows matrix products);
    0 (ONNX Runtime's own choice, also physical cores) where they cannot be counted."""
    try:
        asked = int(os.environ.get("ALBERT_STUDIO_THREADS", "0") or 0)
    except ValueError:
        asked = 0
    if asked > 0:
        return asked
    return physical_cores()


class OrtSession:
    """An ONNX graph opened with ONNX Runtime: the file `load` (default `path`) at optimization `level`, with
    `threads` intra-op threads on `providers`. Call it with a dict of numpy arrays, get a dict of outputs back.
    A file that will not load raises ModelError naming `path`."""

    def __init__(self, path: Path, options: RuntimeOptions, providers: list[str], threads: int,
                 load: Path | None = None, level: str | None = None):
        import onnxruntime as ort

        self.path = Path(path)
        load = Path(load) if load is not None else self.path
        level = level or options.graph_optimization
        try:
            self._sess = ort.InferenceSession(str(load), sess_options=_session_options(options, threads, level),
                                              providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"{self.path}: not a loadable ONNX model ({exc})") from exc
        self.loaded_path = load
        self.provider = self._sess.get_providers()[0]
        self.input_names = [i.name for i in self._sess.get_inputs()]
        self.output_names = [o.name for o in self._sess.get_outputs()]

    def input_info(self) -> list[tuple[str, str, int]]:
        """(name, element type as onnxruntime spells it, rank) of each input."""
        return [(i.name, i.type, len(i.shape)) for i in self._sess.get_inputs()]

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
