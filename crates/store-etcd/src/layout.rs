//! Where and how a `CalicoNodeStatus` sits in etcd: the key Calico's etcdv3 backend uses for a
//! cluster-scoped v3 resource and the JSON value it stores (see the crate docs for the sources).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use nodestatus_api::{ApiVersion, CRD_API_VERSION, CalicoNodeStatus, WriteError, to_value};
use serde_json::Value;

/// The prefix of every CalicoNodeStatus key (`model.ResourceKey.defaultPath` for a
/// cluster-scoped kind, plural `caliconodestatuses`).
pub(crate) const KEY_PREFIX: &str = "/calico/resources/v3/projectcalico.org/caliconodestatuses/";

/// The key of the object named `name`.
pub(crate) fn key(name: &str) -> String {
    format!("{KEY_PREFIX}{name}")
}

/// The object name a key stands for, if the key is one of ours: directly under the prefix, with
/// no further `/` (Calico's `matchGlobalResource` regex; anything else is skipped as Calico does).
pub(crate) fn name_of(key: &[u8]) -> Option<&str> {
    let name = std::str::from_utf8(key).ok()?.strip_prefix(KEY_PREFIX)?;
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

/// The prefix of the per-node index (ours, outside `/calico/` so Calico's tools never see it):
/// one empty-valued key `<prefix><node>/<name>` per object, written in the same transaction as
/// the object's create, spec update and delete, never by a status write.
pub(crate) const INDEX_PREFIX: &str = "/nodestatus/v1/caliconodestatuses-by-node/";
/// When the index was last checked for objects written without it, by any watcher (Unix
/// milliseconds): the claim that lets one watcher per interval, not every one, do it.
pub(crate) const INDEX_CHECKED_KEY: &str = "/nodestatus/v1/index-checked";

/// The index key saying object `name` is reported on by `node`.
pub(crate) fn index_key(node: &str, name: &str) -> String {
    format!("{INDEX_PREFIX}{node}/{name}")
}

/// The prefix of `node`'s index keys: what that node's agent watches.
pub(crate) fn node_index_prefix(node: &str) -> String {
    format!("{INDEX_PREFIX}{node}/")
}

/// The (node, object name) an index key stands for. The name is the last segment (names hold no
/// `/`); the node is what comes before it.
pub(crate) fn index_entry(key: &[u8]) -> Option<(&str, &str)> {
    let rest = std::str::from_utf8(key).ok()?.strip_prefix(INDEX_PREFIX)?;
    let (node, name) = rest.rsplit_once('/')?;
    (!node.is_empty() && !name.is_empty()).then_some((node, name))
}

/// True when `name` can be the name of a stored object (and so cannot address another key).
pub(crate) fn is_storable_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('/')
}

/// Gives a new object the metadata the store owns, as Calico's `resources.Create` does: a random
/// UID and the creation time in whole seconds (what `metav1.Time` keeps).
pub(crate) fn stamp_new(obj: &mut CalicoNodeStatus, now: Timestamp) {
    obj.metadata.uid = Some(uuid::Uuid::new_v4().to_string());
    let seconds = Timestamp::from_second(now.as_second()).unwrap_or(now);
    obj.metadata.creation_timestamp = Some(Time(seconds));
    obj.metadata.generation = Some(nodestatus_store::FIRST_GENERATION);
}

/// The stored value: the v3 resource as JSON, without `resourceVersion` and `selfLink`
/// (`resources.resourceToKVPair` clears both; the revision lives in etcd, not in the value).
pub(crate) fn encode(obj: &CalicoNodeStatus) -> Result<Vec<u8>, WriteError> {
    let mut stored = obj.clone();
    stored.metadata.resource_version = None;
    stored.metadata.self_link = None;
    Ok(serde_json::to_vec(&to_value(&stored, ApiVersion::V3)?)?)
}

/// Reads a stored value; the resource version is the key's mod revision, as Calico's
/// `etcdToKVPair` sets it.
pub(crate) fn decode(
    value: &[u8],
    mod_revision: i64,
) -> Result<CalicoNodeStatus, serde_json::Error> {
    let mut doc: Value = serde_json::from_slice(value)?;
    // The typed resource is the CRD form; spec and status are the same in both forms.
    if let Some(map) = doc.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(CRD_API_VERSION.into()));
    }
    let mut obj: CalicoNodeStatus = serde_json::from_value(doc)?;
    obj.metadata.resource_version = Some(mod_revision.to_string());
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use nodestatus_api::{CalicoNodeStatusSpec, CalicoNodeStatusStatus, NodeStatusClass};
    use serde_json::json;

    fn object() -> CalicoNodeStatus {
        let mut obj = CalicoNodeStatus::new(
            "status-1",
            CalicoNodeStatusSpec {
                classes: vec![NodeStatusClass::Agent, NodeStatusClass::Bgp],
                node: "node-0".into(),
                update_period_seconds: 10,
            },
        );
        obj.metadata = ObjectMeta {
            name: Some("status-1".into()),
            uid: Some("6f1d1d63-9d0c-4b8a-9a0c-0b7a9a2f5c11".into()),
            resource_version: Some("42".into()),
            self_link: Some("/apis/whatever".into()),
            creation_timestamp: Some(Time(
                Timestamp::from_second(1_634_563_323).unwrap_or_default(),
            )),
            ..ObjectMeta::default()
        };
        obj.status = Some(CalicoNodeStatusStatus {
            last_updated: Some("2021-10-18T13:22:03Z".into()),
            ..CalicoNodeStatusStatus::default()
        });
        obj
    }

    #[test]
    fn keys_are_calicos_cluster_scoped_resource_paths() {
        assert_eq!(
            key("status-1"),
            "/calico/resources/v3/projectcalico.org/caliconodestatuses/status-1"
        );
        assert_eq!(name_of(key("status-1").as_bytes()), Some("status-1"));
    }

    #[test]
    fn index_keys_name_the_node_and_the_object() {
        let entry = index_key("node-1", "status-1");
        assert_eq!(
            entry,
            "/nodestatus/v1/caliconodestatuses-by-node/node-1/status-1"
        );
        assert_eq!(index_entry(entry.as_bytes()), Some(("node-1", "status-1")));
        assert!(entry.starts_with(&node_index_prefix("node-1")));
        assert!(!entry.starts_with(&node_index_prefix("node-")));
        assert_eq!(index_entry(INDEX_PREFIX.as_bytes()), None);
        assert_eq!(index_entry(key("x").as_bytes()), None);
    }

    #[test]
    fn keys_below_or_beside_ours_have_no_name() {
        assert_eq!(name_of(format!("{KEY_PREFIX}a/b").as_bytes()), None);
        assert_eq!(name_of(KEY_PREFIX.as_bytes()), None);
        assert_eq!(
            name_of(b"/calico/resources/v3/projectcalico.org/bgppeers/a"),
            None
        );
    }

    #[test]
    fn the_value_is_the_v3_resource_without_resource_version_or_self_link() {
        let value: Value =
            serde_json::from_slice(&encode(&object()).unwrap_or_else(|e| panic!("{e}")))
                .unwrap_or_default();
        assert_eq!(
            value,
            json!({
                "apiVersion": "projectcalico.org/v3",
                "kind": "CalicoNodeStatus",
                "metadata": {
                    "name": "status-1",
                    "uid": "6f1d1d63-9d0c-4b8a-9a0c-0b7a9a2f5c11",
                    "creationTimestamp": "2021-10-18T13:22:03Z",
                },
                "spec": {"classes": ["Agent", "BGP"], "node": "node-0", "updatePeriodSeconds": 10},
                "status": {"lastUpdated": "2021-10-18T13:22:03Z"},
            })
        );
    }

    #[test]
    fn a_decoded_value_takes_its_resource_version_from_the_mod_revision() {
        let decoded = decode(&encode(&object()).unwrap_or_else(|e| panic!("{e}")), 77).ok();
        let mut expected = object();
        expected.metadata.resource_version = Some("77".into());
        expected.metadata.self_link = None;
        assert_eq!(decoded, Some(expected));
    }

    /// The exact shape Go's `json.Marshal` gives Calico's `apiv3.CalicoNodeStatus` (struct fields
    /// without `omitempty` are written even when empty, `lastUpdated` as null). The empty
    /// `agent` and `routes` read as absent; `bgp`'s counts are kept.
    #[test]
    fn a_value_written_by_calico_is_read() {
        let calico = br#"{"kind":"CalicoNodeStatus","apiVersion":"projectcalico.org/v3","metadata":{"name":"status-1","uid":"6f1d1d63-9d0c-4b8a-9a0c-0b7a9a2f5c11","creationTimestamp":"2021-10-18T13:22:03Z"},"spec":{"node":"node-0","classes":["Agent","BGP"],"updatePeriodSeconds":10},"status":{"lastUpdated":null,"agent":{"birdV4":{},"birdV6":{}},"bgp":{"numberEstablishedV4":0,"numberNotEstablishedV4":0,"numberEstablishedV6":0,"numberNotEstablishedV6":0},"routes":{}}}"#;
        let decoded = decode(calico, 5).ok();
        let mut expected = object();
        expected.metadata.resource_version = Some("5".into());
        expected.metadata.self_link = None;
        expected.status = Some(CalicoNodeStatusStatus {
            last_updated: None,
            agent: None,
            bgp: Some(Default::default()),
            routes: None,
        });
        assert_eq!(decoded, Some(expected));
    }

    #[test]
    fn new_objects_get_a_uid_and_a_creation_time_in_whole_seconds() {
        let mut obj = object();
        obj.metadata.uid = None;
        let now = Timestamp::from_nanosecond(1_634_563_323_987_654_321).unwrap_or_default();
        stamp_new(&mut obj, now);
        let uid = obj.metadata.uid.clone().unwrap_or_default();
        assert_eq!(
            uuid::Uuid::parse_str(&uid)
                .map(|u| u.get_version_num())
                .ok(),
            Some(4)
        );
        assert_eq!(
            obj.metadata.creation_timestamp,
            Some(Time(
                Timestamp::from_second(1_634_563_323).unwrap_or_default()
            ))
        );
    }
}
