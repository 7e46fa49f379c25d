"""`tiendo auth keys create DIR`: the local issuer's signing key pair (issue 17)."""

from __future__ import annotations

from pathlib import Path

import typer

from shared.auth.tokens import generate_signing_key

app = typer.Typer(help="The local identity's signing keys.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing key pairs (ES256).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def create(
    directory: Path = typer.Argument(..., help="where to write signing-key.jwk and jwks.json"),
    force: bool = typer.Option(False, "--force", help="replace a key pair already there"),
) -> None:
    """A new key pair: give intake AUTH_SIGNING_KEY_FILE=DIR/signing-key.jwk (secret, mode 600) and
    every service AUTH_JWKS_FILE=DIR/jwks.json (public)."""
    private = directory / "signing-key.jwk"
    if private.exists() and not force:
        typer.echo(
            f"tiendo: {private} exists; a new key logs everyone out and must reach every service's "
            "AUTH_JWKS_FILE: pass --force to replace it",
            err=True,
        )
        raise typer.Exit(2)
    private, public = generate_signing_key(directory)
    typer.echo(f"AUTH_SIGNING_KEY_FILE={private}")
    typer.echo(f"AUTH_JWKS_FILE={public}")
