//! The built-in actions, as data.
//!
//! Each action is defined once, as an [`ActionDef`]: its name, a typed parameter struct (serde
//! with `deny_unknown_fields`, and a JSON Schema derived from it), its outputs, its effect, what
//! its undo does, the kinds of resource it creates and what it costs and counts against quotas.
//! Validation, `plan`, `actions`, `schema`, the walkthrough, sweep and execution all read these
//! definitions, so they cannot drift apart. The engine sees them through [`Builtin`].

pub mod aws;
pub mod check;
pub mod core;
pub mod exec;
mod names;
#[cfg(feature = "test-actions")]
pub mod testing;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;

use crate::engine::action::{Action, Executor, Registry};
use crate::runbook::decode::{self, DecodeError};
use crate::runbook::yaml::Node;

pub use crate::engine::action::Effect;
pub use aws::cost::{Bill, Priced, Prices};
pub use names::unknown_name_help;

/// One output of an action: `steps.<id>.<name>` in templates.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct OutputDef {
    pub name: &'static str,
    /// `string`, `list`, `integer`, `boolean`, `mapping`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub description: &'static str,
}

/// Which outputs an action has.
#[derive(Clone, Copy, Debug)]
pub enum Outputs {
    Fixed(&'static [OutputDef]),
    /// The keys of the step's `with:` (`core.set`).
    FromParams,
    /// The names the step lists in its `outputs` parameter (`core.exec`).
    Listed,
}

/// How the parameters are checked and described; built from the parameter struct's type.
#[derive(Clone, Copy)]
pub struct Params {
    /// Decode `with:` with templates standing in for any value (validation before rendering).
    pub check: fn(&Node) -> Result<(), DecodeError>,
    /// The JSON Schema of `with:`.
    pub schema: fn(&mut SchemaGenerator) -> Schema,
    /// The serde name of the struct, which error messages use as context.
    pub type_name: fn() -> std::borrow::Cow<'static, str>,
    /// What AWS would refuse in the values themselves (a name too long, an instance type that
    /// is no type), found by validation before anything runs.
    pub lint: Option<ParamLint>,
}

/// A step's parameter check: its id, and its parameters as known before the run (a value that
/// waits for another step's outputs is `null`; a list keeps its length).
pub type ParamLint = fn(step: &str, known: &serde_json::Value) -> Vec<ParamProblem>;

/// One value AWS would refuse, found before the run.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamProblem {
    /// The parameter, to point at in the file.
    pub param: &'static str,
    /// The diagnostic's code (`aws-name`).
    pub code: &'static str,
    pub message: String,
    pub help: &'static str,
}

impl Params {
    pub const fn of<P: DeserializeOwned + JsonSchema>() -> Params {
        Params {
            check: check_with::<P>,
            schema: schema_of::<P>,
            type_name: P::schema_name,
            lint: None,
        }
    }

    /// With a check of the values (`lint`).
    #[must_use]
    pub const fn linted(mut self, lint: ParamLint) -> Params {
        self.lint = Some(lint);
        self
    }
}

fn check_with<P: DeserializeOwned>(node: &Node) -> Result<(), DecodeError> {
    decode::check_lenient::<P>(node)
}

fn schema_of<P: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<P>()
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Params")
    }
}

#[derive(Clone, Copy)]
pub struct ActionDef {
    /// `service.verb`, e.g. `aws.ec2.create_vpc`.
    pub name: &'static str,
    /// One line: what it does.
    pub summary: &'static str,
    /// More: how it behaves, what it waits for, where it lives in the AWS console.
    pub docs: &'static str,
    pub effect: Effect,
    /// Whether, with these rendered parameters, it only reads where its `effect` says more (a
    /// create's lookup mode: `aws.route53.hosted_zone` with `create: false` or a zone id).
    pub reads_only: Option<fn(&serde_json::Value) -> bool>,
    pub params: Params,
    pub outputs: Outputs,
    /// What the automatic rollback does, or `None` when there is nothing to undo.
    pub undo: Option<&'static str>,
    /// What runs it, reconciles it after a crash, and undoes it.
    pub executor: &'static dyn Executor,
    /// The AWS CLI commands that do the same by hand, from the rendered parameters (shown by the
    /// walkthrough before the step runs).
    pub cli: Option<fn(&serde_json::Value) -> Vec<String>>,
    /// The kinds of resource it creates, as its resources name them (`vpc`, `load balancer`);
    /// each AWS kind has an entry in [`aws::kinds`] (console page, how sweep deletes it).
    pub creates: &'static [aws::kinds::ResourceKind],
    /// What it creates, in words, for the walkthrough's introduction ("Application Load Balancer").
    pub noun: Option<&'static str>,
    /// What a step of it costs by the hour and counts against quotas, from its planned parameters.
    pub usage: Option<fn(&serde_json::Value) -> Usage>,
    /// It can be an exercise (a step's `exercise:`): a learner makes it by hand, and its
    /// executor's `by_hand` finds that and says what differs.
    pub exercise: Option<Exercisable>,
    /// The names people know it by from elsewhere (`shell` and `command` from Ansible,
    /// `RunInstances` from the AWS API, `echo` from a script): an unknown action written so is
    /// pointed here, not at whatever is spelled alike (`core.shell` is not `core.sleep`).
    pub also: &'static [&'static str],
    /// It looks at what the steps before it did (a check, a wait, a pause): beside them, with
    /// nothing to wait for, it would look before they acted. Validation warns of one that waits
    /// for no step after one that acts (`unordered`).
    pub follows: bool,
}

/// How an action checks what a learner made by hand.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Exercisable {
    /// Where it looks, in words: "the records of the zone with the step's name and type".
    pub looks: &'static str,
    /// The parameters it can compare; a step's `exercise.check` names some of them (default:
    /// all).
    pub compares: &'static [&'static str],
    /// Its look is cheap and tells "done" from "not yet" (instances stopped): while the task
    /// is shown the run looks by itself every few seconds and goes on as soon as it is done,
    /// so what comes next starts when the learner acted, not when they came back to the key.
    pub watch: bool,
}

/// What a step uses once it has run: the walkthrough's cost estimate and a class's quota
/// preflight add these up over a plan.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    /// What it is billed for by the hour (priced per region by [`Prices`]).
    pub hourly: Option<Bill>,
    /// What a quota counts.
    pub quota: Need,
    /// The DNS record slots it writes: two labs writing one slot would overwrite each other.
    pub records: Vec<Slot>,
    /// The names it takes that are unique in an account's region (`target group lab-tg`): two
    /// labs taking one in one region would fail.
    pub names: Vec<String>,
}

/// One DNS record slot: a name and type, and which record of them (a failover role, or a
/// weighted record's set identifier). Route 53 keeps one record per slot.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot {
    pub name: String,
    pub kind: String,
    /// `PRIMARY`, `SECONDARY`, or `set ID`.
    pub which: String,
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} {} record of {}",
            self.which, self.kind, self.name
        )
    }
}

/// What a step (or a whole lab) creates that an account's quotas count.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Need {
    pub vpcs: u32,
    pub internet_gateways: u32,
    pub load_balancers: u32,
    /// Instances by type.
    pub instances: Vec<(String, u32)>,
}

impl std::fmt::Debug for ActionDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionDef")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ActionDef {
    /// The facts every action has; a definition names the rest (`summary` and `docs` always,
    /// then what it outputs, undoes, creates…) and takes the others from here with `..`:
    /// no outputs, nothing to undo, no CLI line, no resources, no noun, no usage, no exercise.
    /// (A unit test checks that every registered action has its summary and docs.)
    pub const fn new(
        name: &'static str,
        effect: Effect,
        params: Params,
        executor: &'static dyn Executor,
    ) -> ActionDef {
        ActionDef {
            name,
            summary: "",
            docs: "",
            effect,
            reads_only: None,
            params,
            outputs: Outputs::Fixed(&[]),
            undo: None,
            executor,
            cli: None,
            creates: &[],
            noun: None,
            usage: None,
            exercise: None,
            also: &[],
            follows: false,
        }
    }

    /// What a step of it does with these rendered parameters: its `effect`, unless they ask it
    /// only to read.
    pub fn effect_of(&self, params: &serde_json::Value) -> Effect {
        if self.reads_only.is_some_and(|only| only(params)) {
            Effect::Reads
        } else {
            self.effect
        }
    }

    /// What rollback does for a step of it with these rendered parameters.
    pub fn undo_of(&self, params: &serde_json::Value) -> Option<&'static str> {
        if self.effect_of(params) == Effect::Reads && self.effect != Effect::Reads {
            return None;
        }
        self.undo
    }

    pub fn output_names(&self) -> Vec<&'static str> {
        match self.outputs {
            Outputs::Fixed(outputs) => outputs.iter().map(|o| o.name).collect(),
            Outputs::FromParams | Outputs::Listed => Vec::new(),
        }
    }

    /// The JSON Schema of this action's parameters, standing alone.
    pub fn params_schema(&self) -> Schema {
        let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
        let mut schema = (self.params.schema)(&mut generator);
        let defs = generator.take_definitions(true);
        if let Some(object) = schema.as_object_mut() {
            if !defs.is_empty() {
                object.insert("$defs".into(), serde_json::Value::Object(defs));
            }
        }
        inline_refs(schema)
    }
}

/// Resolve `$ref`s into the schema itself, so that `actions` can walk properties directly.
fn inline_refs(schema: Schema) -> Schema {
    fn walk(v: &mut serde_json::Value, defs: &serde_json::Value, depth: usize) {
        if depth > 16 {
            return;
        }
        if let Some(reference) = v.get("$ref").and_then(|r| r.as_str()).map(str::to_owned) {
            // A `$ref` is a URI fragment: names with spaces arrive percent-encoded.
            let name = reference.strip_prefix("#/$defs/").map(|n| {
                percent_encoding::percent_decode_str(n)
                    .decode_utf8_lossy()
                    .into_owned()
            });
            if let Some(target) = name.and_then(|name| defs.get(&name)) {
                let mut target = target.clone();
                walk(&mut target, defs, depth + 1);
                if let (Some(obj), Some(t)) = (v.as_object_mut(), target.as_object()) {
                    obj.remove("$ref");
                    for (k, val) in t {
                        obj.entry(k.clone()).or_insert_with(|| val.clone());
                    }
                }
            }
        }
        match v {
            serde_json::Value::Object(map) => {
                map.remove("$defs");
                map.values_mut().for_each(|c| walk(c, defs, depth));
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|c| walk(c, defs, depth)),
            _ => {}
        }
    }
    let mut value = schema.to_value();
    let defs = value.get("$defs").cloned().unwrap_or_default();
    walk(&mut value, &defs, 0);
    Schema::try_from(value).unwrap_or_default()
}

/// A drill's measured step: the time it is measured from (a `since:` parameter, RFC 3339, such as
/// a stop step's `stopped_at`), refused as bad input when it is not a time.
pub fn measured_from(
    since: Option<&str>,
) -> Result<Option<std::time::SystemTime>, crate::engine::action::ActionError> {
    since
        .filter(|s| !s.is_empty())
        .map(|since| {
            humantime::parse_rfc3339_weak(since).map_err(|e| {
                crate::engine::action::ActionError::new(format!(
                    "`since` is not an RFC 3339 time ({e}): {since}"
                ))
                .hint("give a step's time output, such as `{{ steps.stop_primary.stopped_at }}`")
                .invalid_input()
            })
        })
        .transpose()
}

/// Whole seconds from `at` until now (0 when `at` is in the future: another machine's clock).
pub fn seconds_since(at: std::time::SystemTime) -> u64 {
    std::time::SystemTime::now()
        .duration_since(at)
        .unwrap_or_default()
        .as_secs()
}

/// Every built-in action, in the order `runbook actions` lists them.
pub fn all() -> impl Iterator<Item = &'static ActionDef> {
    core::ACTIONS
        .iter()
        .chain(exec::ACTIONS)
        .chain(check::ACTIONS)
        .chain(aws::all())
        .chain(testing_actions())
}

#[cfg(feature = "test-actions")]
fn testing_actions() -> &'static [ActionDef] {
    testing::ACTIONS
}

#[cfg(not(feature = "test-actions"))]
fn testing_actions() -> &'static [ActionDef] {
    &[]
}

pub fn find(name: &str) -> Option<&'static ActionDef> {
    all().find(|a| a.name == name)
}

impl Action for ActionDef {
    fn name(&self) -> &'static str {
        self.name
    }

    fn effect(&self) -> Effect {
        self.effect
    }

    fn effect_of(&self, params: &serde_json::Value) -> Effect {
        ActionDef::effect_of(self, params)
    }

    fn executor(&self) -> &'static dyn Executor {
        self.executor
    }

    fn creates(&self) -> Vec<&'static str> {
        self.creates.iter().map(|k| k.name()).collect()
    }

    fn watches_by_hand(&self) -> bool {
        self.exercise.is_some_and(|x| x.watch)
    }
}

/// The built-in actions, as the engine looks them up by name.
pub struct Builtin;

impl Registry for Builtin {
    fn find(&self, name: &str) -> Option<&'static dyn Action> {
        find(name).map(|def| def as &'static dyn Action)
    }
}

/// What a step of `action` is billed for by the hour once it has run, from its definition's
/// `usage`; `None` when it creates nothing billed by the hour (VPCs, subnets, records).
pub fn hourly(action: &str, params: &serde_json::Value) -> Option<Bill> {
    (find(action)?.usage?)(params).hourly
}

/// A created resource's page in the AWS console of `region`, from its kind's entry.
pub fn console_url(kind: &str, id: &str, region: &str) -> Option<String> {
    aws::kinds::console_url(kind, id, region)
}

/// Whether a "resource" is a change a step made to resources that exist (instances stopped,
/// targets registered), undone by its step, rather than something the step made.
pub fn is_change(kind: &str) -> bool {
    aws::kinds::CHANGES.iter().any(|k| *k == *kind)
}

/// Whether a kind of resource is one for the account, not in a region (Route 53's).
pub fn is_global(kind: &str) -> bool {
    aws::kinds::find(kind).is_some_and(|k| k.global)
}

pub fn names() -> Vec<&'static str> {
    all().map(|a| a.name).collect()
}

/// Shorthand for the output tables of the definitions.
pub(crate) const fn out(
    name: &'static str,
    kind: &'static str,
    description: &'static str,
) -> OutputDef {
    OutputDef {
        name,
        kind,
        description,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_well_formed() {
        let names = names();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "duplicate action names");
        for n in names {
            assert!(n.split('.').count() >= 2, "{n} has no service prefix");
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_' || c.is_ascii_digit()),
                "{n}"
            );
        }
    }

    #[test]
    fn every_action_says_what_it_does() {
        for a in all() {
            assert!(!a.summary.is_empty(), "{} has no summary", a.name);
            assert!(!a.docs.is_empty(), "{} has no docs", a.name);
        }
    }

    #[test]
    fn every_parameter_schema_is_an_object_with_properties() {
        for a in all() {
            let schema = a.params_schema().to_value();
            assert_eq!(schema["type"], "object", "{}", a.name);
            let open = matches!(a.outputs, Outputs::FromParams);
            assert!(
                open || schema["properties"].is_object(),
                "{} has no properties",
                a.name
            );
        }
    }

    #[test]
    fn creating_actions_say_how_they_are_undone() {
        for a in all().filter(|a| a.effect == Effect::Creates) {
            assert!(
                a.undo.is_some(),
                "{} creates something but has no undo",
                a.name
            );
        }
    }
}
