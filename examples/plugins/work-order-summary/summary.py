"""Reads work orders through the host (never the database) and summarises them."""

from collections import Counter

import corral


class Summary(corral.Plugin):
    def summarise(self) -> dict:
        orders = corral.host.work_orders.list()
        return {"total": len(orders), "by_status": dict(Counter(o["status"] for o in orders))}

    @corral.hook("work_order.created")
    def on_created(self, order: dict) -> str:
        still_open = corral.host.work_orders.list(status="open")
        return f"order {order['id']} ({order['title']!r}) noted; {len(still_open)} open"
