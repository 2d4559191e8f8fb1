"""Domain objects: frozen dataclasses and enums shared by every layer.

No I/O, and no imports of other shuangtan packages.
"""

from shuangtan.domain.factors import Factor, FactorStatus, GwpSet, MatchKind
from shuangtan.domain.results import CalcResult

__all__ = ["CalcResult", "Factor", "FactorStatus", "GwpSet", "MatchKind"]
