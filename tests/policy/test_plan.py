"""The enforcement plan's layer names: what may be switched off, and what may be provided."""

from __future__ import annotations

import pytest

from corral.policy.plan import ENGINE_LAYERS, LAYERS, EnforcementPlan


def test_engine_layers_may_be_switched_off_and_survive_the_wire():
    plan = EnforcementPlan(disabled_layers=frozenset({"guard", "engine-memory"}))
    assert EnforcementPlan.from_wire(plan.to_wire()) == plan


def test_an_engine_layer_is_never_one_the_worker_applies_or_is_provided():
    assert not set(ENGINE_LAYERS) & set(LAYERS)
    with pytest.raises(ValueError, match="unknown layers"):
        EnforcementPlan(provided_layers=frozenset({"engine-memory"}))


def test_an_unknown_layer_is_refused():
    with pytest.raises(ValueError, match="unknown layers"):
        EnforcementPlan(disabled_layers=frozenset({"engine-everything"}))
