//! The runbook language: loading, resolving and validating runbook files.
//!
//! Pipeline: [`load`] (YAML with positions, modules) → [`resolve`] (module expansion, template
//! references, the step graph's edges) → [`validate`] (everything checkable before a network
//! call), with [`render`] computing every value known before a run and [`graph`] ordering the
//! steps. Each stage has its own types; problems are [`diagnostic::Diagnostic`]s.

pub mod decode;
pub mod diagnostic;
pub mod format;
pub mod graph;
pub mod lint;
pub mod load;
pub mod render;
pub mod resolve;
pub mod schema;
pub mod source;
pub mod suggest;
pub mod template;
pub mod validate;
pub mod vars;
pub mod yaml;
