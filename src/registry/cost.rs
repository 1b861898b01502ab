//! What a full sweep of a type costs in API requests, read from its registry
//! entry: the pages of each of its listings (100 objects a page), the
//! one-object probes that split a listing longer than a page into `created`
//! windows (`stripe.list_windows`) and the partial last page of each
//! window, one listing per parent for a type listed per parent, and the
//! pages of the children a listed parent does not embed in full. The README
//! ("Cost of a full sweep") tabulates it; a test checks it against the
//! simulator's request counts.
//!
//! Not counted: the retrieve of each row no listing returned (the objects
//! deleted since the last sweep), and events catch-up (a few requests).

use super::Kind;

/// Objects per list page (`limit=100`, Stripe's maximum).
pub const PAGE: u64 = 100;
/// Children Stripe embeds in a parent before truncating (`has_more`).
pub const EMBEDDED: u64 = 10;
/// The most one-object probes bisecting for a listing's oldest object can
/// take: from 2010 to now, halving to one hour.
pub const MAX_PROBES: u64 = 18;

/// One type's size in an account.
#[derive(Debug, Clone, Default)]
pub struct Size {
    /// The objects each of the type's listings returns, in the registry's
    /// query order (prices: the active, then the inactive).
    pub listed: Vec<u64>,
    /// For a type listed per parent: the live parents.
    pub parents: u64,
    /// The children of each parent whose children are paged: those with
    /// more than [`EMBEDDED`], or every one when Stripe never embeds them.
    pub paged_children: Vec<u64>,
}

/// The requests of one full sweep, as a range: how a long listing falls
/// into windows, and how many probes find its oldest object, depend on the
/// data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cost {
    pub min: u64,
    pub max: u64,
}

impl std::ops::Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost { min: self.min + o.min, max: self.max + o.max }
    }
}

fn pages(n: u64) -> u64 {
    n.div_ceil(PAGE).max(1)
}

/// The requests of one listing of `n` objects split into `windows`.
pub fn listing(n: u64, windows: u64) -> Cost {
    if n <= PAGE || windows <= 1 {
        return Cost { min: pages(n), max: pages(n) };
    }
    // The first page (for the newest object's time), the probes, then each
    // window's pages: at most one partial page more per window.
    Cost { min: 1 + pages(n), max: 1 + MAX_PROBES + pages(n) + (windows - 1) }
}

/// The requests of a full sweep of `kind` at `size`.
pub fn full_sweep(kind: Kind, size: &Size, windows: u64) -> Cost {
    let def = kind.def();
    let lists = if def.list.per.is_some() {
        // One listing per live parent (a parent with more than a page of
        // children takes more: counted by `listed`).
        let extra = size.listed.iter().sum::<u64>().saturating_sub(size.parents * PAGE) / PAGE;
        Cost { min: size.parents, max: size.parents + extra }
    } else {
        let mut c = Cost::default();
        for q in 0..def.list.queries.len() {
            c = c + listing(size.listed.get(q).copied().unwrap_or(0), windows);
        }
        c
    };
    let children: u64 = size.paged_children.iter().map(|&c| pages(c)).sum();
    lists + Cost { min: children, max: children }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_costs_pages_probes_parents_and_child_pages() {
        let kind = |t| Kind::by_table(t).unwrap();
        assert_eq!(listing(0, 4), Cost { min: 1, max: 1 });
        assert_eq!(listing(100, 4), Cost { min: 1, max: 1 });
        assert_eq!(listing(1_000, 1), Cost { min: 10, max: 10 });
        assert_eq!(listing(1_000, 4), Cost { min: 11, max: 32 });
        let prices = Size { listed: vec![150, 50], ..Size::default() };
        assert_eq!(full_sweep(kind("prices"), &prices, 4), listing(150, 4) + Cost { min: 1, max: 1 });
        let methods = Size { listed: vec![300], parents: 250, ..Size::default() };
        assert_eq!(full_sweep(kind("payment_methods"), &methods, 4), Cost { min: 250, max: 250 });
        let sessions = Size { listed: vec![50], paged_children: vec![1; 50], ..Size::default() };
        assert_eq!(full_sweep(kind("checkout_sessions"), &sessions, 4), Cost { min: 51, max: 51 });
    }
}
