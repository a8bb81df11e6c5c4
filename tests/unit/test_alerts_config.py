"""The routing file: what is accepted, what is refused and why, and reloading it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.alerts.config import ConfigError, Matchers, RoutesFile, parse, parse_duration

EXAMPLE = Path(__file__).resolve().parents[2] / "services" / "alerts" / "routes.example.toml"

MINIMAL = """
[[receivers]]
name = "bureau"
kind = "webhook"
url = "http://127.0.0.1:9/hook"
secret = "s"

[route]
receivers = ["bureau"]
"""


@pytest.fixture
def example_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GZ_YBJ", "GZ_WJW", "GZ_YJJ", "ZY_YBJ"):
        monkeypatch.setenv(f"VBP_ALERTS_SECRET_{name}", f"secret-{name}")


def test_the_example_routing_file_is_valid(example_secrets: None) -> None:
    config = parse(EXAMPLE.read_text("utf-8"), str(EXAMPLE))
    names = {r.name for r in config.receivers}
    assert names >= {"gz-ybj", "gz-wjw", "gz-yjj", "gz-gxt", "gy-ybj", "zy-ybj"}
    assert config.receiver("gz-yjj").secret == "secret-GZ_YJJ"  # type: ignore[union-attr]
    assert config.delivery.backoff_max == 300.0


def test_the_example_needs_its_secrets_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GZ_YBJ", "GZ_WJW", "GZ_YJJ", "ZY_YBJ"):
        monkeypatch.delenv(f"VBP_ALERTS_SECRET_{name}", raising=False)
    with pytest.raises(ConfigError, match="VBP_ALERTS_SECRET_GZ_YBJ is not set"):
        parse(EXAMPLE.read_text("utf-8"))


@pytest.mark.parametrize(("text", "value"), [
    ("500ms", 0.5), ("30s", 30.0), ("5m", 300.0), ("4h", 14400.0), ("1d", 86400.0), (2, 2.0),
    ("1.5s", 1.5)])
def test_durations(text: object, value: float) -> None:
    assert parse_duration(text) == value


@pytest.mark.parametrize("text", ["5", "5 minutes", "-1s", "", True, None])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(("change", "reason"), [
    ('[route]\nreceivers = ["bureau", "city"]', "routes.toml: route: unknown receiver 'city'"),
    ('[route]\nreceivers = []', "the root route needs receivers"),
    ('[route]\nreceivers = ["bureau"]\n[[route.routes]]\nmatch = { colour = "red" }',
     "unknown label 'colour'"),
    ('[route]\nreceivers = ["bureau"]\n[[route.routes]]\nmatch = { region = "52a1" }',
     "region '52a1' is not 2-6 digits"),
    ('[route]\nreceivers = ["bureau"]\ngroup_by = ["city", "mood"]',
     "route.group_by: unknown label 'mood' in group_by"),
    ('[route]\nreceivers = ["bureau"]\ngroup_wait = "soon"', "route.group_wait"),
    ('[route]\nreceivers = ["bureau"]\n[route.escalation]\nack_within = "1h"\n'
     'chain = ["nobody"]', "unknown receiver 'nobody'"),
    ('[route]\nreceivers = ["bureau"]\n[delivery]\nmax_attempts = 0', "delivery.max_attempts"),
    ('[route]\nreceivers = ["bureau"]\nsurprise = 1',
     "route.surprise: Extra inputs are not permitted"),
    ('[route]\nreceivers = ["bureau"', "not valid TOML"),
])
def test_refused_with_the_reason(change: str, reason: str) -> None:
    text = MINIMAL.split("[route]")[0] + change
    with pytest.raises(ConfigError) as refused:
        parse(text, "routes.toml")
    assert reason in str(refused.value) and str(refused.value).startswith("routes.toml: ")


def test_receivers_are_checked() -> None:
    unsigned = MINIMAL.replace('secret = "s"\n', "")
    with pytest.raises(ConfigError, match="give it a secret"):
        parse(unsigned)
    with pytest.raises(ConfigError, match="receivers.0.url"):
        parse(MINIMAL.replace("http://127.0.0.1:9/hook", "ftp://x"))
    twice = MINIMAL.replace("[route]", MINIMAL.split("[route]")[0] + "[route]")
    with pytest.raises(ConfigError, match="receiver names must be unique: bureau"):
        parse(twice)


def test_matchers_any_of_wildcards_and_region_prefixes() -> None:
    matchers = Matchers.model_validate({"rule": ["quota.*", "settlement.payment_overdue"],
                                        "region": "520100"})
    assert matchers.values["region"] == ("5201",)
    assert matchers.matches({"rule": "quota.year_end", "region": "520102"})
    assert matchers.matches({"rule": "settlement.payment_overdue", "region": "520123"})
    assert not matchers.matches({"rule": "quota.year_end", "region": "520302"})  # Zunyi
    assert not matchers.matches({"rule": "supply.low_inventory", "region": "520102"})
    assert not matchers.matches({"rule": "quota.year_end", "region": None})
    assert Matchers.model_validate({}).matches({"rule": "anything"})


def test_a_changed_file_is_reloaded_and_a_bad_one_refused_keeping_the_old(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(MINIMAL, "utf-8")
    routes = RoutesFile(path)
    first = routes.digest
    assert routes.config is not None and routes.error is None
    assert routes.refresh() is False  # unchanged

    path.write_text(MINIMAL.replace('receivers = ["bureau"]', 'receivers = ["nobody"]'), "utf-8")
    os.utime(path, ns=(1, 10**18))
    assert routes.refresh() is False
    assert routes.digest == first and "unknown receiver 'nobody'" in (routes.error or "")

    path.write_text(MINIMAL.replace("127.0.0.1:9", "127.0.0.1:10"), "utf-8")
    os.utime(path, ns=(1, 2 * 10**18))
    assert routes.refresh() is True
    assert routes.digest != first and routes.error is None
    assert routes.config.receivers[0].url == "http://127.0.0.1:10/hook"  # type: ignore[union-attr]

    path.unlink()
    assert routes.refresh() is False and "No such file" in (routes.error or "")
    assert routes.config.receivers[0].url == "http://127.0.0.1:10/hook"  # type: ignore[union-attr]


def test_no_routing_file_means_no_config() -> None:
    routes = RoutesFile(None)
    assert routes.config is None and routes.refresh() is False
    assert routes.status()["receivers"] == []
