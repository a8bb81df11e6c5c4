"""One row per scenario of the fault suite, and the report they make (docs/fault-report.md)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.run import machine

REPO = Path(__file__).resolve().parent.parent
REPORT = REPO / "docs" / "fault-report.md"


@dataclass
class Outcome:
    """What one scenario did and found. `differences` lists each mismatch in words; it must be
    empty for the scenario to pass."""

    scenario: str
    faults: str  # what was injected, e.g. "SIGKILL x20 (3 during recovery)"
    injected: int  # how many faults
    events_checked: int  # input events (or requests) whose effect was compared
    differences: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.differences


def table(outcomes: list[Outcome]) -> str:
    lines = [
        "| scenario | faults injected | count | events checked | differences | seconds |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        lines.append(f"| {o.scenario} | {o.faults} | {o.injected} | {o.events_checked:,} "
                     f"| {len(o.differences)} | {o.seconds:.0f} |")
    return "\n".join(lines)


def write(outcomes: list[Outcome], command: str, path: Path = REPORT) -> Path:
    """The Markdown report: date, machine, the table, and every difference found."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    about = machine()
    lines = [
        "# Fault and abuse report",
        "",
        f"Run {now} with `{command}`.",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in about.items()),
        "",
        table(outcomes),
        "",
    ]
    failed = [o for o in outcomes if not o.passed]
    if failed:
        lines += ["## Differences", ""]
        for o in failed:
            lines += [f"### {o.scenario}", ""] + [f"- {d}" for d in o.differences[:50]] + [""]
    else:
        lines += ["No differences: every faulted run matched its reference.", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
