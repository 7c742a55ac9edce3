"""Seed 003's example plugin: reads and writes its own files, handles one hook."""

from pathlib import Path

import corral


class ExamplePlugin(corral.Plugin):
    def note(self, text: str) -> int:
        """Append a line to notes.txt in the work directory; return the line count."""
        notes = Path("notes.txt")
        with notes.open("a") as out:
            out.write(text + "\n")
        return len(notes.read_text().splitlines())

    @corral.hook("workflow.completed")
    def on_workflow_completed(self, name: str) -> str:
        return f"noted {name}"
