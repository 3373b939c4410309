# Shared settings for the e2e scripts. Source it; do not run it.
# shellcheck shell=bash

K8S_VERSION=1.20.2
export DEVAGENTS_CACHE="${DEVAGENTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/devagents}"
export K8S_BIN="$DEVAGENTS_CACHE/k8s-$K8S_VERSION/bin"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '[e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# as_root CMD...: run as root (sudo when we are not root and sudo exists).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $*"
  fi
}

# free_port: print a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
