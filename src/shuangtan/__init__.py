"""shuangtan (双碳): an open MRV platform for carbon peak and carbon neutrality.

The calculation core lives in :mod:`shuangtan.calc` (pure functions), the factor library in
:mod:`shuangtan.factors` (packaged, sourced, dated data), and the batch contract behind
``shuangtan calc`` in :mod:`shuangtan.services.calculation`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
