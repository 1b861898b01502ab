//! Request bodies of Stripe's write endpoints: `application/x-www-form-urlencoded`
//! with Stripe's bracket syntax for arrays and hashes
//! (docs.stripe.com/api — "form-encoded request bodies"):
//!
//! - `name=value` — a scalar;
//! - `list[]=a&list[]=b` or `list[0]=a&list[1]=b` — an array (indexes order it;
//!   serde_qs, which async-stripe uses, writes the indexed form);
//! - `hash[key]=value` — a hash (metadata).
//!
//! One level of nesting is all the endpoints the simulator implements take.

use std::collections::BTreeMap;

/// Why a body is not a valid form for these endpoints.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum FormError {
    #[error("Invalid request body: {0}")]
    Encoding(String),
    /// `a=1&a[]=2`, or a nested key such as `a[b][c]`.
    #[error("Invalid {0}: the same parameter was sent in two shapes")]
    Mixed(String),
    #[error("Invalid array")]
    NotAnArray(String),
    #[error("Invalid hash")]
    NotAHash(String),
}

impl FormError {
    /// The parameter the error is about, for Stripe's `param`.
    pub fn param(&self) -> Option<&str> {
        match self {
            FormError::Encoding(_) => None,
            FormError::Mixed(p) | FormError::NotAnArray(p) | FormError::NotAHash(p) => Some(p),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Param {
    Scalar(String),
    /// `(index, value)`; `[]` entries get increasing indexes after any given one.
    List(Vec<(usize, String)>),
    Hash(BTreeMap<String, String>),
}

/// A parsed form body.
#[derive(Debug, Default, Clone)]
pub(crate) struct Form {
    params: BTreeMap<String, Param>,
}

impl Form {
    pub fn parse(body: &[u8]) -> Result<Form, FormError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|e| FormError::Encoding(e.to_string()))?;
        let mut form = Form::default();
        for (key, value) in pairs {
            form.add(&key, value)?;
        }
        Ok(form)
    }

    fn add(&mut self, key: &str, value: String) -> Result<(), FormError> {
        let Some((name, rest)) = key.split_once('[') else {
            return match self.params.insert(key.to_owned(), Param::Scalar(value)) {
                None | Some(Param::Scalar(_)) => Ok(()),
                Some(_) => Err(FormError::Mixed(key.to_owned())),
            };
        };
        let inner = rest.strip_suffix(']').filter(|i| !i.contains('[') && !i.contains(']'));
        let Some(inner) = inner else {
            return Err(FormError::Mixed(name.to_owned()));
        };
        let entry = self.params.entry(name.to_owned());
        let is_index = inner.is_empty() || inner.bytes().all(|b| b.is_ascii_digit());
        match (
            entry.or_insert_with(|| if is_index { Param::List(Vec::new()) } else { Param::Hash(BTreeMap::new()) }),
            is_index,
        ) {
            (Param::List(items), true) => {
                let index = match inner.parse::<usize>() {
                    Ok(i) => i,
                    Err(_) => items.iter().map(|(i, _)| i + 1).max().unwrap_or(0),
                };
                items.push((index, value));
                Ok(())
            }
            (Param::Hash(map), false) => {
                map.insert(inner.to_owned(), value);
                Ok(())
            }
            _ => Err(FormError::Mixed(name.to_owned())),
        }
    }

    /// Parameter names sent, for "Received unknown parameter".
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.params.keys().map(String::as_str)
    }

    /// A scalar parameter (`None` if absent).
    pub fn scalar(&self, name: &str) -> Result<Option<&str>, FormError> {
        match self.params.get(name) {
            None => Ok(None),
            Some(Param::Scalar(s)) => Ok(Some(s)),
            Some(_) => Err(FormError::Mixed(name.to_owned())),
        }
    }

    /// An array parameter in index order. An empty scalar (`list=`) is the
    /// empty array, as Stripe reads it.
    pub fn list(&self, name: &str) -> Result<Option<Vec<String>>, FormError> {
        match self.params.get(name) {
            None => Ok(None),
            Some(Param::List(items)) => {
                let mut items = items.clone();
                items.sort_by_key(|(i, _)| *i);
                Ok(Some(items.into_iter().map(|(_, v)| v).collect()))
            }
            Some(Param::Scalar(s)) if s.is_empty() => Ok(Some(Vec::new())),
            Some(_) => Err(FormError::NotAnArray(name.to_owned())),
        }
    }

    /// A hash parameter. `Some(None)` is `hash=` (an empty scalar), which
    /// Stripe reads as "unset every key".
    pub fn hash(&self, name: &str) -> Result<Option<Option<&BTreeMap<String, String>>>, FormError> {
        match self.params.get(name) {
            None => Ok(None),
            Some(Param::Hash(map)) => Ok(Some(Some(map))),
            Some(Param::Scalar(s)) if s.is_empty() => Ok(Some(None)),
            Some(_) => Err(FormError::NotAHash(name.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_build_arrays_and_hashes() {
        let f = Form::parse(
            b"url=http%3A%2F%2Fx&enabled_events%5B1%5D=b&enabled_events%5B0%5D=a&metadata[managed_by]=stripe-mirror",
        )
        .expect("form");
        assert_eq!(f.scalar("url"), Ok(Some("http://x")));
        assert_eq!(f.list("enabled_events"), Ok(Some(vec!["a".to_owned(), "b".to_owned()])));
        let meta = f.hash("metadata").expect("hash").expect("present").expect("not cleared");
        assert_eq!(meta.get("managed_by").map(String::as_str), Some("stripe-mirror"));
        let f = Form::parse(b"enabled_events[]=a&enabled_events[]=b&metadata=").expect("form");
        assert_eq!(f.list("enabled_events"), Ok(Some(vec!["a".to_owned(), "b".to_owned()])));
        assert_eq!(f.hash("metadata"), Ok(Some(None)));
    }

    #[test]
    fn mixed_shapes_are_refused() {
        assert!(Form::parse(b"a=1&a[]=2").is_err());
        assert!(Form::parse(b"a[x][y]=1").is_err());
        assert!(Form::parse(b"a[0]=1&a[k]=2").is_err());
        let f = Form::parse(b"enabled_events=a").expect("form");
        assert_eq!(f.list("enabled_events"), Err(FormError::NotAnArray("enabled_events".into())));
    }
}
