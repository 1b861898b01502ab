//! How one object is kept in memory: its serialized JSON with *holes* where
//! other objects are embedded, and the templates that produce such documents
//! quickly.
//!
//! Why holes: Stripe renders embedded objects when it answers, so a
//! subscription shows its items (and each item its price) as they are now.
//! Keeping the embedding as a hole gives the same behaviour, keeps memory
//! proportional to the data (a price is stored once, not once per item) and
//! makes a page a concatenation of stored bytes.
//!
//! Templates: a fixture is parsed once, the variable fields are replaced by
//! markers, and the serialized text is cut at the markers. Rendering is then
//! string concatenation, which is what makes seeding a million objects take
//! seconds. Slot values are written exactly as serde_json writes them, so a
//! templated document re-serialized through `serde_json::Value` is
//! byte-identical.

use std::sync::Arc;

use serde_json::Value;

/// What fills a hole at render time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hole {
    /// The embedded `items` list of this subscription.
    Items,
    /// The embedded `lines` list of this invoice.
    Lines,
    /// The embedded `lines` list of this credit note.
    CreditNoteLines,
    /// The full price object with this id.
    Price(Arc<str>),
    /// The plan view of the price with this id.
    Plan(Arc<str>),
}

/// Hole kinds a template or a kind's JSON can carry, before ids are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HoleKind {
    Items,
    Lines,
    CreditNoteLines,
    Price,
    Plan,
}

impl HoleKind {
    fn marker(self) -> &'static str {
        match self {
            HoleKind::Items => "@@hole:items@@",
            HoleKind::Lines => "@@hole:lines@@",
            HoleKind::CreditNoteLines => "@@hole:cnlines@@",
            HoleKind::Price => "@@hole:price@@",
            HoleKind::Plan => "@@hole:plan@@",
        }
    }

    fn from_marker(m: &str) -> Option<HoleKind> {
        [HoleKind::Items, HoleKind::Lines, HoleKind::CreditNoteLines, HoleKind::Price, HoleKind::Plan]
            .into_iter()
            .find(|k| k.marker() == m)
    }

    fn bind(self, price: Option<&Arc<str>>) -> Hole {
        match (self, price) {
            (HoleKind::Items, _) => Hole::Items,
            (HoleKind::Lines, _) => Hole::Lines,
            (HoleKind::CreditNoteLines, _) => Hole::CreditNoteLines,
            (HoleKind::Price, Some(p)) => Hole::Price(p.clone()),
            (HoleKind::Plan, Some(p)) => Hole::Plan(p.clone()),
            // A price hole without a price id cannot render; `null` is the
            // honest answer and the builders never do this.
            (HoleKind::Price | HoleKind::Plan, None) => Hole::Price(Arc::from("")),
        }
    }
}

/// A stored object: JSON text with holes at byte offsets (ascending).
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub text: Box<str>,
    pub holes: Box<[(u32, Hole)]>,
}

impl Doc {
    /// Serialize `value`, leaving holes at the given top-level keys. The
    /// price id for `Price`/`Plan` holes is read from `value["price"]["id"]`.
    pub fn from_value(value: &Value, holes: &[(&str, HoleKind)]) -> Doc {
        let mut v = value.clone();
        let price = value.pointer("/price/id").and_then(Value::as_str).map(Arc::<str>::from);
        if let Value::Object(map) = &mut v {
            for (key, kind) in holes {
                if map.contains_key(*key) {
                    map.insert((*key).to_owned(), Value::String(kind.marker().to_owned()));
                }
            }
        }
        let text = v.to_string();
        let mut out = String::with_capacity(text.len());
        let mut doc_holes = Vec::new();
        for piece in split_markers(&text) {
            match piece {
                Piece::Lit(s) => out.push_str(s),
                Piece::Marker(m) => match HoleKind::from_marker(m) {
                    Some(k) => doc_holes.push((out.len() as u32, k.bind(price.as_ref()))),
                    None => {
                        out.push('"');
                        out.push_str(m);
                        out.push('"');
                    }
                },
            }
        }
        Doc { text: out.into_boxed_str(), holes: doc_holes.into_boxed_slice() }
    }

    /// A document without holes.
    pub fn plain(text: String) -> Doc {
        Doc { text: text.into_boxed_str(), holes: Box::new([]) }
    }

    /// Turn the object's own `"livemode":false` into `true`. Keys are in
    /// sorted order and embedded objects are holes, so the first occurrence
    /// is the object's own (`livemode` sorts before `metadata`, the only
    /// place a caller's text could hold the same bytes).
    pub fn set_livemode(&mut self) {
        const TEST: &str = "\"livemode\":false";
        let Some(at) = self.text.find(TEST) else {
            return;
        };
        let mut text = String::with_capacity(self.text.len());
        text.push_str(&self.text[..at]);
        text.push_str("\"livemode\":true");
        text.push_str(&self.text[at + TEST.len()..]);
        self.text = text.into_boxed_str();
        // "true" is one byte shorter than "false".
        for (offset, _) in self.holes.iter_mut() {
            if *offset as usize > at {
                *offset -= 1;
            }
        }
    }
}

/// A fixture cut at its variable fields.
#[derive(Debug)]
pub(crate) struct Template {
    parts: Vec<Part>,
    slots: usize,
}

#[derive(Debug)]
enum Part {
    Lit(Box<str>),
    Slot(usize),
    Hole(HoleKind),
}

impl Template {
    /// `slots` are JSON pointers whose values are supplied at render time in
    /// this order; `holes` are pointers that become holes. Pointers must
    /// exist in `base` (a missing one is a programming error caught by the
    /// unit tests, so it panics at startup rather than rendering garbage).
    pub fn compile(mut base: Value, slots: &[&str], holes: &[(&str, HoleKind)]) -> Template {
        for (i, ptr) in slots.iter().enumerate() {
            let Some(v) = base.pointer_mut(ptr) else {
                panic!("template slot {ptr} missing from fixture");
            };
            *v = Value::String(format!("@@slot:{i}@@"));
        }
        for (ptr, kind) in holes {
            let Some(v) = base.pointer_mut(ptr) else {
                panic!("template hole {ptr} missing from fixture");
            };
            *v = Value::String(kind.marker().to_owned());
        }
        let text = base.to_string();
        let mut parts = Vec::new();
        for piece in split_markers(&text) {
            match piece {
                Piece::Lit(s) => parts.push(Part::Lit(s.into())),
                Piece::Marker(m) => {
                    if let Some(n) = m.strip_prefix("@@slot:").and_then(|r| r.strip_suffix("@@")) {
                        let n = n.parse().unwrap_or(usize::MAX);
                        parts.push(Part::Slot(n));
                    } else if let Some(k) = HoleKind::from_marker(m) {
                        parts.push(Part::Hole(k));
                    } else {
                        parts.push(Part::Lit(format!("\"{m}\"").into()));
                    }
                }
            }
        }
        Template { parts, slots: slots.len() }
    }

    /// Fill the slots with raw JSON fragments (see [`json_str`]) and bind
    /// price holes to `price`.
    pub fn render(&self, values: &[&str], price: Option<&Arc<str>>) -> Doc {
        debug_assert_eq!(values.len(), self.slots, "template slot count");
        let mut out = String::with_capacity(1024);
        let mut holes = Vec::new();
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Slot(n) => out.push_str(values.get(*n).copied().unwrap_or("null")),
                Part::Hole(k) => holes.push((out.len() as u32, k.bind(price))),
            }
        }
        Doc { text: out.into_boxed_str(), holes: holes.into_boxed_slice() }
    }
}

/// A string as a JSON fragment, escaped exactly as serde_json does.
pub(crate) fn json_str(s: &str) -> String {
    // Ids, statuses and the like need no escaping: skip the serializer.
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
        return out;
    }
    Value::from(s).to_string()
}

/// An optional string as a JSON fragment.
pub(crate) fn json_opt(s: Option<&str>) -> String {
    s.map_or_else(|| "null".to_owned(), json_str)
}

enum Piece<'a> {
    Lit(&'a str),
    /// The marker text without its quotes.
    Marker(&'a str),
}

/// Split serialized JSON at quoted `"@@…@@"` markers.
fn split_markers(text: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("\"@@") {
        let after = &rest[start + 1..];
        let Some(end) = after[2..].find("@@\"") else {
            break;
        };
        let marker = &after[..end + 4];
        pieces.push(Piece::Lit(&rest[..start]));
        pieces.push(Piece::Marker(marker));
        rest = &after[end + 5..];
    }
    pieces.push(Piece::Lit(rest));
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn template_render_matches_value_serialization() {
        let base = json!({"id": "x", "n": 1, "price": {"id": "p"}, "name": "a"});
        let t = Template::compile(base, &["/id", "/n"], &[("/price", HoleKind::Price)]);
        let price: Arc<str> = Arc::from("price_1");
        let doc = t.render(&[&json_str("cus_\"q"), "42"], Some(&price));
        assert_eq!(doc.holes.len(), 1);
        let mut full = doc.text.to_string();
        full.insert_str(doc.holes[0].0 as usize, r#"{"id":"price_1"}"#);
        let v: Value = serde_json::from_str(&full).expect("valid json");
        assert_eq!(v.to_string(), full, "byte-identical through Value");
        let back = Doc::from_value(&v, &[("price", HoleKind::Price)]);
        assert_eq!(back.text, doc.text);
        assert_eq!(back.holes, doc.holes);
    }
}
