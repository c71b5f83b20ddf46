//! A small, hostile-input-safe XML tree reader and writer shared by the client and the simulator.
//!
//! Intacct answers are untrusted input: the reader refuses document type declarations (so no
//! entity can ever be declared, let alone expanded), caps the input size, the nesting depth and
//! the number of elements, and only resolves the five predefined entities and numeric
//! character references. Everything else is an error that names what was wrong.

use quick_xml::events::Event;
use quick_xml::Reader;
use std::fmt;

/// Limits applied while reading one document.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // A readByQuery page of 1000 wide records is a few megabytes; 64 MiB leaves room for
        // generous pages while keeping a hostile answer from exhausting memory.
        Limits {
            max_bytes: 64 * 1024 * 1024,
            max_depth: 48,
            max_elements: 2_000_000,
        }
    }
}

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlError {
    TooLarge { bytes: usize, limit: usize },
    TooDeep { limit: usize },
    TooManyElements { limit: usize },
    DoctypeRefused,
    NotUtf8,
    Malformed(String),
    Empty,
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XmlError::TooLarge { bytes, limit } => {
                write!(
                    f,
                    "document of {bytes} bytes exceeds the {limit} byte limit"
                )
            }
            XmlError::TooDeep { limit } => write!(f, "elements nest deeper than {limit} levels"),
            XmlError::TooManyElements { limit } => {
                write!(f, "document has more than {limit} elements")
            }
            XmlError::DoctypeRefused => {
                write!(
                    f,
                    "document type declarations (and so entity declarations) are refused"
                )
            }
            XmlError::NotUtf8 => write!(f, "document is not valid UTF-8"),
            XmlError::Malformed(m) => write!(f, "malformed XML: {m}"),
            XmlError::Empty => write!(f, "document has no root element"),
        }
    }
}

impl std::error::Error for XmlError {}

/// One element with its attributes, child elements and concatenated text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn new(name: impl Into<String>) -> Self {
        Element {
            name: name.into(),
            ..Default::default()
        }
    }

    /// A leaf element holding text.
    pub fn leaf(name: impl Into<String>, text: impl Into<String>) -> Self {
        Element {
            name: name.into(),
            text: text.into(),
            ..Default::default()
        }
    }

    pub fn with_attr(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.attrs.push((k.into(), v.into()));
        self
    }

    pub fn with_child(mut self, c: Element) -> Self {
        self.children.push(c);
        self
    }

    pub fn push(&mut self, c: Element) {
        self.children.push(c);
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// First child with this exact name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// First child whose name matches ignoring ASCII case (Intacct mixes `vendor` and `VENDOR`).
    pub fn child_ci(&self, name: &str) -> Option<&Element> {
        self.children
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Trimmed text of a child, when the child exists.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// Serializes this element (without an XML declaration).
    pub fn write_to(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            escape_into(v, out);
            out.push('"');
        }
        if self.children.is_empty() && self.text.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        escape_into(&self.text, out);
        for c in &self.children {
            c.write_to(out);
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }

    /// A whole document with the UTF-8 declaration.
    pub fn to_document(&self) -> String {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        self.write_to(&mut s);
        s
    }
}

/// Escapes text and attribute values; quotes are escaped too so one routine serves both.
pub fn escape_into(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#039;"),
            // Characters XML 1.0 cannot carry are dropped rather than producing a document
            // the other side must refuse.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => {}
            c => out.push(c),
        }
    }
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(s, &mut out);
    out
}

/// Parses a document with the default limits.
pub fn parse(input: &[u8]) -> Result<Element, XmlError> {
    parse_with(input, Limits::default())
}

/// Parses a document into a tree, enforcing `limits`.
pub fn parse_with(input: &[u8], limits: Limits) -> Result<Element, XmlError> {
    if input.len() > limits.max_bytes {
        return Err(XmlError::TooLarge {
            bytes: input.len(),
            limit: limits.max_bytes,
        });
    }
    let text = std::str::from_utf8(input).map_err(|_| XmlError::NotUtf8)?;
    // Strip a UTF-8 byte order mark, which some gateways and proxies prepend.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let cfg = reader.config_mut();
    cfg.trim_text(false);
    cfg.check_end_names = true;
    cfg.expand_empty_elements = false;

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| XmlError::Malformed(format!("{e} at byte {}", reader.error_position())))?;
        match ev {
            Event::DocType(_) => return Err(XmlError::DoctypeRefused),
            Event::Start(s) | Event::Empty(s) if root.is_some() => {
                let _ = s;
                return Err(XmlError::Malformed(
                    "content after the root element".to_string(),
                ));
            }
            Event::Start(s) => {
                count += 1;
                if count > limits.max_elements {
                    return Err(XmlError::TooManyElements {
                        limit: limits.max_elements,
                    });
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep {
                        limit: limits.max_depth,
                    });
                }
                stack.push(start_element(&s)?);
            }
            Event::Empty(s) => {
                count += 1;
                if count > limits.max_elements {
                    return Err(XmlError::TooManyElements {
                        limit: limits.max_elements,
                    });
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep {
                        limit: limits.max_depth,
                    });
                }
                let el = start_element(&s)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| XmlError::Malformed("unexpected end tag".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let s = t
                    .unescape()
                    .map_err(|e| XmlError::Malformed(format!("bad text or entity: {e}")))?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&s),
                    None => {
                        if !s.trim().is_empty() {
                            return Err(XmlError::Malformed(
                                "text outside the root element".into(),
                            ));
                        }
                    }
                }
            }
            Event::CData(c) => {
                let bytes = c.into_inner();
                let s = std::str::from_utf8(&bytes).map_err(|_| XmlError::NotUtf8)?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(s),
                    None => {
                        return Err(XmlError::Malformed("CDATA outside the root element".into()))
                    }
                }
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed(format!(
            "document ended inside <{}>",
            stack.last().map(|e| e.name.as_str()).unwrap_or("")
        )));
    }
    let mut root = root.ok_or(XmlError::Empty)?;
    trim_tree(&mut root);
    Ok(root)
}

fn start_element(s: &quick_xml::events::BytesStart<'_>) -> Result<Element, XmlError> {
    let name = std::str::from_utf8(s.name().as_ref())
        .map_err(|_| XmlError::NotUtf8)?
        .to_string();
    let mut attrs = Vec::new();
    for a in s.attributes() {
        let a = a.map_err(|e| XmlError::Malformed(format!("bad attribute on <{name}>: {e}")))?;
        let k = std::str::from_utf8(a.key.as_ref())
            .map_err(|_| XmlError::NotUtf8)?
            .to_string();
        let v = a
            .unescape_value()
            .map_err(|e| XmlError::Malformed(format!("bad attribute value on <{name}>: {e}")))?
            .into_owned();
        attrs.push((k, v));
    }
    Ok(Element {
        name,
        attrs,
        children: Vec::new(),
        text: String::new(),
    })
}

/// Whitespace between child elements is formatting, not content; leaf text is kept as sent.
fn trim_tree(el: &mut Element) {
    if !el.children.is_empty() && el.text.trim().is_empty() {
        el.text.clear();
    }
    let mut stack: Vec<&mut Element> = el.children.iter_mut().collect();
    while let Some(e) = stack.pop() {
        if !e.children.is_empty() && e.text.trim().is_empty() {
            e.text.clear();
        }
        stack.extend(e.children.iter_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_text_attributes_and_escapes() {
        let mut el = Element::new("a").with_attr("x", "1 & \"2\"");
        el.push(Element::leaf("b", "Jane's <Deli> & co"));
        el.push(Element::new("c"));
        let doc = el.to_document();
        let back = parse(doc.as_bytes()).unwrap();
        assert_eq!(back, el);
    }

    #[test]
    fn refuses_doctype_and_entity_declarations() {
        let doc = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;">]><r>&b;</r>"#;
        assert_eq!(parse(doc), Err(XmlError::DoctypeRefused));
    }

    #[test]
    fn refuses_undeclared_entities_instead_of_expanding() {
        let err = parse(b"<r>&xxe;</r>").unwrap_err();
        assert!(matches!(err, XmlError::Malformed(_)), "{err:?}");
    }

    #[test]
    fn caps_depth_size_and_count() {
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert_eq!(parse(deep.as_bytes()), Err(XmlError::TooDeep { limit: 48 }));
        let limits = Limits {
            max_bytes: 10,
            ..Limits::default()
        };
        assert!(matches!(
            parse_with(b"<a>0123456789</a>", limits),
            Err(XmlError::TooLarge { .. })
        ));
        let limits = Limits {
            max_elements: 3,
            ..Limits::default()
        };
        assert_eq!(
            parse_with(b"<a><b/><b/><b/></a>", limits),
            Err(XmlError::TooManyElements { limit: 3 })
        );
    }

    #[test]
    fn decodes_numeric_references_and_rejects_mismatched_tags() {
        let el = parse(b"<a>it&#039;s &#x41;</a>").unwrap();
        assert_eq!(el.text, "it's A");
        assert!(matches!(parse(b"<a><b></a>"), Err(XmlError::Malformed(_))));
        assert!(matches!(parse(b"<a/><b/>"), Err(XmlError::Malformed(_))));
        assert_eq!(parse(b"   "), Err(XmlError::Empty));
    }
}
