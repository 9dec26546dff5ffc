"""A cancel stops the model run in progress, not only the next one: a long document stops within a second."""
from __future__ import annotations

import threading
import time

import pytest

from app.core.analyzer import AnalysisOptions, Analyzer
from app.core.errors import Cancelled
from app.core.pasted import document_from_text
from app.core.registry import Registry, shipped_models_dir
from app.core.runtime import RuntimeOptions


@pytest.mark.slow  # about a minute: analyses a document of the largest allowed size
def test_a_long_document_stops_within_a_second_of_the_cancel(tmp_path):
    analyzer = Analyzer(registry=Registry(roots=[shipped_models_dir()], settings_file=tmp_path / "d.json"),
                        runtime=RuntimeOptions(device="cpu"))
    sentences = [f"Review {i}: the plot was thin but the acting, music and photography were quite wonderful." for i in range(2500)]
    doc = document_from_text(" ".join(sentences))
    assert len(doc.text) > 170_000
    opts = AnalysisOptions(tasks=("sentiment", "summary"))
    analyzer.analyze(document_from_text("Warm up the models."), opts)
    stop = threading.Event()
    seen: list[float] = []

    def cancel_once_running():
        while not seen:
            time.sleep(0.01)
        stop.set()
        at.append(time.perf_counter())

    at: list[float] = []
    threading.Thread(target=cancel_once_running, daemon=True).start()
    with pytest.raises(Cancelled):
        analyzer.analyze(doc, opts, stop.is_set, seen.append)
    latency = time.perf_counter() - at[0]
    assert latency < 1.0, latency
    assert 0 < seen[-1] < 1  # it was under way, and it did not finish
    # the analyzer is usable again at once: the interrupted run left nothing behind
    again = analyzer.analyze(document_from_text("The film was wonderful."), opts)
    assert again.sentiment is not None and again.sentiment.label == "positive"
