//! Stripe API versions: which exist, which one a request, an event or a
//! webhook endpoint is rendered in, and how objects look in each.
//!
//! The simulator keeps one canonical state, in today's shapes (the pinned
//! `2026-08-26.dahlia`), and renders it per request or per delivery. Of the
//! changes between versions it models the ones a mirror must survive, those
//! of `2025-03-31.basil` (docs.stripe.com/changelog/basil): billing periods
//! moved from the subscription to its items, and `invoice.subscription` /
//! `invoice.paid` gave way to `invoice.parent` and `invoice.status`. So a
//! version before basil renders in the pre-basil shapes ([`shapes`]), every
//! later one (clover, dahlia, endive, …) in today's.
//!
//! The list of versions (`sim/data/api-versions.txt`) is Stripe's; a
//! `Stripe-Version` that is not on it is refused the way Stripe refuses it
//! ("Invalid Stripe API version: …", 400).

pub(crate) mod shapes;

use std::sync::OnceLock;

/// The version stripe-mirror pins and the canonical shapes of the simulator.
pub const API_VERSION: &str = "2026-08-26.dahlia";

/// The last version before `2025-03-31.basil`: the pre-basil shapes.
pub const PRE_BASIL_API_VERSION: &str = "2025-02-24.acacia";

/// The first version with today's billing shapes.
const BASIL: &str = "2025-03-31.basil";

/// Which family of object shapes a version renders in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Before basil: periods on the subscription, `invoice.subscription`
    /// and `invoice.paid`, no `invoice.parent`.
    PreBasil,
    /// Basil and later: what the simulator stores.
    Current,
}

/// A known Stripe API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ApiVersion {
    name: &'static str,
}

impl ApiVersion {
    /// The version if Stripe has it.
    pub fn parse(s: &str) -> Option<ApiVersion> {
        known().iter().find(|v| **v == s).map(|name| ApiVersion { name })
    }

    /// `2026-08-26.dahlia`.
    pub fn pinned() -> ApiVersion {
        ApiVersion { name: API_VERSION }
    }

    pub fn as_str(self) -> &'static str {
        self.name
    }

    pub fn shape(self) -> Shape {
        // Version names start with their date, so they sort by release.
        if self.name < BASIL {
            Shape::PreBasil
        } else {
            Shape::Current
        }
    }
}

/// Every Stripe API version, oldest first.
fn known() -> &'static [&'static str] {
    static KNOWN: OnceLock<Vec<&'static str>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        include_str!("../../data/api-versions.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// Whether Stripe knows this API version (`2025-02-24.acacia`: yes;
/// `2025-02-30`: no).
pub fn is_known_api_version(s: &str) -> bool {
    ApiVersion::parse(s).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_before_basil_render_in_the_old_shapes() {
        let v = |s| ApiVersion::parse(s).map(ApiVersion::shape);
        assert_eq!(v(API_VERSION), Some(Shape::Current));
        assert_eq!(v(PRE_BASIL_API_VERSION), Some(Shape::PreBasil));
        assert_eq!(v("2025-03-31.basil"), Some(Shape::Current));
        assert_eq!(v("2026-09-30.endive"), Some(Shape::Current));
        assert_eq!(v("2020-08-27"), Some(Shape::PreBasil));
        assert_eq!(v("2026-08-27.dahlia"), None);
        assert_eq!(v(""), None);
    }
}
