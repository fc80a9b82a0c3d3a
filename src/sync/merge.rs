//! Three-way merge of JSON records: a pending local edit meets a newer server copy.
//!
//! Objects merge field by field (recursively) against the last synced base: a field only
//! one side changed takes that side's value. A field both sides changed to different
//! values is a conflict that the [`ConflictPolicy`] decides; whatever it picks, the losing
//! value is kept in the returned [`FieldConflict`] list, so no edit is silently lost.
//! Anything that is not an object on all three sides (arrays, strings, numbers…) is one
//! value: it merges the same way at its own path.

use serde_json::{Map, Value};

/// Who wins a field both sides changed. Named `keep-local`, `server-wins`, `client-wins`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConflictPolicy {
    /// Keep the local value; the remote value is preserved in the conflict (the default).
    #[default]
    KeepLocal,
    /// Take the server's value; the local value is preserved in the conflict.
    ServerWins,
    /// Take the local value (same as `KeepLocal`, named for symmetry with `ServerWins`).
    ClientWins,
}

impl ConflictPolicy {
    /// The policy's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeepLocal => "keep-local",
            Self::ServerWins => "server-wins",
            Self::ClientWins => "client-wins",
        }
    }
}

/// One field both sides changed: where, both values (`None` = absent), and what was kept.
/// `Debug` shows the path only. As JSON: `{"path", "local"?, "remote"?, "kept"?}`, an
/// absent value omitted.
#[derive(Clone, PartialEq)]
pub struct FieldConflict {
    /// JSON pointer of the field (`""` for the whole value).
    pub path: String,
    /// The local value.
    pub local: Option<Value>,
    /// The server's value.
    pub remote: Option<Value>,
    /// The value the merge kept.
    pub kept: Option<Value>,
}

impl core::fmt::Debug for FieldConflict {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "FieldConflict({:?}, [redacted])", self.path)
    }
}

/// Decides a field both sides changed; the default decides by a [`ConflictPolicy`].
pub trait Resolve {
    /// The value to keep at `path`, given both sides (`None` = absent).
    fn resolve(
        &mut self,
        path: &str,
        local: Option<&Value>,
        remote: Option<&Value>,
    ) -> Option<Value>;
}

impl Resolve for ConflictPolicy {
    fn resolve(
        &mut self,
        _path: &str,
        local: Option<&Value>,
        remote: Option<&Value>,
    ) -> Option<Value> {
        match self {
            Self::KeepLocal | Self::ClientWins => local.cloned(),
            Self::ServerWins => remote.cloned(),
        }
    }
}

/// Merges `local` and `remote`, both derived from `base` (`None` = the record did not
/// exist or is deleted). Returns the merged value (`None` = deleted) and the conflicts.
pub fn merge3(
    base: Option<&Value>,
    local: Option<&Value>,
    remote: Option<&Value>,
    resolver: &mut dyn Resolve,
) -> (Option<Value>, Vec<FieldConflict>) {
    let mut conflicts = Vec::new();
    let merged = merge_at(String::new(), base, local, remote, resolver, &mut conflicts);
    (merged, conflicts)
}

fn merge_at(
    path: String,
    base: Option<&Value>,
    local: Option<&Value>,
    remote: Option<&Value>,
    resolver: &mut dyn Resolve,
    conflicts: &mut Vec<FieldConflict>,
) -> Option<Value> {
    if local == remote {
        return local.cloned();
    }
    if local == base {
        return remote.cloned();
    }
    if remote == base {
        return local.cloned();
    }
    if let (Some(Value::Object(l)), Some(Value::Object(r))) = (local, remote) {
        let empty = Map::new();
        let b = match base {
            Some(Value::Object(b)) => b,
            _ => &empty,
        };
        // Every key of the three sides, once, in order (inserted into a set: `collect`
        // and `sort` would each bring a sort's code into the .wasm).
        let mut keys = std::collections::BTreeSet::new();
        for key in l.keys().chain(r.keys()).chain(b.keys()) {
            keys.insert(key);
        }
        let mut out = Map::new();
        for key in keys {
            let child = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
            if let Some(v) = merge_at(
                child,
                b.get(key),
                l.get(key),
                r.get(key),
                resolver,
                conflicts,
            ) {
                out.insert(key.clone(), v);
            }
        }
        return Some(Value::Object(out));
    }
    let kept = resolver.resolve(&path, local, remote);
    conflicts.push(FieldConflict {
        path,
        local: local.cloned(),
        remote: remote.cloned(),
        kept: kept.clone(),
    });
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn merge(
        base: Option<Value>,
        local: Option<Value>,
        remote: Option<Value>,
        policy: ConflictPolicy,
    ) -> (Option<Value>, Vec<FieldConflict>) {
        let mut policy = policy;
        merge3(base.as_ref(), local.as_ref(), remote.as_ref(), &mut policy)
    }

    #[test]
    fn disjoint_field_edits_merge_without_conflict() {
        let base = json!({"title": "a", "url": "x", "tags": ["t"]});
        let local = json!({"title": "A", "url": "x", "tags": ["t"]});
        let remote = json!({"title": "a", "url": "y", "tags": ["t"], "new": 1});
        let (merged, conflicts) = merge(
            Some(base),
            Some(local),
            Some(remote),
            ConflictPolicy::KeepLocal,
        );
        assert_eq!(
            merged,
            Some(json!({"title": "A", "url": "y", "tags": ["t"], "new": 1}))
        );
        assert!(conflicts.is_empty());
    }

    #[test]
    fn same_field_conflicts_follow_the_policy_and_keep_both() {
        let base = json!({"n": {"title": "a", "x": 1}});
        let local = json!({"n": {"title": "L", "x": 1}});
        let remote = json!({"n": {"title": "R", "x": 2}});
        for (policy, kept) in [
            (ConflictPolicy::KeepLocal, "L"),
            (ConflictPolicy::ClientWins, "L"),
            (ConflictPolicy::ServerWins, "R"),
        ] {
            let (merged, conflicts) = merge(
                Some(base.clone()),
                Some(local.clone()),
                Some(remote.clone()),
                policy,
            );
            assert_eq!(merged, Some(json!({"n": {"title": kept, "x": 2}})));
            assert_eq!(conflicts.len(), 1);
            assert_eq!(conflicts[0].path, "/n/title");
            assert_eq!(conflicts[0].local, Some(json!("L")));
            assert_eq!(conflicts[0].remote, Some(json!("R")));
        }
    }

    #[test]
    fn field_removed_on_one_side_and_kept_on_the_other() {
        let base = json!({"a": 1, "b": 2});
        let (merged, c) = merge(
            Some(base.clone()),
            Some(json!({"a": 1})),
            Some(json!({"a": 5, "b": 2})),
            ConflictPolicy::KeepLocal,
        );
        assert_eq!(merged, Some(json!({"a": 5})));
        assert!(c.is_empty());
        // Removed locally, changed remotely: a conflict; the local removal is kept.
        let (merged, c) = merge(
            Some(base),
            Some(json!({"a": 1})),
            Some(json!({"a": 1, "b": 3})),
            ConflictPolicy::KeepLocal,
        );
        assert_eq!(merged, Some(json!({"a": 1})));
        assert_eq!(c[0].remote, Some(json!(3)));
        assert_eq!(c[0].path, "/b");
    }

    #[test]
    fn non_objects_are_one_value_and_pointer_paths_are_escaped() {
        let (merged, c) = merge(
            Some(json!([1])),
            Some(json!([1, 2])),
            Some(json!([0, 1])),
            ConflictPolicy::ServerWins,
        );
        assert_eq!(merged, Some(json!([0, 1])));
        assert_eq!(c[0].path, "");
        let (_, c) = merge(
            Some(json!({"a/b~": 1})),
            Some(json!({"a/b~": 2})),
            Some(json!({"a/b~": 3})),
            ConflictPolicy::KeepLocal,
        );
        assert_eq!(c[0].path, "/a~1b~0");
    }
}
