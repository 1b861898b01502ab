//! Comparing the mirror with the Stripe simulator, table by table and field
//! by field: what `demo` prints and what the end-to-end tests assert.
//!
//! The tables compared are the registry's that the simulator keeps (a
//! simulator kind of the type's `object`, or named as the child table). A
//! type the simulator does not model is left out, and compared as soon as
//! it is.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde_json::Value;
use sqlx::PgPool;
use stripe_sim::{Kind, Sim};

/// One table's comparison.
#[derive(Debug, Default, Clone)]
pub struct TableDiff {
    pub table: &'static str,
    pub sim_live: usize,
    pub sim_deleted: usize,
    pub mirror_live: usize,
    pub mirror_deleted: usize,
    /// Ids that differ (missing, extra, different data or deleted flag), up to 10.
    pub mismatches: Vec<String>,
    pub mismatch_count: usize,
}

/// Every mirrored table the simulator keeps, with its simulator kind.
pub static TABLES: LazyLock<Vec<(Kind, &'static str)>> = LazyLock::new(|| {
    crate::storage::store::Table::ALL.iter().filter_map(|t| Some((sim_kind(*t)?, t.name()))).collect()
});

/// The simulator's kind of a mirrored table: a type's own table by the
/// type's `object` (`invoiceitem`, whose URL is `/v1/invoiceitems`), a child
/// table by the kind's `plural()`, which the simulator names after it.
fn sim_kind(t: crate::storage::store::Table) -> Option<Kind> {
    match t.parent_column() {
        None => Kind::parse(t.kind().object_name()).filter(|k| k.object() == t.kind().object_name()),
        Some(_) => Kind::parse(t.name()).filter(|k| k.plural() == t.name()),
    }
}

/// The mirror's types the simulator serves (`demo` and the benchmarks
/// mirror these, so no listing is skipped as unavailable).
pub fn simulated_types() -> crate::registry::TypeSet {
    let mut set = crate::registry::TypeSet::NONE;
    for kind in crate::registry::Kind::ALL {
        if TABLES.iter().any(|(_, t)| *t == kind.def().table) {
            set = set.with(kind);
        }
    }
    set
}

/// Compares every table. A live Stripe object must be live in the mirror
/// with identical JSON; an object Stripe deleted must be deleted in the
/// mirror or never have been seen; nothing may be live in the mirror that
/// is not live in Stripe.
pub async fn compare(pool: &PgPool, schema: &str, sim: &Sim) -> Result<Vec<TableDiff>, sqlx::Error> {
    let mut out = Vec::new();
    for &(kind, table) in TABLES.iter() {
        let rows: Vec<(String, Value, bool)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT id, data, deleted FROM \"{schema}\".{table}")))
                .fetch_all(pool)
                .await?;
        let mirror: HashMap<String, (Value, bool)> = rows.into_iter().map(|(id, d, del)| (id, (d, del))).collect();
        let snapshot = sim.snapshot(kind);
        let mut diff = TableDiff { table, ..TableDiff::default() };
        let known: HashSet<&str> = snapshot.iter().map(|r| r.id.as_str()).collect();
        for row in &snapshot {
            let ok = match (row.deleted, mirror.get(&row.id)) {
                (true, None) | (true, Some((_, true))) => true,
                (true, Some((_, false))) => false,
                (false, Some((data, false))) => *data == row.value(),
                (false, _) => false,
            };
            if row.deleted {
                diff.sim_deleted += 1;
            } else {
                diff.sim_live += 1;
            }
            if !ok {
                diff.note(&row.id);
            }
        }
        for (id, (_, deleted)) in &mirror {
            if *deleted {
                diff.mirror_deleted += 1;
            } else {
                diff.mirror_live += 1;
                if !known.contains(id.as_str()) {
                    diff.note(id);
                }
            }
        }
        out.push(diff);
    }
    Ok(out)
}

impl TableDiff {
    fn note(&mut self, id: &str) {
        self.mismatch_count += 1;
        if self.mismatches.len() < 10 {
            self.mismatches.push(id.to_string());
        }
    }

    pub fn equal(&self) -> bool {
        self.mismatch_count == 0
    }
}

/// Prints the comparison as a table; returns true when all equal.
pub fn print(diffs: &[TableDiff]) -> bool {
    println!(
        "{:<20} {:>10} {:>10} {:>12} {:>12} {:>10}",
        "table", "stripe", "mirror", "stripe del.", "mirror del.", "result"
    );
    for d in diffs {
        println!(
            "{:<20} {:>10} {:>10} {:>12} {:>12} {:>10}",
            d.table,
            d.sim_live,
            d.mirror_live,
            d.sim_deleted,
            d.mirror_deleted,
            if d.equal() { "equal".to_string() } else { format!("{} differ", d.mismatch_count) }
        );
        if !d.equal() {
            println!("    e.g. {}", d.mismatches.join(", "));
        }
    }
    diffs.iter().all(TableDiff::equal)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_registry_table_has_its_simulator_kind() {
        let tables: Vec<&str> = super::TABLES.iter().map(|(_, t)| *t).collect();
        let all: Vec<&str> = crate::storage::store::Table::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(tables, all);
    }
}
