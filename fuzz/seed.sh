#!/usr/bin/env bash
# Seeds each fuzz target's corpus (fuzz/corpus/<target>/, not committed) with real inputs:
# the BIRD replies captured from real daemons and the resources of the tests and docs.
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../crates/bird/tests/fixtures
mkdir -p corpus/{reply_framing,show_status,show_protocols,show_route,document}
for f in "$fixtures"/*/*.txt; do
    name=$(basename "$(dirname "$f")")-$(basename "$f")
    cp "$f" "corpus/reply_framing/$name"
    case "$f" in
        *show_status*) cp "$f" "corpus/show_status/$name" ;;
        *show_protocols*) cp "$f" "corpus/show_protocols/$name" ;;
        *show_route*) cp "$f" "corpus/show_route/$name" ;;
    esac
done
cp ../deploy/crd.yaml corpus/document/crd.yaml
cat > corpus/document/seed.yaml <<'YAML'
apiVersion: projectcalico.org/v3
kind: CalicoNodeStatus
metadata: {name: my-caliconodestatus-1, labels: {a: b}}
spec: {classes: [Agent, BGP, Routes], node: my-kadm-node-0, updatePeriodSeconds: 10}
status:
  lastUpdated: "2021-10-18T13:22:03Z"
  agent:
    birdV4: {state: Ready, version: v0.3.3+birdv1.6.8, routerID: 10.128.0.240,
             lastBootTime: "2021-10-18 09:23:19", lastReconfigurationTime: "2021-10-18 09:23:19"}
  bgp:
    numberEstablishedV4: 2
    numberNotEstablishedV4: 1
    peersV4:
    - {peerIP: 10.128.0.242, type: NodeMesh, state: Established, since: "09:23:22"}
  routes:
    routesV4:
    - {type: FIB, destination: 192.168.82.0/26, gateway: 10.128.0.200, interface: eth0,
       learnedFrom: {sourceType: NodeMesh, peerIP: 10.128.0.200}}
---
{"apiVersion": "crd.projectcalico.org/v1", "kind": "CalicoNodeStatus",
 "metadata": {"name": "b"}, "spec": {"classes": [], "node": "n1", "updatePeriodSeconds": 0}}
YAML
