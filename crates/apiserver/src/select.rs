//! Which objects a list or watch returns: `fieldSelector` (`spec.node`, `metadata.name`) and
//! `labelSelector`, as Kubernetes parses them. `spec.node=X` narrows the datastore's own query;
//! every term is also checked on each object.

use std::collections::BTreeMap;

use nodestatus_api::CalicoNodeStatus;
use nodestatus_store::NodeFilter;

use crate::errors::ApiError;

/// A parsed pair of selectors.
#[derive(Clone, Debug, Default)]
pub(crate) struct Selection {
    fields: Vec<(Field, bool, String)>,
    labels: Vec<LabelTerm>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Node,
    Name,
}

#[derive(Clone, Debug)]
enum LabelTerm {
    /// `k=v`, `k==v` (true) or `k!=v` (false).
    Equals(String, bool, String),
    /// `k in (a,b)` (true) or `k notin (a,b)` (false).
    In(String, bool, Vec<String>),
    /// `k` (true) or `!k` (false).
    Exists(String, bool),
}

impl Selection {
    /// Parses `fieldSelector` and `labelSelector`; an unsupported field or malformed term is a
    /// 400 naming it.
    pub(crate) fn parse(fields: Option<&str>, labels: Option<&str>) -> Result<Self, ApiError> {
        let mut selection = Selection::default();
        for term in split_terms(fields.unwrap_or_default()) {
            let (key, eq, value) = split_op(&term).ok_or_else(|| {
                ApiError::bad_request(format!("invalid field selector term {term:?}"))
            })?;
            let field = match key.as_str() {
                "spec.node" => Field::Node,
                "metadata.name" => Field::Name,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "field label not supported: {other} (spec.node and metadata.name are)"
                    )));
                }
            };
            selection.fields.push((field, eq, value));
        }
        for term in split_terms(labels.unwrap_or_default()) {
            selection
                .labels
                .push(parse_label_term(&term).ok_or_else(|| {
                    ApiError::bad_request(format!("invalid label selector term {term:?}"))
                })?);
        }
        Ok(selection)
    }

    /// The datastore filter: the node of the first `spec.node=` term, else every object.
    pub(crate) fn node_filter(&self) -> NodeFilter {
        self.fields
            .iter()
            .find(|(f, eq, _)| *f == Field::Node && *eq)
            .map_or(NodeFilter::All, |(_, _, node)| {
                NodeFilter::Node(node.clone())
            })
    }

    /// True when the object passes every term.
    pub(crate) fn matches(&self, obj: &CalicoNodeStatus) -> bool {
        let name = obj.metadata.name.as_deref().unwrap_or_default();
        let fields_pass = self.fields.iter().all(|(field, eq, value)| {
            let actual = match field {
                Field::Node => obj.spec.node.as_str(),
                Field::Name => name,
            };
            (actual == value) == *eq
        });
        let empty = BTreeMap::new();
        let labels = obj.metadata.labels.as_ref().unwrap_or(&empty);
        fields_pass
            && self.labels.iter().all(|term| match term {
                LabelTerm::Equals(k, eq, v) => (labels.get(k) == Some(v)) == *eq,
                LabelTerm::In(k, is_in, values) => {
                    labels.get(k).is_some_and(|v| values.contains(v)) == *is_in
                }
                LabelTerm::Exists(k, exists) => labels.contains_key(k) == *exists,
            })
    }
}

/// Splits on commas outside parentheses (`a in (x,y),b` is two terms).
fn split_terms(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut depth = 0u32;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    terms.push(current);
    terms
        .into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// `k=v`, `k==v` or `k!=v` as (key, equal?, value).
fn split_op(term: &str) -> Option<(String, bool, String)> {
    let (key, eq, value) = if let Some((k, v)) = term.split_once("!=") {
        (k, false, v)
    } else if let Some((k, v)) = term.split_once("==") {
        (k, true, v)
    } else {
        let (k, v) = term.split_once('=')?;
        (k, true, v)
    };
    let key = key.trim();
    (!key.is_empty()).then(|| (key.to_string(), eq, value.trim().to_string()))
}

fn parse_label_term(term: &str) -> Option<LabelTerm> {
    if term.contains('=') {
        let (k, eq, v) = split_op(term)?;
        return Some(LabelTerm::Equals(k, eq, v));
    }
    if let Some(key) = term.strip_prefix('!') {
        return Some(LabelTerm::Exists(key.trim().to_string(), false));
    }
    let mut words = term.splitn(2, char::is_whitespace);
    let key = words.next()?.trim().to_string();
    match words.next().map(str::trim) {
        None => Some(LabelTerm::Exists(key, true)),
        Some(rest) => {
            let (is_in, list) = if let Some(list) = rest.strip_prefix("notin") {
                (false, list)
            } else {
                (true, rest.strip_prefix("in")?)
            };
            let list = list.trim().strip_prefix('(')?.strip_suffix(')')?;
            let values = list.split(',').map(|v| v.trim().to_string()).collect();
            Some(LabelTerm::In(key, is_in, values))
        }
    }
}

#[cfg(test)]
mod tests {
    use nodestatus_api::{CalicoNodeStatusSpec, NodeStatusClass};

    use super::*;

    fn object(name: &str, node: &str, labels: &[(&str, &str)]) -> CalicoNodeStatus {
        let mut obj = CalicoNodeStatus::new(
            name,
            CalicoNodeStatusSpec {
                classes: vec![NodeStatusClass::Agent],
                node: node.into(),
                update_period_seconds: 10,
            },
        );
        obj.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        obj
    }

    fn selected(fields: &str, labels: &str) -> Vec<&'static str> {
        let objs = [
            ("a", object("a", "n1", &[("tier", "x")])),
            ("b", object("b", "n2", &[("tier", "y"), ("lab", "")])),
            ("c", object("c", "n1", &[])),
        ];
        let sel = Selection::parse(Some(fields), Some(labels)).unwrap();
        objs.iter()
            .filter(|(_, o)| sel.matches(o))
            .map(|(n, _)| *n)
            .collect()
    }

    #[test]
    fn field_and_label_selectors_select_as_kubernetes_does() {
        assert_eq!(selected("", ""), ["a", "b", "c"]);
        assert_eq!(selected("spec.node=n1", ""), ["a", "c"]);
        assert_eq!(selected("spec.node==n1,metadata.name!=a", ""), ["c"]);
        assert_eq!(selected("metadata.name=b", ""), ["b"]);
        assert_eq!(selected("", "tier=x"), ["a"]);
        assert_eq!(selected("", "tier!=x"), ["b", "c"]);
        assert_eq!(selected("", "tier in (x, y)"), ["a", "b"]);
        assert_eq!(selected("", "tier notin (x),!lab"), ["c"]);
        assert_eq!(selected("", "lab"), ["b"]);
    }

    #[test]
    fn the_node_term_narrows_the_datastore_query() {
        let sel = Selection::parse(Some("metadata.name=a,spec.node=n1"), None).unwrap();
        assert_eq!(sel.node_filter(), NodeFilter::Node("n1".into()));
        let sel = Selection::parse(Some("spec.node!=n1"), None).unwrap();
        assert_eq!(sel.node_filter(), NodeFilter::All);
    }

    #[test]
    fn an_unknown_field_is_refused_by_name() {
        let err = Selection::parse(Some("status.lastUpdated=x"), None).unwrap_err();
        assert_eq!(
            err.status()["message"],
            "field label not supported: status.lastUpdated (spec.node and metadata.name are)"
        );
    }
}
