//! Questions to a person, only ever on a terminal (dialoguer, on stderr). Without one, or with
//! `--yes`, nothing is asked and the caller decides what no answer means: nothing waits for
//! input that cannot come. While a question is open, live spinners are paused.

use std::io::IsTerminal;
use std::sync::Mutex;

use dialoguer::console::Term;
use dialoguer::{Confirm, Input, Password};
use indicatif::MultiProgress;

use crate::engine::action::Ask;

pub struct TerminalAsk {
    interactive: bool,
    /// Spinners to pause while asking.
    progress: Mutex<Option<MultiProgress>>,
}

impl TerminalAsk {
    /// Asks only when both stdin and stderr are terminals.
    pub fn new() -> Self {
        TerminalAsk {
            interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
            progress: Mutex::new(None),
        }
    }

    /// Never asks.
    pub fn never() -> Self {
        TerminalAsk {
            interactive: false,
            progress: Mutex::new(None),
        }
    }

    pub fn interactive(&self) -> bool {
        self.interactive
    }

    /// Pause these spinners while a question is open.
    pub fn attach(&self, multi: MultiProgress) {
        *self.progress.lock().expect("never poisoned") = Some(multi);
    }

    fn paused<R>(&self, f: impl FnOnce() -> R) -> R {
        let progress = self.progress.lock().expect("never poisoned").clone();
        match progress {
            Some(multi) => multi.suspend(f),
            None => f(),
        }
    }

    /// A value typed by the person, checked by `check` as they go (a bad value is asked again);
    /// `secret` hides what is typed. `None` without a terminal, or when input ends.
    pub fn input(
        &self,
        prompt: &str,
        default: Option<&str>,
        secret: bool,
        check: &dyn Fn(&str) -> Result<(), String>,
    ) -> Option<String> {
        if !self.interactive {
            return None;
        }
        self.paused(|| {
            let term = Term::stderr();
            if secret {
                loop {
                    let value = Password::new()
                        .with_prompt(prompt)
                        .interact_on(&term)
                        .ok()?;
                    match check(&value) {
                        Ok(()) => return Some(value),
                        Err(e) => {
                            let _ = term.write_line(&format!("{e}; try again."));
                        }
                    }
                }
            }
            let mut input = Input::<String>::new()
                .with_prompt(prompt)
                .validate_with(|v: &String| check(v));
            if let Some(d) = default {
                input = input.default(d.to_owned());
            }
            input.interact_text_on(&term).ok()
        })
    }
}

impl Default for TerminalAsk {
    fn default() -> Self {
        TerminalAsk::new()
    }
}

impl Ask for TerminalAsk {
    fn confirm(&self, question: &str, default: bool) -> Option<bool> {
        if !self.interactive {
            return None;
        }
        self.paused(|| {
            Confirm::new()
                .with_prompt(question)
                .default(default)
                .interact_on(&Term::stderr())
                .ok()
        })
    }
}
