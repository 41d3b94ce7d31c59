//! The pages of `runbook web`, as HTML: the runs, one run (what it built, which stack answers,
//! its steps, drill and exercises), a class's board, the lab's stand-in for the internet, and
//! the page that asks for a token. Templates in `web/*.html` (minijinja, escaped as HTML); the
//! application hands each its data as JSON, secrets already masked.

use std::sync::LazyLock;

use minijinja::Environment;
use serde_json::Value as Json;

static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, text) in [
        ("layout.html", include_str!("web/layout.html")),
        ("index.html", include_str!("web/index.html")),
        ("run.html", include_str!("web/run.html")),
        ("class.html", include_str!("web/class.html")),
        ("site.html", include_str!("web/site.html")),
        ("denied.html", include_str!("web/denied.html")),
        ("problem.html", include_str!("web/problem.html")),
    ] {
        env.add_template(name, text)
            .unwrap_or_else(|e| panic!("the page template {name} is shipped broken: {e}"));
    }
    env
});

/// A page, rendered from its template and `data` (a JSON object); a template that cannot render
/// its data says so in the page rather than failing the server.
pub fn page(name: &str, data: &Json) -> String {
    PAGES
        .get_template(name)
        .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(data))))
        .unwrap_or_else(|e| {
            format!(
                "<!doctype html><title>runbook</title><p>This page could not be drawn: {}</p>",
                html_escape(&e.to_string())
            )
        })
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn every_page_renders_and_escapes_what_it_is_given() {
        let layout = json!({"location": ".runbook", "live": true});
        let mut index = layout.clone();
        index["groups"] = json!([{"class": null, "runs": [{
            "run_id": "r1", "runbook": "<b>lab</b>", "status": "succeeded", "steps_done": 1,
            "steps": 1, "alive": 2, "exercises": [], "drill": {"failover_seconds": 31, "passed": true}
        }]}]);
        let html = super::page("index.html", &index);
        assert!(html.contains("/runs/r1") && html.contains("31 s"), "{html}");
        assert!(
            html.contains("&lt;b&gt;lab") && !html.contains("<b>lab"),
            "escaped: {html}"
        );
        let denied = super::page("denied.html", &layout);
        assert!(denied.contains("A token is needed"), "{denied}");
        let problem = super::page(
            "problem.html",
            &json!({"location": "x", "title": "No run r9", "message": "There is no run `r9`.", "help": null}),
        );
        assert!(
            problem.contains("No run r9") && !problem.contains("token"),
            "{problem}"
        );
        let class = super::page(
            "class.html",
            &json!({"location": "x", "class": "c", "tiles": [{"student": "ann", "state": "set up",
                "status": "succeeded", "steps_done": 3, "steps": 3, "alive": 1, "run_id": "r2"}]}),
        );
        assert!(
            class.contains("ann") && class.contains("/runs/r2"),
            "{class}"
        );
    }
}
