//! "Did you mean …?" by edit distance.

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
pub fn closest<'a, I, S>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a S>,
    S: AsRef<str> + ?Sized + 'a,
{
    let lower = word.to_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(AsRef::as_ref)
        .filter(|c| !c.is_empty() && *c != word)
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), c))
        // A close spelling, the same word in other case, or an abbreviation (`int` for `integer`).
        .filter(|(d, c)| {
            let c = c.to_lowercase();
            *d <= limit || c == lower || (lower.chars().count() >= 3 && c.starts_with(&lower))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `did you mean `x`?` for a help line, when there is a close candidate.
pub fn did_you_mean<'a, I, S>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a S>,
    S: AsRef<str> + ?Sized + 'a,
{
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// `a`, `a` and `b`, `a`, `b` and `c` (each quoted in backticks).
pub fn list<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("`{}`", s.as_ref())).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// `1 error`, `2 errors`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `an A`, `a CNAME`, `an MX`, `a record`: the word with its article. A word in capitals is read
/// letter by letter, as DNS record types are (`an NS`, `a TXT`).
pub fn a_or_an(word: &str) -> String {
    let first = word.chars().next().unwrap_or(' ');
    let spelled = word.len() > 1 && word.chars().all(|c| !c.is_lowercase());
    let an = if spelled {
        "AEFHILMNORSX".contains(first)
    } else {
        "aeiouAEIOU".contains(first)
    };
    format!("{} {word}", if an { "an" } else { "a" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_article_follows_how_the_word_is_said() {
        for (word, said) in [
            ("A", "an A"),
            ("AAAA", "an AAAA"),
            ("MX", "an MX"),
            ("NS", "an NS"),
            ("CNAME", "a CNAME"),
            ("TXT", "a TXT"),
            ("record", "a record"),
            ("instance", "an instance"),
        ] {
            assert_eq!(a_or_an(word), said);
        }
    }

    #[test]
    fn suggests_close_names_only() {
        let names = ["aws.ec2.create_vpc", "aws.ec2.create_subnet", "core.note"];
        assert_eq!(
            closest("aws.ec2.create_vcp", &names),
            Some("aws.ec2.create_vpc")
        );
        assert_eq!(closest("core.nte", &names), Some("core.note"));
        assert_eq!(closest("completely.different", &names), None);
        assert_eq!(closest("NEEDS", &["needs"]), Some("needs"));
        assert_eq!(
            closest("int", &["string", "integer", "boolean"]),
            Some("integer")
        );
        assert_eq!(closest("in", &["string", "integer"]), None);
    }

    #[test]
    fn lists_and_counts_read_naturally() {
        assert_eq!(list(&["a"]), "`a`");
        assert_eq!(list(&["a", "b", "c"]), "`a`, `b` and `c`");
        assert_eq!(count(1, "error"), "1 error");
        assert_eq!(count(3, "error"), "3 errors");
    }
}
