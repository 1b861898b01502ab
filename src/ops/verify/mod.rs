//! `stripe-mirror verify [--repair]`: a read-only comparison of every
//! mirrored table with what the Stripe API lists, and the repair of exactly
//! the rows found to differ.
//!
//! Each type is listed with the same queries the sweep uses (the registry's:
//! prices `active=true` and `active=false`, subscriptions `status=all`, a
//! list per customer for payment methods), page by page, and each page is
//! compared with the rows it names; children are compared with their
//! parent's embedded list, paged to the end when Stripe truncated it (or
//! always, for checkout line items, which are never embedded). Per table it finds rows *missing* (listed, no row), *extra*
//! (live in the mirror, not listed), *different* (data not equal) and
//! *wrongly deleted* (listed, row deleted).
//!
//! Changes in flight are not drift: a row whose version is at or after the
//! page's `Date` (written after Stripe answered, or in the same second, which
//! cannot be ordered), a row with an event still pending in the inbox, and a
//! live row created after the listing started (lists are newest first, so it
//! was never on a page) are counted as *in flight* instead.
//!
//! `--repair` retrieves each drifted object (the parent, for a drifted child)
//! and writes it through [`Mirror::resolve`], the normal write path under the
//! ordering rule, then verifies again.

mod check;

use std::collections::BTreeSet;

use sqlx::PgPool;

use crate::push::event::Kind;
use crate::registry::TypeSet;
use crate::storage::mirror::{Mirror, WriteError};
use crate::storage::store::Table;
use crate::stripe::client::{ApiError, StripeClient};

/// Ids printed per kind of drift.
const SHOWN: usize = 10;

/// The API's and the write path's errors are boxed: they are large, and
/// every page's result carries the error type.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Api(Box<ApiError>),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("repair: {0}")]
    Write(Box<WriteError>),
    #[error("unexpected object in a list of {path}: {message}")]
    Decode { path: &'static str, message: String },
}

impl From<ApiError> for VerifyError {
    fn from(e: ApiError) -> Self {
        VerifyError::Api(Box::new(e))
    }
}

impl From<WriteError> for VerifyError {
    fn from(e: WriteError) -> Self {
        VerifyError::Write(Box::new(e))
    }
}

/// Rows of one kind of drift: every id (repair needs them), printed first few.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Drift {
    pub ids: Vec<String>,
}

impl Drift {
    pub(crate) fn note(&mut self, id: &str) {
        self.ids.push(id.to_string());
    }

    pub fn count(&self) -> usize {
        self.ids.len()
    }
}

/// One table's comparison.
#[derive(Debug, Default, Clone)]
pub struct TableReport {
    pub table: &'static str,
    /// Objects the API listed (live).
    pub listed: usize,
    /// Live rows in the mirror.
    pub mirror_live: usize,
    pub missing: Drift,
    pub extra: Drift,
    pub different: Drift,
    pub wrongly_deleted: Drift,
    /// Differences tolerated as changes in flight.
    pub in_flight: usize,
}

impl TableReport {
    pub(crate) fn new(table: Table) -> TableReport {
        TableReport { table: table.name(), ..TableReport::default() }
    }

    pub fn drift(&self) -> usize {
        self.missing.count() + self.extra.count() + self.different.count() + self.wrongly_deleted.count()
    }

    fn kinds(&self) -> [(&'static str, &Drift); 4] {
        [
            ("missing", &self.missing),
            ("extra", &self.extra),
            ("different", &self.different),
            ("wrongly deleted", &self.wrongly_deleted),
        ]
    }
}

/// The whole comparison, and which objects a repair retrieves.
#[derive(Debug, Default)]
pub struct Report {
    pub tables: Vec<TableReport>,
    /// (kind, id) of every drifted object; a drifted child's parent.
    pub to_repair: BTreeSet<(&'static str, String)>,
}

impl Report {
    pub fn equal(&self) -> bool {
        self.tables.iter().all(|t| t.drift() == 0)
    }

    /// The table a person reads: counts per table, then the first ids.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{:<20} {:>8} {:>8} {:>8} {:>8} {:>10} {:>16} {:>10}",
            "table", "stripe", "mirror", "missing", "extra", "different", "wrongly deleted", "in flight"
        );
        for t in &self.tables {
            let _ = writeln!(
                o,
                "{:<20} {:>8} {:>8} {:>8} {:>8} {:>10} {:>16} {:>10}",
                t.table,
                t.listed,
                t.mirror_live,
                t.missing.count(),
                t.extra.count(),
                t.different.count(),
                t.wrongly_deleted.count(),
                t.in_flight
            );
        }
        for t in self.tables.iter().filter(|t| t.drift() > 0) {
            for (what, d) in t.kinds().iter().filter(|(_, d)| d.count() > 0) {
                let shown: Vec<&str> = d.ids.iter().take(SHOWN).map(String::as_str).collect();
                let more =
                    if d.count() > SHOWN { format!(", … ({} more)", d.count() - SHOWN) } else { String::new() };
                let _ = writeln!(o, "{}: {what} {}: {}{more}", t.table, d.count(), shown.join(", "));
            }
        }
        let drifted = self.tables.iter().filter(|t| t.drift() > 0).count();
        if drifted == 0 {
            let _ = writeln!(o, "equal: the mirror matches what the API lists");
        } else {
            let _ = writeln!(o, "DRIFT in {drifted} table(s)");
        }
        o
    }
}

fn kind_of(name: &str) -> Option<Kind> {
    Kind::ALL.into_iter().find(|k| k.object_name() == name)
}

/// Compares every table of the registry with the API (see [`verify_types`]).
pub async fn verify(pool: &PgPool, api: &StripeClient, schema: &str) -> Result<Report, VerifyError> {
    verify_types(pool, api, schema, TypeSet::ALL).await
}

/// Compares the tables of `types` with the API; the kinds are listed
/// concurrently (under the client's one rate limit). A type the key may not
/// list (403), or whose list the API does not serve, is left out of the
/// report with a warning, as the sweep skips it.
pub async fn verify_types(
    pool: &PgPool,
    api: &StripeClient,
    schema: &str,
    types: TypeSet,
) -> Result<Report, VerifyError> {
    let checks = types.iter().map(|kind| async move {
        match check::KindCheck::new(pool, api, schema, kind).run().await {
            Err(VerifyError::Api(e)) if e.is_unavailable() => {
                tracing::warn!(table = kind.def().table, error = %e, "type not verified: the key may not list it");
                Ok(None)
            }
            r => r.map(Some),
        }
    });
    let mut report = Report::default();
    for (kind, result) in types.iter().zip(futures_util::future::try_join_all(checks).await?) {
        let Some((tables, repair)) = result else { continue };
        report.tables.extend(tables);
        report.to_repair.extend(repair.into_iter().map(|id| (kind.object_name(), id)));
    }
    Ok(report)
}

/// Retrieves every drifted object and writes it through the normal write
/// path (children with their parent); returns how many were written.
pub async fn repair(pool: &PgPool, mirror: &Mirror, report: &Report) -> Result<usize, VerifyError> {
    let mut done = 0;
    for (name, id) in &report.to_repair {
        let Some(kind) = kind_of(name) else { continue };
        mirror.resolve(pool, kind, id).await?;
        tracing::info!(r#type = *name, id = %id, "repaired");
        done += 1;
    }
    Ok(done)
}
