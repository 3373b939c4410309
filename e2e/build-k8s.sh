#!/usr/bin/env bash
# Build kube-apiserver, kube-controller-manager and kubectl 1.20.2 from Debian's source
# package ONCE and cache them. Re-running is a no-op while the cached binaries exist.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BINS=(kube-apiserver kube-controller-manager kubectl)
have_all() { for b in "${BINS[@]}"; do [ -x "$K8S_BIN/$b" ] || return 1; done; }
if have_all; then
  log "control plane $K8S_VERSION cached in $K8S_BIN"
  exit 0
fi

"$(dirname "$0")/install-deps.sh"
command -v go >/dev/null || die "go not found after installing golang-go"

WORK="$DEVAGENTS_CACHE/k8s-$K8S_VERSION/build"
mkdir -p "$WORK" "$K8S_BIN"
cd "$WORK"

if [ ! -d "kubernetes-$K8S_VERSION" ]; then
  if ! ls kubernetes_*.orig.tar.gz >/dev/null 2>&1; then
    # Source packages need deb-src entries; derive them from the machine's own deb entries.
    if [ -f /etc/apt/sources.list.d/debian.sources ] && \
       ! grep -qs '^Types: deb-src' /etc/apt/sources.list.d/debian-src.sources; then
      sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources |
        as_root tee /etc/apt/sources.list.d/debian-src.sources >/dev/null
      as_root apt-get update -qq
    fi
    log "downloading Debian's kubernetes source package"
    apt-get source --download-only kubernetes >/dev/null
  fi
  log "unpacking"
  tar xzf kubernetes_*.orig.tar.gz
fi

GOPATH_DIR="$WORK/gopath"
mkdir -p "$GOPATH_DIR/src/k8s.io"
ln -sfn "$WORK/kubernetes-$K8S_VERSION" "$GOPATH_DIR/src/k8s.io/kubernetes"
cd "$GOPATH_DIR/src/k8s.io/kubernetes"

# The vendored reflect2 v1.0.1 crashes the apiserver under Go >= 1.18; Debian ships v1.0.2.
if [ ! -f vendor/github.com/modern-go/reflect2/.debian-v102 ]; then
  rm -rf vendor/github.com/modern-go/reflect2
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
  touch vendor/github.com/modern-go/reflect2/.debian-v102
fi

export GOPATH="$GOPATH_DIR" GO111MODULE=off CGO_ENABLED=0 GOFLAGS=
export GOCACHE="$WORK/gocache"
if [ ! -f .generated-done ]; then
  log "make generated_files (about a minute)"
  make generated_files >"$WORK/generated.log" 2>&1 || { tail -40 "$WORK/generated.log"; die "make generated_files failed"; }
  touch .generated-done
fi
V="-s -w -X k8s.io/kubernetes/vendor/k8s.io/component-base/version.gitVersion=v$K8S_VERSION"
for b in "${BINS[@]}"; do
  [ -x "$K8S_BIN/$b" ] && continue
  log "go build $b"
  go build -ldflags "$V" -o "$K8S_BIN/$b.tmp" "./cmd/$b"
  mv "$K8S_BIN/$b.tmp" "$K8S_BIN/$b"
done
have_all || die "build finished but binaries are missing"
log "control plane $K8S_VERSION built into $K8S_BIN"
