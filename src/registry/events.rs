//! Event types, looked up: which type an event is about and what applying
//! it does, and the explicit list a webhook endpoint subscribes to.
//!
//! An event type is `{prefix}.{verb}`, the prefix naming the object
//! `data.object` holds (`charge.dispute.created` carries a dispute, so the
//! prefix `charge.dispute` belongs to disputes, `charge` to charges). A type
//! the registry lists is answered from its entry. A verb Stripe adds later
//! under a known prefix is treated as its prefix's listed events are: an
//! ignored prefix stays ignored, a twin prefix stays a twin, any other is an
//! upsert (snapshot events carry the object; newest wins either way).

use std::collections::HashMap;
use std::sync::LazyLock;

use super::{Does, Kind, TypeSet};

struct Rules {
    exact: HashMap<&'static str, (Kind, Does)>,
    prefix: HashMap<&'static str, (Kind, Does)>,
}

static RULES: LazyLock<Rules> = LazyLock::new(|| {
    let mut exact = HashMap::new();
    let mut prefix: HashMap<&'static str, (Kind, Does)> = HashMap::new();
    for kind in Kind::ALL {
        for ev in kind.def().events {
            exact.insert(ev.name, (kind, ev.does));
            let Some((p, _)) = ev.name.rsplit_once('.') else { continue };
            // A prefix's unknown verbs: like its listed events other than
            // deletes; a prefix of only ignored events stays ignored.
            let fallback = match ev.does {
                Does::Delete => continue,
                Does::Cancel => Does::Upsert,
                d => d,
            };
            prefix
                .entry(p)
                .and_modify(|(_, d)| {
                    if matches!(d, Does::Ignore(_)) && !matches!(fallback, Does::Ignore(_)) {
                        *d = fallback;
                    }
                })
                .or_insert((kind, fallback));
        }
    }
    for kind in Kind::ALL {
        for ev in kind.def().events {
            if let Some((p, _)) = ev.name.rsplit_once('.') {
                prefix.entry(p).or_insert((kind, Does::Upsert));
            }
        }
    }
    Rules { exact, prefix }
});

/// The type an event is about and what applying it does; `None` for an
/// event of no mirrored type (`payout.paid`).
pub fn event_rule(event_type: &str) -> Option<(Kind, Does)> {
    let rules = &*RULES;
    if let Some(r) = rules.exact.get(event_type) {
        return Some(*r);
    }
    let (prefix, _) = event_type.rsplit_once('.')?;
    rules.prefix.get(prefix).copied()
}

/// The event types the mirror acts on for `types`: every listed type whose
/// rule is not [`Does::Ignore`], in registry order. Explicit names, as a
/// webhook endpoint's `enabled_events` needs (no `customer.*` groups) and
/// as events catch-up lists them (`types[]`, 20 at a time).
pub fn applied_event_types(types: TypeSet) -> Vec<&'static str> {
    types
        .iter()
        .flat_map(|k| k.def().events.iter())
        .filter(|ev| !matches!(ev.does, Does::Ignore(_)))
        .map(|ev| ev.name)
        .collect()
}
