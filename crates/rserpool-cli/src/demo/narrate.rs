//! The demo's voice: one timestamped line per step, and a summary.

use std::fmt::Display;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
pub struct Narrator {
    start: Instant,
}

impl Narrator {
    pub fn new() -> Narrator {
        Narrator {
            start: Instant::now(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// A step of the story.
    pub fn say(&self, what: impl Display) {
        println!("[{:>6.2} s] {what}", self.elapsed().as_secs_f64());
    }

    /// A detail under the last step.
    pub fn detail(&self, what: impl Display) {
        println!("{:>11}{what}", "");
    }
}

/// One thing the demo set out to show, and whether it did.
#[derive(Debug)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// What the demo showed, printed at the end.
#[derive(Debug, Default)]
pub struct Summary {
    pub checks: Vec<Check>,
    pub facts: Vec<String>,
}

impl Summary {
    pub fn check(&mut self, name: &'static str, passed: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            passed,
            detail: detail.into(),
        });
    }

    pub fn fact(&mut self, f: impl Into<String>) {
        self.facts.push(f.into());
    }

    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.passed)
    }

    pub fn print(&self, total: Duration) {
        println!();
        println!("Summary ({:.1} s):", total.as_secs_f64());
        for c in &self.checks {
            let mark = if c.passed { "ok  " } else { "FAIL" };
            println!("  [{mark}] {}: {}", c.name, c.detail);
        }
        for f in &self.facts {
            println!("         {f}");
        }
    }
}
