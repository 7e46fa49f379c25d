"""`tiendo alerts list|ack|silence|silences|unsilence`: the notifier's operator API from a terminal.

The commands call the running notifier's API with a bearer token, so the same rules apply as to
any other client (entrypoints/access.py, docs/security.md) and every acknowledgement and silence
is recorded with the token's person and in the audit log. The token: `--token` or TIENDO_TOKEN,
else, against the running local stack, one minted with the stack's own signing key for the
committee in the name of the local user (whoever can read .tiendo/auth is the stack's owner);
the notifier: `--url`, NOTIFIER_URL, else the running local stack's.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import typer

app = typer.Typer(help="Leaders' alerts: list, acknowledge, silence.", no_args_is_help=True)
URL = typer.Option(None, "--url", envvar="NOTIFIER_URL", help="the notifier (default: the local stack's)")
TOKEN = typer.Option(None, "--token", envvar="TIENDO_TOKEN", help="a bearer token (env TIENDO_TOKEN)")


def _notifier_url(url: str | None) -> str:
    if url:
        return url.rstrip("/")
    from shared.local_stack import STATE_DIR

    try:
        state = json.loads((STATE_DIR / "stack.json").read_text(encoding="utf-8"))
        return str(state["components"]["notifier"]["url"]).rstrip("/")
    except (OSError, ValueError, KeyError, TypeError):
        typer.echo("no notifier: give --url or NOTIFIER_URL, or start the local stack", err=True)
        raise typer.Exit(2) from None


def _local_stack_token() -> str | None:
    """A committee token signed with the running local stack's key, if there is one."""
    import getpass

    from shared.auth import Principal, Role, TokenIssuer
    from shared.auth.tokens import load_signing_key
    from shared.local_stack import STATE_DIR
    from shared.stack import StackPaths

    paths = StackPaths(STATE_DIR)
    key = paths.root / "auth" / "signing-key.jwk"  # shared.stack.auth_keys, not made here
    if not (paths.state.is_file() and key.is_file()):
        return None
    user = getpass.getuser()
    principal = Principal(f"local:{user}", f"{user} (local stack)", Role.COMMITTEE)
    return TokenIssuer(load_signing_key(key), lifetime_seconds=300).issue(principal)


def _call(method: str, path: str, url: str | None, token: str | None, **kwargs: Any) -> Any:
    token = token or (_local_stack_token() if not url else None)
    if not token:
        typer.echo("no credentials: give --token or TIENDO_TOKEN (a bearer token of yours)", err=True)
        raise typer.Exit(2)
    try:
        response = httpx.request(
            method,
            _notifier_url(url) + path,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            **kwargs,
        )
    except httpx.HTTPError as exc:
        typer.echo(f"the notifier did not answer: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        word = "refused" if response.status_code in (401, 403, 422) else "failed"
        typer.echo(f"{word} ({response.status_code}): {json.dumps(detail, ensure_ascii=False)}", err=True)
        raise typer.Exit(2 if word == "refused" else 1)
    return response.json()


def _dump(rows: Any) -> None:
    typer.echo(json.dumps(rows, ensure_ascii=False, default=str, indent=2))


@app.command("list")
def list_(
    state: str = typer.Option(None, help="firing | resolved"),
    agency: str = typer.Option(None),
    as_json: bool = typer.Option(False, "--json"),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Alerts you may see, newest first."""
    params = {k: v for k, v in {"state": state, "agency": agency}.items() if v}
    rows = _call("GET", "/alerts", url, token, params=params)
    if as_json:
        return _dump(rows)
    for r in rows:
        acked = f"acked by {r['acked_by']}" if r["acked_by"] else "not acked"
        typer.echo(
            f"{r['id']:>6}  {r['state']:<8} {r['severity']:<8} {r['kind']:<22} {r['agency']:<16} "
            f"{r['indicator'] or '-':<26} {r['period']:<8} {acked}"
        )


@app.command()
def ack(alert_id: int, url: str = URL, token: str = TOKEN) -> None:
    """Acknowledge an alert as yourself: stops its escalation (the alert stays on record)."""
    alert = _call("POST", f"/alerts/{alert_id}/ack", url, token)
    typer.echo(f"alert {alert_id} acknowledged by {alert['acked_by']} at {alert['acked_at']}")


@app.command()
def silence(
    reason: str = typer.Option(...),
    agency: str = typer.Option(None),
    indicator: str = typer.Option(None),
    period: str = typer.Option(None),
    hours: float = typer.Option(24.0, help="duration"),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Silence alerts by agency/indicator/period for a while, with a reason (shown in digest footers,
    with your name)."""
    body = {"agency": agency, "indicator": indicator, "period": period, "hours": hours, "reason": reason}
    created = _call("POST", "/silences", url, token, json={k: v for k, v in body.items() if v is not None})
    typer.echo(f"silence {created['id']} until {created['ends_at']}")


@app.command()
def silences(url: str = URL, token: str = TOKEN) -> None:
    """Silences not yet over."""
    _dump(_call("GET", "/silences", url, token))


@app.command()
def unsilence(silence_id: int, url: str = URL, token: str = TOKEN) -> None:
    """End a silence now."""
    _call("DELETE", f"/silences/{silence_id}", url, token)
    typer.echo(f"silence {silence_id} ended")
