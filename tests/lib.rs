//! Integration tests: each runs the real `runbook` binary and checks its exact output and exit
//! code. Modules are named after the feature they test.

mod actions;
mod aws;
mod browser;
mod class;
mod cli;
mod corpus;
mod emulator;
mod engine;
mod examples;
mod guided;
mod lab;
mod plan;
mod proxy;
mod robustness;
mod schema;
mod state;
mod test;
mod validate;
mod web;
