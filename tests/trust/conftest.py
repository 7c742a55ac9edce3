"""Fixtures for trust tests: keys made once per session, a verifier over a fresh home."""

from __future__ import annotations

import pytest

from corral.trust import Keyring, Store, TrustState, Verifier, keys


@pytest.fixture(scope="session")
def ed_key():
    return keys.generate()


@pytest.fixture(scope="session")
def other_key():
    return keys.generate()


@pytest.fixture(scope="session")
def rsa_key():
    return keys.generate(2048)


@pytest.fixture
def trust_home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def verifier_for(trust_home):
    """verifier_for(*entries): a Verifier over a keyring of ``entries`` and a fresh home."""

    def make(*entries, clock=None):
        return Verifier(
            Keyring(tuple(entries)),
            state=TrustState(trust_home / "corral.db"),
            store=Store(trust_home / "store"),
            clock=clock,
        )

    return make
