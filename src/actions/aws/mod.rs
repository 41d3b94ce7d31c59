//! AWS actions: EC2, Elastic Load Balancing v2 and Route 53.
//!
//! This module holds their definitions (parameters, outputs, effect, undo); the calls to AWS are
//! made by the execution layer.

pub mod ec2;
pub mod elbv2;
pub mod route53;

use indexmap::IndexMap;

/// Extra tags to put on what an action creates (besides `Name` and the `runbook:*` tags).
pub type Tags = IndexMap<String, String>;

/// Default values shared by the parameter structs (serde's `default = "…"` needs functions).
pub mod defaults {
    pub fn yes() -> bool {
        true
    }

    pub fn port_80() -> u16 {
        80
    }

    pub fn http() -> String {
        "HTTP".into()
    }

    pub fn slash() -> String {
        "/".into()
    }
}
