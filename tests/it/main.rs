//! The integration tests, as one binary: each module is one area (a command, an
//! evidence parser, the packs, the registry), sharing `common`. One binary links
//! the crate once instead of fifteen times.

mod common;

mod catalogue;
mod cli;
mod collect_lmcache;
mod collect_metrics;
mod deployment;
mod engines;
mod evidence_launch;
mod evidence_lct;
mod evidence_logs;
mod evidence_lookup_hash;
mod evidence_otel;
mod evidence_replay;
mod evidence_schemas;
mod lmcache_compat;
mod lmcache_compat_packs;
mod packs;
mod path_trace;
mod registry;
mod rules_diff;
mod scanner;
mod summary;
