//! Runs in the state directory: ids, folders, listing, finding the latest.
//!
//! Layout: `<state-dir>/runs/<run-id>/journal.jsonl` (and its `lock`). A run id reads as the date,
//! the time, the runbook's name and a short random suffix: `20261125-114200-route53-failover-k3f9`.

use std::path::{Path, PathBuf};

use super::journal;

pub fn runs_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("runs")
}

pub fn run_dir(state_dir: &Path, run_id: &str) -> PathBuf {
    runs_dir(state_dir).join(run_id)
}

/// Whether `id` can name a run: one name (no path separator, not `.` or `..`), never a path.
pub fn is_id(id: &str) -> bool {
    !id.is_empty() && id != "." && id != ".." && !id.contains(['/', '\\', '\0'])
}

/// A new run id for a runbook file name.
pub fn new_id(runbook_path: &Path) -> String {
    let stamp = journal::now(); // 2026-11-25T11:42:00.123Z
    let digits: String = stamp.chars().filter(char::is_ascii_digit).collect();
    let (date, time) = (
        &digits[..8.min(digits.len())],
        &digits[8.min(digits.len())..14.min(digits.len())],
    );
    let stem = runbook_path
        .file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut slug: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    slug.truncate(40);
    let slug = slug.trim_matches('-');
    let suffix: String = (0..4)
        .map(|_| fastrand::alphanumeric().to_ascii_lowercase())
        .collect();
    format!("{date}-{time}-{slug}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_read_as_date_time_name_and_suffix() {
        let id = new_id(Path::new("runbooks/Route53 Failover.yaml"));
        let parts: Vec<&str> = id.splitn(3, '-').collect();
        assert_eq!(parts[0].len(), 8, "{id}");
        assert_eq!(parts[1].len(), 6, "{id}");
        assert!(parts[2].starts_with("route53-failover-"), "{id}");
        assert_eq!(parts[2].len(), "route53-failover-".len() + 4, "{id}");
        assert_ne!(new_id(Path::new("a.yaml")), new_id(Path::new("a.yaml")));
    }
}
