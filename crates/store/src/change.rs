//! What an update of an existing object replaces, written once for every backend: the spec
//! (`Datastore::update_spec`), or the spec with the labels and annotations
//! (`Datastore::update`), and the field ownership (`managedFields`) when the object carries it
//! (the API server's server-side apply keeps it; other writers leave it as stored). The status
//! and the metadata the store owns are kept; the generation grows when, and only when, the spec
//! changes (as Kubernetes keeps `metadata.generation`).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use nodestatus_api::{CalicoNodeStatus, CalicoNodeStatusSpec};

/// The fields an update replaces on an existing object.
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    /// The spec only; labels and annotations stay as stored.
    Spec(&'a CalicoNodeStatusSpec),
    /// This object's spec, labels and annotations (absent ones are removed), and its
    /// `managedFields` when it has them (absent, the stored ones are kept).
    SpecAndLabels(&'a CalicoNodeStatus),
}

impl<'a> Change<'a> {
    /// The new spec.
    pub fn spec(&self) -> &'a CalicoNodeStatusSpec {
        match self {
            Change::Spec(spec) => spec,
            Change::SpecAndLabels(obj) => &obj.spec,
        }
    }

    /// The object as the caller asks for it, named `name`, to validate before anything is read
    /// or stored.
    pub fn candidate(&self, name: &str) -> CalicoNodeStatus {
        let mut obj = match self {
            Change::Spec(spec) => CalicoNodeStatus::new(name, (*spec).clone()),
            Change::SpecAndLabels(obj) => (*obj).clone(),
        };
        obj.metadata.name = Some(name.to_owned());
        obj
    }

    /// True when applying the change to `obj` would store something different: another spec,
    /// or (for `SpecAndLabels`) other labels or annotations, an empty map counting as none, or
    /// other `managedFields`.
    pub fn changes(&self, obj: &CalicoNodeStatus) -> bool {
        let differ = |new: &Option<BTreeMap<String, String>>,
                      old: &Option<BTreeMap<String, String>>| {
            non_empty(new) != non_empty(old)
        };
        *self.spec() != obj.spec
            || matches!(self, Change::SpecAndLabels(new)
            if differ(&new.metadata.labels, &obj.metadata.labels)
                || differ(&new.metadata.annotations, &obj.metadata.annotations)
                || new.metadata.managed_fields.as_ref().is_some_and(|m| {
                    m.as_slice() != obj.metadata.managed_fields.as_deref().unwrap_or_default()
                }))
    }

    /// Applies the change to `obj` (a stored object).
    pub fn apply(&self, obj: &mut CalicoNodeStatus) {
        let spec_changed = obj.spec != *self.spec();
        obj.spec = self.spec().clone();
        self.apply_to_metadata(&mut obj.metadata, spec_changed);
    }

    /// The metadata half of [`Change::apply`], for backends that keep the spec encoded apart:
    /// labels and annotations replaced for `SpecAndLabels` (and `managedFields` when it has
    /// them; none left is stored as none), the generation bumped when `spec_changed`.
    pub fn apply_to_metadata(&self, meta: &mut ObjectMeta, spec_changed: bool) {
        if let Change::SpecAndLabels(obj) = self {
            meta.labels = non_empty(&obj.metadata.labels);
            meta.annotations = non_empty(&obj.metadata.annotations);
            if let Some(managed) = &obj.metadata.managed_fields {
                meta.managed_fields = Some(managed.clone()).filter(|m| !m.is_empty());
            }
        }
        if spec_changed {
            meta.generation = Some(meta.generation.unwrap_or(FIRST_GENERATION) + 1);
        }
    }
}

/// The generation of a newly created object.
pub const FIRST_GENERATION: i64 = 1;

/// An empty map is stored as no map, as Kubernetes does.
fn non_empty(map: &Option<BTreeMap<String, String>>) -> Option<BTreeMap<String, String>> {
    map.as_ref().filter(|m| !m.is_empty()).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(node: &str) -> CalicoNodeStatusSpec {
        CalicoNodeStatusSpec {
            classes: vec![],
            node: node.into(),
            update_period_seconds: 10,
        }
    }

    fn stored() -> CalicoNodeStatus {
        let mut obj = CalicoNodeStatus::new("a", spec("node-a"));
        obj.metadata.labels = Some(BTreeMap::from([("team".into(), "net".into())]));
        obj.metadata.generation = Some(1);
        obj
    }

    #[test]
    fn a_spec_change_keeps_labels_and_bumps_the_generation() {
        let mut obj = stored();
        let new = spec("node-b");
        Change::Spec(&new).apply(&mut obj);
        assert_eq!(obj.spec, new);
        assert_eq!(obj.metadata.generation, Some(2));
        assert_eq!(obj.metadata.labels, stored().metadata.labels);
    }

    #[test]
    fn an_empty_map_is_no_change_from_no_map() {
        let mut new = stored();
        new.metadata.annotations = Some(BTreeMap::new());
        assert!(!Change::SpecAndLabels(&new).changes(&stored()));
        new.metadata.labels = None;
        assert!(Change::SpecAndLabels(&new).changes(&stored()));
        assert!(!Change::Spec(&new.spec).changes(&stored()));
    }

    #[test]
    fn a_label_only_change_replaces_labels_and_keeps_the_generation() {
        let mut obj = stored();
        let mut new = stored();
        new.metadata.labels = Some(BTreeMap::new());
        new.metadata.annotations = Some(BTreeMap::from([("a".into(), "b".into())]));
        Change::SpecAndLabels(&new).apply(&mut obj);
        assert_eq!(obj.metadata.labels, None);
        assert_eq!(obj.metadata.annotations, new.metadata.annotations);
        assert_eq!(obj.metadata.generation, Some(1));
    }

    #[test]
    fn managed_fields_are_replaced_only_when_the_change_carries_them() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
        let entry = |manager: &str| ManagedFieldsEntry {
            manager: Some(manager.into()),
            ..ManagedFieldsEntry::default()
        };
        let mut obj = stored();
        obj.metadata.managed_fields = Some(vec![entry("kubectl")]);
        // An update without them (the CLI, the agent) keeps the stored ones.
        let mut plain = stored();
        plain.metadata.managed_fields = None;
        assert!(!Change::SpecAndLabels(&plain).changes(&obj));
        Change::SpecAndLabels(&plain).apply(&mut obj);
        assert_eq!(obj.metadata.managed_fields, Some(vec![entry("kubectl")]));
        // With them (the API server), they replace the stored ones; none left is none.
        let mut owned = stored();
        owned.metadata.managed_fields = Some(vec![entry("kubectl-edit")]);
        assert!(Change::SpecAndLabels(&owned).changes(&obj));
        Change::SpecAndLabels(&owned).apply(&mut obj);
        assert_eq!(
            obj.metadata.managed_fields,
            Some(vec![entry("kubectl-edit")])
        );
        owned.metadata.managed_fields = Some(vec![]);
        Change::SpecAndLabels(&owned).apply(&mut obj);
        assert_eq!(obj.metadata.managed_fields, None);
    }
}
