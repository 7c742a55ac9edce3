"""Trust before load: digests, DSSE envelopes, the keyring, archive hygiene, the verified store.

The pipeline is ``Verifier.verify`` (signature first, parse after, then every
rule) and ``Verifier.install`` (the verified bytes into the read-only,
content-addressed store). ``signing`` is the author's side.
"""

from corral.trust import keys
from corral.trust.keyring import KeyEntry, Keyring
from corral.trust.package import ARCHIVE_SUFFIX, SIGNATURE_FILE, read_manifest
from corral.trust.reviews import Review, ReviewStore, review_command
from corral.trust.signing import make_envelope, pack, sign_package, write_archive
from corral.trust.state import TrustState
from corral.trust.store import Store
from corral.trust.verify import Verified, Verifier

__all__ = [
    "ARCHIVE_SUFFIX",
    "SIGNATURE_FILE",
    "KeyEntry",
    "Keyring",
    "Review",
    "ReviewStore",
    "Store",
    "TrustState",
    "Verified",
    "Verifier",
    "keys",
    "make_envelope",
    "pack",
    "read_manifest",
    "review_command",
    "sign_package",
    "write_archive",
]
