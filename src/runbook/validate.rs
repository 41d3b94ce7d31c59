//! Validation: everything that can be checked before a single network call, collected (not
//! stopped at the first problem) and sorted by position.

use std::path::Path;

use super::diagnostic::{Diagnostic, Diagnostics};
use super::load::{self, Project};
use super::resolve::{self, Flow};
use super::vars::{self, Inputs, Resolved};
use super::{lint, suggest};
use crate::runbook::graph;
use crate::runbook::render::{Known, Renderer};

/// A runbook after every check: what was loaded, the step graph, the vars found, the order of
/// the steps (empty when the graph has a cycle) and the problems.
pub struct Checked {
    pub project: Project,
    pub flow: Flow,
    pub vars: Resolved,
    pub order: Vec<usize>,
    pub diags: Diagnostics,
}

/// Load, resolve and validate. `inputs` supply vars for the lints that need values; vars with
/// no value are simply not judged here (the caller decides whether that is an error).
pub fn check(
    path: &Path,
    module_dirs: &[std::path::PathBuf],
    inputs: &Inputs,
    known: &dyn Fn(&Resolved) -> Known,
    env: &dyn Fn(&str) -> Option<String>,
) -> Checked {
    let (mut project, mut diags) = load::load(path, module_dirs);
    let mut checked = Checked {
        project: Project::default(),
        flow: Flow::default(),
        vars: Resolved::default(),
        order: Vec::new(),
        diags: Diagnostics::default(),
    };
    if project.modules.is_empty() {
        checked.project = project;
        checked.diags = diags;
        return checked;
    }
    diags.extend(resolve::check_references(&project).0);
    let (flow, d) = resolve::expand(&project);
    diags.extend(d.0);
    let order = match graph::order(&flow) {
        Ok(order) => order,
        Err(cycle) => {
            diags.push(cycle_diagnostic(&flow, &cycle));
            Vec::new()
        }
    };
    let (values, d) = vars::resolve(&mut project, inputs, env);
    diags.extend(d.0);
    if !order.is_empty() {
        // What templates know of AWS may come from the vars (a runbook's own `region`).
        let renderer = Renderer::new(&project, &flow, &values, known(&values));
        diags.extend(lint::run(&project, &flow, &renderer, &values).0);
    }
    sort_and_dedup(&mut diags, &project);
    checked.project = project;
    checked.flow = flow;
    checked.vars = values;
    checked.order = order;
    checked.diags = diags;
    checked
}

fn cycle_diagnostic(flow: &Flow, cycle: &[usize]) -> Diagnostic {
    let names: Vec<String> = cycle
        .iter()
        .map(|&i| format!("`{}`", flow.steps[i].id))
        .collect();
    // In `a → b`, b waits for a: point at the place in b that makes it wait.
    let edge = |a: usize, b: usize| {
        flow.steps[b]
            .deps
            .iter()
            .find(|(d, _)| *d == a)
            .map(|(_, s)| *s)
    };
    let mut d = if cycle.len() == 2 {
        Diagnostic::error(
            "dependency-cycle",
            format!("step {} depends on itself", names[0]),
        )
    } else {
        Diagnostic::error(
            "dependency-cycle",
            format!(
                "steps depend on each other in a cycle: {}",
                names.join(" → ")
            ),
        )
    };
    let edges: Vec<(usize, usize)> = cycle.windows(2).map(|w| (w[0], w[1])).collect();
    if let Some(&(a, b)) = edges.last() {
        d = d.at_opt(edge(a, b)).label(format!(
            "`{}` waits for `{}` here",
            flow.steps[b].id, flow.steps[a].id
        ));
    }
    for &(a, b) in &edges[..edges.len().saturating_sub(1)] {
        if let Some(span) = edge(a, b) {
            d = d.related(
                span,
                format!(
                    "`{}` waits for `{}` here",
                    flow.steps[b].id, flow.steps[a].id
                ),
            );
        }
    }
    d.help("remove one of these references or `needs`; steps run only after everything they read")
}

fn sort_and_dedup(diags: &mut Diagnostics, project: &Project) {
    let _ = project;
    diags.0.sort_by_key(|d| {
        d.span
            .map_or((u32::MAX, usize::MAX), |s| (s.file.0, s.start))
    });
    let mut seen = std::collections::HashSet::new();
    diags
        .0
        .retain(|d| seen.insert((d.code, d.span, d.message.clone())));
    // A value that cannot be rendered because of a problem already reported inside it (a syntax
    // error, an unknown name) needs no second message.
    let explained: Vec<super::source::Span> = diags
        .0
        .iter()
        .filter(|d| d.is_error() && d.code != "template-error")
        .filter_map(|d| d.span)
        .collect();
    diags.0.retain(|d| {
        d.code != "template-error"
            || !d.span.is_some_and(|s| {
                explained
                    .iter()
                    .any(|e| e.file == s.file && e.start >= s.start && e.end <= s.end)
            })
    });
}

/// The summary line of `validate`.
pub fn summary(path: &str, checked: &Checked) -> String {
    let errors = checked.diags.error_count();
    let warnings = checked.diags.0.len() - errors;
    if errors > 0 {
        let mut s = format!("{path}: {}", suggest::count(errors, "error"));
        if warnings > 0 {
            s.push_str(&format!(", {}", suggest::count(warnings, "warning")));
        }
        s
    } else {
        let modules = checked.project.modules.len() - 1;
        let mut s = format!(
            "{path}: valid ({}",
            suggest::count(checked.flow.steps.len(), "step")
        );
        if modules > 0 {
            s.push_str(&format!(
                " from {}",
                suggest::count(checked.project.modules.len(), "file")
            ));
        }
        s.push(')');
        if warnings > 0 {
            s.push_str(&format!(", {}", suggest::count(warnings, "warning")));
        }
        s
    }
}
