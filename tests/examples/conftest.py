from tests.runtime.conftest import audit, backend, home, host  # noqa: F401  (the same real host)
