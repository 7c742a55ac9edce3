from tests.runtime.conftest import audit, home, host  # noqa: F401  (the same real host)
