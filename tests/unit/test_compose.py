"""docker-compose.yml against the code, so it cannot rot: no Docker needed.

Every runnable package under services/ has a container; the `topics` job creates exactly the
topics of schemas.topics.TOPICS with their partitions and compaction; every service gets the
contract's settings; the Kafka image is the version deploy/kafka.sh pins; published web ports are
runtime.settings.DEFAULT_WEB_PORTS.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.settings import DEFAULT_WEB_PORTS, Settings
from schemas.topics import TOPICS

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
KAFKA_SCRIPT = REPO / "deploy" / "kafka.sh"

BOOTSTRAP = "kafka:9092"  # the broker's name and port inside the compose network
CONTRACT_ENV = ("VBP_KAFKA_BOOTSTRAP", "VBP_POLICY", "VBP_TOPIC_PREFIX")
TOPICS_TOOL = "/opt/kafka/bin/kafka-topics.sh"

# Compose interpolation: $$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, $VAR
_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """What `docker compose` makes of `value` with the host environment `env`."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("name") or m.group("bare")
        op, arg = m.group("op"), m.group("arg") or ""
        present = name in env
        nonempty = bool(env.get(name))
        if op in (":-", "-"):
            return env[name] if (nonempty if op == ":-" else present) else arg
        if op in (":?", "?"):
            if not (nonempty if op == ":?" else present):
                raise AssertionError(f"${{{name}}} is required: {arg}")
            return env[name]
        if op in (":+", "+"):
            return arg if (nonempty if op == ":+" else present) else ""
        return env.get(name, "")

    return _VARIABLE.sub(substitute, value)


def load(env: dict[str, str] | None = None) -> dict[str, Any]:
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return raw if env is None else interpolate(raw, env)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """The file as written (variables not substituted)."""
    return load()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The file as compose reads it on a host that sets none of its variables."""
    return load({})


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def argv(command: Any) -> list[str]:
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def python_module(service: dict[str, Any]) -> str | None:
    """`X` when the service's command is `python -m X`."""
    args = argv(service.get("command"))
    if len(args) >= 3 and Path(args[0]).name.startswith("python") and args[1] == "-m":
        return args[2]
    return None


def app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Compose services running a module of this repository."""
    return {n: s for n, s in compose["services"].items() if python_module(s)}


def runs(compose: dict[str, Any], module: str) -> list[str]:
    return [n for n, s in compose["services"].items() if python_module(s) == module]


def runnable(module: str) -> bool:
    path = REPO / Path(*module.split("."))
    return (path / "__main__.py").is_file() or path.with_suffix(".py").is_file()


def published(service: dict[str, Any]) -> list[tuple[int, int]]:
    """(host port, container port) of each published port."""
    pairs = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            target = int(port["target"])
            pairs.append((int(port.get("published", target)), target))
            continue
        spec = str(port).split("/")[0]
        parts = spec.rsplit(":", 2)
        target = int(parts[-1])
        pairs.append((int(parts[-2]) if len(parts) >= 2 else target, target))
    return pairs


def kafka_service(compose: dict[str, Any]) -> dict[str, Any]:
    host, _ = BOOTSTRAP.split(":")
    assert host in compose["services"], f"no compose service {host!r} for {BOOTSTRAP}"
    return compose["services"][host]


def topic_commands(script: str) -> list[list[str]]:
    """argv of each line of `script` that names a `--topic`."""
    lines = script.replace("\\\n", " ").splitlines()
    return [args for line in lines if "--topic" in (args := shlex.split(line, comments=True))]


def option(args: list[str], name: str) -> list[str]:
    """The values of `name` in args (`--x v` or `--x=v`)."""
    values = []
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            values.append(args[i + 1])
        elif arg.startswith(name + "="):
            values.append(arg.split("=", 1)[1])
    return values


def topics_script(compose: dict[str, Any]) -> str:
    assert "topics" in compose["services"], "no one-shot `topics` service"
    return "\n".join(argv(compose["services"]["topics"].get("command")))


# -- services ---------------------------------------------------------------------------------

SERVICE_PACKAGES = sorted(p.parent.name for p in (REPO / "services").glob("*/__main__.py"))


def test_service_packages_found() -> None:
    assert {"quota", "supply", "settlement", "alerts"} <= set(SERVICE_PACKAGES)


@pytest.mark.parametrize("name", SERVICE_PACKAGES)
def test_every_service_package_has_a_container(compose: dict[str, Any], name: str) -> None:
    assert runs(compose, f"services.{name}") == [name], (
        f"services/{name}/__main__.py exists: docker-compose.yml needs a service `{name}` "
        f"with command python -m services.{name}"
    )


def test_no_container_runs_a_missing_module_by_default(compose: dict[str, Any]) -> None:
    """Modules still being written (dashboard, sim) may only sit behind a profile, so a plain
    `docker compose up` never starts a container that cannot run."""
    for name, service in app_services(compose).items():
        module = python_module(service)
        assert module
        if module.startswith("services."):
            assert runnable(module), f"{name}: python -m {module}, but no such package"
        elif not runnable(module):
            assert service.get("profiles"), f"{name}: {module} does not exist yet: add a profile"


@pytest.mark.parametrize("module", ["dashboard", "sim"])
def test_demo_processes_have_a_container(compose: dict[str, Any], module: str) -> None:
    assert runs(compose, module), f"no compose service runs python -m {module}"


def test_app_containers_use_the_project_image(compose: dict[str, Any]) -> None:
    for name, service in app_services(compose).items():
        build = service.get("build")
        assert isinstance(build, dict), f"{name}: no build section"
        context = REPO / build.get("context", ".")
        assert context.resolve() == REPO, name
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE, name


def test_every_container_gets_the_contract_settings(
    raw: dict[str, Any], compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in (*CONTRACT_ENV, "VBP_WEB_HOST"):
        monkeypatch.delenv(var, raising=False)
    defaults = Settings.from_env("quota")
    for name, service in app_services(compose).items():
        env, written = environment(service), environment(raw["services"][name])
        missing = [v for v in CONTRACT_ENV if v not in env]
        assert not missing, f"{name}: no {missing}"
        assert env["VBP_KAFKA_BOOTSTRAP"] == BOOTSTRAP, name
        # The host's VBP_POLICY and VBP_TOPIC_PREFIX pass through, with the code's defaults.
        for var in ("VBP_POLICY", "VBP_TOPIC_PREFIX"):
            assert "${" + var in written[var], f"{name}: {var} does not take the host's value"
        assert env["VBP_POLICY"] == defaults.policy, name
        assert env["VBP_TOPIC_PREFIX"] == defaults.topic_prefix, name
        # Reachable from other containers and through the published port.
        assert env.get("VBP_WEB_HOST") == "0.0.0.0", name


def test_host_variables_reach_the_containers() -> None:
    compose = load({"VBP_POLICY": "shanxi", "VBP_TOPIC_PREFIX": "demo-"})
    for name, service in app_services(compose).items():
        env = environment(service)
        assert (env["VBP_POLICY"], env["VBP_TOPIC_PREFIX"]) == ("shanxi", "demo-"), name
    assert all(
        option(args, "--topic")[0].startswith("demo-")
        for args in topic_commands(topics_script(compose))
    )


def test_containers_wait_for_the_broker_and_the_topics(compose: dict[str, Any]) -> None:
    for name, service in app_services(compose).items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        assert depends.get("kafka", {}).get("condition") == "service_healthy", name
        assert depends.get("topics", {}).get("condition") == (
            "service_completed_successfully"), name


@pytest.mark.parametrize("name", sorted(DEFAULT_WEB_PORTS))
def test_published_web_ports_are_the_settings_defaults(compose: dict[str, Any], name: str) -> None:
    port = DEFAULT_WEB_PORTS[name]
    containers = runs(compose, f"services.{name}")
    assert containers, f"DEFAULT_WEB_PORTS names {name}, which no compose service runs"
    for container in containers:
        service = compose["services"][container]
        env = environment(service)
        # The port the service listens on is the default unless the file overrides it.
        listens = int(env.get(f"VBP_{name.upper()}_WEB_PORT") or env.get("VBP_WEB_PORT") or port)
        assert listens == port, f"{container}: listens on {listens}, settings say {port}"
        assert (port, port) in published(service), f"{container}: publish {port}:{port}"
        health = " ".join(argv((service.get("healthcheck") or {}).get("test")))
        assert f":{port}/health" in health, f"{container}: healthcheck must probe :{port}/health"


def test_no_host_port_is_published_twice(compose: dict[str, Any]) -> None:
    host_ports = [h for s in compose["services"].values() for h, _ in published(s)]
    assert len(host_ports) == len(set(host_ports)), host_ports


# -- broker -----------------------------------------------------------------------------------

def pinned_kafka_version() -> str:
    found = re.search(r'PINNED_KAFKA_VERSION="([^"]+)"', KAFKA_SCRIPT.read_text())
    assert found, "PINNED_KAFKA_VERSION not found in deploy/kafka.sh"
    return found.group(1)


def test_kafka_image_is_the_pinned_version(compose: dict[str, Any]) -> None:
    pinned = pinned_kafka_version()
    assert kafka_service(compose)["image"] == f"apache/kafka:{pinned}"
    for name, service in compose["services"].items():
        image = str(service.get("image", ""))
        if image.startswith("apache/kafka"):
            assert image == f"apache/kafka:{pinned}", f"{name}: {image}, deploy/kafka.sh: {pinned}"


def listeners(value: str) -> dict[str, str]:
    """`NAME://host:port,...` -> {NAME: host:port}."""
    return dict(item.split("://", 1) for item in value.split(",") if item)


def test_broker_is_a_single_kraft_node_like_deploy_kafka_sh(compose: dict[str, Any]) -> None:
    kafka = kafka_service(compose)
    env = environment(kafka)
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    node_id = env["KAFKA_NODE_ID"]
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    listening = listeners(env["KAFKA_LISTENERS"])
    advertised = listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listening) <= set(protocols) and controller in listening
    assert set(advertised) <= set(listening) - {controller}
    # The containers' bootstrap is what the broker advertises on the compose network.
    assert BOOTSTRAP in advertised.values(), advertised
    voter_id, voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")
    assert voter_id == node_id
    assert voter.split(":")[1] == listening[controller].rsplit(":", 1)[1]
    # A listener for the host, published on the port it advertises.
    (host_name, host_address), = ((n, a) for n, a in advertised.items()
                                  if a != BOOTSTRAP)
    host_port = int(host_address.rsplit(":", 1)[1])
    container_port = int(listening[host_name].rsplit(":", 1)[1])
    assert (host_port, container_port) in published(kafka)
    # As deploy/kafka.sh writes server.properties.
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    for var in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR"):
        assert env[var] == "1", var
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"
    assert kafka.get("healthcheck", {}).get("test"), "the broker needs a healthcheck"


# -- topics -----------------------------------------------------------------------------------

def test_topics_job_creates_each_topic_with_the_kafka_tool(compose: dict[str, Any]) -> None:
    topics = compose["services"]["topics"]
    assert topics["image"] == kafka_service(compose)["image"]
    assert topics.get("depends_on", {}).get("kafka", {}).get("condition") == "service_healthy"
    script = topics_script(compose)
    tool_lines = [shlex.split(line) for line in script.splitlines() if TOPICS_TOOL in line]
    assert tool_lines, f"the topics job never runs {TOPICS_TOOL}"
    for args in tool_lines:
        assert "--create" in args and "--if-not-exists" in args, args
        assert option(args, "--bootstrap-server") == [BOOTSTRAP], args
        assert option(args, "--replication-factor") == ["1"], args
    # Each topic line runs the tool itself or a shell function of the script that does.
    helpers = re.findall(r"^\s*([A-Za-z_]\w*)\s*\(\)\s*\{", script, re.MULTILINE)
    assert len(helpers) <= 1 and (not helpers or len(tool_lines) == 1), helpers
    lines = topic_commands(script)
    assert lines, "the topics job creates no topic"
    for args in lines:
        assert args[0] in (TOPICS_TOOL, *helpers), f"not a topic creation: {args}"


def test_topics_job_creates_exactly_the_registry(raw: dict[str, Any],
                                                 compose: dict[str, Any]) -> None:
    created: dict[str, list[str]] = {}
    for args in topic_commands(topics_script(compose)):
        (name,) = option(args, "--topic")
        assert name not in created, f"{name} created twice"
        created[name] = args
    assert sorted(created) == sorted(TOPICS), (
        f"missing {sorted(set(TOPICS) - set(created))}, "
        f"not in schemas.topics: {sorted(set(created) - set(TOPICS))}"
    )
    for name, topic in TOPICS.items():
        args = created[name]
        assert option(args, "--partitions") == [str(topic.partitions)], name
        configs = dict(c.split("=", 1) for c in option(args, "--config"))
        if topic.compacted:
            assert configs.get("cleanup.policy") == "compact", f"{name} must be compacted"
        else:
            assert "cleanup.policy" not in configs, f"{name} must not be compacted"
    # Each name carries the deployment's prefix, as the services name them (Settings.topic).
    for args in topic_commands(topics_script(raw)):
        (name,) = option(args, "--topic")
        assert re.fullmatch(r"\$\{VBP_TOPIC_PREFIX(:?-)?\}[\w.]+", name), name


# -- image ------------------------------------------------------------------------------------

def test_dockerfile_installs_the_pins_and_listens_on_all_interfaces() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    python = re.search(r'requires-python = ">=(\d+\.\d+)"', (REPO / "pyproject.toml").read_text())
    assert python and f"python:{python.group(1)}-slim" in text
    assert re.search(r"pip install .*-r \S*requirements\.txt", text)
    assert "VBP_WEB_HOST=0.0.0.0" in text
