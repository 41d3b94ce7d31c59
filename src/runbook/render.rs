//! Rendering before a run: every value that depends only on vars is computed; a value that
//! depends on a step's outputs (or on the run id) is "known after run", with what it waits for.

use std::collections::BTreeSet;

use indexmap::IndexMap;
use serde_json::{Value as Json, json};

use crate::runbook::load::Project;
use crate::runbook::resolve::{Flow, Local, ScopeId, Site};
use crate::runbook::source::Span;
use crate::runbook::template;
use crate::runbook::vars::Resolved;
use crate::runbook::yaml::{Node, Value};

/// What is known before the run besides vars.
#[derive(Clone, Debug, Default)]
pub struct Known {
    pub region: Option<String>,
    pub emulated: bool,
    /// Known once the run exists.
    pub run_id: Option<String>,
    /// The folder an exercise's files are written in (`run.files`), known once the run exists.
    pub files: Option<String>,
    /// The endpoint the run's calls go to (an emulator), for `aws.cli`.
    pub endpoint_url: Option<String>,
    /// The profile the run uses, for `aws.cli`.
    pub profile: Option<String>,
}

impl Known {
    /// `aws.cli`: the AWS CLI options that send a command where the run's calls go
    /// (`--endpoint-url URL`, `--profile NAME`), for a task's or a hint's commands; empty on
    /// AWS with the default profile. The region is the command's own (`--region`).
    pub fn cli(&self) -> String {
        let mut options = Vec::new();
        if let Some(url) = self.endpoint_url.as_deref().filter(|u| !u.is_empty()) {
            options.push(format!("--endpoint-url {url}"));
        }
        if let Some(profile) = &self.profile {
            options.push(format!("--profile {profile}"));
        }
        options.join(" ")
    }
}

/// Why a step's region is not known: not a region name (or not of the run's partition), or it
/// waits for values known only during the run.
enum RegionError {
    Bad(String),
    Waits(String),
}

/// A rendered value: the JSON, the places in it that are known only after the run, and the
/// template errors met on the way.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    pub value: Json,
    /// JSON pointer (`/alias/dns_name`) → what it waits for (`primary.lb.dns_name`).
    pub unknown: Vec<(String, Vec<String>)>,
    pub errors: Vec<(Span, String)>,
}

impl Rendered {
    pub fn is_known(&self, pointer: &str) -> bool {
        !self.unknown.iter().any(|(p, _)| {
            p == pointer
                || p.starts_with(&format!("{pointer}/"))
                || pointer.starts_with(&format!("{p}/"))
        })
    }

    /// The value with every place known only after the run set to `null` (a list keeps its
    /// length): what a check before the run may read.
    pub fn known_value(&self) -> Json {
        let mut value = self.value.clone();
        for (pointer, _) in &self.unknown {
            if let Some(v) = value.pointer_mut(pointer) {
                *v = Json::Null;
            }
        }
        value
    }

    /// The value at a pointer, if it is fully known.
    pub fn get(&self, pointer: &str) -> Option<&Json> {
        if self.is_known(pointer) {
            self.value.pointer(pointer)
        } else {
            None
        }
    }

    pub fn waits_for(&self) -> Vec<String> {
        let set: BTreeSet<String> = self
            .unknown
            .iter()
            .flat_map(|(_, r)| r.iter().cloned())
            .collect();
        set.into_iter().collect()
    }
}

/// A scope's vars: known values, or what they wait for.
#[derive(Clone, Debug)]
enum VarValue {
    Known(Json),
    Unknown(Vec<String>),
}

pub struct Renderer<'a> {
    project: &'a Project,
    flow: &'a Flow,
    known: Known,
    /// The outputs of the steps done so far (empty when planning).
    done: &'a Outputs,
    scopes: Vec<IndexMap<String, VarValue>>,
}

/// Outputs by flow step index.
pub type Outputs = std::collections::HashMap<usize, serde_json::Map<String, Json>>;

fn no_outputs() -> &'static Outputs {
    static EMPTY: std::sync::OnceLock<Outputs> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Outputs::new)
}

impl<'a> Renderer<'a> {
    /// A renderer for planning: nothing has run.
    pub fn new(project: &'a Project, flow: &'a Flow, vars: &Resolved, known: Known) -> Self {
        Renderer::at(project, flow, vars, known, no_outputs())
    }

    /// A renderer during a run, with the outputs of the steps done so far.
    pub fn at(
        project: &'a Project,
        flow: &'a Flow,
        vars: &Resolved,
        known: Known,
        done: &'a Outputs,
    ) -> Self {
        let mut r = Renderer {
            project,
            flow,
            known,
            done,
            scopes: Vec::new(),
        };
        for scope in 0..flow.scopes.len() {
            let values = r.scope_vars(scope, vars);
            r.scopes.push(values);
        }
        r
    }

    fn scope_vars(&self, scope: ScopeId, root: &Resolved) -> IndexMap<String, VarValue> {
        let s = &self.flow.scopes[scope];
        let module = &self.project.modules[s.module];
        let mut out = IndexMap::new();
        match s.parent {
            None => {
                for name in module.vars.keys() {
                    let v = match root.values.get(name) {
                        Some((value, _)) => VarValue::Known(value.clone()),
                        None => VarValue::Unknown(vec![format!("vars.{name} (not set)")]),
                    };
                    out.insert(name.clone(), v);
                }
            }
            Some((parent, index)) => {
                let using = &self.project.modules[self.flow.scopes[parent].module].steps[index];
                for (name, var) in &module.vars {
                    let given = using.with.as_ref().and_then(|w| w.get(name));
                    let v = match given {
                        Some(node) => {
                            // Parent scopes come first, so their vars are ready.
                            let r = self.render_node(parent, node);
                            if r.unknown.is_empty() {
                                VarValue::Known(r.value)
                            } else {
                                VarValue::Unknown(r.waits_for())
                            }
                        }
                        None => match &var.def.default {
                            Some(d) => VarValue::Known(d.to_json()),
                            None => VarValue::Unknown(vec![format!("vars.{name} (not set)")]),
                        },
                    };
                    out.insert(name.clone(), v);
                }
            }
        }
        out
    }

    /// The values of every var marked `secret`, in any scope, to mask them wherever they appear.
    pub fn secret_values(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut secret_vars: Vec<(ScopeId, String)> = Vec::new();
        for (scope, values) in self.scopes.iter().enumerate() {
            let module = &self.project.modules[self.flow.scopes[scope].module];
            for (name, var) in &module.vars {
                if let (true, Some(VarValue::Known(v))) = (var.def.secret, values.get(name)) {
                    let text = crate::runbook::vars::json_text(v);
                    if !text.is_empty() {
                        out.push(text);
                        secret_vars.push((scope, format!("vars.{name}")));
                    }
                }
            }
        }
        // What a template computes from a secret (`{{ vars.token | upper }}`, `{{ vars.token |
        // b64encode }}`) is as secret as the secret: each `{{ … }}` that reads a secret var and
        // can be rendered before the run (it reads no step's output) is rendered alone, and its
        // result masked wherever it appears; the template's own words around it stay readable.
        for (i, step) in self.flow.steps.iter().enumerate() {
            let scope = step.scope;
            // `vars` alone: the template reads vars in a way that names none (`vars.token[:4]`,
            // `vars[name]`), so it may read a secret one.
            let reads_secret = |refs: &[String]| {
                refs.iter().any(|r| {
                    secret_vars.iter().any(|(s, var)| {
                        *s == scope
                            && (r == "vars" || r == var || r.starts_with(&format!("{var}.")))
                    })
                })
            };
            for site in crate::runbook::resolve::step_sites(self.flow.step(self.project, i), true) {
                if site.expression || !site.references().is_ok_and(|r| reads_secret(&r)) {
                    continue;
                }
                for block in expressions(site.text) {
                    let alone = Site {
                        text: block,
                        ..site
                    };
                    if !alone.references().is_ok_and(|r| reads_secret(&r)) {
                        continue;
                    }
                    if let Ok(Json::String(text)) = self.render_site(scope, &alone) {
                        if !text.trim().is_empty() {
                            out.push(text);
                        }
                    }
                }
            }
        }
        // The forms a secret takes in a URL (a `check.http` address): percent-encoded; and in
        // JSON that a command prints (its stderr is shown): escaped.
        let encoded: Vec<String> = out
            .iter()
            .flat_map(|s| url_forms(s).into_iter().chain(json_forms(s)))
            .collect();
        out.extend(encoded);
        out.sort_by_key(|s| std::cmp::Reverse(s.len()));
        out.dedup();
        out
    }

    /// The context a template of `scope` is rendered in: its vars, `run`, `aws`, and the
    /// outputs of its steps, only those named in `only` when given (a module's outputs are
    /// rendered to be known, so a template reading one step does not render every module's).
    fn context(&self, scope: ScopeId, only: Option<&[&str]>) -> Json {
        let vars: serde_json::Map<String, Json> = self.scopes[scope]
            .iter()
            .filter_map(|(k, v)| match v {
                VarValue::Known(j) => Some((k.clone(), j.clone())),
                VarValue::Unknown(_) => None,
            })
            .collect();
        let name = self.project.name();
        let mut aws = serde_json::Map::new();
        aws.insert("emulated".into(), Json::Bool(self.known.emulated));
        aws.insert("cli".into(), Json::String(self.known.cli()));
        // A module used with a `region:` acts there: its `aws.region` says so.
        match self.scope_region(scope) {
            Some(Ok(region)) => {
                aws.insert("region".into(), Json::String(region));
            }
            _ => {
                if let Some(region) = &self.known.region {
                    aws.insert("region".into(), Json::String(region.clone()));
                }
            }
        }
        let mut run = serde_json::Map::new();
        run.insert("name".into(), Json::String(name));
        if let Some(id) = &self.known.run_id {
            run.insert("id".into(), Json::String(id.clone()));
        }
        if let Some(files) = &self.known.files {
            run.insert("files".into(), Json::String(files.clone()));
        }
        let mut steps = serde_json::Map::new();
        for (id, local) in &self.flow.scopes[scope].locals {
            if only.is_some_and(|only| !only.contains(&id.as_str())) {
                continue;
            }
            if let Some(outputs) = self.local_outputs(*local) {
                steps.insert(id.clone(), Json::Object(outputs));
            }
        }
        json!({ "vars": vars, "steps": steps, "run": run, "aws": aws })
    }

    /// The outputs of a step of a scope, once they are all known: an action's from the run, a
    /// module's by rendering its `outputs`.
    fn local_outputs(&self, local: Local) -> Option<serde_json::Map<String, Json>> {
        match local {
            Local::Action(i) => self.done.get(&i).cloned(),
            // A module's outputs need its vars, which are computed scope by scope, parents first:
            // while a module's own vars are being computed, its outputs are not known yet.
            Local::Module(child) if child >= self.scopes.len() => None,
            Local::Module(child) => {
                let module = &self.project.modules[self.flow.scopes[child].module];
                let mut out = serde_json::Map::new();
                for (name, output) in &module.outputs {
                    let r = self.render_node(child, &output.value);
                    if !r.unknown.is_empty() {
                        return None;
                    }
                    out.insert(name.clone(), r.value);
                }
                Some(out)
            }
            Local::Broken => None,
        }
    }

    /// The runbook's own `outputs`, rendered with what is known.
    pub fn root_outputs(&self) -> serde_json::Map<String, Json> {
        self.project
            .root()
            .outputs
            .iter()
            .map(|(name, output)| (name.clone(), self.render_node(0, &output.value).value))
            .collect()
    }

    /// What a reference waits for, if it is not known before the run.
    fn waits(&self, scope: ScopeId, reference: &str) -> Option<Vec<String>> {
        let parts: Vec<&str> = reference.split('.').collect();
        match parts.as_slice() {
            ["vars", name, ..] => match self.scopes[scope].get(*name) {
                Some(VarValue::Unknown(w)) => Some(w.clone()),
                Some(VarValue::Known(_)) => None,
                // Not declared: validation reports it; here it is simply not known.
                None => Some(vec![format!("vars.{name} (not declared)")]),
            },
            ["steps", id, ..]
                if self.flow.scopes[scope]
                    .locals
                    .get(*id)
                    .is_some_and(|l| self.local_outputs(*l).is_some()) =>
            {
                None
            }
            ["steps", id, rest @ ..] => {
                let prefix = &self.flow.scopes[scope].prefix;
                let full = match self.flow.scopes[scope].locals.get(*id) {
                    Some(Local::Action(i)) => self.flow.steps[*i].id.clone(),
                    _ => format!("{prefix}{id}"),
                };
                Some(vec![match rest.first() {
                    Some(output) => format!("steps.{full}.{output}"),
                    None => format!("steps.{full}"),
                }])
            }
            ["run", "id", ..] if self.known.run_id.is_none() => Some(vec!["run.id".into()]),
            ["run", "files", ..] if self.known.files.is_none() => Some(vec!["run.files".into()]),
            ["aws", "region", ..] if self.known.region.is_none() => Some(vec!["aws.region".into()]),
            _ => None,
        }
    }

    pub fn render_site(&self, scope: ScopeId, site: &Site<'_>) -> Result<Json, Vec<String>> {
        let (refs, read) = match site.references() {
            Ok(refs) => (refs, true),
            Err(_) => (Vec::new(), false),
        };
        let mut waits: Vec<String> = refs
            .iter()
            .filter_map(|r| self.waits(scope, r))
            .flatten()
            .collect();
        if !waits.is_empty() {
            waits.dedup();
            return Err(waits);
        }
        // The steps it reads (`steps.vpc.vpc_id`); all of them when it reads `steps` as a whole
        // (`steps[name]`) or could not be read.
        let named: Option<Vec<&str>> = refs
            .iter()
            .filter(|r| r.as_str() == "steps" || r.starts_with("steps."))
            .map(|r| r.split('.').nth(1))
            .collect();
        let only = named.filter(|_| read);
        let ctx = self.context(scope, only.as_deref());
        let result = if site.expression {
            template::eval_expression(site.text, &ctx)
        } else {
            template::render_str(site.text, &ctx)
        };
        result.map_err(|e| vec![format!("!{}", e.message)])
    }

    /// Render a node (a step's `with:`, a module output) in a scope.
    pub fn render_node(&self, scope: ScopeId, node: &Node) -> Rendered {
        let mut out = Rendered::default();
        out.value = self.walk(scope, node, String::new(), &mut out);
        out
    }

    fn walk(&self, scope: ScopeId, node: &Node, pointer: String, out: &mut Rendered) -> Json {
        match &node.value {
            Value::String(s) => {
                let site = Site {
                    text: s,
                    span: node.span,
                    expression: false,
                };
                match self.render_site(scope, &site) {
                    Ok(v) => v,
                    Err(waits) => {
                        let (errors, waits): (Vec<String>, Vec<String>) =
                            waits.into_iter().partition(|w| w.starts_with('!'));
                        for e in errors {
                            out.errors.push((node.span, e[1..].to_owned()));
                        }
                        let shown = if waits.is_empty() {
                            "(invalid)".to_owned()
                        } else {
                            format!("(known after run: {})", waits.join(", "))
                        };
                        out.unknown.push((pointer, waits));
                        Json::String(shown)
                    }
                }
            }
            Value::Seq(items) => Json::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, n)| self.walk(scope, n, format!("{pointer}/{i}"), out))
                    .collect(),
            ),
            Value::Map(entries) => Json::Object(
                entries
                    .iter()
                    .map(|(k, v)| {
                        let key = k.scalar_text().unwrap_or_default();
                        let p = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                        (key, self.walk(scope, v, p, out))
                    })
                    .collect(),
            ),
            _ => node.to_json(),
        }
    }

    /// The parameters of a flow step.
    pub fn params(&self, step: usize) -> Rendered {
        let fs = &self.flow.steps[step];
        match &self.flow.step(self.project, step).with {
            Some(with) => self.render_node(fs.scope, with),
            None => Rendered {
                value: Json::Object(serde_json::Map::new()),
                ..Rendered::default()
            },
        }
    }

    /// A step's title, rendered where possible.
    pub fn title(&self, step: usize) -> String {
        let s = self.flow.step(self.project, step);
        match &s.name {
            Some(name) => self.text(step, name),
            None => s.id.value.clone(),
        }
    }

    /// Why a step whose `when` is false is skipped: its `skip_reason`, rendered (a template may
    /// say which of several reasons holds), or that its `when` is false.
    pub fn skip_reason(&self, step: usize) -> String {
        match &self.flow.step(self.project, step).skip_reason {
            Some(reason) => self.text(step, reason),
            None => "its `when` is false".to_owned(),
        }
    }

    /// A step's text that may hold templates, rendered; as it is written where it cannot be.
    fn text(&self, step: usize, text: &super::decode::Spanned<String>) -> String {
        let site = Site {
            text,
            span: text.span,
            expression: false,
        };
        match self.render_site(self.flow.steps[step].scope, &site) {
            Ok(Json::String(t)) => t,
            Ok(other) => other.to_string(),
            Err(_) => text.value.clone(),
        }
    }

    /// The `region:` that decides where a step acts: its own, else that of the nearest step
    /// using its module; `None` when the step acts in the run's region.
    pub fn region_node(&self, step: usize) -> Option<&Node> {
        if let Some(node) = &self.flow.step(self.project, step).region {
            return Some(node);
        }
        let mut scope = self.flow.steps[step].scope;
        while let Some((parent, index)) = self.flow.scopes[scope].parent {
            let uses = &self.project.modules[self.flow.scopes[parent].module].steps[index];
            if let Some(node) = &uses.region {
                return Some(node);
            }
            scope = parent;
        }
        None
    }

    /// The region a module's steps act in: the `region:` of the step that uses it (rendered
    /// where that step stands), else its parent's; `None` for the run's own.
    fn scope_region(&self, scope: ScopeId) -> Option<Result<String, RegionError>> {
        let (parent, index) = self.flow.scopes[scope].parent?;
        let module = self.flow.scopes[parent].module;
        let uses = &self.project.modules[module].steps[index];
        match &uses.region {
            Some(node) => Some(self.region_of(parent, node)),
            None => self.scope_region(parent),
        }
    }

    fn region_of(&self, scope: ScopeId, node: &Node) -> Result<String, RegionError> {
        let site = crate::runbook::resolve::region_site(node)
            .ok_or_else(|| RegionError::Bad("`region` is not a string".to_owned()))?;
        match self.render_site(scope, &site) {
            Ok(Json::String(region)) if crate::runbook::resolve::is_region_name(&region) => {
                Ok(region)
            }
            Ok(other) => Err(RegionError::Bad(format!(
                "`region` is {}, not an AWS region name (such as us-east-1)",
                match other {
                    Json::String(s) => format!("`{s}`"),
                    other => other.to_string(),
                }
            ))),
            Err(waits) => Err(RegionError::Waits(waits.join(", "))),
        }
    }

    /// Where a step acts, checked: its own `region:`, else its module's; `None` when neither is
    /// given or it is the run's own region.
    fn region_checked(&self, step: usize) -> Option<Result<String, RegionError>> {
        use crate::runbook::resolve::partition;
        let scope = self.flow.steps[step].scope;
        let found = match &self.flow.step(self.project, step).region {
            Some(node) => Some(self.region_of(scope, node)),
            None => self.scope_region(scope),
        };
        let run = self.known.region.as_deref();
        match found {
            Some(Ok(region)) if run == Some(region.as_str()) => None,
            Some(Ok(region)) if run.is_some_and(|run| partition(run) != partition(&region)) => {
                let run = run.unwrap_or_default();
                Some(Err(RegionError::Bad(format!(
                    "{region} is in the {} partition and the run's region {run} in {}: one run's credentials act in one partition",
                    partition(&region),
                    partition(run)
                ))))
            }
            other => other,
        }
    }

    /// Where a step acts when not where the run does: its own `region:`, else its module's;
    /// `None` when neither is given or it is the run's own region. `Err` when it is not a region
    /// name (or not of the run's partition), or what it waits for when it cannot be rendered
    /// yet.
    pub fn region(&self, step: usize) -> Option<Result<String, String>> {
        self.region_checked(step).map(|r| {
            r.map_err(|e| match e {
                RegionError::Bad(m) | RegionError::Waits(m) => m,
            })
        })
    }

    /// What is wrong with the region a step acts in, as far as it is known before the run.
    pub fn region_problem(&self, step: usize) -> Option<String> {
        match self.region_checked(step)? {
            Err(RegionError::Bad(m)) => Some(m),
            _ => None,
        }
    }

    pub fn condition(&self, step: usize) -> Option<Result<bool, String>> {
        let s = self.flow.step(self.project, step);
        let when = s.when.as_ref()?;
        if let Value::Bool(b) = &when.value {
            return Some(Ok(*b));
        }
        let site = crate::runbook::resolve::when_site(when)?;
        match self.render_site(self.flow.steps[step].scope, &site) {
            Ok(v) => Some(Ok(truthy(&v))),
            Err(w) if w.iter().any(|x| x.starts_with('!')) => Some(Err(w.join(", "))),
            Err(_) => None,
        }
    }

    /// Where a value really comes from: a module var's value is written in the `with:` of the
    /// step that uses the module, and a root var's in its default or the vars file.
    pub fn origin(&self, scope: ScopeId, node: &Node, root: &Resolved) -> Span {
        self.trace(scope, node, root).0
    }

    /// Who gave a value that no file holds, in words (`--var primary_cidr`, `RUNBOOK_VAR_ZONE`,
    /// `` `domain` in line 3 of students.csv ``): a problem found in a module's template is then
    /// traced to what was typed.
    pub fn given_by(&self, scope: ScopeId, node: &Node, root: &Resolved) -> Option<String> {
        self.trace(scope, node, root).1
    }

    /// [`Self::origin`], and [`Self::given_by`] where the value came from outside the files.
    fn trace(&self, scope: ScopeId, node: &Node, root: &Resolved) -> (Span, Option<String>) {
        use crate::runbook::vars::Source;
        let Some(name) = node
            .as_str()
            .and_then(|text| match template::kind(text) {
                template::Kind::Expression(expr) => Some(expr),
                _ => None,
            })
            .and_then(|expr| expr.trim().strip_prefix("vars."))
            .filter(|n| crate::runbook::vars::is_valid_name(n))
        else {
            return (node.span, None);
        };
        match self.flow.scopes[scope].parent {
            Some((parent, index)) => {
                let using = &self.project.modules[self.flow.scopes[parent].module].steps[index];
                match using.with.as_ref().and_then(|w| w.get(name)) {
                    Some(given) => self.trace(parent, given, root),
                    None => (
                        self.project.modules[self.flow.scopes[scope].module]
                            .vars
                            .get(name)
                            .and_then(|v| v.def.default.as_ref())
                            .map_or(node.span, |d| d.span),
                        None,
                    ),
                }
            }
            None => match root.values.get(name) {
                Some((_, Source::Default(span) | Source::File(span))) => (*span, None),
                Some((_, Source::Flag(by))) => (node.span, Some(by.clone())),
                Some((_, Source::Env)) => (node.span, Some(crate::runbook::vars::env_name(name))),
                Some((_, Source::Prompt)) => (node.span, Some("your answer".to_owned())),
                None => (node.span, None),
            },
        }
    }
}

/// Jinja truthiness for a rendered value.
pub fn truthy(v: &Json) -> bool {
    match v {
        Json::Null => false,
        Json::Bool(b) => *b,
        Json::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Json::String(s) => !s.is_empty() && s != "false" && s != "False",
        Json::Array(a) => !a.is_empty(),
        Json::Object(o) => !o.is_empty(),
    }
}

/// A secret as it may appear in a URL or a form: percent-encoded as a URL's path or query
/// encodes it (spaces as `%20`, or `+` in a form), and with every non-alphanumeric byte encoded;
/// only the forms that differ from the secret itself.
fn url_forms(secret: &str) -> Vec<String> {
    use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};
    const URL: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'<')
        .add(b'>')
        .add(b'`')
        .add(b'?')
        .add(b'{')
        .add(b'}')
        .add(b'%');
    let url = utf8_percent_encode(secret, URL).to_string();
    let form = url.replace("%20", "+");
    let all = utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string();
    let mut forms: Vec<String> = [url, form, all]
        .into_iter()
        .filter(|f| f != secret)
        .collect();
    forms.dedup();
    forms
}

/// The forms a secret takes inside a JSON string, when they differ from it: escaped as serde
/// writes it (`"` and `\` and control characters), and as Python's `json.dumps` and others
/// write it by default, every character beyond ASCII as `\uXXXX`.
fn json_forms(secret: &str) -> Vec<String> {
    let escaped = serde_json::to_string(secret).unwrap_or_default();
    let escaped = escaped
        .strip_prefix('"')
        .and_then(|e| e.strip_suffix('"'))
        .unwrap_or_default()
        .to_owned();
    let mut ascii = String::with_capacity(escaped.len());
    for c in escaped.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                ascii.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    let mut forms: Vec<String> = [escaped, ascii]
        .into_iter()
        .filter(|f| !f.is_empty() && f != secret)
        .collect();
    forms.dedup();
    forms
}

/// The `{{ … }}` expressions of a template's text, each with its braces.
fn expressions(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        out.push(&rest[start..start + len + 2]);
        rest = &rest[start + len + 2..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Known;

    #[test]
    fn aws_cli_points_a_command_where_the_run_goes_and_is_empty_on_aws_by_default() {
        assert_eq!(Known::default().cli(), "");
        let emulator = Known {
            endpoint_url: Some("http://127.0.0.1:5000".into()),
            profile: Some("lab".into()),
            ..Known::default()
        };
        assert_eq!(
            emulator.cli(),
            "--endpoint-url http://127.0.0.1:5000 --profile lab"
        );
        let empty_endpoint = Known {
            endpoint_url: Some(String::new()),
            ..Known::default()
        };
        assert_eq!(empty_endpoint.cli(), "");
    }
}
