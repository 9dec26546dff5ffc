"""`albert-studio finetune FILE --text-col --label-col [--base] [--epochs] [--few-shot] [--name] [--task-name]
[--seed]`: the job with a progress bar over the whole job (phase, epoch of N, ETA)."""
from __future__ import annotations

import sys
import time

from app.core.errors import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, AlbertStudioError, Cancelled


class _Bar:
    """One line on stderr: the whole job's bar, its phase, the epoch as set, loss, last validation accuracy, ETA."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last_eval = ""
        self._shown = 0.0
        self._open = False
        self._phase = ""

    def __call__(self, p) -> None:
        from app.jobs.finetune import duration_text

        if p.kind == "phase":
            self._end()
            head = f"[{p.overall:4.0%}] " if p.phase else ""
            self.stream.write(f"{head}{p.message}\n")
            self._phase = p.phase
        elif p.kind == "eval":
            self.last_eval = f" val acc {p.val_accuracy:.3f} F1 {p.val_macro_f1:.3f}"
            if not self.tty:
                self.stream.write(f"{p.phase_title}: {p.epoch_text()}, step {p.step}/{p.total}{self.last_eval}\n")
        elif p.kind == "step" and self.tty and (time.monotonic() - self._shown > 0.1 or p.step == p.total):
            self._shown = time.monotonic()
            w = 24
            fill = int(w * p.overall)
            eta = p.eta_seconds
            self.stream.write(f"\r[{'#' * fill}{'.' * (w - fill)}] {p.overall:4.0%} {p.phase_title}: {p.epoch_text()} "
                              f"loss {p.loss:.4f}{self.last_eval}"
                              + (f", about {duration_text(eta)} left" if eta is not None else "") + "   ")
            self._open = True
        self.stream.flush()

    def _end(self) -> None:
        if self._open:
            self.stream.write("\n")
            self._open = False

    def close(self) -> None:
        self._end()


def run_finetune_cli(args) -> int:
    """Read and check the file, fine-tune in a worker process, print the report; returns the exit code."""
    from app.core.labeled_data import load_labeled, parse_label_names
    from app.core.registry import Registry
    from app.jobs.finetune import FineTuneJob, make_default, use_text

    def err(msg: str) -> None:
        print(f"albert-studio: {msg}", file=sys.stderr)

    bar = _Bar()
    try:
        data = load_labeled(args.file, getattr(args, "text_col", None), getattr(args, "label_col", None))
        if getattr(args, "label_names", None):
            data = data.renamed(parse_label_names(args.label_names))
        elif data.needs_names():
            print(f"note: the classes are {', '.join(data.classes)}; name them so results read as words, e.g. "
                  f"--label-names {','.join(f'{c}=NAME' for c in data.classes)}", file=sys.stderr)
        print(f"{args.file}: {data.describe()}", file=sys.stderr)
        for w in data.warnings:
            print(f"note: {w}", file=sys.stderr)
        registry = Registry()
        job = FineTuneJob(data, registry=registry, base=getattr(args, "base", None), name=getattr(args, "name", None),
                          task_name=getattr(args, "task_name", None), seed=getattr(args, "seed", None) or 13,
                          mode="few-shot" if getattr(args, "few_shot", False) else "auto",
                          epochs=getattr(args, "epochs", None) or 3, device=getattr(args, "device", "auto"),
                          name_hints=getattr(args, "name_hints", "auto"), refit=getattr(args, "refit", "auto"))
        report = job.run(progress=bar)
        bar.close()
        print(report.as_text())
        if getattr(args, "make_default", False):
            make_default(registry, report)
            print(f"{report.model_id} {use_text(report)}.")
        elif report.task == "classification":
            print(f"Switch it on (its '{report.classification_name}' column beside Sentiment) with: "
                  f"albert-studio finetune ... --make-default, or the Models view")
        else:
            print(f"Make it the default with: albert-studio models default {report.model_id}")
        return EXIT_OK
    except KeyboardInterrupt:
        bar.close()
        err("cancelled; no model was added")
        return EXIT_CANCELLED
    except Cancelled as exc:
        bar.close()
        err(str(exc))
        return EXIT_CANCELLED
    except AlbertStudioError as exc:
        bar.close()
        err(str(exc))
        return EXIT_ERROR
