//! Typed, layered configuration: built-in defaults, then an optional TOML file, then
//! `SWITCHYARD_*` environment variables (and `DATABASE_URL`). Secrets are wrapped so that
//! printing the configuration never shows them.

use secrecy::SecretString;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub database_url: String,
    pub data_dir: PathBuf,
    /// The externally visible base URL (onboarding links are built from it).
    pub public_url: String,
    pub master_key: Option<SecretString>,
    pub master_key_file: PathBuf,
    pub previous_master_keys: Vec<SecretString>,
    pub admin_email: String,
    pub admin_password: Option<SecretString>,
    pub site_root: PathBuf,
    pub log_json: bool,
    /// Mark the session cookie `Secure`; defaults to whether `public_url` is https.
    pub secure_cookies: bool,
    pub max_body_bytes: usize,
    pub session_idle_minutes: i64,
    /// Let ERP connections point at 127.0.0.1 (the local simulators). Demo and tests only.
    pub allow_loopback_erps: bool,
    /// Let ERP host names resolve to private-network addresses (an on-premises SAP B1
    /// Service Layer reached over a VPN). Off by default: tenant-supplied hosts are untrusted.
    pub allow_private_erps: bool,
}

/// The file form: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<String>,
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
    public_url: Option<String>,
    master_key_file: Option<PathBuf>,
    admin_email: Option<String>,
    site_root: Option<PathBuf>,
    log_format: Option<String>,
    secure_cookies: Option<bool>,
    max_body_bytes: Option<usize>,
    session_idle_minutes: Option<i64>,
    allow_loopback_erps: Option<bool>,
    allow_private_erps: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{var}: {message}")]
    Env { var: String, message: String },
}

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

impl Config {
    /// Loads from `file` (or `./switchyard.toml` when present) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let default_file = Path::new("switchyard.toml");
        let path = file
            .map(Path::to_path_buf)
            .or_else(|| default_file.exists().then(|| default_file.to_path_buf()));
        let fc = match &path {
            None => FileConfig::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError::File {
                    path: p.display().to_string(),
                    message: e.to_string(),
                })?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::File {
                    path: p.display().to_string(),
                    message: e.to_string(),
                })?
            }
        };
        Self::from_parts(fc, &env)
    }

    fn from_parts(
        fc: FileConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let bind_text = env("SWITCHYARD_BIND")
            .or(fc.bind)
            .unwrap_or_else(|| "127.0.0.1:3000".into());
        let bind: SocketAddr = bind_text.parse().map_err(|_| ConfigError::Env {
            var: "bind".into(),
            message: format!("`{bind_text}` is not an address like 127.0.0.1:3000"),
        })?;
        let data_dir = env("SWITCHYARD_DATA_DIR")
            .map(PathBuf::from)
            .or(fc.data_dir)
            .unwrap_or_else(|| "data".into());
        let database_url = env("SWITCHYARD_DATABASE_URL")
            .or_else(|| env("DATABASE_URL"))
            .or(fc.database_url)
            .unwrap_or_else(|| format!("sqlite://{}/switchyard.db", data_dir.display()));
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Env {
                var: "database_url".into(),
                message: "must start with sqlite: or postgres://".into(),
            });
        }
        let public_url = env("SWITCHYARD_PUBLIC_URL")
            .or(fc.public_url)
            .unwrap_or_else(|| format!("http://{bind}"));
        let parsed = url::Url::parse(&public_url).map_err(|e| ConfigError::Env {
            var: "public_url".into(),
            message: format!("`{public_url}` is not a URL: {e}"),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ConfigError::Env {
                var: "public_url".into(),
                message: "must be http or https".into(),
            });
        }
        let secure_default = parsed.scheme() == "https";
        let secure_cookies = match env("SWITCHYARD_SECURE_COOKIES") {
            Some(v) => parse_bool("SWITCHYARD_SECURE_COOKIES", &v)?,
            None => fc.secure_cookies.unwrap_or(secure_default),
        };
        let log_format = env("SWITCHYARD_LOG_FORMAT")
            .or(fc.log_format)
            .unwrap_or_else(|| "pretty".into());
        let log_json = match log_format.as_str() {
            "json" => true,
            "pretty" => false,
            other => {
                return Err(ConfigError::Env {
                    var: "log_format".into(),
                    message: format!("`{other}` is not one of pretty, json"),
                })
            }
        };
        let max_body_bytes = match env("SWITCHYARD_MAX_BODY_BYTES") {
            Some(v) => v.parse().map_err(|_| ConfigError::Env {
                var: "SWITCHYARD_MAX_BODY_BYTES".into(),
                message: format!("`{v}` is not a number of bytes"),
            })?,
            None => fc.max_body_bytes.unwrap_or(64 * 1024),
        };
        let session_idle_minutes = fc.session_idle_minutes.unwrap_or(8 * 60);
        let allow_loopback_erps = match env("SWITCHYARD_ALLOW_LOOPBACK_ERPS") {
            Some(v) => parse_bool("SWITCHYARD_ALLOW_LOOPBACK_ERPS", &v)?,
            None => fc.allow_loopback_erps.unwrap_or(false),
        };
        let allow_private_erps = match env("SWITCHYARD_ALLOW_PRIVATE_ERPS") {
            Some(v) => parse_bool("SWITCHYARD_ALLOW_PRIVATE_ERPS", &v)?,
            None => fc.allow_private_erps.unwrap_or(false),
        };
        Ok(Config {
            bind,
            database_url,
            master_key: env("SWITCHYARD_MASTER_KEY").map(SecretString::from),
            master_key_file: env("SWITCHYARD_MASTER_KEY_FILE")
                .map(PathBuf::from)
                .or(fc.master_key_file)
                .unwrap_or_else(|| data_dir.join("master.key")),
            previous_master_keys: env("SWITCHYARD_PREVIOUS_MASTER_KEYS")
                .map(|v| {
                    v.split(',')
                        .map(|s| SecretString::from(s.trim().to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            admin_email: env("SWITCHYARD_ADMIN_EMAIL")
                .or(fc.admin_email)
                .unwrap_or_else(|| "admin@localhost".into()),
            admin_password: env("SWITCHYARD_ADMIN_PASSWORD").map(SecretString::from),
            site_root: env("SWITCHYARD_SITE_ROOT")
                .or_else(|| env("LEPTOS_SITE_ROOT"))
                .map(PathBuf::from)
                .or(fc.site_root)
                .unwrap_or_else(|| "target/site".into()),
            data_dir,
            public_url: public_url.trim_end_matches('/').to_string(),
            log_json,
            secure_cookies,
            max_body_bytes,
            session_idle_minutes,
            allow_loopback_erps,
            allow_private_erps,
        })
    }

    /// A configuration for tests: in-memory or given database, fixed key, no files.
    pub fn for_tests(database_url: &str) -> Config {
        let fc = FileConfig {
            database_url: Some(database_url.to_string()),
            ..Default::default()
        };
        let mut c = Self::from_parts(fc, &|_| None).expect("test configuration is valid");
        c.master_key = Some(SecretString::from(
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_string(),
        ));
        c.admin_email = "admin@example.com".into();
        c.admin_password = Some(SecretString::from("correct-horse-battery".to_string()));
        c.allow_loopback_erps = true;
        c
    }
}

fn parse_bool(var: &str, v: &str) -> Result<bool, ConfigError> {
    match v {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(ConfigError::Env {
            var: var.into(),
            message: format!("`{v}` is not true or false"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_file_and_defaults_apply() {
        let fc: FileConfig =
            toml::from_str("bind = \"127.0.0.1:4000\"\npublic_url = \"https://sy.example.com/\"")
                .unwrap();
        let c = Config::from_parts(fc, &|k| {
            (k == "SWITCHYARD_BIND").then(|| "127.0.0.1:5000".to_string())
        })
        .unwrap();
        assert_eq!(c.bind.port(), 5000);
        assert_eq!(c.public_url, "https://sy.example.com");
        assert!(c.secure_cookies, "https public URL implies Secure cookies");
        assert_eq!(c.database_url, "sqlite://data/switchyard.db");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = toml::from_str::<FileConfig>("bnid = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bnid"), "{e}");
        let e = Config::from_parts(FileConfig::default(), &|k| {
            (k == "SWITCHYARD_BIND").then(|| "nope".into())
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("nope"), "{e}");
        let e = Config::from_parts(FileConfig::default(), &|k| {
            (k == "DATABASE_URL").then(|| "mysql://x".into())
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("database_url"), "{e}");
    }

    #[test]
    fn secrets_do_not_print() {
        let c = Config::for_tests("sqlite::memory:");
        let shown = format!("{c:?}");
        assert!(!shown.contains("correct-horse-battery"), "{shown}");
        assert!(!shown.contains("AAECAwQF"), "{shown}");
    }
}
