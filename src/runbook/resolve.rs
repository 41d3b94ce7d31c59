//! Resolving: modules expanded into one flat list of steps, template references checked, and
//! the edges of the step graph found.
//!
//! A module used by step `primary` becomes a [`Scope`]: its steps get ids prefixed `primary.`,
//! its `vars` are the `with:` of the using step (evaluated in the parent's scope) and its
//! `outputs` are what `steps.primary.<name>` reads. Dependencies are exact: a step inside a
//! module waits only for what its own templates read, through module vars and outputs, so two
//! uses of one module run side by side, and inside each the independent steps do too.

use std::collections::{BTreeMap, HashSet};

use super::diagnostic::{Diagnostic, Diagnostics};
use super::load::{ModuleId, Project, Step, StepKind, StepRollback};
use super::source::{Sources, Span};
use super::suggest;
use super::template::{self, AWS_KEYS, ROOTS, RUN_KEYS};
use super::yaml::{Node, Value};
use crate::actions::Outputs;

pub type ScopeId = usize;

/// One instance of a runbook file: the root, or a module as used by one step.
#[derive(Debug)]
pub struct Scope {
    pub module: ModuleId,
    /// `""` for the root, `"primary."` for a module used by step `primary`.
    pub prefix: String,
    /// The scope and step index (in the parent's module) of the step that uses this module.
    pub parent: Option<(ScopeId, usize)>,
    /// What each step id of the module is in this scope.
    pub locals: BTreeMap<String, Local>,
}

#[derive(Clone, Copy, Debug)]
pub enum Local {
    Action(usize),
    Module(ScopeId),
    Broken,
}

/// An action step of the expanded runbook.
#[derive(Debug)]
pub struct FlowStep {
    /// The full id, `primary.vpc`.
    pub id: String,
    pub scope: ScopeId,
    /// Index of the step in its module's `steps`.
    pub index: usize,
    /// Steps this one waits for, each with the place that makes it wait (deduplicated, sorted).
    pub deps: Vec<(usize, Span)>,
    /// Those of `deps` whose outputs its templates read (the others are `needs:`): where one of
    /// them is skipped, so is this step.
    pub reads: Vec<usize>,
}

#[derive(Debug, Default)]
pub struct Flow {
    pub scopes: Vec<Scope>,
    pub steps: Vec<FlowStep>,
}

impl Flow {
    pub fn step<'p>(&self, project: &'p Project, i: usize) -> &'p Step {
        let fs = &self.steps[i];
        &project.modules[self.scopes[fs.scope].module].steps[fs.index]
    }

    /// Every action step of a scope and the scopes under it.
    pub fn steps_under(&self, scope: ScopeId) -> Vec<usize> {
        let mut out = Vec::new();
        for local in self.scopes[scope].locals.values() {
            match *local {
                Local::Action(i) => out.push(i),
                Local::Module(child) => out.extend(self.steps_under(child)),
                Local::Broken => {}
            }
        }
        out.sort_unstable();
        out
    }
}

/// A string that templates read, and where it is.
#[derive(Clone, Copy, Debug)]
pub struct Site<'a> {
    pub text: &'a str,
    pub span: Span,
    /// A bare expression (`when: not aws.emulated`) rather than a template.
    pub expression: bool,
}

impl Site<'_> {
    pub fn references(&self) -> Result<Vec<String>, template::TemplateError> {
        if self.expression {
            template::expression_references(self.text)
        } else {
            template::references(self.text)
        }
    }

    /// The span of `needle` inside this site, or the whole site.
    pub fn locate(&self, sources: &Sources, needle: &str) -> Span {
        let src = sources.text(self.span);
        src.find(needle)
            .map_or(self.span, |k| self.span.sub(k, needle.len()))
    }

    /// The span of a byte range of the template text, when the source shows the text verbatim.
    pub fn range(&self, sources: &Sources, range: &std::ops::Range<usize>) -> Span {
        let src = sources.text(self.span);
        match src.find(self.text) {
            Some(k) => self.span.sub(k + range.start, range.len().max(1)),
            None => self.span,
        }
    }
}

fn strings_in<'a>(node: &'a Node, out: &mut Vec<Site<'a>>) {
    match &node.value {
        Value::String(s) => out.push(Site {
            text: s,
            span: node.span,
            expression: false,
        }),
        Value::Seq(items) => items.iter().for_each(|n| strings_in(n, out)),
        Value::Map(entries) => entries.iter().for_each(|(_, v)| strings_in(v, out)),
        _ => {}
    }
}

/// A `region:` as a site: a name, or a template that renders one.
pub fn region_site(node: &Node) -> Option<Site<'_>> {
    let text = node.as_str()?;
    Some(Site {
        text,
        span: node.span,
        expression: false,
    })
}

/// Whether a text is a region name as AWS writes them: `us-east-1`, `ap-southeast-2`,
/// `us-gov-west-1`, `cn-north-1`.
pub fn is_region_name(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

/// The partition a region belongs to (`aws`, `aws-cn`, `aws-us-gov`, …): one set of credentials
/// acts in one partition.
pub fn partition(region: &str) -> &'static str {
    [
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-iso-", "aws-iso"),
        ("eu-isoe-", "aws-iso-e"),
    ]
    .iter()
    .find(|(prefix, _)| region.starts_with(prefix))
    .map_or("aws", |(_, p)| p)
}

/// A `when:` as a site: templates as they are, other strings as bare expressions.
pub fn when_site(node: &Node) -> Option<Site<'_>> {
    let text = node.as_str()?;
    Some(Site {
        text,
        span: node.span,
        expression: template::kind(text) == template::Kind::Literal,
    })
}

/// The strings of a step that are evaluated before it runs (and so make it wait).
pub fn step_sites(step: &Step, include_with: bool) -> Vec<Site<'_>> {
    let mut out = Vec::new();
    if let Some(name) = &step.name {
        out.push(Site {
            text: name,
            span: name.span,
            expression: false,
        });
    }
    if include_with {
        if let Some(with) = &step.with {
            strings_in(with, &mut out);
        }
    }
    if let Some(site) = step.when.as_ref().and_then(when_site) {
        out.push(site);
    }
    // Checked as any template: a run shows one that cannot render as it is written.
    for text in [&step.skip_reason, &step.guide].into_iter().flatten() {
        out.push(Site {
            text,
            span: text.span,
            expression: false,
        });
    }
    if let Some(site) = step.region.as_ref().and_then(region_site) {
        out.push(site);
    }
    if let Some(confirm) = &step.confirm {
        out.push(Site {
            text: confirm,
            span: confirm.span,
            expression: false,
        });
    }
    if let Some(exercise) = &step.exercise {
        for text in std::iter::once(&exercise.task)
            .chain(&exercise.hints)
            .chain(exercise.files.values())
        {
            out.push(Site {
                text,
                span: text.span,
                expression: false,
            });
        }
    }
    out
}

/// Expand modules into scopes and action steps, and find each step's dependencies.
pub fn expand(project: &Project) -> (Flow, Diagnostics) {
    let mut flow = Flow::default();
    let mut diags = Diagnostics::default();
    expand_scope(project, &mut flow, 0, "", None);
    for i in 0..flow.steps.len() {
        let (deps, reads) = step_deps(project, &flow, i, &mut diags);
        flow.steps[i].deps = deps;
        flow.steps[i].reads = reads;
    }
    (flow, diags)
}

fn expand_scope(
    project: &Project,
    flow: &mut Flow,
    module: ModuleId,
    prefix: &str,
    parent: Option<(ScopeId, usize)>,
) -> ScopeId {
    let scope = flow.scopes.len();
    flow.scopes.push(Scope {
        module,
        prefix: prefix.to_owned(),
        parent,
        locals: BTreeMap::new(),
    });
    for (index, step) in project.modules[module].steps.iter().enumerate() {
        let local = match &step.kind {
            StepKind::Action(_) => {
                flow.steps.push(FlowStep {
                    id: format!("{prefix}{}", step.id.value),
                    scope,
                    index,
                    deps: Vec::new(),
                    reads: Vec::new(),
                });
                Local::Action(flow.steps.len() - 1)
            }
            StepKind::Module { module: child, .. } => Local::Module(expand_scope(
                project,
                flow,
                *child,
                &format!("{prefix}{}.", step.id.value),
                Some((scope, index)),
            )),
            StepKind::Broken => Local::Broken,
        };
        flow.scopes[scope]
            .locals
            .insert(step.id.value.clone(), local);
    }
    scope
}

struct DepFinder<'a> {
    project: &'a Project,
    flow: &'a Flow,
    /// (scope, root, name) being followed, to stop on a loop through module vars and outputs.
    visiting: HashSet<(ScopeId, &'static str, String)>,
    diags: &'a mut Diagnostics,
}

impl DepFinder<'_> {
    fn site(&mut self, scope: ScopeId, site: &Site<'_>, out: &mut Vec<(usize, Span)>) {
        let Ok(refs) = site.references() else { return };
        for r in refs {
            let span = site.locate(&self.project.sources, &r);
            self.reference(scope, &r, span, out);
        }
    }

    fn reference(
        &mut self,
        scope: ScopeId,
        reference: &str,
        span: Span,
        out: &mut Vec<(usize, Span)>,
    ) {
        let parts: Vec<&str> = reference.split('.').collect();
        match parts.as_slice() {
            ["vars", name, ..] => self.var(scope, name, span, out),
            ["steps", id, rest @ ..] => self.local(scope, id, rest.first().copied(), span, out),
            _ => {}
        }
    }

    fn var(&mut self, scope: ScopeId, name: &str, span: Span, out: &mut Vec<(usize, Span)>) {
        let Some((parent, index)) = self.flow.scopes[scope].parent else {
            return;
        };
        let key = (scope, "vars", name.to_owned());
        if !self.visiting.insert(key.clone()) {
            self.diags.push(loop_error(span, &format!("vars.{name}")));
            return;
        }
        let project = self.project;
        let using = &project.modules[self.flow.scopes[parent].module].steps[index];
        if let Some(value) = using.with.as_ref().and_then(|w| w.get(name)) {
            let mut sites = Vec::new();
            strings_in(value, &mut sites);
            for site in sites {
                self.site(parent, &site, out);
            }
        }
        self.visiting.remove(&key);
    }

    fn local(
        &mut self,
        scope: ScopeId,
        id: &str,
        output: Option<&str>,
        span: Span,
        out: &mut Vec<(usize, Span)>,
    ) {
        match self.flow.scopes[scope].locals.get(id) {
            Some(Local::Action(i)) => out.push((*i, span)),
            Some(Local::Module(child)) => {
                let child = *child;
                let module = &self.project.modules[self.flow.scopes[child].module];
                match output.and_then(|o| module.outputs.get(o)) {
                    Some(value) => {
                        let key = (child, "outputs", output.unwrap_or_default().to_owned());
                        if !self.visiting.insert(key.clone()) {
                            self.diags.push(loop_error(
                                span,
                                &format!("steps.{id}.{}", output.unwrap_or_default()),
                            ));
                            return;
                        }
                        let mut sites = Vec::new();
                        strings_in(&value.value, &mut sites);
                        for site in sites {
                            self.site(child, &site, out);
                        }
                        self.visiting.remove(&key);
                    }
                    None => out.extend(self.flow.steps_under(child).into_iter().map(|i| (i, span))),
                }
            }
            Some(Local::Broken) | None => {}
        }
    }
}

fn loop_error(span: Span, what: &str) -> Diagnostic {
    Diagnostic::error(
        "dependency-cycle",
        format!("the value of `{what}` depends on itself"),
    )
    .at(span)
    .help("a module's vars cannot be computed from that same module's outputs")
}

fn step_deps(
    project: &Project,
    flow: &Flow,
    i: usize,
    diags: &mut Diagnostics,
) -> (Vec<(usize, Span)>, Vec<usize>) {
    let mut out = Vec::new();
    let mut finder = DepFinder {
        project,
        flow,
        visiting: HashSet::new(),
        diags,
    };
    // The steps whose outputs its templates read, and those of the steps using its modules.
    let mut reads = Vec::new();
    let fs = &flow.steps[i];
    let step = flow.step(project, i);
    for site in step_sites(step, true) {
        let from = out.len();
        finder.site(fs.scope, &site, &mut out);
        reads.extend(out[from..].iter().map(|&(d, _)| d));
    }
    for need in &step.needs {
        finder.local(fs.scope, need, None, need.span, &mut out);
    }
    // What the steps that use the enclosing modules wait for, the module's steps wait for too.
    let mut scope = fs.scope;
    while let Some((parent, index)) = flow.scopes[scope].parent {
        let using = &project.modules[flow.scopes[parent].module].steps[index];
        for site in step_sites(using, false) {
            let from = out.len();
            finder.site(parent, &site, &mut out);
            reads.extend(out[from..].iter().map(|&(d, _)| d));
        }
        for need in &using.needs {
            finder.local(parent, need, None, need.span, &mut out);
        }
        scope = parent;
    }
    let mut seen = HashSet::new();
    out.retain(|(d, _)| seen.insert(*d));
    out.sort_by_key(|(d, _)| *d);
    reads.sort_unstable();
    reads.dedup();
    (out, reads)
}

/// Check every template reference, `needs` entry and module input of every file, once per
/// file (not once per use of a module).
pub fn check_references(project: &Project) -> Diagnostics {
    let mut diags = Diagnostics::default();
    for (m, module) in project.modules.iter().enumerate() {
        let ids: Vec<&str> = module.steps.iter().map(|s| s.id.as_str()).collect();
        for step in &module.steps {
            let mut sites = step_sites(step, true);
            if let StepRollback::Steps(rollback) = &step.rollback {
                for r in rollback {
                    if let Some(with) = &r.with {
                        strings_in(with, &mut sites);
                    }
                }
            }
            for site in &sites {
                check_site(project, m, Some(step), site, &mut diags);
            }
            if let Some(region) = &step.region {
                match region.as_str() {
                    None => diags.push(
                        Diagnostic::error(
                            "wrong-type",
                            format!("`region` must be a region name, found {}", region.describe()),
                        )
                        .at(region.span)
                        .help("write a region such as `us-east-1`, or a template like \"{{ vars.secondary_region }}\""),
                    ),
                    Some(text)
                        if template::kind(text) == template::Kind::Literal
                            && !is_region_name(text) =>
                    {
                        diags.push(
                            Diagnostic::error(
                                "unknown-region",
                                format!("`{text}` is not an AWS region name"),
                            )
                            .at(region.span)
                            .help("a region is written like `us-east-1` or `ap-southeast-1` (`aws ec2 describe-regions` lists them)"),
                        );
                    }
                    Some(_) => {}
                }
            }
            if let Some(when) = &step.when {
                if !matches!(when.value, Value::Bool(_) | Value::String(_)) {
                    diags.push(
                        Diagnostic::error("wrong-type", format!("`when` must be a condition, found {}", when.describe()))
                            .at(when.span)
                            .help("write a boolean, an expression like `not aws.emulated`, or a template like \"{{ vars.drill }}\""),
                    );
                }
            }
            for need in &step.needs {
                if !ids.contains(&need.as_str()) && !module.broken_ids.contains(&need.value) {
                    diags.push(unknown_step(need, &ids, need.span));
                }
            }
            if let StepKind::Module {
                module: child,
                path,
            } = &step.kind
            {
                check_module_inputs(project, step, *child, path, &mut diags);
            }
        }
        for output in module.outputs.values() {
            let mut sites = Vec::new();
            strings_in(&output.value, &mut sites);
            for site in &sites {
                check_site(project, m, None, site, &mut diags);
            }
        }
    }
    diags
}

fn unknown_step(id: &str, ids: &[&str], span: Span) -> Diagnostic {
    Diagnostic::error("unknown-step", format!("there is no step `{id}`"))
        .at(span)
        .help(
            suggest::did_you_mean(id, ids.iter().copied()).unwrap_or_else(|| {
                if ids.is_empty() {
                    "this file has no steps".into()
                } else {
                    format!("the steps of this file are {}", suggest::list(ids))
                }
            }),
        )
}

fn check_site(
    project: &Project,
    m: ModuleId,
    step: Option<&Step>,
    site: &Site<'_>,
    diags: &mut Diagnostics,
) {
    let module = &project.modules[m];
    if !site.expression && site.text.contains("${{") {
        diags.push(
            Diagnostic::warning(
                "dollar-template",
                "`${{ … }}` is GitHub Actions' way to write a template: here the `$` stays in the text",
            )
            .at(site.span)
            .help("write `{{ … }}` without the `$`"),
        );
    }
    let refs = match site.references() {
        Ok(refs) => refs,
        Err(e) => {
            let span = e
                .range
                .as_ref()
                .map_or(site.span, |r| site.range(&project.sources, r));
            diags.push(
                Diagnostic::error(
                    "template-syntax",
                    format!("invalid template: {}", e.message),
                )
                .at(span)
                .help("templates use Jinja syntax: `{{ vars.name }}`, `{{ steps.id.output }}`"),
            );
            return;
        }
    };
    for r in refs {
        let span = site.locate(&project.sources, &r);
        let parts: Vec<&str> = r.split('.').collect();
        let d = match parts.as_slice() {
            ["vars", name, ..]
                if !module.vars.contains_key(*name)
                    && !module.broken_vars.iter().any(|b| b == name) =>
            {
                let names: Vec<&str> = module.vars.keys().map(String::as_str).collect();
                Some(
                    Diagnostic::error("unknown-var", format!("there is no var `{name}`"))
                        .at(span)
                        .help(
                            suggest::did_you_mean(name, names.iter().copied()).unwrap_or_else(
                                || {
                                    format!(
                                        "declare it under `vars:` at the top of `{}`",
                                        project.sources.get(module.file).display
                                    )
                                },
                            ),
                        ),
                )
            }
            ["steps", id, rest @ ..] => check_step_ref(project, module, step, id, rest, span),
            ["run", key, ..] if !RUN_KEYS.contains(key) => {
                Some(unknown_key_of("run", key, RUN_KEYS, span))
            }
            ["aws", key, ..] if !AWS_KEYS.contains(key) => {
                Some(unknown_key_of("aws", key, AWS_KEYS, span))
            }
            [root, rest @ ..] if !ROOTS.contains(root) => {
                // A var or step named bare (Ansible's `{{ name }}`), or the environment (`env.X`,
                // GitHub's): said in the words that reach it here.
                let help = if module.vars.contains_key(*root) {
                    format!("a var is read as `vars.{root}`")
                } else if module.steps.iter().any(|s| s.id.value == *root) {
                    format!("a step's output is read as `steps.{root}.OUTPUT`")
                } else if matches!(*root, "env" | "environ" | "environment") {
                    let name = rest.first().unwrap_or(&"NAME").to_lowercase();
                    format!(
                        "templates do not read the environment: declare a var (`vars: {{{name}: {{}}}}`), read it as `vars.{name}`, and give it as RUNBOOK_VAR_{}",
                        name.to_uppercase()
                    )
                } else {
                    suggest::did_you_mean(root, ROOTS.iter().copied())
                        .unwrap_or_else(|| format!("templates start from {}", suggest::list(ROOTS)))
                };
                Some(
                    Diagnostic::error("unknown-name", format!("templates have no `{root}`"))
                        .at(span)
                        .help(help),
                )
            }
            _ => None,
        };
        diags.extend(d);
    }
}

fn unknown_key_of(root: &str, key: &str, keys: &[&str], span: Span) -> Diagnostic {
    Diagnostic::error("unknown-name", format!("`{root}` has no `{key}`"))
        .at(span)
        .help(
            suggest::did_you_mean(key, keys.iter().copied())
                .unwrap_or_else(|| format!("`{root}` has {}", suggest::list(keys))),
        )
}

fn check_step_ref(
    project: &Project,
    module: &super::load::Module,
    from: Option<&Step>,
    id: &str,
    path: &[&str],
    span: Span,
) -> Option<Diagnostic> {
    let output = path.first().copied();
    let Some(target) = module.steps.iter().find(|s| s.id.value == id) else {
        if module.broken_ids.iter().any(|b| b == id) {
            return None;
        }
        let ids: Vec<&str> = module.steps.iter().map(|s| s.id.as_str()).collect();
        return Some(unknown_step(id, &ids, span));
    };
    let output = output?;
    let (outputs, what): (Vec<String>, String) = match &target.kind {
        StepKind::Action(def) => match def.outputs {
            Outputs::Fixed(list) => (
                list.iter().map(|o| o.name.to_owned()).collect(),
                format!("action `{}`", def.name),
            ),
            Outputs::FromParams => (
                target
                    .with
                    .as_ref()
                    .and_then(Node::as_map)
                    .map_or_else(Vec::new, |m| {
                        m.iter().filter_map(|(k, _)| k.scalar_text()).collect()
                    }),
                format!("step `{id}` (its outputs are the keys of its `with:`)"),
            ),
            Outputs::Listed => (
                target
                    .with
                    .as_ref()
                    .and_then(Node::as_map)
                    .and_then(|m| {
                        m.iter()
                            .find(|(k, _)| k.scalar_text().as_deref() == Some("outputs"))
                            .map(|(_, v)| v)
                    })
                    .and_then(Node::as_seq)
                    .map_or_else(Vec::new, |items| {
                        items.iter().filter_map(Node::scalar_text).collect()
                    }),
                format!("step `{id}` (its outputs are the names in its `outputs:`)"),
            ),
        },
        StepKind::Module {
            module: child,
            path,
        } => {
            if !project.modules[*child].complete {
                return None;
            }
            (
                project.modules[*child].outputs.keys().cloned().collect(),
                format!("module `{}`", path.value),
            )
        }
        StepKind::Broken => return None,
    };
    if outputs.iter().any(|o| o == output) {
        return None;
    }
    let _ = from;
    // `steps.vpc.outputs.vpc_id`, as GitHub Actions writes it: here an output is read by its name.
    let written_as_outputs = matches!(output, "outputs" | "output")
        .then(|| path.get(1))
        .flatten()
        .filter(|name| outputs.iter().any(|o| o == *name));
    let help = match written_as_outputs {
        Some(name) => Some(format!(
            "an output is read by its name, without `{output}.`: `steps.{id}.{name}`"
        )),
        None => suggest::did_you_mean(output, &outputs),
    };
    let listed =
        matches!(&target.kind, StepKind::Action(def) if matches!(def.outputs, Outputs::Listed));
    let help = help.unwrap_or_else(|| match (outputs.is_empty(), listed) {
        // A command's stdout read as Ansible's `register` or a shell's `$(…)` would read it.
        (_, true) => format!(
            "a command's outputs are what it names: give the step `outputs: [{}]` and have the \
             command print one JSON object on stdout, `{{\"{output}\": \"…\"}}`; without \
             `outputs:` what it prints is shown, not kept",
            outputs
                .iter()
                .map(String::as_str)
                .chain([output])
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (true, false) => format!("{what} has no outputs"),
        (false, false) => format!("its outputs are {}", suggest::list(&outputs)),
    });
    Some(
        Diagnostic::error(
            "unknown-output",
            format!("step `{id}` has no output `{output}`"),
        )
        .at(span)
        .label(format!("not an output of {what}"))
        .help(help),
    )
}

fn check_module_inputs(
    project: &Project,
    step: &Step,
    child: ModuleId,
    path: &super::decode::Spanned<String>,
    diags: &mut Diagnostics,
) {
    let module = &project.modules[child];
    if !module.complete && module.vars.is_empty() {
        return;
    }
    let names: Vec<&str> = module.vars.keys().map(String::as_str).collect();
    let given = step
        .with
        .as_ref()
        .and_then(Node::as_map)
        .unwrap_or_default();
    if let Some(with) = &step.with {
        if with.as_map().is_none() && with.value != Value::Null {
            diags.push(
                Diagnostic::error(
                    "wrong-type",
                    format!(
                        "`with` gives a module its vars as a mapping, found {}",
                        with.describe()
                    ),
                )
                .at(with.span),
            );
        }
    }
    // A var left out because its name was misspelt is reported once, as the misspelling.
    let misspelt: Vec<&str> = given
        .iter()
        .filter_map(|(k, _)| k.as_str())
        .filter(|k| !module.vars.contains_key(*k))
        .filter_map(|k| suggest::closest(k, names.iter().copied()))
        .collect();
    for (key, value) in given {
        let name = key.scalar_text().unwrap_or_default();
        match module.vars.get(&name) {
            None => diags.push(
                Diagnostic::error(
                    "unknown-var",
                    format!("module `{}` has no var `{name}`", path.value),
                )
                .at(key.span)
                .help(
                    suggest::did_you_mean(&name, names.iter().copied()).unwrap_or_else(|| {
                        if names.is_empty() {
                            "the module declares no vars".into()
                        } else {
                            format!("its vars are {}", suggest::list(&names))
                        }
                    }),
                ),
            ),
            Some(var) => {
                let literal = !matches!(&value.value, Value::String(s) if template::kind(s) != template::Kind::Literal);
                if literal {
                    let ty = var
                        .def
                        .kind
                        .as_ref()
                        .map_or(super::format::VarType::String, |k| k.value);
                    if let Err(e) = super::vars::typed(ty, value)
                        .and_then(|v| super::vars::check_constraints(&var.def, &v))
                    {
                        diags.push(
                            Diagnostic::error(
                                "invalid-var-value",
                                format!(
                                    "invalid value for var `{name}` of module `{}`: {e}",
                                    path.value
                                ),
                            )
                            .at(value.span)
                            .related(var.name.span, "declared here"),
                        );
                    }
                }
            }
        }
    }
    for (name, var) in &module.vars {
        let present = given.iter().any(|(k, _)| k.as_str() == Some(name))
            || misspelt.contains(&name.as_str());
        if !present && var.def.default.is_none() {
            diags.push(
                Diagnostic::error(
                    "missing-var",
                    format!("module `{}` needs a value for var `{name}`", path.value),
                )
                .at(path.span)
                .related(var.name.span, "declared here without a default")
                .help(format!("add it under `with:`, for example `{name}: ...`")),
            );
        }
    }
}
