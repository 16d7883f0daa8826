"""The warehouse loader's own Redshift user: what Terraform cannot create (database users and their grants).

Terraform (terraform/redshift.tf) creates the loader's secret in Secrets Manager holding only the user name
(`{"username": ...}`: no password ever passes through Terraform or its state) and hands the Lambda its ARN; the
loader never sees the master secret. Once per cluster (and again to rotate the password) an operator
runs, with the master secret:

    covid-pipeline warehouse-bootstrap \
        --warehouse 'redshift://<cluster>/<db>?secret_arn=<master secret>&iam_role=<COPY role>' \
        --loader-secret-arn <loader secret>

which reads the user name from that secret, generates a password, creates (or re-passwords) the user with only what
a load needs, and then writes {username, password} into the loader's secret (the shape the Data API reads).
The user gets:
- its own schema (`AUTHORIZATION`): it creates, replaces and drops the star schema's tables and views there, and
  its search_path points there, so the loader's unqualified SQL lands in it; nothing in any other schema;
- TEMP on the database (each partition stages its rows in temporary tables);
- ASSUMEROLE on the COPY role, for COPY only;
- no superuser, CREATEDB or CREATEUSER, a connection limit, and no access to system tables beyond its own.
The password travels to Redshift only as its MD5 hash (`'md5' || md5(password || user)`), so it is not in the
SQL text the cluster's user-activity log records.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from typing import Any

from covid_pipeline.warehouse.base import WarehouseError

DEFAULT_LOADER_SCHEMA = "covid_warehouse"
CONNECTION_LIMIT = 10
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_MD5_PASSWORD = re.compile(r"^md5[0-9a-f]{32}$")


def md5_password(username: str, password: str) -> str:
    """Redshift's hashed form of a password: 'md5' + md5(password + username)."""
    return "md5" + hashlib.md5((password + username).encode(), usedforsecurity=False).hexdigest()


def bootstrap_statements(
    username: str, hashed_password: str, database: str, schema: str, iam_role: str, *, user_exists: bool
) -> list[str]:
    """The statements, run as the master user in one transaction (BatchExecuteStatement)."""
    from covid_pipeline.warehouse.redshift_sql import literal

    for kind, value in (("user", username), ("database", database), ("schema", schema)):
        if not _NAME.match(value):
            raise WarehouseError(f"refusing {kind} name {value!r}: lower-case letters, digits and _ only")
    if not _MD5_PASSWORD.match(hashed_password):
        raise WarehouseError("the password must be passed as its md5 hash")
    password = f"'{hashed_password}'"
    user = (
        f"ALTER USER {username} PASSWORD {password} NOCREATEDB NOCREATEUSER CONNECTION LIMIT {CONNECTION_LIMIT}"
        if user_exists
        else f"CREATE USER {username} PASSWORD {password} NOCREATEDB NOCREATEUSER CONNECTION LIMIT {CONNECTION_LIMIT}"
    )
    return [
        user,
        f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {username}",
        f"ALTER USER {username} SET search_path TO {schema}",
        f"GRANT TEMP ON DATABASE {database} TO {username}",
        f"GRANT ASSUMEROLE ON {literal('iam_role', iam_role)} TO {username} FOR COPY",
    ]


def bootstrap_loader_user(
    admin_warehouse_url: str,
    loader_secret_arn: str,
    *,
    schema: str = DEFAULT_LOADER_SCHEMA,
    data_api_client: Any | None = None,
    secrets_client: Any | None = None,
) -> dict[str, str]:
    """Create or re-password the loader's user through the Data API with the admin URL's secret, then store the new
    password in the loader's secret. Returns what was done (never the password)."""
    from covid_pipeline.warehouse.redshift_target import RedshiftTarget

    if secrets_client is None:
        import boto3

        secrets_client = boto3.client("secretsmanager")
    username = loader_username(secrets_client, loader_secret_arn)
    admin = RedshiftTarget(admin_warehouse_url, data_api_client=data_api_client)
    admin.connect()
    existing = admin.query_column("SELECT usename FROM pg_user")
    password = secrets.token_urlsafe(32) + "A1"  # Redshift wants an upper-case letter and a digit
    statements = bootstrap_statements(
        username,
        md5_password(username, password),
        admin.database,
        schema,
        admin.iam_role,
        user_exists=username in existing,
    )
    admin.run_statements(statements, f"bootstrap of the loader user {username}")
    document = {"username": username, "password": password, "engine": "redshift", "dbname": admin.database}
    if admin.cluster_identifier:
        document["dbClusterIdentifier"] = admin.cluster_identifier
    secrets_client.put_secret_value(SecretId=loader_secret_arn, SecretString=json.dumps(document))
    return {
        "user": username,
        "schema": schema,
        "action": "password changed" if username in existing else "created",
        "secret": loader_secret_arn,
    }


def loader_username(secrets_client: Any, secret_arn: str) -> str:
    """The user name Terraform wrote into the loader's secret."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        document = json.loads(secrets_client.get_secret_value(SecretId=secret_arn)["SecretString"])
    except (BotoCoreError, ClientError, KeyError, ValueError) as exc:
        raise WarehouseError(f"cannot read the loader's user name from secret {secret_arn}: {exc}") from exc
    username = document.get("username") if isinstance(document, dict) else None
    if not isinstance(username, str) or not _NAME.match(username):
        raise WarehouseError(f"secret {secret_arn} holds no valid 'username' (Terraform writes it)")
    return username
