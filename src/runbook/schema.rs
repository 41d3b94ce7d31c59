//! `runbook schema`: a JSON Schema of the format, from the same types the loader decodes into,
//! with each action's `with:` described by that action's parameter struct.

use serde_json::{Value as Json, json};

use super::format::RunbookDoc;
use crate::actions;

const TEMPLATE_DEF: &str = "template";

/// The schema, for editors (YAML language server) and tools.
pub fn runbook_schema() -> Json {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let root = generator.root_schema_for::<RunbookDoc>();
    let before: Vec<String> = generator.definitions().keys().cloned().collect();
    let mut dispatch = Vec::new();
    for def in actions::all() {
        let params = (def.params.schema)(&mut generator).to_value();
        dispatch.push(json!({
            "if": { "properties": { "action": { "const": def.name } }, "required": ["action"] },
            "then": { "properties": { "with": params } }
        }));
    }
    let mut defs = generator.take_definitions(true);
    for (name, schema) in &mut defs {
        if !before.contains(name) {
            accept_templates(schema);
        }
    }
    defs.insert(
        TEMPLATE_DEF.into(),
        json!({ "type": "string", "pattern": "\\{\\{|\\{%", "description": "A template, rendered when the step runs." }),
    );
    let mut root = root.to_value();
    let root_defs = root
        .as_object_mut()
        .expect("a schema object")
        .entry("$defs")
        .or_insert_with(|| json!({}));
    if let Some(obj) = root_defs.as_object_mut() {
        obj.extend(defs);
        if let Some(step) = obj.get_mut("step") {
            step["allOf"] = Json::Array(dispatch);
            let names: Vec<&str> = actions::names();
            step["properties"]["action"] = json!({
                "type": "string",
                "enum": names,
                "description": "The built-in action to run (`runbook actions` lists them)."
            });
        }
    }
    root["$id"] = json!("https://runbook.invalid/schema/runbook-v1.json");
    root
}

/// Let every property and list item of a parameter schema also be a template.
fn accept_templates(schema: &mut Json) {
    let template = json!({ "$ref": format!("#/$defs/{TEMPLATE_DEF}") });
    if let Some(props) = schema.get_mut("properties").and_then(Json::as_object_mut) {
        for p in props.values_mut() {
            accept_templates(p);
            let original = p.take();
            *p = json!({ "anyOf": [original, template.clone()] });
            // Keep the description where editors look for it.
            if let Some(d) = p["anyOf"][0].get("description").cloned() {
                p["description"] = d;
            }
        }
    }
    if let Some(items) = schema.get_mut("items") {
        accept_templates(items);
        let original = items.take();
        *items = json!({ "anyOf": [original, template] });
    } else if let Some(add) = schema
        .get_mut("additionalProperties")
        .filter(|a| a.is_object())
    {
        let original = add.take();
        *add = json!({ "anyOf": [original, template] });
    }
}
