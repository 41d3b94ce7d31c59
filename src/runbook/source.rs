//! Source files and spans.
//!
//! Every file a runbook is made of (the root and each module) is read once into [`Sources`];
//! everything later in the pipeline points back into it with a [`Span`], so a diagnostic can
//! always show `path:line:column` and an excerpt of the text.

use std::path::{Path, PathBuf};

/// Index of a file in [`Sources`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span {
            file,
            start,
            end: end.max(start),
        }
    }

    /// A span of `len` bytes starting `offset` bytes into this one.
    #[must_use]
    pub fn sub(self, offset: usize, len: usize) -> Span {
        let start = (self.start + offset).min(self.end);
        Span::new(
            self.file,
            start,
            (start + len).min(self.end.max(start + len)),
        )
    }
}

/// One loaded file.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The path as the user should see it (relative to the working directory when possible).
    pub display: String,
    /// The canonical path, used to find modules relative to it and to detect cycles.
    pub path: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
}

/// A 1-based line and column (columns count characters, as editors do).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineCol {
    pub line: usize,
    pub column: usize,
}

impl SourceFile {
    pub fn new(display: String, path: PathBuf, text: String) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            display,
            path,
            text,
            line_starts,
        }
    }

    /// Line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        LineCol {
            line: line + 1,
            column,
        }
    }
}

/// All files of one load, indexed by [`FileId`].
#[derive(Clone, Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        FileId(u32::try_from(self.files.len() - 1).expect("fewer than 2^32 files"))
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn find(&self, path: &Path) -> Option<FileId> {
        self.files
            .iter()
            .position(|f| f.path == path)
            .map(|i| FileId(u32::try_from(i).expect("fewer than 2^32 files")))
    }

    /// The text a span covers.
    pub fn text(&self, span: Span) -> &str {
        let text = &self.get(span.file).text;
        text.get(span.start..span.end).unwrap_or("")
    }
}

/// The most a file the tool reads may hold (a runbook, a module, a vars file, a roster).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Read a whole text file of at most `limit` bytes, whatever the path names: a device, a pipe or
/// a socket is refused before it is opened (reading `/dev/zero` never ends; opening a FIFO waits
/// for a writer), and the read stops at `limit` plus one byte, so a file that grows meanwhile (or
/// reports no size) can never make it read more. The error is a sentence, without the path.
pub fn read_text(path: &Path, limit: u64) -> Result<String, String> {
    use std::io::Read as _;
    let meta = std::fs::metadata(path).map_err(|e| io_reason(&e))?;
    let kind = meta.file_type();
    if kind.is_dir() {
        return Err("it is a directory, not a file".to_owned());
    }
    if !kind.is_file() {
        return Err("it is a device, a pipe or a socket, not a file".to_owned());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(|e| io_reason(&e))?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "it is larger than the {} KiB such files are limited to",
            limit / 1024
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "it is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Why a file could not be read, in words.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let f = SourceFile::new("x".into(), "x".into(), "ab\nçd: e\n".into());
        assert_eq!(f.line_col(0), LineCol { line: 1, column: 1 });
        assert_eq!(f.line_col(3), LineCol { line: 2, column: 1 });
        // `ç` is two bytes but one column.
        assert_eq!(f.line_col(6), LineCol { line: 2, column: 3 });
    }
}
