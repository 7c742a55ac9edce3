"""The engine's seccomp profile is written from corral's own syscall policy, not copied."""

from __future__ import annotations

import json

from corral.runtime.container.profile import profile_for
from corral.sandbox import seccomp


def _rules(network):
    return json.loads(profile_for(network))["syscalls"]


def test_every_denied_call_of_the_pen_is_denied_by_the_engine_too():
    denied = {n for r in _rules("none") if "args" not in r for n in r["names"]}
    assert set(seccomp.DENIED) <= denied


def test_denials_answer_eperm_so_python_raises_a_normal_error():
    profile = json.loads(profile_for("none"))
    assert profile["defaultAction"] == "SCMP_ACT_ALLOW"
    plain = [r for r in profile["syscalls"] if r["names"] != ["clone3"]]
    assert all(r["action"] == "SCMP_ACT_ERRNO" and r["errnoRet"] == 1 for r in plain)


def test_clone_with_any_namespace_flag_is_denied_and_clone3_falls_back():
    flags = 0
    for rule in _rules("none"):
        if rule["names"] == ["clone"]:
            (arg,) = rule["args"]
            assert arg["op"] == "SCMP_CMP_MASKED_EQ" and arg["value"] == arg["valueTwo"]
            flags |= arg["value"]
    assert flags == seccomp.CLONE_NEW_FLAGS
    assert any(r["names"] == ["clone3"] and r["errnoRet"] == 38 for r in _rules("none"))


def test_inet_sockets_are_refused_only_without_network():
    def families(network):
        return {r["args"][0]["value"] for r in _rules(network) if r["names"] == ["socket"]}

    assert families("none") == {seccomp.AF_INET, seccomp.AF_INET6}
    assert families("internal") == set()
    assert families("full") == set()
