//! The application: what a command does, between the command line (`cli`) and the pipeline's
//! stages. It parses no arguments and prints nothing.
//!
//! Today it holds a class's roster ([`roster`]); the run session, a class's labs and sweep move
//! here from `cli/` next (issue 12).

pub mod roster;
