"""The deployment's alliance configuration and the key CLI."""
from __future__ import annotations

from pathlib import Path

import pytest

from services.alliance import config, keys


@pytest.fixture
def keydir(tmp_path: Path) -> Path:
    for province in ("520000", "530000"):
        keys.new_pair(province, tmp_path / "keys")
    return tmp_path / "keys"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alliance.toml"
    path.write_text(text, encoding="utf-8")
    return path


PARTNER = """
[[partners]]
province = "530000"
inbound_url = "http://127.0.0.1:8205/v1/alliance/inbound"
public_key_files = ["keys/530000.pub"]
share = ["availability", "escalations"]
"""


def test_a_deployment_reads_its_key_and_its_partners(tmp_path: Path, keydir: Path) -> None:
    path = write(tmp_path, 'province = "520000"\nprivate_key = "keys/520000.key"\n' + PARTNER)
    loaded = config.load(path, "520000")
    own = keys.load_private(keydir / "520000.key")
    assert loaded.key_id == keys.key_id("520000", own.public_key())
    (partner,) = loaded.partners.values()
    assert partner.province == "530000"
    assert set(partner.public_keys) == {
        keys.key_id("530000", keys.decode_public((keydir / "530000.pub").read_text()))}
    assert partner.share == {"availability", "escalations"}
    assert partner.accept == set(config.CATEGORIES)  # default: every category
    assert loaded.shares("availability") and not loaded.shares("progress")
    assert (loaded.timestamp_window_seconds, loaded.push.max_events) == (300, 100)


def test_inline_public_keys_are_accepted(tmp_path: Path, keydir: Path) -> None:
    public = (keydir / "530000.pub").read_text().strip()
    text = PARTNER.replace('public_key_files = ["keys/530000.pub"]', f'public_keys = ["{public}"]')
    loaded = config.load(write(tmp_path, 'private_key = "keys/520000.key"\n' + text), "520000")
    assert len(loaded.partners["530000"].public_keys) == 1


@pytest.mark.parametrize(("text", "message"), [
    ('province = "520000"\nprivate_key = "keys/520000.key"\ncolour = 1\n', "colour"),
    ('province = "530000"\nprivate_key = "keys/520000.key"\n', "region code 520000"),
    ('private_key = "keys/missing.key"\n', "not found"),
    ('private_key = "keys/520000.pub"\n', "not a PEM private key"),
    ('private_key = "keys/520000.key"\n' + PARTNER + PARTNER, "listed twice"),
    ('private_key = "keys/520000.key"\n' + PARTNER.replace('"530000"', '"520000"'),
     "not a partner"),
    ('private_key = "keys/520000.key"\n' + PARTNER.replace("availability", "prices"), "share"),
    ('private_key = "keys/520000.key"\n'
     + PARTNER.replace('public_key_files = ["keys/530000.pub"]', ""), "public_keys"),
    ('private_key = "keys/520000.key"\n' + PARTNER.replace('"keys/530000.pub"', '"keys/x.pub"'),
     "x.pub"),
    ('private_key = "keys/520000.key"\n' + PARTNER.replace("keys/530000.pub", "keys/520000.key"),
     "base64"),
])
def test_a_bad_configuration_names_the_problem(tmp_path: Path, keydir: Path, text: str,
                                               message: str) -> None:
    with pytest.raises(config.ConfigError) as caught:
        config.load(write(tmp_path, text), "520000")
    assert message in str(caught.value) and "alliance.toml" in str(caught.value)


def test_the_example_configurations_parse(tmp_path: Path) -> None:
    examples = Path(__file__).resolve().parents[2] / "deploy" / "alliance"
    for name in ("guizhou.toml", "yunnan.toml"):
        import tomllib

        config.FileConfig.model_validate(tomllib.loads((examples / name).read_text("utf-8")))


def test_the_key_cli_makes_a_pair_and_refuses_to_overwrite(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert keys.main(["new", "--province", "520000", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    private = tmp_path / "520000.key"
    assert private.stat().st_mode & 0o777 == 0o600
    kid = keys.key_id("520000", keys.load_private(private).public_key())
    assert kid in printed and (tmp_path / "520000.pub").read_text().strip() in printed
    assert keys.main(["new", "--province", "520000", "--out", str(tmp_path)]) == 1
    assert "exists" in capsys.readouterr().err
    assert keys.main(["show", "--province", "520000", "--key", str(private)]) == 0
    assert kid in capsys.readouterr().out
