"""docker/ agrees with the code, without a Docker engine: files parse, compose services/ports/credentials match
engines.py and the instance file, the image installs the project as CI does, the code location is the same."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from dpone_certify.matrix.local.engines import COMPOSE_FILE, ENGINE_SETTINGS

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
MODULE = "dpone_certify.definitions"
# engines.py variable suffix -> the image's environment variable that sets it in the engine container
CREDENTIALS: dict[str, dict[str, str]] = {
    "postgres": {"USER": "POSTGRES_USER", "DATABASE": "POSTGRES_DB", "PASSWORD": "POSTGRES_PASSWORD"},
    "mysql": {"DATABASE": "MYSQL_DATABASE", "PASSWORD": "MYSQL_ROOT_PASSWORD"},  # USER root: the root password
    "mssql": {"PASSWORD": "MSSQL_SA_PASSWORD"},  # USER sa, DATABASE master: built in
    "clickhouse": {"USER": "CLICKHOUSE_USER", "DATABASE": "CLICKHOUSE_DB", "PASSWORD": "CLICKHOUSE_PASSWORD"},
}
BUILT_IN = {"mysql": {"USER": "root"}, "mssql": {"USER": "sa", "DATABASE": "master"}}
CONTAINER_PORT = {"postgres": 5432, "mysql": 3306, "mssql": 1433, "clickhouse": 8123}
REF = re.compile(r"^\$\{(?P<name>[A-Z0-9_]+)(?::?[-?](?P<default>[^}]*))?\}$")


def _yaml(name: str) -> Any:
    return yaml.safe_load((DOCKER / name).read_text(encoding="utf-8"))


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (DOCKER / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def _ports(service: dict[str, Any]) -> dict[int, str]:
    """container port -> host side (as written, possibly `${VAR:-default}`)."""
    out = {}
    for spec in service.get("ports", []):
        host, _, container = str(spec).rpartition(":")
        out[int(container)] = host
    return out


def _ref(value: object) -> tuple[str, str | None] | None:
    m = REF.match(str(value))
    return (m.group("name"), m.group("default")) if m else None


@pytest.mark.parametrize(
    "name",
    ["compose.dagster.yaml", "compose.engines.yaml", "dagster.postgres.yaml", "workspace.docker.yaml"],
)
def test_yaml_parses(name: str) -> None:
    assert isinstance(_yaml(name), dict)


def test_root_instance_and_workspace_parse() -> None:
    instance = yaml.safe_load((REPO / "dagster.yaml").read_text(encoding="utf-8"))
    assert "sqlite" in instance["storage"]
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text(encoding="utf-8"))
    assert workspace["load_from"][0]["python_module"]["module_name"] == MODULE


def test_engines_compose_matches_engines_py() -> None:
    assert (REPO / COMPOSE_FILE).exists()
    services = _yaml("compose.engines.yaml")["services"]
    example = _env_example()
    for family, setting in ENGINE_SETTINGS.items():
        for service in setting.compose_services:
            assert service in services, f"{family}: compose service {service!r} missing"
        # every variable engines.py reads is in the env example, with engines.py's default where it has one
        for suffix, default in setting.variables.items():
            name = f"{setting.prefix}_{suffix}"
            assert name in example, name
            if default and suffix != "SCHEMA_REGISTRY_URL":
                assert example[name] == default, name
        if family == "kafka":
            continue
        service = services[setting.compose_services[0]]
        env = service["environment"]
        assert example[f"{setting.prefix}_HOST"] == "127.0.0.1"
        # published port: ${<PREFIX>_PORT:-<engines.py default>} -> the engine's own port
        host = _ports(service)[CONTAINER_PORT[family]]
        assert _ref(host) == (f"{setting.prefix}_PORT", setting.variables["PORT"]), host
        for suffix, image_var in CREDENTIALS[family].items():
            if suffix == "PASSWORD":
                ref = _ref(env[image_var])
                assert ref and ref[0] == f"{setting.prefix}_PASSWORD", env[image_var]
            else:
                assert env[image_var] == setting.variables[suffix], (family, suffix)
        for suffix, value in BUILT_IN.get(family, {}).items():
            assert setting.variables[suffix] == value


def test_kafka_and_schema_registry() -> None:
    services = _yaml("compose.engines.yaml")["services"]
    example = _env_example()
    setting = ENGINE_SETTINGS["kafka"]
    bootstrap_port = int(example["DPONE_IT_KAFKA_BOOTSTRAP"].rsplit(":", 1)[1])
    assert bootstrap_port in _ports(services["kafka"])
    assert f"HOST://127.0.0.1:{bootstrap_port}" in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    registry_port = int(setting.variables["SCHEMA_REGISTRY_URL"].rsplit(":", 1)[1])
    assert _ports(services["schema-registry"])[registry_port] == str(registry_port)
    assert example["DPONE_IT_KAFKA_SCHEMA_REGISTRY_URL"] == setting.variables["SCHEMA_REGISTRY_URL"]


def test_dagster_compose_reaches_engines_by_service_name() -> None:
    compose = _yaml("compose.dagster.yaml")
    engines = _yaml("compose.engines.yaml")["services"]
    env = compose["services"]["daemon"]["environment"]
    for family, setting in ENGINE_SETTINGS.items():
        if family == "kafka":
            host, port = env["DPONE_IT_KAFKA_BOOTSTRAP"].split(":")
            assert host == "kafka" and f"DOCKER://kafka:{port}" in engines["kafka"]["environment"][
                "KAFKA_LISTENERS"
            ].replace("0.0.0.0", "kafka")  # noqa: E501
            assert env["DPONE_IT_KAFKA_SCHEMA_REGISTRY_URL"] == "http://schema-registry:8081"
            continue
        service = setting.compose_services[0]
        assert env[f"{setting.prefix}_HOST"] == service and service in engines
        assert int(env[f"{setting.prefix}_PORT"]) == CONTAINER_PORT[family] in _ports(engines[service])
        for suffix in ("USER", "DATABASE"):
            assert env[f"{setting.prefix}_{suffix}"] == setting.variables[suffix], (family, suffix)
        assert _ref(env[f"{setting.prefix}_PASSWORD"])[0] == f"{setting.prefix}_PASSWORD"  # type: ignore[index]
    # networks: both files use the same external network, which the run launcher joins too
    instance = _yaml("dagster.postgres.yaml")
    network = instance["run_launcher"]["config"]["network"]
    for name in ("compose.dagster.yaml", "compose.engines.yaml"):
        nets = _yaml(name)["networks"]
        assert any(n.get("name") == network and n.get("external") for n in nets.values()), name


def test_instance_env_vars_are_provided_by_compose() -> None:
    instance = _yaml("dagster.postgres.yaml")
    db = instance["storage"]["postgres"]["postgres_db"]
    assert db["scheme"] == "postgresql+psycopg2"
    storage_vars = {v["env"] for k, v in db.items() if isinstance(v, dict)}
    assert storage_vars == {f"DAGSTER_PG_{s}" for s in ("HOST", "PORT", "USER", "PASSWORD", "DB")}
    compose = _yaml("compose.dagster.yaml")
    services = compose["services"]
    launcher = instance["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_docker", "DockerRunLauncher")
    forwarded = set(launcher["config"]["env_vars"])
    assert storage_vars <= forwarded
    assert instance["compute_logs"]["config"]["base_dir"]["env"] in forwarded
    engine_vars = {n for s in ENGINE_SETTINGS.values() for n in s.env_names()}
    assert engine_vars <= forwarded, engine_vars - forwarded
    for name in ("code-server", "webserver", "daemon"):
        env = services[name]["environment"]
        missing = {v for v in storage_vars | forwarded if v not in env}
        # the launcher reads every forwarded name from the daemon's environment; unset means a failed launch
        assert not missing, (name, missing)
        assert env["DAGSTER_PG_HOST"] == "dagster-postgres"
    pg = services["dagster-postgres"]["environment"]
    env = services["daemon"]["environment"]
    for image_var, ours in (("POSTGRES_USER", "DAGSTER_PG_USER"), ("POSTGRES_PASSWORD", "DAGSTER_PG_PASSWORD"),
                            ("POSTGRES_DB", "DAGSTER_PG_DB")):  # fmt: skip
        assert _ref(pg[image_var])[0] == _ref(env[ours])[0] == ours  # type: ignore[index]
    # the shared data volume: compose's named volume is the one the run containers mount
    volume = launcher["config"]["container_kwargs"]["volumes"][0].split(":")[0]
    assert compose["volumes"]["dpone_certify_data"]["name"] == volume
    for name in ("code-server", "webserver", "daemon"):
        assert f"{volume}:/data" in services[name]["volumes"]
    assert services["code-server"]["environment"]["DAGSTER_CURRENT_IMAGE"] == services["code-server"]["image"]
    limits = {(x["key"], x["value"]): x["limit"] for x in instance["concurrency"]["runs"]["tag_concurrency_limits"]}
    assert limits[("dpone_certify/engine-mssql", "true")] == 1
    root = yaml.safe_load((REPO / "dagster.yaml").read_text(encoding="utf-8"))
    root_limits = {(x["key"], x["value"]) for x in root["concurrency"]["runs"]["tag_concurrency_limits"]}
    from dpone_certify.automation.schedules import ENGINE_TAG_PREFIX

    expected = {(f"{ENGINE_TAG_PREFIX}{family}", "true") for family in ENGINE_SETTINGS}
    assert set(limits) == root_limits == expected


def _pip_install_commands(text: str) -> list[list[str]]:
    """Every `pip install` of the project (not of pip itself), as tokens after `pip install`."""
    found = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip().removeprefix("RUN ").strip()
        if "pip install" not in line or line.startswith("#"):
            continue
        tokens = shlex.split(line)
        while "install" in tokens:
            tokens = tokens[tokens.index("install") + 1 :]
            end = next((i for i, t in enumerate(tokens) if t in ("&&", ";", "||", "|")), len(tokens))
            # output verbosity is not part of what gets installed
            args = [t for t in tokens[:end] if t not in ("--quiet", "-q")]
            if "pip" not in args:  # not `pip install --upgrade pip`
                found.append(args)
            tokens = tokens[end:]
    return found


def test_image_installs_like_ci() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    assert "\nFROM python:3.11-slim\n" in dockerfile
    image = _pip_install_commands(dockerfile)
    assert len(image) == 1
    sources = [REPO / ".ci" / "run", REPO / "README.md"]
    reference = [cmd for path in sources if path.exists() for cmd in _pip_install_commands(path.read_text("utf-8"))]
    if not reference:
        assert image[0] == ["."]
    else:  # the project is installed exactly as CI / the README do it
        project = [cmd for cmd in reference if any(a.startswith(".") for a in cmd)]
        assert project and all(cmd == image[0] for cmd in project), (image, project)
    assert 'CMD ["dagster", "code-server", "start"' in dockerfile and f'"-m", "{MODULE}"]' in dockerfile


def test_code_location_is_the_same_everywhere() -> None:
    compose = _yaml("compose.dagster.yaml")["services"]
    command = compose["code-server"]["command"]
    assert command[:3] == ["dagster", "code-server", "start"]
    assert command[command.index("-m") + 1] == MODULE
    grpc = _yaml("workspace.docker.yaml")["load_from"][0]["grpc_server"]
    assert grpc["host"] == "code-server" and str(grpc["port"]) == command[command.index("-p") + 1]
    root = yaml.safe_load((REPO / "workspace.yaml").read_text(encoding="utf-8"))["load_from"][0]["python_module"]
    assert grpc["location_name"] == root["location_name"] == "dpone_certify"
    for name in ("webserver", "daemon"):
        assert "/opt/dagster/home/workspace.yaml" in compose[name]["command"]
    dockerfile = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    assert "docker/workspace.docker.yaml" in dockerfile and "docker/dagster.postgres.yaml" in dockerfile
