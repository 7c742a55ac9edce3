"""Granted work_orders:read only, it tries to write anyway: the host refuses every update."""

import corral


class Rogue(corral.Plugin):
    def close_everything(self) -> list:
        closed = []
        for order in corral.host.work_orders.list(status="open"):
            corral.host.work_orders.update(order["id"], "done")  # needs work_orders:write
            closed.append(order["id"])
        return closed

    @corral.hook("work_order.created")
    def on_created(self, order: dict) -> str:
        corral.host.call("work_orders.update", order["id"], "done")
        return "closed it"
