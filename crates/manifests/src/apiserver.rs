//! `nodestatus apiserver` in a cluster, the way Calico's API server runs: a Deployment behind a
//! Service, registered with kube-apiserver's aggregation layer as the `APIService`
//! `v3.projectcalico.org`, so `kubectl ... caliconodestatus` (apiVersion `projectcalico.org/v3`)
//! reaches it through Kubernetes, and it stores the objects as the CRD
//! `caliconodestatuses.crd.projectcalico.org` (the Kubernetes datastore).
//!
//! Authentication is kube-apiserver's: the pod trusts the front proxy's client certificate
//! (the request-header CA, mounted from the ConfigMap `extension-apiserver-authentication`
//! that kube-apiserver publishes in `kube-system`) and serves the user it names; it accepts no
//! other caller (no token file); only the certificate names kube-apiserver publishes there
//! (`requestheader-allowed-names`) are accepted. Authorization is kube-apiserver's RBAC on
//! `caliconodestatuses.projectcalico.org`, checked before a request is proxied and again by the
//! server with a SubjectAccessReview: its service account is bound to `system:auth-delegator`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapKeySelector, ConfigMapVolumeSource, Container, ContainerPort,
    EmptyDirVolumeSource, EnvVar, EnvVarSource, HTTPGetAction, KeyToPath, PodSecurityContext,
    PodSpec, PodTemplateSpec, Probe, SeccompProfile, SecurityContext, Service, ServiceAccount,
    ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::{
    APIService, APIServiceSpec, ServiceReference,
};
use nodestatus_api::PLURAL;

use crate::NAMESPACE;

/// The name of the ServiceAccount, ClusterRole(Binding), Deployment and Service.
pub(crate) const NAME: &str = "nodestatus-apiserver";
/// The port the server listens on in the pod.
const PORT: i32 = 6443;
/// Where the request-header CA is mounted.
const REQUESTHEADER_DIR: &str = "/var/run/nodestatus/requestheader";
/// Where the self-signed serving certificate is generated.
const CERT_DIR: &str = "/var/run/nodestatus/apiserver";

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app.kubernetes.io/name".to_owned(), NAME.to_owned())])
}

fn meta(name: &str, namespaced: bool) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: namespaced.then(|| NAMESPACE.into()),
        labels: Some(labels()),
        ..ObjectMeta::default()
    }
}

/// The objects, in apply order.
pub(crate) struct Objects {
    pub(crate) account: ServiceAccount,
    pub(crate) role: ClusterRole,
    pub(crate) binding: ClusterRoleBinding,
    /// Lets the server ask Kubernetes whether a user may do what it asks (SubjectAccessReview).
    pub(crate) auth_delegator: ClusterRoleBinding,
    pub(crate) deployment: Deployment,
    pub(crate) service: Service,
    pub(crate) api_service: APIService,
}

pub(crate) fn objects(image: &str) -> Objects {
    let rule = |resource: String, verbs: &[&str]| PolicyRule {
        api_groups: Some(vec!["crd.projectcalico.org".into()]),
        resources: Some(vec![resource]),
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        ..PolicyRule::default()
    };
    Objects {
        account: ServiceAccount {
            metadata: meta(NAME, true),
            ..ServiceAccount::default()
        },
        // The server stores what kubectl sends it as the CRD: every verb on the objects, and
        // their status for the `/status` subresource.
        role: ClusterRole {
            metadata: meta(NAME, false),
            rules: Some(vec![
                rule(
                    PLURAL.to_owned(),
                    &[
                        "get", "list", "watch", "create", "update", "patch", "delete",
                    ],
                ),
                rule(format!("{PLURAL}/status"), &["get", "update", "patch"]),
            ]),
            ..ClusterRole::default()
        },
        binding: bind(NAME, NAME),
        auth_delegator: bind(
            &format!("{NAME}:system:auth-delegator"),
            "system:auth-delegator",
        ),
        deployment: deployment(image),
        service: Service {
            metadata: meta(NAME, true),
            spec: Some(ServiceSpec {
                selector: Some(labels()),
                ports: Some(vec![ServicePort {
                    name: Some("https".into()),
                    port: 443,
                    target_port: Some(IntOrString::String("https".into())),
                    protocol: Some("TCP".into()),
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        },
        api_service: APIService {
            metadata: ObjectMeta {
                name: Some("v3.projectcalico.org".into()),
                labels: Some(labels()),
                ..ObjectMeta::default()
            },
            spec: Some(APIServiceSpec {
                group: Some("projectcalico.org".into()),
                version: Some("v3".into()),
                group_priority_minimum: 1500,
                version_priority: 200,
                // Each pod generates its own self-signed certificate, which no CA bundle can
                // name in advance: serve a certificate from your CA (--tls-cert-file) and put
                // that CA in `caBundle` instead to have kube-apiserver verify the pod.
                insecure_skip_tls_verify: Some(true),
                service: Some(ServiceReference {
                    name: Some(NAME.into()),
                    namespace: Some(NAMESPACE.into()),
                    port: Some(443),
                }),
                ..APIServiceSpec::default()
            }),
            ..APIService::default()
        },
    }
}

/// The ClusterRoleBinding `name` of the server's service account to the ClusterRole `role`.
fn bind(name: &str, role: &str) -> ClusterRoleBinding {
    crate::rbac::bind_account(meta(name, false), role, NAME)
}

fn deployment(image: &str) -> Deployment {
    let args = [
        "apiserver",
        "--listen",
        &format!("0.0.0.0:{PORT}"),
        "--cert-dir",
        CERT_DIR,
        "--requestheader-client-ca-file",
        &format!("{REQUESTHEADER_DIR}/ca.pem"),
        "--datastore-type",
        "kubernetes",
    ];
    let container = Container {
        name: "apiserver".into(),
        image: Some(image.into()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec!["nodestatus".into()]),
        args: Some(args.iter().map(|a| (*a).to_owned()).collect()),
        // The front proxy's certificate names kube-apiserver publishes (a JSON list).
        env: Some(vec![EnvVar {
            name: "NODESTATUS_REQUESTHEADER_ALLOWED_NAMES".into(),
            value_from: Some(EnvVarSource {
                config_map_key_ref: Some(ConfigMapKeySelector {
                    name: "extension-apiserver-authentication".into(),
                    key: "requestheader-allowed-names".into(),
                    optional: Some(true),
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        }]),
        ports: Some(vec![ContainerPort {
            name: Some("https".into()),
            container_port: PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/readyz".into()),
                port: IntOrString::String("https".into()),
                scheme: Some("HTTPS".into()),
                ..HTTPGetAction::default()
            }),
            period_seconds: Some(10),
            ..Probe::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "requestheader-ca".into(),
                mount_path: REQUESTHEADER_DIR.into(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "serving-cert".into(),
                mount_path: CERT_DIR.into(),
                ..VolumeMount::default()
            },
        ]),
        ..Container::default()
    };
    let pod = PodSpec {
        service_account_name: Some(NAME.into()),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(65534),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        containers: vec![container],
        volumes: Some(vec![
            // kube-apiserver publishes its --requestheader-client-ca-file here.
            Volume {
                name: "requestheader-ca".into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: "extension-apiserver-authentication".into(),
                    items: Some(vec![KeyToPath {
                        key: "requestheader-client-ca-file".into(),
                        path: "ca.pem".into(),
                        ..KeyToPath::default()
                    }]),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            },
            Volume {
                name: "serving-cert".into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            },
        ]),
        ..PodSpec::default()
    };
    Deployment {
        metadata: meta(NAME, true),
        spec: DeploymentSpec {
            // The state is the datastore's; more replicas only add availability.
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(labels()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels()),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..DeploymentSpec::default()
        },
        ..Deployment::default()
    }
}
