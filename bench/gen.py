"""Write the deterministic JSON Lines input of the ``shuangtan calc`` benchmark.

The file is a seeded, realistic mix of the batch contract's common records (grid electricity,
fuel combustion, purchased heat, gas releases, energy to tce, carbonates, market-based
electricity) with about 2 % deliberately bad lines (negative amount, unknown fuel, unknown unit,
missing unit, malformed JSON, empty line). Lines are streamed to disk in blocks, so a file of
any size is written in constant memory. The same seed gives the same lines, and a shorter file is
a prefix of a longer one.

Every combination in the mix has a factor in the packaged library (checked by running generated
lines through ``shuangtan calc --engine record``): the only failing lines are the deliberate ones.

Usage::

    .venv/bin/python bench/gen.py --records 1000000 --out bench/out/input.jsonl
"""

from __future__ import annotations

import argparse
import bisect
import random
import sys
import time
from collections.abc import Callable
from itertools import accumulate
from pathlib import Path
from typing import Any

import orjson

DEFAULT_SEED = 20_260_401
BLOCK_LINES = 10_000

ELECTRICITY_REGIONS = (
    "河北", "江苏", "广东", "华东", "CN", "上海", "山东", "四川", "East", "North", "浙江",
    "北京", "天津", "湖北", "湖南", "CN-HE", "安徽", "福建", "重庆", "陕西",
)  # fmt: skip
ELECTRICITY_YEARS = (2021, 2022)  # every region above has grid factors for both
FUELS = (
    "diesel", "柴油", "natural_gas", "天然气", "bituminous", "烟煤", "anthracite", "gasoline",
    "coke", "lpg", "fuel_oil", "crude_oil",
)  # fmt: skip
GAS_FUELS = frozenset({"natural_gas", "天然气"})
FUEL_YEARS = (2022, 2023)
GASES = ("CH4", "N2O", "SF6", "HFC-134a", "HFC-32")
GWP_SETS = ("AR6", "AR5", "SAR")
TCE_CARRIERS = (
    ("electricity", "kWh"),
    ("diesel", "t"),
    ("raw_coal", "t"),
    ("natural_gas", "m3"),
    ("heat", "GJ"),
)
CARBONATES = ("CaCO3", "MgCO3", "CaMg(CO3)2")

Record = bytes


def _amount(rng: random.Random, high: int) -> float | int:
    """A JSON number in [0, high] with up to 3 decimals; one in ten is a whole number."""
    if rng.random() < 0.1:
        return rng.randint(0, high)
    return rng.randint(0, high * 1000) / 1000


def _dump(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj)


def _electricity(rng: random.Random, n: int) -> Record:
    return _dump(
        {
            "id": f"e{n}",
            "method": "electricity",
            "amount": _amount(rng, 5000),
            "unit": rng.choice(("MWh", "kWh")),
            "region": rng.choice(ELECTRICITY_REGIONS),
            "year": rng.choice(ELECTRICITY_YEARS),
        }
    )


def _fuel(rng: random.Random, n: int) -> Record:
    fuel = rng.choice(FUELS)
    unit = rng.choice(("1e4Nm3", "Nm3")) if fuel in GAS_FUELS else "t"
    return _dump(
        {
            "id": f"f{n}",
            "method": "fuel_combustion",
            "fuel": fuel,
            "amount": _amount(rng, 2000),
            "unit": unit,
            "year": rng.choice(FUEL_YEARS),
        }
    )


def _heat(rng: random.Random, n: int) -> Record:
    return _dump(
        {"id": f"h{n}", "method": "heat", "amount": _amount(rng, 5000), "unit": "GJ", "year": 2022}
    )


def _gas_release(rng: random.Random, n: int) -> Record:
    return _dump(
        {
            "id": f"g{n}",
            "method": "gas_release",
            "gas": rng.choice(GASES),
            "amount": _amount(rng, 500),
            "unit": rng.choice(("kg", "t")),
            "gwp": rng.choice(GWP_SETS),
        }
    )


def _energy_tce(rng: random.Random, n: int) -> Record:
    carrier, unit = rng.choice(TCE_CARRIERS)
    return _dump(
        {
            "id": f"t{n}",
            "method": "energy_tce",
            "carrier": carrier,
            "amount": _amount(rng, 5000),
            "unit": unit,
        }
    )


def _carbonate(rng: random.Random, n: int) -> Record:
    return _dump(
        {
            "id": f"c{n}",
            "method": "carbonate",
            "carbonate": rng.choice(CARBONATES),
            "amount_t": _amount(rng, 2000),
            "purity": rng.randint(80, 100) / 100,
        }
    )


def _market(rng: random.Random, n: int) -> Record:
    amount = _amount(rng, 5000)
    return _dump(
        {
            "id": f"m{n}",
            "method": "electricity",
            "basis": "market",
            "amount": amount,
            "green_amount": rng.randint(0, int(amount * 1000)) / 1000,
            "unit": rng.choice(("MWh", "kWh")),
            "region": rng.choice(ELECTRICITY_REGIONS),
            "year": rng.choice(ELECTRICITY_YEARS),
        }
    )


def _bad(rng: random.Random, n: int) -> Record:
    kind = rng.randrange(6)
    if kind == 0:  # negative amount
        return _dump(
            {"id": f"x{n}", "method": "electricity", "amount": -_amount(rng, 100) - 1,
             "unit": "kWh", "region": "CN", "year": 2022}
        )  # fmt: skip
    if kind == 1:  # unknown fuel
        return _dump(
            {"id": f"x{n}", "method": "fuel_combustion", "fuel": "unobtainium",
             "amount": _amount(rng, 100), "unit": "t", "year": 2022}
        )  # fmt: skip
    if kind == 2:  # unknown unit
        return _dump(
            {"id": f"x{n}", "method": "fuel_combustion", "fuel": "diesel",
             "amount": _amount(rng, 100), "unit": "furlong", "year": 2022}
        )  # fmt: skip
    if kind == 3:  # missing unit
        return _dump(
            {"id": f"x{n}", "method": "electricity", "amount": _amount(rng, 100),
             "region": "CN", "year": 2022}
        )  # fmt: skip
    if kind == 4:
        return b'{"id": '  # malformed JSON
    return b""  # empty line


#: (share of lines, maker); the shares add up to 100.
MIX: tuple[tuple[float, Callable[[random.Random, int], Record]], ...] = (
    (35, _electricity),
    (30, _fuel),
    (10, _heat),
    (8, _gas_release),
    (7, _energy_tce),
    (5, _carbonate),
    (3, _market),
    (2, _bad),
)
_CUMULATIVE = list(accumulate(share for share, _ in MIX))
_MAKERS = [maker for _, maker in MIX]


def generate(path: Path, records: int, seed: int = DEFAULT_SEED) -> int:
    """Write ``records`` lines to ``path``; return how many are deliberately bad."""
    rng = random.Random(seed)
    total = _CUMULATIVE[-1]
    bad = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as out:
        # A bytearray, not a list of orjson's bytes (each of those holds a 4 KiB buffer).
        block = bytearray()
        for n in range(records):
            maker = _MAKERS[bisect.bisect_right(_CUMULATIVE, rng.random() * total)]
            bad += maker is _bad
            block += maker(rng, n)
            block += b"\n"
            if (n + 1) % BLOCK_LINES == 0:
                out.write(block)
                block.clear()
        out.write(block)
    tmp.replace(path)
    return bad


def main(argv: list[str] | None = None) -> int:
    """Command line: write one input file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="lines to write")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "out" / "input.jsonl", help="file"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary line")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    bad = generate(args.out, args.records, args.seed)
    seconds = time.perf_counter() - start
    if args.json:
        summary = {"records": args.records, "seed": args.seed, "bad": bad, "seconds": seconds}
        print(orjson.dumps(summary).decode())
    else:
        print(f"wrote {args.records:,} lines ({bad:,} deliberately bad) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
