//! `TestApp`: a real server on 127.0.0.1:0 over a fresh database, and an HTTP client
//! that keeps cookies, for the integration tests.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

pub const ADMIN: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct-horse-battery";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub state: app::ssr::AppState,
    pub sqlite_path: Option<String>,
    pg_db: Option<(String, String)>,
    task: tokio::task::JoinHandle<()>,
}

fn postgres_base() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into())
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Spawns with a configuration adjusted by `tweak` (after the test defaults).
    pub async fn spawn_with(
        backend: Backend,
        tweak: impl FnOnce(&mut server::config::Config),
    ) -> TestApp {
        let name = format!("sy_test_{}", uuid::Uuid::new_v4().simple());
        let (url, sqlite_path, pg_db) = match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir).unwrap();
                let path = dir.join("switchyard.db").display().to_string();
                (format!("sqlite://{path}"), Some(path), None)
            }
            Backend::Postgres => {
                use sea_orm::ConnectionTrait;
                let base = postgres_base();
                let admin = sea_orm::Database::connect(&base).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL at {base} is required for these tests (set DATABASE_URL): {e}"
                    )
                });
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap();
                admin.close().await.ok();
                let (prefix, _) = base.rsplit_once('/').expect("database URL has a path");
                (format!("{prefix}/{name}"), None, Some((base, name.clone())))
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut cfg = server::config::Config::for_tests(&url);
        cfg.bind = addr;
        cfg.public_url = format!("http://{addr}");
        cfg.data_dir = std::env::temp_dir().join(&name);
        tweak(&mut cfg);
        let started = server::start(&cfg).await.expect("server starts");
        let router = started.router;
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .unwrap();
        });
        TestApp {
            base: format!("http://{addr}"),
            state: started.state,
            sqlite_path,
            pg_db,
            task,
        }
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    /// A client signed in as the bootstrap admin.
    pub async fn admin(&self) -> Client {
        self.signed_in(ADMIN, ADMIN_PASSWORD).await
    }

    /// A client signed in as the given staff user.
    pub async fn signed_in(&self, email: &str, password: &str) -> Client {
        let c = self.client();
        let csrf = c.csrf().await;
        let r = c
            .post_form(
                "/api/sign_in",
                &[
                    ("csrf_token", &csrf),
                    ("email", email),
                    ("password", password),
                ],
            )
            .await;
        assert!(
            r.status == 302 || r.status == 200,
            "sign-in of {email} failed: {} {}",
            r.status,
            r.body
        );
        c
    }

    fn system_actor() -> domain::Principal {
        domain::Principal::Staff {
            user_id: "test".into(),
            email: "t@example.com".into(),
            name: "t".into(),
            role: domain::Role::Admin,
        }
    }

    /// Creates a tenant directly in the store; returns its id.
    pub async fn tenant(&self, name: &str) -> String {
        self.state
            .store
            .create_tenant(name, &Self::system_actor())
            .await
            .unwrap()
            .id
            .0
    }

    /// Issues a link; returns its view and raw token.
    pub async fn link(&self, tenant: &str) -> (domain::views::LinkView, String) {
        self.state
            .store
            .issue_link(
                &domain::TenantId(tenant.to_string()),
                "test",
                24,
                &Self::system_actor(),
            )
            .await
            .unwrap()
    }

    pub async fn finish(self) {
        self.task.abort();
        self.state.store.db.clone().close().await.ok();
        if let Some((base, name)) = self.pg_db {
            use sea_orm::ConnectionTrait;
            if let Ok(admin) = sea_orm::Database::connect(&base).await {
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        }
        if let Some(p) = self.sqlite_path {
            if let Some(dir) = std::path::Path::new(&p).parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

pub struct Reply {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.body))
    }
}

pub struct Client {
    base: String,
    http: reqwest::Client,
    jar: Arc<reqwest::cookie::Jar>,
    pub raw_set_cookie: Arc<Mutex<Vec<String>>>,
}

impl Client {
    fn new(base: &str) -> Client {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            // A hung request fails the test with its path instead of hanging the suite.
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap();
        Client {
            base: base.to_string(),
            http,
            jar,
            raw_set_cookie: Arc::default(),
        }
    }

    pub fn session_cookie(&self) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let url = self.base.parse().unwrap();
        self.jar
            .cookies(&url)
            .map(|v| v.to_str().unwrap().to_string())
    }

    async fn reply(&self, r: reqwest::Response) -> Reply {
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        for v in r.headers().get_all("set-cookie") {
            self.raw_set_cookie
                .lock()
                .unwrap()
                .push(v.to_str().unwrap().to_string());
        }
        let body = r.text().await.unwrap_or_default();
        assert!(
            !body.contains("panicked") && !body.contains("DbErr") && !body.contains("sqlx"),
            "internals leaked: {body}"
        );
        Reply {
            status,
            body,
            location,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        self.reply(r).await
    }

    /// A GET with a query string, as the browser calls read-only server functions.
    pub async fn get_query(&self, path: &str, query: &[(&str, &str)]) -> Reply {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        let r = self
            .http
            .get(format!("{}{path}?{q}", self.base))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}?{q}: {e}"));
        self.reply(r).await
    }

    /// The session's CSRF token, read from a page's meta tag.
    pub async fn csrf(&self) -> String {
        let page = self.get("/login").await;
        let page = if page.status == 200 {
            page
        } else {
            self.get("/denied").await
        };
        let marker = "name=\"csrf-token\" content=\"";
        let start = page
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no csrf meta in {}", page.body))
            + marker.len();
        let end = page.body[start..].find('"').unwrap() + start;
        page.body[start..end].to_string()
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        self.post_form_with(path, form, &[]).await
    }

    pub async fn post_form_with(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Reply {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        self.reply(r).await
    }
}
