#!/usr/bin/env bash
# Installs every tool Conveyor needs to build and test, skipping whatever is already
# present at the right version. Safe to run any number of times.
#   scripts/setup.sh          build tools (rustfmt, clippy, wasm target, cargo-leptos,
#                             wasm-bindgen, wasm-opt)
#   scripts/setup.sh --test   the above plus test tools: Chromium and ChromeDriver; git (the
#                             CI tests serve repositories with `git http-backend`); podman
#                             with runc (container steps), busybox-static (the tests' images
#                             are made from it), docker-registry and htpasswd (a registry on
#                             127.0.0.1 with passwords), and podman-docker (/usr/bin/docker:
#                             Docker's CLI syntax over podman, for the docker runtime's test)
set -euo pipefail

CARGO_LEPTOS_VERSION=0.3.10
WASM_BINDGEN_VERSION=0.2.130
BINARYEN_VERSION=132.0.0

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"
export PATH="$HOME/.cargo/bin:$tools/node_modules/.bin:$PATH"

log() { printf '[setup] %s\n' "$*" >&2; }

for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    log "adding rust component $component"
    rustup component add "$component"
  fi
done

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo-leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION (slow on a cold machine)"
  # 0.3.11 needs a newer rustc than this machine has.
  cargo install cargo-leptos --locked --version "$CARGO_LEPTOS_VERSION"
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Must equal the wasm-bindgen crate pinned in Cargo.toml. Not --locked: one locked
  # dependency version is missing from the registry mirror here.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if ! "$tools/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "${BINARYEN_VERSION%%.*}"; then
  log "installing wasm-opt from npm binaryen@$BINARYEN_VERSION"
  # Never Debian's binaryen 108: its output breaks hydration.
  (cd "$tools" && npm install --no-audit --no-fund --no-save "binaryen@$BINARYEN_VERSION")
fi

if [[ "${1:-}" == "--test" ]]; then
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    log "installing chromium and chromium-driver"
    apt-get update
    apt-get install -y --no-install-recommends chromium chromium-driver
  fi
  if ! command -v git >/dev/null; then
    log "installing git"
    apt-get update
    apt-get install -y --no-install-recommends git
  fi
  # The tests' images hold busybox-static's binary: a dynamically linked busybox (Debian's
  # `busybox` package) would not run in them.
  if ! command -v podman >/dev/null || ! command -v runc >/dev/null \
    || ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' \
    || ! command -v docker-registry >/dev/null \
    || ! command -v htpasswd >/dev/null; then
    log "installing podman, runc, busybox-static, docker-registry and htpasswd"
    apt-get update
    apt-get install -y --no-install-recommends podman runc busybox-static docker-registry apache2-utils
  fi
  # The docker runtime's arguments are tested through Debian's podman-docker (/usr/bin/docker:
  # Docker's CLI syntax, podman underneath; no Docker daemon runs here), quietly: its notice
  # on stderr would land in the steps' logs.
  if ! dpkg-query -W -f='${Status}' podman-docker 2>/dev/null | grep -q 'ok installed'; then
    log "installing podman-docker"
    apt-get update
    apt-get install -y --no-install-recommends podman-docker
  fi
  [[ -e /etc/containers/nodocker ]] || touch /etc/containers/nodocker
  # runc, not crun (crun refuses a hybrid cgroup layout), cgroups without systemd, and no
  # default ulimits (a container may not raise its own here). A file someone else wrote is
  # left alone.
  conf=/etc/containers/containers.conf
  marker="# written by Conveyor's scripts/setup.sh"
  if [[ ! -s "$conf" ]] || grep -qxF "$marker" "$conf"; then
    wanted="$marker
[containers]
default_ulimits = []

[engine]
cgroup_manager = \"cgroupfs\"
runtime = \"runc\""
    if [[ "$(cat "$conf" 2>/dev/null)" != "$wanted" ]]; then
      log "configuring podman in $conf"
      mkdir -p /etc/containers
      printf '%s\n' "$wanted" >"$conf"
    fi
  elif ! grep -qE '^[[:space:]]*runtime[[:space:]]*=[[:space:]]*"runc"' "$conf"; then
    # Someone else's file is left alone, but say what it lacks.
    log "warning: $conf was not written here and does not choose runtime = \"runc\"; podman may fail on this machine's cgroups"
  fi
fi
log "tools ready"
