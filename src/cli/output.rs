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

/// `--json` is shorthand for `--format json`; an explicit `--format` wins.
pub fn choose(format: Option<Format>, json: bool) -> Format {
    format.unwrap_or(if json { Format::Json } else { Format::Human })
}

pub fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// Writes text to the file (atomically) or to stdout.
pub fn emit(text: &str, output: Option<&Path>) -> anyhow::Result<()> {
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
