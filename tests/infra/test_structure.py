"""Structural checks over terraform/ parsed with python-hcl2: secure-by-default rules a scanner may not state the
way this project means them, plus the wiring `terraform validate` would catch if it could run here."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.hcl_eval import Scope, evaluate_value, load_hcl, unquote
from tests.infra.terraform_model import (
    CONFIG_DIR,
    ENVIRONMENTS,
    REPO_ROOT,
    TERRAFORM_DIR,
    Module,
    all_module_dirs,
    environment_inputs,
    load_tfvars,
    parse_module,
    statements,
    tf_files,
    values,
)


@pytest.fixture(scope="module")
def root() -> Module:
    return parse_module(TERRAFORM_DIR)


@pytest.fixture(scope="module")
def bucket_module() -> Module:
    return parse_module(TERRAFORM_DIR / "modules" / "secure_bucket")


@pytest.fixture(scope="module")
def modules() -> list[Module]:
    return [parse_module(path) for path in all_module_dirs()]


def reference(text: str) -> str:
    """'${aws_s3_bucket.this.id}' -> 'aws_s3_bucket.this.id'."""
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


def companions(module: Module, resource_type: str, bucket_resource: str) -> list[dict[str, Any]]:
    """Resources of resource_type whose `bucket` is the given aws_s3_bucket."""
    wanted = f"aws_s3_bucket.{bucket_resource}.id"
    return [body for body in module.of_type(resource_type).values() if reference(str(body.get("bucket"))) == wanted]


def only(items: list[dict[str, Any]], what: str) -> dict[str, Any]:
    assert len(items) == 1, f"expected exactly one {what}, found {len(items)}"
    return items[0]


def policy_document(module: Module, policy_attribute: str) -> dict[str, Any]:
    match = re.fullmatch(r"data\.aws_iam_policy_document\.(\w+)\.json", reference(policy_attribute))
    assert match, f"policy {policy_attribute!r} should come from an aws_iam_policy_document"
    return module.data[("aws_iam_policy_document", match.group(1))]


def denies_insecure_transport(document: dict[str, Any]) -> bool:
    for statement in statements(document):
        if unquote(str(statement.get("effect", ""))) != "Deny":
            continue
        for condition in statement.get("condition", []):
            if (
                unquote(condition["test"]) == "Bool"
                and unquote(condition["variable"]) == "aws:SecureTransport"
                and values(condition["values"]) == ["false"]
            ):
                return True
    return False


# --- buckets -------------------------------------------------------------------------------------------------------


def test_every_data_bucket_uses_the_hardened_module(root: Module) -> None:
    calls = {name: body for name, body in root.modules.items() if unquote(body["source"]) == "./modules/secure_bucket"}
    bucket_names = {reference(body["bucket_name"]) for body in calls.values()}
    assert bucket_names == {
        "local.raw_bucket",
        "local.processed_bucket",
        "local.quarantine_bucket",
        "local.scripts_bucket",
    }
    for name, body in calls.items():
        assert reference(body["kms_key_arn"]) == "aws_kms_key.pipeline.arn", name
        assert reference(body["access_log_bucket"]) == "aws_s3_bucket.access_logs.id", name
    # The module is the only place data buckets are declared; the root only adds the log bucket.
    assert set(root.of_type("aws_s3_bucket")) == {"access_logs"}


@pytest.mark.parametrize(
    ("module_path", "bucket"),
    [("modules/secure_bucket", "this"), (".", "access_logs")],
    ids=["secure_bucket", "access_logs"],
)
def test_every_bucket_is_private_versioned_encrypted_tls_only(module_path: str, bucket: str) -> None:
    module = parse_module(TERRAFORM_DIR / module_path)
    block = only(companions(module, "aws_s3_bucket_public_access_block", bucket), "public access block")
    for setting in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert block[setting] is True, setting

    versioning = only(companions(module, "aws_s3_bucket_versioning", bucket), "versioning")
    assert unquote(versioning["versioning_configuration"][0]["status"]) == "Enabled"

    ownership = only(companions(module, "aws_s3_bucket_ownership_controls", bucket), "ownership controls")
    assert unquote(ownership["rule"][0]["object_ownership"]) == "BucketOwnerEnforced"

    encryption = only(companions(module, "aws_s3_bucket_server_side_encryption_configuration", bucket), "SSE config")
    default = encryption["rule"][0]["apply_server_side_encryption_by_default"][0]
    if bucket == "access_logs":
        # S3 server access logging can only deliver into SSE-S3 buckets; the bucket's checkov skip says so.
        assert unquote(default["sse_algorithm"]) == "AES256"
    else:
        assert unquote(default["sse_algorithm"]) == "aws:kms"
        assert default["kms_master_key_id"], "SSE-KMS must name the customer managed key"

    policy = only(companions(module, "aws_s3_bucket_policy", bucket), "bucket policy")
    assert denies_insecure_transport(policy_document(module, policy["policy"])), "bucket policy must deny non-TLS"

    lifecycle = only(companions(module, "aws_s3_bucket_lifecycle_configuration", bucket), "lifecycle")
    rules = lifecycle["rule"]
    assert any("abort_incomplete_multipart_upload" in rule for rule in rules)
    assert any("noncurrent_version_expiration" in rule for rule in rules)

    logging = companions(module, "aws_s3_bucket_logging", bucket)
    if bucket == "access_logs":
        assert logging == [], "the log bucket must not log into itself"
    else:
        assert len(logging) == 1, "data buckets must send server access logs"


def test_raw_lifecycle_goes_to_infrequent_access_then_glacier_and_processed_to_intelligent_tiering(
    root: Module,
) -> None:
    scope = root.scope(environment_inputs(root, "prod"))
    raw = evaluate_value(root.modules["raw_bucket"]["transitions"], scope)
    assert [t["storage_class"] for t in raw] == ["STANDARD_IA", "GLACIER"]
    assert raw[0]["days"] >= 30 and raw[1]["days"] > raw[0]["days"]
    processed = evaluate_value(root.modules["processed_bucket"]["transitions"], scope)
    assert processed == [{"days": 0, "storage_class": "INTELLIGENT_TIERING"}]
    assert "expiration_days" in root.modules["quarantine_bucket"]


def test_raw_bucket_notifies_the_queue_for_the_raw_prefix_only(root: Module) -> None:
    notification = root.resources[("aws_s3_bucket_notification", "raw_events")]
    assert reference(notification["bucket"]) == "module.raw_bucket.id"
    queue = notification["queue"][0]
    assert reference(queue["queue_arn"]) == "aws_sqs_queue.raw_events.arn"
    assert reference(queue["filter_prefix"]) == "var.raw_prefix"
    queue_policy = policy_document(root, root.resources[("aws_sqs_queue_policy", "raw_events")]["policy"])
    allow = [s for s in statements(queue_policy) if unquote(str(s.get("effect", '"Allow"'))) == "Allow"]
    assert len(allow) == 1
    source_arn = [c for c in allow[0]["condition"] if unquote(c["variable"]) == "aws:SourceArn"]
    assert [reference(v) for v in source_arn[0]["values"]] == ["module.raw_bucket.arn"]


# --- encryption of everything else -------------------------------------------------------------------------------


def test_queues_topic_logs_and_lambdas_use_the_customer_key(root: Module) -> None:
    key = "aws_kms_key.pipeline.arn"
    for name, body in root.of_type("aws_sqs_queue").items():
        assert reference(body["kms_master_key_id"]) == key, f"queue {name}"
    for name, body in root.of_type("aws_sns_topic").items():
        assert reference(body["kms_master_key_id"]) == key, f"topic {name}"
    for name, body in root.of_type("aws_cloudwatch_log_group").items():
        assert reference(body["kms_key_id"]) == key, f"log group {name}"
        assert reference(body["retention_in_days"]) == "var.log_retention_days", f"log group {name}"
    for name, body in root.of_type("aws_lambda_function").items():
        assert reference(body["kms_key_arn"]) == key, f"function {name}"
        assert unquote(body["tracing_config"][0]["mode"]) == "Active", f"function {name}"
        assert reference(body["reserved_concurrent_executions"]) == "var.lambda_reserved_concurrency"
    kms = root.resources[("aws_kms_key", "pipeline")]
    assert kms["enable_key_rotation"] is True
    security = root.resources[("aws_glue_security_configuration", "pipeline")]["encryption_configuration"][0]
    assert unquote(security["cloudwatch_encryption"][0]["cloudwatch_encryption_mode"]) == "SSE-KMS"
    assert unquote(security["job_bookmarks_encryption"][0]["job_bookmarks_encryption_mode"]) == "CSE-KMS"
    assert unquote(security["s3_encryption"][0]["s3_encryption_mode"]) == "SSE-KMS"
    job = root.resources[("aws_glue_job", "transform")]
    assert reference(job["security_configuration"]) == "aws_glue_security_configuration.pipeline.name"


def test_every_queue_and_the_topic_refuse_plain_http(root: Module) -> None:
    queue_policies = {
        reference(str(body["queue_url"])).split(".")[1]: policy_document(root, body["policy"])
        for body in root.of_type("aws_sqs_queue_policy").values()
    }
    assert set(queue_policies) == set(root.of_type("aws_sqs_queue")), "every queue needs a policy"
    for queue, document in queue_policies.items():
        assert denies_insecure_transport(document), queue
    topic_policy = root.resources[("aws_sns_topic_policy", "alerts")]
    assert denies_insecure_transport(policy_document(root, topic_policy["policy"]))
    parameters = root.resources[("aws_redshift_parameter_group", "warehouse")]["parameter"]
    assert {unquote(p["name"]): unquote(p["value"]) for p in parameters}["require_ssl"] == "true"


def test_redshift_is_private_encrypted_audited_with_a_managed_password(root: Module) -> None:
    cluster = root.resources[("aws_redshift_cluster", "warehouse")]
    assert reference(cluster["count"]) == "var.enable_redshift ? 1 : 0"
    assert cluster["publicly_accessible"] is False
    assert cluster["encrypted"] is True
    assert cluster["manage_master_password"] is True
    assert "master_password" not in cluster
    assert cluster["enhanced_vpc_routing"] is True
    assert cluster["logging"][0]["enable"] is True
    subnets = root.resources[("aws_subnet", "warehouse_private")]
    assert subnets["map_public_ip_on_launch"] is False
    assert not root.of_type("aws_internet_gateway"), "the warehouse VPC must have no internet gateway"
    copy_policy = root.data[("aws_iam_policy_document", "redshift_copy")]
    resources = [r for s in statements(copy_policy) for r in values(s["resources"])]
    assert all("processed_bucket_arn" in r or "aws_kms_key.pipeline" in r for r in resources), resources


def test_lambda_event_source_reports_partial_batch_failures(root: Module) -> None:
    mapping = root.resources[("aws_lambda_event_source_mapping", "raw_events")]
    assert values(mapping["function_response_types"]) == ["ReportBatchItemFailures"]
    assert reference(mapping["event_source_arn"]) == "aws_sqs_queue.raw_events.arn"
    queue = root.resources[("aws_sqs_queue", "raw_events")]
    assert "aws_sqs_queue.raw_events_dlq.arn" in queue["redrive_policy"]


def test_glue_state_changes_reach_the_monitor_always_and_the_loader_with_redshift(root: Module) -> None:
    scope = root.scope(environment_inputs(root, "prod"))
    job = evaluate_value(root.locals["glue_job"], scope)
    patterns = {}
    for name in ("glue_job_finished", "glue_job_succeeded"):
        rule = root.resources[("aws_cloudwatch_event_rule", name)]
        patterns[name] = json.loads(evaluate_value(rule["event_pattern"], scope))
        assert patterns[name]["source"] == ["aws.glue"]
        assert patterns[name]["detail-type"] == ["Glue Job State Change"]
        assert patterns[name]["detail"]["jobName"] == [job]
    assert {"SUCCEEDED", "FAILED", "TIMEOUT"} <= set(patterns["glue_job_finished"]["detail"]["state"])
    assert patterns["glue_job_succeeded"]["detail"]["state"] == ["SUCCEEDED"]
    monitor = root.resources[("aws_cloudwatch_event_target", "data_quality_monitor")]
    loader = root.resources[("aws_cloudwatch_event_target", "warehouse_loader")]
    assert reference(monitor["rule"]) == "aws_cloudwatch_event_rule.glue_job_finished.name"
    assert reference(loader["rule"]) == "aws_cloudwatch_event_rule.glue_job_succeeded.name"
    assert reference(loader["count"]) == "var.enable_redshift ? 1 : 0"
    for target in (monitor, loader):
        assert reference(target["dead_letter_config"][0]["arn"]) == "aws_sqs_queue.lambda_async_dlq.arn"


def test_every_alarm_notifies_the_alerts_topic(root: Module) -> None:
    alarms = root.of_type("aws_cloudwatch_metric_alarm")
    assert len(alarms) == 6
    for name, body in alarms.items():
        assert reference(body["alarm_actions"]) == "local.alarm_actions", name
        assert body["actions_enabled"] is True, name
    assert "aws_sns_topic.alerts.arn" in str(root.locals["alarm_actions"])


# --- IAM -----------------------------------------------------------------------------------------------------------


def all_policy_statements(modules: list[Module]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for module in modules:
        for (kind, name), body in module.data.items():
            if kind == "aws_iam_policy_document":
                found.extend((f"{module.path.name}/{name}", statement) for statement in statements(body))
    return found


def test_no_iam_statement_allows_every_action(modules: list[Module]) -> None:
    checked = 0
    for where, statement in all_policy_statements(modules):
        for action in values(statement.get("actions", [])):
            checked += 1
            assert action != "*" and not action.endswith(":*"), f"{where}: action {action!r} allows everything"
        assert "not_actions" not in statement, f"{where}: NotAction grants everything else"
    assert checked > 50
    for path in tf_files():
        text = path.read_text()
        assert not re.search(r'"?Action"?\s*[:=]\s*"\*"', text), f"{path.name}: a raw policy with Action '*'"


def test_star_resources_only_with_a_comment_saying_why(modules: list[Module]) -> None:
    structural = sum(
        1 for _, statement in all_policy_statements(modules) if "*" in values(statement.get("resources", []))
    )
    in_text = 0
    for path in tf_files():
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if '"*"' not in line or not re.match(r"\s*resources\s*=", line):
                continue
            in_text += 1
            assert line.strip() == 'resources = ["*"]', f"{path.name}:{number + 1}: keep a '*' resource on its own"
            comment = " ".join(
                previous.strip().lstrip("#").strip()
                for previous in lines[max(0, number - 3) : number]
                if previous.strip().startswith("#")
            )
            assert len(comment.split()) >= 5, f"{path.name}:{number + 1}: a '*' resource needs a comment saying why"
    assert structural == in_text, "every '*' resource must be written as resources = [\"*\"] (so it is checked)"
    assert structural > 0


def test_each_lambda_role_is_scoped_to_its_function(root: Module) -> None:
    s3_handler = root.data[("aws_iam_policy_document", "s3_event_handler")]
    actions = {a for s in statements(s3_handler) for a in values(s["actions"])}
    assert {"glue:StartJobRun", "sqs:ReceiveMessage", "sqs:DeleteMessage"} <= actions
    assert not any(a.startswith(("redshift", "sns:")) for a in actions)
    glue_statement = next(s for s in statements(s3_handler) if "glue:StartJobRun" in values(s["actions"]))
    assert [reference(r) for r in glue_statement["resources"]] == ["local.glue_job_arn"]
    assert "job/${local.glue_job}" in root.locals["glue_job_arn"]


# --- variables and tfvars ------------------------------------------------------------------------------------------


def test_every_variable_has_a_type_and_a_description(modules: list[Module]) -> None:
    for module in modules:
        for name, spec in module.variables.items():
            assert spec.get("type"), f"{module.path.name}: variable {name} has no type"
            description = unquote(str(spec.get("description", "")))
            assert len(description.split()) >= 3, f"{module.path.name}: variable {name} needs a description"


def test_every_output_has_a_description(modules: list[Module]) -> None:
    for module in modules:
        for name, spec in module.outputs.items():
            assert unquote(str(spec.get("description", ""))), f"{module.path.name}: output {name}"


def test_versions_pin_terraform_and_the_providers(root: Module) -> None:
    text = root.texts["versions.tf"]
    assert re.search(r'required_version\s*=\s*">= 1\.5', text)
    assert re.search(r'source\s*=\s*"hashicorp/aws"\s*\n\s*version\s*=\s*"~> 5\.\d+"', text)
    assert "default_tags" in root.texts["main.tf"]


def _matches_type(type_expression: str, value: Any) -> bool:
    kind = reference(type_expression)
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list(string)":
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    if kind == "map(string)":
        return isinstance(value, dict) and all(isinstance(item, str) for item in value.values())
    raise AssertionError(f"add a check for variable type {kind}")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_tfvars_set_only_declared_variables_of_the_right_type(root: Module, environment: str) -> None:
    tfvars = load_tfvars(CONFIG_DIR / f"{environment}.tfvars")
    undeclared = sorted(set(tfvars) - set(root.variables))
    assert not undeclared, f"{environment}.tfvars sets undeclared variables: {undeclared}"
    required = {name for name, spec in root.variables.items() if "default" not in spec}
    missing = sorted(required - set(tfvars))
    assert not missing, f"{environment}.tfvars does not set required variables: {missing}"
    for name, value in tfvars.items():
        assert _matches_type(root.variables[name]["type"], value), f"{environment}.tfvars: {name}={value!r}"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_tfvars_pass_every_validation_and_precondition(root: Module, environment: str) -> None:
    inputs = environment_inputs(root, environment)
    scope = root.scope(inputs)
    evaluated = 0
    for name, spec in root.variables.items():
        for validation in spec.get("validation", []):
            result = evaluate_value(validation["condition"], scope)
            assert result is True, (
                f"{environment}: {name}={inputs.get(name)!r} fails: {unquote(validation['error_message'])}"
            )
            evaluated += 1
    for (kind, name), body in root.resources.items():
        for lifecycle in body.get("lifecycle", []):
            for precondition in lifecycle.get("precondition", []):
                assert evaluate_value(precondition["condition"], scope) is True, f"{environment}: {kind}.{name}"
                evaluated += 1
    assert evaluated >= len([s for s in root.variables.values() if s.get("validation")])


@pytest.mark.parametrize(
    ("variable", "bad_value"),
    [
        ("environment", "production"),
        ("project_name", "Covid_Pipeline"),
        ("raw_prefix", "raw"),
        ("glue_worker_type", "Standard"),
        ("log_retention_days", 10),
        ("dq_score_threshold", 1.5),
        ("notification_email", "not-an-address"),
        ("sqs_batch_size", 0),
        ("redshift_node_type", "dc1.large"),
    ],
)
def test_validations_reject_wrong_values(root: Module, variable: str, bad_value: Any) -> None:
    """The evaluator really evaluates the conditions: a wrong value fails its validation."""
    inputs = {**environment_inputs(root, "dev"), variable: bad_value}
    scope = root.scope(inputs)
    results = [evaluate_value(v["condition"], scope) for v in root.variables[variable]["validation"]]
    assert False in results


def test_batches_above_ten_need_a_batching_window(root: Module) -> None:
    """Lambda refuses an SQS batch size above 10 without a batching window; the mapping's precondition says so."""
    mapping = root.resources[("aws_lambda_event_source_mapping", "raw_events")]
    (condition,) = [p["condition"] for lc in mapping["lifecycle"] for p in lc["precondition"]]

    def holds(batch_size: int, window: int) -> Any:
        inputs = {
            **environment_inputs(root, "dev"),
            "sqs_batch_size": batch_size,
            "sqs_batching_window_seconds": window,
        }
        return evaluate_value(condition, root.scope(inputs))

    assert holds(10, 0) is True and holds(100, 5) is True
    assert holds(100, 0) is False


def test_production_differs_where_it_should() -> None:
    prod, dev = load_tfvars(CONFIG_DIR / "prod.tfvars"), load_tfvars(CONFIG_DIR / "dev.tfvars")
    assert prod["enable_redshift"] is True and dev["enable_redshift"] is False
    assert prod["deletion_protection"] is True and dev["deletion_protection"] is False
    assert prod["glue_number_of_workers"] > dev["glue_number_of_workers"]
    assert prod["log_retention_days"] > dev["log_retention_days"]


# --- wiring (what `terraform validate` would check) ----------------------------------------------------------------

REFERENCE_PATTERNS = {
    "var": re.compile(r"\bvar\.([A-Za-z_][A-Za-z0-9_]*)"),
    "local": re.compile(r"\blocal\.([A-Za-z_][A-Za-z0-9_]*)"),
    "data": re.compile(r"\bdata\.([a-z0-9_]+)\.([A-Za-z0-9_]+)"),
    "module": re.compile(r"\bmodule\.([A-Za-z0-9_]+)"),
    "resource": re.compile(r"(?<![.\w])(aws_[a-z0-9_]+)\.([A-Za-z_][A-Za-z0-9_]*)\b"),
}


def code_only(text: str) -> str:
    """Drops comment lines and the text after '#' that follows code (the files use no '#' inside strings)."""
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


@pytest.mark.parametrize("module_dir", all_module_dirs(), ids=lambda p: p.name)
def test_every_reference_resolves(module_dir: Path) -> None:
    module = parse_module(module_dir)
    text = "\n".join(code_only(t) for t in module.texts.values())
    problems = []
    problems += [f"var.{n}" for n in REFERENCE_PATTERNS["var"].findall(text) if n not in module.variables]
    problems += [f"local.{n}" for n in REFERENCE_PATTERNS["local"].findall(text) if n not in module.locals]
    problems += [f"data.{t}.{n}" for t, n in REFERENCE_PATTERNS["data"].findall(text) if (t, n) not in module.data]
    problems += [f"module.{n}" for n in REFERENCE_PATTERNS["module"].findall(text) if n not in module.modules]
    for kind, name in REFERENCE_PATTERNS["resource"].findall(text):
        if (kind, name) not in module.resources and not text.count(f'"{kind}" "{name}"'):
            problems.append(f"{kind}.{name}")
    assert not sorted(set(problems)), f"unresolved references in {module_dir.name}: {sorted(set(problems))}"


def test_local_cloud_override_references_resolve(root: Module) -> None:
    """terraform/local/*.tf are merged into a copy of the root module: their references must resolve there."""
    local = parse_module(TERRAFORM_DIR / "local")
    text = "\n".join(code_only(t) for t in local.texts.values())
    declared = set(root.variables) | set(local.variables)
    unresolved = {n for n in REFERENCE_PATTERNS["var"].findall(text) if n not in declared}
    assert not unresolved
    assert "local_endpoint" in local.variables and "local_endpoint" not in root.variables
    override = load_hcl(TERRAFORM_DIR / "local" / "local_override.tf")
    provider = override["provider"][0]['"aws"']
    endpoints = {key: value for key, value in provider["endpoints"][0].items() if not key.startswith("__")}
    # Every AWS service the configuration creates resources in is pointed at the local cloud.
    assert {"s3", "sqs", "sns", "kms", "iam", "sts", "glue", "lambda", "logs", "cloudwatch", "events"} <= set(endpoints)
    assert all(reference(value) == "var.local_endpoint" for value in endpoints.values())


def test_module_calls_pass_only_declared_inputs(root: Module, bucket_module: Module) -> None:
    required = {name for name, spec in bucket_module.variables.items() if "default" not in spec}
    for name, call in root.modules.items():
        inputs = {key for key in call if not key.startswith("__") and key not in ("source", "depends_on")}
        assert inputs <= set(bucket_module.variables), (
            f"module.{name}: unknown inputs {inputs - set(bucket_module.variables)}"
        )
        assert required <= inputs, f"module.{name}: missing {required - inputs}"


def handler_sources(handler_file: Path) -> str:
    """The handler's text plus the covid_pipeline modules it imports (where the shared settings are read)."""
    text = handler_file.read_text()
    sources = [text]
    for module in re.findall(r"^from (covid_pipeline[\w.]*) import", text, re.MULTILINE):
        path = REPO_ROOT / "src" / Path(*module.split("."))
        for candidate in (path.with_suffix(".py"), path / "__init__.py"):
            if candidate.is_file():
                sources.append(candidate.read_text())
    return "\n".join(sources)


def test_lambda_handlers_exist_and_read_the_environment_terraform_sets(root: Module) -> None:
    handlers = evaluate_value(root.locals["lambda_handlers"], Scope())
    scope = root.scope(environment_inputs(root, "dev"))
    assert set(handlers) == set(evaluate_value(root.locals["lambda_functions"], scope))
    environment = {
        unquote(short): {unquote(name) for name in env} for short, env in root.locals["lambda_environment"].items()
    }
    missing_files = []
    for short, handler in handlers.items():
        module_name, function_name = handler.split(".")
        source = REPO_ROOT / "lambda" / f"{module_name}.py"
        if not source.is_file():
            missing_files.append(source.name)
            continue
        text = handler_sources(source)
        assert re.search(rf"^def {function_name}\(", text, re.MULTILINE), f"{source.name} has no {handler}"
        unread = sorted(name for name in environment[short] if not re.search(rf"[\"']{name}[\"']", text))
        assert not unread, f"{short}: Terraform sets {unread} but {source.name} (and what it imports) never reads them"
    if missing_files:
        pytest.skip(f"handlers not written yet: {', '.join(missing_files)} (lambda.tf already points at them)")


# --- scanner hygiene -----------------------------------------------------------------------------------------------

SKIP_COMMENT = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def test_every_checkov_skip_names_a_check_and_gives_a_reason_in_words() -> None:
    skips = 0
    for path in tf_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = SKIP_COMMENT.search(line)
            if not match:
                continue
            skips += 1
            check, reason = match.group(1), (match.group(2) or "").strip()
            assert re.fullmatch(r"CKV2?_AWS_\d+", check), f"{path.name}:{number}: {check} is not a checkov AWS id"
            assert len(re.findall(r"[A-Za-z]{2,}", reason)) >= 6, f"{path.name}:{number}: skip {check} needs a reason"
    assert skips > 0
