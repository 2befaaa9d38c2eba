//! The patch types of `PATCH`: JSON patch (RFC 6902), JSON merge patch (RFC 7396), strategic
//! merge patch and server-side apply's `application/apply-patch+yaml`.
//!
//! The resource has no list with a merge key, so a strategic merge patch means what a merge
//! patch means (lists replaced, maps merged, `null` deletes); its `$`-directives are dropped
//! first. Server-side apply of the resource itself merges by field ownership (`ownership.rs`);
//! on the `/status` subresource, whose fields are not tracked, it merges like a merge patch.

use serde_json::Value;

use crate::errors::ApiError;

/// A `PATCH` request's `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    /// The type named by a `Content-Type` header; 415 for any other.
    pub(crate) fn from_content_type(content_type: &str) -> Result<Self, ApiError> {
        let mime = content_type.split(';').next().unwrap_or_default().trim();
        match mime {
            "application/json-patch+json" => Ok(Self::Json),
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/strategic-merge-patch+json" => Ok(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(Self::Apply),
            _ => Err(ApiError::unsupported_media_type(content_type)),
        }
    }

    /// Reads the patch body: YAML for server-side apply, JSON for the others (400 if it does
    /// not parse).
    pub(crate) fn read(self, body: &[u8]) -> Result<Value, ApiError> {
        let parsed = match self {
            Self::Apply => serde_yaml_ng::from_slice::<Value>(body).map_err(|e| e.to_string()),
            _ => serde_json::from_slice::<Value>(body).map_err(|e| e.to_string()),
        };
        parsed.map_err(|e| ApiError::bad_request(format!("the patch cannot be read: {e}")))
    }

    /// Applies a read patch to `target`.
    pub(crate) fn apply(self, target: &mut Value, patch: &Value) -> Result<(), ApiError> {
        match self {
            Self::Json => {
                let ops: json_patch::Patch =
                    serde_json::from_value(patch.clone()).map_err(|e| {
                        ApiError::bad_request(format!("the JSON patch cannot be read: {e}"))
                    })?;
                json_patch::patch(target, &ops).map_err(|e| {
                    ApiError::unprocessable(format!("the JSON patch cannot be applied: {e}"))
                })
            }
            Self::Merge | Self::Apply => {
                json_patch::merge(target, patch);
                Ok(())
            }
            Self::Strategic => {
                json_patch::merge(target, &without_directives(patch));
                Ok(())
            }
        }
    }
}

/// A strategic merge patch without its `$`-keys (`$patch`, `$retainKeys`,
/// `$setElementOrder/...`, `$deleteFromPrimitiveList/...`), which only matter for lists with a
/// merge key.
fn without_directives(patch: &Value) -> Value {
    match patch {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), without_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_directives).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn patched(kind: PatchType, patch: Value) -> Result<Value, String> {
        let mut target = json!({"spec": {"classes": ["Agent", "BGP"], "node": "n1", "updatePeriodSeconds": 10}, "metadata": {"name": "a"}});
        kind.apply(&mut target, &patch).map_err(|e| {
            e.status()["message"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })?;
        Ok(target)
    }

    #[test]
    fn a_merge_patch_replaces_lists_and_deletes_nulls() {
        assert_eq!(
            patched(
                PatchType::Merge,
                json!({"spec": {"classes": ["Routes"], "updatePeriodSeconds": 0}, "metadata": {"labels": {"a": "b"}}})
            ),
            Ok(
                json!({"spec": {"classes": ["Routes"], "node": "n1", "updatePeriodSeconds": 0}, "metadata": {"name": "a", "labels": {"a": "b"}}})
            )
        );
    }

    #[test]
    fn a_strategic_merge_patch_is_a_merge_patch_without_directives() {
        assert_eq!(
            patched(
                PatchType::Strategic,
                json!({"$setElementOrder/x": [], "spec": {"classes": ["BGP"], "$retainKeys": ["node"]}})
            ),
            Ok(
                json!({"spec": {"classes": ["BGP"], "node": "n1", "updatePeriodSeconds": 10}, "metadata": {"name": "a"}})
            )
        );
    }

    #[test]
    fn a_json_patch_applies_its_operations_or_says_why_not() {
        assert_eq!(
            patched(
                PatchType::Json,
                json!([{"op": "replace", "path": "/spec/node", "value": "n2"}, {"op": "remove", "path": "/spec/classes/0"}])
            ),
            Ok(
                json!({"spec": {"classes": ["BGP"], "node": "n2", "updatePeriodSeconds": 10}, "metadata": {"name": "a"}})
            )
        );
        let failed = patched(
            PatchType::Json,
            json!([{"op": "test", "path": "/spec/node", "value": "n9"}]),
        )
        .unwrap_err();
        assert!(
            failed.starts_with("the JSON patch cannot be applied: "),
            "{failed}"
        );
    }

    #[test]
    fn only_the_four_patch_types_are_read() {
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8").ok(),
            Some(PatchType::Merge)
        );
        assert_eq!(
            PatchType::from_content_type("application/json")
                .unwrap_err()
                .status()["code"],
            415
        );
    }
}
