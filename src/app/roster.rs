//! A class's roster: a CSV with a `student` column, optional `region`, `profile` and `role_arn`
//! columns that say where each lab goes, and the runbook's vars as other columns. Read by
//! `run --class` (each row is a lab) and by `sweep --each` (each row is a place to sweep).

/// Columns that say where a lab goes rather than set a var.
use std::collections::HashMap;
use std::path::Path;

use crate::error::Error;
use crate::runbook::suggest;

const ACCESS_COLUMNS: [&str; 3] = ["region", "profile", "role_arn"];

/// One row of the roster.
#[derive(Clone, Debug, PartialEq)]
pub struct Student {
    pub name: String,
    /// The name as the roster wrote it, where that is not a usable one (`Ann Lee` for
    /// `ann-lee`).
    pub written: Option<String>,
    /// The line of the CSV file it is on.
    pub line: u64,
    /// Vars from the row's other columns (empty cells are left out).
    pub vars: Vec<(String, String)>,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub role_arn: Option<String>,
}

fn roster_error(path: &Path, message: impl Into<String>, help: impl Into<String>) -> Error {
    Error::usage(
        format!("{}: {}", path.display(), message.into()),
        help.into(),
    )
}

/// A name for tags and run ids: letters, digits, `.`, `_`, `-` and `@`, 1 to 64 of them.
fn check_name(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a usable {what} name: use 1 to 64 letters, digits, `.`, `_`, `-` or `@`"
        ))
    }
}

/// The name a student goes by in tags, run ids and `--student`: the roster's own where it is
/// one (`alice`), else the same words in lowercase ASCII joined by `-`, as a spreadsheet
/// writes names (`Ann Lee` is `ann-lee`, `Chloé Martin` `chloe-martin`).
pub fn student_name(written: &str) -> Result<String, String> {
    if check_name("student", written).is_ok() {
        return Ok(written.to_owned());
    }
    let mut slug = slug::slugify(written);
    slug.truncate(64);
    let slug = slug.trim_end_matches('-').to_owned();
    check_name("student", &slug)
        .map(|()| slug)
        .map_err(|_| check_name("student", written).unwrap_err())
}

/// Check a class name (it becomes the `runbook:class` tag).
pub fn parse_class(name: &str) -> Result<String, String> {
    check_name("class", name).map(|()| name.to_owned())
}

/// A `prefix` for names in AWS from a student's name in a class: the name's start (lowercase
/// letters, digits and `-`, from a letter) and 4 hex digits of a hash of class and student, at
/// most 12 characters, so a load balancer's `PREFIX-secondary-alb` stays within AWS's 32, and two
/// classes in one account (or two long names) never share a name.
pub fn prefix_for(class: &str, student: &str) -> String {
    let mut slug: String = student
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    slug = slug.trim_matches('-').to_owned();
    if !slug.starts_with(|c: char| c.is_ascii_lowercase()) {
        slug = format!("s{slug}");
    }
    slug.truncate(7);
    let hash = <sha2::Sha256 as sha2::Digest>::digest(format!("{class}/{student}").as_bytes());
    format!(
        "{}-{:02x}{:02x}",
        slug.trim_end_matches('-'),
        hash[0],
        hash[1]
    )
}

/// Read the roster: a header line with a `student` column, then a row per student.
/// `declared` are the runbook's vars (a column spelled like one is refused with a suggestion,
/// one like none is not read, and a
/// `prefix` is made for each student when the runbook has one); `None` takes every column and
/// only reads where each lab goes (`sweep --each`).
pub fn read_roster(
    path: &Path,
    class: &str,
    declared: Option<&[String]>,
) -> Result<Vec<Student>, Error> {
    let Roster {
        students, problems, ..
    } = read_roster_with_problems(path, class, declared)?;
    if problems.is_empty() {
        return Ok(students);
    }
    let help = problems
        .iter()
        .map(|p| p.help.clone())
        .collect::<Vec<_>>()
        .join("; ");
    Err(roster_error(
        path,
        problems
            .iter()
            .map(Problem::to_string)
            .collect::<Vec<_>>()
            .join("; "),
        help,
    ))
}

/// A problem of the roster, with its line (0: the header line, 1: a column) and how to fix it.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub line: u64,
    pub message: String,
    pub help: String,
}

impl Problem {
    fn new(line: u64, message: impl Into<String>, help: impl Into<String>) -> Self {
        Problem {
            line,
            message: message.into(),
            help: help.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 1 {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

/// Every problem of the roster at once (a bad column, a bad or repeated name, two students
/// with one prefix), with the students it could read; `Err` only when it cannot be read at all.
/// What separates the columns: commas, or what a spreadsheet wrote instead when the header line
/// has no comma (semicolons, as Excel saves "CSV" where the decimal mark is a comma; tabs).
fn delimiter(text: &str) -> u8 {
    let header = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_default();
    if header.contains(',') {
        b','
    } else if header.contains(';') {
        b';'
    } else if header.contains('\t') {
        b'\t'
    } else {
        b','
    }
}

/// The line a record is on, from 1. The reader's own count starts a record after blank or
/// comment lines at the first of them (a student after an empty line was named one line early),
/// so the line is counted from the record's byte offset, past those lines.
fn line_of(text: &str, position: &csv::Position) -> u64 {
    let Some(before) = usize::try_from(position.byte())
        .ok()
        .and_then(|at| text.get(..at))
    else {
        return position.line();
    };
    let skipped = text[before.len()..]
        .lines()
        .take_while(|l| {
            let l = l.trim();
            l.is_empty() || l.starts_with('#')
        })
        .count();
    u64::try_from(before.matches('\n').count() + skipped + 1).unwrap_or(u64::MAX)
}

/// A header as a spreadsheet may write it, folded to the column's own form: `Role ARN` and
/// `role-arn` are `role_arn`.
fn folded(header: &str) -> String {
    header.trim().to_lowercase().replace([' ', '-'], "_")
}

/// The name a header line's cell stands for: itself where it is `student`, an access column or
/// a var of the runbook; else the one of those it names in another case or with spaces or
/// hyphens, as a spreadsheet's export writes them (`Student`, `Role ARN`, `Domain`).
fn column_name(header: &str, declared: &[String]) -> String {
    let known = || {
        std::iter::once("student")
            .chain(ACCESS_COLUMNS.iter().copied())
            .chain(declared.iter().map(String::as_str))
    };
    if known().any(|k| k == header) {
        return header.to_owned();
    }
    let mut alike = known().filter(|k| folded(k) == folded(header));
    match (alike.next(), alike.next()) {
        (Some(one), None) => one.to_owned(),
        _ => header.to_owned(),
    }
}

/// What a roster holds, read whole.
pub struct Roster {
    pub students: Vec<Student>,
    /// Every problem at once, each with its line.
    pub problems: Vec<Problem>,
    /// Columns it does not read: like none of the runbook's vars or the access columns
    /// (`Email`), so not a misspelling of one.
    pub ignored: Vec<String>,
}

pub fn read_roster_with_problems(
    path: &Path,
    class: &str,
    declared: Option<&[String]>,
) -> Result<Roster, Error> {
    let mut problems: Vec<Problem> = Vec::new();
    let mut ignored: Vec<String> = Vec::new();
    let strict = declared.is_some();
    let declared = declared.unwrap_or_default();
    let text = crate::runbook::source::read_text(path, crate::runbook::source::MAX_FILE_BYTES)
        .map_err(|e| {
            roster_error(
                path,
                format!("cannot read it: {e}"),
                "give the path of a CSV file with a `student` column, one row per student",
            )
        })?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .delimiter(delimiter(&text))
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| {
            roster_error(
                path,
                format!("not a CSV file: {e}"),
                "the first line names the columns, for example `student,domain`",
            )
        })?
        .iter()
        .map(|h| column_name(h, declared))
        .collect();
    // A spreadsheet's list of people names its column `Name` as often as `Student`.
    let Some(student_col) = headers.iter().position(|h| h == "student").or_else(|| {
        headers.iter().position(|h| {
            ["name", "student_name", "full_name"].contains(&folded(h).as_str())
                && !declared.contains(h)
        })
    }) else {
        let help = suggest::did_you_mean("student", &headers).map_or_else(
            || {
                "add a `student` column: the first line reads for example `student,domain`"
                    .to_owned()
            },
            |s| format!("name the students' column `student` ({s})"),
        );
        return Err(roster_error(
            path,
            format!("no `student` column (its columns: {})", headers.join(", ")),
            help,
        ));
    };
    for (i, h) in headers.iter().enumerate() {
        if !strict
            || i == student_col
            || ACCESS_COLUMNS.contains(&h.as_str())
            || declared.contains(h)
        {
            continue;
        }
        if headers[..i].contains(h) {
            problems.push(Problem::new(
                0,
                format!("the column `{h}` appears twice"),
                "keep one",
            ));
            continue;
        }
        let mut known: Vec<String> = declared.to_vec();
        known.extend(ACCESS_COLUMNS.iter().map(|c| (*c).to_owned()));
        // A column spelled like one it reads is a mistake; one like no other is the school's
        // own (`Email`), not read.
        let Some(help) = suggest::did_you_mean(h, &known) else {
            ignored.push(h.clone());
            continue;
        };
        problems.push(Problem::new(
            1,
            format!(
                "the column `{h}` is neither a var of the runbook nor one of student, region, profile, role_arn"
            ),
            help,
        ));
    }
    let derive_prefix =
        declared.iter().any(|v| v == "prefix") && !headers.iter().any(|h| h == "prefix");
    let mut students = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut prefixes: HashMap<String, String> = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            roster_error(
                path,
                e.to_string(),
                "every row has as many cells as the header line",
            )
        })?;
        let line = record.position().map_or(0, |p| line_of(&text, p));
        let written = record.get(student_col).unwrap_or_default();
        let name = match student_name(written) {
            Ok(name) => name,
            Err(m) => {
                problems.push(Problem::new(line, m, "fix the student's name"));
                continue;
            }
        };
        if let Some(first) = seen.insert(name.to_lowercase(), line) {
            let named = if name == written {
                format!("`{name}`")
            } else {
                format!("`{name}` (`{written}`)")
            };
            problems.push(Problem::new(
                line,
                format!("the student {named} is already on line {first}"),
                "give each student one row and a name of their own",
            ));
            continue;
        }
        let mut student = Student {
            written: (name != written).then(|| written.to_owned()),
            name: name.clone(),
            line,
            vars: Vec::new(),
            region: None,
            profile: None,
            role_arn: None,
        };
        for (i, (h, cell)) in headers.iter().zip(record.iter()).enumerate() {
            if i == student_col || cell.is_empty() {
                continue;
            }
            match h.as_str() {
                "region" => student.region = Some(cell.to_owned()),
                "profile" => student.profile = Some(cell.to_owned()),
                "role_arn" => student.role_arn = Some(cell.to_owned()),
                _ => {}
            }
            if declared.contains(h) {
                student.vars.push((h.clone(), cell.to_owned()));
            }
        }
        if derive_prefix {
            let prefix = prefix_for(class, &name);
            if let Some(other) = prefixes.insert(prefix.clone(), name.clone()) {
                problems.push(Problem::new(
                    line,
                    format!("`{name}` and `{other}` would both name their resources `{prefix}-…`"),
                    "add a `prefix` column with a different prefix for each of them",
                ));
            }
            student.vars.push(("prefix".into(), prefix));
        }
        students.push(student);
    }
    if students.is_empty() && problems.is_empty() {
        return Err(roster_error(
            path,
            "no students",
            "add a row per student under the header line",
        ));
    }
    Ok(Roster {
        students,
        problems,
        ignored,
    })
}

/// The roster's rows for `sweep --each`: only where each lab went.
pub fn read_places(path: &Path) -> Result<Vec<Student>, Error> {
    read_roster(path, "", None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` as a roster file of its own.
    fn written(text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("roster-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("students.csv");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn roster(text: &str, declared: &[&str]) -> Result<Vec<Student>, String> {
        let path = written(text);
        let declared: Vec<String> = declared.iter().map(|s| (*s).to_owned()).collect();
        read_roster(&path, "spring", Some(&declared)).map_err(|e| match e {
            Error::Usage { message, help } => format!("{message} | {}", help.unwrap_or_default()),
            other => format!("{other:?}"),
        })
    }

    #[test]
    fn a_roster_gives_each_student_vars_access_and_a_prefix() {
        let students = roster(
            "# class of spring\nstudent,domain,region,role_arn\nalice,alice.class.example,eu-west-1,\nbob, bob.class.example ,,arn:aws:iam::123456789012:role/lab\n",
            &["domain", "prefix", "region"],
        )
        .unwrap();
        assert_eq!(students.len(), 2);
        assert_eq!(students[0].name, "alice");
        assert_eq!(students[0].region.as_deref(), Some("eu-west-1"));
        assert!(
            students[0]
                .vars
                .contains(&("region".into(), "eu-west-1".into()))
        );
        assert!(
            students[0]
                .vars
                .contains(&("prefix".into(), prefix_for("spring", "alice")))
        );
        assert_eq!(
            students[1].vars[0],
            ("domain".into(), "bob.class.example".into())
        );
        assert_eq!(
            students[1].role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/lab")
        );
        assert_eq!(students[1].region, None);
        assert_eq!(students[1].line, 4);

        // A spreadsheet's export with semicolons (or tabs), a byte-order mark and CRLF.
        for separated in [
            "\u{feff}student;domain\r\nalice;alice.class.example\r\n",
            "student\tdomain\nalice\talice.class.example\n",
        ] {
            let students = roster(separated, &["domain"]).unwrap();
            assert_eq!(students[0].name, "alice", "{separated:?}");
            assert_eq!(
                students[0].vars[0],
                ("domain".into(), "alice.class.example".into())
            );
        }
    }

    /// A spreadsheet's header line names the columns in its own way: `Student`, `Domain`,
    /// `Role ARN` are the columns they stand for; a column two vars could be is left as written.
    #[test]
    fn headers_in_another_case_or_with_spaces_name_the_columns_they_stand_for() {
        let students = roster(
            "Student,Domain,Role ARN\nalice,alice.class.example,arn:aws:iam::123456789012:role/lab\n",
            &["domain"],
        )
        .unwrap();
        assert_eq!(students[0].name, "alice");
        assert_eq!(
            students[0].vars,
            [("domain".to_owned(), "alice.class.example".to_owned())]
        );
        assert_eq!(
            students[0].role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/lab")
        );
        let declared = ["Zone".to_owned(), "zone".to_owned()];
        assert_eq!(column_name("ZONE", &declared), "ZONE");
        assert_eq!(column_name("Zone", &declared), "Zone");
    }

    /// A list of people as a spreadsheet keeps it: a `Name` column of full names. Each student
    /// goes by the name's words in lowercase ASCII (`Ann Lee` is `ann-lee`), which is what tags,
    /// run ids and `--student` use; two rows that come to one name are refused.
    #[test]
    fn full_names_in_a_name_column_are_students() {
        let text = "Name,Email,Domain\nAnn Lee,ann@school.example,ann.class.example\nChloé  Martin,,c.class.example\nbob,,b.class.example\n";
        let students = roster(text, &["domain"]).unwrap();
        // The school's own column is not read, and said to be: it is spelled like no var.
        let read =
            read_roster_with_problems(&written(text), "spring", Some(&["domain".to_owned()]))
                .unwrap();
        assert_eq!(read.ignored, ["Email"]);
        assert!(read.problems.is_empty());
        let names: Vec<(&str, Option<&str>)> = students
            .iter()
            .map(|s| (s.name.as_str(), s.written.as_deref()))
            .collect();
        assert_eq!(
            names,
            [
                ("ann-lee", Some("Ann Lee")),
                ("chloe-martin", Some("Chloé  Martin")),
                ("bob", None)
            ]
        );
        assert_eq!(
            students[0].vars,
            [("domain".to_owned(), "ann.class.example".to_owned())]
        );
    }

    #[test]
    fn roster_mistakes_are_named_with_their_line_and_a_fix() {
        let domain: &[&str] = &["domain"];
        for (text, declared, said) in [
            (
                "who,domain\nalice,a.example\n",
                domain,
                "no `student` column (its columns: who, domain)",
            ),
            // A var of the runbook called `name` stays a var: the students' column is `student`.
            ("name\nAnn Lee\n", &["name"], "no `student` column"),
            (
                "student,domian\nalice,a.example\n",
                domain,
                "`domian` is neither a var of the runbook nor one of student, region, profile, role_arn | did you mean `domain`",
            ),
            (
                "student\nalice\nAlice\n",
                &[],
                "line 3: the student `Alice` is already on line 2",
            ),
            // Blank and comment lines count: the duplicate is named on its own line.
            (
                "student\nalice\n\n# late joiners\nAlice \n",
                &[],
                "line 5: the student `Alice` is already on line 2",
            ),
            // Two rows that come to one name, as written or not.
            (
                "student\nAnn Lee\nann-lee\n",
                &[],
                "line 3: the student `ann-lee` is already on line 2",
            ),
            (
                "student\nann-lee\nAnn Lee\n",
                &[],
                "line 3: the student `ann-lee` (`Ann Lee`) is already on line 2",
            ),
            (
                "student\n?!\n",
                &[],
                "line 2: `?!` is not a usable student name",
            ),
            ("student,domain\nalice\n", domain, "as many cells"),
            ("student\n", &[], "no students"),
        ] {
            let e = roster(text, declared).unwrap_err();
            assert!(e.contains(said), "{text:?}: {e}");
        }
    }

    #[test]
    fn prefixes_fit_aws_names_and_stay_unique() {
        let alice = prefix_for("spring", "alice");
        assert!(alice.starts_with("alice-") && alice.len() == 10, "{alice}");
        assert_eq!(prefix_for("spring", "alice"), alice, "the same every time");
        assert_ne!(
            prefix_for("autumn", "alice"),
            alice,
            "another class, other names"
        );
        assert!(prefix_for("spring", "Bob.Smith").starts_with("bob-smi"));
        assert!(prefix_for("spring", "42").starts_with("s42-"));
        let a = prefix_for("spring", "alexander-the-great");
        let b = prefix_for("spring", "alexander-the-small");
        assert!(a.len() <= 12 && b.len() <= 12, "{a} {b}");
        assert_ne!(a, b);
        // `PREFIX-secondary-alb`, the longest name the shipped runbook makes, fits in 32.
        assert!(format!("{a}-secondary-alb").len() <= 32);
        let pattern = regex::Regex::new("^[a-z][a-z0-9-]{0,11}$").unwrap();
        for p in [alice, a, b, prefix_for("x", "-")] {
            assert!(
                pattern.is_match(&p),
                "the shipped runbook's prefix pattern: {p}"
            );
        }
    }
}
