//! `runbook` executes declarative YAML runbooks step by step, with a plan, prompts, progress
//! and rollback.
//!
//! The pipeline, one module per stage: [`runbook`] loads, resolves and validates a runbook;
//! [`plan`] orders its step graph and renders what can be known before a run; [`actions`] holds
//! the built-in actions as data; [`ui`] is everything that prints; [`cli`] ties them together.

pub mod actions;
pub mod cli;
pub mod engine;
pub mod error;
pub mod plan;
pub mod runbook;
pub mod ui;
