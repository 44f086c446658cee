//! The LMCache `modes` and `families` packs against the `lmcache-compat` fixtures:
//! for each scenario (scrapes, evidence files, operator flags) the detected mode,
//! candidates, architecture and claim, the missing required families and the status
//! of the surfaces that matter. Golden reports and exit codes of the
//! `lmcache-compat` command live with the command's own tests; this file checks the
//! packs' semantics through the analysis itself.

use inferguard::eval::compat::{analyze, Compat, CompatAnalysis, CompatContext};
use inferguard::eval::detect;
use inferguard::evidence::prometheus::{parse, Exposition, ParseOptions};
use inferguard::expr::Var;
use inferguard::normalize::SeriesIndex;
use inferguard::pack::model::EvidenceKind;
use inferguard::pack::Registry;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const DIR: &str = "fixtures/evidence/lmcache-compat";

fn registry() -> Registry {
    Registry::load_strict(&[]).unwrap_or_else(|e| {
        let all: Vec<String> = e.0.iter().map(ToString::to_string).collect();
        panic!("shipped packs do not load:\n{}", all.join("\n"))
    })
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// One deployment: its scrapes, evidence files and the operator's flags.
struct Scenario {
    name: &'static str,
    scrapes: &'static [&'static str],
    evidence: &'static [(EvidenceKind, &'static str)],
    l2_configured: bool,
    metrics_disabled: bool,
}

impl Scenario {
    const fn new(name: &'static str, scrapes: &'static [&'static str]) -> Self {
        Scenario {
            name,
            scrapes,
            evidence: &[],
            l2_configured: false,
            metrics_disabled: false,
        }
    }
}

fn run(registry: &Registry, s: &Scenario) -> CompatAnalysis {
    let mut ctx = CompatContext::default();
    ctx.values
        .insert("l2_configured".into(), s.l2_configured.into());
    ctx.values
        .insert("mp_metrics_disabled".into(), s.metrics_disabled.into());
    run_with(registry, s, ctx).analysis
}

/// The analysis and the variables findings see, with the operator context given.
fn run_with(registry: &Registry, s: &Scenario, mut ctx: CompatContext) -> Compat {
    let expos: Vec<Exposition> = s
        .scrapes
        .iter()
        .map(|rel| parse(&read(rel), &ParseOptions::default()))
        .collect();
    let indexes: Vec<SeriesIndex> = expos.iter().map(SeriesIndex::new).collect();
    let refs: Vec<&SeriesIndex> = indexes.iter().collect();
    let mut engines: Vec<String> = Vec::new();
    for idx in &indexes {
        for d in detect(registry, idx) {
            if !engines.contains(&d.id) {
                engines.push(d.id);
            }
        }
    }
    for (kind, rel) in s.evidence {
        let doc: serde_json::Value =
            serde_json::from_slice(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        ctx.evidence.insert(*kind, doc);
    }
    analyze(registry, &refs, &engines, &ctx)
}

fn surface_status(a: &CompatAnalysis, id: &str) -> String {
    a.surfaces
        .iter()
        .find(|s| s.id == id)
        .map_or_else(|| "absent".to_owned(), |s| s.status.as_str().to_owned())
}

fn family_status(a: &CompatAnalysis, surface: &str, family: &str) -> String {
    a.surfaces
        .iter()
        .find(|s| s.id == surface)
        .and_then(|s| s.families.iter().find(|f| f.id == family))
        .map_or_else(|| "absent".to_owned(), |f| f.status.as_str().to_owned())
}

/// A compact, stable description of one analysis for comparison.
fn describe(a: &CompatAnalysis) -> String {
    let mut candidates: Vec<&str> = a.candidates.iter().map(|c| c.candidate.as_str()).collect();
    candidates.sort_unstable();
    let unmapped: Vec<&str> = a.unmapped_series.iter().map(|u| u.name.as_str()).collect();
    let connectors: Vec<String> = a
        .connectors
        .iter()
        .map(|c| format!("{}:{}", c.name, c.class.as_deref().unwrap_or("-")))
        .collect();
    format!(
        "mode={} candidates=[{}] architecture={}/{} missing=[{}] no_traffic={} unmapped=[{}] connectors=[{}]",
        a.detected_mode,
        candidates.join(","),
        a.architecture.label,
        a.architecture.claim_status,
        a.missing_required.join(","),
        a.no_traffic_yet,
        unmapped.join(","),
        connectors.join(","),
    )
}

/// Mode, candidates, architecture and claim, missing required families, no traffic
/// yet and classified connectors, per scenario.
#[test]
fn each_scenario_reads_as_expected() {
    let registry = registry();
    let mut failures = Vec::new();
    for (s, want) in TABLE {
        let got = describe(&run(&registry, s));
        if got != *want {
            failures.push(format!("{}:\n  expected {want}\n  got      {got}", s.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn l2_families_apply_only_with_the_flag() {
    let registry = registry();
    let without = run(
        &registry,
        &Scenario::new(
            "l1 only",
            &["fixtures/evidence/lmcache-compat/mp-l2-missing.prom"],
        ),
    );
    for f in [
        "l2_store",
        "l2_prefetch",
        "l2_throughput",
        "l2_inflight",
        "l2_usage",
        "l2_failures",
    ] {
        assert_eq!(
            family_status(&without, "lmcache_mp", f),
            "not_applicable",
            "{f} without --l2-configured"
        );
    }
    let with = run(
        &registry,
        &Scenario {
            l2_configured: true,
            ..Scenario::new(
                "l2",
                &["fixtures/evidence/lmcache-compat/mp-l2-populated.prom"],
            )
        },
    );
    for f in [
        "l2_store",
        "l2_prefetch",
        "l2_throughput",
        "l2_inflight",
        "l2_usage",
    ] {
        assert_eq!(
            family_status(&with, "lmcache_mp", f),
            "populated",
            "{f} with --l2-configured"
        );
    }
    assert_eq!(surface_status(&with, "lmcache_mp"), "complete");
}

/// A family that is present but all zero is never a missing required family.
#[test]
fn zero_families_never_count_as_missing() {
    let registry = registry();
    let fresh = run(
        &registry,
        &Scenario::new("fresh", &["fixtures/evidence/lmcache-mp/fresh-server.prom"]),
    );
    assert_eq!(family_status(&fresh, "lmcache_mp", "event_bus"), "zero");
    assert_eq!(family_status(&fresh, "lmcache_mp", "l1_memory"), "zero");
    assert!(fresh.no_traffic_yet);
    for m in &fresh.missing_required {
        assert!(
            !m.ends_with(".event_bus") && !m.ends_with(".l1_memory"),
            "{m} is zero, not missing"
        );
    }
}

/// With `--mp-metrics-disabled` no MP family can fail: the surface is not applicable
/// and the disabled finding is the one reason.
#[test]
fn metrics_disabled_makes_mp_families_not_applicable() {
    let registry = registry();
    let a = run(
        &registry,
        &Scenario {
            metrics_disabled: true,
            ..Scenario::new(
                "disabled",
                &["fixtures/evidence/lmcache-compat/mp-l1-healthy.prom"],
            )
        },
    );
    assert_eq!(a.detected_mode, "mp");
    assert_eq!(surface_status(&a, "lmcache_mp"), "not_applicable");
    assert!(a.missing_required.is_empty(), "{:?}", a.missing_required);
}

/// Every `lmcache*` series of every LMCache fixture, and of the real Dynamo vLLM
/// worker capture (embedded LMCache), is matched by some family.
#[test]
fn every_lmcache_series_is_mapped() {
    let registry = registry();
    let mut scrapes: Vec<String> = Vec::new();
    for dir in [
        "fixtures/evidence/lmcache-compat",
        "fixtures/evidence/lmcache-mp",
        "fixtures/evidence/lmcache-embedded",
        "fixtures/evidence/lmcache-coordinator",
    ] {
        for entry in std::fs::read_dir(Path::new(ROOT).join(dir)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".prom") {
                scrapes.push(format!("{dir}/{name}"));
            }
        }
    }
    scrapes.push("../shared/upstream-samples/dynamo/vllm-worker-metrics.prom".to_owned());
    let mut failures = Vec::new();
    for rel in &scrapes {
        if !Path::new(ROOT).join(rel).exists() {
            continue;
        }
        let expo = parse(&read(rel), &ParseOptions::default());
        let index = SeriesIndex::new(&expo);
        let engines: Vec<String> = detect(&registry, &index)
            .into_iter()
            .map(|d| d.id)
            .collect();
        let a = analyze(&registry, &[&index], &engines, &CompatContext::default()).analysis;
        if !a.unmapped_series.is_empty() {
            let names: Vec<&str> = a.unmapped_series.iter().map(|u| u.name.as_str()).collect();
            failures.push(format!("{rel}: {names:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "unmapped LMCache series:\n{}",
        failures.join("\n")
    );
}

/// The real embedded capture (Dynamo vLLM worker with LMCacheConnectorV1, no traffic
/// yet) reads as embedded vLLM LMCache.
#[test]
fn real_embedded_capture_reads_as_vllm_embedded() {
    let rel = "../shared/upstream-samples/dynamo/vllm-worker-metrics.prom";
    if !Path::new(ROOT).join(rel).exists() {
        return;
    }
    let registry = registry();
    let expo = parse(&read(rel), &ParseOptions::default());
    let index = SeriesIndex::new(&expo);
    let engines: Vec<String> = detect(&registry, &index)
        .into_iter()
        .map(|d| d.id)
        .collect();
    let a = analyze(&registry, &[&index], &engines, &CompatContext::default()).analysis;
    assert_eq!(a.detected_mode, "embedded");
    assert_eq!(
        (
            a.architecture.label.as_str(),
            a.architecture.claim_status.as_str()
        ),
        ("vllm_embedded_lmcache", "measured")
    );
    assert_eq!(family_status(&a, "lmcache_embedded", "requests"), "zero");
}

/// A complete scrape of the older generation (StorageManager counters, `_keys`
/// spellings, no EventBus) needs its StorageManager counters, not the EventBus.
#[test]
fn legacy_generation_requires_storage_manager_not_event_bus() {
    let registry = registry();
    let a = run(
        &registry,
        &Scenario::new(
            "legacy",
            &["fixtures/evidence/lmcache-compat/mp-legacy-generation.prom"],
        ),
    );
    let mp = a.surfaces.iter().find(|s| s.id == "lmcache_mp").unwrap();
    assert_eq!(mp.generation, "legacy");
    assert_eq!(
        family_status(&a, "lmcache_mp", "storage_manager"),
        "populated"
    );
    assert!(a.missing_required.is_empty(), "{:?}", a.missing_required);
}

/// Evidence JSON fixtures say where they come from (JSON has no comments, so in a
/// `_provenance` key) and every fixture stays small.
#[test]
fn fixtures_carry_provenance() {
    for entry in std::fs::read_dir(Path::new(ROOT).join(DIR)).unwrap() {
        let path = entry.unwrap().path();
        let rel = path.strip_prefix(ROOT).unwrap().display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().count() <= 150, "{rel}: keep fixtures small");
        match path.extension().and_then(|e| e.to_str()) {
            Some("prom") => assert!(
                text.starts_with("# provenance: written for inferguard's tests ("),
                "{rel}: first line must be the provenance comment"
            ),
            Some("json") => {
                let doc: serde_json::Value =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
                let p = doc
                    .get("_provenance")
                    .and_then(|v| v.as_str())
                    .unwrap_or("");
                assert!(
                    p.starts_with("written for inferguard's tests ("),
                    "{rel}: needs a `_provenance` key"
                );
            }
            _ => assert!(rel.ends_with("README.md"), "{rel}: unexpected fixture kind"),
        }
    }
}

/// Every scenario with what it must read as (see [`describe`]).
const TABLE: &[(Scenario, &str)] = &[
    (
        Scenario {
            name: "mp l1 healthy",
            scrapes: &["fixtures/evidence/lmcache-compat/mp-l1-healthy.prom"],
            evidence: &[],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=mp candidates=[] architecture=lmcache_mp_server/measured missing=[] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "mp lookup counters absent",
            scrapes: &["fixtures/evidence/lmcache-compat/mp-lookup-counters-absent.prom"],
            evidence: &[],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=mp candidates=[] architecture=lmcache_mp_server/measured missing=[lmcache_mp.lookup_tokens] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "mp l2 populated, --l2-configured",
            scrapes: &["fixtures/evidence/lmcache-compat/mp-l2-populated.prom"],
            evidence: &[],
            l2_configured: true,
            metrics_disabled: false,
        },
        "mode=mp candidates=[] architecture=lmcache_mp_server/measured missing=[] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "mp l2 missing, --l2-configured",
            scrapes: &["fixtures/evidence/lmcache-compat/mp-l2-missing.prom"],
            evidence: &[],
            l2_configured: true,
            metrics_disabled: false,
        },
        "mode=mp candidates=[] architecture=lmcache_mp_server/measured missing=[lmcache_mp.l2_store,lmcache_mp.l2_prefetch,lmcache_mp.l2_throughput,lmcache_mp.l2_inflight] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "mp l2 missing, no flag",
            scrapes: &["fixtures/evidence/lmcache-compat/mp-l2-missing.prom"],
            evidence: &[],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=mp candidates=[] architecture=lmcache_mp_server/measured missing=[] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "mp fresh server",
            scrapes: &["fixtures/evidence/lmcache-mp/fresh-server.prom"],
            evidence: &[],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=mp candidates=[] architecture=lmcache_mp_server/measured missing=[lmcache_mp.lookup_tokens,lmcache_mp.l1_counters] no_traffic=true unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "mp metrics disabled",
            scrapes: &["fixtures/evidence/misc/python-runtime-only.prom"],
            evidence: &[],
            l2_configured: false,
            metrics_disabled: true,
        },
        "mode=unknown candidates=[] architecture=unknown/not_proven missing=[] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "mp legacy sm",
            scrapes: &["fixtures/evidence/lmcache-mp/legacy-sm.prom"],
            evidence: &[],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=mp candidates=[] architecture=lmcache_mp_server/measured missing=[lmcache_mp.lookup_tokens,lmcache_mp.l1_memory] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "mp legacy colon",
            scrapes: &["fixtures/evidence/lmcache-mp/legacy-colon.prom"],
            evidence: &[],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=mp candidates=[] architecture=lmcache_mp_server/measured missing=[lmcache_mp.lookup_tokens,lmcache_mp.l1_memory] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "mp cacheblend",
            scrapes: &["fixtures/evidence/lmcache-compat/mp-cacheblend.prom"],
            evidence: &[],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=mp candidates=[cacheblend] architecture=lmcache_mp_server/measured missing=[] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "vllm + mp server",
            scrapes: &["fixtures/evidence/lmcache-mp/vllm-mp-connector.prom", "fixtures/evidence/lmcache-compat/mp-l1-healthy.prom"],
            evidence: &[],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=mp candidates=[] architecture=vllm_mp_lmcache/measured missing=[] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "vllm mp connector only",
            scrapes: &["fixtures/evidence/lmcache-mp/vllm-mp-connector.prom"],
            evidence: &[],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=mp candidates=[] architecture=vllm_mp_lmcache/inferred missing=[lmcache_mp.lookup_tokens,lmcache_mp.l1_counters,lmcache_mp.l1_memory,lmcache_mp.event_bus] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "vllm embedded dynamic",
            scrapes: &["fixtures/evidence/lmcache-compat/vllm-embedded-dynamic.prom"],
            evidence: &[],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=embedded candidates=[] architecture=vllm_embedded_lmcache/measured missing=[] no_traffic=false unmapped=[] connectors=[LMCacheConnectorV1Dynamic:embedded]",
    ),
    (
        Scenario {
            name: "vllm embedded offload flag",
            scrapes: &["fixtures/evidence/lmcache-compat/vllm-embedded-offload-flag.prom"],
            evidence: &[],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=embedded candidates=[] architecture=vllm_embedded_lmcache/measured missing=[] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "vllm offload flag without lmcache metrics",
            scrapes: &["fixtures/evidence/lmcache-compat/vllm-offload-flag-no-lmcache-metrics.prom"],
            evidence: &[],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=embedded candidates=[] architecture=vllm_embedded_lmcache/inferred missing=[lmcache_embedded.requests,lmcache_embedded.tokens,lmcache_embedded.hit_rate,lmcache_embedded.latency,lmcache_embedded.cache_usage] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "stale connector",
            scrapes: &["fixtures/evidence/lmcache-compat/stale-connector.prom"],
            evidence: &[],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=unknown candidates=[] architecture=unknown/not_proven missing=[] no_traffic=false unmapped=[] connectors=[LMCacheConnector:stale]",
    ),
    (
        Scenario {
            name: "sglang --enable-lmcache",
            scrapes: &["fixtures/evidence/sglang/healthy.prom"],
            evidence: &[(EvidenceKind::Launch, "fixtures/evidence/lmcache-compat/launch-sglang-enable-lmcache.json")],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=unknown candidates=[] architecture=sglang_mp_lmcache_candidate/inferred missing=[] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "sglang --enable-lmcache + mp server",
            scrapes: &["fixtures/evidence/sglang/healthy.prom", "fixtures/evidence/lmcache-compat/mp-l1-healthy.prom"],
            evidence: &[(EvidenceKind::Launch, "fixtures/evidence/lmcache-compat/launch-sglang-enable-lmcache.json")],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=mp candidates=[] architecture=sglang_mp_lmcache_candidate/inferred missing=[] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "sglang legacy layerwise",
            scrapes: &["fixtures/evidence/sglang/healthy.prom"],
            evidence: &[(EvidenceKind::Launch, "fixtures/evidence/lmcache-compat/launch-sglang-layerwise.json")],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=embedded candidates=[] architecture=sglang_embedded_lmcache/inferred missing=[lmcache_embedded.requests,lmcache_embedded.tokens,lmcache_embedded.hit_rate,lmcache_embedded.latency,lmcache_embedded.cache_usage] no_traffic=false unmapped=[] connectors=[LMCRadixCache:sglang_embedded,LMCacheLayerwiseConnector:sglang_embedded]",
    ),
    (
        Scenario {
            name: "sglang hicache only",
            scrapes: &["fixtures/evidence/lmcache-compat/sglang-hicache-only.prom"],
            evidence: &[],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=unknown candidates=[] architecture=unknown/not_proven missing=[] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "p2p from logs",
            scrapes: &[],
            evidence: &[(EvidenceKind::Logs, "fixtures/evidence/lmcache-compat/logs-p2p.json")],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=embedded candidates=[p2p] architecture=unknown/not_proven missing=[lmcache_embedded.requests,lmcache_embedded.tokens,lmcache_embedded.hit_rate,lmcache_embedded.latency,lmcache_embedded.cache_usage] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "pd from launch",
            scrapes: &[],
            evidence: &[(EvidenceKind::Launch, "fixtures/evidence/lmcache-compat/launch-pd.json")],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=embedded candidates=[disaggregated_prefill] architecture=vllm_embedded_lmcache/inferred missing=[lmcache_embedded.requests,lmcache_embedded.tokens,lmcache_embedded.hit_rate,lmcache_embedded.latency,lmcache_embedded.cache_usage] no_traffic=false unmapped=[] connectors=[LMCacheConnectorV1:embedded]",
    ),
    (
        Scenario {
            name: "mp from http and otel only",
            scrapes: &[],
            evidence: &[(EvidenceKind::Http, "fixtures/evidence/lmcache-compat/http-mp-healthy.json"), (EvidenceKind::Otel, "fixtures/evidence/lmcache-compat/otel-mp-spans.json")],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=mp candidates=[] architecture=lmcache_mp_server/inferred missing=[lmcache_mp.lookup_tokens,lmcache_mp.l1_counters,lmcache_mp.l1_memory,lmcache_mp.event_bus] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "mp with unhealthy http",
            scrapes: &["fixtures/evidence/lmcache-compat/mp-l1-healthy.prom"],
            evidence: &[(EvidenceKind::Http, "fixtures/evidence/lmcache-compat/http-mp-unhealthy.json")],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=mp candidates=[] architecture=lmcache_mp_server/measured missing=[] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "many cache salts",
            scrapes: &["fixtures/evidence/lmcache-compat/mp-many-salts.prom"],
            evidence: &[],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=mp candidates=[] architecture=lmcache_mp_server/measured missing=[lmcache_mp.l1_counters,lmcache_mp.l1_memory] no_traffic=false unmapped=[] connectors=[]",
    ),
    (
        Scenario {
            name: "empty input",
            scrapes: &["fixtures/evidence/misc/empty.prom"],
            evidence: &[],
            l2_configured: false,
            metrics_disabled: false,
        },
        "mode=unknown candidates=[] architecture=unknown/not_proven missing=[] no_traffic=false unmapped=[] connectors=[]",
    ),
];

/// The pack-declared observability section of an analysis.
fn observability(a: &CompatAnalysis) -> &inferguard::report::compat::ReportSection {
    &a.sections["lmcache_mp_observability"]
}

/// A copy of the shipped `lmcache` pack with one edit to its `modes.yaml`.
fn lmcache_pack_with(dir: &Path, from: &str, to: &str) -> std::path::PathBuf {
    let pack = dir.join("lmcache");
    std::fs::create_dir_all(&pack).unwrap();
    for entry in std::fs::read_dir(Path::new(ROOT).join("rules/lmcache")).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if path.file_name().unwrap() == "modes.yaml" {
            assert!(text.contains(from), "modes.yaml has no `{from}`");
            text = text.replace(from, to);
        }
        std::fs::write(pack.join(path.file_name().unwrap()), text).unwrap();
    }
    pack
}

/// issue 13, item 3: the MP observability facts (EventBus tail-drop risk, sampled
/// histogram sparsity, cache-salt cardinality) are the pack's derived facts: the
/// shipped expressions decide them, an edited pack changes them without Rust, and a
/// typo in one is a located load error.
#[test]
fn observability_facts_are_derived_by_the_pack() {
    let registry = registry();
    let many = Scenario::new(
        "many salts",
        &["fixtures/evidence/lmcache-compat/mp-many-salts.prom"],
    );
    let analysis = run(&registry, &many);
    let o = observability(&analysis);
    assert_eq!(o["cache_salt_cardinality"], 110);
    assert_eq!(o["cache_salt_cardinality_risk"], true);
    let legacy = Scenario::new(
        "legacy",
        &["fixtures/evidence/lmcache-compat/mp-legacy-generation.prom"],
    );
    assert_eq!(
        observability(&run(&registry, &legacy))["event_bus_taildrop_risk"],
        true
    );

    let tmp = tempfile::tempdir().unwrap();
    let pack = lmcache_pack_with(
        tmp.path(),
        "value: cache_salt_cardinality > 100",
        "value: cache_salt_cardinality > 1000",
    );
    let edited = Registry::load(&[pack]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        observability(&run(&edited, &many))["cache_salt_cardinality_risk"],
        false
    );
    // With the queue-size condition dropped the risk still holds; with the
    // EventBus family required to be populated instead, it no longer does.
    let tmp = tempfile::tempdir().unwrap();
    let pack = lmcache_pack_with(
        tmp.path(),
        "family_series[\"lmcache_mp.event_bus\"] == 0",
        "family_series[\"lmcache_mp.event_bus\"] > 0",
    );
    let edited = Registry::load(&[pack]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        observability(&run(&edited, &legacy))["event_bus_taildrop_risk"],
        false
    );

    let tmp = tempfile::tempdir().unwrap();
    let pack = lmcache_pack_with(
        tmp.path(),
        "family_series[\"lmcache_mp.event_bus\"]",
        "family_seriez[\"lmcache_mp.event_bus\"]",
    );
    let text = std::fs::read_to_string(pack.join("modes.yaml")).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("family_seriez"))
        .unwrap()
        + 1;
    let err = Registry::load(&[pack])
        .err()
        .expect("a typo must not load")
        .to_string();
    assert!(err.contains(&format!("modes.yaml:{line}:")), "{err}");
    assert!(
        err.contains("does not compile") && err.contains("family_seriez"),
        "{err}"
    );
}

/// issue 13, item 3: an indicator's pointer into the launch evidence is checked
/// against the document the launch packs declare: a typo is a located load error
/// with a did-you-mean, not an indicator that silently never holds.
#[test]
fn a_misspelt_launch_pointer_is_a_located_load_error() {
    let tmp = tempfile::tempdir().unwrap();
    let pack = lmcache_pack_with(
        tmp.path(),
        "pointer: /flags/enable_p2p }",
        "pointer: /flags/enable_pp2p }",
    );
    let text = std::fs::read_to_string(pack.join("modes.yaml")).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("enable_pp2p"))
        .unwrap()
        + 1;
    let col = text.lines().nth(line - 1).unwrap().find("/flags").unwrap() + 1;
    let err = Registry::load(&[pack]).err().expect("must not load");
    let all: Vec<String> = err.0.iter().map(|d| d.to_string()).collect();
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(
        all[0].contains(&format!("modes.yaml:{line}:{col}:")),
        "{all:#?}"
    );
    assert!(
        all[0].contains("did you mean `/flags/enable_p2p`"),
        "{all:#?}"
    );
}

/// "One upstream name, one place", item 3: the report's observability section is
/// pack data. The service-instance id source is a pack expression over the
/// resource ids and the operator's flag, an unset port is left out, and renaming
/// the section in the pack renames it in the report.
#[test]
fn the_observability_section_is_declared_by_the_pack() {
    let registry = registry();
    let healthy = Scenario::new(
        "healthy",
        &["fixtures/evidence/lmcache-compat/mp-l1-healthy.prom"],
    );
    let empty = Scenario::new("empty", &["fixtures/evidence/misc/empty.prom"]);
    let flagged = || {
        let mut c = CompatContext::default();
        c.values
            .insert("mp_service_instance_id".into(), "a-operator-id".into());
        c.values.insert("mp_prometheus_port".into(), 9090.into());
        c
    };
    let both = run_with(&registry, &healthy, flagged()).analysis;
    let o = observability(&both);
    assert_eq!(o["service_instance_id_source"], "target_info_and_flag");
    assert_eq!(
        o["service_instance_ids"],
        serde_json::json!(["9b2e61c4-7f0d-4a8e-b3c5-1d2f40a6e917", "a-operator-id"])
    );
    assert_eq!(o["prometheus_port"], 9090);
    let flag_only = run_with(&registry, &empty, flagged()).analysis;
    assert_eq!(
        observability(&flag_only)["service_instance_id_source"],
        "flag"
    );
    let plain = run(&registry, &healthy);
    assert_eq!(
        observability(&plain)["service_instance_id_source"],
        "target_info"
    );
    assert!(!observability(&plain).contains_key("prometheus_port"));
    assert_eq!(
        observability(&plain)["event_bus_queue_size"].to_string(),
        "10000.0"
    );

    let tmp = tempfile::tempdir().unwrap();
    let pack = lmcache_pack_with(
        tmp.path(),
        "section: lmcache_mp_observability",
        "section: mp_observability",
    );
    let edited = Registry::load(&[pack]).unwrap_or_else(|e| panic!("{e}"));
    let a = run(&edited, &healthy);
    assert!(
        a.sections.contains_key("mp_observability"),
        "{:?}",
        a.sections.keys()
    );
    assert!(!a.sections.contains_key("lmcache_mp_observability"));
}

/// Item 3: `no_traffic_yet` is the pack's derived fact, not Rust: the shipped rule
/// finds the fresh server, its missing families say why, and a pack whose rule
/// lists no surface turns both the report field and the finding variable off.
#[test]
fn no_traffic_yet_is_declared_by_the_pack() {
    let registry = registry();
    let fresh = Scenario::new("fresh", &["fixtures/evidence/lmcache-mp/fresh-server.prom"]);
    let shipped = run_with(&registry, &fresh, CompatContext::default());
    assert!(shipped.analysis.no_traffic_yet);
    let var = |c: &Compat, id: &str| c.vars.iter().find(|(k, _)| k == id).map(|(_, v)| v.clone());
    assert_eq!(var(&shipped, "no_traffic_yet"), Some(Var::Bool(true)));
    let reasons = |a: &CompatAnalysis| -> usize {
        a.surfaces
            .iter()
            .flat_map(|s| &s.families)
            .filter(|f| {
                f.reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("no traffic"))
            })
            .count()
    };
    assert!(reasons(&shipped.analysis) > 0);

    let tmp = tempfile::tempdir().unwrap();
    let pack = lmcache_pack_with(
        tmp.path(),
        "if boot_present && !other_present && waiting { out.push(s); }",
        "if false { out.push(s); }",
    );
    let edited = Registry::load(&[pack]).unwrap_or_else(|e| panic!("{e}"));
    let c = run_with(&edited, &fresh, CompatContext::default());
    assert!(!c.analysis.no_traffic_yet);
    assert_eq!(var(&c, "no_traffic_yet"), Some(Var::Bool(false)));
    assert_eq!(reasons(&c.analysis), 0);
}

/// Item 3: a report field with an unknown variable, a key used twice, an unknown
/// type, a `limit` on a number or a `no_traffic` fact that does not exist is a
/// load error at its line in `modes.yaml`.
#[test]
fn report_field_mistakes_are_located_load_errors() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "value: mp_metrics_sample_rate }",
            "value: mp_metrics_sample_rat }",
            "mp_metrics_sample_rat",
        ),
        (
            "{ key: logging_disabled,",
            "{ key: metrics_disabled,",
            "declared twice",
        ),
        (
            "key: sample_rate, type: number",
            "key: sample_rate, type: float",
            "float",
        ),
        (
            "key: sample_rate, type: number,",
            "key: sample_rate, type: number, limit: 3,",
            "`limit` applies only",
        ),
        (
            "surfaces: no_traffic_surfaces",
            "surfaces: no_traffic_surface",
            "no derived fact",
        ),
    ];
    for (from, to, needle) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let pack = lmcache_pack_with(tmp.path(), from, to);
        let text = std::fs::read_to_string(pack.join("modes.yaml")).unwrap();
        // The last line with the edit: a duplicate is reported at its second use.
        let lines: Vec<&str> = text.lines().collect();
        let line = lines.iter().rposition(|l| l.contains(to)).unwrap() + 1;
        let err = Registry::load(&[pack]).err().expect("must not load");
        let all: Vec<String> = err.0.iter().map(ToString::to_string).collect();
        // A file that fails its schema takes its indicators with it, so later
        // files report unknown variables too; the field's own error is the point.
        let at = format!("modes.yaml:{line}:");
        assert!(
            all.iter().any(|d| d.contains(&at) && d.contains(needle)),
            "{to}: {all:#?}"
        );
    }
}
