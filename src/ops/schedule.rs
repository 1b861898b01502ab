//! Cron schedules from config.toml. The `cron` crate wants six or seven fields
//! with seconds first; operators write the classic five-field crontab form, so
//! a five-field expression gets `0 ` (second zero) in front.

use std::str::FromStr;

use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct Schedule(cron::Schedule);

#[derive(Debug, thiserror::Error)]
#[error("not a cron expression ({0}); use 5 fields like \"*/5 * * * *\"")]
pub struct ScheduleError(String);

impl Schedule {
    pub fn parse(expr: &str) -> Result<Schedule, ScheduleError> {
        let fields = expr.split_whitespace().count();
        let full = if fields == 5 { format!("0 {expr}") } else { expr.to_string() };
        cron::Schedule::from_str(&full).map(Schedule).map_err(|e| ScheduleError(e.to_string()))
    }

    /// The next firing strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.0.after(&after).next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_field_form_is_accepted() {
        let s = Schedule::parse("*/5 * * * *").unwrap();
        let t = DateTime::parse_from_rfc3339("2026-01-01T00:01:30Z").unwrap().with_timezone(&Utc);
        assert_eq!(s.next_after(t).unwrap().to_rfc3339(), "2026-01-01T00:05:00+00:00");
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(Schedule::parse("every five minutes").is_err());
    }
}
