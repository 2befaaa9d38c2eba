//! Field ownership: `metadata.managedFields`, as Kubernetes keeps it for server-side apply.
//!
//! The fields a manager can own are this resource's leaves: each label and each annotation
//! (`metadata.labels.<key>`), and each spec field (`spec.node`, `spec.classes` — an atomic
//! list, as in the CRD —, `spec.updatePeriodSeconds`). The status is the agent's, written
//! through the datastore or the `/status` subresource, and is not tracked.
//!
//! - A create, an update or a non-apply patch by manager M (operation `Update`): M takes every
//!   field whose value it changed (set or removed); no other manager owns those any more.
//! - An apply by M (operation `Apply`) of a configuration C: a field of C whose value differs
//!   from the object's and that another manager owns is a conflict (409, one cause per field)
//!   unless the apply is forced, which takes it from them. Fields M applied last time and left
//!   out of C are removed from the object unless another manager owns them too. C's values are
//!   set; M's apply entry becomes exactly C's fields. A field with the same value in C is
//!   shared with its other owners, not taken.
//! - Entries that own nothing are dropped; an entry's `time` moves only when its fields do.
//!
//! Fields are kept in `FieldsV1` form (`{"f:spec":{"f:node":{}}}`), the form kubectl shows with
//! `--show-managed-fields`.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value};

use crate::GROUP_VERSION;
use crate::errors::ApiError;

/// A field: the names on its path from the object's root.
type Field = Vec<String>;
/// Fields, in path order.
type FieldSet = BTreeSet<Field>;

const APPLY: &str = "Apply";
const UPDATE: &str = "Update";

/// The managers of one object and what each owns.
#[derive(Debug, Default)]
pub(crate) struct Ownership {
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    manager: String,
    operation: String,
    time: Option<Time>,
    fields: FieldSet,
    changed: bool,
}

impl Entry {
    fn is(&self, manager: &str, operation: &str) -> bool {
        self.manager == manager && self.operation == operation
    }
}

/// The fields of an object (its JSON form) a manager can own.
fn fields_of(object: &Value) -> FieldSet {
    let mut fields = FieldSet::new();
    for map in ["labels", "annotations"] {
        if let Some(Value::Object(entries)) = object.pointer(&format!("/metadata/{map}")) {
            fields.extend(
                entries
                    .keys()
                    .map(|key| vec!["metadata".into(), map.into(), key.clone()]),
            );
        }
    }
    if let Some(Value::Object(spec)) = object.get("spec") {
        fields.extend(
            spec.iter()
                .filter(|(_, value)| !value.is_null())
                .map(|(key, _)| vec!["spec".into(), key.clone()]),
        );
    }
    fields
}

fn value_at<'v>(object: &'v Value, field: &Field) -> Option<&'v Value> {
    field
        .iter()
        .try_fold(object, |at, name| at.get(name))
        .filter(|v| !v.is_null())
}

fn set_at(object: &mut Value, field: &Field, value: Value) {
    let Some((last, parents)) = field.split_last() else {
        return;
    };
    let mut at = object;
    for name in parents {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        let Value::Object(map) = at else { return };
        at = map
            .entry(name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !at.is_object() {
        *at = Value::Object(Map::new());
    }
    if let Value::Object(map) = at {
        map.insert(last.clone(), value);
    }
}

fn remove_at(object: &mut Value, field: &Field) {
    let Some((last, parents)) = field.split_last() else {
        return;
    };
    let parent = parents.iter().try_fold(object, |at, name| at.get_mut(name));
    if let Some(Value::Object(map)) = parent {
        map.remove(last);
    }
}

/// `.spec.node`, as Kubernetes names a field in a conflict.
fn path_text(field: &Field) -> String {
    field.iter().map(|name| format!(".{name}")).collect()
}

/// `FieldsV1`: `{"f:metadata":{"f:labels":{"f:app":{}}}}`.
fn to_fields_v1(fields: &FieldSet) -> Value {
    let mut root = Value::Object(Map::new());
    for field in fields {
        let prefixed: Field = field.iter().map(|name| format!("f:{name}")).collect();
        set_at(&mut root, &prefixed, Value::Object(Map::new()));
    }
    root
}

/// The fields of a `FieldsV1` set: every node that is empty or marked `"."`. Other kinds of
/// key (`k:`, `v:`, `i:`, for lists this resource does not have) are skipped.
fn from_fields_v1(value: &Value, path: &mut Field, into: &mut FieldSet) {
    let Value::Object(map) = value else { return };
    if (map.is_empty() || map.contains_key(".")) && !path.is_empty() {
        into.insert(path.clone());
    }
    for (key, child) in map {
        if let Some(name) = key.strip_prefix("f:") {
            path.push(name.to_owned());
            from_fields_v1(child, path, into);
            path.pop();
        }
    }
}

/// Now, in whole seconds (what `metav1.Time` keeps).
fn now() -> Time {
    let now = Timestamp::now();
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

impl Ownership {
    /// The ownership recorded in an object's metadata.
    pub(crate) fn of(managed: Option<&[ManagedFieldsEntry]>) -> Self {
        let entries = managed
            .unwrap_or_default()
            .iter()
            .map(|entry| {
                let mut fields = FieldSet::new();
                if let Some(FieldsV1(value)) = &entry.fields_v1 {
                    from_fields_v1(value, &mut Vec::new(), &mut fields);
                }
                Entry {
                    manager: entry.manager.clone().unwrap_or_default(),
                    operation: entry.operation.clone().unwrap_or_else(|| UPDATE.into()),
                    time: entry.time.clone(),
                    fields,
                    changed: false,
                }
            })
            .collect();
        Self { entries }
    }

    /// The `managedFields` to store: every entry that owns something.
    pub(crate) fn entries(self) -> Vec<ManagedFieldsEntry> {
        let stamp = now();
        self.entries
            .into_iter()
            .filter(|entry| !entry.fields.is_empty())
            .map(|entry| ManagedFieldsEntry {
                api_version: Some(GROUP_VERSION.into()),
                fields_type: Some("FieldsV1".into()),
                fields_v1: Some(FieldsV1(to_fields_v1(&entry.fields))),
                manager: Some(entry.manager),
                operation: Some(entry.operation),
                subresource: None,
                time: if entry.changed {
                    Some(stamp.clone())
                } else {
                    entry.time
                },
            })
            .collect()
    }

    fn entry(&mut self, manager: &str, operation: &str) -> &mut Entry {
        let at = match self.entries.iter().position(|e| e.is(manager, operation)) {
            Some(at) => at,
            None => {
                self.entries.push(Entry {
                    manager: manager.to_owned(),
                    operation: operation.to_owned(),
                    time: None,
                    fields: FieldSet::new(),
                    changed: true,
                });
                self.entries.len() - 1
            }
        };
        &mut self.entries[at]
    }

    /// Takes `fields` from every entry but `keep`'s.
    fn take_from_others(&mut self, fields: &FieldSet, keep: (&str, &str)) {
        for entry in self.entries.iter_mut().filter(|e| !e.is(keep.0, keep.1)) {
            let before = entry.fields.len();
            entry.fields.retain(|f| !fields.contains(f));
            entry.changed |= entry.fields.len() != before;
        }
    }

    /// Records a create, update or non-apply patch by `manager` that turned `old` (`Null` for a
    /// create) into `new`.
    pub(crate) fn updated(&mut self, manager: &str, old: &Value, new: &Value) {
        let changed: FieldSet = fields_of(old)
            .union(&fields_of(new))
            .filter(|f| value_at(old, f) != value_at(new, f))
            .cloned()
            .collect();
        if changed.is_empty() {
            return;
        }
        self.take_from_others(&changed, (manager, UPDATE));
        let entry = self.entry(manager, UPDATE);
        let before = entry.fields.clone();
        entry.fields.extend(
            changed
                .iter()
                .filter(|f| value_at(new, f).is_some())
                .cloned(),
        );
        entry.fields.retain(|f| value_at(new, f).is_some());
        entry.changed |= entry.fields != before;
    }

    /// Applies `config` for `manager` to `object` (both in JSON form; `object` is `Null` when
    /// the apply creates it): the object as it is to be stored, or 409 with the conflicts.
    pub(crate) fn apply(
        &mut self,
        manager: &str,
        object: &Value,
        config: &Value,
        force: bool,
    ) -> Result<Value, ApiError> {
        let applied = fields_of(config);
        let others = |this: &Self, field: &Field| -> Vec<String> {
            this.entries
                .iter()
                .filter(|e| !e.is(manager, APPLY) && e.fields.contains(field))
                .map(|e| e.manager.clone())
                .collect()
        };
        let conflicts: Vec<(Field, Vec<String>)> = applied
            .iter()
            .filter(|f| value_at(object, f) != value_at(config, f))
            .map(|f| (f.clone(), others(self, f)))
            .filter(|(_, owners)| !owners.is_empty())
            .collect();
        if !conflicts.is_empty() && !force {
            return Err(conflict_error(&conflicts));
        }
        let taken: FieldSet = conflicts.into_iter().map(|(f, _)| f).collect();
        self.take_from_others(&taken, (manager, APPLY));

        let mut result = object.clone();
        if !result.is_object() {
            result = Value::Object(Map::new());
        }
        let previously = self.entry(manager, APPLY).fields.clone();
        for dropped in previously.difference(&applied) {
            if others(self, dropped).is_empty() {
                remove_at(&mut result, dropped);
            }
        }
        for field in &applied {
            if let Some(value) = value_at(config, field) {
                set_at(&mut result, field, value.clone());
            }
        }
        for top in ["apiVersion", "kind"] {
            if let Some(value) = config.get(top) {
                set_at(&mut result, &vec![top.to_owned()], value.clone());
            }
        }
        if let Some(name) = config.pointer("/metadata/name") {
            set_at(
                &mut result,
                &vec!["metadata".into(), "name".into()],
                name.clone(),
            );
        }
        let entry = self.entry(manager, APPLY);
        entry.changed |= entry.fields != applied;
        entry.fields = applied;
        Ok(result)
    }
}

/// 409 for an apply that would change fields other managers own, as Kubernetes words it (kubectl
/// recognises it and explains `--force-conflicts`).
fn conflict_error(conflicts: &[(Field, Vec<String>)]) -> ApiError {
    let mut causes = Vec::new();
    let mut lines = Vec::new();
    for (field, owners) in conflicts {
        for owner in owners {
            let message = format!("conflict with {owner:?} using {GROUP_VERSION}");
            lines.push(format!("{message}: {}", path_text(field)));
            causes.push(serde_json::json!({
                "reason": "FieldManagerConflict",
                "message": message,
                "field": path_text(field),
            }));
        }
    }
    let count = causes.len();
    let plural = if count == 1 { "" } else { "s" };
    let message = if count == 1 {
        format!("Apply failed with 1 conflict: {}", lines.join(""))
    } else {
        format!(
            "Apply failed with {count} conflict{plural}: {}",
            lines.join("\n")
        )
    };
    ApiError::apply_conflict(message, causes)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(period: u64, labels: Value) -> Value {
        json!({"apiVersion": "projectcalico.org/v3", "kind": "CalicoNodeStatus",
               "metadata": {"name": "a", "labels": labels},
               "spec": {"node": "n1", "classes": ["BGP"], "updatePeriodSeconds": period}})
    }

    fn owned(ownership: &Ownership, manager: &str, operation: &str) -> Vec<String> {
        ownership
            .entries
            .iter()
            .filter(|e| e.is(manager, operation))
            .flat_map(|e| e.fields.iter().map(path_text))
            .collect()
    }

    #[test]
    fn fields_v1_round_trips() {
        let fields = fields_of(&object(10, json!({"app": "x"})));
        let v1 = to_fields_v1(&fields);
        assert_eq!(
            v1,
            json!({"f:metadata": {"f:labels": {"f:app": {}}},
                   "f:spec": {"f:classes": {}, "f:node": {}, "f:updatePeriodSeconds": {}}})
        );
        let mut back = FieldSet::new();
        from_fields_v1(&v1, &mut Vec::new(), &mut back);
        assert_eq!(back, fields);
    }

    #[test]
    fn an_update_takes_the_fields_it_changes_from_their_owner() {
        let mut ownership = Ownership::default();
        let created = object(10, json!({"app": "x"}));
        ownership.updated("kubectl-create", &Value::Null, &created);
        let edited = object(20, json!({"app": "x"}));
        ownership.updated("kubectl-edit", &created, &edited);
        assert_eq!(
            owned(&ownership, "kubectl-create", UPDATE),
            [".metadata.labels.app", ".spec.classes", ".spec.node"]
        );
        assert_eq!(
            owned(&ownership, "kubectl-edit", UPDATE),
            [".spec.updatePeriodSeconds"]
        );
    }

    #[test]
    fn an_apply_conflicts_with_another_owner_unless_forced_or_equal() {
        let mut ownership = Ownership::default();
        let created = object(10, json!({}));
        ownership.updated("kubectl-client-side-apply", &Value::Null, &created);
        // The same values: shared, no conflict.
        let same = ownership
            .apply("kubectl", &created, &object(10, json!({})), false)
            .expect("no conflict");
        assert_eq!(same, created);
        let error = ownership
            .apply("kubectl", &created, &object(30, json!({})), false)
            .expect_err("a conflict");
        let status = error.status();
        assert_eq!(status["code"], 409);
        assert_eq!(
            status["message"],
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using projectcalico.org/v3: .spec.updatePeriodSeconds"
        );
        assert_eq!(
            status["details"]["causes"][0]["field"],
            ".spec.updatePeriodSeconds"
        );
        let forced = ownership
            .apply("kubectl", &created, &object(30, json!({})), true)
            .expect("forced");
        assert_eq!(forced["spec"]["updatePeriodSeconds"], 30);
        assert_eq!(
            owned(&ownership, "kubectl-client-side-apply", UPDATE),
            [".spec.classes", ".spec.node"]
        );
        assert_eq!(
            owned(&ownership, "kubectl", APPLY),
            [".spec.classes", ".spec.node", ".spec.updatePeriodSeconds"]
        );
    }

    #[test]
    fn a_field_left_out_of_the_next_apply_is_removed_unless_someone_else_owns_it() {
        let mut ownership = Ownership::default();
        let first = ownership
            .apply(
                "ci",
                &Value::Null,
                &object(10, json!({"team": "net", "tier": "1"})),
                false,
            )
            .expect("created");
        let mut with_edit = first.clone();
        with_edit["metadata"]["labels"]["tier"] = json!("2");
        ownership.updated("kubectl-edit", &first, &with_edit);
        let second = ownership
            .apply("ci", &with_edit, &object(10, json!({})), false)
            .expect("applied");
        // `team` was only ci's: gone. `tier` was taken by the edit: kept.
        assert_eq!(second["metadata"]["labels"], json!({"tier": "2"}));
        assert_eq!(
            owned(&ownership, "ci", APPLY),
            [".spec.classes", ".spec.node", ".spec.updatePeriodSeconds"]
        );
    }
}
