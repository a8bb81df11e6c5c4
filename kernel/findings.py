"""What every service's rules share: policy parameters as the rules see them, the clause ref of
a bureau setting, and the ids of warnings and decisions."""

from __future__ import annotations

from typing import Protocol, TypeVar

__all__ = ["BUREAU_REF", "Param", "output_id"]

T_co = TypeVar("T_co", covariant=True)


class Param(Protocol[T_co]):
    """A policy-profile parameter (``schemas.policy.Clause``): its value, None when the document
    is silent, and its clause ref, None only for a bureau setting where the documents are silent.
    """

    @property
    def value(self) -> T_co | None: ...

    @property
    def ref(self) -> str | None: ...


BUREAU_REF = "bureau setting"
"""``policy_ref`` of a finding whose parameter the bureau set where the documents are silent."""


def output_id(rule: str, subject_id: str, period: str | None, kind: str) -> str:
    """A deterministic, readable id for a warning or decision, stable across replays:
    ``quota.quarterly_completion:AG-1:2020-Q1:warning``. ``%`` and ``:`` inside a part are
    percent-encoded, so a colon in an id cannot make two outputs collide; no period reads ``-``."""

    def part(s: str) -> str:
        return s.replace("%", "%25").replace(":", "%3A")

    return ":".join(part(p) for p in (rule, subject_id, "-" if period is None else period, kind))
