//! The code map's structural invariants (ARCHITECTURE.md), checked on the sources so they
//! stay true: no module of the crypto crate or of the server imports from a module that
//! imports it; the client's server paths are spelled in one place; the server does not
//! link the client's crypto.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every `.rs` file under `dir` (relative to the repository), recursively.
fn sources(dir: &str) -> Vec<(String, String)> {
    sources_in(ROOT, dir)
}

fn sources_in(root: &str, dir: &str) -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path.display().to_string(), text));
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(root).join(dir), &mut out);
    out.sort();
    out
}

/// The module a file defines, by its path under `src` (`a/b.rs` and `a/b/mod.rs` are
/// `a::b`; `lib.rs`, `main.rs` and `mod.rs` name their folder).
fn module_of(path: &str, src: &str) -> String {
    let rel = path.split_once(src).unwrap().1.trim_start_matches('/');
    let rel = rel.trim_end_matches(".rs");
    let rel = rel
        .trim_end_matches("/mod")
        .trim_end_matches("lib")
        .trim_end_matches("main");
    rel.trim_end_matches('/').replace('/', "::")
}

/// The modules a file refers to through `crate::x` (and, in a top-level module's file,
/// `super::x`, which is the same), outside its tests and comments, as top-level module
/// names.
fn imports(text: &str, top_level: bool) -> BTreeSet<String> {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    // Comments (doc links included) are not imports.
    let code: String = code
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let code = if top_level {
        code.replace("super::", "crate::")
    } else {
        code
    };
    let code = code.as_str();
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + 7..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && name.chars().next().unwrap().is_ascii_lowercase() {
            out.insert(name);
        }
    }
    // `use crate::{a, b::c}` forms.
    let mut rest = code;
    while let Some(at) = rest.find("crate::{") {
        rest = &rest[at + 8..];
        let group = &rest[..rest.find('}').unwrap_or(0)];
        for item in group.split(',') {
            let name = item.trim().split("::").next().unwrap().trim();
            if !name.is_empty() && name.chars().next().unwrap().is_ascii_lowercase() {
                out.insert(name.to_string());
            }
        }
    }
    out
}

/// Fails if the top-level modules of `dir` import each other in a circle.
fn assert_no_import_circles(dir: &str) {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let root = if dir.starts_with('/') { "" } else { ROOT };
    for (path, text) in sources_in(root, dir) {
        let module = module_of(&path, dir);
        let top = module.split("::").next().unwrap().to_string();
        if top.is_empty() {
            continue;
        }
        let edges = graph.entry(top.clone()).or_default();
        for target in imports(&text, !module.contains("::")) {
            if target != top {
                edges.insert(target);
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(at) = stack.iter().position(|n| n == node) {
            panic!("import circle: {} -> {node}", stack[at..].join(" -> "));
        }
        if done.contains(node) {
            return;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, stack, done);
        }
        stack.pop();
        done.insert(node.to_string());
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done);
    }
    assert!(graph.len() > 3, "{dir}: found only {:?}", graph.keys());
}

#[test]
fn the_crypto_crate_has_no_import_circle() {
    assert_no_import_circles("crypto/src");
}

#[test]
fn the_server_has_no_import_circle() {
    assert_no_import_circles("server/src");
}

#[test]
fn the_client_spells_server_paths_in_one_place() {
    for dir in ["src", "npm/src", "cli/src"] {
        for (path, text) in sources(dir) {
            // The route table, and its tests (which spell the protocol's paths to check it).
            if path.ends_with("src/sync/ops/call.rs")
                || path.ends_with("src/sync/ops/call_tests.rs")
            {
                continue;
            }
            assert!(
                !text.contains("\"/v1/"),
                "{path} spells a server path: use sync::ops::Call"
            );
        }
    }
}

#[test]
fn the_server_does_not_link_the_client_crypto() {
    let manifest = std::fs::read_to_string(Path::new(ROOT).join("server/Cargo.toml")).unwrap();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    for client in ["vaultsync-crypto", "vaultsync =", "vaultsync-npm"] {
        assert!(!deps.contains(client), "the server depends on {client}");
    }
}
