"""deploy/kafka.sh without a broker: syntax, argument handling, safety of `wipe`."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "kafka.sh"


def run(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "VBP_CACHE_DIR": str(tmp_path / "cache"), **env}
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=30,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bash_syntax() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_shellcheck_clean() -> None:
    result = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_pinned_version_matches_pom() -> None:
    script_version = re.search(r'PINNED_KAFKA_VERSION="([^"]+)"', SCRIPT.read_text()).group(1)
    pom = (REPO / "deploy" / "kafka" / "pom.xml").read_text()
    assert f"<kafka.version>{script_version}</kafka.version>" in pom


def test_unknown_command_is_usage_error(tmp_path: Path) -> None:
    result = run("no-such-command", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "deploy/kafka.sh start" in result.stderr


def test_status_of_a_stopped_broker(tmp_path: Path) -> None:
    port = free_port()
    result = run("status", "--port", str(port), tmp_path=tmp_path)
    assert result.returncode == 3
    assert result.stdout.startswith(f"stopped (port {port}")
    # the env var and the default data dir under the cache
    result = run("status", tmp_path=tmp_path, VBP_KAFKA_PORT=str(port))
    assert str(tmp_path / "cache" / f"kafka-data-{port}") in result.stdout


def test_stop_when_not_running_is_ok(tmp_path: Path) -> None:
    result = run("stop", "--port", str(free_port()), tmp_path=tmp_path)
    assert result.returncode == 0


def test_bad_port_rejected(tmp_path: Path) -> None:
    result = run("status", "--port", "abc", tmp_path=tmp_path)
    assert result.returncode == 1
    assert "bad port" in result.stderr


def test_wipe_refuses_a_foreign_directory(tmp_path: Path) -> None:
    foreign = tmp_path / "precious"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    result = run("wipe", "--port", str(free_port()), tmp_path=tmp_path, VBP_KAFKA_DATA=str(foreign))
    assert result.returncode == 1
    assert "refusing" in result.stderr
    assert (foreign / "keep.txt").exists()


def test_wipe_removes_own_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / ".vbp-kafka-data").touch()
    result = run("wipe", "--port", str(free_port()), tmp_path=tmp_path, VBP_KAFKA_DATA=str(data))
    assert result.returncode == 0, result.stderr
    assert not data.exists()


def test_cluster_bootstrap_ports(tmp_path: Path) -> None:
    result = run("cluster", "bootstrap", "--base-port", "20000", tmp_path=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == "127.0.0.1:20000,127.0.0.1:20001,127.0.0.1:20002"


def test_cluster_rejects_bad_node(tmp_path: Path) -> None:
    result = run("cluster", "stop-node", "4", tmp_path=tmp_path)
    assert result.returncode == 1
    assert "node must be 1..3" in result.stderr


def sourced(script: str) -> subprocess.CompletedProcess[str]:
    """Runs `script` in bash after sourcing deploy/kafka.sh (which then only defines functions)."""
    return subprocess.run(["bash", "-c", f'source "{SCRIPT}"\n{script}'], capture_output=True,
                          text=True, timeout=60, check=False)


def test_cluster_ids_never_start_with_a_dash() -> None:
    # Kafka's tools read an id starting with '-' as an option; 1 random id in 64 did that, and the
    # broker's storage could not be formatted.
    result = sourced("for _ in $(seq 2000); do new_cluster_id; done")
    assert result.returncode == 0, result.stderr
    ids = result.stdout.split()
    assert len(ids) == 2000 and len(set(ids)) == 2000
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", i) for i in ids), ids[:5]


def test_storage_formats_with_any_cluster_id(tmp_path: Path) -> None:
    # An id starting with '-' (written by an older kafka.sh) still formats.
    data = tmp_path / "data"
    result = sourced(f'cmd_fetch && write_node_config "{data}" 1 {free_port()} {free_port()} '
                     f'1@127.0.0.1:1 1 1 && format_node "{data}" -QHVWUO3SbCUgFIN-2yvcA')
    assert result.returncode == 0, result.stderr
    meta = (data / "kraft-combined-logs" / "meta.properties").read_text()
    assert "cluster.id=-QHVWUO3SbCUgFIN-2yvcA" in meta
