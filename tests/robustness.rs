//! Never a panic: every shipped runbook, broken in many small ways, gives diagnostics, not a
//! crash. Each variant drops one line, or cuts the file short at that line.

use std::process::Command;

use crate::examples::shipped;
use crate::test::{BIN, root};

#[test]
fn broken_variants_of_the_shipped_runbooks_never_panic() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir_all(dir.path().join("modules")).expect("modules folder");
    for module in std::fs::read_dir(root().join("runbooks/modules")).expect("modules") {
        let module = module.expect("an entry").path();
        std::fs::copy(
            &module,
            dir.path()
                .join("modules")
                .join(module.file_name().expect("a name")),
        )
        .expect("copy");
    }
    let mut runs = 0;
    for file in shipped() {
        let text = std::fs::read_to_string(&file).expect("readable");
        let lines: Vec<&str> = text.lines().collect();
        // Every third line keeps the test quick while touching every part of each file.
        for i in (0..lines.len()).step_by(3) {
            let mut dropped: Vec<&str> = lines.clone();
            dropped.remove(i);
            let dropped = dropped.join("\n") + "\n";
            let cut = lines[..i].join("\n") + "\n";
            for (kind, variant) in [("dropped", dropped), ("cut", cut)] {
                let path = dir.path().join("variant.yaml");
                std::fs::write(&path, &variant).expect("write");
                for command in ["validate", "plan"] {
                    let out = Command::new(BIN)
                        .args([
                            command,
                            "variant.yaml",
                            "--var",
                            "domain=example.com",
                            "--var",
                            "name=x",
                            "--var",
                            "cidr=10.0.0.0/16",
                        ])
                        .current_dir(dir.path())
                        .output()
                        .expect("run");
                    runs += 1;
                    let code = out.status.code();
                    assert!(
                        matches!(code, Some(0 | 2)),
                        "{command} on {} with line {} {kind}: exit {code:?}\n{}",
                        file.display(),
                        i + 1,
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        }
    }
    assert!(runs > 200, "only {runs} variants");
}
