//! The credential vault: seals each connection's credentials with XChaCha20-Poly1305
//! under a 256-bit master key.
//!
//! A sealed blob is `"SYV1" || key id (16 hex chars) || nonce (24 bytes) || ciphertext+tag`.
//! The key id also sits in its own column, so that a rotation can find the rows still
//! sealed under an old key. The associated data binds a blob to its tenant and
//! connection: a blob copied onto another row fails to open.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;

const MAGIC: &[u8; 4] = b"SYV1";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("master key: {0}")]
    Key(String),
    #[error("sealed blob is malformed")]
    Malformed,
    #[error("sealed under key {0}, which this server does not have")]
    UnknownKey(String),
    #[error("sealed blob failed authentication (tampered, or moved to another connection)")]
    Forged,
}

struct MasterKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl MasterKey {
    fn new(bytes: &[u8]) -> Result<MasterKey, VaultError> {
        if bytes.len() != 32 {
            return Err(VaultError::Key(format!(
                "must be 32 bytes, got {}",
                bytes.len()
            )));
        }
        let mut h = Sha256::new();
        h.update(b"switchyard-key-id:");
        h.update(bytes);
        let id = hex::encode(&h.finalize()[..8]);
        let cipher = XChaCha20Poly1305::new_from_slice(bytes)
            .map_err(|_| VaultError::Key("bad length".into()))?;
        Ok(MasterKey { id, cipher })
    }
}

/// Sealed credentials as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub blob: Vec<u8>,
}

pub struct Vault {
    current: MasterKey,
    previous: HashMap<String, MasterKey>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("key_id", &self.current.id)
            .finish_non_exhaustive()
    }
}

fn decode_key(text: &str) -> Result<Vec<u8>, VaultError> {
    let t = text.trim();
    base64::engine::general_purpose::STANDARD
        .decode(t)
        .map_err(|_| {
            VaultError::Key("not valid base64 (expected 32 random bytes, base64-encoded)".into())
        })
}

impl Vault {
    /// A vault from base64 keys: the current one and any older ones still to be read.
    pub fn from_keys(current_b64: &str, previous_b64: &[String]) -> Result<Vault, VaultError> {
        let current = MasterKey::new(&decode_key(current_b64)?)?;
        let mut previous = HashMap::new();
        for p in previous_b64 {
            let k = MasterKey::new(&decode_key(p)?)?;
            previous.insert(k.id.clone(), k);
        }
        Ok(Vault { current, previous })
    }

    /// Reads the key file, creating it with mode 0600 and a fresh random key if missing.
    pub fn load_or_create_key_file(path: &Path) -> Result<String, VaultError> {
        if path.exists() {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path)
                    .map_err(|e| VaultError::Key(e.to_string()))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(VaultError::Key(format!(
                        "{} is readable by group or others (mode {:o}); run chmod 600 on it",
                        path.display(),
                        mode & 0o777
                    )));
                }
            }
            return std::fs::read_to_string(path)
                .map_err(|e| VaultError::Key(format!("{}: {e}", path.display())));
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| VaultError::Key(format!("{}: {e}", dir.display())))?;
        }
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        use std::io::Write;
        let mut f = opts
            .open(path)
            .map_err(|e| VaultError::Key(format!("{}: {e}", path.display())))?;
        f.write_all(text.as_bytes())
            .map_err(|e| VaultError::Key(e.to_string()))?;
        Ok(text)
    }

    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    fn aad(tenant_id: &str, connection_id: &str) -> Vec<u8> {
        format!("switchyard:credential:{tenant_id}:{connection_id}").into_bytes()
    }

    pub fn seal(
        &self,
        tenant_id: &str,
        connection_id: &str,
        plaintext: &SecretBox<[u8]>,
    ) -> Sealed {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = Self::aad(tenant_id, connection_id);
        let ct = self
            .current
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext.expose_secret(),
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        let mut blob = Vec::with_capacity(4 + 16 + 24 + ct.len());
        blob.extend_from_slice(MAGIC);
        blob.extend_from_slice(self.current.id.as_bytes());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        Sealed {
            key_id: self.current.id.clone(),
            blob,
        }
    }

    pub fn open(
        &self,
        tenant_id: &str,
        connection_id: &str,
        blob: &[u8],
    ) -> Result<SecretBox<[u8]>, VaultError> {
        if blob.len() < 4 + 16 + 24 + 16 || &blob[..4] != MAGIC {
            return Err(VaultError::Malformed);
        }
        let key_id = std::str::from_utf8(&blob[4..20]).map_err(|_| VaultError::Malformed)?;
        let key = if key_id == self.current.id {
            &self.current
        } else {
            self.previous
                .get(key_id)
                .ok_or_else(|| VaultError::UnknownKey(key_id.to_string()))?
        };
        let nonce_bytes: [u8; 24] = blob[20..44].try_into().map_err(|_| VaultError::Malformed)?;
        let nonce = &XNonce::from(nonce_bytes);
        let aad = Self::aad(tenant_id, connection_id);
        let pt = key
            .cipher
            .decrypt(
                nonce,
                Payload {
                    msg: &blob[44..],
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Forged)?;
        Ok(SecretBox::new(pt.into_boxed_slice()))
    }

    /// Re-seals a blob under the current key (for key rotation).
    pub fn reseal(
        &self,
        tenant_id: &str,
        connection_id: &str,
        blob: &[u8],
    ) -> Result<Sealed, VaultError> {
        let pt = self.open(tenant_id, connection_id, blob)?;
        Ok(self.seal(tenant_id, connection_id, &pt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> String {
        base64::engine::general_purpose::STANDARD.encode([b; 32])
    }

    fn secret(s: &str) -> SecretBox<[u8]> {
        SecretBox::new(s.as_bytes().to_vec().into_boxed_slice())
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let v = Vault::from_keys(&key(1), &[]).unwrap();
        let s = v.seal("t1", "c1", &secret("token-secret-123"));
        assert_eq!(s.key_id, v.key_id());
        assert!(
            !s.blob.windows(16).any(|w| w == b"token-secret-123"),
            "plaintext visible in blob"
        );
        assert_eq!(
            v.open("t1", "c1", &s.blob).unwrap().expose_secret(),
            b"token-secret-123"
        );
        assert!(matches!(
            v.open("t2", "c1", &s.blob),
            Err(VaultError::Forged)
        ));
        let mut tampered = s.blob.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(matches!(
            v.open("t1", "c1", &tampered),
            Err(VaultError::Forged)
        ));
        assert!(matches!(
            v.open("t1", "c1", b"short"),
            Err(VaultError::Malformed)
        ));
    }

    #[test]
    fn rotation_reads_old_keys_and_reseals_under_new() {
        let old = Vault::from_keys(&key(1), &[]).unwrap();
        let s = old.seal("t", "c", &secret("x"));
        let new = Vault::from_keys(&key(2), &[key(1)]).unwrap();
        assert_ne!(new.key_id(), old.key_id());
        let r = new.reseal("t", "c", &s.blob).unwrap();
        assert_eq!(r.key_id, new.key_id());
        let only_new = Vault::from_keys(&key(2), &[]).unwrap();
        assert!(matches!(
            only_new.open("t", "c", &s.blob),
            Err(VaultError::UnknownKey(_))
        ));
        assert_eq!(
            only_new.open("t", "c", &r.blob).unwrap().expose_secret(),
            b"x"
        );
    }

    #[test]
    fn bad_keys_are_named() {
        assert!(Vault::from_keys("!!!", &[])
            .unwrap_err()
            .to_string()
            .contains("base64"));
        let short = base64::engine::general_purpose::STANDARD.encode([0u8; 16]);
        assert!(Vault::from_keys(&short, &[])
            .unwrap_err()
            .to_string()
            .contains("32 bytes"));
    }

    #[test]
    fn key_file_is_created_0600_and_reused() {
        let dir = std::env::temp_dir().join(format!("sy-vault-{}", uuid::Uuid::new_v4()));
        let path = dir.join("master.key");
        let a = Vault::load_or_create_key_file(&path).unwrap();
        let b = Vault::load_or_create_key_file(&path).unwrap();
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        Vault::from_keys(&a, &[]).unwrap();
        std::fs::remove_dir_all(dir).ok();
    }
}
