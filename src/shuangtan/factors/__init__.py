"""The factor library: packaged CSV data with sources, validity dates and confirmation status."""

from shuangtan.factors.library import FactorLibrary, Name, Source

__all__ = ["FactorLibrary", "Name", "Source"]
