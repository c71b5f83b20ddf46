//! NetSuite authentication: Token-Based Authentication (OAuth 1.0a with HMAC-SHA256) for
//! REST and SOAP, and OAuth 2.0 client credentials (an ES256-signed JWT assertion).
//!
//! Both the connector (which signs) and the simulator (which verifies) use this module, but
//! the verifier is also checked against Oracle's published vectors and against independent
//! OAuth 1.0a implementations in the test suite, so the two sides cannot merely agree with
//! each other.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::distributions::Alphanumeric;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

/// Percent-encodes per RFC 5849 §3.6: only `A-Z a-z 0-9 - . _ ~` stay literal, everything
/// else becomes `%XX` with upper-case hex over the UTF-8 bytes.
pub fn pct_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (and nothing else). Used for Authorization header values, where
/// `+` is a literal plus sign, unlike in form encoding.
pub fn pct_decode(s: &str) -> Result<String, AuthError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .ok_or_else(|| AuthError::Malformed(format!("truncated escape in {s:?}")))?;
            let v = u8::from_str_radix(hex, 16)
                .map_err(|_| AuthError::Malformed(format!("bad escape %{hex} in {s:?}")))?;
            out.push(v);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| AuthError::Malformed("escape is not UTF-8".into()))
}

/// Why a credential could not be used or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("malformed authentication data: {0}")]
    Malformed(String),
    #[error("unsupported signature method {0}")]
    UnsupportedMethod(String),
    #[error("signature does not match")]
    BadSignature,
    #[error("key error: {0}")]
    Key(String),
}

/// The account id in its canonical form (upper case, underscore), as used in `realm` and in
/// the SOAP passport: `1234567`, `1234567_SB1`, `TSTDRV1234567`.
pub fn canonical_account(id: &str) -> String {
    id.trim().to_ascii_uppercase().replace('-', "_")
}

/// The host-name form of an account id: lower case, `_` replaced by `-`.
pub fn account_slug(id: &str) -> String {
    id.trim().to_ascii_lowercase().replace('_', "-")
}

/// The REST and SOAP web-services host of an account, derived the way NetSuite's
/// account-specific domains are built. Tenants may override the base URL instead.
pub fn suitetalk_host(id: &str) -> String {
    format!("{}.suitetalk.api.netsuite.com", account_slug(id))
}

/// Token-Based Authentication credentials of one tenant connection.
#[derive(Clone)]
pub struct TbaCredentials {
    pub account: String,
    pub consumer_key: String,
    pub consumer_secret: SecretString,
    pub token_id: String,
    pub token_secret: SecretString,
}

impl fmt::Debug for TbaCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key and token ids are not secrets on their own, but only the account is needed
        // to tell connections apart in logs, so the rest stays out entirely.
        f.debug_struct("TbaCredentials")
            .field("account", &self.account)
            .field("consumer_key", &"[redacted]")
            .field("consumer_secret", &"[redacted]")
            .field("token_id", &"[redacted]")
            .field("token_secret", &"[redacted]")
            .finish()
    }
}

/// A fresh nonce: 20 random alphanumerics, within NetSuite's 6–64 range.
pub fn generate_nonce() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}

/// Base64(HMAC-SHA256(enc(consumer_secret) & enc(token_secret), base)).
pub fn hmac_sha256_signature(base: &str, consumer_secret: &str, token_secret: &str) -> String {
    let key = format!(
        "{}&{}",
        pct_encode(consumer_secret),
        pct_encode(token_secret)
    );
    let mut mac = HmacSha256::new_from_slice(key.as_bytes()).expect("HMAC takes any key size");
    mac.update(base.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Constant-time comparison of two signatures, so a verifier leaks no timing hints.
pub fn signatures_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The RFC 5849 base-string URI: lower-case scheme and host, the port only when it is not
/// the scheme's default, the path, and no query or fragment.
pub fn base_string_uri(url: &url::Url) -> String {
    let scheme = url.scheme().to_ascii_lowercase();
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    let port = match (scheme.as_str(), url.port()) {
        (_, None) | ("http", Some(80)) | ("https", Some(443)) => String::new(),
        (_, Some(p)) => format!(":{p}"),
    };
    format!("{scheme}://{host}{port}{}", url.path())
}

/// The REST base string: `METHOD & enc(uri) & enc(sorted params)`. `params` are the oauth
/// parameters (without `realm` and `oauth_signature`); query parameters of `url` are added
/// here. JSON bodies are never part of it.
pub fn rest_base_string(method: &str, url: &url::Url, oauth_params: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (pct_encode(&k), pct_encode(&v)))
        .collect();
    pairs.extend(
        oauth_params
            .iter()
            .map(|(k, v)| (pct_encode(k), pct_encode(v))),
    );
    pairs.sort();
    let normalized = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        pct_encode(&base_string_uri(url)),
        pct_encode(&normalized)
    )
}

/// The SOAP passport base string: the five values joined by `&`, nothing encoded or sorted.
pub fn soap_base_string(
    account: &str,
    consumer_key: &str,
    token: &str,
    nonce: &str,
    timestamp: &str,
) -> String {
    format!("{account}&{consumer_key}&{token}&{nonce}&{timestamp}")
}

/// The oauth parameters of a REST request before signing.
fn oauth_params(creds: &TbaCredentials, nonce: &str, timestamp: i64) -> Vec<(String, String)> {
    vec![
        ("oauth_consumer_key".into(), creds.consumer_key.clone()),
        ("oauth_token".into(), creds.token_id.clone()),
        ("oauth_signature_method".into(), "HMAC-SHA256".into()),
        ("oauth_timestamp".into(), timestamp.to_string()),
        ("oauth_nonce".into(), nonce.to_string()),
        ("oauth_version".into(), "1.0".into()),
    ]
}

/// The REST signature (raw Base64) for one request.
pub fn rest_signature(
    creds: &TbaCredentials,
    method: &str,
    url: &url::Url,
    nonce: &str,
    timestamp: i64,
) -> String {
    let base = rest_base_string(method, url, &oauth_params(creds, nonce, timestamp));
    hmac_sha256_signature(
        &base,
        creds.consumer_secret.expose_secret(),
        creds.token_secret.expose_secret(),
    )
}

/// The full `Authorization: OAuth …` header value for a REST request.
pub fn rest_authorization_header(
    creds: &TbaCredentials,
    method: &str,
    url: &url::Url,
    nonce: &str,
    timestamp: i64,
) -> String {
    let signature = rest_signature(creds, method, url, nonce, timestamp);
    let mut parts = vec![format!(
        "realm=\"{}\"",
        pct_encode(&canonical_account(&creds.account))
    )];
    for (k, v) in oauth_params(creds, nonce, timestamp) {
        parts.push(format!("{k}=\"{}\"", pct_encode(&v)));
    }
    parts.push(format!("oauth_signature=\"{}\"", pct_encode(&signature)));
    format!("OAuth {}", parts.join(", "))
}

/// A parsed `Authorization: OAuth …` header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OAuthHeader {
    pub realm: Option<String>,
    /// Every parameter except `realm`, decoded, in header order (duplicates kept so the
    /// verifier can reject them).
    pub params: Vec<(String, String)>,
}

impl OAuthHeader {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The parameters that enter the base string: all but `oauth_signature`.
    pub fn signed_params(&self) -> Vec<(String, String)> {
        self.params
            .iter()
            .filter(|(k, _)| k != "oauth_signature")
            .cloned()
            .collect()
    }
}

/// Parses an `OAuth k="v", k2="v2"` header. Separators may be commas with or without spaces.
pub fn parse_oauth_header(value: &str) -> Result<OAuthHeader, AuthError> {
    let rest = value
        .trim()
        .strip_prefix("OAuth")
        .ok_or_else(|| AuthError::Malformed("not an OAuth header".into()))?;
    if !rest.is_empty() && !rest.starts_with(' ') {
        return Err(AuthError::Malformed("not an OAuth header".into()));
    }
    let mut out = OAuthHeader::default();
    let mut s = rest.trim_start();
    while !s.is_empty() {
        let eq = s
            .find('=')
            .ok_or_else(|| AuthError::Malformed(format!("parameter without value: {s:?}")))?;
        let name = s[..eq].trim().to_string();
        if name.is_empty() || name.contains(|c: char| c == '"' || c == ',' || c.is_whitespace()) {
            return Err(AuthError::Malformed(format!("bad parameter name {name:?}")));
        }
        let after = &s[eq + 1..];
        let after = after
            .strip_prefix('"')
            .ok_or_else(|| AuthError::Malformed(format!("value of {name} is not quoted")))?;
        let close = after
            .find('"')
            .ok_or_else(|| AuthError::Malformed(format!("value of {name} is not closed")))?;
        let raw_value = &after[..close];
        let decoded = pct_decode(raw_value)?;
        if name == "realm" {
            out.realm = Some(decoded);
        } else {
            out.params.push((name, decoded));
        }
        s = after[close + 1..].trim_start();
        if let Some(r) = s.strip_prefix(',') {
            s = r.trim_start();
        } else if !s.is_empty() {
            return Err(AuthError::Malformed(
                "parameters not separated by commas".into(),
            ));
        }
    }
    Ok(out)
}

/// The six values of a SOAP `tokenPassport`.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenPassport {
    pub account: String,
    pub consumer_key: String,
    pub token: String,
    pub nonce: String,
    pub timestamp: String,
    pub signature: String,
    pub algorithm: String,
}

impl fmt::Debug for TokenPassport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPassport")
            .field("account", &self.account)
            .field("nonce", &self.nonce)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl TokenPassport {
    /// Signs a new passport for one SOAP request.
    pub fn sign(creds: &TbaCredentials, nonce: &str, timestamp: i64) -> TokenPassport {
        let account = canonical_account(&creds.account);
        let ts = timestamp.to_string();
        let base = soap_base_string(&account, &creds.consumer_key, &creds.token_id, nonce, &ts);
        let signature = hmac_sha256_signature(
            &base,
            creds.consumer_secret.expose_secret(),
            creds.token_secret.expose_secret(),
        );
        TokenPassport {
            account,
            consumer_key: creds.consumer_key.clone(),
            token: creds.token_id.clone(),
            nonce: nonce.to_string(),
            timestamp: ts,
            signature,
            algorithm: "HMAC-SHA256".into(),
        }
    }

    pub fn base_string(&self) -> String {
        soap_base_string(
            &self.account,
            &self.consumer_key,
            &self.token,
            &self.nonce,
            &self.timestamp,
        )
    }

    /// The passport as the SOAP header element, children in the core namespace.
    pub fn to_xml(&self) -> String {
        use crate::client::xml_escape as e;
        format!(
            "<platformMsgs:tokenPassport><platformCore:account>{}</platformCore:account>\
<platformCore:consumerKey>{}</platformCore:consumerKey><platformCore:token>{}</platformCore:token>\
<platformCore:nonce>{}</platformCore:nonce><platformCore:timestamp>{}</platformCore:timestamp>\
<platformCore:signature algorithm=\"{}\">{}</platformCore:signature></platformMsgs:tokenPassport>",
            e(&self.account),
            e(&self.consumer_key),
            e(&self.token),
            e(&self.nonce),
            e(&self.timestamp),
            e(&self.algorithm),
            e(&self.signature)
        )
    }
}

/// OAuth 2.0 machine-to-machine credentials: the integration's client id, the id NetSuite
/// gave the uploaded certificate, and the matching private key (PKCS#8, P-256).
#[derive(Clone)]
pub struct OAuth2Credentials {
    pub account: String,
    pub client_id: String,
    pub certificate_id: String,
    pub private_key_pkcs8: SecretString,
    pub scopes: Vec<String>,
}

impl fmt::Debug for OAuth2Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2Credentials")
            .field("account", &self.account)
            .field("client_id", &"[redacted]")
            .field("certificate_id", &self.certificate_id)
            .field("private_key_pkcs8", &"[redacted]")
            .finish()
    }
}

/// A new P-256 key pair: (PKCS#8 private key as Base64, raw public key as Base64). Tests and
/// the simulator use it to stand in for the certificate a tenant uploads to NetSuite.
pub fn generate_es256_key() -> (String, String) {
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .expect("system randomness is available");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .expect("a freshly generated key parses");
    (
        STANDARD.encode(pkcs8.as_ref()),
        STANDARD.encode(pair.public_key().as_ref()),
    )
}

/// The JWT client assertion for the client-credentials grant, signed ES256.
pub fn client_assertion(
    creds: &OAuth2Credentials,
    token_url: &str,
    now: i64,
) -> Result<String, AuthError> {
    use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": creds.certificate_id});
    let scope = if creds.scopes.is_empty() {
        vec!["rest_webservices".to_string()]
    } else {
        creds.scopes.clone()
    };
    let claims = serde_json::json!({
        "iss": creds.client_id,
        "scope": scope,
        "aud": token_url,
        "iat": now,
        "exp": now + 3600,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let der = STANDARD
        .decode(creds.private_key_pkcs8.expose_secret().trim())
        .map_err(|_| AuthError::Key("private key is not Base64 PKCS#8".into()))?;
    let rng = ring::rand::SystemRandom::new();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
        .map_err(|_| AuthError::Key("private key is not a P-256 PKCS#8 key".into()))?;
    let sig = pair
        .sign(&rng, signing_input.as_bytes())
        .map_err(|_| AuthError::Key("signing failed".into()))?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(sig.as_ref())
    ))
}

/// The verified claims of a client assertion.
#[derive(Debug, Clone, PartialEq)]
pub struct AssertionClaims {
    pub kid: String,
    pub iss: String,
    pub aud: String,
    pub scopes: Vec<String>,
    pub iat: i64,
    pub exp: i64,
}

/// Splits a JWT and returns its header `kid`, so the verifier can find the public key.
pub fn assertion_kid(jwt: &str) -> Result<String, AuthError> {
    let header = jwt
        .split('.')
        .next()
        .ok_or_else(|| AuthError::Malformed("empty JWT".into()))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthError::Malformed("JWT header is not base64url".into()))?;
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|_| AuthError::Malformed("JWT header is not JSON".into()))?;
    if v.get("alg").and_then(|a| a.as_str()) != Some("ES256") {
        return Err(AuthError::UnsupportedMethod(
            v.get("alg").map(|a| a.to_string()).unwrap_or_default(),
        ));
    }
    v.get("kid")
        .and_then(|k| k.as_str())
        .map(str::to_string)
        .ok_or_else(|| AuthError::Malformed("JWT header has no kid".into()))
}

/// Verifies an ES256 JWT against a raw P-256 public key and returns its claims.
pub fn verify_assertion(jwt: &str, public_key_b64: &str) -> Result<AssertionClaims, AuthError> {
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
    let kid = assertion_kid(jwt)?;
    let mut parts = jwt.split('.');
    let (h, c, s) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(c), Some(s), None) => (h, c, s),
        _ => return Err(AuthError::Malformed("JWT must have three parts".into())),
    };
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| AuthError::Malformed("JWT signature is not base64url".into()))?;
    let key = STANDARD
        .decode(public_key_b64)
        .map_err(|_| AuthError::Key("public key is not Base64".into()))?;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key)
        .verify(format!("{h}.{c}").as_bytes(), &sig)
        .map_err(|_| AuthError::BadSignature)?;
    let claims: serde_json::Value = URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| AuthError::Malformed("JWT claims are not JSON".into()))?;
    let text = |k: &str| claims.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let num = |k: &str| claims.get(k).and_then(|v| v.as_i64());
    let scopes = match claims.get("scope") {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(serde_json::Value::String(s)) => s.split([' ', ',']).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    Ok(AssertionClaims {
        kid,
        iss: text("iss").ok_or_else(|| AuthError::Malformed("JWT has no iss".into()))?,
        aud: text("aud").ok_or_else(|| AuthError::Malformed("JWT has no aud".into()))?,
        scopes,
        iat: num("iat").ok_or_else(|| AuthError::Malformed("JWT has no iat".into()))?,
        exp: num("exp").ok_or_else(|| AuthError::Malformed("JWT has no exp".into()))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CK: &str = "ef40afdd8abaac111b13825dd5e5e2ddddb44f86d5a0dd6dcf38c20aae6b67e4";
    const CS: &str = "d26ad321a4b2f23b0741c8d38392ce01c3e23e109df6c96eac6d099e9ab9e8b5";
    const TK: &str = "2b0ce516420110bcbd36b69e99196d1b7f6de3c6234c5afb799b73d87569f5cc";
    const TS: &str = "c29a677df7d5439a458c063654187e3d678d73aca8e3c9d8bea1478a3eb0d295";
    const NONCE: &str = "fjaLirsIcCGVZWzBX0pg";
    const TIME: i64 = 1508242306;

    fn creds(account: &str) -> TbaCredentials {
        TbaCredentials {
            account: account.into(),
            consumer_key: CK.into(),
            consumer_secret: SecretString::from(CS),
            token_id: TK.into(),
            token_secret: SecretString::from(TS),
        }
    }

    #[test]
    fn vector_a1_soap_passport() {
        let p = TokenPassport::sign(&creds("123456"), NONCE, TIME);
        assert_eq!(p.base_string(), format!("123456&{CK}&{TK}&{NONCE}&{TIME}"));
        assert_eq!(p.signature, "tIcC5zyKUmycB5Ml/cNxOHDusw03Y5KPQiXVNUHHp4U=");
    }

    #[test]
    fn vector_a2_rest_get_employee() {
        let url = url::Url::parse(
            "https://123456.suitetalk.api.netsuite.com/services/rest/record/v1/employee/40",
        )
        .unwrap();
        let c = creds("123456");
        let base = rest_base_string("GET", &url, &oauth_params(&c, NONCE, TIME));
        assert_eq!(base, format!("GET&https%3A%2F%2F123456.suitetalk.api.netsuite.com%2Fservices%2Frest%2Frecord%2Fv1%2Femployee%2F40&oauth_consumer_key%3D{CK}%26oauth_nonce%3D{NONCE}%26oauth_signature_method%3DHMAC-SHA256%26oauth_timestamp%3D{TIME}%26oauth_token%3D{TK}%26oauth_version%3D1.0"));
        assert_eq!(
            rest_signature(&c, "GET", &url, NONCE, TIME),
            "B5OIWznZ2YP0OB7VrJrGkYsTh+8H+5T9Hag+o92q0zY="
        );
        let header = rest_authorization_header(&c, "GET", &url, NONCE, TIME);
        assert!(header.starts_with("OAuth realm=\"123456\", "));
        assert!(header
            .contains("oauth_signature=\"B5OIWznZ2YP0OB7VrJrGkYsTh%2B8H%2B5T9Hag%2Bo92q0zY%3D\""));
        // Oracle's own header, parameters in its order, parses to the same signature.
        let oracle = format!("OAuth realm=\"123456\", oauth_token=\"{TK}\", oauth_consumer_key=\"{CK}\", oauth_nonce=\"{NONCE}\", oauth_timestamp=\"{TIME}\", oauth_signature_method=\"HMAC-SHA256\", oauth_version=\"1.0\", oauth_signature=\"B5OIWznZ2YP0OB7VrJrGkYsTh%2B8H%2B5T9Hag%2Bo92q0zY%3D\"");
        let parsed = parse_oauth_header(&oracle).unwrap();
        assert_eq!(parsed.realm.as_deref(), Some("123456"));
        let rebuilt = rest_base_string("GET", &url, &parsed.signed_params());
        assert_eq!(
            hmac_sha256_signature(&rebuilt, CS, TS),
            parsed.get("oauth_signature").unwrap()
        );
    }

    #[test]
    fn vector_a3_restlet_post_with_query() {
        let url = url::Url::parse("https://123456.restlets.api.netsuite.com/app/site/hosting/restlet.nl?script=6&deploy=1&customParam=someValue&testParam=someOtherValue").unwrap();
        let c = creds("123456");
        let base = rest_base_string("POST", &url, &oauth_params(&c, NONCE, TIME));
        assert!(base.starts_with("POST&https%3A%2F%2F123456.restlets.api.netsuite.com%2Fapp%2Fsite%2Fhosting%2Frestlet.nl&customParam%3DsomeValue%26deploy%3D1%26oauth_consumer_key"));
        assert!(base.ends_with("oauth_version%3D1.0%26script%3D6%26testParam%3DsomeOtherValue"));
        assert_eq!(
            rest_signature(&c, "POST", &url, NONCE, TIME),
            "+KK4SKNgz4ZiILGLwOMtfYlgcXSy1eis8ldE9X90azQ="
        );
    }

    #[test]
    fn vector_b_token_passport_page() {
        let base = "1234567&71cc02b731f05895561ef0862d71553a3ac99498a947c3b7beaf4a1e4a29f7c4&89e08d9767c5ac85b374415725567d05b54ecf0960ad2470894a52f741020d82&6obMKq0tmY8ylVOdEkA1&1439829974";
        let c = TbaCredentials {
            account: "1234567".into(),
            consumer_key: "71cc02b731f05895561ef0862d71553a3ac99498a947c3b7beaf4a1e4a29f7c4".into(),
            consumer_secret: SecretString::from(
                "7278da58caf07f5c336301a601203d10a58e948efa280f0618e25fcee1ef2abd",
            ),
            token_id: "89e08d9767c5ac85b374415725567d05b54ecf0960ad2470894a52f741020d82".into(),
            token_secret: SecretString::from(
                "060cd9ab3ffbbe1e3d3918e90165ffd37ab12acc76b4691046e2d29c7d7674c2",
            ),
        };
        let p = TokenPassport::sign(&c, "6obMKq0tmY8ylVOdEkA1", 1439829974);
        assert_eq!(p.base_string(), base);
        assert_eq!(p.signature, "FCghIZqXNetuZY8ILWOFH0ucdfzQOmAuL+q+kF21zPs=");
    }

    #[test]
    fn vector_c1_soap_sandbox() {
        // The passport must carry the canonical id even if configured in host form.
        let p = TokenPassport::sign(&creds("123456-sb1"), NONCE, TIME);
        assert_eq!(p.account, "123456_SB1");
        assert_eq!(p.signature, "UHKKNZLnz//9mGAV0aPWT+FYHDLZsLgS5RBCox9RhL0=");
    }

    #[test]
    fn vector_c2_suiteql_on_sandbox_host() {
        let url = url::Url::parse("https://123456-sb1.suitetalk.api.netsuite.com/services/rest/query/v1/suiteql?limit=1000&offset=0").unwrap();
        let c = creds("123456_SB1");
        let base = rest_base_string("POST", &url, &oauth_params(&c, NONCE, TIME));
        assert_eq!(base, format!("POST&https%3A%2F%2F123456-sb1.suitetalk.api.netsuite.com%2Fservices%2Frest%2Fquery%2Fv1%2Fsuiteql&limit%3D1000%26oauth_consumer_key%3D{CK}%26oauth_nonce%3D{NONCE}%26oauth_signature_method%3DHMAC-SHA256%26oauth_timestamp%3D{TIME}%26oauth_token%3D{TK}%26oauth_version%3D1.0%26offset%3D0"));
        assert_eq!(
            rest_signature(&c, "POST", &url, NONCE, TIME),
            "LjzqkKDpsRTpwqBkevEM3wfFmspmqdKggHTdHxxHp+U="
        );
        let header = rest_authorization_header(&c, "POST", &url, NONCE, TIME);
        assert!(header.contains("realm=\"123456_SB1\""));
        assert!(header.contains("LjzqkKDpsRTpwqBkevEM3wfFmspmqdKggHTdHxxHp%2BU%3D"));
    }

    #[test]
    fn vector_c3_list_with_filter() {
        let mut url = url::Url::parse(
            "https://123456.suitetalk.api.netsuite.com/services/rest/record/v1/customer",
        )
        .unwrap();
        url.query_pairs_mut()
            .append_pair("limit", "2")
            .append_pair("q", "lastModifiedDate ON_OR_AFTER \"1/1/2024\"");
        let c = creds("123456");
        let base = rest_base_string("GET", &url, &oauth_params(&c, NONCE, TIME));
        assert!(base
            .ends_with("%26q%3DlastModifiedDate%2520ON_OR_AFTER%2520%25221%252F1%252F2024%2522"));
        assert_eq!(
            rest_signature(&c, "GET", &url, NONCE, TIME),
            "2fsmBHqVcz+7ZV+dU4GKNXigIGlwYIUb46tPOiNQ5eI="
        );
        // The same query with %20 instead of + on the wire signs identically.
        let url2 = url::Url::parse("https://123456.suitetalk.api.netsuite.com/services/rest/record/v1/customer?limit=2&q=lastModifiedDate%20ON_OR_AFTER%20%221%2F1%2F2024%22").unwrap();
        assert_eq!(
            rest_signature(&c, "GET", &url2, NONCE, TIME),
            "2fsmBHqVcz+7ZV+dU4GKNXigIGlwYIUb46tPOiNQ5eI="
        );
    }

    #[test]
    fn host_and_realm_forms() {
        assert_eq!(
            suitetalk_host("1234567_SB1"),
            "1234567-sb1.suitetalk.api.netsuite.com"
        );
        assert_eq!(
            suitetalk_host("TSTDRV1234567"),
            "tstdrv1234567.suitetalk.api.netsuite.com"
        );
        assert_eq!(canonical_account("1234567-sb1"), "1234567_SB1");
        assert_eq!(pct_encode("a b+/=~"), "a%20b%2B%2F%3D~");
        assert_eq!(pct_decode("a%20b%2B").unwrap(), "a b+");
        assert!(pct_decode("%4").is_err());
    }

    #[test]
    fn header_parser_rejects_garbage() {
        assert!(parse_oauth_header("Bearer abc").is_err());
        assert!(parse_oauth_header("OAuth realm=123").is_err());
        assert!(parse_oauth_header("OAuth a=\"1\" b=\"2\"").is_err());
        assert!(parse_oauth_header("OAuth a=\"1").is_err());
        let h = parse_oauth_header("OAuth a=\"1\",b=\"2\"").unwrap();
        assert_eq!(h.get("b"), Some("2"));
    }

    #[test]
    fn es256_assertion_round_trip_and_tamper() {
        let (private, public) = generate_es256_key();
        let c = OAuth2Credentials {
            account: "1234567".into(),
            client_id: "client-1".into(),
            certificate_id: "cert-1".into(),
            private_key_pkcs8: SecretString::from(private),
            scopes: vec!["rest_webservices".into()],
        };
        let jwt = client_assertion(&c, "https://x/token", 1000).unwrap();
        let claims = verify_assertion(&jwt, &public).unwrap();
        assert_eq!(claims.iss, "client-1");
        assert_eq!(claims.kid, "cert-1");
        assert_eq!(claims.exp, 4600);
        let mut tampered = jwt.clone();
        tampered.pop();
        tampered.push(if jwt.ends_with('A') { 'B' } else { 'A' });
        assert!(verify_assertion(&tampered, &public).is_err());
        let (_, other_public) = generate_es256_key();
        assert_eq!(
            verify_assertion(&jwt, &other_public),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        let s = format!("{:?}", creds("1"));
        assert!(!s.contains(CS) && !s.contains(TS) && !s.contains(TK));
    }
}
