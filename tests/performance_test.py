"""Seed entry point: the benchmarks (= `make bench`); `--size small` is the smoke run on generated data.

python tests/performance_test.py --size small|large
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import run_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("small", "large"), default="small")
    args = parser.parse_args(argv)
    return run_all.main(["--smoke"] if args.size == "small" else [])


if __name__ == "__main__":
    sys.exit(main())
