//! Runbook format v1: the types a runbook file decodes into.
//!
//! These types are the single definition of the format: the loader decodes files into them and
//! `runbook schema` derives the JSON Schema from them. Parts that are decoded one by one (each
//! var, each step) are [`Deferred`], so that every broken var or step is reported.
//! docs/runbook-format.md is the prose version.

use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use super::decode::{Deferred, Spanned, is_deferred};
use super::yaml::Node;

/// The only format version this build reads.
pub const FORMAT_VERSION: i64 = 1;

/// A runbook file (also a module: a module is an ordinary runbook).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "runbook")]
#[schemars(
    title = "runbook",
    description = "A runbook for `runbook` (format version 1)"
)]
pub struct RunbookDoc {
    /// Format version; must be 1.
    #[schemars(schema_with = "version_schema")]
    pub runbook: Spanned<Node>,
    /// Title of the runbook.
    pub name: Spanned<String>,
    /// What the runbook does and for whom; shown before the first step.
    pub description: Option<String>,
    /// What to try after a successful run; shown at the end of the walkthrough.
    pub next: Option<String>,
    /// Inputs. A value comes from `--var`, `--vars-file`, `RUNBOOK_VAR_<NAME>`, the default, or
    /// a prompt, first match wins.
    #[serde(default)]
    pub vars: IndexMap<Spanned<String>, Deferred<VarDef>>,
    /// The steps, in the order a guided run shows them.
    pub steps: Spanned<Vec<Deferred<StepDef>>>,
    /// Named values printed at the end of a run (templated); a module's outputs become the
    /// outputs of the step that uses it.
    #[serde(default)]
    pub outputs: IndexMap<Spanned<String>, Node>,
}

fn version_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "const": 1, "description": "Format version; must be 1." })
}

/// The type of a var.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VarType {
    #[default]
    String,
    Integer,
    Boolean,
    List,
    /// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/16`).
    Cidr,
    /// A DNS name (`lab.example.com`): case does not matter and a final dot is dropped
    /// (`Lab.Example.com.` is `lab.example.com`). Empty only when the var's default is empty.
    Domain,
}

impl VarType {
    pub fn name(self) -> &'static str {
        match self {
            VarType::String => "string",
            VarType::Integer => "integer",
            VarType::Boolean => "boolean",
            VarType::List => "list",
            VarType::Cidr => "cidr",
            VarType::Domain => "domain",
        }
    }
}

/// An input of the runbook.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "var")]
pub struct VarDef {
    /// What the value is for (shown as help when prompting).
    pub description: Option<String>,
    /// The value's type (default: string).
    #[serde(default, rename = "type")]
    pub kind: Option<Spanned<VarType>>,
    /// The allowed values.
    pub choices: Option<Spanned<Vec<Node>>>,
    /// Used when no other source gives a value; without it the var is required.
    pub default: Option<Node>,
    /// The question the guided mode asks.
    pub prompt: Option<String>,
    /// A regular expression the whole string must match.
    pub pattern: Option<Spanned<String>>,
    /// The value is never printed, logged or stored in clear.
    #[serde(default)]
    pub secret: bool,
}

/// One step: an action, or a module used with its vars.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "step")]
pub struct StepDef {
    /// Unique id, `[a-z][a-z0-9_]*`; templates refer to the step's outputs as `steps.<id>`.
    pub id: Spanned<String>,
    /// One-line title (templated).
    pub name: Option<Spanned<String>>,
    /// Text for the walkthrough: what the step does, why, and where it lives in the AWS console.
    pub guide: Option<Spanned<String>>,
    /// The built-in action to run (`runbook actions` lists them).
    pub action: Option<Spanned<String>>,
    /// A module runbook to run, relative to this file.
    pub uses: Option<Spanned<String>>,
    /// The action's parameters, or the module's vars (templated).
    #[serde(default, rename = "with")]
    #[schemars(with = "Option<IndexMap<String, serde_json::Value>>")]
    pub with: Option<Node>,
    /// Steps that must succeed before this one, besides those its templates refer to.
    #[serde(default)]
    pub needs: Vec<Spanned<String>>,
    /// A condition (a template or expression, or a boolean); false skips the step.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub when: Option<Node>,
    /// The AWS region the step acts in, when not the run's (templated: `"{{ vars.secondary_region }}"`).
    /// On a `uses:` step, the region of every step of the module, and its `aws.region`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub region: Option<Node>,
    /// Why the step is skipped when `when` is false, shown in the plan and the run
    /// ("the emulator has no data plane").
    pub skip_reason: Option<Spanned<String>>,
    /// A question asked before the step runs; `--yes` answers yes.
    pub confirm: Option<Spanned<String>>,
    /// How long the action may take before it is cancelled (`90s`, `5m`).
    pub timeout: Option<Spanned<DurationText>>,
    /// Retry the action on errors it marks as retryable.
    pub retry: Option<Spanned<Retry>>,
    /// `auto` (the action's own undo, the default), `skip`, or a list of steps to run instead.
    #[serde(default)]
    #[schemars(with = "Option<Rollback>")]
    pub rollback: Option<Node>,
    /// An exercise: a learner makes this step's resource by hand and the runbook checks it
    /// (only for actions that can check what was made by hand: `runbook actions` says which).
    pub exercise: Option<Spanned<Exercise>>,
}

/// A step the learner does by hand.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "exercise")]
pub struct Exercise {
    /// What to build, in words: where in the console, what the AWS CLI command needs (templated).
    pub task: Spanned<String>,
    /// Hints, shown one at a time when the learner asks (templated).
    #[serde(default)]
    pub hints: Vec<Spanned<String>>,
    /// The parameters the learner must get right (default: every one the action can check).
    #[serde(default)]
    pub check: Vec<Spanned<String>>,
    /// Files written for the learner when the exercise is shown, by name (templated): a
    /// skeleton a command reads (`--change-batch file://…`), with the values the learner must
    /// choose left as blanks. The task names them as `{{ run.files }}/NAME`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub files: IndexMap<Spanned<String>, Spanned<String>>,
}

/// Retry policy: exponential backoff with jitter, starting at `delay`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "retry")]
pub struct Retry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait before the second attempt; it doubles each time (default `5s`).
    pub delay: Option<DurationText>,
}

/// What undoes a step (decoded by hand in `load`, since it is either a word or a list).
#[derive(Clone, Debug, JsonSchema)]
#[serde(untagged)]
pub enum Rollback {
    Mode(RollbackMode),
    Steps(Vec<RollbackStep>),
}

#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RollbackMode {
    /// The action's own undo.
    Auto,
    /// Nothing is undone.
    Skip,
}

/// A step run to undo another, instead of that action's own undo.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "rollback step")]
pub struct RollbackStep {
    pub name: Option<String>,
    pub action: Spanned<String>,
    #[serde(default, rename = "with")]
    #[schemars(with = "Option<IndexMap<String, serde_json::Value>>")]
    pub with: Option<Node>,
}

/// A duration written as text: `90s`, `5m`, `1h 30m`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DurationText(pub Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if is_deferred(&text) {
            return Ok(DurationText::default());
        }
        humantime::parse_duration(&text)
            .map(DurationText)
            .map_err(|_| {
                serde::de::Error::custom(format_args!(
                    "`{text}` is not a duration; write it like `90s`, `5m` or `1h 30m`"
                ))
            })
    }
}

impl JsonSchema for DurationText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        text_schema("A duration such as `90s`, `5m` or `1h 30m`.", "^\\s*\\d")
    }
}

impl serde::Serialize for DurationText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl std::fmt::Display for DurationText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// The schema of a value written as text of a form: what it is, and the pattern it starts with.
fn text_schema(description: &str, pattern: &str) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "description": description,
        "pattern": pattern
    })
}

/// An IP network in CIDR notation, checked when written literally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr(pub Option<ipnet::IpNet>);

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if is_deferred(&text) {
            return Ok(Cidr(None));
        }
        parse_cidr(&text)
            .map(|n| Cidr(Some(n)))
            .map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(net) => s.collect_str(&net),
            None => s.serialize_none(),
        }
    }
}

impl JsonSchema for Cidr {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "cidr".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        text_schema(
            "An IP network in CIDR notation, such as `10.0.0.0/16`.",
            "^[0-9a-fA-F:.]+/[0-9]{1,3}$",
        )
    }
}

/// Parse a network in CIDR notation, insisting that it is the network's own address.
pub fn parse_cidr(text: &str) -> Result<ipnet::IpNet, String> {
    let net: ipnet::IpNet = text.trim().parse().map_err(|_| {
        format!("`{text}` is not a network in CIDR notation; write it like `10.0.0.0/16`")
    })?;
    if net.trunc() != net {
        return Err(format!(
            "`{text}` has host bits set; the network is `{}`",
            net.trunc()
        ));
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_must_be_network_addresses() {
        assert!(parse_cidr("10.0.0.0/16").is_ok());
        assert_eq!(
            parse_cidr("10.0.0.1/16").unwrap_err(),
            "`10.0.0.1/16` has host bits set; the network is `10.0.0.0/16`"
        );
        assert!(parse_cidr("10.0.0/16").is_err());
        assert!(parse_cidr("fd00::/8").is_ok());
    }
}
