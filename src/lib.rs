//! inferguard reads the telemetry of LLM serving stacks, works out what is running
//! and how well it is observed, and diagnoses problems with versioned YAML rule
//! packs evaluated over normalized evidence.
//!
//! The pipeline runs one way: [`evidence`] (parsers) → [`normalize`] (series index,
//! signals) → [`eval`] (rule packs from [`pack`], expressions from [`expr`]) →
//! [`report`] (outcomes and renderers). [`cli`] is the only module that touches the
//! terminal.

pub mod cli;
pub mod deployment;
pub mod eval;
pub mod evidence;
pub mod expr;
pub mod normalize;
pub mod number;
pub mod pack;
pub mod packet;
pub mod redact;
pub mod report;
pub mod summary;
