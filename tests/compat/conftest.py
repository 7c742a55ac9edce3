from tests.runtime.conftest import audit, backend, home, host, plugin_copy  # noqa: F401  (the same real host)
