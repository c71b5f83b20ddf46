//! Wire-level NetSuite client code: building REST, SuiteQL and SOAP requests and parsing
//! their answers into typed values, with every ERP error mapped to a `domain::ErrorCode`.

/// Escapes text for XML element content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A small XML tree with namespace prefixes stripped, enough for SOAP envelopes in both
/// directions. Parsing never panics: malformed input is an error naming the position.
pub mod xml {
    use quick_xml::events::Event;
    use quick_xml::Reader;

    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct Element {
        /// Local name, without prefix.
        pub name: String,
        /// Attributes by local name (so `xsi:type` is `type`).
        pub attrs: Vec<(String, String)>,
        pub children: Vec<Element>,
        pub text: String,
    }

    impl Element {
        pub fn attr(&self, name: &str) -> Option<&str> {
            self.attrs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }
        pub fn child(&self, name: &str) -> Option<&Element> {
            self.children.iter().find(|c| c.name == name)
        }
        pub fn children_named<'a>(
            &'a self,
            name: &'a str,
        ) -> impl Iterator<Item = &'a Element> + 'a {
            self.children.iter().filter(move |c| c.name == name)
        }
        /// Follows a path of child names.
        pub fn path(&self, names: &[&str]) -> Option<&Element> {
            let mut cur = self;
            for n in names {
                cur = cur.child(n)?;
            }
            Some(cur)
        }
        /// Depth-first search for the first descendant with this name.
        pub fn find(&self, name: &str) -> Option<&Element> {
            for c in &self.children {
                if c.name == name {
                    return Some(c);
                }
                if let Some(f) = c.find(name) {
                    return Some(f);
                }
            }
            None
        }
        pub fn child_text(&self, name: &str) -> Option<&str> {
            self.child(name).map(|c| c.text.as_str())
        }
    }

    fn local(name: &[u8]) -> String {
        let s = String::from_utf8_lossy(name);
        match s.rsplit_once(':') {
            Some((_, l)) => l.to_string(),
            None => s.into_owned(),
        }
    }

    /// Parses a document into its root element.
    pub fn parse(input: &str) -> Result<Element, String> {
        let mut reader = Reader::from_str(input);
        let mut stack: Vec<Element> = Vec::new();
        let mut root: Option<Element> = None;
        loop {
            let pos = reader.buffer_position();
            let ev = reader
                .read_event()
                .map_err(|e| format!("XML error at byte {pos}: {e}"))?;
            match ev {
                Event::Start(e) | Event::Empty(e) if root.is_some() => {
                    let _ = e;
                    return Err(format!("content after the root element at byte {pos}"));
                }
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let mut el = Element {
                        name: local(e.name().as_ref()),
                        ..Default::default()
                    };
                    for a in e.attributes() {
                        let a = a.map_err(|err| format!("bad attribute at byte {pos}: {err}"))?;
                        let v = a
                            .unescape_value()
                            .map_err(|err| format!("bad attribute value at byte {pos}: {err}"))?;
                        let key = String::from_utf8_lossy(a.key.as_ref()).to_string();
                        if key.starts_with("xmlns") {
                            continue;
                        }
                        el.attrs.push((local(a.key.as_ref()), v.into_owned()));
                    }
                    if matches!(ev, Event::Empty(_)) {
                        match stack.last_mut() {
                            Some(p) => p.children.push(el),
                            None => root = Some(el),
                        }
                    } else {
                        stack.push(el);
                    }
                }
                Event::End(e) => {
                    let name = local(e.name().as_ref());
                    let el = stack
                        .pop()
                        .ok_or_else(|| format!("unexpected end tag {name} at byte {pos}"))?;
                    if el.name != name {
                        return Err(format!(
                            "end tag {name} does not close {} at byte {pos}",
                            el.name
                        ));
                    }
                    match stack.last_mut() {
                        Some(p) => p.children.push(el),
                        None => root = Some(el),
                    }
                }
                Event::Text(t) => {
                    let s = t
                        .unescape()
                        .map_err(|err| format!("bad text at byte {pos}: {err}"))?;
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(s.trim());
                    } else if !s.trim().is_empty() {
                        return Err(format!("text outside the root element at byte {pos}"));
                    }
                }
                Event::CData(t) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&String::from_utf8_lossy(&t));
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if !stack.is_empty() {
            return Err(format!(
                "document ends inside <{}>",
                stack.last().unwrap().name
            ));
        }
        root.ok_or_else(|| "empty XML document".to_string())
    }
}
