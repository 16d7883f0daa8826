"""Redshift: parameter groups and cluster fields (availability status, nodes, managed master password, ...)."""

from __future__ import annotations

import json
from typing import Any

# --- Redshift parameter groups ----------------------------------------------------------------------------------


def patch_redshift_parameter_groups() -> None:
    """AWS: ModifyClusterParameterGroup sets parameters (ResetClusterParameterGroup puts them back) and
    DescribeClusterParameters reads them, Source "user" for the ones set, filtered by Source when asked. moto
    answers 500 to Modify/Reset ("not implemented") and always returns the engine defaults, so an
    aws_redshift_parameter_group with parameters (require_ssl, enable_user_activity_logging) never applied."""
    from moto.core.responses import ActionResult
    from moto.redshift.exceptions import ClusterParameterGroupNotFoundError, InvalidParameterValueError
    from moto.redshift.models import RedshiftBackend
    from moto.redshift.responses import RedshiftResponse

    def group_of(backend: Any, name: str) -> Any:
        group = backend.parameter_groups.get(name)
        if group is None:
            raise ClusterParameterGroupNotFoundError(name)
        return group

    def describe_cluster_parameters(self: Any, parameter_group_name: str, source: str | None = None) -> Any:
        user: dict[str, str] = getattr(group_of(self, parameter_group_name), "user_parameters", {})
        parameters = []
        for entry in self.describe_default_cluster_parameters():
            if entry["ParameterName"] in user:
                entry = {**entry, "ParameterValue": user[entry["ParameterName"]], "Source": "user"}
            if source is None or entry["Source"] == source:
                parameters.append(entry)
        return parameters

    def modify_cluster_parameter_group(self: Any) -> Any:
        name = self._get_param("ParameterGroupName")
        group = group_of(self.redshift_backend, name)
        known = self.redshift_backend.default_params
        user = group.__dict__.setdefault("user_parameters", {})
        for parameter in self._get_param("Parameters", []):
            parameter_name = parameter.get("ParameterName")
            if parameter_name not in known:
                raise InvalidParameterValueError(f"Could not find parameter with name: {parameter_name}")
            user[parameter_name] = str(parameter.get("ParameterValue", ""))
        return ActionResult(
            {"ParameterGroupName": name, "ParameterGroupStatus": "Your parameter group has been updated."}
        )

    def reset_cluster_parameter_group(self: Any) -> Any:
        name = self._get_param("ParameterGroupName")
        user = group_of(self.redshift_backend, name).__dict__.setdefault("user_parameters", {})
        if str(self._get_param("ResetAllParameters", "false")).lower() == "true":
            user.clear()
        for parameter in self._get_param("Parameters", []):
            user.pop(parameter.get("ParameterName"), None)
        return ActionResult(
            {"ParameterGroupName": name, "ParameterGroupStatus": "Your parameter group has been updated."}
        )

    def describe_cluster_parameters_response(self: Any) -> Any:
        params = self.redshift_backend.describe_cluster_parameters(
            self._get_param("ParameterGroupName"), self._get_param("Source")
        )
        return ActionResult({"Parameters": params})

    RedshiftBackend.describe_cluster_parameters = describe_cluster_parameters  # type: ignore[method-assign]
    RedshiftResponse.modify_cluster_parameter_group = modify_cluster_parameter_group  # type: ignore[attr-defined]
    RedshiftResponse.reset_cluster_parameter_group = reset_cluster_parameter_group  # type: ignore[attr-defined]
    RedshiftResponse.describe_cluster_parameters = describe_cluster_parameters_response  # type: ignore[method-assign]


# --- Redshift clusters -------------------------------------------------------------------------------------------

# Cluster fields DescribeClusters always has on AWS, as CreateCluster sets them (parameter -> (attribute, default)).
_REDSHIFT_CREATE_FIELDS = {
    "DefaultIamRoleArn": ("default_iam_role_arn", None),
    "MaintenanceTrackName": ("maintenance_track_name", "current"),
    "ManualSnapshotRetentionPeriod": ("manual_snapshot_retention_period", -1),
}


def patch_redshift_clusters() -> None:
    """AWS DescribeClusters reports ClusterAvailabilityStatus (what the provider waits on: Available), the
    ClusterNodes (the provider reads cluster_type from their number), AvailabilityZoneRelocationStatus, MultiAZ,
    the AQUA status, the namespace ARN, the VPC, the default IAM role, the maintenance track and manual snapshot
    retention, and, with ManageMasterPassword, the Secrets Manager secret Redshift made for the admin password
    (MasterPasswordSecretArn, its KMS key). moto leaves all of them out: the provider's create wait ended in
    "unexpected state ''", its read in "unexpected AvailabilityZoneRelocationStatus value", and a 2-node cluster
    read back as single-node. moto's ClusterStatus is kept."""
    import secrets
    import uuid

    from moto.redshift.models import Cluster
    from moto.redshift.responses import RedshiftResponse

    availability = {"available": "Available", "paused": "Paused", "creating": "Modifying", "deleting": "Modifying"}
    Cluster.cluster_availability_status = property(  # type: ignore[attr-defined]
        lambda self: availability.get(self.status, "Unavailable")
    )

    def vpc_id(self: Any) -> str | None:
        group = self.redshift_backend.subnet_groups.get(self.cluster_subnet_group_name or "")
        subnets = list(group.subnets) if group is not None else []
        return subnets[0].vpc_id if subnets else None

    Cluster.vpc_id = property(vpc_id)  # type: ignore[attr-defined]

    def cluster_nodes(self: Any) -> list[dict[str, str]]:
        # One SHARED node for single-node; a LEADER and one COMPUTE-n per node otherwise (the provider derives
        # cluster_type from how many there are).
        if int(self.number_of_nodes) <= 1:
            return [{"NodeRole": "SHARED", "PrivateIPAddress": "10.0.0.10"}]
        compute = [{"NodeRole": f"COMPUTE-{index}", "PrivateIPAddress": f"10.0.0.{11 + index}"}
                   for index in range(int(self.number_of_nodes))]  # fmt: skip
        return [{"NodeRole": "LEADER", "PrivateIPAddress": "10.0.0.10"}, *compute]

    Cluster.cluster_nodes = property(cluster_nodes)  # type: ignore[attr-defined]

    original_create = RedshiftResponse.create_cluster

    def create_cluster(self: Any) -> Any:
        result = original_create(self)
        cluster = self.redshift_backend.clusters[self._get_param("ClusterIdentifier")]
        for parameter, (attribute, default) in _REDSHIFT_CREATE_FIELDS.items():
            value = self._get_param(parameter)
            setattr(cluster, attribute, default if value is None else value)
        relocation = self._get_bool_param("AvailabilityZoneRelocation", False)
        cluster.availability_zone_relocation_status = "enabled" if relocation else "disabled"
        cluster.multi_az = "Enabled" if self._get_bool_param("MultiAZ", False) else "Disabled"
        cluster.aqua_configuration = {
            "AquaStatus": "disabled",
            "AquaConfigurationStatus": self._get_param("AquaConfigurationStatus") or "auto",
        }
        cluster.cluster_namespace_arn = (
            f"arn:aws:redshift:{cluster.region}:{cluster.account_id}:namespace:{uuid.uuid4()}"
        )
        if self._get_bool_param("ManageMasterPassword", False):
            _manage_master_password(cluster, self._get_param("MasterPasswordSecretKmsKeyId"), secrets.token_urlsafe(24))
        return result

    RedshiftResponse.create_cluster = create_cluster  # type: ignore[method-assign]


def _manage_master_password(cluster: Any, kms_key_id: str | None, password: str) -> None:
    """What Redshift does for ManageMasterPassword: a secret holding the admin credentials, in this account."""
    from moto.secretsmanager.models import secretsmanager_backends

    backend = secretsmanager_backends[cluster.account_id][cluster.region]
    name = f"redshift!{cluster.cluster_identifier}-{cluster.master_username}"
    value = json.dumps({"username": cluster.master_username, "password": password, "engine": "redshift"})
    backend.create_secret(
        name=name,
        secret_string=value,
        secret_binary=None,
        description=f"Admin password of the Redshift cluster {cluster.cluster_identifier}",
        tags=[{"Key": "aws:redshift:cluster", "Value": cluster.cluster_identifier}],
        kms_key_id=kms_key_id,
        client_request_token=None,
        replica_regions=[],
        force_overwrite=False,
    )
    cluster.master_password_secret_arn = backend.describe_secret(name).arn
    cluster.master_password_secret_kms_key_id = kms_key_id or "alias/aws/secretsmanager"
    cluster.master_user_password = password
