#!/usr/bin/env bash
# Installs what the build and the tests need, idempotently; fast when everything is there.
#   scripts/ensure-tools.sh build   -> rust wasm target, cargo-leptos, wasm-bindgen-cli, npm (binaryen)
#   scripts/ensure-tools.sh test    -> build tools + chromium, test deps, python venv with openai, cluster tools
#   scripts/ensure-tools.sh image   -> build tools + buildah (OCI images from scratch, no daemon), jq
#   scripts/ensure-tools.sh cluster -> build tools + nginx, PostgreSQL, Redis (make cluster)
set -euo pipefail
mode="${1:-build}"
root="$(cd "$(dirname "$0")/.." && pwd)"
LEPTOS_VERSION=0.3.11
WASM_BINDGEN_VERSION=0.2.130
OHA_VERSION=1.16.0
log() { printf '[setup] %s\n' "$*" >&2; }

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Installs a crate from its unpacked registry source after pinning one lock-file entry
# (see TOOLCHAIN.md: the published lock files want versions this registry/toolchain lack).
install_patched() {
  local crate="$1" version="$2" fixpkg="$3" fixver="$4"
  log "installing $crate $version (lock fix: $fixpkg $fixver)"
  cargo install "$crate" --version "$version" --locked >/dev/null 2>&1 || true
  local src
  src=$(ls -d "$HOME"/.cargo/registry/src/*/"$crate-$version" 2>/dev/null | head -n1)
  if [ -z "$src" ]; then
    cargo fetch --manifest-path /dev/null >/dev/null 2>&1 || true
    log "source for $crate-$version not unpacked; trying plain install"
    cargo install "$crate" --version "$version" --locked
    return
  fi
  local tmp
  tmp=$(mktemp -d)
  cp -r "$src" "$tmp/src"
  (cd "$tmp/src" && cargo update -p "$fixpkg" --precise "$fixver" >/dev/null 2>&1 && cargo install --path . --locked --quiet)
  rm -rf "$tmp"
}

ensure_build_tools() {
  if ! rustup target list --installed | grep -q wasm32-unknown-unknown; then
    log "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown >/dev/null
  fi
  if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$LEPTOS_VERSION" ]; then
    install_patched cargo-leptos "$LEPTOS_VERSION" cargo-util-schemas 0.14.1
  fi
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
    install_patched wasm-bindgen-cli "$WASM_BINDGEN_VERSION" webpki-roots 1.0.10
  fi
  if [ ! -x "$root/end2end/node_modules/.bin/wasm-opt" ] || [ "$root/end2end/package-lock.json" -nt "$root/end2end/node_modules/.stamp" ]; then
    log "npm ci in end2end/"
    (cd "$root/end2end" && npm ci --no-audit --no-fund --loglevel=error >/dev/null && touch node_modules/.stamp)
  fi
}

ensure_test_tools() {
  # faketime: the SDK tests move the gateway's clock (scheduled resets) with libfaketime.
  # postgresql: the store suite runs on PostgreSQL too (scripts/with-engines.sh starts a
  # private server on loopback; the package's own cluster is not used). redis-server: the
  # shared-state suite (with-engines.sh starts a private one too).
  apt_install chromium chromium-driver faketime postgresql redis-server
  local venv="$root/.venv"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import openai' 2>/dev/null; then
    log "python venv with the openai SDK"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/tests/sdk/requirements.txt"
  fi
}

# make bench: nginx and wrk from Debian; oha (fixed-rate latency) from crates.io, outside the clone.
ensure_bench_tools() {
  apt_install nginx-light wrk brotli redis-server
  local root_dir="$HOME/.cache/quota-sentinel/tools"
  if [ "$("$root_dir/bin/oha" --version 2>/dev/null | awk '{print $2}')" != "$OHA_VERSION" ]; then
    log "cargo install oha $OHA_VERSION (fixed-rate latency for make bench, ≈ 5 minutes once)"
    cargo install oha --version "$OHA_VERSION" --locked --root "$root_dir" --quiet
  fi
}

# make image: Debian's buildah builds and commits an image from scratch without a daemon or a
# container runtime (nothing is RUN inside the image), and writes an OCI archive; jq edits and
# checks the archive's JSON (index.json, manifest.json, the image config).
ensure_image_tools() {
  apt_install buildah jq
}

# make cluster (and its test in make test): Debian's servers, which scripts/cluster.sh starts
# privately on loopback, with their configs, pid files and logs in a temp dir. A system nginx
# is not used: if installing the package just started one (port 80), it is stopped again.
ensure_cluster_tools() {
  local fresh_nginx=0
  dpkg -s nginx >/dev/null 2>&1 || fresh_nginx=1
  apt_install nginx postgresql redis-server curl
  if [ "$fresh_nginx" = 1 ] && [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
    log "stopping the system nginx that the package started (make cluster runs its own)"
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO invoke-rc.d nginx stop >/dev/null 2>&1 || $SUDO nginx -s quit || true
  fi
}

case "$mode" in
  build) ensure_build_tools ;;
  test) ensure_build_tools; ensure_test_tools; ensure_cluster_tools ;;
  bench) ensure_build_tools; ensure_bench_tools ;;
  image) ensure_build_tools; ensure_image_tools ;;
  cluster) ensure_build_tools; ensure_cluster_tools ;;
  *) echo "usage: $0 build|test|bench|image|cluster" >&2; exit 2 ;;
esac
