//! Where a run's AWS calls go: region, endpoint, profile, role and rate limits, resolved here
//! and nowhere else, from the command line, a class's roster and a run's journal. Each function
//! names one situation and says which source wins.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::roster::Student;
use super::settings::Settings;
use crate::actions::aws::client::{self, Caller};
use crate::engine::state::RunState;
use crate::error::Error;

/// A run's AWS target: what its clients are made from and what its journal records.
pub type Target = client::Settings;

/// A new run: the command line's, in `region` (the command line's, the runbook's `region` var
/// or the environment's, as templates know it).
pub fn new_run(settings: &Settings, region: Option<String>) -> Target {
    Target {
        region,
        ..command_line(settings)
    }
}

/// `runbook check`: a new run's target, whose clients refuse every call that is not a read.
pub fn checked(settings: &Settings, region: Option<String>) -> Target {
    Target {
        read_only: true,
        ..new_run(settings, region)
    }
}

/// Exactly what the command line says (`sweep` without a roster).
pub fn command_line(settings: &Settings) -> Target {
    Target {
        region: settings.region.clone(),
        profile: settings.profile.clone(),
        endpoint_url: settings.endpoint_url.clone(),
        rates: settings.aws_rate,
        role_arn: None,
        read_only: false,
    }
}

/// A recorded run taken up again (`resume`): in `region`, with the command line's endpoint and
/// profile where given, else the journal's; the journal's role.
pub fn resumed(settings: &Settings, state: &RunState, region: Option<String>) -> Target {
    let recorded = Recorded::of(state);
    Target {
        region,
        profile: settings.profile.clone().or(recorded.profile),
        endpoint_url: settings.endpoint_url.clone().or(recorded.endpoint_url),
        rates: settings.aws_rate,
        role_arn: recorded.role_arn,
        read_only: false,
    }
}

/// A recorded run rolled back: the command line's values where given, else the journal's.
pub fn of_run(settings: &Settings, state: &RunState) -> Target {
    resumed(
        settings,
        state,
        settings.region.clone().or(Recorded::of(state).region),
    )
}

/// A recorded run is acted on where it ran: a region, endpoint or profile given now (on the
/// command line, or the endpoint in the environment) that differs from what its journal recorded
/// is refused before any call, naming both, unless `retarget` says to go on with what is given
/// now. `what` is the command's verb ("roll back", "resume").
pub fn check_recorded(
    settings: &Settings,
    state: &RunState,
    retarget: bool,
    what: &str,
) -> Result<(), Error> {
    if retarget || !state_uses_aws(state) {
        return Ok(());
    }
    let recorded = Recorded::of(state);
    let mut differ = Vec::new();
    if let (Some(now), Some(then)) = (&settings.region, &recorded.region) {
        if now != then {
            // Its steps' own regions are recorded with them: `--region` names the run's own,
            // and one of the others is no better a target for the steps without one.
            let others = state.regions();
            let others: Vec<&String> = others.iter().filter(|r| *r != then).collect();
            let also = if others.is_empty() {
                String::new()
            } else {
                format!(
                    "; its steps with their own region acted in {}, which the journal holds and {what} finds without --region",
                    others
                        .iter()
                        .map(|r| format!("`{r}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            differ.push(format!("the region `{now}` (the run's is `{then}`{also})"));
        }
    }
    let endpoint = settings.endpoint_url.as_deref().filter(|u| !u.is_empty());
    match (endpoint, recorded.endpoint_url.as_deref()) {
        (Some(now), Some(then)) if now.trim_end_matches('/') != then.trim_end_matches('/') => {
            differ.push(format!("the endpoint `{now}` (the run's is `{then}`)"));
        }
        (Some(now), None) => {
            differ.push(format!("the endpoint `{now}` (the run went to AWS itself)"));
        }
        _ => {}
    }
    if let (Some(now), Some(then)) = (&settings.profile, &recorded.profile) {
        if now != then {
            differ.push(format!("the profile `{now}` (the run's is `{then}`)"));
        }
    }
    if differ.is_empty() {
        return Ok(());
    }
    Err(Error::usage(
        format!(
            "run `{}` did not run where this command points: {}",
            state.run_id,
            differ.join("; ")
        ),
        format!(
            "leave those options out (and unset AWS_ENDPOINT_URL if the shell sets it) to {what} the run where it ran, or add --retarget to go on with the values given now (for example an emulator restarted on another port)"
        ),
    ))
}

/// The credentials given now act in another account than the run's: refused like another
/// region, unless `retarget`.
pub fn check_account(
    state: &RunState,
    caller: Option<&Caller>,
    retarget: bool,
    what: &str,
) -> Result<(), Error> {
    let account = caller.map(|c| c.account.as_str());
    let recorded = Recorded::of(state);
    if recorded.account.is_none() && state_uses_aws(state) {
        crate::ui::note!(
            "Run `{}` did not record its account (its journal predates that); going on in {}.",
            state.run_id,
            account.map_or_else(
                || "the account these credentials act in".to_owned(),
                |a| format!("account {a}")
            )
        );
    }
    match (recorded.account.as_deref(), account) {
        (Some(then), Some(now)) if then != now && !retarget => Err(Error::usage(
            format!(
                "run `{}` was made in account {then}, and these credentials act in account {now}",
                state.run_id
            ),
            format!(
                "use the credentials (profile, role) of account {then} to {what} it, or add --retarget to go on in account {now}"
            ),
        )),
        _ => Ok(()),
    }
}

/// Where calls to `target` go, for people: "account 123456789012 (aws), region ap-south-1,
/// endpoint …". `caller` is what STS said, if it answered.
pub fn describe(target: &Target, caller: Option<&Caller>) -> String {
    Recorded::new(target.region.clone(), false, target, caller).describe()
}

/// What a run's journal keeps of its target (the engine keeps it as an opaque value).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    /// The region its templates knew as `aws.region`.
    pub region: Option<String>,
    /// Its calls went to an emulator.
    #[serde(default)]
    pub emulated: bool,
    /// The endpoint given for the run (an emulator), reused by resume and rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// The profile and role it used (a class spread over accounts), reused by resume and
    /// rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The account the credentials acted in (STS), when AWS said, and its partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// Who started it (`user@host`): on a shared store, a command that names no run takes up
    /// only the latest of one's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
}

/// Who is running this command: `user@host`, as a journal records who started a run or
/// marked a step.
pub fn who() -> String {
    // The name the user goes by, else the system's name for the process's user (a container or
    // a CI runner often sets no USER).
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| whoami::username().ok())
        .unwrap_or_else(|| "someone".into());
    format!("{user}@{}", gethostname::gethostname().to_string_lossy())
}

impl Recorded {
    /// What a new run records: the region and emulation its templates knew, its target, and
    /// the account its credentials act in.
    pub fn new(
        region: Option<String>,
        emulated: bool,
        target: &Target,
        caller: Option<&Caller>,
    ) -> Self {
        Recorded {
            region,
            emulated,
            endpoint_url: target.endpoint_url.clone(),
            profile: target.profile.clone(),
            role_arn: target.role_arn.clone(),
            account: caller.map(|c| c.account.clone()),
            partition: caller.and_then(|c| c.partition.clone()),
            started_by: Some(who()),
        }
    }

    /// What a run's journal recorded (nothing, for a journal that recorded no target).
    pub fn of(state: &RunState) -> Self {
        serde_json::from_value(Json::Object(state.target.clone())).unwrap_or_default()
    }

    /// Where the run went, for people (`show`): "account 123456789012 (aws), region
    /// ap-south-1, endpoint …" ("account unknown" when STS did not say, or the journal predates
    /// the account's record).
    pub fn describe(&self) -> String {
        let mut parts = vec![match (&self.account, &self.partition) {
            (Some(a), Some(p)) => format!("account {a} ({p})"),
            (Some(a), None) => format!("account {a}"),
            (None, _) => "account unknown".to_owned(),
        }];
        if let Some(region) = &self.region {
            parts.push(format!("region {region}"));
        }
        if let Some(url) = &self.endpoint_url {
            parts.push(format!("endpoint {url}"));
        }
        if let Some(profile) = &self.profile {
            parts.push(format!("profile {profile}"));
        }
        if let Some(role) = &self.role_arn {
            parts.push(format!("role {role}"));
        }
        parts.join(", ")
    }

    /// As the journal keeps it.
    pub fn to_map(&self) -> Map<String, Json> {
        match serde_json::to_value(self) {
            Ok(Json::Object(map)) => map,
            _ => Map::new(),
        }
    }
}

/// A student's lab: the roster's region (or `region`, found for it), else the command line's;
/// the roster's profile over the command line's; the roster's role.
pub fn lab(settings: &Settings, student: &Student, region: Option<String>) -> Target {
    Target {
        region: region.or_else(|| settings.region.clone()),
        profile: student.profile.clone().or_else(|| settings.profile.clone()),
        endpoint_url: settings.endpoint_url.clone(),
        rates: settings.aws_rate,
        role_arn: student.role_arn.clone(),
        read_only: false,
    }
}

/// A place `sweep --each` looks in: the command line's region over the roster's; the roster's
/// profile over the command line's; the roster's role.
pub fn place(settings: &Settings, student: Student) -> Target {
    Target {
        region: settings.region.clone().or(student.region),
        profile: student.profile.or(settings.profile.clone()),
        endpoint_url: settings.endpoint_url.clone(),
        rates: settings.aws_rate,
        role_arn: student.role_arn,
        read_only: false,
    }
}

/// Whether a run has AWS resources to undo (or steps that may have made some).
pub(crate) fn state_uses_aws(state: &RunState) -> bool {
    use crate::engine::state::{StepState, Tried};
    state.steps.values().any(|s| match s {
        StepState::Started { action, .. } | StepState::Failed(_, Some(Tried { action, .. })) => {
            crate::actions::aws::calls_aws(action)
        }
        StepState::Succeeded(d) => crate::actions::aws::calls_aws(&d.action),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::journal::Entry;

    /// A journal written before the target was opaque to the engine reads the same, and a new
    /// one is written in the same shape.
    #[test]
    fn the_journal_keeps_the_target_in_the_same_fields() {
        let line = r#"{"at":"2026-01-01T00:00:00.000Z","event":"run_started","run_id":"r","runbook":"/x.yaml","name":"n","hash":"h","step_hashes":{},"vars":{},"secret_vars":[],"region":"ap-south-1","emulated":true,"endpoint_url":"http://127.0.0.1:5000","role_arn":"arn:aws:iam::1:role/lab","graph":{}}"#;
        let entry: Entry = serde_json::from_str(line).unwrap();
        let state = RunState::from_entries(std::slice::from_ref(&entry));
        let recorded = Recorded::of(&state);
        assert_eq!(recorded.region.as_deref(), Some("ap-south-1"));
        assert!(recorded.emulated);
        assert_eq!(
            recorded.endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(recorded.profile, None);
        assert_eq!(
            recorded.role_arn.as_deref(),
            Some("arn:aws:iam::1:role/lab")
        );
        let written: Json = serde_json::to_value(&entry).unwrap();
        let read: Json = serde_json::from_str(line).unwrap();
        assert_eq!(written, read);
        assert_eq!(Recorded::of(&RunState::default()), Recorded::default());
    }
}
