//! Conformance of the simulator and connector: an independent client library from PyPI
//! (fylein's sageintacctsdk) runs unchanged against the simulator.

use connector_intacct::simulator::Simulator;
use std::process::Command;

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_party_sageintacctsdk_works_against_the_simulator() {
    let sim = Simulator::demo();
    // The SDK does not back off; the tier limit is exercised by the governor tests instead.
    sim.set_tier("BUILDCO", None);
    let (url, _h) = sim.serve().await.unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/conformance/sageintacctsdk_check.py"
    );
    let probe = Command::new(python())
        .args(["-c", "import sageintacctsdk, xmltodict, requests"])
        .output()
        .unwrap_or_else(|e| panic!("python3 is required for this test ({e}); install it and `pip install -r connectors/intacct/conformance/requirements.txt`"));
    assert!(
        probe.status.success(),
        "the third-party client is missing: run `pip install -r connectors/intacct/conformance/requirements.txt` ({})",
        String::from_utf8_lossy(&probe.stderr)
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(script)
            .args([
                &url,
                "switchyard",
                "sender-secret",
                "BUILDCO",
                "ws_user",
                "user-secret",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "sageintacctsdk script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    // Session: a real-looking opaque id and the simulator's own endpoint.
    assert!(v["session_id"].as_str().unwrap().ends_with(".."));
    assert!(v["session_endpoint"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));

    // query paging saw exactly the vendors visible at the top level (private LAB hidden),
    // as they were before the script created its own vendor.
    let mut all = sim.records("BUILDCO", "VENDOR");
    all.retain(|(_, f)| f["VENDORID"] != "PYV0001");
    let visible: Vec<String> = all
        .iter()
        .filter(|(_, f)| f.get("MEGAENTITYID").map(String::as_str) != Some("LAB"))
        .map(|(_, f)| f["VENDORID"].clone())
        .collect();
    assert!(
        visible.len() < all.len(),
        "the scenario must hide some private records"
    );
    assert_eq!(v["vendor_count"].as_u64().unwrap() as usize, visible.len());
    let ids: Vec<String> = serde_json::from_value(v["vendor_ids"].clone()).unwrap();
    assert_eq!(ids, visible);
    let active = all
        .iter()
        .filter(|(_, f)| f.get("MEGAENTITYID").map(String::as_str) != Some("LAB"))
        .filter(|(_, f)| f["STATUS"] == "active")
        .count();
    assert_eq!(v["active_count"].as_u64().unwrap() as usize, active);

    // readByQuery with the raw code 'T' finds the active customers.
    let customers = sim.records("BUILDCO", "CUSTOMER");
    let active_c = customers
        .iter()
        .filter(|(_, f)| f.get("MEGAENTITYID").map(String::as_str) != Some("LAB"))
        .filter(|(_, f)| f["STATUS"] == "active")
        .count();
    assert_eq!(v["rbq_totalcount"].as_u64().unwrap() as usize, active_c);
    assert_eq!(
        v["rbq_count"].as_u64().unwrap() as usize,
        active_c.min(1000)
    );

    // create: the record exists in the simulator with the RECORDNO the SDK received.
    let recno: u64 = v["created"]["RECORDNO"].as_str().unwrap().parse().unwrap();
    assert_eq!(v["created"]["VENDORID"], "PYV0001");
    let rec = sim
        .records("BUILDCO", "VENDOR")
        .into_iter()
        .find(|(n, _)| *n == recno)
        .expect("created vendor is stored");
    assert_eq!(rec.1["NAME"], "Python SDK Vendor");
    assert_eq!(rec.1["DISPLAYCONTACT.EMAIL1"], "py@vendor.example");
    assert_eq!(
        v["duplicate_error"],
        serde_json::json!(["BL34000061", "BL01001973"])
    );

    // Schema and dimensions, as the SDK reads them.
    let lf: Vec<String> = serde_json::from_value(v["lookup_fields"].clone()).unwrap();
    assert!(lf.contains(&"VENDORID".to_string()) && lf.contains(&"WHENMODIFIED".to_string()));
    let dims: Vec<(String, String)> = serde_json::from_value(v["dimensions"].clone()).unwrap();
    assert!(dims.contains(&("jobsite".to_string(), "true".to_string())));
    assert!(dims.contains(&("DEPARTMENT".to_string(), "false".to_string())));
    assert_eq!(
        v["bad_sender"],
        "Incorrect Intacct XML Partner ID or password."
    );
}
