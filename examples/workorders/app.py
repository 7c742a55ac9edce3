"""The work-order host application: a SQLite store, two host functions, one hook point.

Plugins never see the database. They call ``work_orders.list`` (needs
``work_orders:read``) and ``work_orders.update`` (needs ``work_orders:write``)
through ``corral.host``; the host checks each plugin's grant before the
function runs. Creating an order runs the ``work_order.created`` hook, where
every plugin granted ``hook:register=work_order.created`` gets a say, each in
its own pen, under the hook timeout.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

import corral

STATUSES = ("open", "in_progress", "done")


@dataclass
class WorkOrders:
    """An in-memory SQLite table of work orders; one lock, since host functions run on threads."""

    db: sqlite3.Connection
    lock: threading.Lock

    @classmethod
    def create(cls) -> WorkOrders:
        db = sqlite3.connect(":memory:", check_same_thread=False)
        db.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, title TEXT NOT NULL, status TEXT NOT NULL)"
        )
        return cls(db, threading.Lock())

    def add(self, title: str, status: str = "open") -> dict[str, Any]:
        with self.lock, self.db:
            cursor = self.db.execute(
                "INSERT INTO orders (title, status) VALUES (?, ?)", (title, status)
            )
        return {"id": cursor.lastrowid, "title": title, "status": status}

    def list(self, status: str | None = None) -> list[dict[str, Any]]:
        query, params = "SELECT id, title, status FROM orders", ()
        if status is not None:
            query, params = query + " WHERE status = ?", (status,)
        with self.lock:
            rows = self.db.execute(query + " ORDER BY id", params).fetchall()
        return [{"id": i, "title": t, "status": s} for i, t, s in rows]

    def update(self, order_id: int, status: str) -> dict[str, Any]:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        with self.lock, self.db:
            changed = self.db.execute(
                "UPDATE orders SET status = ? WHERE id = ?", (status, int(order_id))
            ).rowcount
        if not changed:
            raise KeyError(f"no work order {order_id}")
        return {"id": int(order_id), "status": status}


class WorkOrderApp:
    """The application: its store, and the corral host its plugins run under."""

    def __init__(self, host: corral.Host) -> None:
        self.host = host
        self.orders = WorkOrders.create()
        host.hook_point("work_order.created")

        @host.function("work_orders.list", requires="work_orders:read")
        def list_orders(status: str | None = None) -> list[dict[str, Any]]:
            return self.orders.list(status)

        @host.function("work_orders.update", requires="work_orders:write")
        def update_order(order_id: int, status: str) -> dict[str, Any]:
            return self.orders.update(order_id, status)

    def create_order(self, title: str) -> tuple[dict[str, Any], list[corral.HookResult]]:
        """Store the order, then let every registered plugin react to it."""
        order = self.orders.add(title)
        return order, self.host.run_hook("work_order.created", order)
