//! Loading: a runbook file and the modules it uses, decoded into [`Module`]s.
//!
//! Every file is read once (with a size limit), parsed into a located tree, and decoded part by
//! part so that each broken var or step is reported and the rest is still checked. Structural
//! checks that need only one step live here: ids, `action` versus `uses`, unknown actions,
//! parameters against the action's struct, module paths and module cycles.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use indexmap::IndexMap;

use super::decode::{self, Spanned};
use super::diagnostic::{Diagnostic, Diagnostics};
use super::format::{DurationText, Exercise, FORMAT_VERSION, Retry, RollbackStep, StepDef, VarDef};
use super::source::{SourceFile, Sources, Span};
use super::suggest;
use super::yaml::{self, Node, Value};
use crate::actions::{self, ActionDef};

/// Largest runbook or module file read.
pub use crate::runbook::source::MAX_FILE_BYTES;

pub type ModuleId = usize;

/// The keys a runbook file may have at the top.
const TOP: &[&str] = &[
    "runbook",
    "name",
    "description",
    "next",
    "vars",
    "steps",
    "outputs",
];

/// All files of one runbook: `modules[0]` is the file given on the command line.
#[derive(Debug, Default)]
pub struct Project {
    pub sources: Sources,
    pub modules: Vec<Module>,
}

impl Project {
    pub fn root(&self) -> &Module {
        &self.modules[0]
    }

    /// The runbook's `name:` (empty when it has none).
    pub fn name(&self) -> String {
        self.root()
            .name
            .as_ref()
            .map(|n| n.value.clone())
            .unwrap_or_default()
    }

    pub fn display(&self, module: ModuleId) -> &str {
        &self.sources.get(self.modules[module].file).display
    }
}

#[derive(Debug)]
pub struct Module {
    pub file: super::source::FileId,
    pub name: Option<Spanned<String>>,
    pub description: Option<String>,
    pub next: Option<String>,
    pub vars: IndexMap<String, Var>,
    pub steps: Vec<Step>,
    pub outputs: IndexMap<String, Output>,
    /// Ids of steps that exist but could not be decoded: references to them are not reported
    /// again as unknown.
    pub broken_ids: Vec<String>,
    /// Names of vars that exist but could not be decoded.
    pub broken_vars: Vec<String>,
    /// The file decoded without any error.
    pub complete: bool,
}

#[derive(Debug)]
pub struct Var {
    pub name: Spanned<String>,
    pub def: VarDef,
}

#[derive(Debug)]
pub struct Output {
    pub name: Spanned<String>,
    pub value: Node,
}

#[derive(Debug)]
pub enum StepKind {
    Action(&'static ActionDef),
    Module {
        path: Spanned<String>,
        module: ModuleId,
    },
    /// An unknown action or a module that could not be loaded (already reported).
    Broken,
}

#[derive(Debug)]
pub enum StepRollback {
    Auto,
    Skip,
    Steps(Vec<RollbackStep>),
}

#[derive(Debug)]
pub struct Step {
    pub id: Spanned<String>,
    pub name: Option<Spanned<String>>,
    pub guide: Option<Spanned<String>>,
    pub kind: StepKind,
    /// The `action:` or `uses:` value, for messages.
    pub target: Option<Spanned<String>>,
    pub with: Option<Node>,
    pub needs: Vec<Spanned<String>>,
    pub when: Option<Node>,
    /// Where it acts when not where the run does: a region name (templated).
    pub region: Option<Node>,
    pub skip_reason: Option<Spanned<String>>,
    pub confirm: Option<Spanned<String>>,
    pub timeout: Option<Spanned<DurationText>>,
    pub retry: Option<Spanned<Retry>>,
    pub rollback: StepRollback,
    /// Made by hand in `run --exercise` (checked at load: the action can check it).
    pub exercise: Option<Spanned<Exercise>>,
    /// The whole step, and its `- id:` line for messages about the step as a whole.
    pub span: Span,
}

impl Step {
    pub fn title(&self) -> &str {
        self.name.as_ref().map_or(self.id.as_str(), |n| n.as_str())
    }
}

pub fn is_valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Load a runbook and, recursively, its modules. Problems are collected in the diagnostics; the
/// project holds whatever could be decoded.
/// Load `path` and the modules it uses, from its own folder (and below) or one of
/// `module_dirs`.
pub fn load(path: &Path, module_dirs: &[PathBuf]) -> (Project, Diagnostics) {
    let mut loader = Loader {
        project: Project::default(),
        diags: Diagnostics::default(),
        stack: Vec::new(),
        by_path: HashMap::new(),
        module_dirs: module_dirs
            .iter()
            .map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.clone()))
            .collect(),
    };
    let display = path.to_string_lossy().into_owned();
    match read(path) {
        Ok((canonical, text)) => {
            loader.load_file(display, canonical, text);
        }
        Err(d) => loader.diags.push(d),
    }
    (loader.project, loader.diags)
}

/// The names of the runbook files in the folder `path` would be in: to suggest one for a
/// mistyped path. Suggested by file name, since whole paths share their folder and look alike.
fn yaml_files_beside(path: &Path) -> Vec<String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.path()
                .extension()
                .is_some_and(|x| x == "yaml" || x == "yml")
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn read(path: &Path) -> Result<(PathBuf, String), Diagnostic> {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let help = suggest::closest(&name, &yaml_files_beside(path)).map_or_else(
                || "check the path; it is relative to the current directory".to_owned(),
                |close| format!("did you mean `{}`?", path.with_file_name(close).display()),
            );
            return Err(Diagnostic::error(
                "file-unreadable",
                format!("cannot read `{shown}`: {}", io_reason(&e)),
            )
            .help(help));
        }
    };
    if meta.is_file() && meta.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::error(
            "file-too-large",
            format!("`{shown}` is {} bytes; runbook files are limited to {MAX_FILE_BYTES} bytes (1 MiB)", meta.len()),
        )
        .help("split it into modules with `uses:`"));
    }
    let text = crate::runbook::source::read_text(path, MAX_FILE_BYTES).map_err(|why| {
        let too_large = why.contains("larger than");
        let d = Diagnostic::error(
            if too_large {
                "file-too-large"
            } else {
                "file-unreadable"
            },
            format!("cannot read `{shown}`: {why}"),
        );
        if too_large {
            d.help("split it into modules with `uses:`")
        } else {
            d
        }
    })?;
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    Ok((canonical, text))
}

use crate::runbook::source::io_reason;

/// `a/b/../c` → `a/c`, without touching the file system (for display only).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if out.file_name().is_some_and(|n| n != "..") => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

struct Loader {
    project: Project,
    diags: Diagnostics,
    /// Canonical paths of the files being loaded, outermost first (for cycle detection).
    stack: Vec<PathBuf>,
    by_path: HashMap<PathBuf, ModuleId>,
    /// Folders modules may come from besides the runbook's own (`--module-dir`), canonical.
    module_dirs: Vec<PathBuf>,
}

impl Loader {
    fn load_file(&mut self, display: String, canonical: PathBuf, text: String) -> ModuleId {
        let file = self
            .project
            .sources
            .add(SourceFile::new(display, canonical.clone(), text));
        let id = self.project.modules.len();
        self.project.modules.push(Module {
            file,
            name: None,
            description: None,
            next: None,
            vars: IndexMap::new(),
            steps: Vec::new(),
            outputs: IndexMap::new(),
            broken_ids: Vec::new(),
            broken_vars: Vec::new(),
            complete: false,
        });
        self.by_path.insert(canonical.clone(), id);
        self.stack.push(canonical);
        let before = self.diags.error_count();
        let text = self.project.sources.get(file).text.clone();
        match yaml::parse(&text, file) {
            Ok(root) => self.decode_module(id, &root),
            Err(errors) => self.diags.extend(errors),
        }
        self.project.modules[id].complete = self.diags.error_count() == before;
        self.stack.pop();
        id
    }

    fn decode_module(&mut self, id: ModuleId, root: &Node) {
        let Some(entries) = root.as_map() else {
            self.diags.push(
                Diagnostic::error(
                    "wrong-type",
                    format!(
                        "a runbook is a mapping of keys, but this file holds {}",
                        root.describe()
                    ),
                )
                .at(root.span)
                .help("start the file with `runbook: 1`, then `name:` and `steps:`"),
            );
            return;
        };
        // A required key that is missing because it was misspelt is reported once, as the typo.
        let mut misspelt: Vec<&str> = Vec::new();
        for (key, _) in entries {
            let name = key.scalar_text().unwrap_or_default();
            if !TOP.contains(&name.as_str()) {
                misspelt.extend(suggest::closest(&name, TOP.iter().copied()));
                let help = suggest::did_you_mean(&name, TOP.iter().copied()).unwrap_or_else(|| {
                    format!("a runbook's top-level keys are {}", suggest::list(TOP))
                });
                self.diags.push(
                    Diagnostic::error(
                        "unknown-key",
                        format!("unknown key `{name}` at the top of the runbook"),
                    )
                    .at(key.span)
                    .help(help),
                );
            }
        }
        self.check_version(root);
        let m = &mut self.project.modules[id];
        match root.get("name") {
            None if misspelt.contains(&"name") => {}
            None => self.diags.push(missing_top(
                root,
                "name",
                "name: A short title for the runbook",
            )),
            Some(n) => match decode::from_node::<Spanned<String>>(n) {
                Ok(name) => m.name = Some(name),
                Err(e) => self
                    .diags
                    .push(e.into_diagnostic("the runbook's `name`", "key")),
            },
        }
        if let Some(d) = root.get("description") {
            match decode::from_node::<String>(d) {
                Ok(text) => m.description = Some(text),
                Err(e) => self
                    .diags
                    .push(e.into_diagnostic("the runbook's `description`", "key")),
            }
        }
        if let Some(d) = root.get("next") {
            match decode::from_node::<String>(d) {
                Ok(text) => m.next = Some(text),
                Err(e) => self
                    .diags
                    .push(e.into_diagnostic("the runbook's `next`", "key")),
            }
        }
        if let Some(vars) = root.get("vars") {
            self.decode_vars(id, vars);
        }
        match root.get("steps") {
            None if misspelt.contains(&"steps") => {}
            None => self.diags.push(missing_top(
                root,
                "steps",
                "steps:\n  - id: hello\n    action: core.note\n    with: {text: Hello}",
            )),
            Some(steps) => self.decode_steps(id, steps),
        }
        if let Some(outputs) = root.get("outputs") {
            match outputs.as_map() {
                Some(entries) => {
                    for (k, v) in entries {
                        match decode::from_node::<Spanned<String>>(k) {
                            Ok(name) => {
                                self.project.modules[id].outputs.insert(
                                    name.value.clone(),
                                    Output {
                                        name,
                                        value: v.clone(),
                                    },
                                );
                            }
                            Err(e) => self
                                .diags
                                .push(e.into_diagnostic("an output's name", "key")),
                        }
                    }
                }
                None if outputs.value == Value::Null => {}
                None => self.diags.push(
                    Diagnostic::error(
                        "wrong-type",
                        format!(
                            "`outputs` must be a mapping of names to values, found {}",
                            outputs.describe()
                        ),
                    )
                    .at(outputs.span),
                ),
            }
        }
    }

    fn check_version(&mut self, root: &Node) {
        match root.get("runbook") {
            None => self.diags.push(
                missing_top(root, "runbook", "runbook: 1").help("add `runbook: 1` as the first line: it says which format version the file is written in"),
            ),
            Some(v) if v.value == Value::Int(FORMAT_VERSION) => {}
            Some(v) => self.diags.push(
                Diagnostic::error(
                    "unsupported-version",
                    format!("runbook format version {} is not supported", v.scalar_text().unwrap_or_else(|| v.describe())),
                )
                .at(v.span)
                .label(format!("this build reads version {FORMAT_VERSION}"))
                .help(format!("write `runbook: {FORMAT_VERSION}`, or use the release of runbook that reads this version")),
            ),
        }
    }

    fn decode_vars(&mut self, id: ModuleId, vars: &Node) {
        let Some(entries) = vars.as_map() else {
            if vars.value != Value::Null {
                self.diags.push(
                    Diagnostic::error(
                        "wrong-type",
                        format!(
                            "`vars` must be a mapping of var names to definitions, found {}",
                            vars.describe()
                        ),
                    )
                    .at(vars.span),
                );
            }
            return;
        };
        for (key, value) in entries {
            let name = match decode::from_node::<Spanned<String>>(key) {
                Ok(name) => name,
                Err(e) => {
                    self.diags.push(e.into_diagnostic("a var's name", "key"));
                    continue;
                }
            };
            // `name: {}` and `name:` both declare a string var without a default.
            let empty = Node::new(value.span, Value::Map(Vec::new()));
            let value = if value.value == Value::Null {
                &empty
            } else {
                value
            };
            match decode::from_node::<VarDef>(value) {
                Ok(def) => {
                    self.diags
                        .extend(super::vars::check_definition(&name, &def));
                    self.project.modules[id]
                        .vars
                        .insert(name.value.clone(), Var { name, def });
                }
                Err(e) => {
                    self.diags
                        .push(e.into_diagnostic(&format!("var `{}`", name.value), "key"));
                    self.project.modules[id]
                        .broken_vars
                        .push(name.value.clone());
                }
            }
        }
    }

    fn decode_steps(&mut self, id: ModuleId, steps: &Node) {
        let Some(items) = steps.as_seq() else {
            self.diags.push(
                Diagnostic::error(
                    "wrong-type",
                    format!(
                        "`steps` must be a list of steps, found {}",
                        steps.describe()
                    ),
                )
                .at(steps.span)
                .help("write each step as a list item starting with `- id: ...`"),
            );
            return;
        };
        if items.is_empty() {
            self.diags
                .push(Diagnostic::error("no-steps", "the runbook has no steps").at(steps.span));
        }
        let mut seen: HashMap<String, Span> = HashMap::new();
        for item in items {
            if item.as_map().is_none() {
                self.diags.push(
                    Diagnostic::error(
                        "wrong-type",
                        format!("a step is a mapping of keys, found {}", item.describe()),
                    )
                    .at(item.span)
                    .help(match item.as_str() {
                        Some(word) => format!(
                            "write it as `- id: my_step` with `action: {word}` on the next line"
                        ),
                        None => {
                            "write each step as `- id: my_step` followed by `action:` and `with:`"
                                .to_owned()
                        }
                    }),
                );
                continue;
            }
            let step_id = item.get("id").and_then(Node::as_str).map(str::to_owned);
            let def = match decode::from_node::<StepDef>(item) {
                Ok(def) => def,
                Err(e) => {
                    let what = step_id
                        .as_ref()
                        .map_or_else(|| "a step".to_owned(), |s| format!("step `{s}`"));
                    self.diags.push(e.into_diagnostic(&what, "key"));
                    if let Some(s) = step_id {
                        self.project.modules[id].broken_ids.push(s);
                    }
                    continue;
                }
            };
            if !is_valid_id(&def.id) {
                let fixed: String = def
                    .id
                    .to_lowercase()
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                self.diags.push(
                    Diagnostic::error(
                        "invalid-id",
                        format!("`{}` is not a valid step id", def.id.value),
                    )
                    .at(def.id.span)
                    .label("ids are lowercase letters, digits and `_`, starting with a letter")
                    .help(format!(
                        "for example `{}`",
                        if is_valid_id(&fixed) {
                            fixed
                        } else {
                            format!("step_{fixed}")
                        }
                    )),
                );
            }
            if let Some(first) = seen.get(def.id.as_str()) {
                self.diags.push(
                    Diagnostic::error(
                        "duplicate-id",
                        format!("two steps have the id `{}`", def.id.value),
                    )
                    .at(def.id.span)
                    .label("used again here")
                    .related(*first, "first used here")
                    .help("give each step its own id; templates refer to steps by id"),
                );
                self.project.modules[id]
                    .broken_ids
                    .push(def.id.value.clone());
                // Its own mistakes (an unknown action, a wrong parameter) are told now too,
                // not one fix later; it is not a step of the runbook.
                let _ = self.decode_step(id, def, item);
                continue;
            }
            seen.insert(def.id.value.clone(), def.id.span);
            let step = self.decode_step(id, def, item);
            self.project.modules[id].steps.push(step);
        }
    }

    fn decode_step(&mut self, id: ModuleId, def: StepDef, item: &Node) -> Step {
        let what = format!("step `{}`", def.id.value);
        let kind = match (&def.action, &def.uses) {
            (Some(_), Some(uses)) => {
                self.diags.push(
                    Diagnostic::error("step-kind", format!("{what} has both `action` and `uses`"))
                        .at(uses.span)
                        .help("a step runs one action or uses one module; split it into two steps"),
                );
                StepKind::Broken
            }
            (None, None) => {
                self.diags.push(
                    Diagnostic::error(
                        "step-kind",
                        format!("{what} has neither `action` nor `uses`"),
                    )
                    .at(def.id.span)
                    .help(
                        "add `action: NAME` (see `runbook actions`) or `uses: path/to/module.yaml`",
                    ),
                );
                StepKind::Broken
            }
            (Some(action), None) => self.resolve_action(
                action,
                def.with.as_ref(),
                item.key("with").map_or(def.id.span, |k| k.span),
            ),
            (None, Some(uses)) => {
                for (key, present) in [
                    ("timeout", def.timeout.is_some()),
                    ("retry", def.retry.is_some()),
                    ("rollback", def.rollback.is_some()),
                    ("exercise", def.exercise.is_some()),
                ] {
                    if present {
                        self.diags.push(
                            Diagnostic::error(
                                "not-for-modules",
                                format!(
                                    "`{key}` applies to actions, not to a step that uses a module"
                                ),
                            )
                            .at(item.key(key).map_or(def.id.span, |k| k.span))
                            .help(format!("set `{key}` on the steps inside `{}`", uses.value)),
                        );
                    }
                }
                self.resolve_module(id, uses)
            }
        };
        if let Some(retry) = &def.retry {
            if retry.attempts == 0 {
                self.diags.push(
                    Diagnostic::error("wrong-value", "`retry.attempts` counts every attempt, the first included, so it is at least 1")
                        .at(retry.span),
                );
            }
        }
        let rollback = self.decode_rollback(&what, def.rollback.as_ref());
        if let (Some(exercise), StepKind::Action(action)) = (&def.exercise, &kind) {
            let key = item.key("exercise").map_or(exercise.span, |k| k.span);
            self.check_exercise(&what, action, exercise, key);
        }
        Step {
            target: def.action.clone().or_else(|| def.uses.clone()),
            id: def.id,
            name: def.name,
            guide: def.guide,
            kind,
            with: def.with,
            needs: def.needs,
            when: def.when,
            region: def.region,
            skip_reason: def.skip_reason,
            confirm: def.confirm,
            timeout: def.timeout,
            retry: def.retry,
            rollback,
            exercise: def.exercise,
            span: item.span,
        }
    }

    /// An `exercise:` needs an action that can check what is made by hand, a task, and only
    /// parameters that action compares.
    fn check_exercise(
        &mut self,
        what: &str,
        action: &ActionDef,
        exercise: &Spanned<Exercise>,
        key: Span,
    ) {
        let Some(can) = action.exercise else {
            let able: Vec<&str> = actions::all()
                .filter(|a| a.exercise.is_some())
                .map(|a| a.name)
                .collect();
            self.diags.push(
                Diagnostic::error(
                    "not-an-exercise",
                    format!(
                        "{what} cannot be an exercise: `{}` cannot check what a learner made by hand",
                        action.name
                    ),
                )
                .at(key)
                .help(format!(
                    "remove `exercise:`, or make an exercise of a step of an action that can check: {}",
                    able.join(", ")
                )),
            );
            return;
        };
        if exercise.task.trim().is_empty() {
            self.diags.push(
                Diagnostic::error("not-an-exercise", format!("{what}'s exercise has no task"))
                    .at(exercise.span)
                    .help("say in `task:` what to build, where in the console, and what the AWS CLI command needs"),
            );
        }
        for name in exercise.files.keys() {
            let plain = !name.is_empty()
                && name.as_str() != "."
                && name.as_str() != ".."
                && !name.contains(['/', '\\', '\0'])
                && name.len() <= 100;
            if !plain {
                self.diags.push(
                    Diagnostic::error(
                        "not-an-exercise",
                        format!("{what}'s exercise file `{}` is not a plain file name", name.value),
                    )
                    .at(name.span)
                    .help("name a file without folders (`primary.json`): it is written in the run's own folder, `{{ run.files }}`"),
                );
            }
        }
        for name in &exercise.check {
            if !can.compares.contains(&name.as_str()) {
                let hint = suggest::did_you_mean(name, can.compares)
                    .map_or_else(String::new, |s| format!(" ({s})"));
                self.diags.push(
                    Diagnostic::error(
                        "not-an-exercise",
                        format!(
                            "{what}'s exercise checks `{}`{hint}, which `{}` cannot compare",
                            name.value, action.name
                        ),
                    )
                    .at(name.span)
                    .help(format!("it compares: {}", can.compares.join(", "))),
                );
            }
        }
    }

    fn resolve_action(
        &mut self,
        action: &Spanned<String>,
        with: Option<&Node>,
        with_span: Span,
    ) -> StepKind {
        let Some(def) = actions::find(action) else {
            let mut d = Diagnostic::error(
                "unknown-action",
                format!("unknown action `{}`", action.value),
            )
            .at(action.span)
            .label("not a built-in action");
            d = match actions::unknown_name_help(action) {
                Some(help) => d.help(help),
                None if action.ends_with(".yaml") || action.ends_with(".yml") => d.help(format!(
                    "to run another runbook as a module, write `uses: {}`",
                    action.value
                )),
                None => d.help("`runbook actions` lists the built-in actions"),
            };
            self.diags.push(d);
            return StepKind::Broken;
        };
        self.check_params(def, with, with_span);
        StepKind::Action(def)
    }

    fn check_params(&mut self, def: &'static ActionDef, with: Option<&Node>, with_span: Span) {
        let empty = Node::new(with_span, Value::Map(Vec::new()));
        let with = match with {
            Some(node) if node.value != Value::Null => node,
            _ => &empty,
        };
        // Decoding stops at the first problem; to report every one, the entry at fault is set
        // aside and the rest decoded again (a parameter set aside is not then "missing").
        let mut rest = with.clone();
        let mut set_aside: Vec<String> = Vec::new();
        for _ in 0..32 {
            let Err(e) = (def.params.check)(&rest) else {
                break;
            };
            if let decode::ErrorKind::MissingKey { key } = &e.kind {
                if set_aside.iter().any(|k| k == key) {
                    break;
                }
            }
            let at_fault = match (&e.kind, &mut rest.value) {
                (decode::ErrorKind::MissingKey { .. }, _) => None,
                (kind, Value::Map(entries)) => entries.iter().position(|(k, v)| {
                    let within = |s: Span| {
                        e.span
                            .is_some_and(|at| at.file == s.file && s.start <= at.start && at.end <= s.end)
                    };
                    matches!(kind, decode::ErrorKind::UnknownKey { key, .. } if k.as_str() == Some(key.as_str()))
                        || within(k.span)
                        || within(v.span)
                }),
                _ => None,
            };
            let e_kind = e.kind.clone();
            let mut d = e.into_diagnostic(&format!("`{}`", def.name), "parameter");
            if d.code == "missing-parameter" && with.as_map().is_some_and(<[_]>::is_empty) {
                d = d.label(format!("`{}` needs parameters under `with:`", def.name));
            }
            self.diags.push(d);
            // An unknown parameter with a close accepted one that is not given (`cidr_block`
            // for `cidr`) is decoded on as that one, so that its absence is not reported too.
            let meant = match &e_kind {
                decode::ErrorKind::UnknownKey { key, expected } => {
                    suggest::closest(key, expected.iter().copied())
                }
                _ => None,
            };
            match (at_fault, &mut rest.value) {
                (Some(i), Value::Map(entries)) => {
                    let given = |name: &str| entries.iter().any(|(k, _)| k.as_str() == Some(name));
                    let written = entries[i].0.as_str().unwrap_or_default().to_owned();
                    match meant.filter(|m| !given(m)) {
                        Some(meant) => {
                            let span = entries[i].0.span;
                            entries[i].0 = Node::new(span, Value::String(meant.to_owned()));
                        }
                        None => {
                            entries.remove(i);
                        }
                    }
                    set_aside.push(written);
                }
                _ => break,
            }
        }
    }

    fn resolve_module(&mut self, id: ModuleId, uses: &Spanned<String>) -> StepKind {
        let here = self.project.sources.get(self.project.modules[id].file);
        let base_dir = here
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let display_dir = Path::new(&here.display)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let target = base_dir.join(uses.as_str());
        let display = normalize(&display_dir.join(uses.as_str()))
            .to_string_lossy()
            .into_owned();
        let canonical = std::fs::canonicalize(&target).unwrap_or(target.clone());
        if let Some(pos) = self.stack.iter().position(|p| *p == canonical) {
            let mut chain: Vec<String> = self.stack[pos..]
                .iter()
                .map(|p| {
                    self.project.sources.find(p).map_or_else(
                        || p.display().to_string(),
                        |f| self.project.sources.get(f).display.clone(),
                    )
                })
                .collect();
            chain.push(display);
            self.diags.push(
                Diagnostic::error(
                    "module-cycle",
                    format!("modules use each other in a cycle: {}", chain.join(" → ")),
                )
                .at(uses.span)
                .help("a module cannot use itself, directly or through other modules"),
            );
            return StepKind::Broken;
        }
        if let Some(&module) = self.by_path.get(&canonical) {
            return StepKind::Module {
                path: uses.clone(),
                module,
            };
        }
        // Modules come from the runbook's own tree (its folder and below): `validate` of a
        // stranger's runbook never reads, nor quotes, a file elsewhere (`uses: /etc/passwd`).
        let tree = self
            .project
            .sources
            .get(self.project.modules[0].file)
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        if !canonical.starts_with(&tree)
            && !self.module_dirs.iter().any(|d| canonical.starts_with(d))
        {
            self.diags.push(
                Diagnostic::error(
                    "module-outside",
                    format!(
                        "module `{}` is outside the runbook's folder, `{}`",
                        uses.value,
                        tree.display()
                    ),
                )
                .at(uses.span)
                .label("not read")
                .help("a module comes from the runbook's own folder or a folder below it: copy it there, or name its folder with --module-dir"),
            );
            return StepKind::Broken;
        }
        if !target.is_file() {
            let written_dir = Path::new(uses.as_str())
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let written_name = Path::new(uses.as_str())
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let names = yaml_files_beside(&target);
            let help = suggest::closest(&written_name, &names).map_or_else(
                || "the path is relative to the file that uses the module".to_owned(),
                |name| format!("did you mean `{}`?", written_dir.join(name).display()),
            );
            self.diags.push(
                Diagnostic::error(
                    "module-not-found",
                    format!("module `{}` not found", uses.value),
                )
                .at(uses.span)
                .label(format!("no file at `{display}`"))
                .help(help),
            );
            return StepKind::Broken;
        }
        match read(&target) {
            Ok((canonical, text)) => {
                let module = self.load_file(display, canonical, text);
                StepKind::Module {
                    path: uses.clone(),
                    module,
                }
            }
            Err(d) => {
                self.diags.push(d.at(uses.span));
                StepKind::Broken
            }
        }
    }

    fn decode_rollback(&mut self, what: &str, node: Option<&Node>) -> StepRollback {
        let Some(node) = node else {
            return StepRollback::Auto;
        };
        match &node.value {
            Value::String(s) if s == "auto" => StepRollback::Auto,
            Value::String(s) if s == "skip" => StepRollback::Skip,
            Value::Seq(items) => {
                let mut steps = Vec::new();
                for item in items {
                    match decode::from_node::<RollbackStep>(item) {
                        Ok(step) => {
                            if let Some(def) = actions::find(&step.action) {
                                self.check_params(def, step.with.as_ref(), step.action.span);
                            } else {
                                self.diags.push(
                                    Diagnostic::error(
                                        "unknown-action",
                                        format!("unknown action `{}`", step.action.value),
                                    )
                                    .at(step.action.span)
                                    .label("not a built-in action")
                                    .help_opt(actions::unknown_name_help(&step.action)),
                                );
                            }
                            steps.push(step);
                        }
                        Err(e) => self
                            .diags
                            .push(e.into_diagnostic(&format!("a rollback step of {what}"), "key")),
                    }
                }
                StepRollback::Steps(steps)
            }
            _ => {
                self.diags.push(
                    Diagnostic::error("wrong-value", format!("`rollback` of {what} must be `auto`, `skip` or a list of steps, found {}", node.describe()))
                        .at(node.span)
                        .help_opt(node.as_str().and_then(|s| suggest::did_you_mean(s, ["auto", "skip"].iter().copied()))),
                );
                StepRollback::Auto
            }
        }
    }
}

fn missing_top(root: &Node, key: &str, example: &str) -> Diagnostic {
    let at = root
        .as_map()
        .and_then(|m| m.first())
        .map_or(root.span, |(k, _)| k.span);
    Diagnostic::error("missing-key", format!("the runbook has no `{key}`"))
        .at(at)
        .label(format!("`{key}` is required"))
        .help(format!("add it, for example:\n{example}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_ids_are_lowercase_words() {
        assert!(is_valid_id("vpc"));
        assert!(is_valid_id("primary_stack2"));
        assert!(!is_valid_id("Vpc"));
        assert!(!is_valid_id("2vpc"));
        assert!(!is_valid_id("my-vpc"));
        assert!(!is_valid_id(""));
    }

    #[test]
    fn display_paths_are_normalized() {
        assert_eq!(
            normalize(Path::new("runbooks/./modules/../modules/web.yaml")),
            PathBuf::from("runbooks/modules/web.yaml")
        );
        assert_eq!(
            normalize(Path::new("../x.yaml")),
            PathBuf::from("../x.yaml")
        );
    }
}
