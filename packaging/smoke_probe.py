"""Window probe for the bundle smoke test; inert unless ALBERT_STUDIO_SMOKE_WINDOW is set.

The smoke test must check the real window of the real bundle without a display and without a hook
in app/ui: this wraps QApplication.exec so that, once the event loop runs, one JSON line describing
the visible top-level windows goes to stdout (prefixed SMOKE_WINDOW), an optional screenshot is
saved, and the app quits through its normal path after ALBERT_STUDIO_SMOKE_WINDOW seconds.
"""
from __future__ import annotations

import json
import os
import sys
import time

_T0 = time.perf_counter()


def _describe(app) -> dict:
    from PySide6.QtWidgets import QMainWindow, QStackedWidget, QTabWidget, QWidget

    windows = []
    for w in app.topLevelWidgets():
        if not w.isVisible():
            continue
        info = {"class": type(w).__name__, "main_window": isinstance(w, QMainWindow), "title": w.windowTitle(),
                "object_name": w.objectName(), "size": [w.width(), w.height()]}
        if isinstance(w, QMainWindow):
            c = w.centralWidget()
            info["central"] = type(c).__name__ if c is not None else None
            info["central_object_name"] = c.objectName() if c is not None else None
            info["menus"] = [a.text().replace("&", "") for a in w.menuBar().actions()] if w.menuBar() else []
            info["tabs"] = [[t.tabText(i).replace("&", "") for i in range(t.count())] for t in w.findChildren(QTabWidget)]
            stacks = w.findChildren(QStackedWidget)
            info["stacked_current"] = [type(s.currentWidget()).__name__ for s in stacks if s.currentWidget() is not None]
            info["visible_widgets"] = sum(1 for x in w.findChildren(QWidget) if x.isVisible())
        windows.append(info)
    return {"seconds_since_entry": round(time.perf_counter() - _T0, 3), "platform": app.platformName(),
            "windows": windows}


def _worker(queue) -> None:
    import onnxruntime

    from app.core import runtime  # noqa: F401  (the inference layer imports in a worker)

    queue.put({"pid": os.getpid(), "frozen": bool(getattr(sys, "frozen", False)),
               "providers": onnxruntime.get_available_providers(),
               "qt_modules_in_worker": sorted(m for m in sys.modules if m.startswith(("PySide6.", "shiboken6")))})


def check_multiprocessing() -> int:
    """Start one spawn worker (as fine-tuning does) and print what it saw: SMOKE_MP {json}."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_worker, args=(queue,))
    proc.start()
    try:
        info = queue.get(timeout=90)
    except Exception as exc:  # noqa: BLE001  (report, the smoke test decides)
        info = {"error": repr(exc)}
    proc.join(30)
    info.update(parent_pid=os.getpid(), exitcode=proc.exitcode)
    print("SMOKE_MP " + json.dumps(info), flush=True)
    return 0 if proc.exitcode == 0 and "error" not in info else 1


def _open_finetune_page(app) -> bool:
    from PySide6.QtWidgets import QTabWidget

    for tabs in (t for w in app.topLevelWidgets() if w.isVisible() for t in w.findChildren(QTabWidget)):
        for i in range(tabs.count()):
            if tabs.tabText(i).replace("&", "").lower().startswith("fine"):
                tabs.setCurrentIndex(i)
                return True
    return False


def install() -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    stay_ms = int(float(os.environ.get("ALBERT_STUDIO_SMOKE_WINDOW") or 5) * 1000)
    shot = os.environ.get("ALBERT_STUDIO_SMOKE_SHOT")
    original = QApplication.exec

    def report(app) -> None:
        info = _describe(app)
        if shot:
            for w in app.topLevelWidgets():
                if w.isVisible():
                    info["screenshot_saved"] = bool(w.grab().save(shot))
                    break
        print("SMOKE_WINDOW " + json.dumps(info), flush=True)
        if _open_finetune_page(app):  # the page that needs torch: it must explain, not crash
            QTimer.singleShot(1500, lambda: finetune_report(app))

    def finetune_report(app) -> None:
        from PySide6.QtWidgets import QAbstractButton, QLabel, QTabWidget

        page, text = None, []
        for tabs in (t for w in app.topLevelWidgets() for t in w.findChildren(QTabWidget)):
            if tabs.tabText(tabs.currentIndex()).replace("&", "").lower().startswith("fine"):
                page = tabs.currentWidget()
        if page is not None:
            text = [x.text() for x in page.findChildren(QLabel) if x.isVisible() and x.text().strip()]
            text += [f"[{b.text()}]" for b in page.findChildren(QAbstractButton) if b.isVisible() and b.text()]
            if shot:
                page.window().grab().save(shot.replace(".png", "-finetune.png"))
        print("SMOKE_FINETUNE " + json.dumps({"found": page is not None, "text": text}), flush=True)

    def exec_(*_args):
        app = QApplication.instance()
        QTimer.singleShot(0, lambda: print("SMOKE_READY", flush=True))  # the event loop runs: start-up is over
        QTimer.singleShot(300, lambda: report(app))  # let the first show/paint happen
        QTimer.singleShot(stay_ms, app.quit)
        return original()

    QApplication.exec = exec_
    if hasattr(QApplication, "exec_"):
        QApplication.exec_ = exec_
    print(f"SMOKE_PROBE installed (quit after {stay_ms} ms)", file=sys.stderr, flush=True)
