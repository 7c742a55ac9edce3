"""A well-behaved plugin: everything it does is inside its grant."""

import json
import os
import sqlite3
import threading
from pathlib import Path

import corral


class Notes(corral.Plugin):
    def setup(self):
        self.calls = 0

    def echo(self, value):
        self.calls += 1
        return {"value": value, "calls": self.calls}

    def cities(self):
        return json.loads((Path(__file__).parent / "data" / "cities.json").read_text())

    def secret(self):
        return (Path(__file__).parent / "data" / "secrets" / "key.txt").read_text()

    def write_note(self, name, text):
        path = Path(os.environ["HOME"]) / name
        path.write_text(text)
        path.rename(path.with_suffix(".done"))
        return str(path.with_suffix(".done"))

    def sqlite_roundtrip(self):
        db = sqlite3.connect(Path(os.environ["HOME"]) / "notes.db")
        db.execute("create table if not exists n (v text)")
        db.execute("insert into n values ('x')")
        db.commit()
        return db.execute("select count(*) from n").fetchone()[0]

    def threads(self, n):
        out = []
        workers = [threading.Thread(target=out.append, args=(i,)) for i in range(n)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        return sorted(out)

    def tmp_roundtrip(self):
        import tempfile

        with tempfile.NamedTemporaryFile("w+", delete=True) as fh:
            fh.write("hello")
            fh.flush()
            fh.seek(0)
            return fh.read()

    def env(self):
        return {k: os.environ.get(k) for k in ("HOME", "LANG", "TZ", "USER")}

    def whoami(self):
        return {"pid": os.getpid(), "uid": os.getuid(), "cwd": os.getcwd()}
