//! Every ERP folder under connectors/ has the same files and is registered. A new folder
//! that lacks a file, or that nobody added to the registry, fails this test.

use std::path::{Path, PathBuf};

/// The files every ERP folder has (connectors/core/API.md section 2).
const REQUIRED: &[&str] = &[
    "Cargo.toml",
    "src/lib.rs",
    "src/auth.rs",
    "src/client.rs",
    "src/schema.rs",
    "src/read.rs",
    "src/write.rs",
];

/// Folders under construction: their crates do not yet expose `connector()` and
/// `simulator()`. They are reported but do not fail the test. Empty this list (and enable
/// the registry lines) as each crate lands; the test then holds them to the full layout.
const PENDING: &[&str] = &[];

fn connectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn problems(dir: &Path, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for f in REQUIRED {
        if !dir.join(f).is_file() {
            out.push(format!("connectors/{name}/{f} is missing"));
        }
    }
    if !dir.join("src/simulator.rs").is_file() && !dir.join("src/simulator/mod.rs").is_file() {
        out.push(format!(
            "connectors/{name}/src/simulator.rs or src/simulator/mod.rs is missing"
        ));
    }
    match domain::ErpKind::parse(name) {
        None => out.push(format!("connectors/{name} is not the key of an ErpKind")),
        Some(kind) => {
            if connectors::entry(kind).is_none() {
                out.push(format!(
                    "connectors/{name} is not registered in connectors::ERPS"
                ));
            }
        }
    }
    out
}

fn erp_folders() -> Vec<(String, PathBuf)> {
    let mut v: Vec<_> = std::fs::read_dir(connectors_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().to_string(), e.path()))
        .filter(|(n, _)| n != "core" && n != "registry" && !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

#[test]
fn every_erp_folder_has_the_required_files_and_is_registered() {
    let mut failures = Vec::new();
    for (name, dir) in erp_folders() {
        let p = problems(&dir, &name);
        if PENDING.contains(&name.as_str()) {
            for msg in &p {
                eprintln!("pending: {msg}");
            }
        } else {
            failures.extend(p);
        }
    }
    assert!(
        failures.is_empty(),
        "layout problems:\n{}",
        failures.join("\n")
    );
}

#[test]
fn pending_list_names_only_existing_unregistered_folders() {
    let folders: Vec<String> = erp_folders().into_iter().map(|(n, _)| n).collect();
    for p in PENDING {
        assert!(
            folders.iter().any(|f| f == p),
            "PENDING names '{p}', which is not a folder"
        );
        let kind = domain::ErpKind::parse(p).unwrap();
        assert!(
            connectors::entry(kind).is_none(),
            "'{p}' is registered: remove it from PENDING"
        );
    }
}

#[test]
fn the_checker_reports_a_bad_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("quickbooks");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), "").unwrap();
    std::fs::write(dir.join("src/lib.rs"), "").unwrap();
    let p = problems(&dir, "quickbooks");
    assert!(
        p.iter().any(|m| m.ends_with("src/read.rs is missing")),
        "{p:?}"
    );
    assert!(p.iter().any(|m| m.contains("simulator")), "{p:?}");
    assert!(
        p.iter().any(|m| m.contains("not the key of an ErpKind")),
        "{p:?}"
    );
}
