//! Where rendered output goes: stdout, or `--output FILE` written atomically; and
//! whether colour is allowed (a terminal, and no `NO_COLOR`).

use anyhow::Context as _;
use std::io::{IsTerminal as _, Write as _};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Markdown,
}

/// The output flags every report command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct OutputArgs {
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Same as `--format json`.
    #[arg(long)]
    pub json: bool,
    /// Write the report here (atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

impl OutputArgs {
    /// `--json` is shorthand for `--format json`; an explicit `--format` wins.
    pub fn format(&self) -> Format {
        self.format.unwrap_or(if self.json {
            Format::Json
        } else {
            Format::Human
        })
    }

    /// Colour for the human format: to a terminal only, never to a file.
    pub fn color(&self) -> bool {
        self.output.is_none() && color_allowed()
    }

    /// Writes the rendered report where the flags say. A JSON report comes from
    /// [`crate::report::to_sorted_json`], which redacted every string of it; the
    /// text forms are redacted here.
    pub fn emit(&self, text: &str) -> anyhow::Result<()> {
        match self.format() {
            Format::Json => write_out(text, self.output.as_deref()),
            _ => emit(text, self.output.as_deref()),
        }
    }
}

pub fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// Writes text to the file (atomically) or to stdout, secrets redacted (idempotent
/// on JSON that [`crate::report::to_sorted_json`] already redacted).
pub fn emit(text: &str, output: Option<&Path>) -> anyhow::Result<()> {
    write_out(&crate::redact::text_cow(text), output)
}

/// Writes text that is already redacted to the file (atomically) or to stdout.
fn write_out(text: &str, output: Option<&Path>) -> anyhow::Result<()> {
    match output {
        Some(path) => crate::packet::write_atomic(path, text.as_bytes())
            .with_context(|| format!("{}: cannot write output", path.display())),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(())
        }
    }
}

/// One line on stderr, `warning: …`, secrets redacted.
pub fn warn(message: &str) {
    eprintln!("warning: {}", crate::redact::line(message));
}
