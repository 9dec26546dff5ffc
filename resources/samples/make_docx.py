"""Generate meeting_notes.docx, the Word sample document (run: python resources/samples/make_docx.py)."""
from __future__ import annotations

from pathlib import Path

import docx


def make(path: Path) -> None:
    document = docx.Document()
    document.core_properties.title = "Product team meeting notes"
    document.core_properties.author = "Albert Studio samples"
    document.add_heading("Product team meeting notes", level=1)
    document.add_paragraph(
        "The team met on Thursday to review the spring release. Overall the release went well: "
        "crash reports dropped by half and the new export feature was used by a third of our users "
        "in its first week."
    )
    document.add_paragraph(
        "Two problems remain. The installer is still too large, and several customers reported that "
        "the settings page is hard to find. Maria will prototype a simpler menu before the next meeting."
    )
    table = document.add_table(rows=3, cols=2)
    cells = [
        ("Action", "Owner"),
        ("Shrink the installer below 80 MB", "Jonas"),
        ("Prototype the new settings menu", "Maria"),
    ]
    for row, (action, owner) in zip(table.rows, cells):
        row.cells[0].text = action
        row.cells[1].text = owner
    document.add_paragraph("Next meeting: Thursday in two weeks.")
    document.save(path)


if __name__ == "__main__":
    make(Path(__file__).with_name("meeting_notes.docx"))
