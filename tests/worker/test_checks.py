"""The guard's question: baseline allowances first, then the plugin's grant."""

from corral.policy.decision import Decision, Request
from corral.worker.checks import is_loopback, make_check


class DenyAll:
    def check(self, request: Request) -> Decision:
        return Decision(False, "not granted", f"{request.domain}:{request.action}={request.target}")


def test_allow_baseline_reads_and_writes_without_a_grant():
    check = make_check(DenyAll(), ["/usr/lib"], ["/tmp"])
    assert check(Request("file", "read", "/usr/lib/python3.11/os.py")).allowed
    assert check(Request("file", "write", "/tmp/x")).allowed
    assert check(Request("file", "read", "/tmp/x")).allowed


def test_deny_outside_the_baseline_asks_the_grant():
    check = make_check(DenyAll(), ["/usr/lib"], ["/tmp"])
    assert not check(Request("file", "read", "/usr/libexec/x")).allowed
    assert not check(Request("file", "write", "/usr/lib/x")).allowed


def test_allow_own_code_but_not_own_data(tmp_path):
    (tmp_path / "data").mkdir()
    check = make_check(DenyAll(), [], [], str(tmp_path))
    assert check(Request("file", "read", f"{tmp_path}/plugin.py")).allowed
    assert check(Request("file", "read", f"{tmp_path}/data")).allowed  # listing for imports
    assert not check(Request("file", "read", f"{tmp_path}/data/secret.txt")).allowed


def test_allow_loopback_only_at_network_internal():
    internal = make_check(DenyAll(), [], [], internal_network=True)
    closed = make_check(DenyAll(), [], [])
    assert internal(Request("network", "connect", "127.0.0.1:80")).allowed
    assert internal(Request("network", "listen", "[::1]:8080")).allowed
    assert not internal(Request("network", "connect", "10.0.0.1:80")).allowed
    assert not closed(Request("network", "connect", "127.0.0.1:80")).allowed


def test_loopback_names():
    assert is_loopback("localhost:1") and is_loopback("127.9.9.9:2") and is_loopback("[::1]:3")
    assert not is_loopback("example.com:443") and not is_loopback("192.168.1.1:22")
