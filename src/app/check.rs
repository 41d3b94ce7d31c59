//! The commands that only read a runbook: `validate`, `plan`, `actions`; and the checking every
//! command that runs one starts with (vars, what templates know of AWS before a run).

use std::path::{Path, PathBuf};

use super::settings::{Settings, Vars};
use crate::actions;
use crate::error::{Error, Exit};
use crate::plan;
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::render::Known;
use crate::runbook::validate::{self, Checked};
use crate::runbook::vars;
use crate::ui::{self, Format};

pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// What templates know about AWS before a run.
pub(crate) fn known(global: &Settings, checked_region: Option<String>) -> Known {
    Known {
        region: global
            .region
            .clone()
            .or(checked_region)
            .or_else(|| env_var("AWS_REGION"))
            .or_else(|| env_var("AWS_DEFAULT_REGION")),
        emulated: global
            .endpoint_url
            .as_deref()
            .is_some_and(|u| !u.is_empty()),
        run_id: None,
        files: None,
        endpoint_url: global.endpoint_url.clone(),
        profile: global.profile.clone(),
    }
}

/// The runbook's own `region` var, when it has a value.
pub(crate) fn region_var(checked: &Checked) -> Option<String> {
    checked
        .vars
        .values
        .get("region")
        .and_then(|(v, _)| v.as_str().map(str::to_owned))
}

pub(crate) fn check_file(settings: &Settings, file: &Path, vars: &Vars) -> Checked {
    // Lints may read `aws.region`: the runbook's own `region` var gives it, unless --region does.
    let known = |values: &vars::Resolved| {
        let region = values
            .values
            .get("region")
            .and_then(|(v, _)| v.as_str().map(str::to_owned));
        known(settings, region)
    };
    validate::check(
        file,
        &settings.module_dirs,
        &vars.inputs(),
        &known,
        &env_var,
    )
}

/// [`check_file`], refused (exit 2, every problem located) when it has errors.
pub(crate) fn valid_file(settings: &Settings, file: &Path, vars: &Vars) -> Result<Checked, Error> {
    let checked = check_file(settings, file, vars);
    if checked.diags.has_errors() {
        return Err(Error::Invalid {
            diagnostics: checked.diags.0,
            sources: checked.project.sources,
        });
    }
    Ok(checked)
}

pub fn validate_files(
    settings: &Settings,
    files: &[PathBuf],
    vars: &Vars,
    output: Format,
) -> Result<Exit, Error> {
    let color = ui::use_color(settings.no_color, ui::stderr_is_terminal());
    let mut invalid = false;
    let mut reports = Vec::new();
    for file in files {
        let checked = check_file(settings, file, vars);
        let shown = file.display().to_string();
        invalid |= checked.diags.has_errors();
        match output {
            Format::Json => reports.push(serde_json::json!({
                "file": shown,
                "valid": !checked.diags.has_errors(),
                "steps": checked.flow.steps.len(),
                "diagnostics": checked.diags.0.iter().map(|d| ui::diagnostics::to_json(d, &checked.project.sources)).collect::<Vec<_>>(),
            })),
            Format::Human | Format::Plain => {
                if !settings.quiet || checked.diags.has_errors() {
                    for d in &checked.diags.0 {
                        ui::note!("{}\n", ui::diagnostics::render(d, &checked.project.sources, color));
                    }
                }
                if !settings.quiet {
                    ui::note!("{}", validate::summary(&shown, &checked));
                }
            }
        }
    }
    if output == Format::Json {
        let report = serde_json::json!({ "valid": !invalid, "files": reports });
        ui::output!("{}", serde_json::to_string_pretty(&report).expect("JSON"))?;
    }
    Ok(if invalid {
        Exit::Invalid
    } else {
        Exit::Success
    })
}

pub fn plan_file(
    settings: &Settings,
    file: &Path,
    vars: &Vars,
    output: Format,
) -> Result<Exit, Error> {
    let checked = check_file(settings, file, vars);
    let warnings: Vec<Diagnostic> = checked
        .diags
        .0
        .iter()
        .filter(|d| !d.is_error())
        .cloned()
        .collect();
    if checked.diags.has_errors() {
        return Err(Error::Invalid {
            diagnostics: checked.diags.0,
            sources: checked.project.sources,
        });
    }
    if !checked.vars.missing.is_empty() {
        return Err(missing_vars(&checked));
    }
    let color = ui::use_color(settings.no_color, ui::stderr_is_terminal());
    for d in &warnings {
        ui::note!(
            "{}\n",
            ui::diagnostics::render(d, &checked.project.sources, color)
        );
    }
    let region = region_var(&checked);
    let plan = plan::build(&checked, &known(settings, region));
    let text = match output {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&plan).expect("JSON")),
        Format::Human | Format::Plain => ui::plan::human(&plan),
    };
    ui::output_raw(&text)?;
    Ok(Exit::Success)
}

/// Exit 2 naming each var without a value and every way to give one.
pub(crate) fn missing_vars(checked: &Checked) -> Error {
    let root = checked.project.root();
    let diagnostics = checked
        .vars
        .missing
        .iter()
        .map(|name| {
            let var = &root.vars[name];
            let mut d = Diagnostic::error("missing-var", format!("the var `{name}` has no value"))
                .at(var.name.span)
                .label("declared here without a default")
                .help(format!("set it with `--var {name}=VALUE`, in a `--vars-file`, or in the environment as `{}`", vars::env_name(name)));
            if let Some(desc) = &var.def.description {
                d = d.note(format!("`{name}`: {desc}"));
            }
            d
        })
        .collect();
    Error::Invalid {
        diagnostics,
        sources: checked.project.sources.clone(),
    }
}

pub fn list_actions(name: Option<&str>, output: Format) -> Result<Exit, Error> {
    match name {
        None => {
            let all: Vec<_> = actions::all().collect();
            match output {
                Format::Json => ui::output!(
                    "{}",
                    serde_json::to_string_pretty(
                        &all.iter()
                            .map(|a| ui::actions::to_json(a))
                            .collect::<Vec<_>>()
                    )
                    .expect("JSON")
                )?,
                _ => ui::output_raw(&ui::actions::list(&all))?,
            }
        }
        Some(name) => {
            let Some(def) = actions::find(name) else {
                let help = actions::unknown_name_help(name)
                    .unwrap_or_else(|| "`runbook actions` lists them".into());
                return Err(Error::usage(format!("there is no action `{name}`"), help));
            };
            match output {
                Format::Json => ui::output!(
                    "{}",
                    serde_json::to_string_pretty(&ui::actions::to_json(def)).expect("JSON")
                )?,
                _ => ui::output_raw(&ui::actions::detail(def))?,
            }
        }
    }
    Ok(Exit::Success)
}

/// `schema`: the JSON Schema of the runbook format.
pub fn schema() -> Result<Exit, Error> {
    let schema = crate::runbook::schema::runbook_schema();
    ui::output!("{}", serde_json::to_string_pretty(&schema).expect("JSON"))?;
    Ok(Exit::Success)
}
