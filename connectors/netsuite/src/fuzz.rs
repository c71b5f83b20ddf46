//! Property tests (proptest) that feed hostile and truncated ERP answers to every parser:
//! each must return a value or an error, never panic.

use crate::client::{parse_collection, parse_rest_error, parse_soap_fault, xml};
use crate::read::row_to_record;
use crate::schema::object_from_json_schema;
use connector_core::domain::ErrorCode;
use proptest::prelude::*;

const COLLECTION: &str = r#"{"links":[{"rel":"next","href":"https://x/q?limit=2&offset=2"}],"count":2,"hasMore":true,"offset":0,"totalResults":3,"items":[{"links":[],"id":"7","companyname":"Acme","lastmodifieddate":"2024-01-02 03:04:05"},{"links":[],"id":"8"}]}"#;
const FAULT: &str = r#"<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><soapenv:Fault><faultcode>soapenv:Server.userException</faultcode><faultstring>Invalid login attempt.</faultstring><detail><platformFaults:invalidCredentialsFault xmlns:platformFaults="urn:faults_2024_2.platform.webservices.netsuite.com"><platformFaults:code>INVALID_LOGIN_ATTEMPT</platformFaults:code><platformFaults:message>Invalid login attempt.</platformFaults:message></platformFaults:invalidCredentialsFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#;
const SCHEMA: &str = r#"{"type":"object","properties":{"id":{"type":"string"},"lastModifiedDate":{"type":"string","format":"date-time","x-ns-filterable":true},"custentity_x":{"type":"object","x-ns-custom-field":true,"properties":{"id":{"enum":["1","2"]},"refName":{"enum":["A","B"]}}},"item":{"type":"object","properties":{"items":{"type":"array","items":{"type":"object","properties":{"custcol_y":{"type":"integer"}}}}}}},"required":["id"]}"#;

fn mutate(base: &str, cut: usize, flips: &[(usize, u8)]) -> Vec<u8> {
    let mut b = base.as_bytes().to_vec();
    for (i, v) in flips {
        if !b.is_empty() {
            let n = b.len();
            b[i % n] = *v;
        }
    }
    b.truncate(cut % (b.len() + 1));
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn collection_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_collection(&bytes, "suiteql");
        let _ = parse_rest_error(&bytes);
    }

    #[test]
    fn mutated_collections_fail_cleanly(cut in 0usize..600, flips in proptest::collection::vec((0usize..600, any::<u8>()), 0..4)) {
        let b = mutate(COLLECTION, cut, &flips);
        match parse_collection(&b, "suiteql") {
            Ok(page) => {
                // Whatever parsed must convert row by row without panicking.
                let meta = object_from_json_schema("customer", &serde_json::from_str(SCHEMA).unwrap()).unwrap();
                for (i, row) in page.items.iter().enumerate() {
                    let _ = row_to_record("customer", &meta, row, i);
                }
            }
            Err(e) => {
                prop_assert_eq!(e.code, ErrorCode::InvalidResponse);
                prop_assert!(e.message.starts_with("suiteql"), "context names the operation: {}", e.message);
            }
        }
    }

    #[test]
    fn xml_parser_never_panics(s in ".{0,300}") {
        let _ = xml::parse(&s);
        let _ = parse_soap_fault(s.as_bytes());
    }

    #[test]
    fn mutated_soap_faults_never_panic(cut in 0usize..900, flips in proptest::collection::vec((0usize..900, any::<u8>()), 0..4)) {
        let b = mutate(FAULT, cut, &flips);
        if let Some(f) = parse_soap_fault(&b) {
            let _ = crate::client::soap_fault_code(&f);
        }
        if let Ok(t) = std::str::from_utf8(&b) {
            let _ = xml::parse(t);
        }
    }

    #[test]
    fn schema_parser_never_panics(cut in 0usize..700, flips in proptest::collection::vec((0usize..700, any::<u8>()), 0..4)) {
        let b = mutate(SCHEMA, cut, &flips);
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&b) {
            let _ = object_from_json_schema("customer", &v);
        }
    }

    #[test]
    fn oauth_header_parser_never_panics(s in ".{0,200}") {
        let _ = crate::auth::parse_oauth_header(&s);
        let _ = crate::auth::parse_oauth_header(&format!("OAuth {s}"));
        let _ = crate::auth::pct_decode(&s);
    }

    #[test]
    fn signing_round_trips_through_the_header_parser(ck in "[ -~]{1,30}", tk in "[ -~]{1,30}", q in "[ -~]{0,30}") {
        let creds = crate::auth::TbaCredentials { account: "1234567_SB1".into(), consumer_key: ck, consumer_secret: "s".to_string().into(), token_id: tk, token_secret: "t".to_string().into() };
        let mut url = url::Url::parse("https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/customer").unwrap();
        url.query_pairs_mut().append_pair("q", &q);
        let h = crate::auth::rest_authorization_header(&creds, "GET", &url, "abcdef123", 1_700_000_000);
        let parsed = crate::auth::parse_oauth_header(&h).unwrap();
        let base = crate::auth::rest_base_string("GET", &url, &parsed.signed_params());
        prop_assert_eq!(crate::auth::hmac_sha256_signature(&base, "s", "t"), parsed.get("oauth_signature").unwrap());
    }

    #[test]
    fn suiteql_and_filter_parsers_never_panic(s in ".{0,200}") {
        let _ = crate::simulator::suiteql::parse(&s, &[]);
        let _ = crate::simulator::suiteql::parse(&format!("SELECT id FROM customer WHERE {s}"), &[serde_json::json!(1)]);
    }
}
