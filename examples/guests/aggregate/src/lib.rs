//! `aggregate` (addressed, one per field): alerts over a field's recent risk.
//!
//! Input: a risk result from `detect`, e.g.
//! `field=7,risk=high,score=0.82,n=8,suspect=1`.
//!
//! State (short-term, in memory): the field's last 16 risk results (level and
//! score), the current run of consecutive `high` results, and how many alerts
//! this activation has raised.
//!
//! Reply, one line:
//!
//! ```text
//! field=7,risk=high,score=0.82,alert=1,alerts=3,history=12,trend=rising
//! ```
//!
//! * `alert=1` while the risk has been `high` for at least 2 consecutive
//!   results;
//! * `alerts`: alerts raised so far, one per run of `high` results that
//!   reached 2 (a run that goes on does not raise another);
//! * `history`: results in the history (at most 16);
//! * `trend`: the mean score of the newer half of the history against the
//!   older half (the middle result of an odd history is in neither):
//!   `rising` if it is more than 0.05 higher, `falling` if more than 0.05
//!   lower, else `steady` (also with fewer than 2 results).
//!
//! A line without `field`, a `risk` of `low`/`medium`/`high` or a numeric
//! `score` is answered `dropped:<reason>` and changes nothing.

use std::collections::VecDeque;

use goldfish_guest::{export_actor, Actor, Context, Error};

/// Results in the history.
pub const HISTORY: usize = 16;
/// Consecutive `high` results that raise an alert.
pub const ALERT_AFTER: u32 = 2;
/// How far the two halves' mean scores must differ for a trend.
pub const TREND_MARGIN: f64 = 0.05;

/// The value of `key` in a `k=v,k=v` line (the last one if repeated).
pub fn value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.rsplit(',')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
}

/// A parsed risk result: field, risk level, score.
pub fn parse(line: &str) -> Result<(&str, &str, f64), String> {
    let field = value(line, "field")
        .filter(|f| !f.is_empty())
        .ok_or("missing field")?;
    let risk = match value(line, "risk") {
        Some(r @ ("low" | "medium" | "high")) => r,
        Some(_) => return Err("bad risk".into()),
        None => return Err("missing risk".into()),
    };
    let score = match value(line, "score").map(str::parse::<f64>) {
        Some(Ok(s)) if s.is_finite() => s,
        Some(_) => return Err("score is not a number".into()),
        None => return Err("missing score".into()),
    };
    Ok((field, risk, score))
}

/// `rising`, `falling` or `steady` for a history of scores, oldest first.
pub fn trend(scores: &[f64]) -> &'static str {
    let half = scores.len() / 2;
    if half == 0 {
        return "steady";
    }
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let diff = mean(&scores[scores.len() - half..]) - mean(&scores[..half]);
    if diff > TREND_MARGIN {
        "rising"
    } else if diff < -TREND_MARGIN {
        "falling"
    } else {
        "steady"
    }
}

/// The aggregate actor.
#[derive(Default)]
pub struct Aggregate {
    /// The last `HISTORY` scores, oldest first.
    history: VecDeque<f64>,
    /// Consecutive `high` results up to the latest.
    high_run: u32,
    /// Alerts raised by this activation.
    alerts: u64,
}

impl Aggregate {
    /// Takes a result into the state and returns the summary line.
    pub fn observe(&mut self, field: &str, risk: &str, score: f64) -> String {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(score);
        self.high_run = if risk == "high" { self.high_run + 1 } else { 0 };
        let alert = self.high_run >= ALERT_AFTER;
        if self.high_run == ALERT_AFTER {
            self.alerts += 1;
        }
        let scores: Vec<f64> = self.history.iter().copied().collect();
        format!(
            "field={field},risk={risk},score={score:.2},alert={},alerts={},history={},trend={}",
            u8::from(alert),
            self.alerts,
            scores.len(),
            trend(&scores)
        )
    }
}

impl Actor for Aggregate {
    fn handle(&mut self, _ctx: &mut Context, input: &[u8]) -> Result<Vec<u8>, Error> {
        let line = String::from_utf8_lossy(input);
        Ok(match parse(line.trim()) {
            Ok((field, risk, score)) => self.observe(field, risk, score),
            Err(reason) => format!("dropped:{reason}"),
        }
        .into_bytes())
    }

    // Deployed `stateless`, the history lives in the node's state store:
    // `high_run` (u32), `alerts` (u64), then the scores (f64), little-endian.
    fn save_state(&self) -> Option<Vec<u8>> {
        let mut out = self.high_run.to_le_bytes().to_vec();
        out.extend_from_slice(&self.alerts.to_le_bytes());
        for s in &self.history {
            out.extend_from_slice(&s.to_le_bytes());
        }
        Some(out)
    }

    fn load_state(&mut self, state: &[u8]) -> Result<(), Error> {
        let bad = || Error::new("aggregate state: malformed");
        if state.len() < 12 || (state.len() - 12) % 8 != 0 || (state.len() - 12) / 8 > HISTORY {
            return Err(bad());
        }
        self.high_run = u32::from_le_bytes(state[..4].try_into().map_err(|_| bad())?);
        self.alerts = u64::from_le_bytes(state[4..12].try_into().map_err(|_| bad())?);
        self.history.clear();
        for s in state[12..].chunks_exact(8) {
            self.history
                .push_back(f64::from_le_bytes(s.try_into().map_err(|_| bad())?));
        }
        Ok(())
    }
}

export_actor!(Aggregate, state);

#[cfg(test)]
mod tests {
    use super::*;
    use goldfish_guest::testing::Mock;

    #[test]
    fn trends() {
        assert_eq!(trend(&[]), "steady");
        assert_eq!(trend(&[0.9]), "steady");
        assert_eq!(trend(&[0.1, 0.9]), "rising");
        assert_eq!(trend(&[0.9, 0.5, 0.1]), "falling");
        assert_eq!(trend(&[0.5, 0.0, 0.52]), "steady");
        assert_eq!(trend(&[0.2, 0.3, 0.5, 0.6]), "rising");
    }

    #[test]
    fn alerts_once_per_run() {
        let mut a = Aggregate::default();
        let risks = [
            "high", "high", "high", "low", "high", "medium", "high", "high",
        ];
        let mut lines = Vec::new();
        for (i, risk) in risks.iter().enumerate() {
            lines.push(a.observe("7", risk, 0.1 * i as f64));
        }
        assert_eq!(
            lines[0],
            "field=7,risk=high,score=0.00,alert=0,alerts=0,history=1,trend=steady"
        );
        assert_eq!(
            lines[1],
            "field=7,risk=high,score=0.10,alert=1,alerts=1,history=2,trend=rising"
        );
        assert_eq!(
            lines[2],
            "field=7,risk=high,score=0.20,alert=1,alerts=1,history=3,trend=rising"
        );
        assert_eq!(
            lines[3],
            "field=7,risk=low,score=0.30,alert=0,alerts=1,history=4,trend=rising"
        );
        assert_eq!(
            lines[7],
            "field=7,risk=high,score=0.70,alert=1,alerts=2,history=8,trend=rising"
        );
    }

    #[test]
    fn keeps_sixteen() {
        let mut a = Aggregate::default();
        for _ in 0..20 {
            a.observe("1", "low", 0.9);
        }
        let line = a.observe("1", "low", 0.1);
        assert!(line.ends_with("history=16,trend=falling"), "{line}");
        assert_eq!(a.history.len(), HISTORY);
    }

    #[test]
    fn parses() {
        assert_eq!(
            parse("field=7,risk=high,score=0.82,n=8,suspect=1"),
            Ok(("7", "high", 0.82))
        );
        assert_eq!(parse("risk=high,score=1"), Err("missing field".into()));
        assert_eq!(parse("field=7,risk=severe,score=1"), Err("bad risk".into()));
        assert_eq!(parse("field=7,score=1"), Err("missing risk".into()));
        assert_eq!(
            parse("field=7,risk=low,score=x"),
            Err("score is not a number".into())
        );
        assert_eq!(parse("field=7,risk=low"), Err("missing score".into()));
    }

    #[test]
    fn replies_a_summary() {
        let mut mock = Mock::new();
        let mut a = Aggregate::default();
        assert_eq!(
            mock.handle_text(&mut a, "field=7,risk=high,score=0.82,n=8,suspect=1"),
            Ok("field=7,risk=high,score=0.82,alert=0,alerts=0,history=1,trend=steady".into())
        );
        assert_eq!(
            mock.handle_text(&mut a, "x"),
            Ok("dropped:missing field".into())
        );
    }
}
