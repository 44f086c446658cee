//! Behaviour of the exposition scanner on hand-written cases, on the real
//! Dynamo captures in `shared/upstream-samples/dynamo`, and on arbitrary
//! bytes (property tests).

use inferguard::evidence::prometheus::{
    is_created, parse, DropReason, Exposition, Format, MetricType, ParseOptions, SampleRole,
};
use proptest::prelude::*;

/// Parses and checks the invariants every result must hold.
fn scan(input: &str) -> Exposition {
    scan_bytes(input.as_bytes(), &ParseOptions::default())
}

fn scan_bytes(input: &[u8], opts: &ParseOptions) -> Exposition {
    let e = parse(input, opts);
    check_invariants(input, &e);
    e
}

/// Every line is exactly one of: sample, dropped, metadata, comment, blank.
fn check_invariants(input: &[u8], e: &Exposition) {
    let mut expected_lines = input.split(|&b| b == b'\n').count();
    if input.is_empty() || input.ends_with(b"\n") {
        expected_lines -= 1;
    }
    assert_eq!(e.lines as usize, expected_lines, "line count");
    let accounted = e.samples.len()
        + e.dropped.len()
        + (e.metadata_lines + e.comment_lines + e.blank_lines) as usize;
    assert_eq!(accounted, e.lines as usize, "line accounting");
    let mut used: Vec<u32> = e
        .samples
        .iter()
        .map(|s| s.line)
        .chain(e.dropped.iter().map(|d| d.line))
        .collect();
    assert!(e.samples.windows(2).all(|w| w[0].line < w[1].line));
    assert!(e.dropped.windows(2).all(|w| w[0].line < w[1].line));
    used.sort_unstable();
    assert!(used.windows(2).all(|w| w[0] < w[1]), "a line used twice");
    assert!(used.iter().all(|&l| l >= 1 && l <= e.lines));
    for d in &e.dropped {
        assert!(d.excerpt.chars().count() <= 80);
    }
    for s in &e.samples {
        assert!((s.name as usize) < e.names.len());
        let _ = e.labels(s).count();
    }
    let family_samples: usize = e.families().iter().map(|f| f.samples.len()).sum();
    assert_eq!(
        family_samples,
        e.samples.len(),
        "every sample in one family"
    );
}

fn labels(e: &Exposition, i: usize) -> Vec<(String, String)> {
    e.labels(&e.samples[i])
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn drops(e: &Exposition) -> Vec<(u32, DropReason)> {
    e.dropped
        .iter()
        .map(|d| (d.line, d.reason.clone()))
        .collect()
}

fn sample_names(e: &Exposition) -> Vec<&str> {
    e.samples.iter().map(|s| e.name(s)).collect()
}

fn values(e: &Exposition) -> Vec<f64> {
    e.samples.iter().map(|s| s.value).collect()
}

#[test]
fn text_format_with_colon_names() {
    let e = scan(concat!(
        "# HELP vllm:num_requests_running Number of requests in model execution batches.\n",
        "# TYPE vllm:num_requests_running gauge\n",
        "vllm:num_requests_running{engine=\"0\",model_name=\"Qwen/Qwen3-0.6B\"} 3.0\n",
        "vllm:num_requests_running{engine=\"1\",model_name=\"Qwen/Qwen3-0.6B\"} 4\n",
        "plain_metric 7\n",
    ));
    assert_eq!(e.format, Format::Text004);
    assert!(e.dropped.is_empty());
    assert_eq!(e.names, ["vllm:num_requests_running", "plain_metric"]);
    assert_eq!(values(&e), [3.0, 4.0, 7.0]);
    assert_eq!(e.name(&e.samples[1]), "vllm:num_requests_running");
    assert_eq!(
        labels(&e, 1),
        pairs(&[("engine", "1"), ("model_name", "Qwen/Qwen3-0.6B")])
    );
    assert_eq!(e.label(&e.samples[0], "engine"), Some("0"));
    assert_eq!(e.label(&e.samples[0], "missing"), None);
    assert!(labels(&e, 2).is_empty());
    assert_eq!(e.samples[2].line, 5);
    let m = e.meta("vllm:num_requests_running").unwrap();
    assert_eq!(m.kind, Some(MetricType::Gauge));
    assert_eq!(
        m.help.as_deref(),
        Some("Number of requests in model execution batches.")
    );
    assert_eq!(m.line, 1);
    assert_eq!((e.lines, e.metadata_lines), (5, 2));
}

#[test]
fn openmetrics_with_units_created_and_eof() {
    let e = scan(concat!(
        "# TYPE acme_http_router_request_seconds summary\n",
        "# UNIT acme_http_router_request_seconds seconds\n",
        "# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.\n",
        "acme_http_router_request_seconds_sum{path=\"/api/v1\",method=\"GET\"} 9036.32\n",
        "acme_http_router_request_seconds_count{path=\"/api/v1\",method=\"GET\"} 807283.0\n",
        "acme_http_router_request_seconds_created{path=\"/api/v1\",method=\"GET\"} 1605281325.0\n",
        "# TYPE go_goroutines gauge\n",
        "go_goroutines 69 1520879607.789\n",
        "# EOF\n",
    ));
    assert_eq!(e.format, Format::OpenMetrics);
    assert!(e.saw_eof);
    assert!(e.dropped.is_empty());
    let m = e.meta("acme_http_router_request_seconds").unwrap();
    assert_eq!(m.kind, Some(MetricType::Summary));
    assert_eq!(m.unit.as_deref(), Some("seconds"));
    assert_eq!(
        e.family_of("acme_http_router_request_seconds_created"),
        (
            "acme_http_router_request_seconds".to_owned(),
            SampleRole::Created
        )
    );
    assert_eq!(e.samples[3].timestamp_ms, Some(1_520_879_607_789));
    assert_eq!(e.metadata_lines, 5);
}

#[test]
fn empty_braces_and_spacing_prometheus_tolerates() {
    let e = scan(concat!(
        "foo{} 1\n",
        "foo { a = \"b\" , c=\"d\" , } 2\n",
        "foo{a=\"b\",} 3\n",
        "foo\t{\ta=\"b\"\t}\t4\t\n",
        "foo{a=\"b\"}5\n",
    ));
    assert!(e.dropped.is_empty(), "{:?}", e.dropped);
    assert_eq!(values(&e), [1.0, 2.0, 3.0, 4.0, 5.0]);
    assert!(labels(&e, 0).is_empty());
    assert_eq!(labels(&e, 1), pairs(&[("a", "b"), ("c", "d")]));
    assert_eq!(labels(&e, 2), pairs(&[("a", "b")]));
    assert_eq!(labels(&e, 3), pairs(&[("a", "b")]));
}

#[test]
fn label_escapes_are_unescaped() {
    let e = scan(concat!(
        "m{path=\"C:\\\\dir\",q=\"say \\\"hi\\\"\",t=\"a\\nb\"} 1\n",
        "m{path=\"C:\\\\dir\",q=\"plain\",t=\"a\\nb\"} 2\n",
        "m{path=\"C:\\\\other\",q=\"plain\",t=\"x\"} 3\n",
    ));
    assert!(e.dropped.is_empty());
    assert_eq!(
        labels(&e, 0),
        pairs(&[("path", "C:\\dir"), ("q", "say \"hi\""), ("t", "a\nb")])
    );
    assert_eq!(
        labels(&e, 1),
        pairs(&[("path", "C:\\dir"), ("q", "plain"), ("t", "a\nb")])
    );
    assert_eq!(
        labels(&e, 2),
        pairs(&[("path", "C:\\other"), ("q", "plain"), ("t", "x")])
    );
}

#[test]
fn label_values_may_hold_delimiters() {
    let e = scan("m{a=\"x,y=z}\",b=\"{w}\",c=\"# 1 2\"} 1\n");
    assert!(e.dropped.is_empty());
    assert_eq!(
        labels(&e, 0),
        pairs(&[("a", "x,y=z}"), ("b", "{w}"), ("c", "# 1 2")])
    );
}

#[test]
fn special_and_exponent_values() {
    let e = scan("a NaN\nb +Inf\nc -Inf\nd Inf\ne 1e3\nf -0\ng 1.5E-3\nh 0x10\ni 1,5\n");
    assert!(e.samples[0].value.is_nan());
    assert_eq!(e.samples[1].value, f64::INFINITY);
    assert_eq!(e.samples[2].value, f64::NEG_INFINITY);
    assert_eq!(e.samples[3].value, f64::INFINITY);
    assert_eq!(e.samples[4].value, 1000.0);
    assert_eq!(e.samples[5].value, 0.0);
    assert!(e.samples[5].value.is_sign_negative());
    assert_eq!(e.samples[6].value, 0.0015);
    assert_eq!(
        drops(&e),
        [(8, DropReason::InvalidValue), (9, DropReason::InvalidValue)]
    );
}

#[test]
fn text_format_timestamps_are_milliseconds() {
    let e = scan("a 1 1520879607789\nb 2 -5\nc 3 abc\nd 4 5 6\n");
    assert_eq!(e.format, Format::Text004);
    assert_eq!(e.samples[0].timestamp_ms, Some(1_520_879_607_789));
    assert_eq!(e.samples[1].timestamp_ms, Some(-5));
    assert_eq!(
        drops(&e),
        [
            (3, DropReason::InvalidTimestamp),
            (4, DropReason::TrailingText)
        ]
    );
}

#[test]
fn openmetrics_timestamps_are_seconds() {
    let e = scan("a 1 1520879607.789\nb 2 1520879607\nc 3\n# EOF\n");
    assert_eq!(e.format, Format::OpenMetrics);
    assert_eq!(e.samples[0].timestamp_ms, Some(1_520_879_607_789));
    assert_eq!(e.samples[1].timestamp_ms, Some(1_520_879_607_000));
    assert_eq!(e.samples[2].timestamp_ms, None);
}

#[test]
fn exemplars_are_checked_but_not_samples() {
    let e = scan(concat!(
        "# TYPE foo histogram\n",
        "foo_bucket{le=\"0.5\"} 3 # {trace_id=\"abc\"} 0.4 1520879607.789\n",
        "foo_bucket{le=\"+Inf\"} 4 1520879607.000 # {trace_id=\"d\\\"ef\"} 7\n",
        "foo_bucket{le=\"1\"} 4 # {trace_id=\"abc\" 0.4\n",
        "foo_bucket{le=\"2\"} 4 # oops\n",
        "foo_bucket{le=\"3\"} 4 # {a=\"b\"}\n",
        "foo_bucket{le=\"4\"} 4 # {a=\"b\"} 1 2 3\n",
        "foo_count 4\n",
    ));
    assert_eq!(e.format, Format::OpenMetrics);
    assert_eq!(e.samples.len(), 3);
    assert!(e.samples[0].exemplar && e.samples[1].exemplar && !e.samples[2].exemplar);
    assert_eq!(e.samples[0].value, 3.0);
    assert_eq!(e.samples[0].timestamp_ms, None);
    assert_eq!(e.samples[1].timestamp_ms, Some(1_520_879_607_000));
    assert_eq!(labels(&e, 0), pairs(&[("le", "0.5")]));
    assert_eq!(e.names, ["foo_bucket", "foo_count"]);
    assert_eq!(
        drops(&e),
        [
            (4, DropReason::InvalidExemplar),
            (5, DropReason::InvalidExemplar),
            (6, DropReason::InvalidExemplar),
            (7, DropReason::InvalidExemplar)
        ]
    );
}

#[test]
fn help_text_escapes() {
    let e = scan("# HELP m a\\\\b\\nc \\t d  \n# HELP n\n#HELP o  spaced   \n");
    assert_eq!(e.meta("m").unwrap().help.as_deref(), Some("a\\b\nc \\t d"));
    assert_eq!(e.meta("n").unwrap().help.as_deref(), Some(""));
    assert_eq!(e.meta("o").unwrap().help.as_deref(), Some("spaced"));
    assert_eq!(e.metadata_lines, 3);
}

#[test]
fn first_declaration_wins() {
    let e = scan("# TYPE m gauge\n# TYPE m counter\n# HELP m one\n# HELP m two\nm 1\n");
    let m = e.meta("m").unwrap();
    assert_eq!(m.kind, Some(MetricType::Gauge));
    assert_eq!(m.help.as_deref(), Some("one"));
    assert_eq!(e.metadata.len(), 1);
}

#[test]
fn bad_metadata_lines_are_dropped() {
    let e =
        scan("# TYPE m bogus\n# TYPE\n# HELP 1bad text\n# TYPE m\n# UNIT\n# HELPER not metadata\n");
    assert_eq!(
        drops(&e),
        [
            (1, DropReason::InvalidMetadata),
            (2, DropReason::InvalidMetadata),
            (3, DropReason::InvalidMetadata),
            (4, DropReason::InvalidMetadata),
            (5, DropReason::InvalidMetadata)
        ]
    );
    assert_eq!(e.comment_lines, 1);
    assert!(e.metadata.is_empty());
}

#[test]
fn eof_ends_the_exposition() {
    let e = scan("a 1\n# EOF\n\n  \nb 2\n# comment\n");
    assert!(e.saw_eof);
    assert_eq!(e.samples.len(), 1);
    assert_eq!(
        drops(&e),
        [(5, DropReason::AfterEof), (6, DropReason::AfterEof)]
    );
    assert_eq!(e.blank_lines, 2);
    assert_eq!(e.dropped[0].reason.to_string(), "line after # eof");
}

#[test]
fn comments_are_ignored() {
    let e = scan("# just a comment\n#\n# EOF is not here\n#TYPE\tm\tgauge\nm 1\n");
    assert_eq!(e.comment_lines, 3);
    assert_eq!(e.metadata_lines, 1);
    assert_eq!(e.meta("m").unwrap().kind, Some(MetricType::Gauge));
    assert!(!e.saw_eof);
    assert_eq!(e.format, Format::Text004);
}

#[test]
fn declared_families_without_samples_are_listed() {
    let e = scan("# HELP lonely never set\n# TYPE lonely gauge\n# TYPE busy counter\nbusy 1\n");
    let fams = e.families();
    assert_eq!(fams.len(), 2);
    assert_eq!(fams[0].name, "lonely");
    assert_eq!(fams[0].kind, Some(MetricType::Gauge));
    assert!(fams[0].samples.is_empty());
    assert_eq!(fams[1].name, "busy");
    assert_eq!(fams[1].samples, [0]);
}

#[test]
fn crlf_blank_lines_leading_space_and_no_final_newline() {
    let e = scan("# TYPE a gauge\r\n\r\n  a{x=\"1\"} 1\r\n\t\n   b 2\r\nc 3");
    assert!(e.dropped.is_empty());
    assert_eq!(values(&e), [1.0, 2.0, 3.0]);
    assert_eq!(labels(&e, 0), pairs(&[("x", "1")]));
    assert_eq!(e.names, ["a", "b", "c"]);
    assert_eq!(e.lines, 6);
    assert_eq!(e.blank_lines, 2);
    assert_eq!(e.samples[2].line, 6);
    assert_eq!(e.meta("a").unwrap().kind, Some(MetricType::Gauge));
    let e = scan("");
    assert_eq!(e.lines, 0);
    let e = scan("\u{feff}# TYPE a gauge\na 1\n");
    assert!(e.dropped.is_empty());
    assert_eq!(e.meta("a").unwrap().kind, Some(MetricType::Gauge));
    let e = scan("\n");
    assert_eq!((e.lines, e.blank_lines), (1, 1));
}

#[test]
fn grouping_of_typed_families() {
    let e = scan(concat!(
        "# TYPE vllm:prompt_tokens_total counter\n",
        "vllm:prompt_tokens_total{engine=\"0\"} 10\n",
        "# TYPE vllm:prompt_tokens_created gauge\n",
        "vllm:prompt_tokens_created{engine=\"0\"} 1.7e9\n",
        "# TYPE vllm:iteration_tokens_total histogram\n",
        "vllm:iteration_tokens_total_bucket{le=\"1\"} 1\n",
        "vllm:iteration_tokens_total_bucket{le=\"+Inf\"} 2\n",
        "vllm:iteration_tokens_total_count 2\n",
        "vllm:iteration_tokens_total_sum 3\n",
        "vllm:iteration_tokens_total_created 1.7e9\n",
        "# TYPE om counter\n",
        "om_total 1\n",
        "om_created 1.7e9\n",
        "# TYPE gh gaugehistogram\n",
        "gh_bucket{le=\"+Inf\"} 1\n",
        "gh_gcount 1\n",
        "gh_gsum 2\n",
        "# TYPE build info\n",
        "build_info{version=\"1\"} 1\n",
        "# TYPE rpc summary\n",
        "rpc{quantile=\"0.5\"} 1\n",
        "rpc_sum 1\n",
        "rpc_count 1\n",
        "# TYPE txt_total counter\n",
        "txt_total 5\n",
        "txt_created 1.7e9\n",
        "# TYPE state stateset\n",
        "state{state=\"a\"} 1\n",
        "# TYPE g gauge\n",
        "g_total 1\n",
    ));
    assert!(e.dropped.is_empty());
    let f = |n: &str| e.family_of(n);
    let own = |n: &str| (n.to_owned(), SampleRole::Value);
    let fam = |n: &str, r| (n.to_owned(), r);
    assert_eq!(
        f("vllm:prompt_tokens_total"),
        own("vllm:prompt_tokens_total")
    );
    assert_eq!(
        f("vllm:prompt_tokens_created"),
        own("vllm:prompt_tokens_created")
    );
    assert!(is_created("vllm:prompt_tokens_created"));
    assert!(!is_created("vllm:prompt_tokens_total"));
    let it = "vllm:iteration_tokens_total";
    assert_eq!(f(&format!("{it}_bucket")), fam(it, SampleRole::Bucket));
    assert_eq!(f(&format!("{it}_count")), fam(it, SampleRole::Count));
    assert_eq!(f(&format!("{it}_sum")), fam(it, SampleRole::Sum));
    assert_eq!(f(&format!("{it}_created")), fam(it, SampleRole::Created));
    assert_eq!(f("om_total"), fam("om", SampleRole::Total));
    assert_eq!(f("om_created"), fam("om", SampleRole::Created));
    assert_eq!(f("gh_bucket"), fam("gh", SampleRole::Bucket));
    assert_eq!(f("gh_gcount"), fam("gh", SampleRole::GCount));
    assert_eq!(f("gh_gsum"), fam("gh", SampleRole::GSum));
    assert_eq!(f("build_info"), fam("build", SampleRole::Info));
    assert_eq!(f("rpc"), own("rpc"));
    assert_eq!(f("rpc_sum"), fam("rpc", SampleRole::Sum));
    assert_eq!(f("rpc_count"), fam("rpc", SampleRole::Count));
    assert_eq!(f("txt_created"), fam("txt_total", SampleRole::Created));
    assert_eq!(f("state"), own("state"));
    // A gauge does not take `_total` samples, and inference does not join a
    // family declared with another type.
    assert_eq!(f("g_total"), own("g_total"));

    let fams = e.families();
    let names: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "vllm:prompt_tokens_total",
            "vllm:prompt_tokens_created",
            it,
            "om",
            "gh",
            "build",
            "rpc",
            "txt_total",
            "state",
            "g",
            "g_total"
        ]
    );
    let hist = &fams[2];
    assert_eq!(hist.kind, Some(MetricType::Histogram));
    assert_eq!(hist.samples, [2, 3, 4, 5, 6]);
    assert_eq!(fams[7].samples, [16, 17]);
    assert_eq!(fams[9].kind, Some(MetricType::Gauge));
    assert!(fams[9].samples.is_empty());
    assert_eq!(fams[10].kind, None);
}

#[test]
fn grouping_without_types_is_inferred() {
    let e = scan(concat!(
        "lat_bucket{le=\"1\"} 1\n",
        "lat_bucket{le=\"+Inf\"} 2\n",
        "lat_sum 3\n",
        "lat_count 2\n",
        "reqs_total 5\n",
        "reqs_created 1.7e9\n",
        "odd_bucket{x=\"1\"} 1\n",
        "temp 20\n",
        "temp_sum 1\n",
    ));
    let f = |n: &str| e.family_of(n);
    assert_eq!(f("lat_bucket"), ("lat".to_owned(), SampleRole::Bucket));
    assert_eq!(f("lat_sum"), ("lat".to_owned(), SampleRole::Sum));
    assert_eq!(f("lat_count"), ("lat".to_owned(), SampleRole::Count));
    assert_eq!(f("reqs_total"), ("reqs".to_owned(), SampleRole::Total));
    assert_eq!(f("reqs_created"), ("reqs".to_owned(), SampleRole::Created));
    assert_eq!(
        f("odd_bucket"),
        ("odd_bucket".to_owned(), SampleRole::Value)
    );
    assert_eq!(f("temp"), ("temp".to_owned(), SampleRole::Value));
    assert_eq!(f("temp_sum"), ("temp_sum".to_owned(), SampleRole::Value));
    let fams = e.families();
    let got: Vec<(&str, Option<MetricType>, &[u32])> = fams
        .iter()
        .map(|f| (f.name.as_str(), f.kind, f.samples.as_slice()))
        .collect();
    assert_eq!(
        got,
        [
            ("lat", None, &[0, 1, 2, 3][..]),
            ("reqs", None, &[4, 5][..]),
            ("odd_bucket", None, &[6][..]),
            ("temp", None, &[7][..]),
            ("temp_sum", None, &[8][..]),
        ]
    );
}

#[test]
fn bad_lines_are_recorded_and_skipped() {
    let e = scan(concat!(
        "good 1\n",
        "m{a=\"unterminated} 1\n",
        "m{a=\"b\"}\n",
        "m\n",
        "1bad 1\n",
        "m-x 1\n",
        "m{1a=\"b\"} 1\n",
        "m{a=b} 1\n",
        "m{a=\"b\" c=\"d\"} 1\n",
        "m{a=\"b\",,} 1\n",
        "m{a=\"b\"\n",
        "m{a=\"x\\qy\"} 1\n",
        "m{a=\"x\\\n",
        "m{a=\"1\",a=\"2\"} 1\n",
        "{a=\"b\"} 1\n",
        "m{a:b=\"c\"} 1\n",
        "good 2\n",
    ));
    assert_eq!(values(&e), [1.0, 2.0]);
    assert_eq!(e.samples[1].line, 17);
    assert_eq!(
        drops(&e),
        [
            (2, DropReason::UnterminatedLabelValue),
            (3, DropReason::MissingValue),
            (4, DropReason::MissingValue),
            (5, DropReason::InvalidMetricName),
            (6, DropReason::InvalidMetricName),
            (7, DropReason::InvalidLabel),
            (8, DropReason::InvalidLabel),
            (9, DropReason::InvalidLabel),
            (10, DropReason::InvalidLabel),
            (11, DropReason::InvalidLabel),
            (12, DropReason::InvalidEscape),
            (13, DropReason::UnterminatedLabelValue),
            (14, DropReason::DuplicateLabel),
            (15, DropReason::InvalidMetricName),
            (16, DropReason::InvalidLabel),
        ]
    );
    assert_eq!(e.dropped[0].excerpt, "m{a=\"unterminated} 1");
    assert_eq!(e.dropped[0].reason.to_string(), "unterminated label value");
}

#[test]
fn limits() {
    let opts = ParseOptions {
        max_line_len: 40,
        max_labels_per_series: 2,
        max_samples: 3,
    };
    let long = format!("m{{a=\"{}\"}} 1", "x".repeat(40));
    let input = format!(
        "a 1\nm{{a=\"1\",b=\"2\",c=\"3\"}} 1\n{long}\nb 2\nc 3\nd 4\n# HELP d still read\n"
    );
    let e = scan_bytes(input.as_bytes(), &opts);
    assert_eq!(values(&e), [1.0, 2.0, 3.0]);
    assert_eq!(
        drops(&e),
        [
            (2, DropReason::TooManyLabels { count: 3 }),
            (3, DropReason::LineTooLong { len: long.len() }),
            (6, DropReason::SampleLimit),
        ]
    );
    assert_eq!(e.dropped[1].excerpt.chars().count(), long.len());
    assert_eq!(e.meta("d").unwrap().help.as_deref(), Some("still read"));
    let e = scan_bytes(
        format!("m {}", "9".repeat(100)).as_bytes(),
        &ParseOptions::default(),
    );
    assert_eq!(e.samples[0].value, 1e100);
}

#[test]
fn excerpt_is_cut_at_80_characters() {
    let line = format!("bad{{{}", "é".repeat(200));
    let e = scan(&line);
    assert_eq!(e.dropped[0].excerpt.chars().count(), 80);
    assert!(e.dropped[0].excerpt.starts_with("bad{éé"));
}

#[test]
fn invalid_utf8_lines_are_dropped_and_the_rest_read() {
    let mut input =
        b"m{a=\"caf\xc3\xa9\"} 1\nm{a=\"\xff\"} 2\n# comment \xfe\n# HELP m \xff\nm{a=\"ok\"} 3\n"
            .to_vec();
    input.extend_from_slice(b"n{b=\"x\\\"y\"} 4\n");
    let e = scan_bytes(&input, &ParseOptions::default());
    assert_eq!(values(&e), [1.0, 3.0, 4.0]);
    assert_eq!(labels(&e, 0), pairs(&[("a", "café")]));
    assert_eq!(labels(&e, 1), pairs(&[("a", "ok")]));
    assert_eq!(labels(&e, 2), pairs(&[("b", "x\"y")]));
    assert_eq!(
        drops(&e),
        [(2, DropReason::InvalidUtf8), (4, DropReason::InvalidUtf8)]
    );
    assert_eq!(e.dropped[0].excerpt, "m{a=\"\u{fffd}\"} 2");
    assert_eq!(e.comment_lines, 1);
}

#[test]
fn nul_bytes_and_binary_do_not_panic() {
    let inputs: [&[u8]; 6] = [
        b"\0\0\0\n\0",
        b"m{a=\"\0\"} 1\n",
        b"m\0 1\n",
        b"\xff\xfe\xfd{\"\\",
        b"#\0HELP\n# TYPE \0 gauge\n",
        b"m{a=\"b\"} 1 # {",
    ];
    for input in inputs {
        scan_bytes(input, &ParseOptions::default());
    }
    let e = scan_bytes(b"m{a=\"\0\"} 1\n", &ParseOptions::default());
    assert_eq!(labels(&e, 0), pairs(&[("a", "\0")]));
}

#[test]
fn drop_reasons_read_as_short_lowercase_phrases() {
    let all = [
        DropReason::InvalidUtf8,
        DropReason::LineTooLong { len: 5 },
        DropReason::MissingValue,
        DropReason::InvalidValue,
        DropReason::InvalidMetricName,
        DropReason::MetricNameTwice,
        DropReason::UnterminatedLabelValue,
        DropReason::InvalidLabel,
        DropReason::InvalidEscape,
        DropReason::DuplicateLabel,
        DropReason::TooManyLabels { count: 3 },
        DropReason::InvalidTimestamp,
        DropReason::InvalidExemplar,
        DropReason::TrailingText,
        DropReason::InvalidMetadata,
        DropReason::SampleLimit,
        DropReason::AfterEof,
        DropReason::InputTooLarge { len: 1 },
    ];
    for r in all {
        let s = r.to_string();
        assert!(
            s.starts_with(|c: char| c.is_ascii_lowercase()) && s.len() < 60,
            "{s}"
        );
    }
    assert_eq!(
        DropReason::LineTooLong { len: 5 }.to_string(),
        "line too long (5 bytes)"
    );
}

#[test]
fn metric_types_round_trip() {
    for t in [
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::GaugeHistogram,
        MetricType::Summary,
        MetricType::Info,
        MetricType::StateSet,
        MetricType::Unknown,
        MetricType::Untyped,
    ] {
        assert_eq!(MetricType::parse(t.as_str()), Some(t));
    }
    assert_eq!(MetricType::parse("Counter"), None);
}

// ---------------------------------------------------------------------------
// UTF-8 names (Prometheus 3, OpenMetrics 2.0)
// ---------------------------------------------------------------------------

#[test]
fn quoted_metric_names_inside_braces() {
    let e = scan(concat!(
        "{\"lmcache_mp.l1_read_chunks_total\", model_name=\"m\"} 5\n",
        "{\"a.b\"} 1\n",
        "{ \"a.b\" , x=\"y\" , }\t2\n",
        "{\"lmcache_mp.l1_read_chunks_total\",model_name=\"n\"} 6 1520879607789\n",
        "{\"classic_name\"} 3\n",
        "classic_name 4\n",
        "{\"vllm:x\", engine=\"0\"} 7\n",
        "{\"dienst.größe\"} 8\n",
    ));
    assert!(e.dropped.is_empty(), "{:?}", e.dropped);
    assert_eq!(
        e.names,
        [
            "lmcache_mp.l1_read_chunks_total",
            "a.b",
            "classic_name",
            "vllm:x",
            "dienst.größe"
        ]
    );
    assert_eq!(values(&e), [5.0, 1.0, 2.0, 6.0, 3.0, 4.0, 7.0, 8.0]);
    assert_eq!(e.name(&e.samples[0]), "lmcache_mp.l1_read_chunks_total");
    assert_eq!(labels(&e, 0), pairs(&[("model_name", "m")]));
    assert_eq!(e.name(&e.samples[1]), "a.b");
    assert!(labels(&e, 1).is_empty());
    assert_eq!(e.name(&e.samples[2]), "a.b");
    assert_eq!(labels(&e, 2), pairs(&[("x", "y")]));
    assert_eq!(labels(&e, 3), pairs(&[("model_name", "n")]));
    assert_eq!(e.samples[3].timestamp_ms, Some(1_520_879_607_789));
    // A classic name written quoted is the same name.
    assert_eq!(e.samples[4].name, e.samples[5].name);
    assert_eq!(labels(&e, 6), pairs(&[("engine", "0")]));
    assert_eq!(e.name(&e.samples[7]), "dienst.größe");
    // Quoted names alone do not make a scrape OpenMetrics: Prometheus 3
    // text format has them too.
    assert_eq!(e.format, Format::Text004);
}

#[test]
fn quoted_label_names() {
    let e = scan(concat!(
        "foo{\"my.label\"=\"v\", other=\"w\"} 1\n",
        "foo{\"my.label\"=\"v2\", other=\"w\"} 2\n",
        "{\"a.b\", \"c.d\"=\"x\"} 3\n",
        "foo{ \"other\" = \"w\" , \"le\"=\"1\" } 4\n",
        "foo{other=\"w\", \"other\"=\"z\"} 5\n",
        "foo{\"é ü\"=\"1\",\"my.label\"=\"v\"} 6\n",
    ));
    assert_eq!(values(&e), [1.0, 2.0, 3.0, 4.0, 6.0]);
    assert_eq!(labels(&e, 0), pairs(&[("my.label", "v"), ("other", "w")]));
    assert_eq!(labels(&e, 1), pairs(&[("my.label", "v2"), ("other", "w")]));
    assert_eq!(e.name(&e.samples[2]), "a.b");
    assert_eq!(labels(&e, 2), pairs(&[("c.d", "x")]));
    // Quoted classic names are the same keys as unquoted ones.
    assert_eq!(labels(&e, 3), pairs(&[("other", "w"), ("le", "1")]));
    assert_eq!(e.label(&e.samples[3], "le"), Some("1"));
    assert_eq!(labels(&e, 4), pairs(&[("é ü", "1"), ("my.label", "v")]));
    assert_eq!(drops(&e), [(5, DropReason::DuplicateLabel)]);
}

#[test]
fn quoted_names_in_metadata_and_families() {
    let e = scan(concat!(
        "# HELP \"a.b\" Reads of \"a.b\" chunks.\n",
        "# TYPE \"a.b\" counter\n",
        "# UNIT \"a.b\" chunks\n",
        "{\"a.b_total\", model_name=\"m\"} 1\n",
        "{\"a.b_created\", model_name=\"m\"} 1.7e9\n",
        "# TYPE \"h.x\" histogram\n",
        "{\"h.x_bucket\", le=\"1\"} 2\n",
        "{\"h.x_bucket\", \"le\"=\"+Inf\"} 3\n",
        "{\"h.x_count\"} 3\n",
        "{\"h.x_sum\"} 4.5\n",
        "#\tTYPE\t\"g.y\"\tgauge\t\n",
        "{\"g.y\"} 7\n",
        "# EOF\n",
    ));
    assert!(e.dropped.is_empty(), "{:?}", e.dropped);
    assert_eq!(e.format, Format::OpenMetrics);
    assert_eq!(e.metadata_lines, 6);
    let m = e.meta("a.b").unwrap();
    assert_eq!(m.name, "a.b");
    assert_eq!(m.kind, Some(MetricType::Counter));
    assert_eq!(m.help.as_deref(), Some("Reads of \"a.b\" chunks."));
    assert_eq!(m.unit.as_deref(), Some("chunks"));
    assert_eq!(m.line, 1);
    assert_eq!(e.meta("h.x").unwrap().kind, Some(MetricType::Histogram));
    assert_eq!(e.meta("g.y").unwrap().kind, Some(MetricType::Gauge));
    let fam = |n: &str, r| (n.to_owned(), r);
    assert_eq!(e.family_of("a.b_total"), fam("a.b", SampleRole::Total));
    assert_eq!(e.family_of("a.b_created"), fam("a.b", SampleRole::Created));
    assert_eq!(e.family_of("h.x_bucket"), fam("h.x", SampleRole::Bucket));
    assert_eq!(e.family_of("h.x_count"), fam("h.x", SampleRole::Count));
    assert_eq!(e.family_of("h.x_sum"), fam("h.x", SampleRole::Sum));
    assert_eq!(e.family_of("g.y"), fam("g.y", SampleRole::Value));
    let fams = e.families();
    let got: Vec<(&str, Option<MetricType>, &[u32])> = fams
        .iter()
        .map(|f| (f.name.as_str(), f.kind, f.samples.as_slice()))
        .collect();
    assert_eq!(
        got,
        [
            ("a.b", Some(MetricType::Counter), &[0, 1][..]),
            ("h.x", Some(MetricType::Histogram), &[2, 3, 4, 5][..]),
            ("g.y", Some(MetricType::Gauge), &[6][..]),
        ]
    );

    // The case from the brief of this feature: a histogram declared quoted.
    let e = scan("# TYPE \"a.b\" histogram\n{\"a.b_bucket\", le=\"1\"} 2\n");
    assert_eq!(e.family_of("a.b_bucket"), fam("a.b", SampleRole::Bucket));
    assert_eq!(e.families()[0].name, "a.b");
    assert_eq!(e.families()[0].samples, [0]);

    // Without metadata, grouping is inferred as for classic names.
    let e = scan(concat!(
        "{\"u.v_bucket\", le=\"1\"} 1\n",
        "{\"u.v_bucket\", le=\"+Inf\"} 2\n",
        "{\"u.v_sum\"} 3\n",
        "{\"u.v_count\"} 2\n",
        "{\"r.s_total\"} 5\n",
        "{\"r.s_created\"} 1.7e9\n",
    ));
    let got: Vec<(String, Vec<u32>)> = e
        .families()
        .into_iter()
        .map(|f| (f.name, f.samples))
        .collect();
    assert_eq!(
        got,
        [
            ("u.v".to_owned(), vec![0, 1, 2, 3]),
            ("r.s".to_owned(), vec![4, 5])
        ]
    );
    assert_eq!(e.family_of("r.s_created"), fam("r.s", SampleRole::Created));
}

#[test]
fn quoted_names_use_label_value_escapes() {
    let e = scan(concat!(
        "{\"say \\\"hi\\\"\"} 1\n",
        "{\"back\\\\slash\", \"new\\nline\"=\"v\"} 2\n",
        "# HELP \"say \\\"hi\\\"\" quoted\n",
        "# TYPE \"back\\\\slash\" gauge\n",
        "{\"bad\\qescape\"} 3\n",
        "foo{\"bad\\q\"=\"v\"} 4\n",
        "# TYPE \"bad\\q\" gauge\n",
        "{\"ends\\\\\"} 5\n",
        "{\"tab\tand {braces},=\"} 6\n",
    ));
    assert_eq!(
        sample_names(&e),
        ["say \"hi\"", "back\\slash", "ends\\", "tab\tand {braces},="]
    );
    assert_eq!(values(&e), [1.0, 2.0, 5.0, 6.0]);
    assert_eq!(labels(&e, 1), pairs(&[("new\nline", "v")]));
    assert_eq!(
        e.meta("say \"hi\"").unwrap().help.as_deref(),
        Some("quoted")
    );
    assert_eq!(e.meta("back\\slash").unwrap().kind, Some(MetricType::Gauge));
    assert_eq!(
        drops(&e),
        [
            (5, DropReason::InvalidEscape),
            (6, DropReason::InvalidEscape),
            (7, DropReason::InvalidMetadata),
        ]
    );
    assert_eq!(
        e.dropped[0].reason.to_string(),
        "invalid escape in quoted string"
    );
}

#[test]
fn bad_quoted_names_are_dropped() {
    let e = scan(concat!(
        "foo{\"bar\"} 1\n",
        "foo {\"bar\", x=\"1\"} 1\n",
        "foo{x=\"1\", \"bar\"} 1\n",
        "{\"a.b\", \"c.d\"} 1\n",
        "a.b 1\n",
        "{\"\"} 1\n",
        "{\"a.b} 1\n",
        "{x=\"1\", \"a.b\"} 1\n",
        "{\"a.b\"=\"c\"} 1\n",
        "{\"a.b\" x=\"1\"} 1\n",
        "{\"a.b\"} \n",
        "foo{\"\"=\"v\"} 1\n",
        "foo{\"my.label\" \"v\"} 1\n",
        "foo{\"my.label=\"v\"} 1\n",
        "{\"a.b\",,} 1\n",
        "{\"a.b\"\n",
        "# HELP \"a.b\"text\n",
        "# TYPE \"\" counter\n",
        "# TYPE \"a.b counter\n",
        "# TYPE a.b counter\n",
        "{\"a.b\"} 1 # {\"trace.id\"} 0.5\n",
        "{'a.b'} 1\n",
        "good 1\n",
    ));
    assert_eq!(values(&e), [1.0]);
    assert_eq!(e.samples[0].line, 23);
    assert!(e.metadata.is_empty());
    assert_eq!(
        drops(&e),
        [
            (1, DropReason::MetricNameTwice),
            (2, DropReason::MetricNameTwice),
            (3, DropReason::MetricNameTwice),
            (4, DropReason::MetricNameTwice),
            (5, DropReason::InvalidMetricName),
            (6, DropReason::InvalidMetricName),
            (7, DropReason::InvalidMetricName),
            (8, DropReason::InvalidMetricName),
            (9, DropReason::InvalidMetricName),
            (10, DropReason::InvalidLabel),
            (11, DropReason::MissingValue),
            (12, DropReason::InvalidLabel),
            (13, DropReason::InvalidLabel),
            (14, DropReason::InvalidLabel),
            (15, DropReason::InvalidLabel),
            (16, DropReason::InvalidLabel),
            (17, DropReason::InvalidMetadata),
            (18, DropReason::InvalidMetadata),
            (19, DropReason::InvalidMetadata),
            (20, DropReason::InvalidMetadata),
            (21, DropReason::InvalidExemplar),
            (22, DropReason::InvalidMetricName),
        ]
    );
    assert_eq!(e.dropped[0].reason.to_string(), "metric name given twice");
    assert_eq!(e.dropped[0].excerpt, "foo{\"bar\"} 1");
}

#[test]
fn quoted_names_in_exemplars() {
    let e = scan("{\"a.b_bucket\", le=\"1\"} 1 # {\"trace.id\"=\"abc\"} 0.5 1.5\n");
    assert!(e.dropped.is_empty(), "{:?}", e.dropped);
    assert!(e.samples[0].exemplar);
    assert_eq!(e.format, Format::OpenMetrics);
    assert_eq!(labels(&e, 0), pairs(&[("le", "1")]));
}

/// The scanner matches each line against the previous sample's name and
/// label keys as written; a quoted name outside the classic grammar must not
/// make its unquoted spelling valid on the next line.
#[test]
fn previous_quoted_names_do_not_admit_unquoted_ones() {
    let e = scan(concat!(
        "{\"a.b\", \"k.l\"=\"1\"} 1\n",
        "a.b 2\n",
        "{\"a.b\", \"k.l\"=\"1\"} 3\n",
        "foo{\"k.l\"=\"1\"} 4\n",
        "foo{k.l=\"1\"} 5\n",
        "foo{\"x y\"=\"1\"} 6\n",
        "foo{x y=\"1\"} 7\n",
        "foo{\"x\"=\"1\"} 8\n",
        "foo{x=\"1\"} 9\n",
        "{\"foo\"} 10\n",
        "foo 11\n",
    ));
    assert_eq!(values(&e), [1.0, 3.0, 4.0, 6.0, 8.0, 9.0, 10.0, 11.0]);
    assert_eq!(
        drops(&e),
        [
            (2, DropReason::InvalidMetricName),
            (5, DropReason::InvalidLabel),
            (7, DropReason::InvalidLabel),
        ]
    );
    assert_eq!(labels(&e, 3), pairs(&[("x y", "1")]));
    assert_eq!(labels(&e, 5), pairs(&[("x", "1")]));
    assert_eq!(
        sample_names(&e),
        ["a.b", "a.b", "foo", "foo", "foo", "foo", "foo", "foo"]
    );
}

// ---------------------------------------------------------------------------
// Real captures
// ---------------------------------------------------------------------------

const UPSTREAM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/upstream-samples/dynamo"
);

/// Sample lines counted without the scanner: neither blank nor `#`.
fn count_sample_lines(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .count()
}

#[test]
fn dynamo_captures_parse_without_drops() {
    let dir = std::path::Path::new(UPSTREAM);
    if !dir.is_dir() {
        eprintln!("note: {UPSTREAM} not found; skipping the upstream-samples test");
        return;
    }
    // Sample counts from `grep -vc -e '^#' -e '^\s*$' FILE`.
    let expected = [
        ("frontend-metrics.prom", 89),
        ("sglang-worker-metrics.prom", 227),
        ("trtllm-worker-metrics.prom", 124),
        ("vllm-worker-metrics.prom", 474),
    ];
    for (file, count) in expected {
        let bytes = std::fs::read(dir.join(file)).expect("upstream sample readable");
        let e = scan_bytes(&bytes, &ParseOptions::default());
        assert!(e.dropped.is_empty(), "{file}: {:?}", e.dropped);
        assert_eq!(e.samples.len(), count, "{file}");
        let text = String::from_utf8(bytes).expect("upstream samples are UTF-8");
        assert_eq!(count_sample_lines(&text), count, "{file}");
        assert_eq!(e.format, Format::Text004);
    }

    let bytes = std::fs::read(dir.join("vllm-worker-metrics.prom")).expect("readable");
    let e = parse(&bytes, &ParseOptions::default());
    let running = e
        .samples
        .iter()
        .find(|s| e.name(s) == "vllm:num_requests_running")
        .expect("vllm:num_requests_running present");
    assert_eq!(running.value, 0.0);
    assert_eq!(e.label(running, "model_name"), Some("Qwen/Qwen3-0.6B"));
    assert_eq!(e.label(running, "engine"), Some("0"));

    let created = "vllm:prefix_cache_queries_created";
    assert_eq!(e.meta(created).unwrap().kind, Some(MetricType::Gauge));
    assert_eq!(
        e.family_of(created),
        (created.to_owned(), SampleRole::Value)
    );
    assert!(is_created(created));
    let s = e.samples.iter().find(|s| e.name(s) == created).unwrap();
    assert_eq!(s.value, 1.7682643398898673e9);

    let fams = e.families();
    let lonely = fams
        .iter()
        .find(|f| f.name == "lmcache:kv_msg_queue_size")
        .expect("declared family without samples");
    assert_eq!(lonely.kind, Some(MetricType::Gauge));
    assert!(lonely.samples.is_empty());

    let it = fams
        .iter()
        .find(|f| f.name == "vllm:iteration_tokens_total")
        .expect("histogram named _total");
    assert_eq!(it.kind, Some(MetricType::Histogram));
    assert!(it
        .samples
        .iter()
        .any(|&i| e.name(&e.samples[i as usize]) == "vllm:iteration_tokens_total_bucket"));

    let bytes = std::fs::read(dir.join("trtllm-worker-metrics.prom")).expect("readable");
    let e = parse(&bytes, &ParseOptions::default());
    let created_gauges = e
        .metadata
        .iter()
        .filter(|m| is_created(&m.name) && m.kind == Some(MetricType::Gauge))
        .count();
    assert!(created_gauges > 0, "trtllm _created gauge families");
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

const VALID: &str = concat!(
    "# HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.\n",
    "# TYPE vllm:e2e_request_latency_seconds histogram\n",
    "vllm:e2e_request_latency_seconds_bucket{engine=\"0\",model_name=\"m\",le=\"0.3\"} 1.0\n",
    "vllm:e2e_request_latency_seconds_bucket{engine=\"0\",model_name=\"m\",le=\"+Inf\"} 2.0\n",
    "vllm:e2e_request_latency_seconds_count{engine=\"0\",model_name=\"m\"} 2.0\n",
    "vllm:e2e_request_latency_seconds_sum{engine=\"0\",model_name=\"m\"} 1.5\n",
    "# TYPE foo counter\n",
    "foo_total{a=\"x\\\"y\\\\z\\n\"} 3 1520879607.789 # {trace_id=\"abc\"} 0.4\n",
    "\n",
    "bar 1 1520879607789\n",
    "# EOF\n",
);

/// A small exposition model: rendered, then parsed back.
#[derive(Debug, Clone)]
struct Line {
    name: usize,
    /// Write the name quoted even when the classic grammar allows it bare.
    quote_name: bool,
    /// Label key, value, and whether to quote a classic key.
    labels: Vec<(usize, String, bool)>,
    value: i32,
    garbage: bool,
    /// Precede the sample with `# TYPE <name> gauge`.
    typed: bool,
}

/// Names outside the classic grammar are always written quoted.
const NAMES: [&str; 5] = [
    "a_total",
    "vllm:b",
    "c_bucket",
    "lmcache_mp.l1_read_chunks_total",
    "odd \"name\"\\ é",
];
const KEYS: [&str; 6] = ["endpoint", "model_name", "le", "x", "my.label", "k\ney"];

/// Whether `name` is in the classic grammar of metric names (`metric`) or
/// label names.
fn is_classic(name: &str, metric: bool) -> bool {
    let extra = |c: char| c == '_' || (metric && c == ':');
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || extra(c))
        && chars.all(|c| c.is_ascii_alphanumeric() || extra(c))
}

/// The name as a `# TYPE` line or a sample writes it.
fn render_name(name: &str, quote: bool, metric: bool) -> String {
    if quote || !is_classic(name, metric) {
        format!("\"{}\"", escape(name))
    } else {
        name.to_owned()
    }
}

fn label_value() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        "v",
        "w",
        "a\"b",
        "c\\d",
        "e\nf",
        "10.0.0.1:8000",
        "é",
    ])
    .prop_map(str::to_owned)
}

fn model_line() -> impl Strategy<Value = Line> {
    (
        (0..NAMES.len(), prop::bool::weighted(0.2)),
        prop::collection::vec(
            (0..KEYS.len(), label_value(), prop::bool::weighted(0.2)),
            0..4,
        ),
        any::<i32>(),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.2),
    )
        .prop_map(|((name, quote_name), mut labels, value, garbage, typed)| {
            let mut seen = Vec::new();
            labels.retain(|(k, _, _)| {
                let fresh = !seen.contains(k);
                seen.push(*k);
                fresh
            });
            Line {
                name,
                quote_name,
                labels,
                value,
                garbage,
                typed,
            }
        })
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..512)) {
        scan_bytes(&input, &ParseOptions::default());
    }

    #[test]
    fn arbitrary_text_never_panics(input in "[ -~\\n\\r\\t{}\"=,#\\\\]{0,300}") {
        scan_bytes(input.as_bytes(), &ParseOptions::default());
    }

    #[test]
    fn mutated_expositions_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8)
    ) {
        let mut input = VALID.as_bytes().to_vec();
        for (at, byte, op) in edits {
            let i = at.index(input.len() + 1);
            match op {
                0 => input.insert(i, byte),
                1 if i < input.len() => { input.remove(i); }
                _ if i < input.len() => input[i] = byte,
                _ => input.push(byte),
            }
        }
        let small = ParseOptions { max_line_len: 64, max_labels_per_series: 2, max_samples: 4 };
        scan_bytes(&input, &ParseOptions::default());
        scan_bytes(&input, &small);
    }

    #[test]
    fn rendered_samples_read_back(lines in prop::collection::vec(model_line(), 0..40)) {
        let mut text = String::new();
        let mut expected = Vec::new();
        let mut line_no = 0u32;
        for l in &lines {
            let name = NAMES[l.name];
            let quoted = l.quote_name || !is_classic(name, true);
            if l.typed {
                text.push_str(&format!("# TYPE {} gauge\n", render_name(name, l.quote_name, true)));
                line_no += 1;
            }
            let rendered: Vec<String> = l
                .labels
                .iter()
                .map(|(k, v, q)| format!("{}=\"{}\"", render_name(KEYS[*k], *q, false), escape(v)))
                .collect();
            // The label set without its closing brace.
            let open = match (quoted, rendered.is_empty()) {
                (false, _) => format!("{name}{{{}", rendered.join(",")),
                (true, true) => format!("{{{}", render_name(name, true, true)),
                (true, false) => format!("{{{},{}", render_name(name, true, true), rendered.join(",")),
            };
            line_no += 1;
            if l.garbage {
                text.push_str(&format!("{open} 1\n"));
                continue;
            }
            text.push_str(&format!("{open}}} {}\n", l.value));
            expected.push((line_no, l));
        }
        let e = scan(&text);
        prop_assert_eq!(e.samples.len(), expected.len());
        prop_assert_eq!(e.dropped.len(), lines.iter().filter(|l| l.garbage).count());
        for (s, (line, l)) in e.samples.iter().zip(&expected) {
            prop_assert_eq!(s.line, *line);
            prop_assert_eq!(e.name(s), NAMES[l.name]);
            prop_assert_eq!(s.value, f64::from(l.value));
            let got: Vec<(&str, &str)> = e.labels(s).collect();
            let want: Vec<(&str, &str)> =
                l.labels.iter().map(|(k, v, _)| (KEYS[*k], v.as_str())).collect();
            prop_assert_eq!(got, want);
        }
        for l in lines.iter().filter(|l| l.typed) {
            let name = NAMES[l.name];
            prop_assert_eq!(e.meta(name).and_then(|m| m.kind), Some(MetricType::Gauge));
            let family = e.families().into_iter().find(|f| f.name == name);
            prop_assert_eq!(family.map(|f| f.kind), Some(Some(MetricType::Gauge)));
        }
    }
}
