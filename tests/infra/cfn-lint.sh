#!/usr/bin/env bash
# Lints every CloudFormation template `cdk synth` writes to cdk.out with cfn-lint (PyPI), failing on any error.
#
#   tests/infra/cfn-lint.sh            # synth, then lint
#   SKIP_SYNTH=1 tests/infra/cfn-lint.sh   # lint what is already in cdk.out
#
# cfn-lint is pinned and installed once into a virtualenv under node_modules/.cache (only when missing), so the
# result does not depend on whatever cfn-lint a machine happens to have.
set -euo pipefail
cd "$(dirname "$0")/../.."

CFN_LINT_VERSION="${CFN_LINT_VERSION:-1.58.0}"
VENV="${WFLO_CFN_LINT_VENV:-node_modules/.cache/cfn-lint-${CFN_LINT_VERSION}}"
CFN_LINT="$VENV/bin/cfn-lint"

if ! "$CFN_LINT" --version 2>/dev/null | grep -qx "cfn-lint $CFN_LINT_VERSION"; then
  echo "cfn-lint: installing cfn-lint==$CFN_LINT_VERSION from PyPI into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION"
fi

if [ "${SKIP_SYNTH:-}" != "1" ]; then
  start=$(date +%s)
  npx cdk synth --no-lookups --quiet
  echo "cfn-lint: cdk synth took $(( $(date +%s) - start )) s" >&2
fi

shopt -s nullglob
templates=(cdk.out/*.template.json)
if [ ${#templates[@]} -eq 0 ]; then
  echo "cfn-lint: no templates in cdk.out (did cdk synth run?)" >&2
  exit 1
fi

# W3005 (DependsOn already implied by a Ref/GetAtt): CDK adds these on purpose, e.g. a function on its role's
# policy, so the policy exists before the function first runs; they are not defects.
"$CFN_LINT" --format parseable --non-zero-exit-code error --ignore-checks W3005 -- "${templates[@]}"
echo "cfn-lint $CFN_LINT_VERSION: ${#templates[@]} templates, no errors" >&2
