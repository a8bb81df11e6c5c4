"""`python -m faults`: break the system on purpose and compare with a run that was not broken.

    python -m faults                  # the full suite (about 100k events under the crashes)
    python -m faults --quick          # what CI runs: the same scenarios on a smaller year
    python -m faults --only crashes,duplicates

Starts its own broker (deploy/kafka.sh, port 29592, wiped first; the broker-restart scenario
stops and starts it), keeps every worker's log under .cache/faults/<time>/, prints a table of
faults injected, events checked and differences found, writes it to docs/fault-report.md
(--report), and exits 1 when any scenario found a difference.
"""
from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from deploy import broker
from faults import bad_input, http_abuse, report, scenarios
from faults.pipeline import SERVICES, institution_ids, simulated_year
from faults.report import Outcome

PORT = 29592
RUNS = report.REPO / ".cache" / "faults"  # one folder of worker logs per run, kept
SCENARIOS = ("crashes", "duplicates", "reordered", "late", "rebalance", "zombie", "broker",
             "cluster", "bad_input", "http_abuse")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m faults", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smaller inputs: a year at scale 0.3 (about 12k events), 2,000 "
                             "hostile messages, 10 fuzzing examples per operation")
    parser.add_argument("--scale", type=float, default=None,
                        help="the simulated year's order scale (default 3.8, about 103k events; "
                             "--quick 0.3)")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--crash", default=",".join(SERVICES),
                        help="the services whose workers `crashes` kills (default all four: "
                             "quota,supply,settlement,alerts)")
    parser.add_argument("--hostile", type=int, default=None, help="default 10,000 (--quick 2,000)")
    parser.add_argument("--examples", type=int, default=None,
                        help="schemathesis examples per operation (default 25, --quick 10)")
    parser.add_argument("--only", default=None,
                        help="comma-separated: " + ", ".join(SCENARIOS) + " (default: all)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each chosen stream scenario this many times in a row against "
                             "one reference run (e.g. --only crashes --repeat 30)")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--report", type=Path, default=report.REPORT)
    args = parser.parse_args(argv)
    args.scale = args.scale or (0.3 if args.quick else 3.8)
    args.hostile = args.hostile or (2_000 if args.quick else 10_000)
    args.examples = args.examples or (10 if args.quick else 25)
    if args.only is None:
        args.only = ",".join(SCENARIOS)
    unknown = set(args.only.split(",")) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}")
    return args


async def _guarded(name: str, run: Callable[[], Awaitable[Outcome | list[Outcome]]],
                   ) -> list[Outcome]:
    """A scenario that raises is a finding, not the end of the suite."""
    started = time.monotonic()
    print(f"-- {name} ...", flush=True)
    try:
        found = await run()
    except Exception as error:
        traceback.print_exc()
        found = Outcome(name, "did not complete", 0, 0,
                        [f"scenario failed: {type(error).__name__}: {error}"])
        found.seconds = time.monotonic() - started
    outcomes = found if isinstance(found, list) else [found]
    for outcome in outcomes:
        print(f"   {outcome.scenario}: {len(outcome.differences)} differences "
              f"({outcome.seconds:.0f} s)", flush=True)
        for difference in outcome.differences[:10]:
            print(f"     {difference}", flush=True)
    return outcomes


async def suite(args: argparse.Namespace, bootstrap: str, workdir: Path) -> list[Outcome]:
    chosen = args.only.split(",")
    outcomes: list[Outcome] = []
    stream = set(SCENARIOS[:8]) & set(chosen)
    if stream:
        events = simulated_year(args.scale)
        institutions = institution_ids(events)
        print(f"-- reference: {len(events):,} events of a simulated year ...", flush=True)
        snapshot, seconds = await scenarios.reference(bootstrap, workdir, events, institutions)
        print(f"   {snapshot.decisions:,} decisions, {len(snapshot.notified):,} of them notified, "
              f"in {seconds:.0f} s", flush=True)
        outcomes.append(Outcome("reference", "none", 0, len(events), [], seconds))
        given = scenarios.Input(events, institutions, snapshot)
        # `n`: the repetition (--repeat), which gets a folder of logs and a random seed of its
        # own; the first is the suite's usual run
        runs: dict[str, Callable[[Path, int], Awaitable[Outcome]]] = {
            "crashes": lambda wd, n: scenarios.crashes(bootstrap, wd, given, args.kills,
                                                       tuple(args.crash.split(",")), seed=7 + n),
            "duplicates": lambda wd, n: scenarios.duplicates(bootstrap, wd, given),
            "reordered": lambda wd, n: scenarios.reordered(bootstrap, wd, given),
            "late": lambda wd, n: scenarios.late(bootstrap, wd, given),
            "rebalance": lambda wd, n: scenarios.rebalance(bootstrap, wd, given, seed=17 + n),
            "zombie": lambda wd, n: scenarios.zombie(bootstrap, wd, given, seed=29 + n),
            "broker": lambda wd, n: scenarios.broker_restart(bootstrap, args.port, wd, given,
                                                             seed=13 + n),
            "cluster": lambda wd, n: scenarios.cluster(wd, given, seed=19 + n),
        }
        for name in chosen:
            for n in range(args.repeat if name in runs else 0):
                wd = workdir if args.repeat == 1 else workdir / f"{name}-{n + 1:02d}"
                found = await _guarded(name, lambda run=runs[name], wd=wd, n=n: run(wd, n))
                for outcome in found if args.repeat > 1 else ():
                    outcome.scenario += f" #{n + 1}"
                outcomes += found
    if "bad_input" in chosen:
        outcomes += await _guarded("bad_input", lambda: bad_input.scenario(
            bootstrap, workdir / "bad_input", args.hostile))
    if "http_abuse" in chosen:
        outcomes += await _guarded("http_abuse", lambda: http_abuse.scenario(
            bootstrap, workdir / "http_abuse", args.examples))
    return outcomes


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    broker.single("stop", args.port)
    broker.single("wipe", args.port)
    broker.single("start", args.port)
    workdir = RUNS / time.strftime("%Y%m%dT%H%M%S")
    print(f"-- logs of every worker under {workdir}", flush=True)
    try:
        outcomes = asyncio.run(suite(args, f"127.0.0.1:{args.port}", workdir))
    finally:
        broker.single("stop", args.port)
    command = "python -m faults " + shlex.join(argv if argv is not None else sys.argv[1:])
    print()
    print(report.table(outcomes))
    print(f"\nwritten to {report.write(outcomes, command.strip(), args.report)}")
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
