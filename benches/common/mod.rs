//! Deterministic generator of fleet-sized `/metrics` expositions for benchmarks.
//!
//! A Rust port, in spirit, of `shared/tools/gen_exposition.py`: per simulated
//! endpoint (one host running one model), vLLM v1 engine families (gauges,
//! `_total` counters, histograms with vLLM's own bucket lists, labels
//! `endpoint`, `model_name`, `engine` and `finished_reason`), LMCache MP server
//! families (labels `endpoint`, `cache_salt`, `model_name`) and Dynamo frontend
//! families (labels `endpoint`, `model`). After every counter and histogram
//! family comes the `<base>_created` gauge family prometheus_client writes.
//! All samples of a family sit under one `# HELP`/`# TYPE` pair, as a
//! federating scraper would return N targets. About 250 KB per endpoint.
//!
//! [`generate_timeline`] writes successive scrapes of the same endpoints (each
//! endpoint's own exposition, without the `endpoint` label, as the Python
//! generator's `--timeline K --jsonl` rows): counters and histograms only grow.
//!
//! Output is a pure function of the arguments, and an endpoint's content
//! depends only on (seed, endpoint index, scrape), never on how many are
//! written. It does not reproduce the Python generator byte for byte.

#![allow(dead_code)] // each bench uses the part it needs

use std::fmt::Write;

/// An exposition of `endpoints` endpoints.
pub fn generate_fleet(endpoints: usize, seed: u64) -> String {
    let eps: Vec<Rendered> = (0..endpoints)
        .map(|i| Endpoint::new(seed, i).render(true))
        .collect();
    assemble(&eps)
}

/// The smallest whole number of endpoints whose exposition has at least
/// `bytes` bytes (at least one endpoint).
pub fn generate_to_size(bytes: usize, seed: u64) -> String {
    generate_to_size_counted(bytes, seed).0
}

/// [`generate_to_size`] and how many endpoints it wrote.
pub fn generate_to_size_counted(bytes: usize, seed: u64) -> (String, usize) {
    let families = families();
    let mut total: usize = families
        .iter()
        .map(|f| headers(f).0.len() + headers(f).1.len())
        .sum();
    let mut eps = Vec::new();
    while total < bytes || eps.is_empty() {
        let r = Endpoint::new(seed, eps.len()).render(true);
        total += r.iter().map(|(a, b)| a.len() + b.len()).sum::<usize>();
        eps.push(r);
    }
    (assemble(&eps), eps.len())
}

/// Seconds between two scrapes of a timeline.
pub const SCRAPE_INTERVAL_S: f64 = 15.0;

/// One scrape of one endpoint in a timeline, as `gen_exposition.py --timeline K
/// --jsonl` writes a row: the endpoint's own exposition, without the `endpoint`
/// label.
pub struct TimelineRow {
    pub scrape: usize,
    /// Unix seconds.
    pub time: f64,
    /// `10.a.b.c:8000`.
    pub endpoint: String,
    pub text: String,
}

/// `scrapes` scrapes of `endpoints` endpoints, [`SCRAPE_INTERVAL_S`] apart, rows
/// in scrape order then endpoint order (as the Python generator writes them):
/// between scrapes counters and histograms only grow (one interval of traffic)
/// and gauges are drawn again.
pub fn generate_timeline(endpoints: usize, scrapes: usize, seed: u64) -> Vec<TimelineRow> {
    let mut eps: Vec<Endpoint> = (0..endpoints).map(|i| Endpoint::new(seed, i)).collect();
    let mut rows = Vec::with_capacity(endpoints * scrapes);
    for k in 0..scrapes {
        for ep in &mut eps {
            if k > 0 {
                ep.advance(1.0);
            }
            rows.push(TimelineRow {
                scrape: k,
                time: BASE_TS + k as f64 * SCRAPE_INTERVAL_S,
                endpoint: ep.address.clone(),
                text: assemble(&[ep.render(false)]),
            });
        }
    }
    rows
}

/// Per family, the endpoint's sample lines and its `_created` lines.
type Rendered = Vec<(String, String)>;

fn assemble(eps: &[Rendered]) -> String {
    let families = families();
    let size = eps
        .iter()
        .flat_map(|r| r.iter().map(|(a, b)| a.len() + b.len()))
        .sum::<usize>();
    let mut out = String::with_capacity(size + families.len() * 256);
    for (f, fam) in families.iter().enumerate() {
        let (head, created_head) = headers(fam);
        out.push_str(&head);
        for ep in eps {
            out.push_str(&ep[f].0);
        }
        if !created_head.is_empty() {
            out.push_str(&created_head);
            for ep in eps {
                out.push_str(&ep[f].1);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Families
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Clone, Copy, PartialEq)]
enum Scope {
    Vllm,
    VllmReason,
    Lmc,
    Dyn,
}

struct Fam {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    scope: Scope,
    buckets: Vec<f64>,
    /// (lo, hi) for gauges and counter increments; lognormal (mu, sigma) of
    /// observations for histograms.
    dist: (f64, f64),
}

// vLLM v1 (vllm/v1/metrics/loggers.py)
const TTFT: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];
const TPOT: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
];
const REQUEST_LATENCY: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];
const PREFILL_TOKEN: &[f64] = &[0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0];
const ITERATION_TOKENS: &[f64] = &[
    1.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0,
];
const PARAMS_N: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0];
// LMCache MP and Dynamo: plausible lists, not copied from either project.
const LMC_SECONDS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];
const LMC_GBS: &[f64] = &[0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0];
const LMC_CHUNKS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];
const DYN_SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];
const DYN_TOKENS: &[f64] = &[
    16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 131072.0,
];

const MODELS: &[&str] = &[
    "meta-llama/Llama-3.1-8B-Instruct",
    "meta-llama/Llama-3.3-70B-Instruct",
    "Qwen/Qwen3-32B",
    "Qwen/Qwen2.5-7B-Instruct",
    "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
    "mistralai/Mistral-Small-3.1-24B-Instruct-2503",
    "google/gemma-3-27b-it",
    "openai/gpt-oss-120b",
];
const FINISH_REASONS: &[(&str, f64)] = &[
    ("stop", 1.0),
    ("length", 0.25),
    ("abort", 0.02),
    ("error", 0.002),
];
/// Hit counters grow as a fraction of their query counter.
const HIT_OF: &[(&str, &str)] = &[
    (
        "vllm:prefix_cache_hits_total",
        "vllm:prefix_cache_queries_total",
    ),
    (
        "vllm:external_prefix_cache_hits_total",
        "vllm:external_prefix_cache_queries_total",
    ),
    (
        "lmcache_mp_lookup_hit_tokens_total",
        "lmcache_mp_lookup_requested_tokens_total",
    ),
];
const BASE_TS: f64 = 1_760_000_000.0;

/// vLLM's build_1_2_5_buckets: 1, 2, 5, 10, 20, 50, ... <= max.
fn buckets_1_2_5(max: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut scale = 1.0;
    loop {
        for m in [1.0, 2.0, 5.0] {
            if m * scale > max {
                return out;
            }
            out.push(m * scale);
        }
        scale *= 10.0;
    }
}

#[rustfmt::skip]
fn families() -> Vec<Fam> {
    use Kind::*;
    use Scope::*;
    let b125 = buckets_1_2_5(131_072.0);
    let f = |name, kind, help, scope, buckets: &[f64], dist| Fam {
        name,
        kind,
        help,
        scope,
        buckets: buckets.to_vec(),
        dist,
    };
    vec![
        f("vllm:num_requests_running", Gauge, "Number of requests in model execution batches.", Vllm, &[], (0.0, 256.0)),
        f("vllm:num_requests_waiting", Gauge, "Number of requests waiting to be processed.", Vllm, &[], (0.0, 64.0)),
        f("vllm:kv_cache_usage_perc", Gauge, "KV-cache usage. 1 means 100 percent usage.", Vllm, &[], (0.0, 1.0)),
        f("vllm:prefix_cache_queries_total", Counter, "Prefix cache queries, in terms of number of queried tokens.", Vllm, &[], (2e4, 4e5)),
        f("vllm:prefix_cache_hits_total", Counter, "Prefix cache hits, in terms of number of cached tokens.", Vllm, &[], (5e3, 2e5)),
        f("vllm:external_prefix_cache_queries_total", Counter, "External prefix cache queries from KV connector cross-instance cache sharing, in terms of number of queried tokens.", Vllm, &[], (1e4, 2e5)),
        f("vllm:external_prefix_cache_hits_total", Counter, "External prefix cache hits from KV connector cross-instance cache sharing, in terms of number of cached tokens.", Vllm, &[], (1e3, 1e5)),
        f("vllm:num_preemptions_total", Counter, "Cumulative number of preemption from the engine.", Vllm, &[], (0.0, 3.0)),
        f("vllm:prompt_tokens_total", Counter, "Number of prefill tokens processed.", Vllm, &[], (2e4, 4e5)),
        f("vllm:generation_tokens_total", Counter, "Number of generation tokens processed.", Vllm, &[], (5e3, 1e5)),
        f("vllm:request_success_total", Counter, "Count of successfully processed requests.", VllmReason, &[], (0.0, 40.0)),
        f("vllm:request_prompt_tokens", Histogram, "Number of prefill tokens processed.", Vllm, &b125, (6.5, 1.2)),
        f("vllm:request_generation_tokens", Histogram, "Number of generation tokens processed.", Vllm, &b125, (5.5, 1.0)),
        f("vllm:iteration_tokens_total", Histogram, "Histogram of number of tokens per engine_step.", Vllm, ITERATION_TOKENS, (5.0, 1.5)),
        f("vllm:request_max_num_generation_tokens", Histogram, "Histogram of maximum number of requested generation tokens.", Vllm, &b125, (7.0, 0.8)),
        f("vllm:request_params_n", Histogram, "Histogram of the n request parameter.", Vllm, PARAMS_N, (0.0, 0.3)),
        f("vllm:request_params_max_tokens", Histogram, "Histogram of the max_tokens request parameter.", Vllm, &b125, (7.0, 0.8)),
        f("vllm:time_to_first_token_seconds", Histogram, "Histogram of time to first token in seconds.", Vllm, TTFT, (-2.0, 1.1)),
        f("vllm:time_per_output_token_seconds", Histogram, "Histogram of time per output token in seconds.DEPRECATED: Use vllm:inter_token_latency_seconds instead.", Vllm, TPOT, (-3.5, 0.5)),
        f("vllm:inter_token_latency_seconds", Histogram, "Histogram of inter-token latency in seconds.", Vllm, TPOT, (-3.5, 0.5)),
        f("vllm:request_time_per_output_token_seconds", Histogram, "Histogram of time_per_output_token_seconds per request.", Vllm, TPOT, (-3.4, 0.4)),
        f("vllm:time_per_prefill_token_request_seconds", Histogram, "Time spent per token during prefill  phase in seconds", Vllm, PREFILL_TOKEN, (-6.5, 0.8)),
        f("vllm:e2e_request_latency_seconds", Histogram, "Histogram of e2e request latency in seconds.", Vllm, REQUEST_LATENCY, (1.5, 0.9)),
        f("vllm:request_queue_time_seconds", Histogram, "Histogram of time spent in WAITING phase for request.", Vllm, REQUEST_LATENCY, (-2.5, 1.5)),
        f("vllm:request_inference_time_seconds", Histogram, "Histogram of time spent in RUNNING phase for request.", Vllm, REQUEST_LATENCY, (1.4, 0.9)),
        f("vllm:request_prefill_time_seconds", Histogram, "Histogram of time spent in PREFILL phase for request.", Vllm, REQUEST_LATENCY, (-2.0, 1.0)),
        f("vllm:request_decode_time_seconds", Histogram, "Histogram of time spent in DECODE phase for request.", Vllm, REQUEST_LATENCY, (1.3, 0.9)),
        f("lmcache_mp_lookup_requested_tokens_total", Counter, "Tokens requested in LMCache MP lookups.", Lmc, &[], (1e4, 2e5)),
        f("lmcache_mp_lookup_hit_tokens_total", Counter, "Tokens found in LMCache MP lookups.", Lmc, &[], (1e3, 1e5)),
        f("lmcache_mp_l1_write_keys_total", Counter, "Keys written to the L1 (CPU) tier.", Lmc, &[], (10.0, 400.0)),
        f("lmcache_mp_l1_read_keys_total", Counter, "Keys read from the L1 (CPU) tier.", Lmc, &[], (10.0, 300.0)),
        f("lmcache_mp_l1_read_chunks_total", Counter, "Chunks read from the L1 (CPU) tier.", Lmc, &[], (10.0, 300.0)),
        f("lmcache_mp_l1_evicted_keys_total", Counter, "Keys evicted from the L1 (CPU) tier.", Lmc, &[], (0.0, 100.0)),
        f("lmcache_mp_sm_read_requests_total", Counter, "Storage manager read requests.", Lmc, &[], (5.0, 100.0)),
        f("lmcache_mp_sm_read_succeed_keys_total", Counter, "Storage manager keys read successfully.", Lmc, &[], (10.0, 300.0)),
        f("lmcache_mp_sm_read_failed_keys_total", Counter, "Storage manager keys that failed to read.", Lmc, &[], (0.0, 2.0)),
        f("lmcache_mp_sm_write_requests_total", Counter, "Storage manager write requests.", Lmc, &[], (5.0, 100.0)),
        f("lmcache_mp_sm_write_succeed_keys_total", Counter, "Storage manager keys written successfully.", Lmc, &[], (10.0, 400.0)),
        f("lmcache_mp_sm_write_failed_keys_total", Counter, "Storage manager keys that failed to write.", Lmc, &[], (0.0, 2.0)),
        f("lmcache_mp_l2_store_tasks_total", Counter, "L2 store tasks submitted.", Lmc, &[], (1.0, 50.0)),
        f("lmcache_mp_l2_store_completed_total", Counter, "L2 store tasks completed.", Lmc, &[], (1.0, 50.0)),
        f("lmcache_mp_l2_load_completed_total", Counter, "L2 load tasks completed.", Lmc, &[], (0.0, 30.0)),
        f("lmcache_mp_num_chunks_loaded_total", Counter, "Chunks loaded back into GPU memory.", Lmc, &[], (5.0, 300.0)),
        f("lmcache_mp_event_bus_dropped_events_total", Counter, "Events dropped by the observability event bus.", Lmc, &[], (0.0, 1.0)),
        f("lmcache_mp_l1_memory_usage_bytes", Gauge, "Bytes of L1 (CPU) memory in use.", Lmc, &[], (1e9, 2e11)),
        f("lmcache_mp_active_prefetch_jobs", Gauge, "Prefetch jobs in flight.", Lmc, &[], (0.0, 32.0)),
        f("lmcache_mp_num_inflight_l2_stores", Gauge, "L2 stores in flight.", Lmc, &[], (0.0, 16.0)),
        f("lmcache_mp_num_inflight_l2_loads", Gauge, "L2 loads in flight.", Lmc, &[], (0.0, 16.0)),
        f("lmcache_mp_event_bus_queue_depth", Gauge, "Observability event bus queue depth.", Lmc, &[], (0.0, 1000.0)),
        f("lmcache_mp_l0_l1_store_throughput_GB_per_second", Histogram, "GPU to CPU store throughput in GB/s.", Lmc, LMC_GBS, (2.0, 0.6)),
        f("lmcache_mp_l0_l1_load_throughput_GB_per_second", Histogram, "CPU to GPU load throughput in GB/s.", Lmc, LMC_GBS, (2.3, 0.5)),
        f("lmcache_mp_l1_chunk_lifetime_seconds", Histogram, "Lifetime of L1 chunks before eviction.", Lmc, LMC_SECONDS, (4.0, 1.5)),
        f("lmcache_mp_l1_chunk_reuse_gap_seconds", Histogram, "Time between reuses of an L1 chunk.", Lmc, LMC_SECONDS, (2.0, 1.5)),
        f("lmcache_mp_l0_block_lifetime_seconds", Histogram, "Lifetime of GPU KV blocks tracked by LMCache.", Lmc, LMC_SECONDS, (3.0, 1.2)),
        f("lmcache_mp_event_bus_drain_lag_seconds", Histogram, "Lag between event emission and drain.", Lmc, LMC_SECONDS, (-5.0, 1.0)),
        f("lmcache_mp_real_reuse_gap_chunks", Histogram, "Reuse distance in chunks.", Lmc, LMC_CHUNKS, (3.0, 1.2)),
        f("dynamo_frontend_requests_total", Counter, "Total number of LLM requests processed", Dyn, &[], (5.0, 80.0)),
        f("dynamo_frontend_inflight_requests", Gauge, "Number of inflight requests", Dyn, &[], (0.0, 256.0)),
        f("dynamo_frontend_queued_requests", Gauge, "Number of requests in HTTP processing queue", Dyn, &[], (0.0, 32.0)),
        f("dynamo_frontend_request_duration_seconds", Histogram, "Duration of LLM requests", Dyn, DYN_SECONDS, (1.5, 0.9)),
        f("dynamo_frontend_time_to_first_token_seconds", Histogram, "Time to first token in seconds", Dyn, DYN_SECONDS, (-2.0, 1.1)),
        f("dynamo_frontend_inter_token_latency_seconds", Histogram, "Inter-token latency in seconds", Dyn, DYN_SECONDS, (-3.5, 0.5)),
        f("dynamo_frontend_input_sequence_tokens", Histogram, "Input sequence length in tokens", Dyn, DYN_TOKENS, (6.5, 1.2)),
        f("dynamo_frontend_output_sequence_tokens", Histogram, "Output sequence length in tokens", Dyn, DYN_TOKENS, (5.5, 1.0)),
    ]
}

fn created_name(fam: &Fam) -> String {
    let base = match fam.kind {
        Kind::Counter => fam.name.strip_suffix("_total").unwrap_or(fam.name),
        _ => fam.name,
    };
    format!("{base}_created")
}

/// The family's `# HELP`/`# TYPE` pair, and its `_created` family's (empty
/// for gauges).
fn headers(fam: &Fam) -> (String, String) {
    let kind = match fam.kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Histogram => "histogram",
    };
    let main = format!(
        "# HELP {n} {h}\n# TYPE {n} {kind}\n",
        n = fam.name,
        h = fam.help
    );
    if fam.kind == Kind::Gauge {
        return (main, String::new());
    }
    let c = created_name(fam);
    (
        main,
        format!("# HELP {c} {h}\n# TYPE {c} gauge\n", h = fam.help),
    )
}

// ---------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------

/// splitmix64: small, fast and good enough for synthetic telemetry.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

enum State {
    Scalar(f64),
    /// Non-cumulative bucket counts (the last is above the top bound), sum.
    Hist(Vec<u64>, f64),
}

struct Series {
    /// Rendered labels after `endpoint`, e.g. `model_name="m",engine="0"`.
    labels: String,
    finish_weight: f64,
    state: State,
}

struct Endpoint {
    rng: Rng,
    address: String,
    created: f64,
    load: f64,
    hit_ratio: f64,
    families: Vec<Fam>,
    series: Vec<Vec<Series>>,
}

impl Endpoint {
    fn new(seed: u64, index: usize) -> Self {
        let mut rng =
            Rng(seed.wrapping_mul(0x100_0000_01B3) ^ (index as u64).wrapping_mul(0x9E37_79B9));
        rng.next_u64();
        let address = format!(
            "10.{}.{}.{}:8000",
            (index >> 16) & 255,
            (index >> 8) & 255,
            index & 255
        );
        let model = rng.pick(MODELS);
        let engines = rng.pick(&[1, 1, 2, 2, 4, 8]);
        let tenants = rng.pick(&[1, 2, 3, 4, 6, 8]);
        let mut salts = vec![String::new()];
        for _ in 1..tenants {
            salts.push(format!("tenant-{:08x}", rng.next_u64() as u32));
        }
        let created = BASE_TS - rng.uniform(3600.0, 86400.0 * 3.0);
        let load = rng.uniform(0.2, 1.5);
        let hit_ratio = rng.uniform(0.05, 0.9);
        let families = families();
        let series = families
            .iter()
            .map(|fam| {
                let mut sets: Vec<(String, f64)> = Vec::new();
                match fam.scope {
                    Scope::Vllm => {
                        for e in 0..engines {
                            sets.push((format!("model_name=\"{model}\",engine=\"{e}\""), 1.0));
                        }
                    }
                    Scope::VllmReason => {
                        for e in 0..engines {
                            for &(reason, w) in FINISH_REASONS {
                                sets.push((
                                    format!("model_name=\"{model}\",engine=\"{e}\",finished_reason=\"{reason}\""),
                                    w,
                                ));
                            }
                        }
                    }
                    Scope::Lmc => {
                        for s in &salts {
                            sets.push((format!("cache_salt=\"{s}\",model_name=\"{model}\""), 1.0));
                        }
                    }
                    Scope::Dyn => sets.push((format!("model=\"{model}\""), 1.0)),
                }
                sets.into_iter()
                    .map(|(labels, finish_weight)| Series {
                        labels,
                        finish_weight,
                        state: match fam.kind {
                            Kind::Histogram => State::Hist(vec![0; fam.buckets.len() + 1], 0.0),
                            _ => State::Scalar(0.0),
                        },
                    })
                    .collect()
            })
            .collect();
        let mut ep = Endpoint {
            rng,
            address,
            created,
            load,
            hit_ratio,
            families,
            series,
        };
        // Hours to days of history before the scrape.
        let scale = 240.0 + ep.rng.below(17_041) as f64;
        ep.advance(scale);
        ep
    }

    fn advance(&mut self, scale: f64) {
        let mut last_incs: Vec<(&'static str, Vec<f64>)> = Vec::new();
        for (fam, rows) in self.families.iter().zip(self.series.iter_mut()) {
            let (lo, hi) = fam.dist;
            match fam.kind {
                Kind::Counter => {
                    let of = HIT_OF
                        .iter()
                        .find(|(hit, _)| *hit == fam.name)
                        .and_then(|(_, q)| last_incs.iter().find(|(n, _)| n == q))
                        .map(|(_, incs)| incs.clone());
                    let mut incs = Vec::with_capacity(rows.len());
                    for (j, row) in rows.iter_mut().enumerate() {
                        let mut inc = match &of {
                            Some(q) => {
                                q[j] * (self.hit_ratio * self.rng.uniform(0.8, 1.2)).min(1.0)
                            }
                            None => self.rng.uniform(lo, hi) * self.load * scale,
                        };
                        inc = (inc * row.finish_weight).trunc();
                        incs.push(inc);
                        if let State::Scalar(v) = &mut row.state {
                            *v += inc;
                        }
                    }
                    last_incs.push((fam.name, incs));
                }
                Kind::Gauge => {
                    for row in rows.iter_mut() {
                        let g = self.rng.uniform(lo, hi);
                        row.state = State::Scalar(if hi > 2.0 { g.trunc() } else { g });
                    }
                }
                Kind::Histogram => {
                    let probs = bucket_probs(fam);
                    let mean = (lo + hi * hi / 2.0).exp();
                    for row in rows.iter_mut() {
                        let n = self.rng.uniform(0.0, 12.0) * self.load * scale;
                        if let State::Hist(counts, sum) = &mut row.state {
                            let mut got = 0u64;
                            for (c, p) in counts.iter_mut().zip(&probs) {
                                let k = (n * p + self.rng.unit()) as u64;
                                *c += k;
                                got += k;
                            }
                            *sum += got as f64 * mean * self.rng.uniform(0.8, 1.25);
                        }
                    }
                }
            }
        }
    }

    /// The endpoint's lines, with the `endpoint="ADDRESS"` label first when
    /// `with_endpoint` (a fleet dump), without it for the endpoint's own scrape.
    fn render(&self, with_endpoint: bool) -> Rendered {
        let ep = if with_endpoint {
            format!("endpoint=\"{}\",", self.address)
        } else {
            String::new()
        };
        let created = fmt(round3(self.created));
        self.families
            .iter()
            .zip(&self.series)
            .map(|(fam, rows)| {
                let mut main = String::new();
                let mut made = String::new();
                let les: Vec<String> = fam
                    .buckets
                    .iter()
                    .map(|&b| fmt(b))
                    .chain(std::iter::once("+Inf".to_owned()))
                    .collect();
                for row in rows {
                    let lab = &row.labels;
                    let name = fam.name;
                    match &row.state {
                        State::Scalar(v) => {
                            let _ = writeln!(main, "{name}{{{ep}{lab}}} {}", fmt(*v));
                        }
                        State::Hist(counts, sum) => {
                            let mut cum = 0u64;
                            for (le, c) in les.iter().zip(counts) {
                                cum += c;
                                let _ = writeln!(
                                    main,
                                    "{name}_bucket{{{ep}{lab},le=\"{le}\"}} {}",
                                    fmt(cum as f64)
                                );
                            }
                            let _ = writeln!(main, "{name}_count{{{ep}{lab}}} {}", fmt(cum as f64));
                            let _ = writeln!(main, "{name}_sum{{{ep}{lab}}} {}", fmt(*sum));
                        }
                    }
                    if fam.kind != Kind::Gauge {
                        let c = created_name(fam);
                        let _ = writeln!(made, "{c}{{{ep}{lab}}} {created}");
                    }
                }
                (main, made)
            })
            .collect()
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Probability mass of each bucket (the last: above the top bound) for the
/// family's lognormal observations.
fn bucket_probs(fam: &Fam) -> Vec<f64> {
    let (mu, sigma) = fam.dist;
    let cdf = |x: f64| {
        if x <= 0.0 {
            0.0
        } else {
            0.5 * (1.0 + erf((x.ln() - mu) / (sigma * std::f64::consts::SQRT_2)))
        }
    };
    let mut prev = 0.0;
    let mut p: Vec<f64> = fam
        .buckets
        .iter()
        .map(|&b| {
            let c = cdf(b);
            let d = c - prev;
            prev = c;
            d
        })
        .collect();
    p.push(1.0 - prev);
    p
}

/// Abramowitz and Stegun 7.1.26 (error below 1.5e-7), plenty for synthetic data.
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    y.copysign(x)
}

/// Numbers as prometheus_client writes them (Python `repr`, with large
/// values in exponent form).
fn fmt(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let s = if v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    };
    match s.find('.') {
        Some(dot) if v > 0.0 && dot > 6 => {
            let digits = format!("{}{}", &s[1..dot], &s[dot + 1..]);
            let mantissa = format!("{}.{}", &s[..1], digits);
            let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
            format!("{mantissa}e+{:02}", dot - 1)
        }
        _ => s,
    }
}

/// The reference generator the performance bars are defined on.
pub const GENERATOR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/tools/gen_exposition.py"
);

/// Runs `gen_exposition.py --size SIZE --seed 1` into `dir` and reads what it wrote;
/// an error says why it could not (no script, no python3).
pub fn reference_input(dir: &std::path::Path, size: &str) -> Result<Vec<u8>, String> {
    let out = dir.join(format!("expo-{size}.prom"));
    run_generator(dir, &["--size", size, "--seed", "1", "--out"], &out)?;
    std::fs::read(&out).map_err(|e| format!("cannot read {}: {e}", out.display()))
}

/// Runs `gen_exposition.py --endpoints N --timeline K --seed 1 --jsonl FILE` into
/// `dir` and returns the file's path; an error says why it could not.
pub fn reference_timeline(
    dir: &std::path::Path,
    endpoints: usize,
    scrapes: usize,
) -> Result<std::path::PathBuf, String> {
    let out = dir.join(format!("timeline-{endpoints}x{scrapes}.jsonl"));
    let (n, k) = (endpoints.to_string(), scrapes.to_string());
    let args = [
        "--endpoints",
        &n,
        "--timeline",
        &k,
        "--seed",
        "1",
        "--jsonl",
    ];
    run_generator(dir, &args, &out)?;
    Ok(out)
}

fn run_generator(
    dir: &std::path::Path,
    args: &[&str],
    out: &std::path::Path,
) -> Result<(), String> {
    if !std::path::Path::new(GENERATOR).is_file() {
        return Err(format!("{GENERATOR} not found"));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let status = std::process::Command::new("python3")
        .arg(GENERATOR)
        .args(args)
        .arg(out)
        .status()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !status.success() {
        return Err(format!("generator exited with {status}"));
    }
    Ok(())
}

/// Peak resident memory of one run of `bin`, from `/usr/bin/time -f %M` (KiB),
/// when present.
pub fn peak_rss_mb(bin: &str, args: &[String]) -> Option<f64> {
    let o = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(bin)
        .args(args)
        .stdout(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&o.stderr);
    let kib: f64 = text.lines().last()?.trim().parse().ok()?;
    Some(kib * 1024.0 / 1e6)
}
