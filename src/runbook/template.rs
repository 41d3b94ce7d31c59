//! Templates: minijinja with strict undefined, plus `cidrsubnet`.
//!
//! A string that is exactly one `{{ expression }}` evaluates to the expression's native value (a
//! list stays a list); any other string with template syntax renders to a string. The context has
//! four roots: `vars`, `steps`, `run` and `aws`. [`references`] lists the dotted names a template
//! reads (`steps.vpc.vpc_id`), which is how the step graph finds its edges.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};

/// The names a template may start from.
pub const ROOTS: &[&str] = &["vars", "steps", "run", "aws"];
/// The keys of `run` and `aws`.
pub const RUN_KEYS: &[&str] = &["id", "name", "files"];
pub const AWS_KEYS: &[&str] = &["region", "emulated", "cli"];

/// How a string is to be evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// No template syntax: the string itself.
    Literal,
    /// Exactly `{{ expr }}`: the expression's native value. Holds the expression.
    Expression(&'a str),
    /// Text with template syntax: renders to a string.
    Text,
}

pub fn kind(s: &str) -> Kind<'_> {
    let trimmed = s.trim();
    if let Some(inner) = trimmed
        .strip_prefix("{{")
        .and_then(|r| r.strip_suffix("}}"))
    {
        if !inner.contains("{{") && !inner.contains("}}") && !inner.contains("{%") {
            return Kind::Expression(inner);
        }
    }
    if s.contains("{{") || s.contains("{%") || s.contains("{#") {
        Kind::Text
    } else {
        Kind::Literal
    }
}

/// The shared environment: strict undefined, the project's functions, no HTML escaping.
pub fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Bounded work: a template that loops too long stops with a located error (a
        // runbook's templates take a few hundred steps; nested `range(100000)` loops would not
        // end), and nothing carries a value from one loop pass to the next (`namespace`), so
        // nothing grows without end.
        env.set_fuel(Some(FUEL));
        env.remove_global("namespace");
        env.add_function("cidrsubnet", cidrsubnet);
        env.add_function("cidrhost", cidrhost);
        env
    })
}

/// The work one template may do (minijinja's instructions).
pub const FUEL: u64 = 1_000_000;

/// The longest value a template may render to.
pub const MAX_RENDERED: usize = 1024 * 1024;

fn bounded(text: String) -> Result<String, TemplateError> {
    if text.len() > MAX_RENDERED {
        return Err(TemplateError {
            message: format!(
                "it renders to {} bytes, more than the {} KiB a value may hold",
                text.len(),
                MAX_RENDERED / 1024
            ),
            range: None,
        });
    }
    Ok(text)
}

/// Names that are functions of the environment, not data.
pub fn is_global(name: &str) -> bool {
    env().globals().any(|(n, _)| n == name) || matches!(name, "loop" | "self")
}

/// A template problem with its byte range in the template text, when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub message: String,
    pub range: Option<std::ops::Range<usize>>,
}

impl From<Error> for TemplateError {
    fn from(e: Error) -> Self {
        let message = match e.detail() {
            Some(detail) => format!("{}: {detail}", kind_text(e.kind())),
            None => kind_text(e.kind()).to_owned(),
        };
        TemplateError {
            message,
            range: e.range(),
        }
    }
}

fn kind_text(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::SyntaxError => "syntax error",
        ErrorKind::UndefinedError => "undefined value",
        ErrorKind::UnknownFilter => "unknown filter",
        ErrorKind::UnknownFunction => "unknown function",
        ErrorKind::UnknownTest => "unknown test",
        ErrorKind::InvalidOperation => "invalid operation",
        ErrorKind::MissingArgument => "missing argument",
        ErrorKind::TooManyArguments => "too many arguments",
        ErrorKind::OutOfFuel => {
            "it does too much work (loops too long: a template may take a million steps)"
        }
        _ => "template error",
    }
}

/// The dotted names a string reads (`vars.cidr`, `steps.vpc.vpc_id`), sorted; nothing for a
/// literal. A syntax error is returned with its range in `s`.
pub fn references(s: &str) -> Result<Vec<String>, TemplateError> {
    // A runbook's few hundred templates are read again for every step a run prepares and for
    // every student of a class: parsed once per process.
    type Read = Result<Vec<String>, TemplateError>;
    static READ: OnceLock<Mutex<HashMap<String, Read>>> = OnceLock::new();
    if matches!(kind(s), Kind::Literal) {
        return Ok(Vec::new());
    }
    let cache = READ.get_or_init(Mutex::default);
    if let Some(found) = cache.lock().expect("never poisoned").get(s) {
        return found.clone();
    }
    let found = parse_references(s);
    cache
        .lock()
        .expect("never poisoned")
        .insert(s.to_owned(), found.clone());
    found
}

fn parse_references(s: &str) -> Result<Vec<String>, TemplateError> {
    let names = match kind(s) {
        Kind::Literal => return Ok(Vec::new()),
        Kind::Expression(expr) => {
            let offset = s.find(expr).unwrap_or(0);
            let mut names = env()
                .compile_expression(expr)
                .map_err(|e| shift(TemplateError::from(e), offset))?
                .undeclared_variables(true);
            if let Some(unsliced) = unslice(expr, true) {
                if let Ok(e) = env().compile_expression(&unsliced) {
                    names.extend(e.undeclared_variables(true));
                }
            }
            names
        }
        Kind::Text => {
            let mut names = env().template_from_str(s)?.undeclared_variables(true);
            if let Some(unsliced) = unslice(s, false) {
                if let Ok(t) = env().template_from_str(&unsliced) {
                    names.extend(t.undeclared_variables(true));
                }
            }
            names
        }
    };
    Ok(sorted(names))
}

/// The names a bare expression reads (`when: not aws.emulated`).
pub fn expression_references(expr: &str) -> Result<Vec<String>, TemplateError> {
    let mut names = env().compile_expression(expr)?.undeclared_variables(true);
    if let Some(unsliced) = unslice(expr, true) {
        if let Ok(e) = env().compile_expression(&unsliced) {
            names.extend(e.undeclared_variables(true));
        }
    }
    Ok(sorted(names))
}

/// Names without the globals (`range`, the project's functions), sorted.
fn sorted(names: std::collections::HashSet<String>) -> Vec<String> {
    let mut names: Vec<String> = names
        .into_iter()
        .filter(|n| !is_global(n.split('.').next().unwrap_or(n)))
        .collect();
    names.sort();
    names
}

/// The template with each slice (`x[1:3]`, `vars.token[:4]`) written as an index by a tuple
/// (`x[(1, 3)]`), or `None` when it has none. minijinja's `undeclared_variables` does not look
/// inside what a slice is taken of, so `steps.zones.names[:2]` would read nothing: no
/// dependency, no unknown-step error and no masking of a secret's first characters. The tuple
/// form reads the same names and is only ever parsed, never rendered. `code`: the whole text is
/// an expression; otherwise only what is inside `{{ }}` and `{% %}` is.
fn unslice(text: &str, code: bool) -> Option<String> {
    /// An open bracket: where its content starts in `out`, and for `[` the places of its own
    /// colons in `out`.
    struct Open {
        square: bool,
        start: usize,
        colons: Vec<usize>,
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut open: Vec<Open> = Vec::new();
    let mut in_code = code;
    let mut quote: Option<char> = None;
    let mut changed = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if !in_code {
            out.push(c);
            if c == '{' && matches!(chars.peek(), Some('{' | '%')) {
                out.push(chars.next().unwrap_or('{'));
                in_code = true;
            }
            continue;
        }
        if let Some(q) = quote {
            out.push(c);
            if c == '\\' {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '}' | '%' if !code && open.is_empty() && chars.peek() == Some(&'}') => {
                out.push(c);
                out.push(chars.next().unwrap_or('}'));
                in_code = false;
                continue;
            }
            '[' | '(' | '{' => {
                out.push(c);
                open.push(Open {
                    square: c == '[',
                    start: out.len(),
                    colons: Vec::new(),
                });
                continue;
            }
            ':' => {
                if let Some(o) = open.last_mut().filter(|o| o.square) {
                    o.colons.push(out.len());
                }
            }
            ']' | ')' | '}' => {
                if let Some(o) = open.pop().filter(|o| o.square && !o.colons.is_empty()) {
                    let mut parts = Vec::new();
                    let mut from = o.start;
                    for &colon in &o.colons {
                        parts.push(out[from..colon].trim().to_owned());
                        from = colon + 1;
                    }
                    parts.push(out[from..].trim().to_owned());
                    let parts: Vec<String> = parts
                        .into_iter()
                        .map(|p| if p.is_empty() { "none".to_owned() } else { p })
                        .collect();
                    out.truncate(o.start);
                    out.push_str(&format!("({},)", parts.join(", ")));
                    changed = true;
                }
            }
            _ => {}
        }
        out.push(c);
    }
    changed.then_some(out)
}

fn shift(mut e: TemplateError, offset: usize) -> TemplateError {
    e.range = e.range.map(|r| r.start + offset..r.end + offset);
    e
}

/// Evaluate a string against a context: native value for an expression, a string otherwise.
pub fn render_str(s: &str, ctx: &serde_json::Value) -> Result<serde_json::Value, TemplateError> {
    let ctx = minijinja::Value::from(minijinja::value::Serde(ctx));
    match kind(s) {
        Kind::Literal => Ok(serde_json::Value::String(s.to_owned())),
        Kind::Expression(expr) => {
            let value = env().compile_expression(expr)?.eval(ctx)?;
            to_json(&value)
        }
        Kind::Text => Ok(serde_json::Value::String(bounded(
            env().render_str(s, ctx)?,
        )?)),
    }
}

/// Evaluate a bare expression (no braces) to its native value.
pub fn eval_expression(
    expr: &str,
    ctx: &serde_json::Value,
) -> Result<serde_json::Value, TemplateError> {
    let value = env()
        .compile_expression(expr)?
        .eval(minijinja::Value::from(minijinja::value::Serde(ctx)))?;
    to_json(&value)
}

/// Render every string in a JSON value.
pub fn render_json(
    value: &serde_json::Value,
    ctx: &serde_json::Value,
) -> Result<serde_json::Value, TemplateError> {
    use serde_json::Value as J;
    Ok(match value {
        J::String(s) => render_str(s, ctx)?,
        J::Array(items) => J::Array(
            items
                .iter()
                .map(|v| render_json(v, ctx))
                .collect::<Result<_, _>>()?,
        ),
        J::Object(map) => J::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_json(v, ctx)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

fn to_json(value: &minijinja::Value) -> Result<serde_json::Value, TemplateError> {
    if value.is_undefined() {
        return Err(TemplateError {
            message: "undefined value".into(),
            range: None,
        });
    }
    serde_json::to_value(value).map_err(|e| TemplateError {
        message: e.to_string(),
        range: None,
    })
}

fn parse_net(prefix: &str) -> Result<ipnet::IpNet, Error> {
    prefix.trim().parse::<ipnet::IpNet>().map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("`{prefix}` is not a network in CIDR notation"),
        )
    })
}

/// Terraform's `cidrsubnet(prefix, newbits, netnum)`: the `netnum`-th subnet of `prefix` with
/// `newbits` more bits of prefix. `cidrsubnet("10.0.0.0/16", 8, 2)` is `10.0.2.0/24`.
pub fn cidrsubnet(prefix: &str, newbits: u32, netnum: u64) -> Result<String, Error> {
    let net = parse_net(prefix)?;
    let (bits, len) = (u32::from(net.max_prefix_len()), u32::from(net.prefix_len()));
    let new_len = len + newbits;
    if new_len > bits {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "cidrsubnet: {prefix} has only {} bits left to extend, not {newbits}",
                bits - len
            ),
        ));
    }
    if newbits < 64 && netnum >= 1u64 << newbits {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "cidrsubnet: {newbits} new bits hold subnets 0 to {}, not {netnum}",
                (1u64 << newbits) - 1
            ),
        ));
    }
    let shift = bits - new_len;
    let result = match net.trunc() {
        ipnet::IpNet::V4(v4) => {
            let base = u32::from(v4.network());
            let offset = u32::try_from(u128::from(netnum) << shift).map_err(|_| overflow())?;
            ipnet::IpNet::V4(
                ipnet::Ipv4Net::new(
                    (base | offset).into(),
                    u8::try_from(new_len).map_err(|_| overflow())?,
                )
                .map_err(|_| overflow())?,
            )
        }
        ipnet::IpNet::V6(v6) => {
            let base = u128::from(v6.network());
            let offset = u128::from(netnum).checked_shl(shift).ok_or_else(overflow)?;
            ipnet::IpNet::V6(
                ipnet::Ipv6Net::new(
                    (base | offset).into(),
                    u8::try_from(new_len).map_err(|_| overflow())?,
                )
                .map_err(|_| overflow())?,
            )
        }
    };
    Ok(result.to_string())
}

/// Terraform's `cidrhost(prefix, hostnum)`: the `hostnum`-th address of `prefix`.
pub fn cidrhost(prefix: &str, hostnum: u64) -> Result<String, Error> {
    let net = parse_net(prefix)?;
    let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
    if host_bits < 64 && hostnum >= 1u64 << host_bits {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("cidrhost: {prefix} has no host number {hostnum}"),
        ));
    }
    Ok(match net.trunc() {
        ipnet::IpNet::V4(v4) => {
            let host = u32::try_from(hostnum).map_err(|_| overflow())?;
            std::net::Ipv4Addr::from(u32::from(v4.network()) | host).to_string()
        }
        ipnet::IpNet::V6(v6) => {
            std::net::Ipv6Addr::from(u128::from(v6.network()) | u128::from(hostnum)).to_string()
        }
    })
}

fn overflow() -> Error {
    Error::new(ErrorKind::InvalidOperation, "the address does not fit")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What a slice is taken of is read: a dependency on the step, a secret's first characters.
    #[test]
    fn a_slice_reads_what_it_slices() {
        for (text, read) in [
            ("{{ steps.zones.names[:2] }}", vec!["steps.zones.names"]),
            ("first={{ vars.token[:4] }}!", vec!["vars.token"]),
            ("{{ (steps.a.b)[1:] | join(',') }}", vec!["steps.a.b"]),
            ("{{ steps.a.b[::2] }}", vec!["steps.a.b"]),
            (
                "{{ steps.a.b[vars.i:vars.j] }}",
                vec!["steps.a.b", "vars.i", "vars.j"],
            ),
            (
                "{% set x = steps.a.b[1:] %}{{ x }} {{ {'k': vars.v}['k'] }}",
                vec!["steps.a.b", "vars.v"],
            ),
            ("{{ ':' ~ steps.a.b[0] ~ '[:' }}", vec!["steps.a.b"]),
        ] {
            assert_eq!(references(text).unwrap(), read, "{text}");
        }
        assert_eq!(
            expression_references("steps.a.b[:1] == ['x']").unwrap(),
            ["steps.a.b"]
        );
        assert_eq!(unslice("no slice {{ a[0] }}", false), None);
        assert_eq!(
            unslice("x[:2] {{ y[1:] }}", false).unwrap(),
            "x[:2] {{ y[(1, none,)] }}"
        );
    }

    #[test]
    fn cidrsubnet_matches_terraform() {
        assert_eq!(cidrsubnet("10.0.0.0/16", 8, 2).unwrap(), "10.0.2.0/24");
        assert_eq!(cidrsubnet("11.0.0.0/16", 8, 0).unwrap(), "11.0.0.0/24");
        assert_eq!(cidrsubnet("172.16.0.0/12", 4, 2).unwrap(), "172.18.0.0/16");
        assert_eq!(cidrsubnet("10.1.2.0/24", 4, 15).unwrap(), "10.1.2.240/28");
        assert_eq!(
            cidrsubnet("fd00:fd12:3456:7890::/56", 16, 162).unwrap(),
            "fd00:fd12:3456:7800:a200::/72"
        );
        assert!(cidrsubnet("10.0.0.0/16", 8, 256).is_err());
        assert!(cidrsubnet("10.0.0.0/30", 4, 0).is_err());
        assert_eq!(cidrhost("10.12.112.0/20", 16).unwrap(), "10.12.112.16");
        assert_eq!(cidrhost("10.12.112.0/20", 268).unwrap(), "10.12.113.12");
    }

    #[test]
    fn kinds_of_strings() {
        assert_eq!(kind("plain"), Kind::Literal);
        assert_eq!(kind("{{ steps.a.ids }}"), Kind::Expression(" steps.a.ids "));
        assert_eq!(kind("{{ a }}-{{ b }}"), Kind::Text);
        assert_eq!(kind("x {% if a %}y{% endif %}"), Kind::Text);
    }

    #[test]
    fn references_are_dotted_paths_without_functions() {
        assert_eq!(
            references("{{ cidrsubnet(vars.cidr, 8, 1) }}-{{ steps.vpc.vpc_id }}").unwrap(),
            vec!["steps.vpc.vpc_id", "vars.cidr"]
        );
        assert_eq!(
            references("{% for x in vars.items %}{{ x }}{% endfor %}").unwrap(),
            vec!["vars.items"]
        );
    }

    #[test]
    fn syntax_errors_have_a_range_in_the_original_string() {
        let e = references("{{ vars.a + }}").unwrap_err();
        assert!(e.message.starts_with("syntax error"), "{}", e.message);
        assert!(e.range.is_some());
    }

    #[test]
    fn a_lone_expression_keeps_its_type() {
        let ctx = json!({"steps": {"web": {"ids": ["i-1", "i-2"]}}, "vars": {"n": 2}});
        assert_eq!(
            render_str("{{ steps.web.ids }}", &ctx).unwrap(),
            json!(["i-1", "i-2"])
        );
        assert_eq!(render_str("{{ vars.n + 1 }}", &ctx).unwrap(), json!(3));
        assert_eq!(render_str("n={{ vars.n }}", &ctx).unwrap(), json!("n=2"));
        assert!(
            render_str("{{ vars.missing }}", &ctx).is_err(),
            "undefined is an error"
        );
    }
}
