//! Parsing a list request's query string (Stripe's bracketed form encoding)
//! into pagination and filters, with Stripe's 400 answers for bad values.
//! Unknown parameters and `expand[]` are accepted and ignored.

use crate::store::{Created, Cursor, PageReq};

use super::error::Answer;

/// The parsed query of a list request.
#[derive(Debug, Default)]
pub(crate) struct ListQuery<'a> {
    pub limit: usize,
    pub starting_after: Option<&'a str>,
    pub ending_before: Option<&'a str>,
    pub created: Created,
    pub active: Option<bool>,
    pub status: Option<&'a str>,
    pub customer: Option<&'a str>,
    pub subscription: Option<&'a str>,
    pub product: Option<&'a str>,
    /// `type` of events or of prices (`one_time`/`recurring`).
    pub type_: Option<&'a str>,
    pub types: Vec<&'a str>,
    pub coupon: Option<&'a str>,
    pub code: Option<&'a str>,
    pub payment_intent: Option<&'a str>,
    pub payment_method: Option<&'a str>,
    pub charge: Option<&'a str>,
    pub invoice: Option<&'a str>,
    /// Tax rates: `inclusive`.
    pub inclusive: Option<bool>,
    /// Invoice items: `pending` (not yet on an invoice).
    pub pending: Option<bool>,
    /// Subscription schedules: `scheduled` (not started).
    pub scheduled: Option<bool>,
}

impl<'a> ListQuery<'a> {
    pub fn parse(pairs: &'a [(String, String)]) -> Result<ListQuery<'a>, Answer> {
        let mut q = ListQuery { limit: 10, ..ListQuery::default() };
        for (k, v) in pairs {
            let v = v.as_str();
            match k.as_str() {
                "limit" => q.limit = parse_limit(v)?,
                "starting_after" => q.starting_after = Some(v),
                "ending_before" => q.ending_before = Some(v),
                "created" => {
                    let n = int(v, "created")?;
                    q.created.gte = Some(n);
                    q.created.lte = Some(n);
                }
                "created[gt]" => q.created.gt = Some(int(v, "created[gt]")?),
                "created[gte]" => q.created.gte = Some(int(v, "created[gte]")?),
                "created[lt]" => q.created.lt = Some(int(v, "created[lt]")?),
                "created[lte]" => q.created.lte = Some(int(v, "created[lte]")?),
                "active" => q.active = Some(boolean(v, "active")?),
                "status" => q.status = Some(v),
                "customer" => q.customer = Some(v),
                "subscription" => q.subscription = Some(v),
                "product" => q.product = Some(v),
                "type" => q.type_ = Some(v),
                "types[]" => q.types.push(v),
                "coupon" => q.coupon = Some(v),
                "code" => q.code = Some(v),
                "payment_intent" => q.payment_intent = Some(v),
                "payment_method" => q.payment_method = Some(v),
                "charge" => q.charge = Some(v),
                "invoice" => q.invoice = Some(v),
                "inclusive" => q.inclusive = Some(boolean(v, "inclusive")?),
                "pending" => q.pending = Some(boolean(v, "pending")?),
                "scheduled" => q.scheduled = Some(boolean(v, "scheduled")?),
                k if k.starts_with("types[") => q.types.push(v),
                _ => {}
            }
        }
        if q.starting_after.is_some() && q.ending_before.is_some() {
            return Err(Answer::invalid(
                "You may only specify one of these parameters: ending_before, starting_after.",
                Some("ending_before"),
            ));
        }
        Ok(q)
    }

    pub fn page_req(&self) -> PageReq<'a> {
        let cursor = match (self.starting_after, self.ending_before) {
            (Some(id), _) => Cursor::After(id),
            (None, Some(id)) => Cursor::Before(id),
            (None, None) => Cursor::None,
        };
        PageReq { limit: self.limit, cursor, created: self.created }
    }

    /// Check `status` against an enum.
    pub fn status_in(&self, allowed: &[&str]) -> Result<(), Answer> {
        match self.status {
            Some(s) if !allowed.contains(&s) => {
                Err(Answer::invalid(&format!("Invalid status: must be one of {}", allowed.join(", ")), Some("status")))
            }
            _ => Ok(()),
        }
    }
}

fn parse_limit(v: &str) -> Result<usize, Answer> {
    let n = int(v, "limit")?;
    if n < 1 {
        return Err(Answer::invalid("This value must be greater than or equal to 1.", Some("limit")));
    }
    if n > 100 {
        return Err(Answer::invalid("This value must be less than or equal to 100.", Some("limit")));
    }
    Ok(n as usize)
}

fn int(v: &str, param: &str) -> Result<i64, Answer> {
    v.parse().map_err(|_| Answer::invalid(&format!("Invalid integer: {v}"), Some(param)))
}

fn boolean(v: &str, param: &str) -> Result<bool, Answer> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Answer::invalid(&format!("Invalid boolean: {v}"), Some(param))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &[(&str, &str)]) -> Vec<(String, String)> {
        s.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn parses_brackets_and_rejects_bad_limits() {
        let p = pairs(&[("created[gte]", "5"), ("types[]", "a"), ("types[]", "b"), ("expand[]", "data.x"), ("", "")]);
        let q = ListQuery::parse(&p).expect("valid");
        assert_eq!(q.created.gte, Some(5));
        assert_eq!(q.types, ["a", "b"]);
        assert_eq!(q.limit, 10);
        for bad in ["0", "101", "x"] {
            let p = pairs(&[("limit", bad)]);
            let e = ListQuery::parse(&p).expect_err("bad limit");
            assert_eq!(e.status, 400);
            assert!(e.body.contains("\"param\":\"limit\""));
        }
    }
}
