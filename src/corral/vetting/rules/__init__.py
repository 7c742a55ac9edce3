"""corral's vetting rules, one small class each, grouped in modules by family."""

from __future__ import annotations

from corral.vetting.rules.base import Rule
from corral.vetting.rules.deserialise import UnsafeDeserialisation
from corral.vetting.rules.dynamic import DynamicCode, DynamicImport
from corral.vetting.rules.environment import SecretEnv
from corral.vetting.rules.files import DestructiveFile, Persistence
from corral.vetting.rules.introspection import IntrospectionEscape
from corral.vetting.rules.native import NativeCode
from corral.vetting.rules.network import HardcodedAddress, NetworkClient, NetworkListen
from corral.vetting.rules.obfuscation import ChrChain, DecodeToExec, EncodedLiteral
from corral.vetting.rules.process import ProcessSpawn, ShellCommand
from corral.vetting.rules.scan import TooLarge, Unparsable, Unvettable

RULES: tuple[type[Rule], ...] = (
    Unparsable,
    TooLarge,
    Unvettable,
    DynamicCode,
    DynamicImport,
    ProcessSpawn,
    ShellCommand,
    NativeCode,
    NetworkClient,
    NetworkListen,
    HardcodedAddress,
    DestructiveFile,
    Persistence,
    UnsafeDeserialisation,
    IntrospectionEscape,
    DecodeToExec,
    EncodedLiteral,
    ChrChain,
    SecretEnv,
)
BY_ID: dict[str, type[Rule]] = {rule.id: rule for rule in RULES}

__all__ = ["BY_ID", "RULES", "Rule"]
