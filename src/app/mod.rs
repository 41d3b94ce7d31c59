//! The application: what each command does, between the command line (`cli`, which parses the
//! arguments once into [`settings`]) and the pipeline's stages. No clap here; what it shows a
//! person goes through `ui`.
//!
//! - [`check`]: `validate`, `plan`, `actions`, and the checks every run starts with;
//! - [`session`]: one run — `run`, `resume`, `rollback` — its journal, failure policy and
//!   rollback, and where its AWS calls go;
//! - [`class`]: a lab per student of a roster ([`roster`]), and `rollback --class`;
//! - [`readiness`]: `check`, what a run would meet now, only reading;
//! - [`sweep`]: delete what carries a tag, found in AWS without a journal;
//! - [`target`]: where a run's AWS calls go, resolved in one place;
//! - [`state`]: where runs are kept: a local folder, or S3 with a lease per run;
//! - [`runs`]: `runs` and `show`.

pub mod check;
pub mod class;
pub mod mark;
pub mod readiness;
pub mod roster;
pub mod runs;
pub mod session;
pub mod settings;
pub mod state;
pub mod sweep;
pub mod target;
pub mod web;
