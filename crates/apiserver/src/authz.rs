//! Delegated authorization: a request that came through the front proxy is allowed only if
//! Kubernetes says its user may make it, asked with a `SubjectAccessReview` (as every
//! aggregated API server does: kube-apiserver's own check before proxying is not the only one,
//! and a holder of the front-proxy certificate cannot name any user it likes into RBAC's
//! place). Members of `system:masters` are always allowed, as Kubernetes' default
//! (`--authorization-always-allow-groups`). Answers are cached for 10 s, allowed or denied, as
//! Kubernetes' delegating authorizer does by default.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use nodestatus_api::PLURAL;

use crate::errors::ApiError;
use crate::{GROUP, VERSION};

/// How long an answer is reused.
const CACHE_TTL: Duration = Duration::from_secs(10);
/// At most this many answers are remembered.
const CACHE_ENTRIES: usize = 10_000;
/// The group of every authenticated user.
const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// The group whose members are never asked about.
const ALWAYS_ALLOWED_GROUP: &str = "system:masters";

/// The headers the front proxy names the user in (kube-apiserver's
/// `--requestheader-{username,group}-headers` and `--requestheader-extra-headers-prefix`).
pub(crate) const REMOTE_USER: &str = "x-remote-user";
const REMOTE_GROUP: &str = "x-remote-group";
const REMOTE_EXTRA: &str = "x-remote-extra-";

/// Asks Kubernetes whether a user may make a request.
pub struct Authorizer {
    client: kube::Client,
    cache: Mutex<HashMap<String, (bool, Instant)>>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer").finish_non_exhaustive()
    }
}

/// A user as the front proxy names it.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) name: String,
    groups: Vec<String>,
    extra: BTreeMap<String, Vec<String>>,
}

impl User {
    /// The user the front proxy named in the request's headers, if it named one.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let text = |v: &axum::http::HeaderValue| v.to_str().ok().map(str::to_owned);
        let name = headers
            .get(REMOTE_USER)
            .and_then(text)
            .filter(|n| !n.is_empty())?;
        let mut groups: Vec<String> = headers
            .get_all(REMOTE_GROUP)
            .iter()
            .filter_map(text)
            .collect();
        // Every authenticated user is in this group, as Kubernetes' authenticators add it (RBAC's
        // `system:discovery` grants it discovery and OpenAPI).
        if !groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            groups.push(AUTHENTICATED_GROUP.to_owned());
        }
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (header, value) in headers {
            if let (Some(key), Some(value)) =
                (header.as_str().strip_prefix(REMOTE_EXTRA), text(value))
            {
                extra.entry(unescape(key)).or_default().push(value);
            }
        }
        Some(Self {
            name,
            groups,
            extra,
        })
    }
}

/// An extra key as the front proxy sends it: case-insensitive (lower case), then
/// percent-decoded, as Kubernetes reads it.
fn unescape(key: &str) -> String {
    percent_encoding::percent_decode_str(&key.to_ascii_lowercase())
        .decode_utf8_lossy()
        .into_owned()
}

/// What a request does, in authorization's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attributes {
    Resource {
        verb: &'static str,
        name: Option<String>,
        subresource: Option<String>,
    },
    NonResource {
        verb: String,
        path: String,
    },
}

impl Attributes {
    /// The attributes of a request to `path` with `method` (and `watch=` in `query`).
    pub(crate) fn of(method: &Method, path: &str, query: Option<&str>) -> Self {
        let base = format!("/apis/{GROUP}/{VERSION}/{PLURAL}");
        let watch = query.is_some_and(|q| {
            q.split('&')
                .any(|pair| matches!(pair, "watch=true" | "watch=1"))
        });
        let Some(rest) = path.strip_prefix(&base) else {
            return Self::NonResource {
                verb: method.as_str().to_ascii_lowercase(),
                path: path.to_owned(),
            };
        };
        let mut parts = rest.split('/').filter(|p| !p.is_empty());
        let name = parts.next().map(str::to_owned);
        let subresource = parts.next().map(str::to_owned);
        let verb = match (method.as_str(), name.is_some()) {
            ("GET" | "HEAD", _) if watch => "watch",
            ("GET" | "HEAD", true) => "get",
            ("GET" | "HEAD", false) => "list",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", true) => "delete",
            ("DELETE", false) => "deletecollection",
            _ => "unknown",
        };
        Self::Resource {
            verb,
            name,
            subresource,
        }
    }

    /// Kubernetes' words for a refusal.
    fn forbidden(&self, user: &str, reason: &str) -> ApiError {
        let because = if reason.is_empty() {
            String::new()
        } else {
            format!(": {reason}")
        };
        let message = match self {
            Self::Resource {
                verb,
                name,
                subresource,
            } => {
                let object = match name {
                    Some(name) => format!("{PLURAL}.{GROUP} {name:?}"),
                    None => format!("{PLURAL}.{GROUP}"),
                };
                let resource = match subresource {
                    Some(sub) => format!("{PLURAL}/{sub}"),
                    None => PLURAL.to_owned(),
                };
                format!(
                    "{object} is forbidden: User {user:?} cannot {verb} resource {resource:?} in API group {GROUP:?} at the cluster scope{because}"
                )
            }
            Self::NonResource { verb, path } => {
                format!("forbidden: User {user:?} cannot {verb} path {path:?}{because}")
            }
        };
        ApiError::forbidden(message)
    }
}

impl Authorizer {
    /// Asks the Kubernetes API `client` reaches.
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Ok if `user` may do what `attributes` say; 403 if not; 500 if Kubernetes cannot be asked.
    pub(crate) async fn check(&self, user: &User, attributes: &Attributes) -> Result<(), ApiError> {
        if user.groups.iter().any(|g| g == ALWAYS_ALLOWED_GROUP) {
            return Ok(());
        }
        let spec = review(user, attributes);
        // A review that cannot be written as a key is asked every time, never cached.
        let key = serde_json::to_string(&spec).ok();
        if let Some(allowed) = key.as_deref().and_then(|key| self.cached(key)) {
            return allowed
                .then_some(())
                .ok_or_else(|| attributes.forbidden(&user.name, ""));
        }
        let asked = SubjectAccessReview {
            spec,
            ..SubjectAccessReview::default()
        };
        let answer = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &asked)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, user = %user.name, "SubjectAccessReview failed");
                ApiError::internal(format!("authorizing the request: {e}"))
            })?;
        let status = answer.status.unwrap_or_default();
        if let Some(key) = key {
            self.remember(key, status.allowed);
        }
        if status.allowed {
            Ok(())
        } else {
            tracing::info!(user = %user.name, groups = ?user.groups, ?attributes, "refused by Kubernetes' authorization");
            Err(attributes.forbidden(&user.name, status.reason.as_deref().unwrap_or_default()))
        }
    }

    fn cached(&self, key: &str) -> Option<bool> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(key)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(allowed, _)| *allowed)
    }

    fn remember(&self, key: String, allowed: bool) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(key, (allowed, Instant::now()));
    }
}

fn review(user: &User, attributes: &Attributes) -> SubjectAccessReviewSpec {
    let mut spec = SubjectAccessReviewSpec {
        user: Some(user.name.clone()),
        groups: Some(user.groups.clone()).filter(|g| !g.is_empty()),
        extra: Some(user.extra.clone()).filter(|e| !e.is_empty()),
        ..SubjectAccessReviewSpec::default()
    };
    match attributes {
        Attributes::Resource {
            verb,
            name,
            subresource,
        } => {
            spec.resource_attributes = Some(ResourceAttributes {
                group: Some(GROUP.into()),
                version: Some(VERSION.into()),
                resource: Some(PLURAL.into()),
                subresource: subresource.clone(),
                name: name.clone(),
                verb: Some((*verb).into()),
                ..ResourceAttributes::default()
            });
        }
        Attributes::NonResource { verb, path } => {
            spec.non_resource_attributes = Some(NonResourceAttributes {
                path: Some(path.clone()),
                verb: Some(verb.clone()),
            });
        }
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(method: Method, path: &str, query: Option<&str>) -> Attributes {
        Attributes::of(&method, path, query)
    }

    #[test]
    fn requests_map_to_kubernetes_verbs_names_and_subresources() {
        let base = "/apis/projectcalico.org/v3/caliconodestatuses";
        let resource = |verb, name: Option<&str>, sub: Option<&str>| Attributes::Resource {
            verb,
            name: name.map(str::to_owned),
            subresource: sub.map(str::to_owned),
        };
        assert_eq!(
            attributes(Method::GET, base, Some("limit=500")),
            resource("list", None, None)
        );
        assert_eq!(
            attributes(Method::GET, base, Some("resourceVersion=3&watch=true")),
            resource("watch", None, None)
        );
        assert_eq!(
            attributes(Method::GET, &format!("{base}/a"), None),
            resource("get", Some("a"), None)
        );
        assert_eq!(
            attributes(Method::PATCH, &format!("{base}/a/status"), None),
            resource("patch", Some("a"), Some("status"))
        );
        assert_eq!(
            attributes(Method::DELETE, &format!("{base}/a"), None),
            resource("delete", Some("a"), None)
        );
        assert_eq!(
            attributes(Method::GET, "/apis", None),
            Attributes::NonResource {
                verb: "get".into(),
                path: "/apis".into()
            }
        );
    }

    #[test]
    fn the_front_proxys_headers_name_the_user_its_groups_and_extras() {
        let mut headers = HeaderMap::new();
        headers.insert(REMOTE_USER, "alice".parse().expect("header"));
        headers.append(REMOTE_GROUP, "dev".parse().expect("header"));
        headers.append(REMOTE_GROUP, "ops".parse().expect("header"));
        headers.append("x-remote-extra-scopes%2fa", "x".parse().expect("header"));
        let user = User::from_headers(&headers).expect("a user");
        assert_eq!(user.name, "alice");
        assert_eq!(user.groups, ["dev", "ops", "system:authenticated"]);
        assert_eq!(
            user.extra,
            BTreeMap::from([("scopes/a".to_owned(), vec!["x".to_owned()])])
        );
        assert!(User::from_headers(&HeaderMap::new()).is_none());
    }

    #[test]
    fn a_refusal_is_worded_as_kubernetes_words_it() {
        let refused = attributes(
            Method::DELETE,
            "/apis/projectcalico.org/v3/caliconodestatuses/a",
            None,
        )
        .forbidden("bob", "");
        assert_eq!(
            refused.status()["message"],
            "caliconodestatuses.projectcalico.org \"a\" is forbidden: User \"bob\" cannot delete resource \"caliconodestatuses\" in API group \"projectcalico.org\" at the cluster scope"
        );
        assert_eq!(refused.status()["code"], 403);
    }
}
