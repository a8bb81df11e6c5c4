"""`python -m sim`: play a jurisdiction's agreement year onto the input topics.

    python -m sim --seed 1 --policy guizhou --year 2020 --days-per-second 5
    python -m sim --institutions 300 --scale 2 --without late_payment,production_stop
    python -m sim --no-faults --until 2020-04-10
    python -m sim --dry-run            # count what would be sent, send nothing

Reads VBP_KAFKA_BOOTSTRAP and VBP_TOPIC_PREFIX like the services. Deterministic: the same
arguments send the same events with the same ids.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from datetime import date

from sim.config import FAULTS, SimConfig
from sim.player import Progress, play
from sim.scenario import Scenario


def parse_config(argv: list[str] | None = None) -> tuple[SimConfig, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--dry-run", action="store_true", help="count the events, send nothing")
    args = parser.parse_args(argv)
    return config_from(args), args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulation's options (shared with `python -m deploy.run`)."""
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--policy", default=os.environ.get("VBP_POLICY", "guizhou"))
    parser.add_argument("--year", type=int, default=2020)
    parser.add_argument("--days-per-second", type=float, default=5.0,
                        help="simulated days per second of wall time (0: as fast as possible)")
    parser.add_argument("--institutions", type=int, default=150)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="order frequency multiplier (2: about twice the events)")
    parser.add_argument("--until", type=date.fromisoformat, default=None,
                        help="last simulated day (default: the whole year)")
    parser.add_argument("--no-faults", action="store_true", help="switch every fault off")
    parser.add_argument("--without", default="",
                        help="comma-separated faults to switch off: " + ", ".join(FAULTS))


def config_from(args: argparse.Namespace) -> SimConfig:
    faults = set() if args.no_faults else set(FAULTS)
    for name in filter(None, (n.strip() for n in args.without.split(","))):
        if name not in FAULTS:
            raise SystemExit(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        faults.discard(name)
    return SimConfig(seed=args.seed, policy=args.policy, year=args.year,
                     institutions=args.institutions, scale=args.scale,
                     faults=frozenset(faults), until=args.until)


def progress_line(progress: Progress) -> str:
    return (f"sim: day {progress.day} | {progress.sent:,} events sent | "
            f"{progress.elapsed:5.1f} s")


def main(argv: list[str] | None = None) -> int:
    config, args = parse_config(argv)
    events = Scenario(config).events()
    if args.dry_run:
        counts = Counter(e.event.type for e in events)
        for type_, n in sorted(counts.items()):
            print(f"{n:8,}  {type_}")
        print(f"{sum(counts.values()):8,}  total")
        return 0
    bootstrap = os.environ.get("VBP_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    prefix = os.environ.get("VBP_TOPIC_PREFIX", "")

    def show(progress: Progress) -> None:
        print("\r" + progress_line(progress), end="", flush=True)

    progress = asyncio.run(play(events, bootstrap, prefix,
                                days_per_second=args.days_per_second, on_day=show))
    print()
    for type_, n in sorted(progress.by_type.items()):
        print(f"{n:8,}  {type_}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
