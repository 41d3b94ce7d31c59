//! EC2 instances: launch, wait, stop and start. The drill stops the primary's instances here,
//! and every wait for instances of a target shares one poll (`Clients::instances`).

use std::collections::HashMap;

use aws_sdk_ec2::types::{Instance, InstanceStateName, InstanceType, ResourceType};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Tags;
use super::client::{Clients, clients};
use super::ec2::tag_spec;
use super::kinds;
use super::life::{Creating, Finding, Finishing, Life, Make, Step, client_token};
use super::shared::{Answer, each_of};
use super::watch::noting_unanswered;
use super::{Seen, Typical, code, consistent, sdk_error};
use crate::actions::{
    ActionDef, Effect, Exercisable, Need, Outputs, ParamProblem, Params, Usage, out,
};
use crate::engine::action::{
    ActionError, ByHand, Checking, Context, Evaluating, Executor, Outcome, Resource, Running,
    Undoing, Undone, Verdict,
};

/// Launch instances.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.ec2.run_instances")]
pub struct RunInstancesParams {
    pub image_id: String,
    #[serde(default = "t3_micro")]
    pub instance_type: String,
    pub subnet_id: String,
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    /// A script run at first boot (cloud-init).
    pub user_data: Option<String>,
    #[serde(default = "one")]
    pub count: u32,
    /// The `Name` tag.
    pub name: String,
    /// Wait until the instances are running.
    #[serde(default = "super::defaults::yes")]
    pub wait: bool,
    #[serde(default)]
    pub tags: Tags,
}

/// An instance state to wait for.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InstanceState {
    Running,
    Stopped,
    Terminated,
}

/// Wait until instances reach a state.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "aws.ec2.wait_instances")]
pub struct WaitInstancesParams {
    pub instance_ids: Vec<String>,
    pub state: InstanceState,
}

/// Stop or start instances.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename = "instances")]
pub struct InstancesParams {
    pub instance_ids: Vec<String>,
    /// Wait until they are stopped (or running).
    #[serde(default = "super::defaults::yes")]
    pub wait: bool,
}

fn t3_micro() -> String {
    "t3.micro".into()
}

fn one() -> u32 {
    1
}

/// An instance type is FAMILY.SIZE (`t3.micro`, `m7g.2xlarge`): a typo found by validation, not
/// after minutes of building when `RunInstances` refuses it.
pub(super) fn lint_instance_type(_step: &str, known: &serde_json::Value) -> Vec<ParamProblem> {
    match known
        .get("instance_type")
        .and_then(serde_json::Value::as_str)
    {
        Some(kind) if !instance_type_form(kind) => vec![ParamProblem {
            param: "instance_type",
            code: "instance-type",
            message: format!("`{kind}` is not an EC2 instance type"),
            help: "an instance type is a family and a size, such as t3.micro or m7g.large (EC2 › Instance types)",
        }],
        _ => Vec::new(),
    }
}

/// FAMILY.SIZE: a family of letters and digits (with a digit: `t3`, `c7gn`, `u-6tb1`), a dot, a
/// size (`micro`, `2xlarge`, `metal-48xl`). Validation uses it to catch a typo before anything
/// is created.
fn instance_type_form(kind: &str) -> bool {
    let Some((family, size)) = kind.split_once('.') else {
        return false;
    };
    let word = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    word(family)
        && word(size)
        && family.starts_with(|c: char| c.is_ascii_lowercase())
        && family.chars().any(|c| c.is_ascii_digit())
}

fn run_instances_usage(params: &serde_json::Value) -> Usage {
    let kind = params["instance_type"]
        .as_str()
        .map_or_else(t3_micro, str::to_owned);
    let count = params["count"]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or_else(one);
    Usage {
        hourly: Some(super::cost::instances(&kind, count)),
        quota: Need {
            instances: vec![(kind, count)],
            ..Need::default()
        },
        ..Usage::default()
    }
}

pub static ACTIONS: &[ActionDef] = &[
    ActionDef {
        summary: "Launch EC2 instances and (by default) wait until they run.",
        docs: "Launches `count` instances with the given image, type, subnet, security groups and user data. \
               Console: EC2 › Instances › Launch instances.",
        outputs: Outputs::Fixed(&[
            out("instance_ids", "list", "The instances' ids."),
            out("private_ips", "list", "Their private IP addresses."),
            out(
                "public_ips",
                "list",
                "Their public IP addresses, where they have one.",
            ),
        ]),
        undo: Some("terminates the instances and waits until they are terminated"),
        cli: Some(super::aws_cli::run_instances),
        creates: &[kinds::INSTANCE],
        noun: Some("EC2 instance"),
        usage: Some(run_instances_usage),
        also: &[
            "create_instance",
            "launch_instance",
            "instance",
            "ec2_instance",
            "create_ec2",
            "launch",
            "server",
            "web_server",
            "create_server",
        ],
        ..ActionDef::new(
            "aws.ec2.run_instances",
            Effect::Creates,
            Params::of::<RunInstancesParams>().linted(lint_instance_type),
            &Life(RunInstances),
        )
    },
    ActionDef {
        summary: "Wait until instances are running, stopped or terminated.",
        docs: "Polls the instances' state, showing what it sees, until all of them are in `state`.",
        cli: Some(super::aws_cli::wait_instances),
        also: &[
            "wait_instance_running",
            "wait_until_running",
            "instance_running",
            "wait_for_instances",
        ],
        follows: true,
        ..ActionDef::new(
            "aws.ec2.wait_instances",
            Effect::Reads,
            Params::of::<WaitInstancesParams>(),
            &WaitInstances,
        )
    },
    ActionDef {
        summary: "Stop instances.",
        docs: "Stops the instances and (by default) waits until they are stopped. Console: EC2 › Instances › \
               Instance state › Stop instance.",
        outputs: Outputs::Fixed(&[
            out(
                "stopped_at",
                "string",
                "When the stop was requested (RFC 3339).",
            ),
            out(
                "stopped",
                "string",
                "When the instances were seen stopped (RFC 3339; with `wait`).",
            ),
        ]),
        undo: Some("starts the instances again"),
        cli: Some(super::aws_cli::stop_instances),
        exercise: Some(Exercisable {
            looks: "the step's instances: each stopping or stopped",
            compares: &[],
            watch: true,
        }),
        also: &["stop_instance", "stop", "stop_ec2", "shutdown"],
        ..ActionDef::new(
            "aws.ec2.stop_instances",
            Effect::Changes,
            Params::of::<InstancesParams>(),
            &Power { start: false },
        )
    },
    ActionDef {
        summary: "Start stopped instances.",
        docs: "Starts the instances and (by default) waits until they are running.",
        outputs: Outputs::Fixed(&[
            out(
                "started_at",
                "string",
                "When the start was requested (RFC 3339).",
            ),
            out(
                "running",
                "string",
                "When the instances were seen running (RFC 3339; with `wait`).",
            ),
        ]),
        undo: Some("stops the instances again"),
        cli: Some(super::aws_cli::start_instances),
        also: &["start_instance", "start", "start_ec2", "boot"],
        ..ActionDef::new(
            "aws.ec2.start_instances",
            Effect::Changes,
            Params::of::<InstancesParams>(),
            &Power { start: true },
        )
    },
];

async fn describe(c: &Clients, ids: &[String]) -> Result<Vec<Instance>, ActionError> {
    let out = c
        .ec2
        .describe_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(|e| sdk_error("DescribeInstances", &e))?;
    Ok(out
        .reservations()
        .iter()
        .flat_map(aws_sdk_ec2::types::Reservation::instances)
        .cloned()
        .collect())
}

/// The instances among `ids` that are stopped or on their way to it or out (`stopping`,
/// `shutting-down`, `terminated`), each with its state: a target on one of them shows `unused`
/// until someone starts it. Only a positive answer counts: where the look fails, none is named
/// and a wait that asked goes on as it would have.
pub(super) async fn out_of_service(c: &Clients, ids: &[String]) -> Vec<(String, String)> {
    let Ok(found) = describe(c, ids).await else {
        return Vec::new();
    };
    found
        .iter()
        .filter_map(|i| {
            let state = state_of(i);
            matches!(
                state,
                "stopped" | "stopping" | "shutting-down" | "terminated"
            )
            .then(|| {
                (
                    i.instance_id().unwrap_or_default().to_owned(),
                    state.to_owned(),
                )
            })
        })
        .collect()
}

/// The instances of `ids` that AWS still knows: one that is gone (`InvalidInstanceID.NotFound`)
/// is left out, any other failure is an error.
async fn describe_existing(c: &Clients, ids: &[String]) -> Result<Vec<Instance>, ActionError> {
    let (mut answers, _) = describe_instances(c, ids.to_vec()).await;
    let mut found = Vec::new();
    for id in ids {
        if let Some(instance) = answers.remove(id).transpose()?.flatten() {
            found.push(instance);
        }
    }
    Ok(found)
}

fn state_of(i: &Instance) -> &str {
    i.state()
        .and_then(|s| s.name())
        .map_or("unknown", InstanceStateName::as_str)
}

/// What `DescribeInstances` says of each of `ids`, a hundred to a call ([`each_of`]); one AWS
/// does not know (yet, or any more) is `None`. Also how many calls that took. Every wait for
/// instances of a target polls through this, shared (`Clients::instances`).
async fn describe_instances(
    c: &Clients,
    ids: Vec<String>,
) -> (HashMap<String, Answer<Instance>>, u64) {
    each_of(ids, 100, super::not_found_yet, |ids| async move {
        let found = describe(c, &ids).await?;
        Ok(found
            .into_iter()
            .filter_map(|i| Some((i.instance_id()?.to_owned(), i)))
            .collect())
    })
    .await
}

/// Poll until every instance is in `target`, showing what is seen and for how long; the poll is
/// shared with every other wait for instances of the target.
async fn wait_for(
    ctx: &Context<'_>,
    c: &Clients,
    ids: &[String],
    target: &str,
    typical: Typical,
) -> Result<Vec<Instance>, ActionError> {
    let what = ids.join(", ");
    let started = tokio::time::Instant::now();
    let next = if target == "running" {
        "look at the instance's state reason and system log (EC2 › Instances › the instance › Actions › Monitor and troubleshoot), and at the account's vCPU quota"
    } else {
        "look at the instance's state reason (EC2 › Instances › the instance › Status)"
    };
    let watch = c.instances.watch(ids);
    super::poll_shared(ctx, (&what, target), typical, next, |due| {
        let watch = &watch;
        let what = &what;
        async move {
            let answers = watch.next(due, |ids| describe_instances(c, ids)).await;
            let mut instances = Vec::new();
            let mut unknown = Vec::new();
            for (id, answer) in ids.iter().zip(answers) {
                match answer? {
                    Some(i) => instances.push(i),
                    None => unknown.push(id.as_str()),
                }
            }
            // Instances launched moments ago may be unknown to DescribeInstances for a while (EC2
            // is eventually consistent); instances being terminated vanish in the end.
            if !unknown.is_empty() && target != "terminated" {
                if started.elapsed() < super::CONSISTENCY {
                    return Ok(Seen::Waiting(format!(
                        "not visible yet ({})",
                        unknown.join(", ")
                    )));
                }
                return Err(ActionError::new(format!(
                    "instances {} do not exist (InvalidInstanceID.NotFound)",
                    unknown.join(", ")
                ))
                .hint("they were terminated while this step waited for them: run the step again (resume) to launch them anew"));
            }
            let states: Vec<&str> = instances.iter().map(state_of).collect();
            if states.iter().all(|s| *s == target) {
                return Ok(Seen::Done(instances));
            }
            let doomed = ["terminated", "shutting-down"];
            if target != "terminated" && states.iter().any(|s| doomed.contains(s)) {
                return Err(ActionError::new(format!("instances {what} are {} instead of becoming {target}", states.join(", ")))
                    .hint("look at the instance's state reason in the EC2 console (EC2 › Instances › the instance › Status)"));
            }
            Ok(Seen::Waiting(states.join(", ")))
        }
    })
    .await
}

fn instances_outcome(instances: &[Instance]) -> Outcome {
    let ids: Vec<String> = instances
        .iter()
        .filter_map(|i| i.instance_id().map(str::to_owned))
        .collect();
    let private: Vec<String> = instances
        .iter()
        .filter_map(|i| i.private_ip_address().map(str::to_owned))
        .collect();
    let public: Vec<String> = instances
        .iter()
        .filter_map(|i| i.public_ip_address().map(str::to_owned))
        .collect();
    let mut o = Outcome::default();
    o.outputs.insert("instance_ids".into(), ids.clone().into());
    o.outputs.insert("private_ips".into(), private.into());
    o.outputs.insert("public_ips".into(), public.into());
    o.resources = ids
        .into_iter()
        .map(|id| Resource {
            kind: kinds::INSTANCE.into(),
            id,
            undo: serde_json::Value::Null,
            changed: Vec::new(),
            region: None,
        })
        .collect();
    o
}

pub(super) struct RunInstances;

impl Make for RunInstances {
    type Params = RunInstancesParams;
    const KIND: kinds::ResourceKind = kinds::INSTANCE;

    fn create<'a>(&'a self, s: Step<'a, Self::Params>) -> Creating<'a> {
        let Step { ctx, c, p } = s;
        Box::pin(async move {
            let count = match i32::try_from(p.count) {
                Ok(0) => {
                    let e = ActionError::new("`count` is 0: there is nothing to launch");
                    return Err(e.invalid_input());
                }
                Ok(count) => count,
                Err(_) => {
                    return Err(ActionError::new("`count` is too large").invalid_input());
                }
            };
            ctx.progress.status(&format!(
                "launching {} {} instance(s) from {}",
                p.count, p.instance_type, p.image_id
            ));
            let mut req = c
                .ec2
                .run_instances()
                .image_id(&p.image_id)
                .instance_type(InstanceType::from(p.instance_type.as_str()))
                .min_count(count)
                .max_count(count)
                .subnet_id(&p.subnet_id)
                .set_security_group_ids(Some(p.security_group_ids.clone()))
                .client_token(client_token(ctx.key))
                .tag_specifications(tag_spec(
                    ResourceType::Instance,
                    ctx,
                    Some(&p.name),
                    &p.tags,
                ));
            if let Some(script) = &p.user_data {
                req = req.user_data(aws_smithy_types::base64::encode(script.as_bytes()));
            }
            // The subnet and groups may be seconds old: NotFound is waited out. The client token
            // makes every try the same launch (AWS honours it; an emulator may launch twice).
            let (out, resent) =
                noting_unanswered(consistent(ctx, "RunInstances", || req.clone().send())).await;
            let outcome = out.map(|out| instances_outcome(out.instances())).map_err(|e| {
                if e.code.as_deref() == Some("IdempotentParameterMismatch") {
                    return e.hint(
                        "an earlier attempt of this step asked for other instances with the same client token; \
                         roll this run back and start a new one (`runbook rollback`, then `runbook run`)",
                    );
                }
                e
            });
            Ok((outcome, resent))
        })
    }

    /// The token was used by an earlier attempt of this step with other parameters (the runbook
    /// changed between a crash and the resume): AWS remembers it for 24 hours. What that attempt
    /// launched carries the step's key.
    fn made_before(&self, code: &str, _resent: bool) -> bool {
        code == "IdempotentParameterMismatch"
    }

    /// Every live instance with the step's key (a step launches `count` of them).
    fn find<'a>(&'a self, s: Step<'a, Self::Params>) -> Finding<'a> {
        let Step { ctx, c, .. } = s;
        Box::pin(async move {
            let found = kinds::with_key(c, kinds::INSTANCE, ctx.key).await?;
            if found.is_empty() {
                return Ok(None);
            }
            let each = |output: &str| -> Vec<serde_json::Value> {
                found
                    .iter()
                    .filter_map(|f| f.outputs.get(output))
                    .filter(|v| v.is_string())
                    .cloned()
                    .collect()
            };
            let mut o = Outcome::default();
            o.outputs
                .insert("instance_ids".into(), each("instance_id").into());
            o.outputs
                .insert("private_ips".into(), each("private_ip").into());
            o.outputs
                .insert("public_ips".into(), each("public_ip").into());
            o.resources = found
                .iter()
                .flat_map(|f| super::life::adopted(f.clone()).resources)
                .collect();
            Ok(Some(o))
        })
    }

    fn finish<'a>(&'a self, s: Step<'a, Self::Params>, made: &'a mut Outcome) -> Finishing<'a> {
        let Step { ctx, c, p } = s;
        Box::pin(async move {
            if p.wait {
                let ids: Vec<String> = made.resources.iter().map(|r| r.id.clone()).collect();
                *made =
                    instances_outcome(&wait_for(ctx, c, &ids, "running", Typical::INSTANCE).await?);
            }
            Ok(())
        })
    }
}

/// Terminate an instance and wait until it is.
pub(super) async fn terminate(
    ctx: &Context<'_>,
    c: &Clients,
    r: &Resource,
) -> Result<Undone, ActionError> {
    ctx.progress.status(&format!("terminating {}", r.id));
    // AWS keeps a terminated instance visible for about an hour and terminating it
    // again succeeds: its state before this call says whether it was already gone.
    let how = match c.ec2.terminate_instances().instance_ids(&r.id).send().await {
        Ok(out) => {
            let before = out
                .terminating_instances()
                .iter()
                .find(|i| i.instance_id() == Some(r.id.as_str()))
                .and_then(|i| i.previous_state())
                .and_then(|s| s.name());
            if before == Some(&InstanceStateName::Terminated) {
                Undone::AlreadyGone
            } else {
                Undone::Removed
            }
        }
        Err(e) if code(&e).as_deref() == Some("InvalidInstanceID.NotFound") => {
            return Ok(Undone::AlreadyGone);
        }
        Err(e) => return Err(sdk_error("TerminateInstances", &e)),
    };
    wait_for(
        ctx,
        c,
        std::slice::from_ref(&r.id),
        "terminated",
        Typical::INSTANCE,
    )
    .await?;
    Ok(how)
}

pub(super) struct WaitInstances;

impl Executor for WaitInstances {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let p: WaitInstancesParams = ctx.params()?;
            let c = clients(ctx)?;
            let target = match p.state {
                InstanceState::Running => "running",
                InstanceState::Stopped => "stopped",
                InstanceState::Terminated => "terminated",
            };
            wait_for(ctx, c, &p.instance_ids, target, Typical::INSTANCE).await?;
            Ok(Outcome::default())
        })
    }
}

/// When a person changed an instance's state, from EC2's reason for it: `User initiated
/// (2026-12-02 14:00:00 GMT)` is `2026-12-02T14:00:00.000Z` (the emulator writes `UTC`).
fn when_initiated(reason: &str) -> Option<String> {
    let inside = reason.split_once('(')?.1.split_once(')')?.0.trim();
    let bare = inside
        .strip_suffix(" GMT")
        .or_else(|| inside.strip_suffix(" UTC"))
        .unwrap_or(inside);
    let at = humantime::parse_rfc3339_weak(bare.trim()).ok()?;
    Some(humantime::format_rfc3339_millis(at).to_string())
}

/// Stop or start instances; the undo of one is the other.
pub(super) struct Power {
    pub start: bool,
}

impl Power {
    /// Instances stopped (or started) at `at`: the time as an output, and the change for undo.
    /// The output that says when the instances were seen in the state asked for.
    fn reached(&self) -> &'static str {
        if self.start { "running" } else { "stopped" }
    }

    fn outcome(&self, at: String, ids: &[String]) -> Outcome {
        let mut o = Outcome::default();
        o.outputs.insert(
            if self.start {
                "started_at"
            } else {
                "stopped_at"
            }
            .into(),
            at.into(),
        );
        o.resources.push(Resource {
            kind: if self.start {
                kinds::STARTED_INSTANCES
            } else {
                kinds::STOPPED_INSTANCES
            }
            .into(),
            id: ids.join(","),
            undo: serde_json::json!({ "instance_ids": ids }),
            changed: ids.to_vec(),
            region: None,
        });
        o
    }
}

async fn power(
    ctx: &Context<'_>,
    c: &Clients,
    ids: &[String],
    start: bool,
    wait: bool,
) -> Result<(), ActionError> {
    if start {
        ctx.progress.status(&format!("starting {}", ids.join(", ")));
        c.ec2
            .start_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error("StartInstances", &e))?;
    } else {
        ctx.progress.status(&format!("stopping {}", ids.join(", ")));
        c.ec2
            .stop_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error("StopInstances", &e))?;
    }
    if wait {
        // A drill's moment: measured, so `stopped` and `running` are within 2 s of the truth.
        let target = if start { "running" } else { "stopped" };
        wait_for(ctx, c, ids, target, Typical::INSTANCE.measured()).await?;
    }
    Ok(())
}

impl Executor for Power {
    fn run<'a>(&'a self, ctx: &'a Context<'a>) -> Running<'a> {
        Box::pin(async move {
            let p: InstancesParams = ctx.params()?;
            let c = clients(ctx)?;
            let at = crate::engine::journal::now();
            power(ctx, c, &p.instance_ids, self.start, p.wait).await?;
            let mut o = self.outcome(at, &p.instance_ids);
            if p.wait {
                o.outputs
                    .insert(self.reached().into(), crate::engine::journal::now().into());
            }
            Ok(o)
        })
    }

    fn by_hand<'a>(&'a self, ctx: &'a Context<'a>, _compare: &'a [String]) -> Checking<'a> {
        Box::pin(async move {
            let p: InstancesParams = ctx.params()?;
            let c = clients(ctx)?;
            let (wanted, also) = if self.start {
                ("running", "pending")
            } else {
                ("stopped", "stopping")
            };
            ctx.progress
                .status(&format!("looking at {}", p.instance_ids.join(", ")));
            let found = describe_existing(c, &p.instance_ids).await?;
            let missing: Vec<&String> = p
                .instance_ids
                .iter()
                .filter(|id| !found.iter().any(|i| i.instance_id() == Some(id.as_str())))
                .collect();
            if !missing.is_empty() {
                return Ok(ByHand::Nothing {
                    looked: format!(
                        "the instances {} in {}",
                        p.instance_ids.join(", "),
                        c.region
                    ),
                    seen: missing
                        .iter()
                        .map(|id| format!("{id}: EC2 does not know it"))
                        .collect(),
                });
            }
            let what = found
                .iter()
                .map(|i| format!("{} {}", i.instance_id().unwrap_or("?"), state_of(i)))
                .collect::<Vec<_>>()
                .join(", ");
            let differences: Vec<String> = found
                .iter()
                .filter(|i| ![wanted, also].contains(&state_of(i)))
                .map(|i| {
                    format!(
                        "{} is {}; this step needs it {wanted}",
                        i.instance_id().unwrap_or("?"),
                        state_of(i)
                    )
                })
                .collect();
            if !differences.is_empty() {
                return Ok(ByHand::Differs { what, differences });
            }
            let mut reached = None;
            if ctx.adopting && p.wait {
                wait_for(
                    ctx,
                    c,
                    &p.instance_ids,
                    wanted,
                    Typical::INSTANCE.measured(),
                )
                .await?;
                reached = Some(crate::engine::journal::now());
            }
            // When the learner did it: EC2 says so in the state's reason ("User initiated
            // (2026-12-02 14:00:00 GMT)"); else now.
            let at = found
                .iter()
                .filter_map(|i| when_initiated(i.state_transition_reason()?))
                .max()
                .unwrap_or_else(crate::engine::journal::now);
            let mut outcome = self.outcome(at, &p.instance_ids);
            if let Some(reached) = reached {
                outcome
                    .outputs
                    .insert(self.reached().into(), reached.into());
            }
            Ok(ByHand::Matches { outcome, what })
        })
    }

    /// Ready when every instance exists and can be stopped (or started); would fail when EC2
    /// does not know one, or it is terminated.
    fn evaluate<'a>(&'a self, ctx: &'a Context<'a>) -> Evaluating<'a> {
        Box::pin(async move {
            let p: InstancesParams = ctx.params()?;
            let found = describe_existing(clients(ctx)?, &p.instance_ids).await?;
            let state = |id: &str| {
                found
                    .iter()
                    .find(|i| i.instance_id() == Some(id))
                    .map(state_of)
            };
            let gone: Vec<String> = p
                .instance_ids
                .iter()
                .filter(|id| matches!(state(id), None | Some("terminated" | "shutting-down")))
                .cloned()
                .collect();
            let verdict = if gone.is_empty() {
                Verdict::Ready {
                    why: format!(
                        "the run would {} {}",
                        if self.start { "start" } else { "stop" },
                        p.instance_ids
                            .iter()
                            .map(|id| format!("{id} ({})", state(id).unwrap_or("?")))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            } else {
                Verdict::WouldFail {
                    reason: format!("no such instance (or terminated): {}", gone.join(", ")),
                    fix: Some("check the instance ids and the step's region".to_owned()),
                }
            };
            Ok((verdict, None))
        })
    }

    fn undo<'a>(&'a self, ctx: &'a Context<'a>, r: &'a Resource) -> Undoing<'a> {
        Box::pin(async move {
            let ids: Vec<String> =
                serde_json::from_value(r.undo["instance_ids"].clone()).map_err(|e| {
                    ActionError::new(format!(
                        "the journal's record of {} has no readable instance ids: {e}",
                        r.id
                    ))
                })?;
            let c = clients(ctx)?;
            // Instances terminated meanwhile (by the rollback of their own step) need nothing,
            // nor do those already back as they were (a drill's stop that its failback started
            // again): the change is already undone. A failed read is no answer, so it fails the
            // undo rather than pass for "none".
            let back: &[&str] = if self.start {
                &["stopped", "stopping"]
            } else {
                &["running", "pending"]
            };
            let live: Vec<String> = describe_existing(c, &ids)
                .await?
                .iter()
                .filter(|i| !["terminated", "shutting-down"].contains(&state_of(i)))
                .filter(|i| !back.contains(&state_of(i)))
                .filter_map(|i| i.instance_id().map(str::to_owned))
                .collect();
            if live.is_empty() {
                return Ok(Undone::AlreadyGone);
            }
            power(ctx, c, &live, !self.start, true).await?;
            Ok(Undone::Removed)
        })
    }
}

#[cfg(test)]
mod tests {
    /// A learner's stop is dated by EC2's reason for the state, so that the drill measures
    /// from when they stopped the instances rather than from when the runbook looked.
    #[test]
    fn a_stop_by_hand_is_dated_by_ec2s_reason() {
        assert_eq!(
            super::when_initiated("User initiated (2026-12-02 14:00:05 GMT)").as_deref(),
            Some("2026-12-02T14:00:05.000Z")
        );
        assert_eq!(
            super::when_initiated("User initiated (2026-12-02 14:00:05 UTC)").as_deref(),
            Some("2026-12-02T14:00:05.000Z")
        );
        assert_eq!(
            super::when_initiated("Server.SpotInstanceTermination"),
            None
        );
    }
}
