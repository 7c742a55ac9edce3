"""Trust before load: digests, DSSE envelopes, the keyring, archive hygiene, the verified store."""
