"""Stoichiometric CO2 factors of carbonates: EF = n * M(CO2) / M(carbonate)  [tCO2/t].

Builds the GLOBAL rows of ``src/shuangtan/factors/data/factors/carbonates.csv`` that no
reference file prints (status ``unconfirmed``, source ``shuangtan-carbonate-stoichiometry``)
and checks the rows whose values are printed by IPCC 2006 Vol.3 Ch.2 Table 2.1.

Usage (standard library only), from the repository root::

    python tools/factor_builders/carbonates/build_carbonates.py          # computed CSV rows
    python tools/factor_builders/carbonates/build_carbonates.py --table  # all, full precision
    python tools/factor_builders/carbonates/build_carbonates.py --check  # compare with the CSV

Atomic weights: the IUPAC standard atomic weights of the 2005/2009 tables, the set that gives
M(CO2) = 44.0095 g/mol as printed by IPCC 2006 and reproduces its CaCO3, MgCO3, CaMg(CO3)2 and
FeCO3 factors to 5 decimals. Arithmetic is exact (Decimal), rounded half-even to 5 decimals.
"""

from __future__ import annotations

import argparse
import csv
import sys
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

ATOMIC_WEIGHT: dict[str, Decimal] = {
    "H": Decimal("1.00794"),
    "Li": Decimal("6.941"),
    "C": Decimal("12.0107"),
    "O": Decimal("15.9994"),
    "Na": Decimal("22.98977"),
    "Mg": Decimal("24.305"),
    "K": Decimal("39.0983"),
    "Ca": Decimal("40.078"),
    "Mn": Decimal("54.938045"),
    "Fe": Decimal("55.845"),
    "Sr": Decimal("87.62"),
    "Ba": Decimal("137.327"),
}

M_CO2 = ATOMIC_WEIGHT["C"] + 2 * ATOMIC_WEIGHT["O"]  # 44.0095

# key -> (formula, composition, moles of CO2 released per mole of carbonate)
CARBONATES: dict[str, tuple[str, dict[str, int], int]] = {
    "caco3": ("CaCO3", {"Ca": 1, "C": 1, "O": 3}, 1),
    "mgco3": ("MgCO3", {"Mg": 1, "C": 1, "O": 3}, 1),
    "camg_co3_2": ("CaMg(CO3)2", {"Ca": 1, "Mg": 1, "C": 2, "O": 6}, 2),
    "feco3": ("FeCO3", {"Fe": 1, "C": 1, "O": 3}, 1),
    "na2co3": ("Na2CO3", {"Na": 2, "C": 1, "O": 3}, 1),
    "nahco3": ("NaHCO3", {"Na": 1, "H": 1, "C": 1, "O": 3}, 1),
    "mnco3": ("MnCO3", {"Mn": 1, "C": 1, "O": 3}, 1),
    "baco3": ("BaCO3", {"Ba": 1, "C": 1, "O": 3}, 1),
    "li2co3": ("Li2CO3", {"Li": 2, "C": 1, "O": 3}, 1),
    "k2co3": ("K2CO3", {"K": 2, "C": 1, "O": 3}, 1),
    "srco3": ("SrCO3", {"Sr": 1, "C": 1, "O": 3}, 1),
}

# Values printed by IPCC 2006 Vol.3 Ch.2 Table 2.1 as transcribed in the reference note
# (standards.md §1.2). These rows are shipped as printed, not computed.
IPCC_PRINTED: dict[str, str] = {
    "caco3": "0.43971",
    "mgco3": "0.52197",
    "camg_co3_2": "0.47732",
    "feco3": "0.37987",
    "na2co3": "0.41492",
}

# The computed rows shipped in carbonates.csv (no printed value in the reference files).
COMPUTED_KEYS = ["nahco3", "mnco3", "baco3", "li2co3", "k2co3", "srco3"]

Q5 = Decimal("0.00001")
CSV_PATH = Path(__file__).resolve().parents[3] / "src/shuangtan/factors/data/factors/carbonates.csv"


def molar_mass(composition: dict[str, int]) -> Decimal:
    return sum((ATOMIC_WEIGHT[el] * n for el, n in composition.items()), Decimal(0))


def factor(key: str) -> Decimal:
    """Exact n*M(CO2)/M(carbonate)."""
    _, composition, n = CARBONATES[key]
    return n * M_CO2 / molar_mass(composition)


def rounded(key: str) -> str:
    return str(factor(key).quantize(Q5, rounding=ROUND_HALF_EVEN))


def csv_row(key: str) -> list[str]:
    formula, composition, n = CARBONATES[key]
    note = (
        f"computed 44.0095·n/M: n = {n}, M({formula}) = {molar_mass(composition)} g/mol "
        "(IUPAC standard atomic weights); not printed in the reference files; "
        "built by tools/factor_builders/carbonates/build_carbonates.py"
    )
    return [
        f"carbonate.{key}",
        "CO2",
        "GLOBAL",
        rounded(key),
        "tCO2/t",
        "2006-01-01",
        "",
        "shuangtan-carbonate-stoichiometry",
        "build_carbonates.py (44.0095·n/M)",
        "unconfirmed",
        note,
    ]


def check(path: Path) -> int:
    errors = 0
    with path.open(encoding="utf-8", newline="") as fh:
        rows = {(r["key"], r["region"]): r for r in csv.DictReader(fh)}
    for key in COMPUTED_KEYS:
        row = rows.get((f"carbonate.{key}", "GLOBAL"))
        if row is None or row["value"] != rounded(key):
            print(f"MISMATCH carbonate.{key}: csv={row and row['value']} computed={rounded(key)}")
            errors += 1
    for key, printed in IPCC_PRINTED.items():
        row = rows.get((f"carbonate.{key}", "GLOBAL"))
        if row is None or row["value"] != printed:
            print(f"MISMATCH carbonate.{key}: csv={row and row['value']} IPCC-printed={printed}")
            errors += 1
        if rounded(key) != printed:
            print(f"NOTE carbonate.{key}: IPCC-printed {printed} != computed {rounded(key)}")
    print("ok" if errors == 0 else f"{errors} mismatch(es)")
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", action="store_true", help="print all carbonates")
    parser.add_argument("--check", action="store_true", help="compare with carbonates.csv")
    args = parser.parse_args(argv)
    if args.check:
        return check(CSV_PATH)
    if args.table:
        print(f"M(CO2) = {M_CO2}")
        for key, (formula, composition, n) in CARBONATES.items():
            printed = IPCC_PRINTED.get(key, "")
            print(
                f"{formula:12s} M={molar_mass(composition)!s:12s} n={n} EF={factor(key):.10f} "
                f"round5={rounded(key)} ipcc_printed={printed}"
            )
        return 0
    writer = csv.writer(sys.stdout, lineterminator="\n")
    for key in COMPUTED_KEYS:
        writer.writerow(csv_row(key))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
