"""Charts of the reports: SVG drawn by matplotlib, embedded inline in the HTML.

The same SVG goes into the HTML page and, through WeasyPrint, into the PDF, so both show the
same chart. Text stays text (``svg.fonttype = "none"``), in Noto Sans CJK SC, so a PDF's charts
can be searched and copied like its tables. The output is deterministic: a fixed hash salt per
chart for the element ids and no date in the metadata, so the same document always gives the
same bytes.

matplotlib is imported on first use (about half a second), not with the package.
"""

from __future__ import annotations

import functools
import io
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

__all__ = ["COLOURS", "FONT_FAMILY", "bar_chart", "monthly_chart"]

#: Colours of the charts (the dashboard's brand green first).
COLOURS: Final = ("#0f6e5a", "#d08c2b", "#3b6fb6", "#9b4d96", "#5b6b70", "#b3261e")
#: Font families, CJK first: WeasyPrint finds them through fontconfig.
FONT_FAMILY: Final = ["Noto Sans CJK SC", "DejaVu Sans"]
_WIDTH_IN: Final = 6.7  # fits A4 between 15 mm margins
#: matplotlib's settings are process-wide: one chart is drawn at a time (report jobs may run
#: in threads), so that one chart's settings never leak into another's.
_LOCK: Final = threading.Lock()
F = TypeVar("F", bound=Callable[..., str])
_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)


def _serialised(function: F) -> F:
    @functools.wraps(function)
    def locked(*args: Any, **kwargs: Any) -> str:
        with _LOCK:
            return function(*args, **kwargs)

    return locked  # type: ignore[return-value]


def _rc(salt: str) -> Any:
    return {
        "svg.fonttype": "none",
        "svg.hashsalt": f"shuangtan-{salt}",
        "font.family": FONT_FAMILY,
        "font.size": 9.0,
        "axes.edgecolor": "#5b6b70",
        "axes.labelcolor": "#1d2a2e",
        "xtick.color": "#1d2a2e",
        "ytick.color": "#1d2a2e",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "axes.grid.axis": "y",
        "grid.color": "#d7e0e2",
        "grid.linewidth": 0.6,
        "axes.axisbelow": True,
        "axes.unicode_minus": False,
        # Names are text, never TeX: an organisation called "A$B$" must not become math.
        "text.parse_math": False,
    }


def _grouped(value: float, _pos: object = None) -> str:
    """An axis tick: grouped thousands, no decimals beyond what the scale needs."""
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _svg(figure: Any, salt: str) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context(_rc(salt)):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = _METADATA.sub("", _PROLOG.sub("", buffer.getvalue(), count=1), count=1)
    return text.strip()


def _figure(height_in: float, salt: str, width_in: float = _WIDTH_IN) -> tuple[Any, Any]:
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_rc(salt)):
        figure = Figure(figsize=(width_in, height_in), layout="constrained")
        axes = figure.subplots()
    return figure, axes


@_serialised
def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    unit: str,
    salt: str,
    horizontal: bool = False,
) -> str:
    """One series of bars, as inline SVG markup.

    Parameters
    ----------
    labels : sequence of str
        One per bar.
    values : sequence of float
        Heights [``unit``]; negative values (exports, removals) are drawn in the second colour.
    unit : str
        The value axis title.
    salt : str
        Makes the chart's element ids unique within a page (and stable).
    horizontal : bool
        Bars left to right (for long labels), largest at the top.
    """
    import matplotlib
    from matplotlib.ticker import FuncFormatter

    if horizontal:
        figure, axes = _figure(max(1.4, 0.3 * len(labels) + 0.7), salt)
    else:
        figure, axes = _figure(2.3, salt, width_in=min(_WIDTH_IN, 1.6 + 1.3 * len(labels)))
    colours = [COLOURS[0] if v >= 0 else COLOURS[1] for v in values]
    with matplotlib.rc_context(_rc(salt)):
        if horizontal:
            positions = list(range(len(labels)))[::-1]
            axes.barh(positions, list(values), color=colours, height=0.6)
            axes.set_yticks(positions, list(labels))
            axes.set_xlabel(unit)
            axes.xaxis.set_major_formatter(FuncFormatter(_grouped))
            axes.grid(axis="x")
            axes.grid(axis="y", visible=False)
        else:
            positions = list(range(len(labels)))
            axes.bar(positions, list(values), color=colours, width=0.6)
            axes.set_xticks(positions, list(labels))
            axes.set_ylabel(unit)
            axes.yaxis.set_major_formatter(FuncFormatter(_grouped))
        if horizontal:
            axes.axvline(0, color="#5b6b70", linewidth=0.6)
        else:
            axes.axhline(0, color="#5b6b70", linewidth=0.6)
    return _svg(figure, salt)


@_serialised
def monthly_chart(
    months: Sequence[str],
    co2e_t: Sequence[float],
    energy_tce: Sequence[float] | None,
    *,
    x_label: str,
    co2e_label: str,
    energy_label: str,
    salt: str,
) -> str:
    """Emissions by month (bars) with energy (line, right axis), as inline SVG markup.

    Parameters
    ----------
    months : sequence of str
        Tick labels (month numbers within a year).
    co2e_t : sequence of float
        Emissions of each month. [tCO2e]
    energy_tce : sequence of float or None
        Energy of each month [tce]; no line when None.
    x_label, co2e_label, energy_label : str
        Axis titles.
    salt : str
        Makes the chart's element ids unique within a page (and stable).
    """
    import matplotlib
    from matplotlib.ticker import FuncFormatter

    figure, axes = _figure(2.9, salt)
    with matplotlib.rc_context(_rc(salt)):
        positions = list(range(len(months)))
        axes.bar(positions, list(co2e_t), color=COLOURS[0], width=0.6, label=co2e_label)
        axes.set_xticks(positions, list(months))
        axes.set_xlabel(x_label)
        axes.set_ylabel(co2e_label)
        axes.yaxis.set_major_formatter(FuncFormatter(_grouped))
        if energy_tce is not None:
            right = axes.twinx()
            right.plot(positions, list(energy_tce), color=COLOURS[1], marker="o", markersize=3.0)
            right.set_ylabel(energy_label)
            right.set_ylim(bottom=0)
            right.grid(False)
            right.spines["right"].set_visible(True)
            right.yaxis.set_major_formatter(FuncFormatter(_grouped))
    return _svg(figure, salt)
