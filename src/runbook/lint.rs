//! Lints that need values: Route 53 failover pairs, overlapping VPC ranges, AWS name rules.
//!
//! They run on the expanded step graph with every value that is known before the run (vars and
//! defaults); a value known only after the run is not judged.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::diagnostic::{Diagnostic, Diagnostics};
use super::format::parse_cidr;
use super::load::{Project, StepKind};
use super::resolve::Flow;
use super::source::Span;
use super::vars::Resolved;
use super::yaml::Node;
use crate::runbook::render::{Rendered, Renderer};

struct Instance<'a> {
    flow_index: usize,
    id: &'a str,
    with: Option<&'a Node>,
    params: Rendered,
}

impl Instance<'_> {
    /// The span of a parameter's value (or the step's `with:`) in the file.
    fn span(&self, path: &[&str], fallback: Span) -> Span {
        let mut node = self.with;
        for key in path {
            node = node.and_then(|n| n.get(key));
        }
        node.or(self.with).map_or(fallback, |n| n.span)
    }

    fn text(&self, key: &str) -> Option<String> {
        match self.params.get(&format!("/{key}"))? {
            Json::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    /// A grouping key for a parameter: its value, or (unknown) the template text in its scope.
    fn key(&self, key: &str, scope: usize) -> String {
        self.text(key).unwrap_or_else(|| {
            let raw = self
                .with
                .and_then(|w| w.get(key))
                .and_then(Node::scalar_text)
                .unwrap_or_default();
            format!("{raw}@{scope}")
        })
    }
}

pub fn run(
    project: &Project,
    flow: &Flow,
    renderer: &Renderer<'_>,
    vars: &Resolved,
) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let instances = |name: &str| -> Vec<Instance<'_>> {
        (0..flow.steps.len())
            .filter(
                |&i| matches!(flow.step(project, i).kind, StepKind::Action(d) if d.name == name),
            )
            .map(|i| Instance {
                flow_index: i,
                id: &flow.steps[i].id,
                with: flow.step(project, i).with.as_ref(),
                params: renderer.params(i),
            })
            .collect()
    };
    regions(flow, renderer, &mut diags);
    commands(project, flow, &mut diags);
    unordered(project, flow, &mut diags);
    failover(flow, &instances("aws.route53.failover_record"), &mut diags);
    weighted(flow, &instances("aws.route53.weighted_record"), &mut diags);
    vpc_overlap(
        project,
        flow,
        renderer,
        vars,
        &instances("aws.ec2.create_vpc"),
        &mut diags,
    );
    subnets_in_vpcs(
        project,
        flow,
        renderer,
        vars,
        (
            &instances("aws.ec2.create_vpc"),
            &instances("aws.ec2.create_subnet"),
        ),
        &mut diags,
    );
    // What AWS would refuse in a step's own values, as its action's definition checks them.
    for i in 0..flow.steps.len() {
        let StepKind::Action(def) = flow.step(project, i).kind else {
            continue;
        };
        let Some(lint) = def.params.lint else {
            continue;
        };
        let inst = Instance {
            flow_index: i,
            id: &flow.steps[i].id,
            with: flow.step(project, i).with.as_ref(),
            params: renderer.params(i),
        };
        for problem in lint(inst.id, &inst.params.known_value()) {
            let mut d = Diagnostic::error(problem.code, problem.message)
                .at(inst.span(&[problem.param], project_span(project, flow, i)))
                .help(problem.help);
            // A value typed on the command line (or a roster's cell) is named, since the file
            // only shows the template it went through.
            if let Some(by) = inst
                .with
                .and_then(|w| w.get(problem.param))
                .and_then(|n| renderer.given_by(flow.steps[i].scope, n, vars))
            {
                d = d.note(format!("the value comes from {by}"));
            }
            diags.push(d);
        }
    }
    for (span, message) in (0..flow.steps.len()).flat_map(|i| renderer.params(i).errors) {
        diags.push(
            Diagnostic::error(
                "template-error",
                format!("cannot render this value: {message}"),
            )
            .at(span),
        );
    }
    diags
}

/// Once per runbook: its commands (steps whose effect is a command's) run with the rights of
/// whoever runs it, and the tool cannot tell what they do.
fn commands(project: &Project, flow: &Flow, diags: &mut Diagnostics) {
    let steps: Vec<usize> = (0..flow.steps.len())
        .filter(|&i| {
            matches!(flow.step(project, i).kind,
                StepKind::Action(d) if d.effect == crate::engine::action::Effect::Runs)
        })
        .collect();
    let Some(&first) = steps.first() else {
        return;
    };
    let ids: Vec<&str> = steps.iter().map(|&i| flow.steps[i].id.as_str()).collect();
    diags.push(
        Diagnostic::warning(
            "runs-commands",
            format!(
                "this runbook runs commands ({}) with the rights of whoever runs it; the tool cannot tell what they do",
                super::suggest::list(&ids)
            ),
        )
        .at(project_span(project, flow, first))
        .help("read them before you run it; give each an `undo:` so that rollback removes what it makes"),
    );
}

/// Said with each step found [`unordered`].
const HOW: &str = "steps run as soon as what they wait for is done, not in the file's order";

/// A step that looks at what the steps before it did (a check, a wait, a pause: its action
/// `follows`) but waits for no step: steps run when what they wait for is done, not in the
/// file's order, so it looks before they act. A newcomer writes `deploy` then `verify` (or a
/// pause between two steps) and expects the order of a script. Warned when a step before it in
/// the file acts, and for a pause that nothing waits for either (it delays nothing).
fn unordered(project: &Project, flow: &Flow, diags: &mut Diagnostics) {
    let action = |i: usize| match flow.step(project, i).kind {
        StepKind::Action(def) => Some(def),
        _ => None,
    };
    for (i, step) in flow.steps.iter().enumerate() {
        let Some(def) = action(i).filter(|d| d.follows) else {
            continue;
        };
        if !step.deps.is_empty() {
            continue;
        }
        let id = &step.id;
        let waited_for = flow
            .steps
            .iter()
            .any(|s| s.deps.iter().any(|(d, _)| *d == i));
        let acting = (0..i)
            .rev()
            .find(|&j| action(j).is_none_or(|d| d.effect != crate::engine::action::Effect::Reads));
        let before = i.checked_sub(1).map(|b| flow.steps[b].id.as_str());
        let after = flow.steps.get(i + 1).map(|a| a.id.as_str());

        let (message, help) = match (acting, def.name == "core.sleep" && !waited_for) {
            (Some(j), pause) => {
                let them = &flow.steps[j].id;
                let and_then = match (pause, after) {
                    (true, Some(a)) => format!(" and `{a}` `needs: [{id}]`"),
                    _ => String::new(),
                };
                (
                    format!(
                        "step `{id}` waits for no step, so it starts with the run, beside `{them}`, not after it"
                    ),
                    format!("{HOW}: give `{id}` `needs: [{them}]`{and_then}"),
                )
            }
            (None, true) => {
                let help = match (before, after) {
                    (Some(b), Some(a)) => {
                        format!("{HOW}: give `{id}` `needs: [{b}]` and `{a}` `needs: [{id}]`")
                    }
                    (None, Some(a)) => format!("{HOW}: give `{a}` `needs: [{id}]`"),
                    (Some(b), None) => format!("{HOW}: give `{id}` `needs: [{b}]`"),
                    (None, None) => continue,
                };
                (
                    format!(
                        "step `{id}` delays nothing: it waits for no step, and no step waits for it"
                    ),
                    help,
                )
            }
            (None, false) => continue,
        };
        diags.push(
            Diagnostic::warning("unordered", message)
                .at(project_span(project, flow, i))
                .help(help),
        );
    }
}

fn project_span(project: &Project, flow: &Flow, i: usize) -> Span {
    flow.step(project, i).id.span
}

fn failover(flow: &Flow, records: &[Instance<'_>], diags: &mut Diagnostics) {
    let mut groups: BTreeMap<(String, String, String), Vec<&Instance<'_>>> = BTreeMap::new();
    for r in records {
        let scope = flow.steps[r.flow_index].scope;
        let kind = r.text("type").unwrap_or_else(|| "A".into());
        groups
            .entry((r.key("zone_id", scope), r.key("name", scope), kind))
            .or_default()
            .push(r);
    }
    for ((_, name, kind), members) in groups {
        let shown = name.split('@').next().unwrap_or(&name).to_owned();
        let mut first_of_role: BTreeMap<String, &Instance<'_>> = BTreeMap::new();
        for m in &members {
            let Some(role) = m.text("role").map(|r| r.to_lowercase()) else {
                continue;
            };
            if let Some(first) = first_of_role.get(&role) {
                diags.push(
                    Diagnostic::error("failover-duplicate-role", format!("two {} failover records for `{shown}` {kind}", role.to_uppercase()))
                        .at(m.span(&["role"], Span::default()))
                        .label(format!("step `{}`", m.id))
                        .related(first.span(&["role"], Span::default()), format!("step `{}` is already the {}", first.id, role.to_uppercase()))
                        .help("a failover pair has one PRIMARY and one SECONDARY record for each name and type"),
                );
            } else {
                first_of_role.insert(role.clone(), m);
            }
            if role == "primary" {
                let evaluates = m
                    .params
                    .get("/alias/evaluate_target_health")
                    .is_none_or(|v| v != &Json::Bool(false));
                let has_check = m.with.and_then(|w| w.get("health_check_id")).is_some();
                if !evaluates && !has_check {
                    diags.push(
                        Diagnostic::error("failover-no-health", format!("the PRIMARY record `{shown}` never fails over"))
                            .at(m.span(&["alias", "evaluate_target_health"], Span::default()))
                            .label("Route 53 treats the primary as always healthy")
                            .help("set `evaluate_target_health: true` on the alias, or give it a `health_check_id`"),
                    );
                }
            }
        }
        let mut ids: BTreeMap<String, &Instance<'_>> = BTreeMap::new();
        for m in &members {
            let Some(set_id) = m.text("set_identifier") else {
                continue;
            };
            if let Some(first) = ids.get(&set_id) {
                diags.push(
                    Diagnostic::error(
                        "failover-set-identifier",
                        format!(
                            "two failover records for `{shown}` share the set identifier `{set_id}`"
                        ),
                    )
                    .at(m.span(&["set_identifier"], Span::default()))
                    .related(
                        first.span(&["set_identifier"], Span::default()),
                        format!("also used by step `{}`", first.id),
                    )
                    .help("give the PRIMARY and the SECONDARY record different set identifiers"),
                );
            } else {
                ids.insert(set_id, m);
            }
        }
        let duplicated = members.len() > first_of_role.len();
        if first_of_role.len() == 1 && !duplicated {
            let (role, only) = first_of_role.iter().next().expect("one role");
            let missing = if role == "primary" {
                "SECONDARY"
            } else {
                "PRIMARY"
            };
            diags.push(
                Diagnostic::warning("failover-unpaired", format!("the failover record `{shown}` has no {missing} partner"))
                    .at(only.span(&["role"], Span::default()))
                    .help(format!("add a {missing} record with the same name and type, or Route 53 has nothing to fail over to")),
            );
        }
    }
}

fn weighted(flow: &Flow, records: &[Instance<'_>], diags: &mut Diagnostics) {
    let mut seen: BTreeMap<(String, String, String, String), &Instance<'_>> = BTreeMap::new();
    for r in records {
        let scope = flow.steps[r.flow_index].scope;
        let Some(set_id) = r.text("set_identifier") else {
            continue;
        };
        let key = (
            r.key("zone_id", scope),
            r.key("name", scope),
            r.text("type").unwrap_or_else(|| "A".into()),
            set_id.clone(),
        );
        if let Some(first) = seen.get(&key) {
            diags.push(
                Diagnostic::error(
                    "weighted-set-identifier",
                    format!("two weighted records share the set identifier `{set_id}`"),
                )
                .at(r.span(&["set_identifier"], Span::default()))
                .related(
                    first.span(&["set_identifier"], Span::default()),
                    format!("also used by step `{}`", first.id),
                ),
            );
        } else {
            seen.insert(key, r);
        }
    }
}

fn vpc_overlap(
    project: &Project,
    flow: &Flow,
    renderer: &Renderer<'_>,
    vars: &Resolved,
    vpcs: &[Instance<'_>],
    diags: &mut Diagnostics,
) {
    // VPCs in different regions never route to each other unless connected: only those of one
    // region (as far as it is known before the run) are compared.
    let mut known: Vec<(ipnet::IpNet, &Instance<'_>, Span)> = Vec::new();
    let region = |i: usize| renderer.region(i).and_then(Result::ok);
    for v in vpcs {
        let Some(text) = v.text("cidr") else { continue };
        let Ok(net) = parse_cidr(&text) else { continue };
        let scope = flow.steps[v.flow_index].scope;
        let origin = v
            .with
            .and_then(|w| w.get("cidr"))
            .map_or(project_span(project, flow, v.flow_index), |n| {
                renderer.origin(scope, n, vars)
            });
        if let Some((other, first, first_origin)) = known.iter().find(|(n, first, _)| {
            region(first.flow_index) == region(v.flow_index)
                && (n.contains(&net.network()) || net.contains(&n.network()))
        }) {
            diags.push(
                Diagnostic::error(
                    "cidr-overlap",
                    format!(
                        "the VPCs of `{}` ({net}) and `{}` ({other}) overlap",
                        v.id, first.id
                    ),
                )
                .at(origin)
                .related(*first_origin, format!("`{}` gets {other} here", first.id))
                .help("give each stack its own range, for example 10.0.0.0/16 and 11.0.0.0/16"),
            );
        }
        known.push((net, v, origin));
    }
}

/// A subnet's range lies inside its VPC's and overlaps no other subnet of that VPC, as far as
/// both are known before the run: AWS refuses it otherwise (`InvalidSubnet.Range`,
/// `InvalidSubnet.Conflict`), after the steps before it have run. A subnet's VPC is the
/// `create_vpc` step whose outputs it reads.
fn subnets_in_vpcs(
    project: &Project,
    flow: &Flow,
    renderer: &Renderer<'_>,
    vars: &Resolved,
    (vpcs, subnets): (&[Instance<'_>], &[Instance<'_>]),
    diags: &mut Diagnostics,
) {
    let origin = |inst: &Instance<'_>| {
        let scope = flow.steps[inst.flow_index].scope;
        inst.with
            .and_then(|w| w.get("cidr"))
            .map_or(project_span(project, flow, inst.flow_index), |n| {
                renderer.origin(scope, n, vars)
            })
    };
    let range = |inst: &Instance<'_>| inst.text("cidr").and_then(|t| parse_cidr(&t).ok());
    let mut placed: Vec<(usize, ipnet::IpNet, &Instance<'_>)> = Vec::new();
    for subnet in subnets {
        let reads = &flow.steps[subnet.flow_index].reads;
        let mut theirs = vpcs.iter().filter(|v| reads.contains(&v.flow_index));
        let (Some(vpc), None) = (theirs.next(), theirs.next()) else {
            continue;
        };
        let (Some(net), Some(vpc_net)) = (range(subnet), range(vpc)) else {
            continue;
        };
        if !vpc_net.contains(&net) {
            diags.push(
                Diagnostic::error(
                    "subnet-outside-vpc",
                    format!(
                        "the subnet of `{}` ({net}) is not inside the VPC of `{}` ({vpc_net})",
                        subnet.id, vpc.id
                    ),
                )
                .at(origin(subnet))
                .related(origin(vpc), format!("`{}` gets {vpc_net} here", vpc.id))
                .help(format!(
                    "give the subnet a range inside {vpc_net}, for example {}",
                    vpc_net
                        .subnets(vpc_net.prefix_len().max(24))
                        .ok()
                        .and_then(|mut s| s.nth(1))
                        .map_or_else(|| vpc_net.to_string(), |s| s.to_string())
                )),
            );
            continue;
        }
        if let Some((_, other, first)) = placed.iter().find(|(v, n, _)| {
            *v == vpc.flow_index && (n.contains(&net.network()) || net.contains(&n.network()))
        }) {
            diags.push(
                Diagnostic::error(
                    "subnet-overlap",
                    format!(
                        "the subnets of `{}` ({net}) and `{}` ({other}) overlap in the VPC of `{}`",
                        subnet.id, first.id, vpc.id
                    ),
                )
                .at(origin(subnet))
                .related(origin(first), format!("`{}` gets {other} here", first.id))
                .help("give each subnet of a VPC its own range, for example 10.0.1.0/24 and 10.0.2.0/24"),
            );
            continue;
        }
        placed.push((vpc.flow_index, net, subnet));
    }
}

/// The region each step acts in (its own `region:`, or the one on the step using its module),
/// as far as it is known before the run: a region name of the run's partition. Each `region:`
/// is reported once, where it is written. (A literal that is no region name is refused where it
/// is written, in `resolve`.)
fn regions(flow: &Flow, renderer: &Renderer<'_>, diags: &mut Diagnostics) {
    let mut reported = Vec::new();
    for i in 0..flow.steps.len() {
        let Some(node) = renderer.region_node(i) else {
            continue;
        };
        if reported.contains(&node.span) {
            continue;
        }
        let literal = node.as_str().is_some_and(|t| {
            crate::runbook::template::kind(t) == crate::runbook::template::Kind::Literal
        });
        if literal
            && !node
                .as_str()
                .is_some_and(crate::runbook::resolve::is_region_name)
        {
            continue;
        }
        let Some(problem) = renderer.region_problem(i) else {
            continue;
        };
        reported.push(node.span);
        diags.push(
            Diagnostic::error("unknown-region", format!("step `{}`: {problem}", flow.steps[i].id))
                .at(node.span)
                .help("a region is written like `us-east-1`, in the same partition as the run's region (`aws ec2 describe-regions` lists them)"),
        );
    }
}
