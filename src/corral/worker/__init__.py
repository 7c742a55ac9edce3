"""The worker: runs inside the pen. Imports only layers 1-3 (never host code).

The host starts it as a program (``python -I -B -m corral.worker``) and
speaks the protocol to it; nothing here is imported by the host.
"""
