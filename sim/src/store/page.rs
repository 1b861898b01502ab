//! Stripe cursor pagination over an ordered index.
//!
//! `starting_after=X` returns the `limit` objects that follow X in list
//! order; `ending_before=X` returns the `limit` objects immediately before X,
//! still in list order, with `has_more` telling whether more exist further
//! back. `created` ranges narrow the index range first, so filtering by time
//! does not scan.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use super::{key, Key, Record, Table};

/// The cursor of a list request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cursor<'a> {
    None,
    After(&'a str),
    Before(&'a str),
}

/// A `created` filter: bare integer (= `eq`) or `created[gt|gte|lt|lte]`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Created {
    pub gt: Option<i64>,
    pub gte: Option<i64>,
    pub lt: Option<i64>,
    pub lte: Option<i64>,
}

impl Created {
    /// Inclusive bounds (min, max) of `created`.
    fn bounds(&self) -> (i64, i64) {
        let lo = [self.gt.map(|v| v.saturating_add(1)), self.gte].into_iter().flatten().max().unwrap_or(i64::MIN);
        let hi = [self.lt.map(|v| v.saturating_sub(1)), self.lte].into_iter().flatten().min().unwrap_or(i64::MAX);
        (lo, hi)
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct PageReq<'a> {
    pub limit: usize,
    pub cursor: Cursor<'a>,
    pub created: Created,
}

/// A cursor naming an object this table does not hold, or no longer does
/// (deleted: Stripe refuses those too, stripe-php#1264).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PageError {
    NoSuchCursor { param: &'static str, id: String },
}

/// One page of ids from `index` (keys ascending = newest first). When
/// `newest_first` is false the list order is reversed (oldest first, used for
/// nested lists). Returns the ids in list order and `has_more`.
pub(crate) fn page(
    table: &Table,
    index: &BTreeMap<Key, Arc<str>>,
    newest_first: bool,
    req: &PageReq<'_>,
    pred: impl Fn(&Record) -> bool,
) -> Result<(Vec<Arc<str>>, bool), PageError> {
    let (min_created, max_created) = req.created.bounds();
    if min_created > max_created {
        return Ok((Vec::new(), false));
    }
    // In key space, a newer `created` sorts first.
    let mut lo = Bound::Included(key(max_created, u64::MAX));
    let mut hi = Bound::Included(key(min_created, 0));
    let cursor_key = |param: &'static str, id: &str| {
        table.live_get(id).map(Record::key).ok_or_else(|| PageError::NoSuchCursor { param, id: id.to_owned() })
    };
    // Forward = walking in list order from the cursor.
    let forward = match req.cursor {
        Cursor::None => true,
        Cursor::After(id) => {
            let k = cursor_key("starting_after", id)?;
            tighten(&mut lo, &mut hi, k, newest_first);
            true
        }
        Cursor::Before(id) => {
            let k = cursor_key("ending_before", id)?;
            tighten(&mut lo, &mut hi, k, !newest_first);
            false
        }
    };
    if is_empty(&lo, &hi) {
        return Ok((Vec::new(), false));
    }
    let range = index.range((lo, hi));
    let ascending = forward == newest_first;
    let iter: Box<dyn Iterator<Item = (&Key, &Arc<str>)>> =
        if ascending { Box::new(range) } else { Box::new(range.rev()) };
    let mut ids: Vec<Arc<str>> =
        iter.filter(|(_, id)| table.get(id).is_some_and(&pred)).take(req.limit + 1).map(|(_, id)| id.clone()).collect();
    let has_more = ids.len() > req.limit;
    ids.truncate(req.limit);
    if !forward {
        ids.reverse();
    }
    Ok((ids, has_more))
}

/// Restrict the range to keys strictly after `k` in key order (`after_in_keys`)
/// or strictly before it.
fn tighten(lo: &mut Bound<Key>, hi: &mut Bound<Key>, k: Key, after_in_keys: bool) {
    if after_in_keys {
        if bound_key(lo).is_none_or(|b| k >= *b) {
            *lo = Bound::Excluded(k);
        }
    } else if bound_key(hi).is_none_or(|b| k <= *b) {
        *hi = Bound::Excluded(k);
    }
}

fn bound_key(b: &Bound<Key>) -> Option<&Key> {
    match b {
        Bound::Included(k) | Bound::Excluded(k) => Some(k),
        Bound::Unbounded => None,
    }
}

/// BTreeMap::range panics on inverted bounds, so check first.
fn is_empty(lo: &Bound<Key>, hi: &Bound<Key>) -> bool {
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => a >= b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Doc, Fields, Kind};
    use super::*;

    fn table(n: u64, same_second: bool) -> Table {
        let mut t = Table::new(Kind::Customer, false);
        for i in 0..n {
            let created = if same_second { 100 } else { 100 + i as i64 };
            t.insert(Record {
                id: Arc::from(format!("cus_{i}")),
                created,
                seq: i,
                doc: Doc::plain("{}".into()),
                deleted: false,
                fields: Fields::default(),
            });
        }
        t
    }

    fn walk(t: &Table, limit: usize, backwards: bool) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let c = match (&cursor, backwards) {
                (None, _) => Cursor::None,
                (Some(id), false) => Cursor::After(id),
                (Some(id), true) => Cursor::Before(id),
            };
            let req = PageReq { limit, cursor: c, created: Created::default() };
            let (ids, more) = page(t, &t.live, true, &req, |_| true).expect("page");
            let next = if backwards { ids.first() } else { ids.last() };
            cursor = next.map(|s| s.to_string());
            let mut ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
            if backwards {
                ids.extend(out);
                out = ids;
            } else {
                out.extend(ids);
            }
            if !more {
                return out;
            }
            if backwards && cursor.is_none() {
                return out;
            }
        }
    }

    #[test]
    fn starting_after_walk_sees_everything_once_newest_first() {
        for same in [false, true] {
            let t = table(57, same);
            let ids = walk(&t, 10, false);
            let want: Vec<String> = (0..57).rev().map(|i| format!("cus_{i}")).collect();
            assert_eq!(ids, want);
        }
    }

    #[test]
    fn ending_before_pages_towards_newer() {
        let t = table(25, true);
        let req = PageReq { limit: 10, cursor: Cursor::Before("cus_5"), created: Created::default() };
        let (ids, more) = page(&t, &t.live, true, &req, |_| true).expect("page");
        let ids: Vec<&str> = ids.iter().map(|s| &**s).collect();
        assert_eq!(
            ids,
            ["cus_15", "cus_14", "cus_13", "cus_12", "cus_11", "cus_10", "cus_9", "cus_8", "cus_7", "cus_6"]
        );
        assert!(more);
    }

    #[test]
    fn created_bounds_cut_the_range() {
        let t = table(20, false);
        let req = PageReq {
            limit: 100,
            cursor: Cursor::After("cus_15"),
            created: Created { gte: Some(105), lt: Some(118), ..Created::default() },
        };
        let (ids, more) = page(&t, &t.live, true, &req, |_| true).expect("page");
        assert_eq!(ids.len(), 10, "{ids:?}");
        assert_eq!(&*ids[0], "cus_14");
        assert!(!more);
    }
}
