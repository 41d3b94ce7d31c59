//! Questions to a person, only ever on a terminal. Without one (or with `--yes`) nothing is asked
//! and the caller decides what no answer means: nothing waits for input that cannot come.

use std::io::{BufRead, IsTerminal, Write};

use crate::engine::action::Ask;

pub struct TerminalAsk {
    interactive: bool,
}

impl TerminalAsk {
    /// Asks only when both stdin and stderr are terminals.
    pub fn new() -> Self {
        TerminalAsk {
            interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
        }
    }

    /// Never asks.
    pub fn never() -> Self {
        TerminalAsk { interactive: false }
    }

    pub fn interactive(&self) -> bool {
        self.interactive
    }

    /// A line of text, or `None` without a terminal (or at end of input).
    pub fn line(&self, prompt: &str) -> Option<String> {
        if !self.interactive {
            return None;
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{prompt} ");
        let _ = err.flush();
        let mut answer = String::new();
        match std::io::stdin().lock().read_line(&mut answer) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(answer.trim().to_owned()),
        }
    }
}

impl Default for TerminalAsk {
    fn default() -> Self {
        TerminalAsk::new()
    }
}

impl Ask for TerminalAsk {
    fn confirm(&self, question: &str, default: bool) -> Option<bool> {
        let choices = if default { "[Y/n]" } else { "[y/N]" };
        loop {
            let answer = self.line(&format!("{question} {choices}"))?;
            match answer.to_lowercase().as_str() {
                "" => return Some(default),
                "y" | "yes" => return Some(true),
                "n" | "no" => return Some(false),
                _ => eprintln!("Please answer yes or no."),
            }
        }
    }
}
