//! The registry's own consistency: what every other module relies on when
//! it iterates it instead of naming types.

use std::collections::{HashMap, HashSet};

use super::*;

#[test]
fn the_core_types_keep_their_tables_and_order() {
    let names: Vec<&str> = Table::ALL.iter().take(7).map(|t| t.name()).collect();
    assert_eq!(
        names,
        ["products", "prices", "customers", "subscriptions", "subscription_items", "invoices", "invoice_line_items"]
    );
    let named = [
        Table::Products,
        Table::Prices,
        Table::Customers,
        Table::Subscriptions,
        Table::SubscriptionItems,
        Table::Invoices,
        Table::InvoiceLineItems,
    ];
    assert_eq!(named.map(|t| t.name()), names.as_slice());
    assert_eq!(Table::ALL.len(), TYPES.len() + TYPES.iter().filter(|t| t.child.is_some()).count());
    for (i, t) in Table::ALL.iter().enumerate() {
        assert_eq!(t.index(), i);
    }
}

#[test]
fn names_objects_tables_and_event_prefixes_are_unique() {
    let mut tables = HashSet::new();
    let mut objects = HashSet::new();
    for t in Table::ALL {
        assert!(tables.insert(t.name()), "table {} twice", t.name());
    }
    let mut prefixes: HashMap<&str, Kind> = HashMap::new();
    for kind in Kind::ALL {
        assert!(objects.insert(kind.object_name()), "object {} twice", kind.object_name());
        for ev in kind.def().events {
            let (prefix, verb) = ev.name.rsplit_once('.').expect("prefix.verb");
            assert!(!verb.is_empty() && !verb.contains('*'), "{}", ev.name);
            let owner = *prefixes.entry(prefix).or_insert(kind);
            assert_eq!(owner, kind, "prefix {prefix} belongs to two types");
            assert_eq!(event_rule(ev.name), Some((kind, ev.does)), "{}", ev.name);
        }
    }
    assert!(TYPES.len() <= 64, "TypeSet is a u64");
}

#[test]
fn lists_name_real_parents_and_paths() {
    for kind in Kind::ALL {
        let def = kind.def();
        assert!(def.path.starts_with("/v1/") && !def.path.ends_with('/'), "{}", def.path);
        assert!(!def.list.queries.is_empty(), "{}: a listing needs at least one query", def.table);
        // `sync::created_of` reads these two.
        assert!(["created", "date"].contains(&def.list.created), "{}", def.table);
        if let Some(per) = &def.list.per {
            let parent =
                kind.list_parent().unwrap_or_else(|| panic!("{}: no type has table {}", def.table, per.parent));
            assert!(parent.def().list.per.is_none(), "a parent listed per parent itself");
            assert!(per.path.contains("{id}") && def.columns.contains(&per.column), "{}", def.table);
        }
        if let Some(child) = &def.child {
            assert!(
                child.path.contains("{id}") != child.param.is_some(),
                "{}: the parent goes in the path or a filter",
                child.table
            );
        }
    }
}

#[test]
fn unknown_verbs_follow_their_prefix() {
    let sub = Kind::by_table("subscriptions").unwrap();
    assert_eq!(event_rule("customer.subscription.deleted"), Some((sub, Does::Cancel)));
    assert_eq!(event_rule("customer.subscription.some_new_verb"), Some((sub, Does::Upsert)));
    assert!(matches!(event_rule("customer.source.some_new_verb"), Some((_, Does::Ignore(_)))));
    let price = Kind::by_table("prices").unwrap();
    assert_eq!(event_rule("plan.some_new_verb"), Some((price, Does::Twin("price"))));
    let refund = Kind::by_table("refunds").unwrap();
    assert_eq!(event_rule("charge.refund.updated"), Some((refund, Does::Upsert)));
    assert_eq!(event_rule("charge.dispute.created").map(|r| r.0), Kind::by_table("disputes"));
    assert_eq!(event_rule("charge.refunded").map(|r| r.0), Kind::by_table("charges"));
    assert_eq!(event_rule("invoiceitem.updated").map(|r| r.0), Kind::by_table("invoice_items"));
    assert_eq!(event_rule("payout.paid"), None);
    assert_eq!(event_rule("nodot"), None);
}

#[test]
fn type_sets_are_named_by_table_and_need_their_list_parents() {
    let set = TypeSet::from_tables(&["customers", "payment_methods"]).unwrap();
    assert_eq!(set.tables(), ["customers", "payment_methods"]);
    assert!(matches!(TypeSet::from_tables(&["payment_methods"]), Err(TypeSetError::NeedsParent { .. })));
    let err = TypeSet::from_tables(&["subscription_items"]).unwrap_err();
    assert!(err.to_string().contains("unknown type \"subscription_items\"") && err.to_string().contains("coupons"));
    assert_eq!(TypeSet::ALL.iter().count(), TYPES.len());
    assert_eq!(TypeSet::default(), TypeSet::ALL);
}

#[test]
fn applied_event_types_are_explicit_and_leave_out_the_ignored() {
    let all = applied_event_types(TypeSet::ALL);
    assert!(all.iter().all(|t| !t.contains('*')));
    assert!(all.contains(&"checkout.session.completed") && all.contains(&"plan.updated"));
    assert!(!all.contains(&"invoice.upcoming") && !all.contains(&"customer.tax_id.created"));
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(unique.len(), all.len());
    let coupons = TypeSet::from_tables(&["coupons"]).unwrap();
    assert_eq!(applied_event_types(coupons), ["coupon.created", "coupon.deleted", "coupon.updated"]);
}

#[test]
fn the_readme_lists_every_event_type_in_its_tables_row() {
    let readme = include_str!("../../README.md");
    for kind in Kind::ALL {
        let row = format!("| `{}` |", kind.def().table);
        let line = readme.lines().find(|l| l.starts_with(&row) && l.contains('.')).unwrap_or_else(|| {
            panic!("README's event table has no row for {}", kind.def().table);
        });
        for ev in kind.def().events {
            assert!(line.contains(&format!("`{}`", ev.name)), "README: {} missing from the {} row", ev.name, row);
        }
    }
}
