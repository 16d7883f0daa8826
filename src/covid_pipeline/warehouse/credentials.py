"""Warehouse credentials kept out of URLs and command lines.

A password written in `--warehouse postgresql://user:password@host/db` is visible to every user of the machine in
the process list and stays in shell history, so a URL may leave it out and the loader finds it, in this order:

1. the URL's own `user:password@` (still accepted; the CLI warns about it);
2. `COVID_WAREHOUSE_PASSWORD`: the password itself, from the environment;
3. `COVID_WAREHOUSE_SECRET_ARN`: a Secrets Manager secret (boto3, so `AWS_ENDPOINT_URL` and the usual credential
   chain apply) whose SecretString is either the password or a JSON document with `password` and optionally
   `username` (the shape Redshift's and RDS's managed secrets have);
4. nothing here: libpq's own PGPASSWORD / ~/.pgpass, or trust authentication.

Redshift URLs name their secret themselves (`secret_arn=`): the Data API reads it, the password never reaches us.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from covid_pipeline.warehouse.base import WarehouseError

PASSWORD_ENV = "COVID_WAREHOUSE_PASSWORD"
SECRET_ARN_ENV = "COVID_WAREHOUSE_SECRET_ARN"


@dataclass(frozen=True)
class Credentials:
    """What to add to a connection whose URL carries no password (empty: nothing)."""

    username: str | None = None
    password: str | None = None

    def connect_arguments(self) -> dict[str, str]:
        arguments = {}
        if self.username:
            arguments["user"] = self.username
        if self.password is not None:
            arguments["password"] = self.password
        return arguments

    def __repr__(self) -> str:  # never print a password by accident
        return f"Credentials(username={self.username!r}, password={'***' if self.password else None})"


def url_has_password(url: str) -> bool:
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False


def credentials_for_url(
    url: str, environ: Mapping[str, str] | None = None, secrets_client: Any | None = None
) -> Credentials:
    """The credentials to add to `url`'s connection (see the module docstring for the order)."""
    env = os.environ if environ is None else environ
    if url_has_password(url):
        return Credentials()
    if env.get(PASSWORD_ENV):
        return Credentials(password=env[PASSWORD_ENV])
    secret_arn = env.get(SECRET_ARN_ENV)
    if not secret_arn:
        return Credentials()
    return credentials_from_secret(secret_arn, secrets_client, username_in_url=bool(urlsplit(url).username))


def credentials_from_secret(
    secret_arn: str, secrets_client: Any | None = None, *, username_in_url: bool = False
) -> Credentials:
    from botocore.exceptions import BotoCoreError, ClientError

    if secrets_client is None:
        import boto3

        secrets_client = boto3.client("secretsmanager")
    try:
        text = secrets_client.get_secret_value(SecretId=secret_arn)["SecretString"]
    except (BotoCoreError, ClientError, KeyError) as exc:
        raise WarehouseError(
            f"cannot read the warehouse password from secret {secret_arn} ({SECRET_ARN_ENV}): {exc}"
        ) from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return Credentials(password=text)
    if not isinstance(document, dict) or not isinstance(document.get("password"), str):
        raise WarehouseError(f"secret {secret_arn} holds JSON without a 'password' string")
    username = document.get("username") if not username_in_url else None
    return Credentials(username=username if isinstance(username, str) else None, password=document["password"])
