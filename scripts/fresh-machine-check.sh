#!/usr/bin/env bash
# The newcomer's path, proven on a brand-new Debian 12 root: the README's set-up command, read
# from README.md and run exactly as written, then what a newcomer types next: `nodestatus get`
# (three statuses, every mesh session established), `get -o yaml`, `lab down` (nothing left);
# then the same with BIRD 2.17 and BIRD 3 (`lab up --bird 2.17|3`, two nodes each).
#
# The root comes from ../shared/tools/fresh-debian (debootstrap minbase plus this machine's Rust
# toolchain; FRESH_DEBIAN names another copy); debootstrap is installed when missing. .ci/run runs
# this before the tests, so a missing install step fails CI instead of a newcomer. Needs root.
# The build inside the root is the only one it makes (about 5 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
    echo "fresh-machine-check: $1" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || fail "must run as root"
fresh=${FRESH_DEBIAN:-../shared/tools/fresh-debian}
[ -x "$fresh" ] || fail "no fresh-debian tool at $fresh (set FRESH_DEBIAN)"
if ! command -v debootstrap >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap \
        >/tmp/nodestatus-debootstrap-install.log 2>&1 \
        || fail "apt-get install debootstrap failed (log: /tmp/nodestatus-debootstrap-install.log)"
fi

# The first line of the first sh block under the README's set-up heading: the command itself.
setup=$(awk '/^## Set up a fresh Debian 12 machine/ {in_section=1; next}
             in_section && /^```sh/ {getline; print; exit}' README.md)
[ -n "$setup" ] || fail "README.md has no set-up command under '## Set up a fresh Debian 12 machine'"
echo "fresh-machine-check: README set-up command: $setup"

# Runs inside the root, in /build/repo (a copy of this checkout without target/).
inside=$(cat <<'EOF'
set -euo pipefail
# The root shares /run/netns with this machine, and a lab outlives a failed check: take down
# whatever lab is up (they all use the default directory) before leaving with an error.
take_down_on_failure() {
    local status=$?
    if [ "$status" -ne 0 ] && [ -x target/release/nodestatus ]; then
        target/release/nodestatus lab down >&2 || true
    fi
    return "$status"
}
trap take_down_on_failure EXIT
step() { echo "fresh-machine-check: $1 ($((SECONDS - started)) s since the start)"; }
started=$SECONDS
step "running the README's set-up command"
bash -c "$SETUP"
step "set-up done; reading the lab back as a newcomer would"
ns=target/release/nodestatus
get=$("$ns" get)
echo "$get"
rows=$(printf '%s\n' "$get" | tail -n +2)
[ "$(printf '%s\n' "$rows" | grep -c '^lab-n[123] ')" -eq 3 ] \
    || { echo "nodestatus get does not list the lab's 3 statuses" >&2; exit 1; }
# Every node: its mesh sessions (2 per family) established in the BGP column "x/y established".
printf '%s\n' "$rows" | awk '{ if ($0 !~ / 4\/[0-9]+ established/) bad = 1 } END { exit bad }' \
    || { echo "a node's mesh sessions are not all established" >&2; exit 1; }
# A list, as kubectl prints one: `kind: CalicoNodeStatusList` with one item per resource.
"$ns" get -o yaml | grep -cE '^ +kind: CalicoNodeStatus$' | grep -qx 3 \
    || { echo "nodestatus get -o yaml does not show 3 resources" >&2; exit 1; }
"$ns" lab down
step "lab down done"
left=$(ip netns list | grep -c '^nsl-' || true)
[ "$left" -eq 0 ] || { echo "lab down left $left namespaces" >&2; exit 1; }
[ ! -e /run/nodestatus/context.json ] || { echo "lab down left the current context" >&2; exit 1; }
if "$ns" get 2>&1 | grep -q "datastore of the lab"; then
    echo "nodestatus get after lab down still reads the lab's datastore" >&2
    exit 1
fi
# Current BIRD, as the README's set-up provides it: a 2-node lab each, read back, taken down.
for bird in 2.17 3; do
    "$ns" lab up --bird "$bird" --nodes 2 >/dev/null
    out=$("$ns" get)
    [ "$(printf '%s\n' "$out" | grep -c ' 2/[0-9]* established')" -eq 2 ] \
        || { echo "lab up --bird $bird: not every mesh session established:" >&2; echo "$out" >&2; exit 1; }
    "$ns" lab down >/dev/null
    step "lab up --bird $bird, get, lab down done"
done
step "done"
EOF
)
started=$SECONDS
"$fresh" --lab --go . -- env SETUP="$setup" bash -c "$inside"
echo "fresh-machine-check: passed in $((SECONDS - started)) s"
