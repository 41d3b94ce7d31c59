//! Vars: checking their definitions, typing their values, and finding those values.
//!
//! A value comes from, first match wins: `--var NAME=VALUE`, `--vars-file FILE`, the environment
//! variable `RUNBOOK_VAR_<NAME>` (upper case), the var's `default`, or an interactive prompt
//! (done by the caller, only on a terminal without `--yes`). Every value is checked against the
//! var's type, choices and pattern before anything runs.

use std::path::Path;

use indexmap::IndexMap;
use serde_json::Value as Json;

use super::decode::Spanned;
use super::diagnostic::{Diagnostic, Diagnostics};
use super::format::{VarDef, VarType, parse_cidr};
use super::load::{Module, Project};
use super::source::{SourceFile, Span};
use super::suggest;
use super::yaml::{self, Node, Value};

pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The environment variable that sets a var.
pub fn env_name(var: &str) -> String {
    format!("RUNBOOK_VAR_{}", var.to_ascii_uppercase())
}

fn kind(def: &VarDef) -> VarType {
    def.kind.as_ref().map_or(VarType::String, |k| k.value)
}

/// Problems in one var's definition.
pub fn check_definition(name: &Spanned<String>, def: &VarDef) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if !is_valid_name(name) {
        out.push(
            Diagnostic::error("invalid-var-name", format!("`{}` is not a valid var name", name.value))
                .at(name.span)
                .label("var names are letters, digits and `_`, starting with a letter or `_`")
                .help("templates read it as `vars.NAME` and the environment as `RUNBOOK_VAR_NAME`, so it must be an identifier"),
        );
    }
    let ty = kind(def);
    if let Some(pattern) = &def.pattern {
        if ty != VarType::String {
            out.push(
                Diagnostic::error(
                    "invalid-pattern",
                    format!(
                        "`pattern` applies to string vars, and `{}` is a {}",
                        name.value,
                        ty.name()
                    ),
                )
                .at(pattern.span),
            );
        } else if let Err(e) = regex::Regex::new(pattern) {
            out.push(
                Diagnostic::error(
                    "invalid-pattern",
                    format!(
                        "the pattern of var `{}` is not a valid regular expression",
                        name.value
                    ),
                )
                .at(pattern.span)
                .note(first_line(&e.to_string())),
            );
        }
    }
    if let Some(choices) = &def.choices {
        for choice in &choices.value {
            if let Err(e) = typed(ty, choice) {
                out.push(
                    Diagnostic::error(
                        "invalid-choice",
                        format!(
                            "a choice of var `{}` is not a {}: {e}",
                            name.value,
                            ty.name()
                        ),
                    )
                    .at(choice.span),
                );
            }
        }
    }
    if let Some(default) = &def.default {
        let problem = typed(ty, default).and_then(|v| check_constraints(def, &v));
        if let Err(e) = problem {
            out.push(
                Diagnostic::error(
                    "invalid-default",
                    format!("the default of var `{}` is not valid: {e}", name.value),
                )
                .at(default.span),
            );
        }
    }
    out
}

fn first_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_owned()
}

/// A YAML value as a value of the var's type.
pub fn typed(ty: VarType, node: &Node) -> Result<Json, String> {
    match (ty, &node.value) {
        (VarType::String, Value::String(s)) => Ok(Json::String(s.clone())),
        (VarType::String, Value::Int(_) | Value::Float(_) | Value::Bool(_)) => {
            Ok(Json::String(node.scalar_text().unwrap_or_default()))
        }
        (VarType::Integer, Value::Int(i)) => Ok(Json::from(*i)),
        (VarType::Boolean, Value::Bool(b)) => Ok(Json::Bool(*b)),
        (VarType::List, Value::Seq(_)) => Ok(node.to_json()),
        (VarType::Cidr, Value::String(s)) => parse_cidr(s).map(|n| Json::String(n.to_string())),
        (VarType::Domain, Value::String(s)) => parse_domain(s).map(Json::String),
        (ty, Value::String(s)) if ty != VarType::List => parse_text(ty, s),
        (ty, _) => Err(format!(
            "expected {}, found {}",
            article(ty),
            node.describe()
        )),
    }
}

fn article(ty: VarType) -> &'static str {
    match ty {
        VarType::String => "a string",
        VarType::Integer => "an integer",
        VarType::Boolean => "a boolean",
        VarType::List => "a list",
        VarType::Cidr => "a network in CIDR notation",
        VarType::Domain => "a domain name",
    }
}

/// A DNS name, normalised (lowercase, no final dot, an internationalised name in the ASCII form
/// DNS and Route 53 use: `bücher.example` is `xn--bcher-kva.example`), or what is wrong with it,
/// in words.
pub fn parse_domain(text: &str) -> Result<String, String> {
    let like =
        "a domain is names of letters, digits and hyphens joined by dots, like lab.example.com";
    let wrong = |why: String| Err(format!("`{text}` is not a domain name: {why} ({like})"));
    // A URL pasted for its domain: say which domain is in it.
    if let Some((_, rest)) = text.trim().split_once("://") {
        let host = rest
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default()
            .rsplit('@')
            .next()
            .unwrap_or_default();
        let host = host.split(':').next().unwrap_or_default();
        return Err(format!(
            "`{text}` is a URL, not a domain name: give the domain alone ({})",
            if host.is_empty() {
                "like lab.example.com".to_owned()
            } else {
                format!("`{host}`")
            }
        ));
    }
    let trimmed = text.trim().trim_end_matches('.');
    let name = if trimmed.is_ascii() {
        trimmed.to_ascii_lowercase()
    } else {
        match idna::domain_to_ascii(trimmed) {
            Ok(ascii) => ascii,
            Err(_) => return wrong("it is not a valid internationalised name".into()),
        }
    };
    if name.is_empty() {
        return Ok(name);
    }
    if name.len() > 253 {
        return wrong("it is longer than 253 characters".into());
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return wrong("it has no dot".into());
    }
    for label in &labels {
        if label.is_empty() {
            return wrong("it has two dots in a row".into());
        }
        if label.len() > 63 {
            return wrong(format!("`{label}` is longer than 63 characters"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return wrong(format!("`{c}` cannot be part of a domain"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return wrong(format!("`{label}` starts or ends with a hyphen"));
        }
    }
    let top = labels.last().expect("two labels or more");
    // Letters, or an internationalised top-level domain in its ASCII form (`xn--p1ai`).
    if !(top.chars().all(|c| c.is_ascii_alphabetic()) || top.starts_with("xn--")) || top.len() < 2 {
        return wrong(format!("its last part `{top}` is not a top-level domain"));
    }
    Ok(name)
}

/// A value typed on the command line or in the environment.
pub fn parse_text(ty: VarType, text: &str) -> Result<Json, String> {
    match ty {
        VarType::String => Ok(Json::String(text.to_owned())),
        VarType::Integer => text
            .trim()
            .parse::<i64>()
            .map(Json::from)
            .map_err(|_| format!("`{text}` is not an integer")),
        VarType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Ok(Json::Bool(true)),
            "false" | "no" | "0" | "off" => Ok(Json::Bool(false)),
            _ => Err(format!("`{text}` is not a boolean (use true or false)")),
        },
        VarType::List => {
            let t = text.trim();
            if t.starts_with('[') {
                let node = yaml::parse(t, super::source::FileId::default())
                    .map_err(|_| format!("`{text}` is not a list"))?;
                match node.value {
                    Value::Seq(_) => Ok(node.to_json()),
                    _ => Err(format!("`{text}` is not a list")),
                }
            } else if t.is_empty() {
                Ok(Json::Array(Vec::new()))
            } else {
                Ok(Json::Array(
                    t.split(',')
                        .map(|s| Json::String(s.trim().to_owned()))
                        .collect(),
                ))
            }
        }
        VarType::Cidr => parse_cidr(text).map(|n| Json::String(n.to_string())),
        VarType::Domain => parse_domain(text).map(Json::String),
    }
}

/// Choices and pattern.
pub fn check_constraints(def: &VarDef, value: &Json) -> Result<(), String> {
    // An empty domain means "none" only where the runbook says so, by defaulting to it.
    let empty_by_default = def
        .default
        .as_ref()
        .is_some_and(|d| d.scalar_text().as_deref() == Some(""));
    if kind(def) == VarType::Domain && value.as_str() == Some("") && !empty_by_default {
        return Err("an empty domain: give one, like lab.example.com".into());
    }
    if let Some(choices) = &def.choices {
        let allowed: Vec<Json> = choices
            .iter()
            .filter_map(|c| typed(kind(def), c).ok())
            .collect();
        if !allowed.contains(value) {
            let shown: Vec<String> = allowed.iter().map(json_text).collect();
            return Err(format!(
                "{} is not one of {}",
                quote(value),
                suggest::list(&shown)
            ));
        }
    }
    if let (Some(pattern), Json::String(s)) = (&def.pattern, value) {
        if let Ok(re) = regex::Regex::new(&format!("^(?:{})$", pattern.value)) {
            if !re.is_match(s) {
                return Err(format!(
                    "`{s}` does not match the pattern `{}`",
                    pattern.value
                ));
            }
        }
    }
    Ok(())
}

pub fn json_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn quote(v: &Json) -> String {
    format!("`{}`", json_text(v))
}

/// Where a var's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `--var NAME=…`, or a class roster's cell: how, in words.
    Flag(String),
    File(Span),
    Env,
    Default(Span),
    Prompt,
}

/// What the user gave on the command line.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// `--var NAME=VALUE`, in order.
    pub flags: Vec<(String, String)>,
    pub vars_file: Option<std::path::PathBuf>,
    /// A class roster's row for one student: where it is (`line 3 of roster.csv`) and its values,
    /// which win over `--var`.
    pub row: Option<(String, Vec<(String, String)>)>,
}

#[derive(Clone, Debug, Default)]
pub struct Resolved {
    pub values: IndexMap<String, (Json, Source)>,
    /// Required vars without a value (in definition order).
    pub missing: Vec<String>,
}

/// Find every root var's value. Errors are for values given but wrong, and for names that the
/// runbook does not declare; a var with no value at all is listed in `missing`.
pub fn resolve(
    project: &mut Project,
    inputs: &Inputs,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Resolved, Diagnostics) {
    let mut diags = Diagnostics::default();
    let file_values = inputs
        .vars_file
        .as_deref()
        .map(|p| read_vars_file(project, p, &mut diags))
        .unwrap_or_default();
    let root: &Module = project.root();
    let names: Vec<&str> = root.vars.keys().map(String::as_str).collect();
    for (name, _) in &inputs.flags {
        if !root.vars.contains_key(name) {
            diags.push(unknown_var(name, &names, &format!("--var {name}=…")));
        }
    }
    for (key, _) in &file_values {
        if !root.vars.contains_key(key.as_str()) {
            let d = unknown_var(key, &names, "the vars file").at(key.span);
            diags.push(d);
        }
    }
    let mut resolved = Resolved::default();
    for (name, var) in &root.vars {
        let ty = kind(&var.def);
        let in_row = inputs
            .row
            .as_ref()
            .and_then(|(at, values)| Some((at, values.iter().find(|(n, _)| n == name)?)));
        let found: Option<(Result<Json, String>, Source, String)> =
            if let Some((at, (_, text))) = in_row {
                let by = format!("`{name}` in {at}");
                Some((parse_text(ty, text), Source::Flag(by.clone()), by))
            } else if let Some((_, text)) = inputs.flags.iter().rev().find(|(n, _)| n == name) {
                let by = format!("--var {name}");
                Some((parse_text(ty, text), Source::Flag(by.clone()), by))
            } else if let Some((key, node)) = file_values.iter().find(|(k, _)| k.value == *name) {
                Some((
                    typed(ty, node),
                    Source::File(node.span),
                    format!("`{}` in the vars file", key.value),
                ))
            } else if let Some(text) = env(&env_name(name)) {
                Some((parse_text(ty, &text), Source::Env, env_name(name)))
            } else {
                var.def.default.as_ref().map(|d| {
                    (
                        typed(ty, d),
                        Source::Default(d.span),
                        "the default".to_owned(),
                    )
                })
            };
        match found {
            None => resolved.missing.push(name.clone()),
            Some((value, source, origin)) => {
                match value.and_then(|v| check_constraints(&var.def, &v).map(|()| v)) {
                    Ok(v) => {
                        resolved.values.insert(name.clone(), (v, source));
                    }
                    // A bad default is reported with the var's definition.
                    Err(_) if matches!(source, Source::Default(_)) => {
                        resolved.missing.push(name.clone());
                    }
                    Err(e) => {
                        let mut d = Diagnostic::error(
                            "invalid-var-value",
                            format!("invalid value for var `{name}` from {origin}: {e}"),
                        );
                        if let Source::File(span) | Source::Default(span) = source {
                            d = d.at(span);
                        }
                        diags.push(
                            d.related(var.name.span, "declared here").help_opt(
                                var.def
                                    .description
                                    .clone()
                                    .map(|t| format!("`{name}`: {t}")),
                            ),
                        );
                    }
                }
            }
        }
    }
    (resolved, diags)
}

fn unknown_var(name: &str, names: &[&str], origin: &str) -> Diagnostic {
    let help = suggest::did_you_mean(name, names.iter().copied()).unwrap_or_else(|| {
        if names.is_empty() {
            "this runbook declares no vars".to_owned()
        } else {
            format!("its vars are {}", suggest::list(names))
        }
    });
    Diagnostic::error(
        "unknown-var",
        format!("the runbook has no var `{name}` (set by {origin})"),
    )
    .help(help)
}

fn read_vars_file(
    project: &mut Project,
    path: &Path,
    diags: &mut Diagnostics,
) -> Vec<(Spanned<String>, Node)> {
    let text = match crate::runbook::source::read_text(path, crate::runbook::source::MAX_FILE_BYTES)
    {
        Ok(t) => t,
        Err(e) => {
            diags.push(Diagnostic::error(
                "file-unreadable",
                format!("cannot read the vars file `{}`: {e}", path.display()),
            ));
            return Vec::new();
        }
    };
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let file = project.sources.add(SourceFile::new(
        path.display().to_string(),
        canonical,
        text.clone(),
    ));
    let node = match yaml::parse(&text, file) {
        Ok(n) => n,
        Err(errors) => {
            diags.extend(errors);
            return Vec::new();
        }
    };
    let Some(entries) = node.as_map() else {
        diags.push(
            Diagnostic::error(
                "wrong-type",
                "a vars file is a mapping of var names to values",
            )
            .at(node.span)
            .help(vars_file_help(&text)),
        );
        return Vec::new();
    };
    entries
        .iter()
        .map(|(k, v)| {
            (
                Spanned::new(k.span, k.scalar_text().unwrap_or_default()),
                v.clone(),
            )
        })
        .collect()
}

/// How to write a vars file, from what this one holds: `KEY=VALUE` lines (a `.env` file) are
/// shown as the YAML they mean.
fn vars_file_help(text: &str) -> String {
    let pairs: Vec<(&str, &str)> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("export ").unwrap_or(l).split_once('='))
        .collect();
    match pairs.first() {
        Some((name, value)) => {
            // `DOMAIN`, `RUNBOOK_VAR_DOMAIN` (the environment's form): the var `domain`.
            let name = name.trim().to_lowercase();
            let name = name.strip_prefix("runbook_var_").unwrap_or(&name);
            let value = value.trim();
            format!(
                "it reads like `NAME=VALUE` lines; a vars file is YAML, one `name: value` a line (`{name}: {value}`), or give each with --var {name}={value}"
            )
        }
        None => "write one `name: value` a line, for example `domain: lab.example.com`".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_vars_file_of_env_lines_is_shown_as_the_yaml_it_means() {
        let help = vars_file_help("# lab\nexport RUNBOOK_VAR_DOMAIN=lab.example.com\n");
        assert!(
            help.contains("(`domain: lab.example.com`)")
                && help.contains("--var domain=lab.example.com"),
            "{help}"
        );
        assert!(vars_file_help("- a\n").contains("`name: value`"));
    }

    #[test]
    fn a_domain_is_normalised_and_a_bad_one_explained_in_words() {
        assert_eq!(parse_domain("Lab.Example.com.").unwrap(), "lab.example.com");
        assert_eq!(parse_domain(" a-b.co ").unwrap(), "a-b.co");
        // Internationalised names take the ASCII form Route 53 keeps.
        assert_eq!(
            parse_domain("Bücher.example.org").unwrap(),
            "xn--bcher-kva.example.org"
        );
        assert_eq!(parse_domain("пример.рф").unwrap(), "xn--e1afmkfd.xn--p1ai");
        for (bad, why) in [
            ("lab", "it has no dot"),
            ("lab..example.com", "two dots in a row"),
            ("-lab.example.com", "starts or ends with a hyphen"),
            ("lab_1.example.com", "`_` cannot be part of a domain"),
            ("lab.example.c0m", "is not a top-level domain"),
        ] {
            let e = parse_domain(bad).unwrap_err();
            assert!(
                e.contains(why) && e.contains("like lab.example.com"),
                "{bad}: {e}"
            );
        }
        // A URL pasted where the domain goes: the domain in it is named.
        for (url, host) in [
            ("https://shop.example.org/", "shop.example.org"),
            (
                "http://me@www.shop.example.org:8080/a?b",
                "www.shop.example.org",
            ),
        ] {
            assert_eq!(
                parse_domain(url).unwrap_err(),
                format!("`{url}` is a URL, not a domain name: give the domain alone (`{host}`)")
            );
        }
    }
    use super::*;

    #[test]
    fn command_line_text_is_typed() {
        assert_eq!(parse_text(VarType::Integer, "3").unwrap(), Json::from(3));
        assert_eq!(
            parse_text(VarType::Boolean, "yes").unwrap(),
            Json::Bool(true)
        );
        assert_eq!(
            parse_text(VarType::List, "a, b").unwrap(),
            serde_json::json!(["a", "b"])
        );
        assert_eq!(
            parse_text(VarType::List, "[1, x]").unwrap(),
            serde_json::json!([1, "x"])
        );
        assert_eq!(
            parse_text(VarType::Cidr, "10.0.0.0/16").unwrap(),
            Json::String("10.0.0.0/16".into())
        );
        assert!(parse_text(VarType::Cidr, "10.0.0.0/33").is_err());
        assert!(parse_text(VarType::Integer, "three").is_err());
    }

    #[test]
    fn env_names_are_upper_case() {
        assert_eq!(env_name("domain"), "RUNBOOK_VAR_DOMAIN");
        assert!(is_valid_name("primary_cidr"));
        assert!(!is_valid_name("primary-cidr"));
    }
}
