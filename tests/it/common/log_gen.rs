//! A deterministic generator of mixed engine and LMCache log lines, shared by the
//! log parser tests and `benches/logs.rs` (which includes this file by path).
//!
//! About one line in four belongs to a category of `rules/lmcache/logs.yaml`
//! (stores, retrieves, P2P, disaggregated prefill, connectors, OTel start-up…);
//! the rest are the throughput, scheduler and HTTP lines that make up most of a
//! real log. LMCache lines carry the ANSI colours LMCache writes; a few lines hold
//! non-ASCII text, secrets to redact or a `PYTHONHASHSEED`.

/// Lines that match a category (or a value), with `{n}` for a number.
const MATCHING: &[&str] = &[
    "Stored {n} tokens in 0.012 seconds",
    "Retrieved {n} tokens in 0.004 seconds",
    "Retrieved {n} tokens from the “warm” tier in 40 µs",
    "Storing KV cache for request cmpl-{n} (chunk 3/8)",
    "LMCache lookup hit for {n} tokens",
    "Prefetch of {n} chunks completed",
    "LMCache ZMQ cache server is running on 0.0.0.0:5555",
    "OTel MeterProvider initialised with Prometheus fallback (http://0.0.0.0:9090/metrics)",
    "OTel TracerProvider initialized",
    "kv_transfer_config: {\"kv_connector\":\"LMCacheConnectorV1\",\"kv_role\":\"kv_both\"}",
    "kv_transfer_config: {\"kv_connector\":\"LMCacheMPConnector\"}",
    "p2p transfer sent {n} tokens to peer 10.0.0.2",
    "p2p connected to controller at 10.0.0.9:8100",
    "p2p transfer failed: connection refused (attempt {n})",
    "NIXL agent registered as KV producer (sender) for prefill",
    "disaggregated decode receiver ready (kv_consumer)",
    "role mismatch: expected prefill got decode",
    "prefill stalled waiting for KV from decode for {n} ms",
    "Timeout raised (LookupTimeout): lookup took too long",
    "Cache cleared via HTTP API",
    "LookupHashLoggingSubscriber started at /var/log/lmcache/lookup",
    "launch: PYTHONHASHSEED={s} vllm serve m --api-key sk-GENSECRET{n} --port 8000",
];

/// Lines that match nothing.
const OTHER: &[&str] = &[
    "Engine 000: Avg prompt throughput: {n}.4 tokens/s, Avg generation throughput: 61.2 tokens/s, Running: 12 reqs, Waiting: 0 reqs, GPU KV cache usage: 45.6%, CPU KV cache usage: 0.0%",
    "127.0.0.1:{n} - \"POST /v1/completions HTTP/1.1\" 200 OK",
    "Scheduled {n} requests, preempted 0, batch size 32",
    "Received request cmpl-{n}: prompt: 'Summarise the following document', params: SamplingParams(n=1, temperature=0.7, top_p=0.95, max_tokens=256)",
    "Finished request cmpl-{n} in 1.93 s",
    "Loading safetensors checkpoint shards: {n}% Completed | 4/4 [00:03<00:00, 1.02it/s]",
    "Memory profiling: model weights take 14.99GiB; non_torch_memory takes 0.21GiB; PyTorch activation peak memory takes 1.17GiB",
    "GC took {n} µs — heap 1.2 GiB",
    "health check from 10.0.0.7: ok (latency {n} ms)",
];

/// Yields log lines one at a time; the same seed gives the same log.
pub struct LogGen {
    state: u64,
    line: u64,
    /// End lines with `\r\n`.
    pub crlf: bool,
}

impl LogGen {
    pub fn new(seed: u64) -> Self {
        LogGen {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            line: 0,
            crlf: false,
        }
    }

    fn next(&mut self) -> u64 {
        self.state = self
            .state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.state >> 33
    }

    /// Appends one line, its ending included.
    pub fn line(&mut self, out: &mut Vec<u8>) {
        use std::io::Write as _;
        self.line += 1;
        let r = self.next();
        let n = r % 4096;
        let (text, lmcache) = if r.is_multiple_of(4) {
            (MATCHING[(r / 4) as usize % MATCHING.len()], true)
        } else {
            (OTHER[(r / 4) as usize % OTHER.len()], r.is_multiple_of(3))
        };
        // Mostly one seed, now and then another: a fleet that disagrees.
        let seed = if r.is_multiple_of(97) { 1 } else { 0 };
        let msg = text
            .replace("{n}", &n.to_string())
            .replace("{s}", &seed.to_string());
        let (s, ms) = (self.line / 1000 % 60, self.line % 1000);
        let _ = if lmcache {
            write!(
                out,
                "\x1b[32m[2026-11-20 10:00:{s:02},{ms:03}] LMCache INFO:\x1b[0m {msg} \x1b[3m(worker.py:{n}:lmcache)\x1b[0m"
            )
        } else {
            write!(out, "INFO 11-20 10:00:{s:02} [engine.py:{n}] {msg}")
        };
        out.extend_from_slice(if self.crlf { b"\r\n" } else { b"\n" });
    }

    /// At least `bytes` of log.
    pub fn log(&mut self, bytes: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes + 512);
        while out.len() < bytes {
            self.line(&mut out);
        }
        out
    }
}
