//! Engine behaviour against a scripted HTTP server: which failures are retried, how
//! often, with what waits, and how the session hook re-logs in.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use connector_core::domain::{ErpKind, ErrorCode, TenantId};
use connector_core::engine::{classify_by_status, Rejection};
use connector_core::sim::serve;
use connector_core::*;
use futures::FutureExt;
use http::Method;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
struct Script {
    replies: Arc<Mutex<VecDeque<(u16, &'static str, Option<&'static str>)>>>,
    seen: Arc<Mutex<Vec<HeaderMap>>>,
}

impl Script {
    fn new(replies: &[(u16, &'static str, Option<&'static str>)]) -> Self {
        let s = Self::default();
        s.replies.lock().unwrap().extend(replies.iter().cloned());
        s
    }
    fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn scripted(State(s): State<Script>, headers: HeaderMap) -> impl IntoResponse {
    s.seen.lock().unwrap().push(headers);
    let (status, body, retry_after) = s
        .replies
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or((200, "ok", None));
    let mut h = HeaderMap::new();
    if let Some(ra) = retry_after {
        h.insert("retry-after", ra.parse().unwrap());
    }
    (StatusCode::from_u16(status).unwrap(), h, body)
}

async fn start(script: &Script) -> sim::RunningSim {
    let r = Router::new().fallback(scripted).with_state(script.clone());
    serve(r, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn engine(max_attempts: u32) -> Engine {
    let config = EngineConfig {
        retry: RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(10),
            max_retry_after: Duration::from_secs(5),
        },
        ..EngineConfig::default()
    };
    Engine::new(config, Arc::new(InProcessGovernor::new())).unwrap()
}

fn ctx() -> RequestContext {
    RequestContext {
        tenant: TenantId("t".into()),
        erp: ErpKind::SapB1,
        account: AccountKey::new(ErpKind::SapB1, "DB1"),
        limits: AccountLimits::concurrency(4),
    }
}

/// Body "busy" is a concurrency rejection that did no work; "expired" a session end.
fn classifier(_r: &Request, resp: &Response) -> Result<(), Rejection> {
    match (resp.status, resp.text().as_ref()) {
        (200, _) => Ok(()),
        (429, "busy") => Err(Rejection::no_work(ConnectorError::new(
            ErrorCode::ConcurrencyLimited,
            "busy",
        ))),
        (401, "expired") => Err(Rejection::new(ConnectorError::new(
            ErrorCode::SessionExpired,
            "expired",
        ))),
        _ => classify_by_status(_r, resp),
    }
}

fn req(base: &str, method: Method) -> Request {
    Request::new(&ctx(), "op", method, format!("{base}/x").parse().unwrap())
}

#[tokio::test]
async fn idempotent_requests_retry_5xx_until_success_and_count_it() {
    let s = Script::new(&[(503, "down", None), (502, "down", None)]);
    let sim = start(&s).await;
    let e = engine(5);
    let resp = e
        .send(req(&sim.base_url, Method::GET), &classifier)
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(s.hits(), 3);
    let m = e.metrics();
    assert_eq!(
        (m.get(ErpKind::SapB1, "retry"), m.get(ErpKind::SapB1, "ok")),
        (2, 1)
    );
}

#[tokio::test]
async fn attempts_are_bounded() {
    let s = Script::new(&[(503, "", None); 10]);
    let sim = start(&s).await;
    let err = engine(3)
        .send(req(&sim.base_url, Method::GET), &classifier)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ErpUnavailable);
    assert_eq!(err.context.http_status, Some(503));
    assert_eq!(err.context.operation.as_deref(), Some("op"));
    assert_eq!(s.hits(), 3);
}

#[tokio::test]
async fn non_idempotent_post_is_not_retried_after_a_5xx() {
    let s = Script::new(&[(503, "", None)]);
    let sim = start(&s).await;
    let err = engine(5)
        .send(req(&sim.base_url, Method::POST), &classifier)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ErpUnavailable);
    assert_eq!(s.hits(), 1, "a POST that may have done work is sent once");
}

#[tokio::test]
async fn non_idempotent_post_is_retried_when_the_rejection_did_no_work() {
    let s = Script::new(&[(429, "busy", None), (429, "busy", None)]);
    let sim = start(&s).await;
    let e = engine(5);
    e.send(req(&sim.base_url, Method::POST), &classifier)
        .await
        .unwrap();
    assert_eq!(s.hits(), 3);
    // Two concurrency rejections shrank the pool from 4 to 2.
    let snap = e.governor().snapshot(&ctx().account).unwrap();
    assert_eq!((snap.ceiling, snap.limit), (4, 2));
}

#[tokio::test]
async fn marked_idempotent_post_is_retried() {
    let s = Script::new(&[(500, "", None)]);
    let sim = start(&s).await;
    engine(5)
        .send(
            req(&sim.base_url, Method::POST).idempotent(true),
            &classifier,
        )
        .await
        .unwrap();
    assert_eq!(s.hits(), 2);
}

#[tokio::test]
async fn non_retry_classes_fail_at_once() {
    for (status, code) in [
        (401, ErrorCode::AuthRevoked),
        (403, ErrorCode::PermissionDenied),
        (400, ErrorCode::ValidationFailed),
        (404, ErrorCode::NotFound),
    ] {
        let s = Script::new(&[(status, "", None)]);
        let sim = start(&s).await;
        let err = engine(5)
            .send(req(&sim.base_url, Method::GET), &classifier)
            .await
            .unwrap_err();
        assert_eq!(err.code, code);
        assert_eq!(s.hits(), 1, "{status}");
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let s = Script::new(&[(429, "", Some("1"))]);
    let sim = start(&s).await;
    let t0 = Instant::now();
    engine(3)
        .send(req(&sim.base_url, Method::GET), &classifier)
        .await
        .unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(990),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(s.hits(), 2);
}

#[tokio::test]
async fn a_retry_after_beyond_the_inline_limit_goes_back_to_the_caller() {
    let s = Script::new(&[(429, "", Some("600"))]);
    let sim = start(&s).await;
    let t0 = Instant::now();
    let err = engine(3)
        .send(req(&sim.base_url, Method::GET), &classifier)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(600)));
    assert!(t0.elapsed() < Duration::from_secs(1));
    assert_eq!(s.hits(), 1);
}

#[tokio::test]
async fn connection_refused_is_retried_even_for_post_and_reports_unavailable() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let t0 = Instant::now();
    let err = engine(3)
        .send(req(&format!("http://{addr}"), Method::POST), &classifier)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ErpUnavailable);
    assert!(err.message.contains("could not connect"), "{}", err.message);
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn signer_runs_on_every_attempt() {
    struct Nonce(std::sync::atomic::AtomicU32);
    impl Signer for Nonce {
        fn sign(
            &self,
            _m: &Method,
            _u: &url::Url,
            h: &mut http::HeaderMap,
            _b: &[u8],
        ) -> Result<(), ConnectorError> {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            h.insert(
                "authorization",
                format!("OAuth nonce=\"{n}\"").parse().unwrap(),
            );
            Ok(())
        }
    }
    let s = Script::new(&[(503, "", None)]);
    let sim = start(&s).await;
    let signer = Arc::new(Nonce(0.into()));
    engine(3)
        .send(req(&sim.base_url, Method::GET).signer(signer), &classifier)
        .await
        .unwrap();
    let seen = s.seen.lock().unwrap();
    let auths: Vec<_> = seen
        .iter()
        .map(|h| h["authorization"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(auths, vec!["OAuth nonce=\"0\"", "OAuth nonce=\"1\""]);
}

#[tokio::test]
async fn session_expired_relogs_in_once_then_gives_up() {
    let s = Script::new(&[(401, "expired", None)]);
    let sim = start(&s).await;
    let e = engine(3);
    let pool = SessionPool::<String>::new(Arc::new(SystemClock));
    let key = SessionKey::new(TenantId("t".into()), "db");
    let logins = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let l2 = logins.clone();
    let login = move || {
        let n = l2.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        async move { Ok(Session::new(format!("s{n}"))) }.boxed()
    };
    let apply = |s: &String, r: &mut Request| {
        r.headers
            .insert("cookie", format!("B1SESSION={s}").parse().unwrap());
        Ok(())
    };
    e.send_with_session(
        req(&sim.base_url, Method::GET),
        &classifier,
        &pool,
        &key,
        &login,
        apply,
    )
    .await
    .unwrap();
    assert_eq!(logins.load(std::sync::atomic::Ordering::SeqCst), 2);
    let cookies: Vec<_> = s
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|h| h["cookie"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(cookies, vec!["B1SESSION=s1", "B1SESSION=s2"]);

    // Expired twice in a row: one re-login, then the error is returned.
    s.replies
        .lock()
        .unwrap()
        .extend([(401, "expired", None), (401, "expired", None)]);
    let err = e
        .send_with_session(
            req(&sim.base_url, Method::GET),
            &classifier,
            &pool,
            &key,
            &login,
            apply,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::SessionExpired);
    assert_eq!(logins.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[test]
fn backoff_grows_with_jitter_and_respects_retry_after() {
    let p = RetryPolicy {
        max_attempts: 6,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
        max_retry_after: Duration::from_secs(30),
    };
    for _ in 0..200 {
        let d1 = p.delay(1, None).unwrap();
        assert!(
            d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
            "{d1:?}"
        );
        let d3 = p.delay(3, None).unwrap();
        assert!(
            d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400),
            "{d3:?}"
        );
        let d9 = p.delay(9, None).unwrap();
        assert!(d9 <= Duration::from_secs(1), "capped: {d9:?}");
        assert!(p.delay(1, Some(Duration::from_secs(7))).unwrap() >= Duration::from_secs(7));
        assert!(p.delay(1, Some(Duration::from_secs(31))).is_none());
    }
    // Jitter really varies.
    let set: std::collections::BTreeSet<_> = (0..50).map(|_| p.delay(4, None).unwrap()).collect();
    assert!(set.len() > 10);
}

#[test]
fn retry_after_parses_seconds_and_dates() {
    assert_eq!(
        engine::parse_retry_after("12"),
        Some(Duration::from_secs(12))
    );
    let future = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
    let d = engine::parse_retry_after(&future).unwrap();
    assert!(
        d > Duration::from_secs(25) && d <= Duration::from_secs(30),
        "{d:?}"
    );
    assert_eq!(
        engine::parse_retry_after("Mon, 01 Jan 2001 00:00:00 GMT"),
        Some(Duration::ZERO)
    );
    assert_eq!(engine::parse_retry_after("soon"), None);
}

#[tokio::test]
async fn host_names_that_resolve_to_internal_addresses_are_refused_unless_allowed() {
    let s = Script::new(&[]);
    let sim = start(&s).await;
    // `localhost` resolves to 127.0.0.1: a name a tenant could use to reach internal services.
    let by_name = sim.base_url.replace("127.0.0.1", "localhost");
    let err = engine(3)
        .send(req(&by_name, Method::GET), &classifier)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput, "{err:?}");
    assert!(err.message.contains("non-public"), "{}", err.message);
    assert_eq!(
        s.hits(),
        0,
        "nothing reached the internal server, and nothing was retried"
    );

    let open = Engine::new(
        EngineConfig {
            allow_private_networks: true,
            ..EngineConfig::default()
        },
        Arc::new(InProcessGovernor::new()),
    )
    .unwrap();
    let resp = open
        .send(req(&by_name, Method::GET), &classifier)
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(s.hits(), 1);
}
