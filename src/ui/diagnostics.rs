//! Diagnostics as text (rustc-style excerpts with a caret, via annotate-snippets) and as JSON.

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use serde_json::json;

use crate::runbook::diagnostic::{Diagnostic, Severity};
use crate::runbook::source::{Sources, Span};

/// A span cut to its first line (a caret under a whole multi-line block helps nobody), and at
/// least one character wide where the text allows.
fn visible(sources: &Sources, span: Span) -> std::ops::Range<usize> {
    let text = &sources.get(span.file).text;
    // On character boundaries whatever the span says: a span computed by offsets into a
    // template may land inside a multi-byte character (`›`), and slicing there would panic.
    let boundary = |mut i: usize| {
        i = i.min(text.len());
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = boundary(span.start);
    let mut end = boundary(span.end).max(start);
    if let Some(nl) = text[start..end].find('\n') {
        end = start + nl;
    }
    if end == start && start < text.len() {
        end = start + text[start..].chars().next().map_or(0, char::len_utf8);
        if text[start..end] == *"\n" {
            end = start;
        }
    }
    start..end
}

/// Render one diagnostic for people.
pub fn render(d: &Diagnostic, sources: &Sources, color: bool) -> String {
    let level = match d.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    let mut group = Group::with_title(level.primary_title(d.message.as_str()).id(d.code));
    if let Some(span) = d.span {
        let file = sources.get(span.file);
        let mut primary = AnnotationKind::Primary.span(visible(sources, span));
        if let Some(label) = &d.label {
            primary = primary.label(label.as_str());
        }
        let mut snippet = Snippet::source(file.text.as_str())
            .path(file.display.as_str())
            .fold(true)
            .annotation(primary);
        for (rspan, label) in d.related.iter().filter(|(s, _)| s.file == span.file) {
            snippet = snippet.annotation(
                AnnotationKind::Context
                    .span(visible(sources, *rspan))
                    .label(label.as_str()),
            );
        }
        group = group.element(snippet);
        for (rspan, label) in d.related.iter().filter(|(s, _)| s.file != span.file) {
            let other = sources.get(rspan.file);
            group = group.element(
                Snippet::source(other.text.as_str())
                    .path(other.display.as_str())
                    .fold(true)
                    .annotation(
                        AnnotationKind::Context
                            .span(visible(sources, *rspan))
                            .label(label.as_str()),
                    ),
            );
        }
    }
    if let Some(help) = &d.help {
        group = group.element(Level::HELP.message(help.as_str()));
    }
    for note in &d.notes {
        group = group.element(Level::NOTE.message(note.as_str()));
    }
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let report: &[Group<'_>] = &[group];
    renderer.render(report)
}

/// One diagnostic as JSON: positions are 1-based lines and columns.
pub fn to_json(d: &Diagnostic, sources: &Sources) -> serde_json::Value {
    let place = |span: Span| {
        let file = sources.get(span.file);
        let (a, b) = (file.line_col(span.start), file.line_col(span.end));
        json!({ "file": file.display, "line": a.line, "column": a.column, "end_line": b.line, "end_column": b.column })
    };
    let mut v = json!({
        "severity": d.severity,
        "code": d.code,
        "message": d.message,
    });
    if let Some(span) = d.span {
        let p = place(span);
        for key in ["file", "line", "column", "end_line", "end_column"] {
            v[key] = p[key].clone();
        }
    }
    if let Some(label) = &d.label {
        v["label"] = json!(label);
    }
    if let Some(help) = &d.help {
        v["help"] = json!(help);
    }
    if !d.notes.is_empty() {
        v["notes"] = json!(d.notes);
    }
    if !d.related.is_empty() {
        v["related"] = d
            .related
            .iter()
            .map(|(s, label)| {
                let mut p = place(*s);
                p["label"] = json!(label);
                p
            })
            .collect();
    }
    v
}
