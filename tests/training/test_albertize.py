"""ALBERT-izing the pretrained teacher: exact layer mapping, the SVD factorization, ONNX export equality."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from app.training.albertize import albertize, layers_forward  # noqa: E402
from app.training.common import teacher_dir  # noqa: E402

TEXTS = ["A fine film, truly moving.", "The worst thing I have seen in years; the plot is thin and the acting wooden."]


@pytest.fixture(scope="module")
def teacher():
    from transformers import AutoModel, AutoTokenizer

    try:
        folder = teacher_dir()
    except RuntimeError:
        pytest.skip("the teacher package is not installed")
    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager", dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(str(folder))


def test_mapped_layers_reproduce_the_teachers_hidden_states(teacher):
    model, tok = teacher
    student, _ = albertize(model, embedding_size=128, groups=6)
    assert type(student).__name__ == "AlbertModel" and student.config.num_hidden_groups == 6
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        ours = layers_forward(student, model.embeddings(enc["input_ids"]), enc["attention_mask"])
        ref = model(**enc).last_hidden_state
    m = enc["attention_mask"].bool()
    assert float((ours - ref)[m].abs().max()) < 1e-4


def test_svd_factorization_keeps_what_it_says(teacher):
    model, _ = teacher
    student, info = albertize(model, embedding_size=128, groups=6)
    table = model.embeddings.word_embeddings.weight.detach()
    E = student.embeddings.word_embeddings.weight.detach()
    W = student.encoder.embedding_hidden_mapping_in.weight.detach()  # H x E
    recon = E @ W.T
    err = float(torch.linalg.norm(recon - table) / torch.linalg.norm(table))
    assert abs(err - info["relative_error"]) < 1e-4
    # truncated SVD: the relative error is sqrt(1 - kept energy) (Eckart-Young)
    assert abs(err - (1 - info["energy_kept"]) ** 0.5) < 1e-3
    assert 0.6 < info["energy_kept"] < 0.7  # E = 128 keeps about two thirds of the 384-wide table
    # full rank: the factorization is exact, positions and token types included
    full, info_full = albertize(model, embedding_size=384, groups=6)
    assert info_full["relative_error"] < 1e-4
    proj = full.encoder.embedding_hidden_mapping_in.weight.detach()
    pos = full.embeddings.position_embeddings.weight.detach() @ proj.T
    assert torch.allclose(pos, model.embeddings.position_embeddings.weight.detach(), atol=1e-4)


def test_fewer_groups_share_layers(teacher):
    model, _ = teacher
    shared, _ = albertize(model, embedding_size=128, groups=3)
    assert len(shared.encoder.albert_layer_groups) == 3
    six, _ = albertize(model, embedding_size=128, groups=6)
    per_layer = sum(p.numel() for p in six.encoder.albert_layer_groups[0].parameters())
    assert sum(p.numel() for p in six.parameters()) - sum(p.numel() for p in shared.parameters()) == 3 * per_layer
    with pytest.raises(SystemExit):
        albertize(model, embedding_size=128, groups=4)  # 6 layers do not split into 4 groups


def test_onnx_export_matches_pytorch(teacher, tmp_path):
    import onnxruntime as ort
    from transformers import AlbertForSequenceClassification

    from app.training.sentiment import export_onnx

    model, tok = teacher
    student, _ = albertize(model, embedding_size=128, groups=6)
    clf = AlbertForSequenceClassification(student.config)
    clf.albert.load_state_dict(student.state_dict(), strict=False)
    clf.eval()
    export_onnx(clf, tmp_path / "model.onnx")
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        ref = clf(**enc).logits.numpy()
    sess = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    feeds = {k: enc[k].numpy() for k in ("input_ids", "attention_mask", "token_type_ids")}
    got = sess.run(["logits"], feeds)[0]
    assert np.abs(got - ref).max() < 1e-4
