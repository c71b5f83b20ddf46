//! Tests of the conformance suite itself: a correct fake connector passes every case and
//! deliberately broken ones fail exactly the cases that should catch them.

mod common;

use common::{FakeHarness, DUPLICATES, GOOD, INCLUSIVE, STOPS};
use connector_core::conformance::run_all;

#[tokio::test]
async fn a_correct_connector_passes_everything() {
    let report = run_all(&FakeHarness(&GOOD)).await;
    println!("{report}");
    assert!(report.cases.len() >= 16, "{report}");
    report.assert_all_passed();
}

#[tokio::test]
async fn losing_pages_is_caught() {
    let report = run_all(&FakeHarness(&STOPS)).await;
    for case in [
        "full_read",
        "pagination_last_partial_page",
        "resume_read_after_restart",
    ] {
        assert!(
            !report.case(case).unwrap().passed,
            "{case} should fail:\n{report}"
        );
    }
    assert!(report.case("pagination_empty").unwrap().passed, "{report}");
}

#[tokio::test]
async fn boundary_duplicates_are_caught() {
    let report = run_all(&FakeHarness(&INCLUSIVE)).await;
    let c = report.case("full_read").unwrap();
    assert!(!c.passed && c.detail.contains("twice"), "{report}");
    assert!(
        !report
            .case("incremental_read_from_watermark")
            .unwrap()
            .passed,
        "{report}"
    );
}

#[tokio::test]
async fn non_idempotent_writes_are_caught() {
    let report = run_all(&FakeHarness(&DUPLICATES)).await;
    let c = report.case("write_round_trip_idempotent").unwrap();
    assert!(!c.passed, "{report}");
    assert!(c.detail.contains("re-sent batch"), "{}", c.detail);
}
