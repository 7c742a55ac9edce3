"""``unsafe_in_process=True``: the plugin runs inside the host, for trusted code only.

Nothing confines it: no kernel layer, no guard, no timeout that can stop a
runaway call. It exists for trusted code where a process boundary costs too
much, is never a default, and every load and worker start is audited as
``unsafe`` so nobody mistakes it for a sandbox.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

from corral.loading import Loaded, load_entry
from corral.protocol import Call
from corral.runtime.worker import Usage


class _Ids:
    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        return next(self._ids)


class InProcessWorker:
    """The same surface as ``WorkerProcess``, with the plugin imported into the host."""

    def __init__(self, plugin: str, plugin_dir: str, entry: str) -> None:
        self.plugin = plugin
        self.pid = os.getpid()
        self.conn = _Ids()
        self.dead = False
        self.loaded: Loaded = load_entry(plugin, plugin_dir, entry)
        if self.loaded.instance is not None:
            self.loaded.instance.setup()
        self.callables = sorted(self.loaded.callables)
        self.hooks = self.loaded.hooks

    def call(self, call: Call, *_: Any) -> tuple[Any, Usage]:
        fn = self.loaded.callables.get(call.name)
        if fn is None:
            raise AttributeError(f"plugin {self.plugin!r} has no callable {call.name!r}")
        start, cpu = time.monotonic(), time.process_time()
        value = fn(*call.args, **call.kwargs)
        return value, Usage(time.monotonic() - start, time.process_time() - cpu, 0.0)

    def shutdown(self) -> None:
        if self.loaded.instance is not None and not self.dead:
            self.loaded.instance.teardown()
        self.dead = True

    def kill(self) -> None:
        self.shutdown()
