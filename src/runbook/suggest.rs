//! "Did you mean …?" by edit distance.

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
pub fn closest<'a, I, S>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a S>,
    S: AsRef<str> + ?Sized + 'a,
{
    let lower = word.to_lowercase();
    let folded = fold(word);
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(AsRef::as_ref)
        .filter(|c| !c.is_empty() && *c != word)
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), c))
        // A close spelling, the same word in other case, an abbreviation (`int` for `integer`),
        // the same word in another casing (`VpcId` for `vpc_id`), or the word with more after it,
        // as the AWS API names things (`cidr_block` or `CidrBlock` for `cidr`).
        .filter(|(d, c)| {
            let c_folded = fold(c);
            *d <= limit
                || c.to_lowercase() == lower
                || (lower.chars().count() >= 3 && c.to_lowercase().starts_with(&lower))
                || c_folded == folded
                || (c_folded.chars().count() >= 3 && folded.starts_with(&c_folded))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Lower case without `_` and `-`: `VpcId`, `vpc-id` and `vpc_id` fold alike.
pub fn fold(word: &str) -> String {
    word.chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
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
    joined(items, "and")
}

/// `a`, `a` or `b`, `a`, `b` or `c`: the choices among them.
pub fn either<S: AsRef<str>>(items: &[S]) -> String {
    joined(items, "or")
}

fn joined<S: AsRef<str>>(items: &[S], last_word: &str) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("`{}`", s.as_ref())).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {last_word} {last}", init.join(", ")),
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
    fn aws_api_spellings_find_the_parameter_they_mean() {
        let params = [
            "vpc_id",
            "cidr",
            "availability_zone",
            "public",
            "name",
            "tags",
        ];
        for (written, meant) in [
            ("cidr_block", "cidr"),
            ("CidrBlock", "cidr"),
            ("VpcId", "vpc_id"),
            ("vpc-id", "vpc_id"),
            ("AvailabilityZone", "availability_zone"),
            ("avail", "availability_zone"),
            ("nmae", "name"),
        ] {
            assert_eq!(
                closest(written, params.iter().copied()),
                Some(meant),
                "{written}"
            );
        }
        // A word that only shares a short start with a parameter is not taken for it.
        assert_eq!(
            closest("pubkey", ["public", "vpc_id"].iter().copied()),
            None
        );
        assert_eq!(closest("ta", ["tags"].iter().copied()), None);
    }

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
