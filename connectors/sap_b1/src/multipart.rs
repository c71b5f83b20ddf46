//! MIME multipart/mixed framing for OData `$batch`: splitting a body into parts, reading
//! the part headers and the embedded HTTP request or response, and writing them back.
//!
//! Both the client (building requests, parsing answers) and the simulator (parsing
//! requests, building answers) use it. Input may come from a hostile server, so every
//! function returns an error instead of panicking, and CRLF and bare LF are both accepted.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartError(pub String);

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MultipartError {}

/// One MIME part: its headers and its raw body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Part {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// Case-insensitive header lookup.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Extracts `boundary=` from a Content-Type value (quoted or not).
pub fn boundary_of(content_type: &str) -> Option<String> {
    for param in content_type.split(';') {
        let param = param.trim();
        if let Some((k, v)) = param.split_once('=') {
            if k.trim().eq_ignore_ascii_case("boundary") {
                let v = v.trim().trim_matches('"');
                if v.is_empty() || v.len() > 200 {
                    return None;
                }
                return Some(v.to_string());
            }
        }
    }
    None
}

/// Splits a multipart body into parts. A missing closing delimiter is an error, which is
/// how a truncated batch is recognised.
pub fn split(body: &str, boundary: &str) -> Result<Vec<Part>, MultipartError> {
    let delim = format!("--{boundary}");
    let close = format!("--{boundary}--");
    let mut parts = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    let mut closed = false;
    for line in body.split('\n') {
        let line_nocr = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line_nocr.trim_end();
        if trimmed == close {
            if let Some(lines) = current.take() {
                parts.push(parse_part(&lines)?);
            }
            closed = true;
            break;
        }
        if trimmed == delim {
            if let Some(lines) = current.take() {
                parts.push(parse_part(&lines)?);
            }
            current = Some(Vec::new());
            continue;
        }
        if let Some(lines) = current.as_mut() {
            lines.push(line_nocr);
        }
    }
    if !closed {
        return Err(MultipartError(format!(
            "multipart body has no closing delimiter --{boundary}--"
        )));
    }
    Ok(parts)
}

fn parse_part(lines: &[&str]) -> Result<Part, MultipartError> {
    let mut headers = Vec::new();
    let mut i = 0;
    while i < lines.len() && !lines[i].trim().is_empty() {
        let (k, v) = lines[i]
            .split_once(':')
            .ok_or_else(|| MultipartError(format!("malformed part header '{}'", clip(lines[i]))))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
        i += 1;
    }
    let body = if i + 1 < lines.len() {
        lines[i + 1..].join("\r\n")
    } else {
        String::new()
    };
    Ok(Part { headers, body })
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

/// An HTTP message embedded in a part (`application/http`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpMessage {
    /// The request line or status line.
    pub start_line: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpMessage {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The status code of a response message.
    pub fn status(&self) -> Result<u16, MultipartError> {
        let mut words = self.start_line.split_whitespace();
        let proto = words.next().unwrap_or("");
        if !proto.starts_with("HTTP/") {
            return Err(MultipartError(format!(
                "expected an HTTP status line, got '{}'",
                clip(&self.start_line)
            )));
        }
        words
            .next()
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (100..600).contains(c))
            .ok_or_else(|| MultipartError(format!("bad status line '{}'", clip(&self.start_line))))
    }

    /// The method and target of a request message.
    pub fn request_line(&self) -> Result<(String, String), MultipartError> {
        let mut words = self.start_line.split_whitespace();
        match (words.next(), words.next()) {
            (Some(m), Some(t)) => Ok((m.to_ascii_uppercase(), t.to_string())),
            _ => Err(MultipartError(format!(
                "bad request line '{}'",
                clip(&self.start_line)
            ))),
        }
    }
}

/// Parses the HTTP message carried by an `application/http` part.
pub fn parse_http(text: &str) -> Result<HttpMessage, MultipartError> {
    let text = text.trim_start_matches(['\r', '\n']);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start_line = lines
        .next()
        .filter(|l| !l.trim().is_empty())
        .ok_or_else(|| MultipartError("empty HTTP message in batch part".into()))?
        .trim()
        .to_string();
    let mut headers = Vec::new();
    let mut rest: Vec<&str> = Vec::new();
    let mut in_body = false;
    for line in lines {
        if in_body {
            rest.push(line);
        } else if line.trim().is_empty() {
            in_body = true;
        } else {
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| MultipartError(format!("malformed HTTP header '{}'", clip(line))))?;
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let body = rest.join("\r\n").trim().to_string();
    Ok(HttpMessage {
        start_line,
        headers,
        body,
    })
}

/// Writes one `application/http` part (request or response) with extra MIME headers
/// (such as Content-ID) before the embedded message.
pub fn write_http_part(
    out: &mut String,
    boundary: &str,
    mime_headers: &[(String, String)],
    msg: &HttpMessage,
) {
    out.push_str(&format!("--{boundary}\r\n"));
    out.push_str("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    for (k, v) in mime_headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&msg.start_line);
    out.push_str("\r\n");
    for (k, v) in &msg.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&msg.body);
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_nested_change_set() {
        let body = "--b1\r\nContent-Type: multipart/mixed;boundary=cs\r\n\r\n--cs\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nPOST /b1s/v1/Orders HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n--cs--\r\n--b1--\r\n";
        let parts = split(body, "b1").unwrap();
        assert_eq!(parts.len(), 1);
        let inner_b = boundary_of(parts[0].header("content-type").unwrap()).unwrap();
        let inner = split(&parts[0].body, &inner_b).unwrap();
        assert_eq!(inner[0].header("Content-ID"), Some("1"));
        let msg = parse_http(&inner[0].body).unwrap();
        assert_eq!(msg.request_line().unwrap().0, "POST");
        assert_eq!(msg.body, "{\"a\":1}");
    }

    #[test]
    fn truncated_body_is_an_error() {
        assert!(split(
            "--b\r\nContent-Type: application/http\r\n\r\nGET x\r\n",
            "b"
        )
        .is_err());
    }
}
