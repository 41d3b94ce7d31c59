//! Every runbook shipped under `runbooks/` is valid, with no warning.

use crate::test::{Test, root, text};

pub fn shipped() -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "yaml") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("runbooks"), &mut out);
    out.sort();
    out
}

#[test]
fn every_shipped_runbook_validates_cleanly() {
    let files = shipped();
    assert!(files.len() >= 3, "runbooks/ holds {files:?}");
    for file in files {
        let rel = file
            .strip_prefix(root())
            .expect("under the root")
            .to_string_lossy()
            .into_owned();
        let out = Test::new()
            .current_dir(root())
            .args(["validate", rel.as_str()])
            .run();
        let (_, stderr) = text(&out);
        assert!(
            stderr.starts_with(&format!("{rel}: valid (")),
            "{rel}:\n{stderr}"
        );
        assert!(!stderr.contains("warning"), "{rel}:\n{stderr}");
    }
}

/// The failover lab run without a terminal and without `--yes` (a CI job that forgot it) is
/// refused before its first step, listing both questions and how to answer them, instead of
/// failing at the drill after the whole lab was built.
#[test]
fn the_failover_lab_without_a_terminal_or_yes_lists_its_questions_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let runbook = root().join("runbooks/route53-failover.yaml");
    let out = Test::new()
        .current_dir(dir.path())
        .args([
            "run",
            runbook.to_str().unwrap(),
            "--var",
            "domain=lab.example.com",
        ])
        .status(2)
        .run();
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("`stop_primary` asks \"Stop the primary web servers to test failover?\"")
            && stderr.contains("`registrar` is a manual step"),
        "{stderr}"
    );
    assert!(
        stderr.contains("add --yes") && stderr.contains("--var drill=false"),
        "{stderr}"
    );
    assert!(!dir.path().join(".runbook").exists(), "nothing was run");
}

#[test]
fn the_failover_runbook_plans_with_only_a_domain() {
    let out = Test::new()
        .current_dir(root())
        .args([
            "plan",
            "runbooks/route53-failover.yaml",
            "--var",
            "domain=example.com",
        ])
        .run();
    let (stdout, _) = text(&out);
    assert!(stdout.contains("cidr: 10.0.0.0/16"), "{stdout}");
    assert!(stdout.contains("cidr: 11.0.0.0/16"), "{stdout}");
    assert!(
        stdout.contains("cidr: 10.0.2.0/24"),
        "cidrsubnet is computed before the run:\n{stdout}"
    );
    assert!(
        stdout.contains("availability_zone: (known after run: steps.primary.zones.second)"),
        "the zones are the account's, found at run time:\n{stdout}"
    );
}

/// The YAML blocks of a Markdown file, in order.
fn yaml_blocks(markdown: &str) -> Vec<String> {
    markdown
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn the_complete_example_in_the_format_documentation_is_valid() {
    let doc =
        std::fs::read_to_string(root().join("docs/runbook-format.md")).expect("the format docs");
    let blocks = yaml_blocks(&doc);
    assert_eq!(blocks.len(), 2, "the example and its module");
    let out = Test::new()
        .file("example.yaml", &blocks[0])
        .file("modules/site.yaml", &blocks[1])
        .args(["validate", "example.yaml"])
        .run();
    let (_, stderr) = text(&out);
    assert_eq!(stderr, "example.yaml: valid (5 steps from 2 files)\n");
}

#[test]
fn the_readme_run_resume_rollback_example_works_as_written() {
    let readme = std::fs::read_to_string(root().join("docs/running.md")).expect("docs/running.md");
    let block = readme
        .split("# Running, resuming, rolling back")
        .nth(1)
        .and_then(|s| s.split("```sh\n").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("the example");
    let state = tempfile::tempdir().unwrap();
    let mut codes = Vec::new();
    for line in block
        .lines()
        .filter(|l| l.starts_with("./target/debug/runbook "))
    {
        let args: Vec<&str> = line
            .trim_start_matches("./target/debug/runbook ")
            .split_whitespace()
            .collect();
        let out = std::process::Command::new(crate::test::BIN)
            .args(&args)
            .current_dir(root())
            .env("RUNBOOK_STATE_DIR", state.path())
            .env_remove("RUNBOOK_VAR_READY")
            .output()
            .unwrap();
        codes.push((
            line.to_owned(),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    let expected = [Some(1), Some(0), Some(0), Some(0)];
    for ((line, code, stderr), want) in codes.iter().zip(expected) {
        assert_eq!(*code, want, "{line}\n{stderr}");
    }
    assert_eq!(codes.len(), 4);
    assert!(
        codes[1]
            .2
            .contains("prepared at the first attempt, finished after the check"),
        "{}",
        codes[1].2
    );
}

/// Every IAM action a policy's statements allow.
fn allowed_actions(policy: &serde_json::Value) -> Vec<String> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| match &s["Action"] {
            serde_json::Value::Array(a) => {
                a.iter().map(|v| v.as_str().unwrap().to_owned()).collect()
            }
            v => vec![v.as_str().unwrap().to_owned()],
        })
        .collect()
}

/// docs/iam-policy.json allows every AWS call the actions make: each `.ec2.x()`, `.elbv2.x()`,
/// `.route53.x()`, Service Quotas `sq.x()` and Price List `pricing.x()` in src/actions/aws (the
/// actions, the class's quota preflight, sweep and the walkthrough's cost), as its IAM action.
#[test]
fn the_documented_iam_policy_allows_every_call_the_actions_make() {
    let policy: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/iam-policy.json")).expect("the policy"),
    )
    .expect("JSON");
    let allowed = allowed_actions(&policy);
    let call =
        regex::Regex::new(r"(?:\.|\b)(ec2|elbv2|route53|sq|pricing)\s*\.\s*([a-z_0-9]+)\(\)")
            .unwrap();
    let mut checked = 0;
    // Every file of the AWS actions, so that a call in a new file cannot be missed.
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(root().join("src/actions/aws"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| !p.ends_with("scripted.rs"))
        .collect();
    files.sort();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let code = std::fs::read_to_string(&path).unwrap();
        for m in call.captures_iter(&code) {
            // A client handed to a task of its own (`c.elbv2.clone()`), or its configuration
            // read to make one for another region, is no call.
            if ["clone", "config", "build"].contains(&&m[2]) {
                continue;
            }
            let prefix = match &m[1] {
                "elbv2" => "elasticloadbalancing",
                "sq" => "servicequotas",
                other => other,
            };
            let name: String = if &m[2] == "test_dns_answer" {
                "TestDNSAnswer".into()
            } else if &m[2] == "get_aws_default_service_quota" {
                "GetAWSDefaultServiceQuota".into()
            } else {
                m[2].split('_')
                    .map(|w| w[..1].to_uppercase() + &w[1..])
                    .collect()
            };
            let action = format!("{prefix}:{name}");
            assert!(
                allowed.contains(&action),
                "docs/iam-policy.json lacks {action} ({file})"
            );
            checked += 1;
        }
    }
    assert!(checked > 50, "found the calls: {checked}");
    for tagging in ["ec2:CreateTags", "elasticloadbalancing:AddTags"] {
        assert!(
            allowed.iter().any(|a| a == tagging),
            "tags on create need {tagging}"
        );
    }
}

/// docs/iam-state-policy.json allows every S3 call the state in S3 makes (src/app/state), on
/// the state's prefix only.
#[test]
fn the_documented_state_policy_allows_every_call_the_state_makes() {
    let policy: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/iam-state-policy.json")).expect("the policy"),
    )
    .expect("JSON");
    let allowed = allowed_actions(&policy);
    let call = regex::Regex::new(r"\.\s*(put_object|get_object|delete_object|list_objects_v2)\(\)")
        .unwrap();
    let mut checked = 0;
    for file in ["s3.rs", "lease.rs"] {
        let code = std::fs::read_to_string(root().join("src/app/state").join(file)).unwrap();
        for m in call.captures_iter(&code) {
            let action = match &m[1] {
                "list_objects_v2" => "s3:ListBucket".to_owned(),
                other => format!(
                    "s3:{}",
                    other
                        .split('_')
                        .map(|w| w[..1].to_uppercase() + &w[1..])
                        .collect::<String>()
                ),
            };
            assert!(
                allowed.contains(&action),
                "docs/iam-state-policy.json lacks {action} ({file})"
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "found the calls: {checked}");
    let resources = policy.to_string();
    assert!(
        resources.contains("STATE-PREFIX/*") && !resources.contains("\"Resource\":\"*\""),
        "the policy is limited to the state's prefix: {resources}"
    );
}

/// README is a front door: short, and every page it (or a page it leads to) links exists.
#[test]
fn readme_is_short_and_every_page_linked_exists() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    assert!(
        readme.lines().count() <= 300,
        "README has {} lines; move detail to docs/",
        readme.lines().count()
    );
    let link = regex::Regex::new(r"\]\(([^)#\s]+)(#[^)]*)?\)").unwrap();
    let mut pages = vec![root().join("README.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for c in link.captures_iter(&text) {
            let target = &c[1];
            if target.starts_with("http") {
                continue;
            }
            let path = page.parent().unwrap().join(target);
            assert!(
                path.exists(),
                "{} links {target}, which does not exist",
                page.display()
            );
        }
    }
}
