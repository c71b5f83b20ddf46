//! The HTTP surface: the axum router around Leptos, and the middleware every request
//! passes: body limit, sessions, authentication, CSRF, page guards and the one place
//! where errors become HTTP responses.

use app::error::AppError;
use app::ssr::{AppState, RequestAuth, SESSION_CSRF, SESSION_PRINCIPAL};
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use domain::{ErrorCode, Principal, TenantId};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::net::SocketAddr;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

/// Header a script may use instead of the form field to send the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Form field every state-changing form carries.
pub const CSRF_FIELD: &str = "csrf_token";

/// Who may open a page route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Signed-in staff only.
    Staff,
    /// Admins only.
    Admin,
    /// Staff, or the holder of a link for the tenant named by the `id` segment.
    Tenant,
}

/// Every page route and who may open it. A route missing here is treated as staff-only
/// (fail closed), and a test fails until it is listed.
pub const PAGE_ACCESS: &[(&str, Access)] = &[
    ("/", Access::Public),
    ("/login", Access::Public),
    ("/link/:reason", Access::Public),
    ("/denied", Access::Public),
    ("/tenants", Access::Staff),
    ("/tenants/:id", Access::Staff),
    ("/staff", Access::Admin),
    ("/t/:id", Access::Tenant),
];

/// Matches a path against a route pattern, returning the `:id` segment when present.
fn match_route<'a>(pattern: &str, path: &'a str) -> Option<Option<&'a str>> {
    let p: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let s: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if p.len() != s.len() {
        return None;
    }
    let mut id = None;
    for (a, b) in p.iter().zip(s.iter()) {
        if let Some(name) = a.strip_prefix(':') {
            if b.is_empty() {
                return None;
            }
            if name == "id" {
                id = Some(*b);
            }
        } else if a != b {
            return None;
        }
    }
    Some(id)
}

pub fn page_access(path: &str) -> Option<(Access, Option<&str>)> {
    PAGE_ACCESS
        .iter()
        .find_map(|(pat, acc)| match_route(pat, path).map(|id| (*acc, id)))
}

fn error_json(status: StatusCode, err: &AppError) -> Response {
    let mut r = (status, axum::Json(err)).into_response();
    r.headers_mut()
        .insert("serverfnerror", HeaderValue::from_static("switchyard"));
    r
}

fn error_html(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <link rel=\"stylesheet\" href=\"/pkg/switchyard.css\"></head><body><main class=\"page narrow\">\
         <h1>{title}</h1><p>{text}</p><p><a href=\"/\">Back to the start</a></p></main></body></html>"
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// An error for the caller, shaped for an API call or for a browser page.
fn reject(is_api: bool, err: AppError) -> Response {
    let status =
        StatusCode::from_u16(err.code.http_status().max(400)).unwrap_or(StatusCode::BAD_REQUEST);
    reject_with(status, is_api, err)
}

fn reject_with(status: StatusCode, is_api: bool, err: AppError) -> Response {
    if is_api {
        error_json(status, &err)
    } else {
        error_html(status, "Request refused", &html_escape(&err.message))
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

fn random_token() -> String {
    use base64::Engine as _;
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Loads the caller from the session, re-validating it against the database on every
/// request (a disabled staff user or a revoked link loses access at once), and makes
/// sure the session has a CSRF token.
pub async fn authenticate(
    State(st): State<AppState>,
    session: Session,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    // Static files are public: reading them needs no session, and loading one would cost
    // two database round trips per script, stylesheet and wasm fetch.
    if (path.starts_with("/pkg/") || path == "/favicon.ico") && req.method() == Method::GET {
        return next.run(req).await;
    }
    let mut principal: Option<Principal> = match session.get::<Principal>(SESSION_PRINCIPAL).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable session; starting over");
            let _ = session.flush().await;
            None
        }
    };
    if let Some(p) = principal.clone() {
        let still = match &p {
            Principal::Staff { user_id, .. } => st.store.refresh_staff(user_id).await,
            Principal::LinkHolder { tenant_id, link_id } => st
                .store
                .link_still_valid(tenant_id, link_id)
                .await
                .map(|ok| ok.then_some(p.clone())),
        };
        match still {
            Ok(Some(fresh)) => principal = Some(fresh),
            Ok(None) => {
                let _ = session.remove::<Principal>(SESSION_PRINCIPAL).await;
                principal = None;
            }
            Err(e) => return reject(is_api(&path), AppError::internal(e)),
        }
    }
    let csrf = match session.get::<String>(SESSION_CSRF).await.ok().flatten() {
        Some(t) => t,
        None => {
            let t = random_token();
            if let Err(e) = session.insert(SESSION_CSRF, &t).await {
                return reject(is_api(&path), AppError::internal(e));
            }
            t
        }
    };
    let client_addr = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "local".into());
    req.extensions_mut().insert(RequestAuth {
        principal,
        csrf_token: csrf,
        client_addr,
    });
    next.run(req).await
}

/// Refuses state-changing requests that come from another origin or lack the session's
/// CSRF token (header `x-csrf-token` or form field `csrf_token`).
pub async fn csrf_guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    let api = is_api(&path);
    let refuse = |m: &str| reject(api, AppError::new(ErrorCode::CsrfRejected, m));
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return refuse("Cross-site request refused.");
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let same_host = url::Url::parse(origin)
            .ok()
            .map(|u| {
                let o = match u.port() {
                    Some(p) => format!("{}:{p}", u.host_str().unwrap_or("")),
                    None => u.host_str().unwrap_or("").to_string(),
                };
                o == host || origin.trim_end_matches('/') == st.public_url
            })
            .unwrap_or(false);
        if !same_host {
            return refuse("Cross-origin request refused.");
        }
    }
    let Some(expected) = req
        .extensions()
        .get::<RequestAuth>()
        .map(|a| a.csrf_token.clone())
    else {
        return refuse("Missing session.");
    };
    if let Some(sent) = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        if !expected.is_empty() && constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
            return next.run(req).await;
        }
        return refuse(
            "The security token of this form is invalid. Reload the page and try again.",
        );
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|c| c.starts_with("application/x-www-form-urlencoded"))
        .unwrap_or(false);
    if !is_form {
        return refuse("Missing security token (send the x-csrf-token header).");
    }
    // The body limit layer sits outside this one, so buffering here is bounded.
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => {
            return reject(
                api,
                AppError::new(
                    ErrorCode::InvalidInput,
                    "The request body is too large or unreadable.",
                ),
            )
        }
    };
    let sent = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.into_owned());
    match sent {
        Some(s) if !expected.is_empty() && constant_time_eq(s.as_bytes(), expected.as_bytes()) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Some(_) => {
            refuse("The security token of this form is invalid. Reload the page and try again.")
        }
        None => refuse("Missing security token."),
    }
}

/// Decides who may open page routes before Leptos renders them: anonymous callers go to
/// sign-in, link holders who stray get a 403 page.
pub async fn page_guard(mut req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    if is_api(&path) || path.starts_with("/pkg/") || path.starts_with("/onboard/") {
        return next.run(req).await;
    }
    let principal = req
        .extensions()
        .get::<RequestAuth>()
        .and_then(|a| a.principal.clone());
    let Some((access, id)) = page_access(&path) else {
        // Unknown paths fall through to static files and the 404 page.
        return next.run(req).await;
    };
    if path == "/" {
        return match &principal {
            None => Redirect::to("/login").into_response(),
            Some(Principal::Staff { .. }) => Redirect::to("/tenants").into_response(),
            Some(Principal::LinkHolder { tenant_id, .. }) => {
                Redirect::to(&format!("/t/{tenant_id}")).into_response()
            }
        };
    }
    if path == "/login" {
        if let Some(Principal::Staff { .. }) = principal {
            return Redirect::to("/tenants").into_response();
        }
    }
    let allowed = match access {
        Access::Public => true,
        Access::Staff => principal.as_ref().is_some_and(Principal::is_staff),
        Access::Admin => principal.as_ref().is_some_and(Principal::is_admin),
        Access::Tenant => match (&principal, id) {
            (Some(p), Some(id)) => p.may_access_tenant(&TenantId(id.to_string())),
            _ => false,
        },
    };
    if allowed {
        let status = match path.as_str() {
            "/link/expired" | "/link/revoked" => Some(StatusCode::GONE),
            p if p.starts_with("/link/") => Some(StatusCode::NOT_FOUND),
            "/denied" => Some(StatusCode::FORBIDDEN),
            _ => None,
        };
        let mut res = next.run(req).await;
        if let Some(s) = status {
            *res.status_mut() = s;
        }
        return res;
    }
    if principal.is_none() {
        return Redirect::to("/login").into_response();
    }
    // Render the access-denied page in place, with its status.
    *req.uri_mut() = "/denied".parse().expect("static path parses");
    let mut res = next.run(req).await;
    *res.status_mut() = StatusCode::FORBIDDEN;
    res
}

/// Server functions answer every error with 500; this gives each the status its code
/// implies, so a malformed call is a 400 and a refused one a 403.
pub async fn server_fn_status(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    if !res.headers().contains_key("serverfnerror")
        || res.status() != StatusCode::INTERNAL_SERVER_ERROR
    {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    if let Ok(err) = serde_json::from_slice::<AppError>(&bytes) {
        let code = err.code.http_status();
        parts.status = StatusCode::from_u16(if code < 400 { 409 } else { code })
            .unwrap_or(StatusCode::BAD_REQUEST);
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Oversized bodies and other framework rejections get a clear message, not a bare status.
pub async fn clear_errors(req: Request, next: Next) -> Response {
    let api = is_api(req.uri().path());
    let res = next.run(req).await;
    match res.status() {
        StatusCode::PAYLOAD_TOO_LARGE if !res.headers().contains_key("serverfnerror") => {
            reject_with(
                StatusCode::PAYLOAD_TOO_LARGE,
                api,
                AppError::new(ErrorCode::InvalidInput, "The request body is too large."),
            )
        }
        StatusCode::METHOD_NOT_ALLOWED => reject(
            api,
            AppError::new(ErrorCode::InvalidInput, "Method not allowed here."),
        ),
        _ => res,
    }
}

/// `GET /onboard/{token}`: opens an onboarding link and starts the holder's session.
async fn redeem(
    State(st): State<AppState>,
    session: Session,
    axum::Extension(auth): axum::Extension<RequestAuth>,
    Path(token): Path<String>,
) -> Response {
    match st.store.redeem_link(&token).await {
        Ok(Ok(principal)) => {
            let tenant = match &principal {
                Principal::LinkHolder { tenant_id, .. } => tenant_id.clone(),
                Principal::Staff { .. } => unreachable!("links yield link holders"),
            };
            let _ = st
                .store
                .audit(
                    &principal,
                    Some(&tenant),
                    "link.open",
                    &principal.actor().1,
                    &serde_json::json!({}),
                )
                .await;
            // Staff who open a link (to see what the tenant sees) keep their own session:
            // they may see every tenant already, and a downgrade would sign them out.
            if !auth.principal.as_ref().is_some_and(Principal::is_staff)
                && (session.cycle_id().await.is_err()
                    || session.insert(SESSION_PRINCIPAL, &principal).await.is_err())
            {
                return reject(false, AppError::internal("session write failed"));
            }
            Redirect::to(&format!("/t/{tenant}")).into_response()
        }
        Ok(Err(store::LinkRefusal::Expired)) => Redirect::to("/link/expired").into_response(),
        Ok(Err(store::LinkRefusal::Revoked)) => Redirect::to("/link/revoked").into_response(),
        Ok(Err(store::LinkRefusal::Unknown)) => Redirect::to("/link/invalid").into_response(),
        Err(e) => reject(false, AppError::internal(e)),
    }
}

async fn healthz(State(st): State<AppState>) -> Response {
    match st.store.ping().await {
        Ok(_) => (StatusCode::OK, "ok").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response(),
    }
}

/// The app's page routes, generated once per process. Generating them runs the app with
/// resource loading suppressed process-wide (leptos_server's `SuppressResourceLoad`), so a
/// page rendering on another thread at that moment would wait forever for its data; doing
/// it once, before any server exists, keeps that window closed (leptos issue 4773).
pub fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> =
        std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(app::App)).clone()
}

/// Builds the whole application router.
pub fn router(
    state: AppState,
    leptos_options: LeptosOptions,
    cfg: &crate::config::Config,
) -> Router {
    let routes = route_list();
    let session_store = store::session_store::DbSessionStore::new(state.store.db.clone());
    let sessions = SessionManagerLayer::new(session_store)
        .with_name("switchyard_session")
        .with_http_only(true)
        .with_same_site(tower_sessions::cookie::SameSite::Lax)
        .with_secure(cfg.secure_cookies)
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(
            cfg.session_idle_minutes,
        )));
    let ctx_state = state.clone();
    let leptos = Router::new()
        .leptos_routes_with_context(
            &leptos_options,
            routes,
            move || provide_context(ctx_state.clone()),
            {
                let o = leptos_options.clone();
                move || app::shell(o.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler(app::shell))
        .with_state(leptos_options);
    Router::new()
        .route("/onboard/{token}", get(redeem))
        .route("/healthz", get(healthz))
        .with_state(state.clone())
        .merge(leptos)
        .layer(axum::middleware::from_fn(server_fn_status))
        .layer(axum::middleware::from_fn(page_guard))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            csrf_guard,
        ))
        .layer(axum::middleware::from_fn_with_state(state, authenticate))
        .layer(sessions)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            cfg.max_body_bytes,
        ))
        .layer(axum::middleware::from_fn(clear_errors))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            error_html(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The error was logged.",
            )
        }))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(|req: &Request| {
                // Onboarding tokens are credentials: never put them into logs.
                let path = req.uri().path();
                let shown = if path.starts_with("/onboard/") {
                    "/onboard/<redacted>"
                } else {
                    path
                };
                tracing::info_span!("http", method = %req.method(), path = %shown)
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_matching_extracts_ids() {
        assert_eq!(match_route("/t/:id", "/t/abc"), Some(Some("abc")));
        assert_eq!(match_route("/t/:id", "/t/"), None);
        assert_eq!(match_route("/tenants", "/tenants/"), Some(None));
        assert_eq!(page_access("/tenants/x").map(|a| a.0), Some(Access::Staff));
        assert_eq!(page_access("/nope"), None);
    }
}
