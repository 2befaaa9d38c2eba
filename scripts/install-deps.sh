#!/usr/bin/env bash
# Installs everything nodestatus's build, tests and lab need on a minimal Debian 12 (debootstrap
# minbase plus a rustup toolchain; run as root; idempotent):
#   - the build: a C toolchain (gcc, libc6-dev: the linker `cc`, and the C parts of rusqlite's
#     bundled SQLite and of ring), protoc *and* its well-known types (protobuf-compiler,
#     libprotobuf-dev: etcd-client's build script compiles etcd's .proto files, which import
#     google/protobuf/descriptor.proto; Debian's protoc package leaves those files to
#     libprotobuf-dev, a "recommends" that --no-install-recommends skips), ca-certificates when
#     there is no CA bundle (cargo fetches crates over HTTPS). A system protoc was kept over a vendored one: Debian's is
#     maintained and signed, a vendored binary would be a blob in our dependency tree;
#   - the tests and the lab: bird 1.6 (bird, bird6, birdc), etcd, iproute2, procps, curl (a test
#     calls the API server as kube-apiserver's front proxy, client certificate and all), and bird2
#     *unpacked* (not installed: it conflicts with the bird package) into /opt/nodestatus/bird2,
#     binary /opt/nodestatus/bird2/usr/sbin/bird; BIRD 2.17 and 3.1 from Debian 13 with Debian
#     13's C library beside them, unpacked too (scripts/install-bird-current.sh:
#     /opt/nodestatus/bird2.17/bin/bird, /opt/nodestatus/bird3/bin/bird);
#   - a real Kubernetes control plane for the Kubernetes tests and `lab up --datastore-type
#     kubernetes`: kube-apiserver and etcd built from their Go modules with the machine's Go
#     (scripts/install-k8s.sh: /opt/nodestatus/k8s/<version>/bin, cached);
#   - the test runner, cargo-nextest (`cargo install` when missing).
# Services the packages would start are stopped and disabled: tests and `nodestatus lab` start
# their own daemons.
# Output goes to a log file ($NODESTATUS_DEPS_LOG, default /tmp/nodestatus-install-deps.log); the
# script prints one summary line. When everything is present it does not touch apt at all.
set -euo pipefail

LOG=${NODESTATUS_DEPS_LOG:-/tmp/nodestatus-install-deps.log}
BIRD2_DIR=${NODESTATUS_BIRD2_DIR:-/opt/nodestatus/bird2}
PACKAGES=(gcc libc6-dev protobuf-compiler libprotobuf-dev
    bird etcd-server etcd-client iproute2 libssh-gcrypt-4 procps curl)
# cargo fetches crates over HTTPS and needs a CA bundle; a machine that got Rust through rustup
# has one. Debian's is installed only where there is none: installing it over an existing bundle
# regenerates the file from Debian's set and drops certificates added to it by hand (a proxy's).
[ -s /etc/ssl/certs/ca-certificates.crt ] || PACKAGES+=(ca-certificates)
SERVICES=(bird bird6 etcd)

fail() {
    echo "install-deps: $1 (log: $LOG)" >&2
    exit 1
}

# Stops and disables the packages' own services, only when needed so that a run with everything
# present stays fast. With systemd, `disable --now` stops exactly the unit. Without systemd only the
# boot links are removed: nothing was started (policy-rc.d below), and the init scripts' `stop` kills
# every process named bird, including labs and tests.
quiet_services() {
    local s
    for s in "${SERVICES[@]}"; do
        if [ -d /run/systemd/system ]; then
            if systemctl --quiet is-enabled "$s" 2>/dev/null || systemctl --quiet is-active "$s" 2>/dev/null; then
                systemctl disable --now "$s" >>"$LOG" 2>&1 || fail "could not stop service $s"
                echo "service $s stopped and disabled"
            fi
        elif compgen -G "/etc/rc[2345].d/S[0-9][0-9]$s" >/dev/null; then
            update-rc.d "$s" disable >>"$LOG" 2>&1 || fail "could not disable service $s"
            echo "service $s disabled"
        fi
    done
}

# The test runner (README's test command). The Rust toolchain itself is assumed (rustup).
ensure_nextest() {
    if command -v cargo >/dev/null && ! cargo nextest --version >/dev/null 2>&1; then
        cargo install cargo-nextest --locked >>"$LOG" 2>&1 || fail "cargo install cargo-nextest failed"
        echo "cargo-nextest installed" >>"$LOG"
    fi
}

[ "$(id -u)" -eq 0 ] || fail "must run as root"
command -v apt-get >/dev/null || fail "needs apt-get (Debian 12)"
: >"$LOG"

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
need_bird2=0
[ -x "$BIRD2_DIR/usr/sbin/bird" ] || need_bird2=1
NODESTATUS_DEPS_LOG=$LOG bash "$(dirname "$0")/install-bird-current.sh"
NODESTATUS_DEPS_LOG=$LOG bash "$(dirname "$0")/install-k8s.sh"

if [ "${#missing[@]}" -eq 0 ] && [ "$need_bird2" -eq 0 ]; then
    services=$(quiet_services)
    [ -z "$services" ] || echo "$services" >>"$LOG"
    ensure_nextest
    echo "install-deps: everything present (bird $(dpkg-query -W -f='${Version}' bird), bird2 in $BIRD2_DIR)"
    exit 0
fi

apt-get update >>"$LOG" 2>&1 || fail "apt-get update failed"

if [ "${#missing[@]}" -gt 0 ]; then
    # A policy-rc.d that answers 101 keeps invoke-rc.d and deb-systemd-invoke from starting the
    # services during installation (with or without systemd). An existing one is left alone.
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        own_policy=1
    fi
    status=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" \
        >>"$LOG" 2>&1 || status=$?
    [ "$own_policy" -eq 1 ] && rm -f "$policy"
    [ "$status" -eq 0 ] || fail "apt-get install ${missing[*]} failed"
    quiet_services >>"$LOG"

fi

if [ "$need_bird2" -eq 1 ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && apt-get download bird2) >>"$LOG" 2>&1 || fail "apt-get download bird2 failed"
    mkdir -p "$BIRD2_DIR"
    dpkg -x "$tmp"/bird2_*.deb "$BIRD2_DIR" >>"$LOG" 2>&1 || fail "dpkg -x bird2 failed"
    [ -x "$BIRD2_DIR/usr/sbin/bird" ] || fail "bird2 unpacked but $BIRD2_DIR/usr/sbin/bird is missing"
fi

ensure_nextest

echo "install-deps: installed ${missing[*]:-nothing}$([ "$need_bird2" -eq 1 ] && echo ", bird2 into $BIRD2_DIR") (log: $LOG)"
