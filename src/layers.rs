//! The dependency test: every `crate::` path in `src/` must follow the graph written in the
//! Layout section of `src/lib.rs` ("Dependencies point one way"). The table there is the one
//! definition; this module only reads it and the sources.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module → the modules it may use, read from the `| module | may use |` table in `lib.rs`.
/// `every module but X` allows every listed module except `X`.
fn graph(lib_rs: &str) -> BTreeMap<String, BTreeSet<String>> {
    let rows: Vec<(String, String)> = lib_rs
        .lines()
        .filter_map(|l| l.strip_prefix("//! | `"))
        .filter_map(|l| {
            let (module, rest) = l.split_once('`')?;
            let allowed = rest
                .trim_start()
                .strip_prefix('|')?
                .trim()
                .trim_end_matches('|');
            Some((module.to_string(), allowed.trim().to_string()))
        })
        .collect();
    let all: BTreeSet<String> = rows.iter().map(|(m, _)| m.clone()).collect();
    rows.iter()
        .map(|(module, allowed)| {
            let set = if let Some(except) = allowed.strip_prefix("every module but ") {
                let except = names(except);
                all.iter()
                    .filter(|m| !except.contains(*m) && *m != module)
                    .cloned()
                    .collect()
            } else {
                names(allowed)
            };
            (module.clone(), set)
        })
        .collect()
}

/// The back-quoted names in a table cell.
fn names(cell: &str) -> BTreeSet<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The top-level modules one source file refers to through `crate::` (comment lines skipped).
fn uses(source: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in source.lines() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let before = rest[..i].chars().next_back();
            rest = &rest[i + "crate::".len()..];
            // `quota_sentinel::crate::` cannot occur; skip `$crate::` and identifiers ending in
            // `crate` (e.g. `foo_crate::`).
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                // `use crate::{a, b::C}`: every name after a `{` or `,` at the first level.
                if let Some(group) = rest.strip_prefix('{') {
                    let group = group.split('}').next().unwrap_or_default();
                    for part in group.split(',') {
                        let head: String = part
                            .trim()
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if !head.is_empty() {
                            out.insert(head);
                        }
                    }
                }
            } else {
                out.insert(name);
            }
        }
    }
    out
}

/// Every forbidden edge: `(file, module, used module)`.
fn violations(
    graph: &BTreeMap<String, BTreeSet<String>>,
    files: &[(String, String, String)],
) -> Vec<String> {
    let mut bad = Vec::new();
    for (file, module, source) in files {
        let Some(allowed) = graph.get(module) else {
            bad.push(format!("{file}: module `{module}` has no row in the graph"));
            continue;
        };
        for used in uses(source) {
            if used == *module || used == "types" {
                continue;
            }
            if !allowed.contains(&used) {
                bad.push(format!("{file}: `{module}` uses `{used}`"));
            }
        }
    }
    bad
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_respects_the_graph() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib_rs = std::fs::read_to_string(src.join("lib.rs")).expect("read lib.rs");
    let graph = graph(&lib_rs);
    assert!(graph.len() > 10, "the graph table in lib.rs was not found");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: Vec<(String, String, String)> = paths
        .iter()
        .filter_map(|p| {
            let rel = p.strip_prefix(&src).ok()?;
            let first = rel.components().next()?.as_os_str().to_str()?;
            let module = first.trim_end_matches(".rs").to_string();
            // The crate root, the CLI and this test are not layers.
            if matches!(module.as_str(), "lib" | "main" | "layers") {
                return None;
            }
            let source = std::fs::read_to_string(p).ok()?;
            Some((rel.display().to_string(), module, source))
        })
        .collect();
    assert!(files.len() > 30, "too few sources found under {src:?}");
    let bad = violations(&graph, &files);
    assert!(
        bad.is_empty(),
        "imports against the graph:\n{}",
        bad.join("\n")
    );
    // Every top-level module has a row.
    for (_, module, _) in &files {
        assert!(graph.contains_key(module), "`{module}` has no row");
    }
}

#[test]
fn a_forbidden_import_is_caught() {
    let lib_rs = "//! | `quota` | — |\n//! | `store` | `quota` |\n//! | `server` | every module but `demo` |\n//! | `demo` | `server` |\n";
    let g = graph(lib_rs);
    assert_eq!(g["server"], names("`quota` `store`"));
    let file = |m: &str, s: &str| (format!("{m}.rs"), m.to_string(), s.to_string());
    let ok = [
        file(
            "store",
            "use crate::quota::Limits;\n// crate::server in a comment\n",
        ),
        file("quota", "use crate::types::Status;\n"),
    ];
    assert!(violations(&g, &ok).is_empty());
    let bad = [
        file("quota", "use crate::store::Store;\n"),
        file("store", "    let x = crate::server::run();\n"),
        file("store", "use crate::{quota::Limits, demo::Demo};\n"),
    ];
    assert_eq!(
        violations(&g, &bad),
        [
            "quota.rs: `quota` uses `store`",
            "store.rs: `store` uses `server`",
            "store.rs: `store` uses `demo`",
        ]
    );
}
