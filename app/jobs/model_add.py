"""`models add`: a Hugging Face checkpoint (a folder or a hub id) becomes an installed model, or nothing does.

    manifest = add_model("Helsinki-NLP/opus-mt-en-de", Registry(), progress=print_step, cancelled=flag.is_set)

Steps: download (hub ids only, huggingface_hub) -> inspect config.json (app.core.hf_import: what it becomes,
refusals) -> export and check (app.training.hf_export, torch: needs the train extra) -> install through the
registry's one import path (files copied with their sha256 checked, renamed into place). Everything is written
under dot-folders of the user's models folder (never listed as models) that are removed on any failure or
cancel, so a failed or cancelled add leaves nothing behind.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from app.core.errors import Cancelled, ModelError
from app.core.hf_import import default_model_id, download, inspect_checkpoint, looks_like_hub_id
from app.core.manifest_schema import ID_PATTERN
from app.core.registry import Manifest, Registry


@dataclass(frozen=True)
class AddProgress:
    """One report of `add_model`: the stage in words and how far the whole add is (0..1)."""

    stage: str
    fraction: float


Progress = Callable[[AddProgress], None]

# the share of the whole add each part takes (a download dominates when there is one)
_DOWNLOAD, _EXPORT = (0.0, 0.4), (0.4, 0.95)


def _export_module():
    try:
        from app.training import hf_export
    except ImportError as exc:
        raise ModelError("Adding a Hugging Face checkpoint exports it with PyTorch, which is not installed here "
                         f"({exc.name or exc}); install the train extra: pip install 'albert-studio[train]'. "
                         "Running the added model needs none of it.") from None
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ModelError("Adding a Hugging Face checkpoint needs torch and transformers (the train extra: pip "
                         f"install 'albert-studio[train]'); missing: {exc.name}") from None
    return hf_export


def add_model(source: str, registry: Registry, *, task: str | None = None, model_id: str | None = None,
              revision: str | None = None, name: str | None = None, progress: Progress | None = None,
              cancelled: Callable[[], bool] | None = None) -> Manifest:
    """Add the checkpoint `source` (a save_pretrained folder, or a hub id when no such path exists) as model
    `model_id` (default: from the source's name); ModelError with the reason when it cannot be added,
    Cancelled when `cancelled()` turned true."""
    import re

    def report(stage: str, fraction: float) -> None:
        if cancelled is not None and cancelled():
            raise Cancelled()
        if progress is not None:
            progress(AddProgress(stage, max(0.0, min(1.0, fraction))))

    model_id = model_id or default_model_id(source)
    if not re.fullmatch(ID_PATTERN, model_id):
        raise ModelError(f"'{model_id}' cannot be a model id: use 1-64 lowercase letters, digits, '.', '_' or '-'")
    dest = registry.user_dir / model_id
    if dest.exists():
        raise ModelError(f"A model with id '{model_id}' is already installed at {dest}; choose another with "
                         "--name or remove it first")
    hub = looks_like_hub_id(source)
    if not hub and not Path(source).is_dir():
        raise ModelError(f"{source}: no such folder (and not a hub id like owner/name)")
    if not hub and revision:
        raise ModelError("--revision applies to hub ids; a folder is used as it is")
    registry.user_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{model_id}.adding-", dir=registry.user_dir))
    try:
        commit = ""
        if hub:
            lo, hi = _DOWNLOAD
            report(f"downloading {source}", lo)

            shown = [lo]  # files' sizes become known as their downloads start: the bar never goes back

            def got(done: int, total: int) -> None:
                shown[0] = max(shown[0], lo + (hi - lo) * (done / total if total else 0))
                report(f"downloading {source}: {done / 1e6:,.1f} of {total / 1e6:,.1f} MB", shown[0])

            folder, commit = download(source, work / "download", revision, progress=got, cancelled=cancelled)
        else:
            folder = Path(source)
        report("reading the checkpoint", _EXPORT[0])
        ck = inspect_checkpoint(folder, task, source_id=source if hub else Path(source).resolve().name,
                                revision=commit or (revision or ""))
        hf_export = _export_module()

        def step(what: str, fraction: float) -> None:
            report(what, _EXPORT[0] + (_EXPORT[1] - _EXPORT[0]) * fraction)

        out = hf_export.export_checkpoint(ck, work / "model", model_id, name, step, cancelled)
        report("installing", _EXPORT[1])
        manifest = registry.import_folder(out)
        if progress is not None:  # installed: a cancel now comes too late to undo anything
            progress(AddProgress("done", 1.0))
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)
