"""The window shows file names and reasons with control and bidi characters escaped, as the CLI prints them."""
from __future__ import annotations


def test_forged_and_reordering_names_are_escaped_in_the_batch_tables(window, wait_op, tmp_path):
    d = tmp_path / "odd"
    d.mkdir()
    (d / "x\nFinished: 5000 analysed.txt").write_text("   ")  # empty: listed in the error table
    (d / "invoice\u202etxt.exe.txt").write_text("Great service, thank you.")
    assert window.batch.start([str(d)])
    wait_op(window.batch.op)
    batch = window.batch
    (row,) = batch.visible_rows()
    assert "invoice\\u202etxt.exe.txt" in row and not any("\u202e" in str(cell) for cell in row)
    assert batch.error_table.item(0, 0).text() == "x\\nFinished: 5000 analysed.txt"
    assert "\n" not in batch.error_table.item(0, 0).toolTip()
