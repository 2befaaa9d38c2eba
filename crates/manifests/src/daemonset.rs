//! The agent's DaemonSet: one pod per node, reading BIRD's control sockets from the host and
//! reporting into the Kubernetes datastore.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction,
    HostPathVolumeSource, ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecurityContext, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::{NAME, NAMESPACE};

/// The agent's HTTP port: `/metrics`, `/healthz`, `/readyz`.
const PORT: i32 = 9094;
/// Where calico-node's BIRD puts `bird.ctl` and `bird6.ctl` on the host (and where the agent
/// looks by default).
const BIRD_RUN_DIR: &str = "/var/run/calico";
/// An unprivileged user. BIRD creates its sockets `root:root` mode 0660, so group 0 is what
/// grants `connect()`; no capability and no root user is needed.
const RUN_AS_USER: i64 = 65534;
const RUN_AS_GROUP: i64 = 0;

/// The labels of every object, and the DaemonSet's selector.
pub(crate) fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app.kubernetes.io/name".to_owned(), NAME.to_owned())])
}

pub(crate) fn object(image: &str) -> DaemonSet {
    DaemonSet {
        metadata: ObjectMeta {
            name: Some(NAME.into()),
            namespace: Some(NAMESPACE.into()),
            labels: Some(labels()),
            ..ObjectMeta::default()
        },
        spec: DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(labels()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels()),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod(image)),
            },
            ..DaemonSetSpec::default()
        },
        ..DaemonSet::default()
    }
}

fn pod(image: &str) -> PodSpec {
    PodSpec {
        service_account_name: Some(NAME.into()),
        node_selector: Some(BTreeMap::from([(
            "kubernetes.io/os".to_owned(),
            "linux".to_owned(),
        )])),
        // Every node runs BIRD, tainted or not (control plane, NoExecute, ...): tolerate all.
        tolerations: Some(vec![Toleration {
            operator: Some("Exists".into()),
            ..Toleration::default()
        }]),
        // No host network: BIRD is reached through Unix sockets on a hostPath, which do not
        // depend on the network namespace, and the HTTP port stays off the node's addresses.
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS_USER),
            run_as_group: Some(RUN_AS_GROUP),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        termination_grace_period_seconds: Some(10),
        containers: vec![agent(image)],
        volumes: Some(vec![Volume {
            name: "bird-sockets".into(),
            // `Directory`: the pod waits for calico-node to create it instead of creating an
            // empty one on the host.
            host_path: Some(HostPathVolumeSource {
                path: BIRD_RUN_DIR.into(),
                type_: Some("Directory".into()),
            }),
            ..Volume::default()
        }]),
        ..PodSpec::default()
    }
}

fn agent(image: &str) -> Container {
    Container {
        name: "agent".into(),
        image: Some(image.into()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec!["nodestatus".into(), "agent".into()]),
        env: Some(vec![
            EnvVar {
                name: "NODENAME".into(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: "spec.nodeName".into(),
                        ..ObjectFieldSelector::default()
                    }),
                    ..EnvVarSource::default()
                }),
                ..EnvVar::default()
            },
            env("DATASTORE_TYPE", "kubernetes"),
            // All addresses of the pod's own network namespace, so the kubelet's probes (sent
            // to the pod IP) and Prometheus reach it.
            env("NODESTATUS_LISTEN", &format!("0.0.0.0:{PORT}")),
        ]),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        liveness_probe: Some(probe("/healthz")),
        readiness_probe: Some(probe("/readyz")),
        // Calico measured +4 MB and 5% of a vCPU for its reporter; the limit leaves room for a
        // full routing table (100,000 routes are a 6 MB reply).
        resources: Some(ResourceRequirements {
            requests: Some(quantities("10m", "32Mi")),
            limits: Some(quantities("250m", "256Mi")),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "bird-sockets".into(),
            mount_path: BIRD_RUN_DIR.into(),
            // connect() on a Unix socket needs write permission on the socket, which a read-only
            // mount does not take away (it only refuses to create or change files): the agent
            // cannot touch anything else in calico-node's directory.
            read_only: Some(true),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

fn probe(path: &str) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(10),
        timeout_seconds: Some(5),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

fn quantities(cpu: &str, memory: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_owned(), Quantity(cpu.into())),
        ("memory".to_owned(), Quantity(memory.into())),
    ])
}
