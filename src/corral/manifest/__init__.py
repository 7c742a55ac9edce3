"""Plugin manifests and admin policy files, read from disk into policy values.

``plugin.yaml`` (or ``plugin.json``, same schema) becomes a frozen
``corral.policy.Manifest``; ``corral-policy.yaml`` becomes an ``AdminPolicy``.
Mistakes come back as one ``ManifestError`` listing every issue with its file,
line and field, never as a traceback.
"""

from corral.manifest.loading import (
    MANIFEST_NAMES,
    find_manifest,
    load_manifest,
    load_policy,
    parse_manifest,
)

__all__ = ["MANIFEST_NAMES", "find_manifest", "load_manifest", "load_policy", "parse_manifest"]
