"""corral.compat re-exports each seed's names; the shared ones stay in their seed's module."""

from __future__ import annotations

import corral.compat


def test_every_name_corral_compat_lists_resolves():
    for name in corral.compat.__all__:
        assert getattr(corral.compat, name) is not None
    assert corral.compat.seed002.PluginSandbox is not corral.compat.seed003.PluginSandbox
