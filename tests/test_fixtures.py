"""The checked-in test graphs (tests/fixtures/onnx) are exactly what tests/fixtures/onnx_graphs.py builds."""
from __future__ import annotations

import pytest

from tests.fixtures.onnx_graphs import GRAPHS, build, onnx_graph


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_a_checked_in_graph_is_what_its_builder_makes(name):
    pytest.importorskip("onnx", reason="rebuilding the test graphs needs the onnx package (train extra)")
    assert onnx_graph(name).read_bytes() == build(name), "run: python -m tests.fixtures.onnx_graphs"


def test_an_unknown_graph_is_a_key_error():
    with pytest.raises(KeyError, match="known: float_identity"):
        onnx_graph("nope")
