//! Engine packs against evidence: which systems each fixture is detected as, that
//! legacy spellings still read (as `Spelling::Legacy`), that every signal of every
//! engine pack is exercised by some fixture, and conformance over the real Dynamo
//! captures in `../shared/upstream-samples/dynamo/`.

use inferguard::eval::detect;
use inferguard::evidence::prometheus::{parse, Exposition, ParseOptions};
use inferguard::normalize::{compute_signal, RankVar, SeriesIndex, SignalValue, Spelling};
use inferguard::pack::Registry;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CAPTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/upstream-samples/dynamo"
);

fn registry() -> Registry {
    Registry::load_strict(&[]).unwrap_or_else(|e| {
        let all: Vec<String> = e.0.iter().map(ToString::to_string).collect();
        panic!("shipped packs do not load:\n{}", all.join("\n"))
    })
}

fn read(path: &Path) -> Exposition {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse(&bytes, &ParseOptions::default())
}

fn fixture(rel: &str) -> Exposition {
    read(&Path::new(ROOT).join(rel))
}

fn from_text(text: &str) -> Exposition {
    parse(text.as_bytes(), &ParseOptions::default())
}

/// Detected engine ids, after checking every confidence is in (0, 1].
fn detected(registry: &Registry, expo: &Exposition) -> BTreeSet<String> {
    let index = SeriesIndex::new(expo);
    detect(registry, &index)
        .into_iter()
        .map(|d| {
            assert!(
                d.confidence > 0.0 && d.confidence <= 1.0,
                "{}: confidence {} out of (0, 1]",
                d.id,
                d.confidence
            );
            assert!(
                !d.evidence.is_empty(),
                "{}: detected without evidence",
                d.id
            );
            d.id
        })
        .collect()
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn signal(registry: &Registry, engine: &str, name: &str, expo: &Exposition) -> Option<SignalValue> {
    let rule = registry
        .engine(engine)
        .unwrap_or_else(|| panic!("no engine `{engine}`"));
    let spec = rule
        .signals
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("engine `{engine}` has no signal `{name}`"));
    compute_signal(spec, &SeriesIndex::new(expo))
}

/// Every fixture this file owns, and the exact set of systems it must be detected as.
const FIXTURES: &[(&str, &[&str])] = &[
    ("fixtures/evidence/sglang/healthy.prom", &["sglang"]),
    ("fixtures/evidence/sglang/pressure.prom", &["sglang"]),
    ("fixtures/evidence/sglang/pd-decode.prom", &["sglang"]),
    ("fixtures/evidence/sglang/legacy-tpot.prom", &["sglang"]),
    (
        "fixtures/evidence/lmcache-embedded/internal-api.prom",
        &["lmcache_embedded"],
    ),
    (
        "fixtures/evidence/lmcache-embedded/underscore-legacy.prom",
        &["lmcache_embedded"],
    ),
    ("fixtures/evidence/lmcache-mp/server.prom", &["lmcache_mp"]),
    (
        "fixtures/evidence/lmcache-mp/server-l2-blend.prom",
        &["lmcache_mp"],
    ),
    (
        "fixtures/evidence/lmcache-mp/fresh-server.prom",
        &["lmcache_mp"],
    ),
    (
        "fixtures/evidence/lmcache-mp/legacy-sm.prom",
        &["lmcache_mp"],
    ),
    (
        "fixtures/evidence/lmcache-mp/legacy-colon.prom",
        &["lmcache_mp"],
    ),
    (
        "fixtures/evidence/lmcache-mp/vllm-mp-connector.prom",
        &["vllm", "lmcache_mp"],
    ),
    (
        "fixtures/evidence/lmcache-coordinator/coordinator.prom",
        &["lmcache_coordinator"],
    ),
    (
        "fixtures/evidence/lmcache-coordinator/deprecated-twins.prom",
        &["lmcache_coordinator"],
    ),
    (
        "fixtures/evidence/dynamo/frontend.prom",
        &["dynamo_frontend"],
    ),
    (
        "fixtures/evidence/dynamo/frontend-router.prom",
        &["dynamo_frontend", "dynamo_router"],
    ),
    (
        "fixtures/evidence/dynamo/frontend-nv-llm-legacy.prom",
        &["dynamo_frontend"],
    ),
    (
        "fixtures/evidence/dynamo/component.prom",
        &["dynamo_component"],
    ),
    (
        "fixtures/evidence/dynamo/component-kvstats-legacy.prom",
        &["dynamo_component"],
    ),
    ("fixtures/evidence/kvbm/kvbm.prom", &["kvbm"]),
    ("fixtures/evidence/kvbm/stale-names.prom", &["kvbm"]),
    ("fixtures/evidence/llmd/epp.prom", &["llmd_epp"]),
    ("fixtures/evidence/llmd/epp-gie-legacy.prom", &["llmd_epp"]),
    (
        "fixtures/evidence/llmd/kv-indexer.prom",
        &["llmd_kv_indexer"],
    ),
    ("fixtures/evidence/vllm/pd-decode-nixl.prom", &["vllm"]),
    (
        "fixtures/evidence/vllm/healthy-window/1765000000.prom",
        &["vllm"],
    ),
    (
        "fixtures/evidence/vllm/healthy-window/1765000060.prom",
        &["vllm"],
    ),
    (
        "fixtures/evidence/vllm/slo-breach/1765000000.prom",
        &["vllm"],
    ),
    (
        "fixtures/evidence/vllm/slo-breach/1765000060.prom",
        &["vllm"],
    ),
    ("fixtures/evidence/trtllm/serve.prom", &["trtllm"]),
    ("fixtures/evidence/trtllm/pressure.prom", &["trtllm"]),
    ("fixtures/evidence/vllm/dp-imbalance.prom", &["vllm"]),
    ("fixtures/evidence/triton/trtllm-backend.prom", &["triton"]),
    ("fixtures/evidence/misc/python-runtime-only.prom", &[]),
    ("fixtures/evidence/misc/empty.prom", &[]),
];

#[test]
fn each_fixture_is_detected_as_exactly_its_systems() {
    let registry = registry();
    let mut failures = Vec::new();
    for (rel, want) in FIXTURES {
        let got = detected(&registry, &fixture(rel));
        if got != ids(want) {
            failures.push(format!("{rel}: expected {:?}, detected {got:?}", ids(want)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fixtures_start_with_provenance() {
    for (rel, _) in FIXTURES {
        let text = std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap();
        if *rel == "fixtures/evidence/misc/empty.prom" {
            assert!(text.is_empty(), "{rel} must stay empty");
            continue;
        }
        assert!(
            text.starts_with("# provenance: written for inferguard's tests ("),
            "{rel}: first line must be the provenance comment"
        );
        assert!(text.lines().count() <= 150, "{rel}: keep fixtures small");
    }
}

/// Legacy fixtures: the system is still detected, and the renamed signals compute
/// from the old names, reported as legacy.
#[test]
fn legacy_spellings_read_as_legacy() {
    let registry = registry();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "fixtures/evidence/sglang/legacy-tpot.prom",
            "sglang",
            &["itl", "tpot"],
        ),
        (
            "fixtures/evidence/lmcache-embedded/underscore-legacy.prom",
            "lmcache_embedded",
            &[
                "lookup_requests",
                "lookup_requested_tokens",
                "lookup_hit_tokens",
                "retrieve_requests",
                "retrieve_hit_tokens",
                "lookup_hit_rate",
            ],
        ),
        (
            "fixtures/evidence/lmcache-mp/legacy-sm.prom",
            "lmcache_mp",
            &[
                "l1_read_chunks",
                "l1_write_chunks",
                "l1_evicted_chunks",
                "l1_allocation_failures",
                "l2_store_completed_requests",
                "l0_l1_store_throughput",
            ],
        ),
        (
            "fixtures/evidence/lmcache-mp/legacy-colon.prom",
            "lmcache_mp",
            &["l1_read_chunks", "l1_write_chunks"],
        ),
        (
            "fixtures/evidence/lmcache-coordinator/deprecated-twins.prom",
            "lmcache_coordinator",
            &["key_directory_placements", "key_directory_placement_bytes"],
        ),
        (
            "fixtures/evidence/dynamo/component-kvstats-legacy.prom",
            "dynamo_component",
            &[
                "kv_cache_usage",
                "kv_blocks_capacity",
                "prefix_cache_hit_rate",
            ],
        ),
        (
            "fixtures/evidence/dynamo/frontend-nv-llm-legacy.prom",
            "dynamo_frontend",
            &[
                "ttft",
                "itl",
                "e2e",
                "input_tokens_per_request",
                "output_tokens_per_request",
                "requests_finished",
                "requests_errored",
                "requests_inflight",
            ],
        ),
        (
            "fixtures/evidence/kvbm/stale-names.prom",
            "kvbm",
            &["offload_blocks", "onboard_blocks"],
        ),
        (
            "fixtures/evidence/llmd/epp-gie-legacy.prom",
            "llmd_epp",
            &[
                "ttft",
                "ntpot",
                "e2e",
                "requests_received",
                "requests_errored",
                "requests_inflight",
                "pool_kv_cache_usage",
                "pool_queue_size",
                "ready_endpoints",
                "scheduler_latency",
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (rel, engine, signals) in cases {
        let expo = fixture(rel);
        assert!(
            detected(&registry, &expo).contains(*engine),
            "{rel}: `{engine}` not detected"
        );
        for name in *signals {
            match signal(&registry, engine, name, &expo) {
                Some(v) if v.spelling == Spelling::Legacy && v.series > 0 => {}
                Some(v) => failures.push(format!(
                    "{rel}: {engine}.{name} read from `{}` as {:?} over {} series",
                    v.family, v.spelling, v.series
                )),
                None => failures.push(format!("{rel}: {engine}.{name} does not compute")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Current fixtures read current spellings only: a legacy alias must never win
/// over, or stand in for, a name upstream exports today.
#[test]
fn current_fixtures_read_current_spellings() {
    let registry = registry();
    let current = [
        ("fixtures/evidence/sglang/healthy.prom", "sglang"),
        (
            "fixtures/evidence/lmcache-embedded/internal-api.prom",
            "lmcache_embedded",
        ),
        ("fixtures/evidence/lmcache-mp/server.prom", "lmcache_mp"),
        (
            "fixtures/evidence/lmcache-coordinator/coordinator.prom",
            "lmcache_coordinator",
        ),
        ("fixtures/evidence/dynamo/frontend.prom", "dynamo_frontend"),
        (
            "fixtures/evidence/dynamo/component.prom",
            "dynamo_component",
        ),
        ("fixtures/evidence/kvbm/kvbm.prom", "kvbm"),
        ("fixtures/evidence/llmd/epp.prom", "llmd_epp"),
        ("fixtures/evidence/llmd/kv-indexer.prom", "llmd_kv_indexer"),
        ("fixtures/evidence/trtllm/serve.prom", "trtllm"),
        ("fixtures/evidence/triton/trtllm-backend.prom", "triton"),
    ];
    for (rel, engine) in current {
        let expo = fixture(rel);
        let index = SeriesIndex::new(&expo);
        for spec in &registry.engine(engine).unwrap().signals {
            if let Some(v) = compute_signal(spec, &index) {
                assert_eq!(
                    v.spelling,
                    Spelling::Current,
                    "{rel}: {engine}.{} read from legacy `{}`",
                    spec.name,
                    v.family
                );
            }
        }
    }
}

#[test]
fn a_few_computed_values() {
    let registry = registry();
    let v = |rel: &str, engine: &str, name: &str| {
        signal(&registry, engine, name, &fixture(rel))
            .unwrap_or_else(|| panic!("{rel}: {engine}.{name} missing"))
    };
    // Multiprocess prometheus_client declares SGLang counters as `..._total`.
    assert_eq!(
        v(
            "fixtures/evidence/sglang/healthy.prom",
            "sglang",
            "prompt_tokens"
        )
        .value,
        Some(1_300_000.0)
    );
    assert_eq!(
        v(
            "fixtures/evidence/sglang/healthy.prom",
            "sglang",
            "prefix_cache_hits"
        )
        .value,
        Some(560_000.0)
    );
    assert_eq!(
        v(
            "fixtures/evidence/sglang/healthy.prom",
            "sglang",
            "kv_cache_usage"
        )
        .value,
        Some(0.62)
    );
    let ttft = v("fixtures/evidence/sglang/healthy.prom", "sglang", "ttft");
    assert_eq!(ttft.histogram.as_ref().unwrap().count, 1180.0);
    // Only the staging phase counts as transferred bytes.
    assert_eq!(
        v(
            "fixtures/evidence/lmcache-mp/server.prom",
            "lmcache_mp",
            "kv_transfer_bytes"
        )
        .value,
        Some(5.8e11)
    );
    // A glob merges every KVBM offload direction.
    assert_eq!(
        v("fixtures/evidence/kvbm/kvbm.prom", "kvbm", "offload_blocks").value,
        Some(223_000.0)
    );
    // Label filters pick one series of a labelled gauge / counter.
    assert_eq!(
        v(
            "fixtures/evidence/triton/trtllm-backend.prom",
            "triton",
            "kv_cache_usage"
        )
        .value,
        Some(0.66)
    );
    assert_eq!(
        v(
            "fixtures/evidence/triton/trtllm-backend.prom",
            "triton",
            "kv_transfer_ms_total"
        )
        .value,
        Some(51_000.0)
    );
    assert_eq!(
        v(
            "fixtures/evidence/dynamo/frontend.prom",
            "dynamo_frontend",
            "requests_errored"
        )
        .value,
        Some(4.0)
    );
    assert_eq!(
        v(
            "fixtures/evidence/dynamo/frontend.prom",
            "dynamo_frontend",
            "requests_finished"
        )
        .value,
        Some(400.0)
    );
    // Rust prometheus counters have no `_total`.
    assert_eq!(
        v("fixtures/evidence/kvbm/kvbm.prom", "kvbm", "matched_tokens").value,
        Some(1_015_000.0)
    );
    assert_eq!(
        v(
            "fixtures/evidence/triton/trtllm-backend.prom",
            "triton",
            "request_duration_us_total"
        )
        .value,
        Some(1_712_000_000.0)
    );
}

/// Weak evidence alone never identifies a system; two weak items that agree do.
#[test]
fn weak_evidence_needs_company() {
    let registry = registry();
    let none: &[(&str, &str)] = &[
        (
            "any OTel service has target_info",
            "# TYPE target_info gauge\ntarget_info{service_instance_id=\"x\",service_name=\"svc\"} 1\n",
        ),
        (
            "llmd_ prefix from the seeds alone",
            "# TYPE llmd_requests_total counter\nllmd_requests_total 4\n",
        ),
        (
            "nv_llm: prefix from the seeds alone",
            "nv_llm:requests_total 4\n",
        ),
        (
            "Triton GPU metrics alone",
            "# TYPE nv_gpu_utilization gauge\nnv_gpu_utilization{gpu_uuid=\"g\"} 0.5\n",
        ),
        (
            "one bare lmcache_ family that is not a request counter",
            "# TYPE lmcache_local_cache_usage gauge\nlmcache_local_cache_usage 1e9\n",
        ),
        (
            "one deprecated coordinator twin",
            "# TYPE lmcache_mp_key_directory_placement_count gauge\nlmcache_mp_key_directory_placement_count{tier=\"l1\"} 3\n",
        ),
        (
            "a Dynamo runtime family no pack claims",
            "# TYPE dynamo_tokio_workers gauge\ndynamo_tokio_workers 8\n",
        ),
    ];
    for (what, text) in none {
        let got = detected(&registry, &from_text(text));
        assert!(got.is_empty(), "{what}: detected {got:?}");
    }
    // The coordinator's deprecated twins are not MP-server evidence.
    let got = detected(
        &registry,
        &from_text(
            "lmcache_mp_key_directory_placement_count{tier=\"l1\"} 3\n\
             lmcache_mp_key_directory_placement_size_bytes{tier=\"l1\"} 9\n\
             # TYPE target_info gauge\ntarget_info{service_instance_id=\"c\"} 1\n",
        ),
    );
    assert_eq!(got, ids(&["lmcache_coordinator"]));
    // Triton system metrics: GPU plus CPU agree.
    let got = detected(
        &registry,
        &from_text("nv_gpu_utilization{gpu_uuid=\"g\"} 0.5\nnv_cpu_utilization 0.2\n"),
    );
    assert_eq!(got, ids(&["triton"]));
    // The Dynamo KV router's component-scoped families are not a worker runtime.
    let got = detected(
        &registry,
        &from_text("# TYPE dynamo_component_router_requests_total counter\ndynamo_component_router_requests_total{router_id=\"r\"} 5\n"),
    );
    assert_eq!(got, ids(&["dynamo_router"]));
    // Triton TRT-LLM token-length histograms are not Dynamo's legacy frontend.
    let got = detected(
        &registry,
        &from_text("# TYPE nv_llm_input_token_len histogram\nnv_llm_input_token_len_bucket{le=\"+Inf\"} 1\nnv_llm_input_token_len_sum 9\nnv_llm_input_token_len_count 1\n"),
    );
    assert_eq!(got, ids(&["triton"]));
}

/// Every signal of every engine pack is read by at least one fixture under
/// `fixtures/evidence/`, unless listed in `exceptions` with the reason. An exception
/// must still be needed (no fixture reads it) and, when the real captures are
/// present, must be read by one of them.
#[test]
fn every_engine_signal_is_exercised() {
    let registry = registry();
    // (engine, signal) -> (reason, whether a real capture must read it instead)
    let exceptions: BTreeMap<(&str, &str), (&str, bool)> = [
        // None today; add `((engine, signal), (reason, read_by_a_real_capture))`.
    ]
    .into_iter()
    .collect();
    let mut files: Vec<PathBuf> = Vec::new();
    collect_prom(&Path::new(ROOT).join("fixtures/evidence"), &mut files);
    let fixtures: Vec<Exposition> = files.iter().map(|p| read(p)).collect();
    let captures: Vec<Exposition> = if Path::new(CAPTURES).is_dir() {
        let mut files = Vec::new();
        collect_prom(Path::new(CAPTURES), &mut files);
        files.iter().map(|p| read(p)).collect()
    } else {
        Vec::new()
    };
    let read_by = |spec: &inferguard::normalize::SignalSpec, expos: &[Exposition]| {
        expos
            .iter()
            .any(|e| compute_signal(spec, &SeriesIndex::new(e)).is_some_and(|v| v.series > 0))
    };
    let mut missing = Vec::new();
    let mut seen_exceptions = BTreeSet::new();
    for engine in &registry.engines {
        for spec in &engine.signals {
            let key = (engine.def.id.as_str(), spec.name.as_str());
            let hit = read_by(spec, &fixtures);
            if let Some((reason, in_capture)) = exceptions.get(&key) {
                seen_exceptions.insert(key);
                assert!(
                    !hit,
                    "{}.{} is now exercised; drop its exception",
                    key.0, key.1
                );
                assert!(
                    !in_capture || captures.is_empty() || read_by(spec, &captures),
                    "{}.{}: excepted ({reason}) but no real capture reads it either",
                    key.0,
                    key.1
                );
                continue;
            }
            if !hit {
                missing.push(format!("{}.{}", key.0, key.1));
            }
        }
    }
    for key in exceptions.keys() {
        assert!(
            seen_exceptions.contains(key),
            "exception {key:?} names no signal"
        );
    }
    assert!(
        missing.is_empty(),
        "signals no fixture under fixtures/evidence exercises:\n{}",
        missing.join("\n")
    );
}

fn collect_prom(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_prom(&p, out);
        } else if p.extension().is_some_and(|x| x == "prom") {
            out.push(p);
        }
    }
}

/// The four real Dynamo captures (early-2026, older than the 1.6.1 sources): which
/// systems each one is, and that TTFT reads with observations.
#[test]
fn real_dynamo_captures_conform() {
    let dir = Path::new(CAPTURES);
    if !dir.is_dir() {
        eprintln!("note: {CAPTURES} is missing; real-capture conformance skipped");
        return;
    }
    let registry = registry();
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "frontend-metrics.prom",
            &["dynamo_frontend"],
            "dynamo_frontend",
        ),
        (
            "vllm-worker-metrics.prom",
            &["dynamo_component", "vllm", "lmcache_embedded"],
            "vllm",
        ),
        (
            "sglang-worker-metrics.prom",
            &["dynamo_component", "sglang"],
            "sglang",
        ),
        (
            "trtllm-worker-metrics.prom",
            &["dynamo_component", "trtllm"],
            "trtllm",
        ),
    ];
    for (file, want, ttft_engine) in cases {
        let expo = read(&dir.join(file));
        assert!(
            expo.dropped.is_empty(),
            "{file}: dropped lines {:?}",
            expo.dropped
        );
        assert_eq!(detected(&registry, &expo), ids(want), "{file}");
        let ttft = signal(&registry, ttft_engine, "ttft", &expo)
            .unwrap_or_else(|| panic!("{file}: {ttft_engine}.ttft does not compute"));
        assert_eq!(ttft.spelling, Spelling::Current, "{file}");
        let count = ttft.histogram.as_ref().map_or(0.0, |h| h.count);
        assert!(count > 0.0, "{file}: ttft has no observations");
        assert!(ttft.value.is_some_and(|m| m > 0.0), "{file}: ttft mean");
    }

    // The worker captures predate Dynamo 1.6.1: KV stats come from the legacy
    // `dynamo_component_kvstats_*` names.
    for file in [
        "vllm-worker-metrics.prom",
        "sglang-worker-metrics.prom",
        "trtllm-worker-metrics.prom",
    ] {
        let expo = read(&dir.join(file));
        let usage = signal(&registry, "dynamo_component", "kv_cache_usage", &expo)
            .unwrap_or_else(|| panic!("{file}: kv_cache_usage missing"));
        assert_eq!(usage.spelling, Spelling::Legacy, "{file}");
        assert_eq!(
            usage.family,
            "dynamo_component_kvstats_gpu_cache_usage_percent"
        );
        let handled = signal(&registry, "dynamo_component", "requests_handled", &expo).unwrap();
        assert!(
            handled.value.is_some_and(|v| v > 0.0),
            "{file}: requests_handled"
        );
    }

    // Re-exported engine counters whose TYPE line keeps `_total` still read.
    let vllm = read(&dir.join("vllm-worker-metrics.prom"));
    let looked_up = signal(&registry, "lmcache_embedded", "lookup_requests", &vllm).unwrap();
    assert_eq!(looked_up.spelling, Spelling::Current);
    assert_eq!(looked_up.series, 1);
    let sglang = read(&dir.join("sglang-worker-metrics.prom"));
    let prompt = signal(&registry, "sglang", "prompt_tokens", &sglang).unwrap();
    assert!(prompt.value.is_some_and(|v| v > 0.0));
    let itl = signal(&registry, "sglang", "itl", &sglang).unwrap();
    assert_eq!(itl.histogram.as_ref().unwrap().count, 299.0);
    let trt = read(&dir.join("trtllm-worker-metrics.prom"));
    let tpot = signal(&registry, "trtllm", "tpot", &trt).unwrap();
    assert_eq!(tpot.histogram.as_ref().unwrap().count, 2.0);
    let finished = signal(&registry, "trtllm", "requests_finished", &trt).unwrap();
    assert!(finished.series > 0);
}

/// Counter patterns carry `_total`: that reads prometheus_client's text format
/// (`# TYPE x_total counter`, as in the real captures and the fixtures) and the
/// OpenMetrics-style declaration (`# TYPE x counter` with `x_total` samples) alike.
#[test]
fn total_named_counters_read_both_declarations() {
    let registry = registry();
    let cases = [
        ("sglang", "prompt_tokens", "sglang:prompt_tokens"),
        (
            "lmcache_embedded",
            "retrieve_hit_tokens",
            "lmcache:num_hit_tokens",
        ),
        ("lmcache_mp", "l1_read_chunks", "lmcache_mp_l1_read_chunks"),
        ("trtllm", "requests_finished", "trtllm_request_success"),
    ];
    for (engine, name, base) in cases {
        for declared in [format!("{base}_total"), base.to_owned()] {
            let text = format!(
                "# TYPE {declared} counter\n{base}_total{{a=\"1\"}} 7\n{base}_total{{a=\"2\"}} 5\n"
            );
            let v = signal(&registry, engine, name, &from_text(&text))
                .unwrap_or_else(|| panic!("{engine}.{name} not read when declared as {declared}"));
            assert_eq!(
                v.value,
                Some(12.0),
                "{engine}.{name} declared as {declared}"
            );
            assert_eq!(v.spelling, Spelling::Current);
        }
    }
}

/// Regression: the vLLM pack names counters without `_total`, while real
/// prometheus_client scrapes declare `# TYPE vllm:prompt_tokens_total counter`; the
/// index must find the family either way.
#[test]
fn vllm_counters_read_the_real_capture() {
    let dir = Path::new(CAPTURES);
    if !dir.is_dir() {
        return;
    }
    let registry = registry();
    let expo = read(&dir.join("vllm-worker-metrics.prom"));
    for name in [
        "prompt_tokens",
        "generation_tokens",
        "prefix_cache_queries",
        "preemptions",
        "requests_finished",
    ] {
        assert!(
            signal(&registry, "vllm", name, &expo).is_some(),
            "vllm.{name} does not read the real vLLM capture"
        );
    }
}

/// `inferguard check --fail-on severity=warning` on the SGLang fixtures: the healthy
/// server passes, the one under KV pressure fails and names each SGLang finding.
#[test]
fn sglang_check_fails_on_pressure_and_passes_healthy() {
    let healthy = check_warnings("fixtures/evidence/sglang/healthy.prom");
    let out = String::from_utf8_lossy(&healthy.stdout);
    assert_eq!(healthy.status.code(), Some(0), "{out}");
    // Nothing fires; the P/D findings are listed as not evaluable on a unified server.
    assert!(out.contains("findings: none fired"), "{out}");

    let pressure = check_warnings("fixtures/evidence/sglang/pressure.prom");
    let out = String::from_utf8_lossy(&pressure.stdout);
    assert_eq!(pressure.status.code(), Some(1), "{out}");
    for (code, quoted) in [
        ("sglang_queue_pressure", "30 request(s) waiting"),
        ("sglang_token_pool_saturated", "98.0%"),
        ("sglang_retractions_observed", "57 request(s) retracted"),
        (
            "sglang_prefix_cache_low_hit_ratio",
            "12,000 cached of 1,300,000",
        ),
    ] {
        assert!(out.contains(code), "{code} missing:\n{out}");
        assert!(out.contains(quoted), "`{quoted}` missing:\n{out}");
    }
}

/// Issue 14: TensorRT-LLM findings. The shipped serve scrape passes `check
/// --fail-on severity=warning`; a queueing, KV-full, failing server exits 1 and
/// each finding quotes its measured values.
#[test]
fn trtllm_check_fails_on_pressure_and_passes_healthy() {
    let healthy = check_warnings("fixtures/evidence/trtllm/serve.prom");
    let out = String::from_utf8_lossy(&healthy.stdout);
    assert_eq!(healthy.status.code(), Some(0), "{out}");
    assert!(!out.contains("trtllm_"), "{out}");

    let pressure = check_warnings("fixtures/evidence/trtllm/pressure.prom");
    let out = String::from_utf8_lossy(&pressure.stdout);
    assert_eq!(pressure.status.code(), Some(1), "{out}");
    for (code, quoted) in [
        (
            "trtllm_queue_pressure",
            "44 request(s) waiting against 16 running",
        ),
        ("trtllm_kv_cache_saturated", "98.0%"),
        (
            "trtllm_requests_failing",
            "50 request(s) failed with an error against 1,200",
        ),
        (
            "trtllm_queue_time_dominates",
            "60.9% of their time in the scheduler queue since the server started",
        ),
    ] {
        assert!(out.contains(code), "{code} missing:\n{out}");
        assert!(out.contains(quoted), "`{quoted}` missing:\n{out}");
    }
}

/// Issue 14: vLLM latency objectives, queueing and connector failures. The healthy
/// scrape and the healthy two-scrape window pass `check --fail-on
/// severity=warning`; the breaching window exits 1 and each finding quotes its
/// measured values; one scrape of it cannot judge the window.
#[test]
fn vllm_check_fails_on_slo_breach_and_passes_healthy() {
    for healthy in [
        "fixtures/evidence/vllm/healthy.prom",
        "fixtures/evidence/vllm/healthy-window",
    ] {
        let run = check_warnings(healthy);
        let out = String::from_utf8_lossy(&run.stdout);
        assert_eq!(run.status.code(), Some(0), "{healthy}:\n{out}");
        assert!(out.contains("warning=0"), "{healthy}:\n{out}");
    }

    let breach = check_warnings("fixtures/evidence/vllm/slo-breach");
    let out = String::from_utf8_lossy(&breach.stdout);
    assert_eq!(breach.status.code(), Some(1), "{out}");
    for (code, quoted) in [
        (
            "vllm_ttft_slo_breached",
            "p99 time to first token was 4833 ms",
        ),
        (
            "vllm_itl_slo_breached",
            "p99 inter-token latency was 260 ms",
        ),
        ("vllm_e2e_slo_breached", "p99 end-to-end latency was 29.0 s"),
        ("vllm_ttft_queue_dominated", "80.8% of the 1550 ms mean"),
    ] {
        assert!(
            out.contains(&format!("warning  {code}")),
            "{code} missing:\n{out}"
        );
        assert!(out.contains(quoted), "`{quoted}` missing:\n{out}");
    }

    let single = check_warnings("fixtures/evidence/vllm/slo-breach/1765000060.prom");
    let out = String::from_utf8_lossy(&single.stdout);
    assert!(
        out.contains("vllm_ttft_slo_breached — needs two scrapes of this endpoint"),
        "{out}"
    );

    let nixl = check_warnings("fixtures/evidence/vllm/pd-decode-nixl.prom");
    let out = String::from_utf8_lossy(&nixl.stdout);
    assert_eq!(nixl.status.code(), Some(1), "{out}");
    assert!(
        out.contains("42 KV transfers failed against 600 completed (6.5%)"),
        "{out}"
    );
}

/// Issue 14: the shipped healthy fixtures of a system pass `check --fail-on
/// severity=warning` without any of its codes; the broken one exits 1, names
/// `first` in its first finding line, and every finding quotes its values.
fn assert_healthy_and_broken(
    prefix: &str,
    healthy: &[&str],
    broken: &str,
    first: &str,
    quoted: &[(&str, &str)],
) {
    for rel in healthy {
        let out = check_warnings(rel);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{rel}:\n{text}");
        assert!(!text.contains(prefix), "{rel}:\n{text}");
    }
    let out = check_warnings(broken);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let named = text.lines().find(|l| l.trim_start().starts_with("warning"));
    assert!(
        named.is_some_and(|l| l.contains(first)),
        "{first} not first:\n{text}"
    );
    for (code, value) in quoted {
        let line = text.lines().find(|l| l.contains(code));
        assert!(
            line.is_some_and(|l| l.contains(value)),
            "`{value}` of {code}:\n{text}"
        );
    }
}

#[test]
fn triton_check_fails_on_broken_and_passes_healthy() {
    assert_healthy_and_broken(
        "triton_",
        &["fixtures/evidence/triton/trtllm-backend.prom"],
        "fixtures/evidence/triton/broken.prom",
        "triton_requests_failing",
        &[
            ("triton_queue_time_dominates", "71.4% of their server time"),
            ("triton_queue_time_dominates", "since the server started"),
            (
                "triton_requests_failing",
                "40 of 1,000 inference requests failed (4.0%)",
            ),
            ("triton_trtllm_kv_cache_saturated", "97.0% used"),
        ],
    );
}

#[test]
fn dynamo_check_fails_on_overload_and_passes_healthy() {
    assert_healthy_and_broken(
        "dynamo_",
        &[
            "fixtures/evidence/dynamo/frontend.prom",
            "fixtures/evidence/dynamo/frontend-router.prom",
            "fixtures/evidence/dynamo/component.prom",
        ],
        "fixtures/evidence/dynamo/broken-frontend.prom",
        "dynamo_frontend_overloaded",
        &[
            ("dynamo_frontend_overloaded", "60 of 1,000 requests (6.0%)"),
            // Only the error types that occurred, largest first; client
            // cancellations are not failures.
            (
                "dynamo_frontend_request_errors",
                "75 of 1,000 requests failed at the frontend (7.5%) since the frontend started; by error_type: overload (60), internal (12), validation (3).",
            ),
        ],
    );
}

#[test]
fn llmd_check_fails_on_saturated_pool_and_passes_healthy() {
    assert_healthy_and_broken(
        "llmd_",
        &[
            "fixtures/evidence/llmd/epp.prom",
            "fixtures/evidence/llmd/epp-gie-legacy.prom",
        ],
        "fixtures/evidence/llmd/saturated.prom",
        "llmd_pool_saturated",
        &[(
            "llmd_pool_saturated",
            "3 ready endpoint(s) average 9 waiting request(s) (threshold 5) and 86.0% KV-cache usage",
        )],
    );
}

/// Issue 14: the frontend's TTFT is compared with the workers' over the
/// deployment; the comparison is judged only where a Dynamo system runs.
#[test]
fn dynamo_ttft_overhead_compares_frontend_and_workers() {
    let deployment = |files: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_inferguard"))
            .arg("check")
            .args(files)
            .arg("--json")
            .current_dir(ROOT)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("the binary runs");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
        report["deployment"]["findings"]
            .as_array()
            .expect("deployment findings")
            .iter()
            .find(|f| f["code"] == "dynamo_frontend_ttft_overhead")
            .cloned()
    };
    let worker = "fixtures/evidence/dynamo/worker-vllm.prom";
    let slow = deployment(&["fixtures/evidence/dynamo/broken-frontend.prom", worker]).unwrap();
    assert_eq!(slow["status"], "fired", "{slow}");
    let message = slow["message"].as_str().unwrap();
    assert!(
        message.contains("1551 ms at the frontend against 350 ms in the workers' engines since start: 1201 ms (77.4%"),
        "{message}"
    );
    let fast = deployment(&["fixtures/evidence/dynamo/frontend.prom", worker]).unwrap();
    assert_eq!(fast["status"], "passed", "{fast}");
    let alone = deployment(&["fixtures/evidence/dynamo/frontend.prom"]).unwrap();
    assert_eq!(alone["status"], "not_evaluable", "{alone}");
    assert!(deployment(&["fixtures/evidence/vllm/kv-pressure.prom"]).is_none());
}

/// `inferguard check FILE --fail-on severity=warning`, from the project root.
fn check_warnings(rel: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_inferguard"))
        .args(["check", rel, "--fail-on", "severity=warning"])
        .current_dir(ROOT)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the binary runs")
}

/// Issue 14: `check` names an external KV connector seen from the engine side, with
/// both hit ratios, in text and JSON; an info fact, so `--fail-on severity=warning`
/// still passes. With the external counters at zero, no such finding fires.
#[test]
fn check_names_an_external_kv_connector_with_both_hit_ratios() {
    let fixture = "fixtures/evidence/vllm/external-connector.prom";
    let out = check_warnings(fixture);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("info     vllm_external_kv_connector_in_use"),
        "{text}"
    );
    assert!(
        text.contains("external hit ratio 60.0% (502,500 of 837,500"),
        "{text}"
    );
    assert!(text.contains("local prefix cache's 33.0%"), "{text}");
    let report = check_json_of(fixture);
    let fired: Vec<&str> = fired_codes(&report);
    assert_eq!(fired, ["vllm_external_kv_connector_in_use"]);

    let zeroed = std::fs::read_to_string(std::path::Path::new(ROOT).join(fixture))
        .unwrap()
        .replace("} 837500.0", "} 0")
        .replace("} 502500.0", "} 0");
    let dir = std::env::temp_dir().join(format!("ig-check-noext-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("no-external.prom");
    std::fs::write(&file, zeroed).unwrap();
    let report = check_json_of(file.to_str().unwrap());
    let outcome = report["endpoints"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "vllm_external_kv_connector_in_use")
        .expect("evaluated");
    assert_eq!(outcome["status"], "passed");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn check_json_of(path: &str) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_inferguard"))
        .args(["check", "--json", path])
        .current_dir(ROOT)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(0));
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn fired_codes(report: &serde_json::Value) -> Vec<&str> {
    report["endpoints"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "fired")
        .map(|f| f["code"].as_str().unwrap())
        .collect()
}

/// Issue 14, the example: a data-parallel vLLM pod whose engine 0 queues 55
/// requests while engine 1 idles. `check --fail-on severity=warning` names the
/// imbalance first, with both engines and their values, and exits 1.
#[test]
fn vllm_dp_imbalance_is_named_first() {
    let out = check_warnings("fixtures/evidence/vllm/dp-imbalance.prom");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let first = text
        .lines()
        .find(|l| l.trim_start().starts_with("warning"))
        .unwrap_or_else(|| panic!("no warning:\n{text}"));
    assert!(first.contains("vllm_dp_queue_imbalance"), "{text}");
    for quoted in [
        "engine 0 has 55 request(s) waiting (48 running)",
        "engine 1 has nothing running or waiting",
    ] {
        assert!(first.contains(quoted), "`{quoted}` missing:\n{text}");
    }
    assert!(text.contains("vllm_dp_kv_usage_skew"), "{text}");
    assert!(!text.contains("vllm_dp_ranks_missing"), "{text}");
}

/// Aggregation respects ranks, never the last series: engine 1's series come
/// after engine 0's in the fixture, yet the queue is the sum over engines, KV
/// usage the fullest engine, and each engine keeps its own value.
#[test]
fn dp_signals_sum_queues_and_keep_kv_usage_per_rank() {
    let registry = registry();
    let expo = fixture("fixtures/evidence/vllm/dp-imbalance.prom");
    let waiting = signal(&registry, "vllm", "queue_waiting", &expo).unwrap();
    assert_eq!(waiting.value, Some(55.0));
    let kv = signal(&registry, "vllm", "kv_cache_usage", &expo).unwrap();
    assert_eq!(kv.value, Some(0.91));
    let ranks: Vec<(String, Option<f64>)> = kv
        .ranks
        .iter()
        .flatten()
        .map(|r| (r.rank.clone(), r.value))
        .collect();
    assert_eq!(
        ranks,
        [("0".to_owned(), Some(0.91)), ("1".to_owned(), Some(0.0))]
    );
    assert_eq!(
        kv.rank_variable("_rank_max_at"),
        Some(RankVar::Text("0".to_owned()))
    );
    assert_eq!(kv.rank_variable("_rank_min"), Some(RankVar::Num(0.0)));
    assert_eq!(waiting.rank_variable("_ranks"), Some(RankVar::Num(2.0)));
}

/// `summarize` on the same pod: the cross-backend queue depth is the sum over
/// engines and KV usage the fullest engine, not an average or the last series.
#[test]
fn dp_summarize_equivalents_respect_ranks() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_inferguard"))
        .args([
            "summarize",
            "fixtures/evidence/vllm/dp-imbalance.prom",
            "--json",
        ])
        .current_dir(ROOT)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the binary runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let eq = &json["endpoints"][0]["equivalents"];
    let max_of = |id: &str| {
        eq.as_array()
            .and_then(|rows| rows.iter().find(|r| r["id"] == id))
            .map(|r| r["stats"]["max"].clone())
    };
    assert_eq!(
        max_of("queue_depth"),
        Some(serde_json::json!(55.0)),
        "{text}"
    );
    assert_eq!(max_of("kv_usage"), Some(serde_json::json!(0.91)), "{text}");
}

/// One finding's outcome on one in-memory scrape, with the endpoint's signals of
/// `engine`.
fn outcome_on(
    registry: &Registry,
    text: &str,
    engine: &str,
    code: &str,
) -> (
    inferguard::report::FindingOutcome,
    BTreeMap<String, SignalValue>,
) {
    let evaluation = crate::common::evaluate_scrapes(
        registry,
        &[("scrape.prom", text.as_bytes())],
        &inferguard::eval::EvalOptions::default(),
    );
    let report = &evaluation.endpoints[0].report;
    let found = report.findings.iter().find(|f| f.code == code);
    let found = found.unwrap_or_else(|| panic!("{code} not evaluated: {report:?}"));
    let signals = report.signals.get(engine).cloned().unwrap_or_default();
    (found.clone(), signals)
}

/// Issue 14: an MP eviction counter is created with the first eviction. While L1
/// writes move and it is absent, it reads as 0 (marked `absent_as_zero`) and the
/// finding is judged; when the writes are absent or zero too, it stays missing.
#[test]
fn lazily_created_counters_read_as_zero_only_while_siblings_move() {
    use inferguard::report::Status;
    let registry = registry();
    let code = "lmcache_mp_l1_eviction_pressure";
    let moving = "lmcache_mp_l1_write_chunks_total{l1_tag=\"dram0\"} 4096\nlmcache_mp_event_bus_queue_depth 0\n";
    let (o, signals) = outcome_on(&registry, moving, "lmcache_mp", code);
    assert_eq!(o.status, Status::Passed, "{o:?}");
    let evicted = &signals["l1_evicted_chunks"];
    assert_eq!(evicted.value, Some(0.0));
    assert!(evicted.absent_as_zero && evicted.series == 0, "{evicted:?}");
    assert!(!signals["l1_write_chunks"].absent_as_zero);
    let item = o
        .evidence
        .iter()
        .find(|e| e.variable == "l1_evicted_chunks");
    assert!(
        item.is_some_and(|e| e.absent_as_zero && e.line.is_none()),
        "{o:?}"
    );

    let idle = "lmcache_mp_l1_write_chunks_total{l1_tag=\"dram0\"} 0\nlmcache_mp_event_bus_queue_depth 0\n";
    let (o, signals) = outcome_on(&registry, idle, "lmcache_mp", code);
    assert_eq!(o.status, Status::NotEvaluable, "{o:?}");
    assert_eq!(o.missing, ["l1_evicted_chunks"]);
    assert!(!signals.contains_key("l1_evicted_chunks"));

    let counted = format!("{moving}lmcache_mp_l1_evicted_chunks_total{{l1_tag=\"dram0\"}} 2048\n");
    let (o, signals) = outcome_on(&registry, &counted, "lmcache_mp", code);
    assert_eq!(o.status, Status::Fired, "{o:?}");
    assert!(!signals["l1_evicted_chunks"].absent_as_zero);
}

/// Issue 14: the L2 prefetch failure message names the reasons that occurred, with
/// their counts and thousands separators, and no other; on a server whose
/// prefetch controller has no adapter the finding is not applicable.
#[test]
fn l2_prefetch_failures_name_their_reasons_or_do_not_apply() {
    use inferguard::report::Status;
    let registry = registry();
    let code = "lmcache_mp_l2_prefetch_failures";
    let failing = "lmcache_mp_l2_prefetch_failure_chunks_total{model_name=\"m\",reason=\"not_found\"} 1200\nlmcache_mp_l2_prefetch_failure_chunks_total{model_name=\"m\",reason=\"l1_contended\"} 3\nlmcache_mp_l2_prefetch_failure_chunks_total{model_name=\"m\",reason=\"l1_oom\"} 0\nlmcache_mp_l2_prefetch_adapters{state=\"active\"} 1\n";
    let (o, _) = outcome_on(&registry, failing, "lmcache_mp", code);
    assert_eq!(o.status, Status::Fired, "{o:?}");
    let message = o.message.unwrap_or_default();
    assert!(
        message.starts_with("1,203 chunk(s)")
            && message.contains("by reason: not_found (1,200), l1_contended (3))"),
        "{message}"
    );
    assert!(!message.contains("l1_oom"), "{message}");

    let no_l2 = Path::new(ROOT).join("fixtures/evidence/lmcache-compat/mp-l1-healthy.prom");
    let text = std::fs::read_to_string(no_l2).unwrap();
    let (o, _) = outcome_on(&registry, &text, "lmcache_mp", code);
    assert_eq!(o.status, Status::NotApplicable, "{o:?}");
    assert!(o.missing.is_empty(), "{o:?}");
    let reason = o.reason.unwrap_or_default();
    assert!(reason.contains("l2_prefetch_adapters > 0"), "{reason}");
}

/// The codes of the fired findings of `check`'s human report, in its order (most
/// severe first).
fn fired_codes_in_text(out: &str) -> Vec<&str> {
    out.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let (sev, rest) = l.split_once(' ')?;
            ["critical", "warning", "info"]
                .contains(&sev)
                .then(|| rest.trim_start().split([':', ' ']).next())?
        })
        .collect()
}

/// Issue 14: scrape and exposition faults. An HTML page, a HELP/TYPE-only body and
/// a multiprocess traceback are each reported as their fault, first, and fail
/// `--fail-on severity=warning`.
#[test]
fn scrape_faults_come_first_and_fail() {
    for (rel, code, quoted) in [
        (
            "fixtures/evidence/misc/proxy-error.html",
            "scrape_not_metrics_page",
            "answered html instead of a Prometheus exposition, starting: 502 Bad Gateway",
        ),
        (
            "fixtures/evidence/misc/help-type-only.prom",
            "scrape_no_samples",
            "declares 7 famil(ies)",
        ),
        (
            "fixtures/evidence/misc/multiproc-traceback.txt",
            "scrape_metrics_handler_failed",
            "PROMETHEUS_MULTIPROC_DIR is not set or not a directory",
        ),
    ] {
        let o = check_warnings(rel);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{rel}:\n{out}");
        assert_eq!(
            fired_codes_in_text(&out).first(),
            Some(&code),
            "{rel}:\n{out}"
        );
        assert!(out.contains(quoted), "{rel}: `{quoted}` missing:\n{out}");
    }
}

/// Without `--fail-on`, a page that is no exposition is still a report (exit 0),
/// its input carries why it is no exposition, and its finding quotes the body.
#[test]
fn an_html_page_is_a_finding_not_an_error() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_inferguard"))
        .args(["check", "--json", "fixtures/evidence/misc/proxy-error.html"])
        .current_dir(ROOT)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["inputs"][0]["error"]
        .as_str()
        .is_some_and(|e| e.contains("not a Prometheus exposition")));
    let f = report["endpoints"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "scrape_not_metrics_page")
        .unwrap();
    assert_eq!(f["status"], "fired");
    let kind = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["variable"] == "body_kind")
        .unwrap();
    assert_eq!(kind["text"], "\"html\"");
}

/// A healthy scrape of every shipped system and the real Dynamo captures raise no
/// scrape fault, whatever they declare without samples.
#[test]
fn healthy_scrapes_raise_no_scrape_fault() {
    let mut files: Vec<PathBuf> = FIXTURES
        .iter()
        .filter(|(rel, _)| !rel.contains("/misc/"))
        .map(|(rel, _)| Path::new(ROOT).join(rel))
        .collect();
    if Path::new(CAPTURES).is_dir() {
        collect_prom(Path::new(CAPTURES), &mut files);
    }
    for path in files {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_inferguard"))
            .args(["check", path.to_str().unwrap()])
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{}", path.display());
        let faults: Vec<&str> = fired_codes_in_text(&out)
            .into_iter()
            .filter(|c| c.starts_with("scrape_"))
            .collect();
        assert!(faults.is_empty(), "{}: {faults:?}\n{out}", path.display());
    }
}
