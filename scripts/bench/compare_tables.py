#!/usr/bin/env python3
"""compare_tables.py: how far apart two runs' tables are, column by column.

    python3 scripts/bench/compare_tables.py RUN_A RUN_B [FILE ...]

For each FILE (default: infoplane.csv and infoplane_mean.csv) present in both run directories,
checks that the header and the row count agree, then prints, per (estimator, column), the
largest absolute difference of the values (identical cells are skipped; a non-numeric
difference counts as infinite). Used to show that a faster estimator gives the same figures as
the one it replaced (e.g. the KDE columns of `scripts/saxe_reproduction.sh` before and after).
Exits 1 if a header or row count differs.
"""
import csv
import sys
from pathlib import Path


def worst_differences(a_path: Path, b_path: Path) -> dict:
    a = list(csv.reader(a_path.open()))
    b = list(csv.reader(b_path.open()))
    if a[0] != b[0] or len(a) != len(b):
        print(f"{a_path} and {b_path}: headers or row counts differ", file=sys.stderr)
        sys.exit(1)
    header = a[0]
    est = header.index("estimator") if "estimator" in header else None
    worst: dict = {}
    for ra, rb in zip(a[1:], b[1:]):
        for name, x, y in zip(header, ra, rb):
            if x == y:
                continue
            try:
                diff = abs(float(x) - float(y))
            except ValueError:
                diff = float("inf")
            key = (ra[est] if est is not None else "", name)
            worst[key] = max(worst.get(key, 0.0), diff)
    return worst


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    run_a, run_b = Path(sys.argv[1]), Path(sys.argv[2])
    files = sys.argv[3:] or ["infoplane.csv", "infoplane_mean.csv"]
    for name in files:
        a_path, b_path = run_a / name, run_b / name
        if not (a_path.exists() and b_path.exists()):
            continue
        worst = worst_differences(a_path, b_path)
        rows = sum(1 for _ in a_path.open()) - 1
        if not worst:
            print(f"{name}: {rows} rows, identical")
            continue
        print(f"{name}: {rows} rows, largest |a - b| per (estimator, column):")
        for (estimator, column), diff in sorted(worst.items()):
            print(f"  {estimator or '-'} {column}: {diff:.3g}")


if __name__ == "__main__":
    main()
