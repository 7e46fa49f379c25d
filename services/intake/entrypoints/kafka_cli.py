"""`tiendo agency kafka-credentials create AGENCY`: an agency system's Kafka principal, its own raw
topic and the one ACL that lets it write there; `... grant-services`: each Tiendo service's
principal, with the password an installation made for it, and its least privilege
(docs/security.md, "Kafka")."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer

from shared.kafka import RAW, KafkaCredentials, TopicSpec
from shared.kafka_access import (
    SERVICES,
    TopicNames,
    agency_topic,
    grant_agency,
    grant_services,
    service_groups,
)
from shared.local_stack import NOT_FOUND, kafka_admin, recorded
from shared.settings import DEFAULT_PLAN

app = typer.Typer(
    help="Agency systems' SCRAM credentials for Kafka (each writes only its own raw topic).",
    no_args_is_help=True,
)


def _admin() -> KafkaCredentials:
    credentials = kafka_admin()
    if credentials is None:
        raise typer.BadParameter(
            f"set KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD(_FILE) of the admin principal or {NOT_FOUND}",
            param_hint="credentials",
        )
    return credentials


@app.command("create")
def create(
    agency: str = typer.Argument(..., help="agency code, e.g. CA-TINH"),
    bootstrap: str = typer.Option(None, "--bootstrap", envvar="KAFKA_BOOTSTRAP_SERVERS", help="host:port"),
    raw_topic: str = typer.Option(RAW.name, "--raw-topic", envvar="TIENDO_RAW_TOPIC"),
    plan: Path = typer.Option(DEFAULT_PLAN, "--plan", envvar="TIENDO_PLAN_FILE"),
) -> None:
    """Issue (or replace) the agency's Kafka password; it is printed once and cannot be shown again."""
    from services.intake.entrypoints.cli import _check_agency

    _check_agency(agency, plan)
    bootstrap = bootstrap or recorded("kafka_bootstrap")
    if not bootstrap:
        raise typer.BadParameter(
            f"set KAFKA_BOOTSTRAP_SERVERS, pass --bootstrap or {NOT_FOUND}", param_hint="--bootstrap"
        )
    raw = TopicSpec(raw_topic, RAW.partitions, RAW.retention_ms)
    credentials = asyncio.run(grant_agency(bootstrap, _admin(), agency, raw))
    typer.echo(f"bootstrap.servers={bootstrap}")
    typer.echo(f"topic={agency_topic(raw_topic, agency)}")
    typer.echo(f"security.protocol={credentials.protocol}")
    typer.echo("sasl.mechanism=SCRAM-SHA-512")
    typer.echo(f"username={credentials.username}")
    typer.echo(f"password={credentials.password}")
    typer.echo(
        f"# Kafka credentials for {agency}: store the password now, it is not shown again (a new "
        f"`create` replaces it). They may write {agency_topic(raw_topic, agency)} and nothing else; "
        f"each record's ce_source must be /agencies/{agency}.",
        err=True,
    )


def _service_passwords(env: dict[str, str]) -> dict[str, str]:
    """Each service's password from `<SERVICE>_KAFKA_PASSWORD_FILE` (compose's `secrets:`)."""
    passwords = {}
    for service in SERVICES:
        variable = f"{service.upper()}_KAFKA_PASSWORD_FILE"
        path = env.get(variable, "").strip()
        if not path:
            raise typer.BadParameter(
                f"set {variable} (a file holding {service}'s password)", param_hint=variable
            )
        try:
            password = Path(path).read_text().strip()
        except OSError as error:
            raise typer.BadParameter(f"{path}: {error.strerror}", param_hint=variable) from None
        if len(password) < 16:
            raise typer.BadParameter(
                f"{path}: {service}'s password needs 16+ characters", param_hint=variable
            )
        passwords[service] = password
    if len(set(passwords.values())) != len(passwords):
        raise typer.BadParameter(
            "each service needs a password of its own", param_hint="*_KAFKA_PASSWORD_FILE"
        )
    return passwords


@app.command("grant-services")
def grant_services_command(
    bootstrap: str = typer.Option(None, "--bootstrap", envvar="KAFKA_BOOTSTRAP_SERVERS", help="host:port"),
) -> None:
    """Create (or replace) each service's SCRAM user and add its ACLs; idempotent, run at every start.

    Passwords: INTAKE_/AGGREGATOR_/NOTIFIER_KAFKA_PASSWORD_FILE; topics and consumer groups: the
    services' own variables (TIENDO_*_TOPIC, INTAKE_RAW_GROUP_ID, AGGREGATOR_GROUP_ID,
    NOTIFIER_CONSUMER_GROUP) with the services' defaults."""
    env = dict(os.environ)
    bootstrap = bootstrap or recorded("kafka_bootstrap")
    if not bootstrap:
        raise typer.BadParameter(
            f"set KAFKA_BOOTSTRAP_SERVERS, pass --bootstrap or {NOT_FOUND}", param_hint="--bootstrap"
        )
    passwords, groups = _service_passwords(env), service_groups(env)
    asyncio.run(grant_services(bootstrap, _admin(), TopicNames.from_env(env), groups, passwords))
    for service in SERVICES:
        typer.echo(
            f"{service}: SCRAM-SHA-512 user {service}, consumer groups {groups[service]}*, least privilege"
        )
