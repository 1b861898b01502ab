//! Reading a Stripe object for what the mirror routes on — its `id`, its
//! `object`, and the embedded child list the registry names for its type —
//! in one pass over the JSON, without parsing the rest (the object is
//! stored as the text Stripe sent).

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::registry::Kind;
use crate::storage::store::Version;

/// The fields of an object the mirror routes on; the embedded child list
/// stays raw until a written parent needs its children.
pub struct Head<'a> {
    pub id: Option<String>,
    pub object: Option<Cow<'a, str>>,
    children: Option<&'a RawValue>,
}

impl<'a> Head<'a> {
    /// Reads `raw` as an object of `kind` (whose registry entry names the
    /// embedded child field, if any).
    pub fn read(raw: &'a RawValue, kind: Kind) -> Result<Head<'a>, serde_json::Error> {
        let field = kind.def().child.as_ref().and_then(|c| c.embedded);
        let mut de = serde_json::Deserializer::from_str(raw.get());
        HeadSeed { field }.deserialize(&mut de)
    }

    /// Is this the object a `kind` event carries (not, say, a plan)?
    pub fn is(&self, kind: Kind) -> bool {
        self.object.as_deref() == Some(kind.object_name())
    }

    /// The object to write, under the `id` read from it.
    pub fn into_item(self, kind: Kind, id: String, raw: &'a RawValue, version: Version) -> Item<'a> {
        Item { id, raw, version, kind, children: self.children }
    }
}

/// One object to write: its id, its JSON exactly as Stripe sent it, the
/// version of this state, and its embedded child list (raw) if it has one.
pub struct Item<'a> {
    pub id: String,
    pub raw: &'a RawValue,
    pub version: Version,
    kind: Kind,
    children: Option<&'a RawValue>,
}

/// An embedded list (`subscription.items`, `invoice.lines`).
#[derive(Deserialize)]
pub(crate) struct Embedded {
    #[serde(default)]
    pub data: Vec<Box<RawValue>>,
    #[serde(default)]
    pub has_more: bool,
}

#[derive(Deserialize)]
struct EmbeddedFlag {
    #[serde(default)]
    has_more: bool,
}

impl<'a> Item<'a> {
    /// Reads an object of `kind`; None when it is not a JSON object with an id.
    pub fn read(kind: Kind, raw: &'a RawValue, version: Version) -> Option<Item<'a>> {
        let mut head = Head::read(raw, kind).ok()?;
        let id = head.id.take()?;
        Some(head.into_item(kind, id, raw, version))
    }

    pub(crate) fn embedded(&self) -> Option<Embedded> {
        self.children.and_then(|l| serde_json::from_str::<Embedded>(l.get()).ok())
    }

    /// Stripe embedded only the first children (`has_more`): the rest must
    /// be paged from the API before the parent is written.
    pub fn truncated(&self) -> bool {
        self.children.is_some_and(|l| serde_json::from_str::<EmbeddedFlag>(l.get()).is_ok_and(|e| e.has_more))
    }

    /// Writing this state needs its children paged from the API first, and
    /// why: they are truncated, or never embedded (checkout line items).
    pub fn needs_children_paged(&self) -> Option<&'static str> {
        match self.kind.def().child.as_ref() {
            Some(c) if c.embedded.is_none() => Some("children are not embedded: retrieved with them"),
            Some(_) if self.truncated() => Some("truncated nested list: retrieved"),
            _ => None,
        }
    }
}

/// Deserializes a [`Head`], keeping only `id`, `object` and `field`.
struct HeadSeed {
    field: Option<&'static str>,
}

enum Field {
    Id,
    Object,
    Children,
    Other,
}

struct FieldSeed(Option<&'static str>);

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Field;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Field, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed {
    type Value = Field;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Field, E> {
        Ok(match v {
            "id" => Field::Id,
            "object" => Field::Object,
            v if Some(v) == self.0 => Field::Children,
            _ => Field::Other,
        })
    }
}

/// A string borrowed from the input when it has no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<CowStr<'de>, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<CowStr<'de>, E> {
                Ok(CowStr(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> DeserializeSeed<'de> for HeadSeed {
    type Value = Head<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Head<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeadSeed {
    type Value = Head<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Stripe object")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Head<'de>, M::Error> {
        let mut head = Head { id: None, object: None, children: None };
        while let Some(field) = map.next_key_seed(FieldSeed(self.field))? {
            match field {
                Field::Id => head.id = map.next_value()?,
                Field::Object => head.object = map.next_value::<Option<CowStr>>()?.map(|s| s.0),
                Field::Children => head.children = map.next_value()?,
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn the_registry_names_the_embedded_field() {
        let sub = Kind::by_table("subscriptions").unwrap();
        let r = raw(
            r#"{"id":"sub_1","object":"subscription","lines":{"has_more":true},"items":{"data":[],"has_more":true}}"#,
        );
        let item = Item::read(sub, &r, Version::as_of(1)).unwrap();
        assert!(item.truncated() && item.needs_children_paged().is_some());
        let note = Kind::by_table("credit_notes").unwrap();
        let r = raw(r#"{"id":"cn_1","object":"credit_note","lines":{"data":[{"id":"cnli_1"}],"has_more":false}}"#);
        let item = Item::read(note, &r, Version::as_of(1)).unwrap();
        assert_eq!((item.truncated(), item.embedded().map(|e| e.data.len())), (false, Some(1)));
        let session = Kind::by_table("checkout_sessions").unwrap();
        let r = raw(r#"{"id":"cs_1","object":"checkout.session"}"#);
        assert!(Item::read(session, &r, Version::as_of(1)).unwrap().needs_children_paged().is_some());
        let customer = Kind::by_table("customers").unwrap();
        let r = raw(r#"{"object":"cust\u006fmer","id":"cus_1","items":5}"#);
        let head = Head::read(&r, customer).unwrap();
        assert!(head.is(customer) && head.id.as_deref() == Some("cus_1"));
        assert!(Head::read(&raw("[1]"), customer).is_err());
        assert!(Item::read(customer, &raw(r#"{"object":"customer"}"#), Version::as_of(1)).is_none());
    }
}
