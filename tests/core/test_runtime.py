"""Session options the runtime sets: spinning inside a run only, threads as asked."""
import shutil

from app.core import runtime
from tests.fixtures.onnx_graphs import onnx_graph


def _identity(path):
    shutil.copy(onnx_graph("float_identity"), path)
    return path


def _opened_options(monkeypatch, tmp_path, options):
    import onnxruntime as ort

    seen = []
    real = ort.InferenceSession

    def spy(path, sess_options=None, providers=None):
        seen.append(sess_options)
        return real(path, sess_options=sess_options, providers=providers)

    monkeypatch.setattr(ort, "InferenceSession", spy)
    s = runtime.Session(_identity(tmp_path / "m.onnx"), options)
    assert s({"x": __import__("numpy").ones(3, "float32")})["y"].tolist() == [1, 1, 1]
    return seen[-1]


def test_threads_spin_during_a_run_and_stop_when_it_returns(monkeypatch, tmp_path):
    so = _opened_options(monkeypatch, tmp_path, runtime.RuntimeOptions(device="cpu", intra_op_threads=2))
    assert so.intra_op_num_threads == 2
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert so.get_session_config_entry("session.force_spinning_stop") == "1"  # idle app: no busy threads
    assert so.get_session_config_entry("session.inter_op.allow_spinning") == "0"


def test_spinning_can_be_turned_off(monkeypatch, tmp_path):
    so = _opened_options(monkeypatch, tmp_path, runtime.RuntimeOptions(device="cpu", spin_during_run=False))
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
