//! `runbook` executes declarative YAML runbooks step by step, with a plan, prompts, progress
//! and rollback.
//!
//! The pipeline, one module per stage: [`runbook`] loads, resolves and validates a runbook;
//! [`plan`] orders its step graph and renders what can be known before a run; [`actions`] holds
//! the built-in actions as data; [`engine`] runs them; [`app`] is what a command does; [`ui`] is
//! everything that prints; [`cli`] parses arguments and dispatches.

pub mod actions;
pub mod app;
pub mod cli;
pub mod engine;
pub mod error;
pub mod mask;
pub mod plan;
pub mod runbook;
pub mod ui;
