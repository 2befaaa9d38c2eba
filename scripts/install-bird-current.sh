#!/usr/bin/env bash
# Provides current BIRD on Debian 12 without installing anything system-wide (run as root;
# idempotent): BIRD 2.17 (Debian 13's `bird2`) and BIRD 3.1 (Debian 13's `bird3`), unpacked with
# `dpkg -x` under /opt/nodestatus and run through Debian 13's own C library and loader, also
# unpacked there (Debian 13's binaries need glibc 2.38 or newer; Debian 12 has 2.36).
#
# Layout ($NODESTATUS_OPT, default /opt/nodestatus):
#   trixie/          Debian 13's libc6 and the libraries the daemons and birdc need (one copy for
#                    both versions), nothing else
#   bird2.17/        the unpacked bird2 package (usr/sbin/bird, birdc, birdcl)
#   bird3/           the unpacked bird3 package
#   bird2.17/bin/{bird,birdc,birdcl}, bird3/bin/{bird,birdc,birdcl}
#                    wrappers that exec the binary through trixie/'s loader; use them like the
#                    binaries themselves, e.g. `/opt/nodestatus/bird3/bin/bird --version`
#   bird-current.versions
#                    the Debian versions unpacked, one `package version` per line
#
# The packages come from Debian's `trixie` suite through a private apt state (sources list, lists,
# cache and an empty dpkg status in a temporary directory): the system's apt sources, lists and
# caches are not touched. The daemon versions are pinned to 2.17.* and 3.1.* (what trixie serves);
# the libraries are trixie's current ones. The unpacked tree is checked before it is moved into
# place: every library the binaries load must resolve inside trixie/, never to Debian 12's.
# Output goes to $NODESTATUS_DEPS_LOG (default /tmp/nodestatus-install-deps.log, appended to); the
# script prints one summary line. When both are present it does nothing else.
set -euo pipefail

LOG=${NODESTATUS_DEPS_LOG:-/tmp/nodestatus-install-deps.log}
OPT=${NODESTATUS_OPT:-/opt/nodestatus}
SUITE=trixie
MIRROR=http://deb.debian.org/debian
# Debian package, version pattern, directory under $OPT.
DAEMONS=("bird2 2.17.* bird2.17" "bird3 3.1.* bird3")
# What the daemons' binaries load (readelf -d NEEDED, recursively): bird needs libssh (-> libssl,
# zlib, libzstd, Kerberos), birdc readline and ncurses' tinfo. libgcc-s1 is there for glibc, which
# loads libgcc_s at run time to unwind threads on cancellation.
LIBRARIES=(libc6 libgcc-s1 libssh-4 libssl3t64 zlib1g libzstd1 libgssapi-krb5-2 libkrb5-3
    libk5crypto3 libcom-err2 libkrb5support0 libkeyutils1 libreadline8t64 libtinfo6)
LIBROOT=$OPT/$SUITE
LIBDIR=$LIBROOT/usr/lib/x86_64-linux-gnu
LOADER=$LIBDIR/ld-linux-x86-64.so.2
VERSIONS=$OPT/bird-current.versions

fail() {
    echo "install-bird-current: $1 (log: $LOG)" >&2
    exit 1
}

log() {
    echo "install-bird-current: $*" >>"$LOG"
}

# True when `<dir>/bin/bird --version` runs and prints the wanted version.
present() {
    local dir=$1 pattern=$2 out
    out=$("$OPT/$dir/bin/bird" --version 2>&1) || return 1
    # shellcheck disable=SC2053 # $pattern is a glob on purpose.
    [[ $out == "BIRD version "$pattern ]]
}

all_present() {
    local entry package pattern dir
    [ -f "$VERSIONS" ] || return 1
    for entry in "${DAEMONS[@]}"; do
        read -r package pattern dir <<<"$entry"
        present "$dir" "$pattern" || return 1
    done
}

if all_present; then
    echo "install-bird-current: present ($(grep '^bird[23] ' "$VERSIONS" | tr '\n' ' ')in $OPT)"
    exit 0
fi

[ "$(id -u)" -eq 0 ] || fail "must run as root"
[ "$(dpkg --print-architecture)" = amd64 ] || fail "only amd64 is supported (the loader path is x86-64's)"
command -v apt-get >/dev/null || fail "needs apt-get (Debian 12)"

started=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/state/lists/partial" "$work/cache/archives/partial" "$work/etc/sources.list.d" \
    "$work/etc/preferences.d" "$work/debs"
: >"$work/state/status"
# Only the Packages index: no translations, no DEP-11/Contents targets the system's config may add.
echo "deb [arch=amd64 target=Packages] $MIRROR $SUITE main" >"$work/etc/sources.list"
# apt downloads as the unprivileged _apt user where it exists; it must be able to write there.
if id _apt >/dev/null 2>&1; then
    chown _apt "$work/debs"
fi
APT=(
    -o "Dir::State=$work/state"
    -o "Dir::State::Lists=$work/state/lists"
    -o "Dir::State::status=$work/state/status"
    -o "Dir::Etc::sourcelist=$work/etc/sources.list"
    -o "Dir::Etc::sourceparts=$work/etc/sources.list.d"
    -o "Dir::Etc::preferences=$work/etc/preferences"
    -o "Dir::Etc::preferencesparts=$work/etc/preferences.d"
    -o "Dir::Cache=$work/cache"
    -o "Acquire::Languages=none"
)

log "updating a private package list for $SUITE from $MIRROR"
apt-get -q "${APT[@]}" update >>"$LOG" 2>&1 || fail "apt-get update of $SUITE failed"

wanted=("${LIBRARIES[@]}")
for entry in "${DAEMONS[@]}"; do
    read -r package pattern dir <<<"$entry"
    wanted+=("$package=$pattern")
done
log "downloading ${wanted[*]}"
(cd "$work/debs" && apt-get -q "${APT[@]}" download "${wanted[@]}") >>"$LOG" 2>&1 ||
    fail "apt-get download from $SUITE failed"

# Everything is unpacked into a staging directory beside the final ones and moved into place only
# once it runs, so that an interrupted run never leaves a tree that looks present.
mkdir -p "$OPT"
stage=$(mktemp -d "$OPT/.install-bird-current.XXXXXX")
trap 'rm -rf "$work" "$stage"' EXIT
deb_of() {
    local files=("$work/debs/$1"_*.deb)
    [ "${#files[@]}" -eq 1 ] && [ -f "${files[0]}" ] || fail "expected one downloaded $1 package"
    echo "${files[0]}"
}
: >"$stage/versions"
for package in "${LIBRARIES[@]}"; do
    deb=$(deb_of "$package")
    dpkg -x "$deb" "$stage/$SUITE" >>"$LOG" 2>&1 || fail "dpkg -x $package failed"
    echo "$package $(dpkg-deb -f "$deb" Version)" >>"$stage/versions"
done
# Only the libraries are wanted from the library packages.
find "$stage/$SUITE" -mindepth 1 -maxdepth 1 ! -name usr -exec rm -rf {} +
find "$stage/$SUITE/usr" -mindepth 1 -maxdepth 1 ! -name lib -exec rm -rf {} +
stage_libdir=$stage/$SUITE/usr/lib/x86_64-linux-gnu
[ -x "$stage_libdir/ld-linux-x86-64.so.2" ] || fail "libc6 unpacked without its loader"

for entry in "${DAEMONS[@]}"; do
    read -r package pattern dir <<<"$entry"
    deb=$(deb_of "$package")
    dpkg -x "$deb" "$stage/$dir" >>"$LOG" 2>&1 || fail "dpkg -x $package failed"
    echo "$package $(dpkg-deb -f "$deb" Version)" >>"$stage/versions"
    mkdir -p "$stage/$dir/bin"
    for binary in bird birdc birdcl; do
        [ -x "$stage/$dir/usr/sbin/$binary" ] || fail "$package has no usr/sbin/$binary"
        # Written with the final paths; checked below through the staged ones.
        cat >"$stage/$dir/bin/$binary" <<EOF
#!/bin/sh
# $binary of Debian 13's $package $(dpkg-deb -f "$deb" Version), run through Debian 13's own loader and
# libraries in $LIBROOT (written by nodestatus's scripts/install-bird-current.sh).
exec $LOADER --library-path $LIBDIR --argv0 "\$0" $OPT/$dir/usr/sbin/$binary "\$@"
EOF
        chmod 755 "$stage/$dir/bin/$binary"
        # Every library must come from the unpacked tree: the loader falls back to the system's
        # (Debian 12's) directories for one that is missing there.
        resolved=$("$stage_libdir/ld-linux-x86-64.so.2" --library-path "$stage_libdir" \
            --list "$stage/$dir/usr/sbin/$binary" 2>&1) || fail "$package $binary: $resolved"
        echo "$package $binary:" >>"$LOG"
        echo "$resolved" >>"$LOG"
        outside=$(echo "$resolved" | grep '=>' | grep -v "=> $stage_libdir/" || true)
        [ -z "$outside" ] || fail "$package $binary loads libraries from outside $LIBROOT: $outside"
    done
    version=$("$stage_libdir/ld-linux-x86-64.so.2" --library-path "$stage_libdir" \
        "$stage/$dir/usr/sbin/bird" --version 2>&1) || fail "$package: bird --version failed: $version"
    # shellcheck disable=SC2053 # $pattern is a glob on purpose.
    [[ $version == "BIRD version "$pattern ]] || fail "$package runs as $version, not $pattern"
    log "$package: $version"
done

# Into place: the library tree first (the wrappers need it), the versions file last (the mark
# that everything is there).
rm -f "$VERSIONS"
dirs=("$SUITE")
for entry in "${DAEMONS[@]}"; do
    read -r package pattern dir <<<"$entry"
    dirs+=("$dir")
done
for dir in "${dirs[@]}"; do
    rm -rf "${OPT:?}/$dir"
    mv "$stage/$dir" "$OPT/$dir"
done
mv "$stage/versions" "$VERSIONS"
all_present || fail "installed, but the wrappers in $OPT do not run"

log "versions: $(tr '\n' ';' <"$VERSIONS")"
echo "install-bird-current: installed $(grep '^bird[23] ' "$VERSIONS" | tr '\n' ' ')in $OPT ($(du -sch "${dirs[@]/#/$OPT/}" | tail -1 | cut -f1)) in $(($(date +%s) - started)) s (log: $LOG)"
