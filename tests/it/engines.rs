//! Engine packs against evidence: which systems each fixture is detected as, that
//! legacy spellings still read (as `Spelling::Legacy`), that every signal of every
//! engine pack is exercised by some fixture, and conformance over the real Dynamo
//! captures in `../shared/upstream-samples/dynamo/`.

use inferguard::eval::detect;
use inferguard::evidence::prometheus::{parse, Exposition, ParseOptions};
use inferguard::normalize::{compute_signal, SeriesIndex, SignalValue, Spelling};
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
    ("fixtures/evidence/trtllm/serve.prom", &["trtllm"]),
    ("fixtures/evidence/trtllm/pressure.prom", &["trtllm"]),
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
    assert!(!out.contains("sglang_"), "{out}");

    let pressure = check_warnings("fixtures/evidence/sglang/pressure.prom");
    let out = String::from_utf8_lossy(&pressure.stdout);
    assert_eq!(pressure.status.code(), Some(1), "{out}");
    for (code, quoted) in [
        ("sglang_queue_pressure", "30 request(s) waiting"),
        ("sglang_token_pool_saturated", "98.0%"),
        ("sglang_retractions_observed", "57 request(s) retracted"),
        (
            "sglang_prefix_cache_low_hit_ratio",
            "12000 cached of 1300000",
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
            "50 request(s) failed with an error against 1200",
        ),
    ] {
        assert!(out.contains(code), "{code} missing:\n{out}");
        assert!(out.contains(quoted), "`{quoted}` missing:\n{out}");
    }
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

/// The codes of the fired findings of `check`'s human report, in its order (most
/// severe first).
fn fired_codes(out: &str) -> Vec<&str> {
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
        assert_eq!(fired_codes(&out).first(), Some(&code), "{rel}:\n{out}");
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
        let faults: Vec<&str> = fired_codes(&out)
            .into_iter()
            .filter(|c| c.starts_with("scrape_"))
            .collect();
        assert!(faults.is_empty(), "{}: {faults:?}\n{out}", path.display());
    }
}
