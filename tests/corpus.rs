//! The corpus of invalid runbooks under `tests/invalid/`: one file per class of error, named
//! after the diagnostic code it must produce (`unknown-action.yaml`, or `unknown-key__step.yaml`
//! for a second case of `unknown-key`), with the exact expected stderr beside it
//! (`unknown-action.stderr`). `RUNBOOK_BLESS=1 cargo test corpus` rewrites the expected files;
//! review the diff before committing.

use std::path::{Path, PathBuf};

use crate::test::{Test, root, text};

fn cases() -> Vec<PathBuf> {
    let dir = root().join("tests/invalid");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/invalid exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    cases.sort();
    cases
}

fn code_of(case: &Path) -> String {
    let stem = case
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("a UTF-8 file name");
    stem.split("__").next().expect("a code").to_owned()
}

#[test]
fn the_corpus_covers_at_least_25_classes_of_error() {
    let cases = cases();
    let mut codes: Vec<String> = cases.iter().map(|c| code_of(c)).collect();
    codes.dedup();
    assert!(codes.len() >= 25, "only {} classes: {codes:?}", codes.len());
}

#[test]
fn every_invalid_runbook_gives_its_diagnostic_and_exit_2() {
    let bless = std::env::var_os("RUNBOOK_BLESS").is_some();
    let mut failures = Vec::new();
    for case in cases() {
        let name = case
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a name")
            .to_owned();
        let out = Test::new()
            .current_dir(root().join("tests/invalid"))
            .args(["validate", name.as_str()])
            .output();
        let (stdout, stderr) = text(&out);
        let expected_path = case.with_extension("stderr");
        if bless {
            std::fs::write(&expected_path, &stderr).expect("write the expected stderr");
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        let code = code_of(&case);
        if out.status.code() != Some(2) {
            failures.push(format!(
                "{name}: exit code {:?}, expected 2",
                out.status.code()
            ));
        }
        if !stderr.starts_with(&format!("error[{code}]")) {
            failures.push(format!(
                "{name}: the first diagnostic is not `{code}`:\n{stderr}"
            ));
        }
        if stderr != expected {
            failures.push(format!(
                "{name}: stderr differs from {}\n--- expected\n{expected}\n--- actual\n{stderr}",
                expected_path.display()
            ));
        }
        if !stdout.is_empty() {
            failures.push(format!("{name}: wrote to stdout: {stdout}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
