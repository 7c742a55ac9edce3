"""The grant mapped onto the engine's run options: one plan, two walls."""

from __future__ import annotations

import pytest

import corral
from corral.policy.plan import (
    ENGINE_LAYERS,
    NETWORK_LEVELS,
    PEN_PLUGIN_DIR,
    PEN_WORK_DIR,
    EnforcementPlan,
)
from corral.runtime.container.mapping import PROVIDED, run_options
from corral.sandbox.rlimits import task_limit

PLAN = EnforcementPlan(
    plugin_source="/var/lib/corral/store/abc",
    plugin_dir=PEN_PLUGIN_DIR,
    work_dir=PEN_WORK_DIR,
    network="none",
    memory_mb=128,
    cpu_percent=25,
    processes=16,
    open_files=64,
    file_size_mb=1,
    cpu_seconds=2,
    disk_mb=100,
    pen_uid=234567,
    pen_gid=234567,
    provided_layers=PROVIDED,
)


def options(plan=PLAN):
    return run_options(plan, corral.ContainerConfig(), "/tmp/corral-ipc-x", {"corral.worker": "p"})


def test_the_wall_is_locked_down():
    got = options()
    assert got["read_only"] is True
    assert got["cap_drop"] == ["ALL"]
    assert "no-new-privileges" in got["security_opt"]
    assert any(o.startswith("seccomp={") for o in got["security_opt"])
    assert got["user"] == "234567:234567"
    assert got["network_mode"] == "none"
    assert got["environment"] == {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def test_limits_come_from_the_plan():
    got = options()
    assert got["mem_limit"] == got["memswap_limit"] == "128m"
    assert got["pids_limit"] == task_limit(16) + 1
    assert got["nano_cpus"] == 250_000_000
    assert got["tmpfs"][PEN_WORK_DIR].startswith("size=100m,uid=234567,gid=234567,mode=0700")
    limits = {u["Name"]: (u["Soft"], u["Hard"]) for u in got["ulimits"]}
    assert limits == {
        "core": (0, 0),
        "nofile": (64, 64),
        "fsize": (1 << 20, 1 << 20),
        "cpu": (2, 3),
    }


def test_only_the_store_and_the_ipc_dir_are_mounted_both_read_only():
    mounts = {m["Target"]: m for m in options()["mounts"]}
    assert set(mounts) == {PEN_PLUGIN_DIR, "/run/corral/ipc"}
    assert all(m["ReadOnly"] for m in mounts.values())
    assert not any("docker.sock" in str(m["Source"]) for m in mounts.values())


@pytest.mark.parametrize(
    ("level", "mode"),
    [("none", "none"), ("internal", "none"), ("restricted", "none"), ("full", "host")],
)
def test_network_levels(level, mode):
    plan = EnforcementPlan(**{**PLAN.__dict__, "network": level})
    assert options(plan)["network_mode"] == mode


def test_every_network_level_has_a_mapping_and_only_full_has_a_route():
    for level in NETWORK_LEVELS:
        mode = options(EnforcementPlan(**{**PLAN.__dict__, "network": level}))["network_mode"]
        assert (mode == "none") == (level != "full")


def test_provided_layers_are_not_applied_by_the_worker_and_survive_the_wire():
    assert not PLAN.layer_on("netns") and PLAN.layer_on("landlock")
    assert EnforcementPlan.from_wire(PLAN.to_wire()) == PLAN


def test_podman_is_told_the_engines_own_nproc_and_nofile_never_more(tmp_path):
    """Podman otherwise writes 1048576 for both, which runc cannot set without
    CAP_SYS_RESOURCE; Docker is left to inherit its daemon's, as before."""
    podman = corral.ContainerConfig(engine="podman")
    engine = {"nproc": 32768, "nofile": 20000}

    def limits(plan, config, given):
        got = run_options(plan, config, str(tmp_path), {}, given)  # podman: profile file here
        return {u["Name"]: (u["Soft"], u["Hard"]) for u in got["ulimits"]}

    assert limits(PLAN, podman, engine)["nproc"] == (32768, 32768)
    assert limits(PLAN, podman, engine)["nofile"] == (64, 64)  # the plan's, being lower
    unset = EnforcementPlan(**{**PLAN.__dict__, "open_files": 0})
    assert limits(unset, podman, engine)["nofile"] == (20000, 20000)
    assert "nproc" not in limits(PLAN, corral.ContainerConfig(), {})
    assert options()["pids_limit"] == task_limit(16) + 1  # the process barrier either way


# --- the sabotage check's switches (scripts/sabotage.py) ----------------------------


def _without(*layers):
    return options(EnforcementPlan(**{**PLAN.__dict__, "disabled_layers": frozenset(layers)}))


def _changed(layer):
    """The option keys whose value differs once ``layer`` is switched off."""
    full, sabotaged = options(), _without(layer)
    return {k for k in full.keys() | sabotaged.keys() if full.get(k) != sabotaged.get(k)}


LOOSENED = {
    "engine-readonly": {"read_only"},
    "engine-network": {"network_mode"},
    "engine-seccomp": {"security_opt"},
    "engine-privileges": {"user", "cap_drop", "security_opt"},
    "engine-memory": {"mem_limit", "memswap_limit"},
    "engine-pids": {"pids_limit"},
    "engine-cpu": {"nano_cpus"},
    "engine-ulimits": {"ulimits"},
    "engine-tmpfs": {"tmpfs", "shm_size"},
}


def test_every_engine_layer_has_a_switch():
    assert set(LOOSENED) == set(ENGINE_LAYERS)


@pytest.mark.parametrize("layer", sorted(LOOSENED))
def test_an_engine_layer_switched_off_loosens_its_own_options_only(layer):
    assert _changed(layer) == LOOSENED[layer]


def test_what_each_switch_leaves():
    assert _without("engine-readonly")["read_only"] is False
    assert _without("engine-network")["network_mode"] == "host"
    assert _without("engine-seccomp")["security_opt"] == ["no-new-privileges", "seccomp=unconfined"]
    privileged = _without("engine-privileges")
    assert "user" not in privileged and "cap_drop" not in privileged
    assert [o for o in privileged["security_opt"] if not o.startswith("seccomp=")] == []
    assert _without("engine-ulimits")["ulimits"] == []
    tmpfs = _without("engine-tmpfs")["tmpfs"]
    assert not any("size=" in v for v in tmpfs.values())
    assert tmpfs[PEN_WORK_DIR] == "uid=234567,gid=234567,mode=0700"


def test_podman_keeps_its_own_limits_with_the_ulimits_switched_off(tmp_path):
    """The engine's nproc/nofile are what lets Podman start a container at all."""
    plan = EnforcementPlan(**{**PLAN.__dict__, "disabled_layers": frozenset({"engine-ulimits"})})
    podman = corral.ContainerConfig(engine="podman")
    got = run_options(plan, podman, str(tmp_path), {}, {"nproc": 32768, "nofile": 20000})
    limits = {u["Name"]: (u["Soft"], u["Hard"]) for u in got["ulimits"]}
    assert limits == {"nproc": (32768, 32768), "nofile": (20000, 20000)}
