"""Seed 000's secure extension, reduced to what a corral plugin needs.

Its ``data_access``/``plugin_access`` permissions are app-defined: the host's
functions check them when the plugin calls ``corral.host``.
"""

import corral


class SecureExtension(corral.Plugin):
    def update_user_data(self, user_id: str, data: dict) -> dict:
        # Needs data:write; the host function refuses without it.
        return corral.host.call("users.update", user_id, data)

    def status(self) -> dict:
        return {"extension": "kari-extension", "ok": True}
