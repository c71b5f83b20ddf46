//! Integration tests of the whole server over real HTTP, each run on SQLite and on
//! PostgreSQL (`DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`).
//! One test binary on purpose: every binary costs a link.

mod support;

use support::{Backend, TestApp};

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Postgres).await }
            )*
        }
    };
}

both_backends!(
    migrations_run_up_and_down,
    sign_in_rotates_session_and_wrong_password_is_clear,
    repeated_failed_sign_ins_are_throttled,
    csrf_is_required_for_every_state_change,
    bad_input_gets_clear_errors,
    link_holder_cannot_reach_other_tenants_through_any_route,
    expired_and_revoked_links_are_refused,
    database_holds_no_plaintext_secret,
    link_holder_connects_an_erp_and_browses_its_schema,
    support_staff_see_tenants_but_not_staff_administration,
    cookies_are_secure_behind_https,
    sandbox_drift_against_production_is_reported,
);

async fn migrations_run_up_and_down(backend: Backend) {
    use migrations::{Migrator, MigratorTrait};
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn(backend).await;
    let db = &app.state.store.db;
    let count_tables = || async {
        let sql = if backend == Backend::Sqlite {
            "SELECT count(*) AS n FROM sqlite_master WHERE type='table' AND name IN ('staff_users','sessions','tenants','onboarding_links','connections','audit_log','login_throttle','schema_versions')"
        } else {
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema='public' AND table_name IN ('staff_users','sessions','tenants','onboarding_links','connections','audit_log','login_throttle','schema_versions')"
        };
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql,
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    };
    assert_eq!(count_tables().await, 8);
    let applied = Migrator::get_applied_migrations(db).await.unwrap().len();
    assert_eq!(applied, Migrator::migrations().len());
    Migrator::down(db, None)
        .await
        .expect("every migration goes down");
    assert_eq!(count_tables().await, 0);
    Migrator::up(db, None).await.expect("and up again");
    assert_eq!(count_tables().await, 8);
    app.finish().await;
}

async fn sign_in_rotates_session_and_wrong_password_is_clear(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.client();
    let csrf = c.csrf().await;
    let before = c.session_cookie();
    let r = c
        .post_form(
            "/api/sign_in",
            &[
                ("csrf_token", &csrf),
                ("email", support::ADMIN),
                ("password", "wrong-password"),
            ],
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["code"], "unauthenticated");
    assert_eq!(r.json()["message"], "Wrong email or password.");
    let r = c
        .post_form(
            "/api/sign_in",
            &[
                ("csrf_token", &csrf),
                ("email", support::ADMIN),
                ("password", support::ADMIN_PASSWORD),
            ],
        )
        .await;
    assert!(
        r.status == 302 || r.status == 200,
        "{} {}",
        r.status,
        r.body
    );
    let after = c.session_cookie();
    assert!(after.is_some());
    assert_ne!(before, after, "the session id changes on sign-in");
    let cookie = c.raw_set_cookie.lock().unwrap().clone();
    assert!(
        cookie
            .iter()
            .any(|h| h.contains("HttpOnly") && h.contains("SameSite=Lax")),
        "{cookie:?}"
    );
    let r = c.get("/tenants").await;
    assert_eq!(r.status, 200);
    // Sign-out ends the session.
    let csrf = c.csrf().await;
    c.post_form("/api/sign_out", &[("csrf_token", &csrf)]).await;
    let r = c.get("/tenants").await;
    assert_eq!(r.status, 303, "signed out callers are sent to sign-in");
    app.finish().await;
}

async fn repeated_failed_sign_ins_are_throttled(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.client();
    let csrf = c.csrf().await;
    for _ in 0..store::MAX_FAILURES {
        let r = c
            .post_form(
                "/api/sign_in",
                &[
                    ("csrf_token", &csrf),
                    ("email", support::ADMIN),
                    ("password", "nope-nope-nope"),
                ],
            )
            .await;
        assert_eq!(r.status, 401);
    }
    let r = c
        .post_form(
            "/api/sign_in",
            &[
                ("csrf_token", &csrf),
                ("email", support::ADMIN),
                ("password", support::ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.json()["code"], "throttled");
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("Too many failed sign-ins"));
    app.finish().await;
}

async fn csrf_is_required_for_every_state_change(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.admin().await;
    let csrf = c.csrf().await;
    // Every registered server function refuses a POST without the token.
    for (path, method) in leptos::server_fn::axum::server_fn_paths() {
        if method != http::Method::POST {
            // Reads are GETs: they change nothing, so they need no token.
            continue;
        }
        let r = c.post_form(path, &[("name", "x")]).await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert_eq!(r.json()["code"], "csrf_rejected", "{path}");
    }
    let r = c
        .post_form(
            "/api/create_tenant",
            &[("csrf_token", "forged"), ("name", "Acme")],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = c
        .post_form_with(
            "/api/create_tenant",
            &[("csrf_token", &csrf), ("name", "Acme")],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(
        r.status, 403,
        "a foreign Origin is refused even with the token"
    );
    let r = c
        .post_form_with(
            "/api/create_tenant",
            &[("csrf_token", &csrf), ("name", "Acme")],
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = c
        .post_form(
            "/api/create_tenant",
            &[("csrf_token", &csrf), ("name", "Acme")],
        )
        .await;
    assert!(
        r.status == 302 || r.status == 200,
        "{} {}",
        r.status,
        r.body
    );
    assert_eq!(app.state.store.list_tenants("acme").await.unwrap().len(), 1);
    app.finish().await;
}

async fn bad_input_gets_clear_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.admin().await;
    let csrf = c.csrf().await;
    let t = app.tenant("Bad Input Co").await;
    // A number field with text.
    let r = c
        .post_form(
            "/api/issue_link",
            &[
                ("csrf_token", &csrf),
                ("tenant_id", &t),
                ("label", "x"),
                ("ttl_hours", "soon"),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["code"], "invalid_input");
    // A missing field.
    let r = c
        .post_form("/api/create_tenant", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // A value out of range.
    let r = c
        .post_form(
            "/api/issue_link",
            &[
                ("csrf_token", &csrf),
                ("tenant_id", &t),
                ("label", "x"),
                ("ttl_hours", "100000"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("between 1 hour and 30 days"));
    // An empty name.
    let r = c
        .post_form(
            "/api/create_tenant",
            &[("csrf_token", &csrf), ("name", "   ")],
        )
        .await;
    assert_eq!(r.status, 400);
    // Oversized body.
    let big = "x".repeat(200 * 1024);
    let r = c
        .post_form(
            "/api/create_tenant",
            &[("csrf_token", &csrf), ("name", &big)],
        )
        .await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body.contains("too large"), "{}", r.body);
    // Unknown routes.
    let r = c.get("/no/such/page").await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("Page not found"));
    let r = c
        .post_form("/api/no_such_function", &[("csrf_token", &csrf)])
        .await;
    assert!(
        r.status == 400 || r.status == 404,
        "{} {}",
        r.status,
        r.body
    );
    // An unknown tenant id.
    let r = c
        .get_query(
            "/api/get_tenant",
            &[("tenant_id", "00000000-0000-0000-0000-000000000000")],
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    // A wrong method on a page.
    let r = c.post_form("/tenants", &[("csrf_token", &csrf)]).await;
    assert!(r.status < 500, "{} {}", r.status, r.body);
    // None of these answers showed internals.
    app.finish().await;
}

/// For each registered server function: the form body a link holder of tenant A sends to
/// reach tenant B's data, or why the function holds no tenant data.
fn server_fn_probe(path: &str, b: &str, b_link: &str) -> Option<Vec<(&'static str, String)>> {
    let s = |v: &str| v.to_string();
    Some(match path {
        "/api/list_tenants" => vec![("query", s(""))],
        "/api/create_tenant" => vec![("name", s("Sneaky"))],
        "/api/get_tenant" => vec![("tenant_id", s(b))],
        "/api/list_links" => vec![("tenant_id", s(b))],
        "/api/issue_link" => vec![
            ("tenant_id", s(b)),
            ("label", s("x")),
            ("ttl_hours", s("24")),
        ],
        "/api/revoke_link" => vec![("tenant_id", s(b)), ("link_id", s(b_link))],
        "/api/tenant_audit" => vec![("tenant_id", s(b))],
        "/api/onboarding_info" => vec![("tenant_id", s(b))],
        "/api/list_staff" => vec![],
        "/api/connect_erp" => vec![
            ("tenant_id", s(b)),
            ("erp", s("sap_b1")),
            ("environment", s("production")),
            ("display_name", s("x")),
            ("credential_kind", s("service_layer_user")),
            ("base_url", s("https://sl.example.com:50000")),
            ("settings[company_db]", s("SBODEMOUS")),
            ("fields[username]", s("u")),
            ("fields[password]", s("p")),
        ],
        "/api/recheck_connection" => vec![("tenant_id", s(b)), ("connection_id", s("any"))],
        "/api/tenant_schema" => vec![("tenant_id", s(b))],
        "/api/schema_drift" => vec![("tenant_id", s(b))],
        "/api/export_credentials" => vec![("tenant_id", s(b)), ("connection_id", s("any"))],
        "/api/create_staff" => vec![
            ("email", s("mallory@example.com")),
            ("name", s("M")),
            ("password", s("long-enough-password")),
            ("role", s("admin")),
        ],
        // Functions about the caller's own session: they hold no tenant data.
        "/api/sign_in" | "/api/sign_out" | "/api/whoami" => return None,
        // The ERP catalog is the same for everyone signed in.
        "/api/erp_catalog" => return None,
        other => {
            panic!("server function {other} has no isolation probe: add one to server_fn_probe")
        }
    })
}

async fn link_holder_cannot_reach_other_tenants_through_any_route(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.tenant("Alpha Manufacturing").await;
    let b = app.tenant("Beta Health").await;
    let (_, a_token) = app.link(&a).await;
    let (b_link, _) = app.link(&b).await;
    let holder = app.client();
    let r = holder.get(&format!("/onboard/{a_token}")).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some(format!("/t/{a}").as_str()));
    let csrf = holder.csrf().await;

    // Staff who open a link see the tenant's page and stay staff.
    let staff = app.admin().await;
    let r = staff.get(&format!("/onboard/{a_token}")).await;
    assert_eq!(r.location.as_deref(), Some(format!("/t/{a}").as_str()));
    assert_eq!(
        staff.get("/tenants").await.status,
        200,
        "staff session kept"
    );

    // Its own tenant works, through the page and its server function.
    assert_eq!(holder.get(&format!("/t/{a}")).await.status, 200);
    let own = holder
        .get_query("/api/onboarding_info", &[("tenant_id", &a)])
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert!(own.body.contains("Alpha Manufacturing"));

    let b_before = app
        .state
        .store
        .list_links(&domain::TenantId(b.clone()))
        .await
        .unwrap();
    let tenants_before = app.state.store.list_tenants("").await.unwrap().len();

    // Every server function.
    let mut probed = 0;
    for (path, method) in leptos::server_fn::axum::server_fn_paths() {
        let Some(mut fields) = server_fn_probe(path, &b, &b_link.id) else {
            continue;
        };
        fields.push(("csrf_token", csrf.clone()));
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = if method == http::Method::GET {
            holder.get_query(path, &pairs).await
        } else {
            holder.post_form(path, &pairs).await
        };
        assert_eq!(r.status, 403, "{path} answered {}: {}", r.status, r.body);
        assert_eq!(r.json()["code"], "forbidden", "{path}");
        assert!(!r.body.contains("Beta Health"), "{path} leaked tenant B");
        probed += 1;
    }
    assert!(probed >= 9, "only {probed} server functions probed");

    // Every page route, with B's id wherever a route takes one.
    let routes = server::web::route_list();
    assert!(!routes.is_empty());
    for route in routes {
        let pattern = route.path().replace('{', ":").replace('}', "");
        let probe_path = pattern.replace(":id", "x").replace(":reason", "x");
        let access = server::web::page_access(&probe_path).map(|a| a.0);
        assert!(
            server::web::PAGE_ACCESS.iter().any(|(p, _)| *p == pattern),
            "route {pattern} is not listed in web::PAGE_ACCESS"
        );
        let url = pattern.replace(":id", &b).replace(":reason", "invalid");
        let r = holder.get(&url).await;
        match access {
            Some(server::web::Access::Public) => assert!(r.status < 500, "{url}: {}", r.status),
            _ => {
                assert_eq!(r.status, 403, "{url} answered {}", r.status);
                assert!(!r.body.contains("Beta Health"), "{url} leaked tenant B");
            }
        }
    }

    // Nothing of B changed.
    let b_after = app
        .state
        .store
        .list_links(&domain::TenantId(b.clone()))
        .await
        .unwrap();
    assert_eq!(b_before, b_after);
    assert_eq!(
        app.state.store.list_tenants("").await.unwrap().len(),
        tenants_before
    );
    app.finish().await;
}

async fn expired_and_revoked_links_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.tenant("Gamma Builders").await;
    let (expired, expired_token) = app.link(&t).await;
    app.state
        .store
        .set_link_expiry(&expired.id, store::now_ms() - 1000)
        .await
        .unwrap();
    let c = app.client();
    let r = c.get(&format!("/onboard/{expired_token}")).await;
    assert_eq!(r.location.as_deref(), Some("/link/expired"));
    let page = c.get("/link/expired").await;
    assert_eq!(page.status, 410);
    assert!(page.body.contains("expired"));

    // A revoked link stops an open session at once.
    let (live, token) = app.link(&t).await;
    let holder = app.client();
    assert_eq!(holder.get(&format!("/onboard/{token}")).await.status, 303);
    assert_eq!(holder.get(&format!("/t/{t}")).await.status, 200);
    let staff = domain::Principal::Staff {
        user_id: "test".into(),
        email: "t@example.com".into(),
        name: "t".into(),
        role: domain::Role::Admin,
    };
    app.state
        .store
        .revoke_link(&domain::TenantId(t.clone()), &live.id, &staff)
        .await
        .unwrap();
    assert_eq!(
        holder.get(&format!("/t/{t}")).await.status,
        303,
        "revoked holder is signed out"
    );
    let r = app.client().get(&format!("/onboard/{token}")).await;
    assert_eq!(r.location.as_deref(), Some("/link/revoked"));
    let r = app.client().get("/onboard/not-a-token").await;
    assert_eq!(r.location.as_deref(), Some("/link/invalid"));
    let links = app
        .state
        .store
        .list_links(&domain::TenantId(t.clone()))
        .await
        .unwrap();
    let used = links.iter().find(|l| l.id == live.id).unwrap();
    assert!(
        used.last_used_at.is_some() && used.use_count == 1,
        "{used:?}"
    );
    app.finish().await;
}

async fn database_holds_no_plaintext_secret(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn(backend).await;
    let t = app.tenant("Delta Foods").await;
    let secret = "tba-token-secret-6f1d3a9b";
    let creds = secrecy::SecretBox::new(
        format!("{{\"token_secret\":\"{secret}\"}}")
            .into_bytes()
            .into_boxed_slice(),
    );
    let staff = domain::Principal::Staff {
        user_id: "x".into(),
        email: "x@example.com".into(),
        name: "x".into(),
        role: domain::Role::Admin,
    };
    let conn = app
        .state
        .store
        .create_connection(
            &app.state.vault,
            &domain::TenantId(t.clone()),
            domain::ErpKind::Netsuite,
            domain::Environment::Sandbox,
            "Delta sandbox",
            "tba",
            &creds,
            &serde_json::json!({ "account_id": "1234567_SB1" }),
            &staff,
        )
        .await
        .unwrap();
    // Every text and blob column of every table, as the database returns it.
    let db = &app.state.store.db;
    let mut dump = String::new();
    for table in [
        "schema_versions",
        "staff_users",
        "sessions",
        "tenants",
        "onboarding_links",
        "connections",
        "audit_log",
        "login_throttle",
    ] {
        let sql = if backend == Backend::Sqlite {
            let cols = db
                .query_all_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT name FROM pragma_table_info('{table}')"),
                ))
                .await
                .unwrap();
            let cols: Vec<String> = cols
                .iter()
                .map(|r| r.try_get_by_index::<String>(0).unwrap())
                .collect();
            let expr: Vec<String> = cols.iter().map(|c| format!("quote({c})")).collect();
            format!("SELECT {} FROM {table}", expr.join(" || '|' || "))
        } else {
            format!("SELECT row_to_json(t)::text FROM {table} t")
        };
        for row in db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql,
            ))
            .await
            .unwrap()
        {
            dump.push_str(&row.try_get_by_index::<String>(0).unwrap());
            dump.push('\n');
        }
    }
    assert!(
        dump.contains("Delta sandbox"),
        "the dump really covers the connections table"
    );
    assert!(
        !dump.contains(secret),
        "plaintext secret found in the database"
    );
    assert!(
        !dump.contains(support::ADMIN_PASSWORD),
        "plaintext password found in the database"
    );
    if let Some(path) = &app.sqlite_path {
        for suffix in ["", "-wal"] {
            if let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "secret in the SQLite file{suffix}"
                );
            }
        }
    }
    // And the vault opens it again for its owner.
    let opened = app
        .state
        .store
        .connection_credentials(&app.state.vault, &domain::TenantId(t), &conn.id)
        .await
        .unwrap();
    use secrecy::ExposeSecret;
    assert!(String::from_utf8_lossy(opened.expose_secret()).contains(secret));
    app.finish().await;
}

async fn link_holder_connects_an_erp_and_browses_its_schema(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let scenario = connector_core::sim::Scenario::default_scenario();
    let sims = connectors::cli::start_simulators(&scenario, 0)
        .await
        .unwrap();
    let sap = sims
        .iter()
        .find(|(k, _, _)| *k == domain::ErpKind::SapB1)
        .expect("SAP B1 simulator");
    let sap_url = sap.1.base_url.clone();
    let t = app.tenant("Globex Distribution").await;
    let (_, token) = app.link(&t).await;
    let holder = app.client();
    assert_eq!(holder.get(&format!("/onboard/{token}")).await.status, 303);
    let csrf = holder.csrf().await;
    let connect = |password: &'static str, name: &'static str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("tenant_id", t.clone()),
            ("erp", "sap_b1".to_string()),
            ("environment", "production".to_string()),
            ("display_name", name.to_string()),
            ("credential_kind", "service_layer_user".to_string()),
            ("base_url", sap_url.clone()),
            ("settings[company_db]", "SBODEMOUS".to_string()),
            ("fields[username]", "manager".to_string()),
            ("fields[password]", password.to_string()),
        ]
    };
    let pairs = |v: &Vec<(&'static str, String)>| {
        v.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>()
    };
    let good = pairs(&connect("globex-password", "Globex production"));
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = holder.post_form("/api/connect_erp", &good).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let conn = r.json();
    assert_eq!(conn["status"], "active", "{conn}");
    let conn_id = conn["id"].as_str().unwrap().to_string();

    // Discovery ran and its UDFs are browsable by the tenant.
    let schema = holder
        .get_query("/api/tenant_schema", &[("tenant_id", &t)])
        .await;
    assert_eq!(schema.status, 200);
    assert!(
        schema.body.contains("U_ProjectCode"),
        "UDF missing from {}",
        &schema.body[..schema.body.len().min(400)]
    );
    assert!(schema.body.contains("\"version\":1"));

    // A second check stores a second version.
    let r = holder
        .post_form(
            "/api/recheck_connection",
            &[
                ("csrf_token", &csrf),
                ("tenant_id", &t),
                ("connection_id", &conn_id),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let schema = holder
        .get_query("/api/tenant_schema", &[("tenant_id", &t)])
        .await;
    assert!(schema.body.contains("\"version\":2"));

    // Wrong credentials: the connection is stored and marked for re-authentication.
    let bad = pairs(&connect("wrong-password", "Globex typo"));
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = holder.post_form("/api/connect_erp", &bad).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "needs_reauth", "{}", r.body);
    assert!(!r.body.contains("wrong-password"), "secret echoed back");

    // A form missing a required field names it; a tenant cannot slip in loopback on its own.
    let mut missing = good.clone();
    missing.retain(|(k, _)| *k != "settings[company_db]");
    let r = holder.post_form("/api/connect_erp", &missing).await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("Company database"),
        "{}",
        r.body
    );
    let mut sneaky = good.clone();
    sneaky.push(("settings[allow_loopback]", "true"));
    let r = holder.post_form("/api/connect_erp", &sneaky).await;
    assert_eq!(r.status, 400, "{}", r.body);

    // The tenant list counts both connections and the one live link.
    let listed = app.state.store.list_tenants("globex").await.unwrap();
    assert_eq!(
        (
            listed.len(),
            listed[0].connection_count,
            listed[0].active_links
        ),
        (1, 2, 1),
        "{listed:?}"
    );
    let other = app.tenant("Unrelated Co").await;
    let listed = app.state.store.list_tenants("").await.unwrap();
    let unrelated = listed.iter().find(|s| s.id.0 == other).unwrap();
    assert_eq!((unrelated.connection_count, unrelated.active_links), (0, 0));

    // The owner can export the credentials; staff cannot.
    let r = holder
        .post_form(
            "/api/export_credentials",
            &[
                ("csrf_token", &csrf),
                ("tenant_id", &t),
                ("connection_id", &conn_id),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("globex-password"));
    let staff = app.admin().await;
    let staff_csrf = staff.csrf().await;
    let r = staff
        .post_form(
            "/api/export_credentials",
            &[
                ("csrf_token", &staff_csrf),
                ("tenant_id", &t),
                ("connection_id", &conn_id),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Staff see the connection and its schema on the tenant page data.
    let r = staff
        .get_query("/api/get_tenant", &[("tenant_id", &t)])
        .await;
    assert!(
        r.body.contains("Globex production") && r.body.contains("active"),
        "{}",
        r.body
    );
    for (_, running, _) in sims {
        running.stop().await;
    }
    app.finish().await;
}

async fn support_staff_see_tenants_but_not_staff_administration(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.state
        .store
        .create_staff(
            "support@example.com",
            "Sam Support",
            "support-password-1",
            domain::Role::Support,
        )
        .await
        .unwrap();
    let t = app.tenant("Epsilon Retail").await;
    let c = app
        .signed_in("support@example.com", "support-password-1")
        .await;
    // Support sees every tenant and may work on them.
    assert_eq!(c.get("/tenants").await.status, 200);
    assert_eq!(c.get(&format!("/tenants/{t}")).await.status, 200);
    let csrf = c.csrf().await;
    let r = c
        .post_form(
            "/api/issue_link",
            &[
                ("csrf_token", &csrf),
                ("tenant_id", &t),
                ("label", "x"),
                ("ttl_hours", "24"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // But not staff administration.
    assert_eq!(c.get("/staff").await.status, 403);
    assert_eq!(c.get_query("/api/list_staff", &[]).await.status, 403);
    let r = c
        .post_form(
            "/api/create_staff",
            &[
                ("csrf_token", &csrf),
                ("email", "eve@example.com"),
                ("name", "Eve"),
                ("password", "long-enough-password"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        app.state.store.staff_count().await.unwrap(),
        2,
        "no staff user was created"
    );
    // The admin can.
    let admin = app.admin().await;
    let csrf = admin.csrf().await;
    let r = admin
        .post_form(
            "/api/create_staff",
            &[
                ("csrf_token", &csrf),
                ("email", "new@example.com"),
                ("name", "New"),
                ("password", "long-enough-password"),
                ("role", "support"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        !r.body.contains("password_hash") && !r.body.contains("argon2"),
        "{}",
        r.body
    );
    app.finish().await;
}

async fn cookies_are_secure_behind_https(backend: Backend) {
    let app = TestApp::spawn_with(backend, |cfg| {
        cfg.public_url = "https://switchyard.example.com".into();
        cfg.secure_cookies = true;
    })
    .await;
    let c = app.client();
    c.get("/login").await;
    let cookies = c.raw_set_cookie.lock().unwrap().clone();
    assert!(
        cookies.iter().any(|h| h.starts_with("switchyard_session=")
            && h.contains("Secure")
            && h.contains("HttpOnly")),
        "{cookies:?}"
    );
    app.finish().await;
}

async fn sandbox_drift_against_production_is_reported(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sims =
        connectors::cli::start_simulators(&connector_core::sim::Scenario::default_scenario(), 0)
            .await
            .unwrap();
    let ns = sims
        .iter()
        .find(|(k, _, _)| *k == domain::ErpKind::Netsuite)
        .expect("NetSuite simulator");
    let base = ns.1.base_url.clone();
    let t = app.tenant("Acme Manufacturing").await;
    let staff = app.admin().await;
    let csrf = staff.csrf().await;
    for (env, account, token_id, token_secret) in [
        (
            "production",
            "1234567",
            "acme-token-id",
            "acme-token-secret",
        ),
        (
            "sandbox",
            "1234567_SB1",
            "acme-sb-token-id",
            "acme-sb-token-secret",
        ),
    ] {
        let url = format!("{base}/a/{account}");
        let name = format!("Acme {env}");
        let form = [
            ("csrf_token", csrf.as_str()),
            ("tenant_id", t.as_str()),
            ("erp", "netsuite"),
            ("environment", env),
            ("display_name", name.as_str()),
            ("credential_kind", "tba"),
            ("base_url", url.as_str()),
            ("settings[account_id]", account),
            ("fields[consumer_key]", "acme-consumer-key"),
            ("fields[consumer_secret]", "acme-consumer-secret"),
            ("fields[token_id]", token_id),
            ("fields[token_secret]", token_secret),
        ];
        let r = staff.post_form("/api/connect_erp", &form).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["status"], "active", "{env}: {}", r.body);
    }
    let r = staff
        .get_query("/api/schema_drift", &[("tenant_id", &t)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let drift = r.json();
    let ns = drift
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["erp"] == "netsuite")
        .expect("a NetSuite drift entry");
    let only_prod = ns["diff"]["fields_only_left"].to_string();
    assert!(
        only_prod.contains("custbody_plant"),
        "field missing from the sandbox not reported: {ns}"
    );
    let objects_only_prod = ns["diff"]["only_left"].to_string();
    assert!(
        objects_only_prod.contains("customsearch_sales_summary"),
        "saved search missing from the sandbox not reported: {ns}"
    );
    assert_eq!(
        ns["diff"]["only_right"].as_array().unwrap().len(),
        0,
        "{ns}"
    );
    for (_, running, _) in sims {
        running.stop().await;
    }
    app.finish().await;
}
