//! An action asked for by a name that is not one: the names it has elsewhere (each
//! definition's `also`), a misspelling, or a name without its namespace, as one help line.

use super::{ActionDef, all, names};
use crate::runbook::suggest;

/// The actions known elsewhere by the last part of `written` (`shell` in `core.shell`,
/// `create_instance` in `aws.ec2.create_instance`), or whose summary starts with it in the
/// namespace written (`core.wait`), compared without case, `_`, `-` or a plural `s`:
/// `RunInstances` and `run_instance` are one word. Those in the namespace written first.
fn known_as(written: &str) -> Vec<&'static str> {
    let word = |w: &str| {
        let folded = suggest::fold(w);
        folded
            .strip_suffix('s')
            .map(str::to_owned)
            .unwrap_or(folded)
    };
    let (namespace, ending) = written.rsplit_once('.').unwrap_or(("", written));
    let ending = word(ending);
    let known: Vec<&ActionDef> = all()
        .filter(|def| {
            def.also.iter().any(|a| word(a) == ending)
                // What its summary starts with, in the namespace written: `core.wait`.
                || (!namespace.is_empty()
                    && in_namespace(def, namespace)
                    && def
                        .summary
                        .split_whitespace()
                        .next()
                        .is_some_and(|verb| word(verb) == ending))
        })
        .collect();
    // `route53.zone` is the zone in Route 53, not the zones of EC2, when both are known so.
    let mut names: Vec<&'static str> = known
        .iter()
        .filter(|def| !namespace.is_empty() && in_namespace(def, namespace))
        .map(|def| def.name)
        .collect();
    if names.is_empty() {
        names = known.iter().map(|d| d.name).collect();
    }
    names
}

/// `did you mean …?` for an action name that is not one: a name it has elsewhere (`shell` for
/// `core.exec`), a misspelling, or a name written without its namespace (`sleep` for
/// `core.sleep`, `ec2.create_vpc` for `aws.ec2.create_vpc`).
pub fn unknown_name_help(written: &str) -> Option<String> {
    let known = known_as(written);
    if !known.is_empty() {
        return Some(choices(written, &known));
    }
    let names = names();
    if let Some(help) = suggest::did_you_mean(written, &names) {
        return Some(help);
    }
    // Every ending of every name after a dot, each with the name it ends.
    let endings: Vec<(&str, &str)> = names
        .iter()
        .flat_map(|name| {
            name.match_indices('.')
                .map(move |(at, _)| (&name[at + 1..], *name))
        })
        .collect();
    let ending_is = |test: &dyn Fn(&str) -> bool| -> Vec<&str> {
        let mut found: Vec<&str> = Vec::new();
        for (ending, name) in &endings {
            if test(ending) && !found.contains(name) {
                found.push(name);
            }
        }
        found
    };
    // The whole ending, else the start or a word of one (`wait` for the actions that wait, `vpc`
    // for `aws.ec2.create_vpc`), else a close spelling of one.
    let mut found = ending_is(&|e| e == written);
    if found.is_empty() && written.chars().count() >= 3 {
        found = ending_is(&|e| e.starts_with(written) || e.split('_').any(|w| w == written));
        // An action whose summary starts with the word (`wait`: `core.sleep` waits too).
        for def in all() {
            let verb = def.summary.split_whitespace().next().unwrap_or_default();
            if !written.contains('.')
                && verb.eq_ignore_ascii_case(written)
                && !found.contains(&def.name)
            {
                found.push(def.name);
            }
        }
    }
    if found.is_empty() {
        let ending = suggest::closest(written, endings.iter().map(|(ending, _)| *ending))?;
        found = ending_is(&|e| e == ending);
    }
    (!found.is_empty()).then(|| choices(written, &found))
}

/// Whether `def` is in the namespace written (`route53` or `aws.route53` for
/// `aws.route53.hosted_zone`).
fn in_namespace(def: &ActionDef, namespace: &str) -> bool {
    def.name
        .rsplit_once('.')
        .is_some_and(|(own, _)| own == namespace || own.ends_with(&format!(".{namespace}")))
}

/// One suggestion, or a short list of them, or where to look when there are many.
fn choices(written: &str, found: &[&str]) -> String {
    match found {
        [name] => format!("did you mean `{name}`?"),
        names if names.len() > 6 => format!(
            "{} actions are named or described with `{written}`: `runbook actions` lists them",
            names.len()
        ),
        names => format!(
            "did you mean one of {}? (`runbook actions` lists them all)",
            suggest::either(names)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name from elsewhere never hides one of ours: none is the last part of an action's own
    /// name (written so, it is that action, or a namespace away from it).
    #[test]
    fn names_from_elsewhere_are_not_our_own() {
        let fold = |w: &str| suggest::fold(w);
        let endings: Vec<String> = names()
            .iter()
            .map(|n| fold(n.rsplit('.').next().unwrap_or(n)))
            .collect();
        for def in all() {
            for also in def.also {
                assert!(
                    !endings.contains(&fold(also)),
                    "`{also}` of {} is the name of an action",
                    def.name
                );
                assert!(
                    known_as(also).contains(&def.name),
                    "`{also}` of {} points elsewhere",
                    def.name
                );
            }
        }
    }
}
