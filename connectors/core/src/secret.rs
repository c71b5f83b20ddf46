//! Credentials as secret types: they redact themselves in Debug and Display and cannot be
//! serialized by accident.
//!
//! `Credentials` deliberately does not implement `serde::Serialize`. The only way to turn
//! credentials into text is [`Credentials::to_vault_json`], which the server calls to
//! produce the blob it encrypts at rest. Deserializing is allowed (connection files, the
//! decrypted vault blob), because reading a secret into a secret type cannot leak it.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;

/// One connection's credentials: which credential kind (as declared by the ERP, for
/// example `tba` or `oauth2_m2m`) and the values of its fields.
#[derive(Clone)]
pub struct Credentials {
    kind: String,
    fields: BTreeMap<String, SecretString>,
}

impl Credentials {
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            fields: BTreeMap::new(),
        }
    }

    /// Adds a field; builder style, for tests and forms.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(key, value);
        self
    }

    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let value: String = value.into();
        self.fields.insert(key.into(), SecretString::from(value));
    }

    /// The credential kind key.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The names of the fields present (never their values).
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.keys().map(String::as_str)
    }

    /// The secret value of one field. Call `expose_secret()` on it only at the point where
    /// the value goes on the wire (a signature, a login body).
    pub fn get(&self, key: &str) -> Option<&SecretString> {
        self.fields.get(key)
    }

    /// The exposed value of one field; the short form of `get(key)?.expose_secret()`.
    pub fn expose(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(|s| s.expose_secret())
    }

    /// The exposed value of a required field, or an `invalid_input` error naming it.
    pub fn require(&self, key: &str) -> Result<&str, crate::ConnectorError> {
        self.expose(key).filter(|v| !v.is_empty()).ok_or_else(|| {
            crate::ConnectorError::invalid_input(format!(
                "credential field '{key}' is missing for credential kind '{}'",
                self.kind
            ))
        })
    }

    /// The JSON text the server encrypts and stores. This is the one deliberate way to
    /// serialize credentials; the result is itself a secret so it cannot be logged either.
    pub fn to_vault_json(&self) -> SecretString {
        let fields: serde_json::Map<String, serde_json::Value> = self
            .fields
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    serde_json::Value::String(v.expose_secret().into()),
                )
            })
            .collect();
        let doc = serde_json::json!({ "kind": self.kind, "fields": fields });
        SecretString::from(doc.to_string())
    }

    /// Reads what [`Credentials::to_vault_json`] produced (after decryption).
    pub fn from_vault_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }
}

impl PartialEq for Credentials {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.fields.len() == other.fields.len()
            && self
                .fields
                .iter()
                .zip(other.fields.iter())
                .all(|(a, b)| a.0 == b.0 && a.1.expose_secret() == b.1.expose_secret())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_struct("Credentials");
        m.field("kind", &self.kind);
        for k in self.fields.keys() {
            m.field(k, &"[REDACTED]");
        }
        m.finish()
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} credentials [REDACTED]", self.kind)
    }
}

impl<'de> Deserialize<'de> for Credentials {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            kind: String,
            #[serde(default)]
            fields: BTreeMap<String, String>,
        }
        let raw = Raw::deserialize(d)?;
        Ok(Self {
            kind: raw.kind,
            fields: raw
                .fields
                .into_iter()
                .map(|(k, v)| (k, SecretString::from(v)))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::marker::PhantomData;

    // Autoref specialisation: the inherent method exists only when T: Serialize, otherwise
    // method lookup falls back to the blanket trait method. This lets a test observe
    // whether a type implements Serialize without a compile-fail harness.
    struct Probe<T>(PhantomData<T>);
    trait NotSerialize {
        fn is_serialize(&self) -> bool {
            false
        }
    }
    impl<T> NotSerialize for Probe<T> {}
    impl<T: serde::Serialize> Probe<T> {
        fn is_serialize(&self) -> bool {
            true
        }
    }

    fn sample() -> Credentials {
        Credentials::new("tba")
            .with("consumer_key", "ck-visible-in-test")
            .with("token_secret", "hunter2-super-secret")
    }

    #[test]
    fn probe_detects_serialize() {
        assert!(Probe::<String>(PhantomData).is_serialize());
        assert!(!Probe::<Credentials>(PhantomData).is_serialize());
        assert!(!Probe::<SecretString>(PhantomData).is_serialize());
    }

    #[test]
    fn debug_and_display_redact() {
        let c = sample();
        let dbg = format!("{c:?}");
        let disp = format!("{c}");
        for s in [&dbg, &disp] {
            assert!(!s.contains("hunter2"), "{s}");
            assert!(!s.contains("ck-visible"), "{s}");
        }
        assert!(dbg.contains("token_secret"));
        assert!(dbg.contains("[REDACTED]"));
        // Nested in a derived Debug (a config struct) it still redacts.
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Wrapper {
            creds: Credentials,
        }
        assert!(!format!("{:?}", Wrapper { creds: c }).contains("hunter2"));
    }

    #[test]
    fn vault_json_round_trips_and_is_itself_secret() {
        let c = sample();
        let blob = c.to_vault_json();
        assert!(!format!("{blob:?}").contains("hunter2"));
        let back = Credentials::from_vault_json(blob.expose_secret()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.expose("token_secret"), Some("hunter2-super-secret"));
    }

    #[test]
    fn require_names_the_missing_field() {
        let e = sample().require("password").unwrap_err();
        assert_eq!(e.code, domain::ErrorCode::InvalidInput);
        assert!(e.message.contains("password"));
        assert!(!e.message.contains("hunter2"));
    }
}
