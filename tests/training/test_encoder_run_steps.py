"""The steps the albertize and distill runs are made of: a student with fewer groups from a distilled one,
resuming from a checkpoint, and the greedy choice of the teacher layer each shared group starts from."""
from __future__ import annotations

import argparse
import json
import logging

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from app.training import albertize as albertize_run  # noqa: E402  (after the importorskip above)
from app.training import distill  # noqa: E402
from app.training.common import teacher_dir  # noqa: E402

PROBE = ["A fine film, truly moving.", "The worst thing I have seen in years; the plot is thin."]
LOG = logging.getLogger("test_encoder_run_steps")


@pytest.fixture(scope="module")
def teacher():
    from transformers import AutoModel, AutoTokenizer

    try:
        folder = teacher_dir()
    except RuntimeError:
        pytest.skip("the teacher package is not installed")
    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager", dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(str(folder))


def test_fewer_groups_start_from_the_distilled_models_layers(teacher, tmp_path):
    six, _ = albertize_run.albertize(teacher[0], embedding_size=128, groups=6)
    six.save_pretrained(tmp_path / "six")
    three = albertize_run._fewer_groups(tmp_path / "six", 3)
    assert three.config.num_hidden_groups == 3
    for g in range(3):  # group g is the six-group model's layer 2g, copied
        ours = three.encoder.albert_layer_groups[g].state_dict()
        theirs = six.encoder.albert_layer_groups[2 * g].state_dict()
        assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    assert torch.equal(three.embeddings.word_embeddings.weight, six.embeddings.word_embeddings.weight)
    with pytest.raises(SystemExit, match="--groups 4"):
        albertize_run._fewer_groups(tmp_path / "six", 4)


def _student(groups: int):
    from transformers import AlbertModel

    student = AlbertModel(distill.student_config(groups=groups), add_pooling_layer=False)
    return student, torch.optim.AdamW(student.parameters(), lr=1e-4)


def test_a_checkpoint_of_other_groups_is_refused_and_its_own_resumes(tmp_path):
    saved, opt = _student(3)
    ckpt = tmp_path / "checkpoint.pt"
    torch.save({"model": saved.state_dict(), "opt": opt.state_dict(), "step": 42, "groups": 3}, ckpt)
    args = argparse.Namespace(groups=1, init_from=None)
    with pytest.raises(SystemExit, match="a run with --groups 3, not 1"):
        distill._initialise(*_student(1), None, None, PROBE, args, ckpt, tmp_path, LOG)
    student, opt = _student(3)
    step = distill._initialise(student, opt, None, None, PROBE, argparse.Namespace(groups=3, init_from=None),
                               ckpt, tmp_path, LOG)
    assert step == 42
    assert all(torch.equal(v, saved.state_dict()[k]) for k, v in student.state_dict().items())


def test_each_group_starts_from_a_teacher_layer_it_stands_in_for(teacher, tmp_path):
    model, tok = teacher
    student, opt = _student(3)
    step = distill._initialise(student, opt, model, tok, PROBE, argparse.Namespace(groups=3, init_from=None),
                               tmp_path / "none.pt", tmp_path, LOG)
    assert step == 0
    init = json.loads((tmp_path / "init.json").read_text())
    assert init["groups"] == 3 and len(init["init_layers"]) == 3
    assert all(2 * g <= layer <= 2 * g + 1 for g, layer in enumerate(init["init_layers"]))
    assert init["init_agreement"] == pytest.approx(distill.agreement(student, model, tok, PROBE), abs=1e-5)
    layer = model.encoder.layer[init["init_layers"][1]].attention.self.query.weight
    assert torch.equal(student.encoder.albert_layer_groups[1].albert_layers[0].attention.query.weight, layer)
