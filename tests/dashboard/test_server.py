"""Where the dashboard may listen."""

from __future__ import annotations

import pytest

import corral
from corral.dashboard import check_bind


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::"])
def test_a_wide_bind_needs_the_explicit_flag(host):
    with pytest.raises(corral.HostError, match="--bind-any"):
        check_bind(host, bind_any=False)
    check_bind(host, bind_any=True)
    check_bind("127.0.0.1", bind_any=False)
    check_bind("::1", bind_any=False)
