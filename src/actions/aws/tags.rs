//! The tags `runbook` puts on what it creates, and one way to read tags of any service: as
//! `(key, value)` pairs, whatever the SDK's type.

/// The run that created a resource.
pub const RUN: &str = "runbook:run";
/// The step that created it.
pub const STEP: &str = "runbook:step";
/// The step's idempotency key, which reconcile searches for after a crash.
pub const KEY: &str = "runbook:key";
/// The class a lab belongs to (`run --class`).
pub const CLASS: &str = "runbook:class";
/// The student a class's lab is for.
pub const STUDENT: &str = "runbook:student";
/// When the lab may be swept (`run --ttl`, `sweep --expired`).
pub const EXPIRES: &str = "runbook:expires";

/// EC2's tags as pairs.
pub fn ec2(tags: &[aws_sdk_ec2::types::Tag]) -> impl Iterator<Item = (Option<&str>, Option<&str>)> {
    tags.iter().map(|t| (t.key(), t.value()))
}

/// Elastic Load Balancing's tags as pairs.
pub fn elbv2(
    tags: &[aws_sdk_elasticloadbalancingv2::types::Tag],
) -> impl Iterator<Item = (Option<&str>, Option<&str>)> {
    tags.iter().map(|t| (t.key(), t.value()))
}

/// Route 53's tags as pairs.
pub fn route53(
    tags: &[aws_sdk_route53::types::Tag],
) -> impl Iterator<Item = (Option<&str>, Option<&str>)> {
    tags.iter().map(|t| (t.key(), t.value()))
}

/// The value of one tag.
pub fn value<'t>(
    mut tags: impl Iterator<Item = (Option<&'t str>, Option<&'t str>)>,
    key: &str,
) -> Option<&'t str> {
    tags.find(|(k, _)| *k == Some(key)).and_then(|(_, v)| v)
}

/// The `Name` tag, owned.
pub fn name<'t>(tags: impl Iterator<Item = (Option<&'t str>, Option<&'t str>)>) -> Option<String> {
    value(tags, "Name").map(str::to_owned)
}

/// Whether the pairs hold `key` with `value`.
pub fn has<'t>(
    mut tags: impl Iterator<Item = (Option<&'t str>, Option<&'t str>)>,
    key: &str,
    value: &str,
) -> bool {
    tags.any(|(k, v)| k == Some(key) && v == Some(value))
}
