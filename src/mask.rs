//! Secrets out of everything shown or kept: `secret: true` vars' values become `***` in
//! parameters, outputs, journals, reports and `JUnit` files.

use serde_json::Value as Json;

/// Replace every secret value inside strings with `***`.
pub fn mask(value: &mut Json, secrets: &[String]) {
    match value {
        Json::String(s) => {
            for secret in secrets {
                if s.contains(secret.as_str()) {
                    *s = s.replace(secret.as_str(), "***");
                }
            }
        }
        Json::Array(items) => items.iter_mut().for_each(|v| mask(v, secrets)),
        Json::Object(map) => map.values_mut().for_each(|v| mask(v, secrets)),
        _ => {}
    }
}
