//! Snapshots for comparison: every object of a kind, deleted ones included,
//! so a test can compare the mirror's tables with the simulator row by row.
//!
//! A live object's `json` is byte-for-byte what retrieve and list answer in
//! the snapshot's API version (the pinned `2026-08-26.dahlia`, what the
//! mirror stores, unless [`Sim::snapshot_at`] asks for another). A deleted
//! object's `json` is its last full state (the `data.object` of its
//! `*.deleted` event in that version), which is what the mirror keeps in
//! `data`.

use serde_json::Value;

use crate::store::{json_str, Kind};
use crate::versions::ApiVersion;
use crate::{Shared, Sim, SimError};

/// One object in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRow {
    pub id: String,
    pub deleted: bool,
    /// The object's JSON text.
    pub json: String,
}

impl SnapshotRow {
    /// The JSON parsed (always valid: the simulator wrote it).
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.json).unwrap_or(Value::Null)
    }
}

impl Sim {
    /// Every object of `kind`, deleted ones marked, newest first (by
    /// `created`, then insertion), at the pinned `2026-08-26.dahlia`.
    pub fn snapshot(&self, kind: Kind) -> Vec<SnapshotRow> {
        snapshot(&self.shared, kind, ApiVersion::pinned())
    }

    /// [`Sim::snapshot`] rendered in another Stripe API version
    /// (`2025-02-24.acacia`: periods on subscriptions, `invoice.subscription`
    /// and `invoice.paid`).
    pub fn snapshot_at(&self, kind: Kind, version: &str) -> Result<Vec<SnapshotRow>, SimError> {
        let v = ApiVersion::parse(version).ok_or_else(|| SimError::UnknownApiVersion(version.to_owned()))?;
        Ok(snapshot(&self.shared, kind, v))
    }

    /// How many objects of `kind` exist (`live`, `deleted`).
    pub fn count(&self, kind: Kind) -> (usize, usize) {
        let st = self.shared.read();
        let t = st.table(kind);
        let deleted = t.by_id.values().filter(|r| r.deleted).count();
        (t.by_id.len() - deleted, deleted)
    }
}

pub(crate) fn snapshot(shared: &Shared, kind: Kind, version: ApiVersion) -> Vec<SnapshotRow> {
    let st = shared.read();
    let t = st.table(kind);
    let mut recs: Vec<_> = t.by_id.values().collect();
    recs.sort_by_key(|r| r.key());
    recs.into_iter()
        .map(|r| SnapshotRow { id: r.id.to_string(), deleted: r.deleted, json: st.render_at(kind, r, version) })
        .collect()
}

/// `[{"deleted":…,"id":…,"object":{…}}, …]` for `/_sim/snapshot/{kind}`,
/// with each object's text inserted verbatim.
pub(crate) fn rows_json(rows: &[SnapshotRow]) -> String {
    let mut out = String::with_capacity(rows.iter().map(|r| r.json.len() + 64).sum::<usize>() + 2);
    out.push('[');
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"deleted\":");
        out.push_str(if r.deleted { "true" } else { "false" });
        out.push_str(",\"id\":");
        out.push_str(&json_str(&r.id));
        out.push_str(",\"object\":");
        out.push_str(&r.json);
        out.push('}');
    }
    out.push(']');
    out
}
