//! [`TypeSet`]: the types one mirror mirrors (`[mirror] objects`).

use std::fmt;

use super::{Kind, TYPES};

/// A set of types, by registry index. `Copy`, so every path holds its own.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TypeSet(u64);

/// `[mirror] objects` named something that cannot be mirrored as asked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TypeSetError {
    #[error("unknown type {name:?}; the types are: {known}")]
    Unknown { name: String, known: String },
    #[error("{name} is listed per {parent} (Stripe has no account-wide list of it): mirror {parent} too")]
    NeedsParent { name: &'static str, parent: &'static str },
}

impl TypeSet {
    pub const ALL: TypeSet = TypeSet(if TYPES.len() >= 64 { u64::MAX } else { (1u64 << TYPES.len()) - 1 });
    pub const NONE: TypeSet = TypeSet(0);

    /// The types named by their tables (`["customers", "payment_methods"]`).
    /// A child table is not a type of its own (subscription items come with
    /// subscriptions); a type listed per parent needs its parent.
    pub fn from_tables<S: AsRef<str>>(names: &[S]) -> Result<TypeSet, TypeSetError> {
        let mut set = TypeSet::NONE;
        for name in names {
            let kind = Kind::by_table(name.as_ref().trim()).ok_or_else(|| TypeSetError::Unknown {
                name: name.as_ref().to_string(),
                known: Kind::ALL.iter().map(|k| k.def().table).collect::<Vec<_>>().join(", "),
            })?;
            set = set.with(kind);
        }
        for kind in set.iter() {
            if let Some(parent) = kind.list_parent().filter(|p| !set.contains(*p)) {
                return Err(TypeSetError::NeedsParent { name: kind.def().table, parent: parent.def().table });
            }
        }
        Ok(set)
    }

    pub fn with(self, kind: Kind) -> TypeSet {
        TypeSet(self.0 | 1 << kind.index())
    }

    pub fn contains(self, kind: Kind) -> bool {
        self.0 & (1 << kind.index()) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The types in the set, in registry order.
    pub fn iter(self) -> impl Iterator<Item = Kind> {
        Kind::ALL.into_iter().filter(move |k| self.contains(*k))
    }

    /// The tables of the set's types (child tables not included).
    pub fn tables(self) -> Vec<&'static str> {
        self.iter().map(|k| k.def().table).collect()
    }
}

impl Default for TypeSet {
    fn default() -> TypeSet {
        TypeSet::ALL
    }
}

impl fmt::Debug for TypeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
