//! Every builder's output is exactly what serde_json writes for it.
use super::*;
use serde_json::Value;

/// With holes filled by `null`, the text is what serde_json writes.
fn roundtrips(doc: &Doc) {
    let mut text = doc.text.to_string();
    for (offset, _) in doc.holes.iter().rev() {
        text.insert_str(*offset as usize, "null");
    }
    let v: Value = serde_json::from_str(&text).expect("valid json");
    assert_eq!(v.to_string(), text);
}

#[test]
fn builders_write_what_serde_json_writes() {
    let (d, _) = product(&ProductSpec {
        id: "prod_1",
        created: 5,
        name: "T\"shirt",
        description: None,
        active: true,
        metadata: "{}",
        default_price: None,
    });
    roundtrips(&d);
    let (d, _) = price(&PriceSpec {
        id: "price_1",
        created: 5,
        product: "prod_1",
        active: true,
        currency: "usd",
        unit_amount: 2000,
        recurring: Some(("month", 1)),
        nickname: None,
        lookup_key: None,
        metadata: "{}",
    });
    roundtrips(&d);
    let inv: Arc<str> = Arc::from("in_1");
    let (d, _) = line(&LineSpec {
        id: "il_1",
        invoice: &inv,
        unit_amount: 2000,
        quantity: 2,
        currency: "usd",
        description: Some("x"),
        period: (1, 2),
        price: Some("price_1"),
        product: Some("prod_1"),
        subscription: Some("sub_1"),
        subscription_item: Some("si_1"),
        invoice_item: "ii_1",
    });
    roundtrips(&d);
    let (d, _) = line(&LineSpec { subscription: None, subscription_item: None, price: None, ..spec_line(&inv) });
    roundtrips(&d);
    for (status, sub, canceled) in [("paid", Some("sub_1"), None), ("draft", None, Some(9))] {
        let (d, _) = invoice(&InvoiceSpec {
            id: "in_1",
            created: 1,
            customer: "cus_1",
            customer_email: Some("a@b.c"),
            customer_name: None,
            currency: "usd",
            status,
            number: Some("ABC-0001"),
            total: 100,
            subscription: sub,
            period: (1, 2),
            metadata: "{}",
            finalized_at: Some(2),
            settled_at: Some(3),
        });
        roundtrips(&d);
        let (d, _) = subscription(&SubscriptionSpec {
            id: "sub_1",
            created: 1,
            customer: "cus_1",
            status,
            canceled_at: canceled,
            currency: "usd",
            metadata: r#"{"k":"v"}"#,
        });
        roundtrips(&d);
    }
    let (d, _) = customer(&CustomerSpec {
        id: "cus_1",
        created: 1,
        email: Some("é\"x@example.com"),
        name: None,
        description: None,
        invoice_prefix: "ABCD1234",
        metadata: "{}",
    });
    roundtrips(&d);
    let sub: Arc<str> = Arc::from("sub_1");
    let (d, _) = item(&ItemSpec {
        id: "si_1",
        created: 1,
        subscription: &sub,
        price: &sub,
        quantity: 2,
        period: (1, 2),
        metadata: "{}",
    });
    roundtrips(&d);
}

fn spec_line(inv: &Arc<str>) -> LineSpec<'_> {
    LineSpec {
        id: "il_1",
        invoice: inv,
        unit_amount: 2000,
        quantity: 2,
        currency: "usd",
        description: Some("x"),
        period: (1, 2),
        price: Some("price_1"),
        product: Some("prod_1"),
        subscription: Some("sub_1"),
        subscription_item: Some("si_1"),
        invoice_item: "ii_1",
    }
}
