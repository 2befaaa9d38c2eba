#!/usr/bin/env bash
# Builds the real Kubernetes control plane the tests and `nodestatus lab up --datastore-type
# kubernetes` run: kube-apiserver and the etcd it is released with, compiled from Kubernetes' and
# etcd's own Go modules (k8s/: a go.mod naming the release, and two small mains calling the
# upstream commands; nothing vendored). Needs Go (the version k8s/go.mod names or newer) and the
# Go module proxy. Run as root; idempotent.
#
# Layout ($NODESTATUS_OPT, default /opt/nodestatus):
#   k8s/<kubernetes version>/bin/kube-apiserver, k8s/<kubernetes version>/bin/etcd
# keyed by the version, so a second run (or a run after `git pull` with the same release) costs
# nothing; a new release in k8s/go.mod builds beside the old one. Measured on a 2-core machine:
# a first build takes ~9 minutes (module download ~1 GB in GOMODCACHE, build cache ~2 GB in
# GOCACHE, binaries 125 MB); a cached run well under a second.
# Output goes to $NODESTATUS_DEPS_LOG (default /tmp/nodestatus-install-deps.log, appended to);
# the script prints one summary line.
set -euo pipefail

LOG=${NODESTATUS_DEPS_LOG:-/tmp/nodestatus-install-deps.log}
OPT=${NODESTATUS_OPT:-/opt/nodestatus}
SRC=$(cd "$(dirname "$0")/../k8s" && pwd)

fail() {
    echo "install-k8s: $1 (log: $LOG)" >&2
    exit 1
}

version=$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$SRC/go.mod")
etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2; exit }' "$SRC/go.mod")
[ -n "$version" ] && [ -n "$etcd_version" ] || fail "k8s/go.mod names no k8s.io/kubernetes or etcd server version"
out=$OPT/k8s/$version/bin

present() {
    "$out/kube-apiserver" --version 2>/dev/null | grep -qx "Kubernetes $version" &&
        "$out/etcd" --version 2>/dev/null | grep -qx "etcd Version: ${etcd_version#v}"
}

if present; then
    echo "install-k8s: kube-apiserver $version and etcd $etcd_version present in $out"
    exit 0
fi

command -v go >/dev/null || fail "Go is not on PATH (kube-apiserver $version is built from its Go modules; Go 1.24 or newer)"
minor=${version#v}
minor=${minor#*.}
minor=${minor%%.*}
started=$SECONDS
mkdir -p "$out"
tmp=$(mktemp -d "$OPT/k8s/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# The version stamps are what Kubernetes' own build (hack/lib/version.sh) writes; kube-apiserver
# reports them in /version and kubectl compares them.
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version
    -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor
    -X k8s.io/client-go/pkg/version.gitVersion=$version -X k8s.io/component-base/version.gitTreeState=clean"
echo "install-k8s: building kube-apiserver $version and etcd $etcd_version" >>"$LOG"
(cd "$SRC" && go build -mod=readonly -buildvcs=false -trimpath -ldflags "$ldflags" -o "$tmp/" ./cmd/kube-apiserver ./cmd/etcd) \
    >>"$LOG" 2>&1 || fail "go build of kube-apiserver $version failed"
mv "$tmp/kube-apiserver" "$tmp/etcd" "$out/"
present || fail "built, but $out does not report kube-apiserver $version and etcd $etcd_version"
echo "install-k8s: built kube-apiserver $version and etcd $etcd_version into $out in $((SECONDS - started)) s"
