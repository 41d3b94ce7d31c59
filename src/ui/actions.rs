//! `runbook actions`: the built-in actions, read from their definitions.

use std::fmt::Write as _;

use serde_json::{Value as Json, json};

use crate::actions::{ActionDef, Outputs};
use crate::engine::action::Effect;

/// One line per action: its name, its effect in a word, its summary.
pub fn list(actions: &[&ActionDef]) -> String {
    let width = actions.iter().map(|a| a.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for a in actions {
        // The column holds a word; a command's summary says that its effect is unknown.
        let effect = match a.effect {
            Effect::Runs => "runs",
            other => other.as_str(),
        };
        let _ = writeln!(out, "{:width$}  {effect:8} {}", a.name, a.summary);
    }
    let _ = writeln!(
        out,
        "\n`runbook actions NAME` shows an action's parameters, outputs and undo."
    );
    out
}

/// A parameter as the definitions describe it.
#[derive(Debug, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub kind: String,
    pub required: bool,
    pub default: Option<String>,
    pub description: String,
}

pub fn params(def: &ActionDef) -> Vec<Param> {
    let mut out = Vec::new();
    collect(&def.params_schema().to_value(), "", &mut out);
    out
}

/// The properties of an object schema, and those of nested objects as `outer.inner` (or
/// `outer[].inner` inside lists).
fn collect(schema: &Json, prefix: &str, out: &mut Vec<Param>) {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema["properties"].as_object() else {
        return;
    };
    for (name, p) in props {
        out.push(Param {
            name: format!("{prefix}{name}"),
            kind: type_of(p),
            required: required.contains(&name.as_str()),
            default: p
                .get("default")
                .filter(|d| !d.is_null() && d != &&json!([]) && d != &&json!({}))
                .map(|d| match d {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                }),
            description: p
                .get("description")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .replace('\n', " "),
        });
        let object = object_of(p);
        if let Some(inner) = object.filter(|o| o.get("properties").is_some()) {
            collect(inner, &format!("{prefix}{name}."), out);
        } else if let Some(items) = p.get("items").filter(|i| i.get("properties").is_some()) {
            collect(items, &format!("{prefix}{name}[]."), out);
        }
    }
}

/// The object schema inside an optional (`anyOf: [X, null]`) or direct property.
fn object_of(p: &Json) -> Option<&Json> {
    if p.get("properties").is_some() {
        return Some(p);
    }
    p.get("anyOf")
        .or_else(|| p.get("oneOf"))
        .and_then(Json::as_array)
        .and_then(|v| v.iter().find(|s| s.get("properties").is_some()))
}

/// A short type name from a JSON Schema.
pub fn type_of(schema: &Json) -> String {
    if let Some(values) = schema.get("enum").and_then(Json::as_array) {
        return values
            .iter()
            .filter_map(Json::as_str)
            .collect::<Vec<_>>()
            .join("|");
    }
    if let Some(variants) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Json::as_array)
    {
        let parts: Vec<String> = variants
            .iter()
            .filter(|v| v.get("type") != Some(&json!("null")))
            .map(|v| {
                v.get("const")
                    .and_then(Json::as_str)
                    .map_or_else(|| type_of(v), str::to_owned)
            })
            .collect();
        return parts.join("|");
    }
    if let Some(title) = schema.get("title").and_then(Json::as_str) {
        if title == "cidr" || title == "duration" {
            return title.into();
        }
    }
    let kinds: Vec<&str> = match schema.get("type") {
        Some(Json::String(t)) => vec![t.as_str()],
        Some(Json::Array(ts)) => ts
            .iter()
            .filter_map(Json::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => vec![],
    };
    match kinds.first().copied() {
        Some("array") => format!(
            "list of {}",
            schema.get("items").map_or_else(|| "values".into(), type_of)
        ),
        Some("object") if schema.get("properties").is_some() => "mapping".into(),
        Some("object") => "mapping of strings".into(),
        Some("integer") => "integer".into(),
        Some("boolean") => "boolean".into(),
        Some("string") => match schema.get("pattern").and_then(Json::as_str) {
            Some(p) if p.contains('/') => "cidr".into(),
            Some(p) if p.contains("\\d") => "duration".into(),
            _ => "string".into(),
        },
        Some(other) => other.into(),
        None => "any".into(),
    }
}

/// Everything about one action.
pub fn detail(def: &ActionDef) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} ({})\n", def.name, def.effect.as_str());
    out.push_str(&super::wrap(def.summary, 88, "  "));
    out.push('\n');
    out.push_str(&super::wrap(def.docs, 88, "  "));
    let params = params(def);
    let _ = writeln!(out, "\nParameters:");
    if matches!(def.outputs, Outputs::FromParams) {
        let _ = writeln!(out, "  any keys; each becomes an output");
    } else if params.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for p in &params {
        let mut head = format!("  {} ({}", p.name, p.kind);
        if p.required {
            head.push_str(", required");
        }
        if let Some(d) = &p.default {
            let _ = write!(head, ", default {d}");
        }
        head.push(')');
        let _ = writeln!(out, "{head}");
        if !p.description.is_empty() {
            out.push_str(&super::wrap(&p.description, 88, "      "));
        }
    }
    let _ = writeln!(out, "\nOutputs:");
    match def.outputs {
        Outputs::FromParams => {
            let _ = writeln!(out, "  the keys of `with:`");
        }
        Outputs::Listed => {
            let _ = writeln!(out, "  the names listed in `outputs`");
        }
        Outputs::Fixed([]) => {
            let _ = writeln!(out, "  none");
        }
        Outputs::Fixed(outputs) => {
            for o in outputs {
                let _ = writeln!(out, "  {} ({}): {}", o.name, o.kind, o.description);
            }
        }
    }
    let _ = writeln!(out, "\nUndo:\n  {}", def.undo.unwrap_or("nothing to undo"));
    if !def.also.is_empty() {
        let _ = writeln!(out, "\nKnown elsewhere as:");
        out.push_str(&super::wrap(&def.also.join(", "), 88, "  "));
    }
    if let Some(exercise) = def.exercise {
        let compares = if exercise.compares.is_empty() {
            String::new()
        } else {
            format!("; compares {}", exercise.compares.join(", "))
        };
        let _ = writeln!(out, "\nExercise (a step's `exercise:`):");
        out.push_str(&super::wrap(
            &format!(
                "finds what a learner made by hand in {}{compares}",
                exercise.looks
            ),
            88,
            "  ",
        ));
    }
    out
}

pub fn to_json(def: &ActionDef) -> Json {
    json!({
        "name": def.name,
        "summary": def.summary,
        "docs": def.docs,
        "effect": def.effect,
        "parameters": def.params_schema().to_value(),
        "outputs": match def.outputs {
            Outputs::Fixed(o) => json!(o),
            Outputs::FromParams => json!("the keys of `with:`"),
            Outputs::Listed => json!("the names listed in `outputs`"),
        },
        "undo": def.undo,
        "exercise": def.exercise,
        "also": def.also,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every summary starts in the same column: an effect is one word there (a command's was
    /// "runs a command (effect unknown)", which pushed its summary out of line).
    #[test]
    fn the_list_keeps_its_columns() {
        let defs: Vec<&ActionDef> = crate::actions::all().collect();
        let text = list(&defs);
        let column = |line: &str, def: &ActionDef| line.find(def.summary);
        let first = column(text.lines().next().unwrap(), defs[0]);
        for (line, def) in text.lines().zip(&defs) {
            assert_eq!(column(line, def), first, "{line}");
        }
        let exec = text.lines().find(|l| l.starts_with("core.exec ")).unwrap();
        assert!(exec.contains(" runs     Run a command"), "{exec}");
    }

    #[test]
    fn parameters_come_from_the_struct() {
        let def = crate::actions::find("aws.ec2.run_instances").unwrap();
        let ps = params(def);
        let count = ps.iter().find(|p| p.name == "count").unwrap();
        assert_eq!(count.kind, "integer");
        assert!(!count.required);
        assert_eq!(count.default.as_deref(), Some("1"));
        let image = ps.iter().find(|p| p.name == "image_id").unwrap();
        assert!(image.required);
        let sgs = ps.iter().find(|p| p.name == "security_group_ids").unwrap();
        assert_eq!(sgs.kind, "list of string");
    }

    #[test]
    fn enums_and_cidrs_have_readable_types() {
        let def = crate::actions::find("aws.route53.failover_record").unwrap();
        let role = params(def).into_iter().find(|p| p.name == "role").unwrap();
        assert_eq!(role.kind, "primary|secondary");
        let vpc = crate::actions::find("aws.ec2.create_vpc").unwrap();
        assert_eq!(
            params(vpc)
                .into_iter()
                .find(|p| p.name == "cidr")
                .unwrap()
                .kind,
            "cidr"
        );
    }
}
