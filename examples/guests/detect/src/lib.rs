//! `detect` (addressed, one per field): a disease-risk score for a field.
//!
//! Input: a reading from `ingest` with its label appended, e.g.
//! `field=7,sensor=s3,t=21.5,h=88.0,m=0.41,ts=1700000000000,label=ok`.
//!
//! State (short-term, in memory): a sliding window of the field's last 8 `ok`
//! readings (`t`, `h`, `m`), and how many `suspect` readings it has seen.
//! Suspect readings are counted but kept out of the window, so one bad
//! sensor value does not move the score.
//!
//! # The score
//!
//! Fungal leaf diseases need wet leaves, mild temperatures and damp soil. With
//! `h`, `t` and `m` the means over the window:
//!
//! ```text
//! humidity    = clamp((h - 80) / 10, 0, 1)      0 at 80 %, 0.5 at 85 %, 1 from 90 %
//! temperature = 1 for t in 15..=30 °C, falling linearly to 0 at 10 and at 35 °C
//! soil        = clamp((m - 0.30) / 0.10, 0, 1)  0 at 0.30, 0.5 at 0.35, 1 from 0.40
//! score       = 0.5 * humidity + 0.3 * temperature + 0.2 * soil      (0..=1)
//! ```
//!
//! The risk is `high` for a score of at least 0.7, `medium` from 0.4, else
//! `low`; an empty window scores 0. So humid air in the leaf-wetness range is
//! enough for `high`, and any one factor alone stays `low` or `medium`.
//!
//! Then it calls `aggregate/<field>` with
//! `field=7,risk=high,score=0.90,n=8,suspect=1` (`n`: readings in the window,
//! `suspect`: suspect readings seen so far) and replies with aggregate's reply,
//! or `error:call aggregate/<field>: <why>` if the call failed. A reading
//! without `field`, `t`, `h` or `m` is answered `dropped:<reason>` and changes
//! nothing.

use std::collections::VecDeque;

use goldfish_guest::{export_actor, Actor, Context, Error};

/// Readings in the window.
pub const WINDOW: usize = 8;

/// One reading's values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Air temperature, °C.
    pub t: f64,
    /// Relative humidity, %.
    pub h: f64,
    /// Soil moisture, fraction.
    pub m: f64,
}

/// The value of `key` in a `k=v,k=v` line (the last one if repeated).
pub fn value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.rsplit(',')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
}

fn number(line: &str, key: &str) -> Result<f64, String> {
    let v = value(line, key).ok_or_else(|| format!("missing {key}"))?;
    match v.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(n),
        _ => Err(format!("{key} is not a number")),
    }
}

/// Parses an input line: the field, the sample, and whether it is suspect.
pub fn parse(line: &str) -> Result<(&str, Sample, bool), String> {
    let field = value(line, "field")
        .filter(|f| !f.is_empty())
        .ok_or("missing field")?;
    let sample = Sample {
        t: number(line, "t")?,
        h: number(line, "h")?,
        m: number(line, "m")?,
    };
    Ok((field, sample, value(line, "label") == Some("suspect")))
}

/// The risk score of a window (see the module docs); 0 for an empty one.
pub fn score<'a>(window: impl IntoIterator<Item = &'a Sample>) -> f64 {
    let (mut n, mut t, mut h, mut m) = (0.0, 0.0, 0.0, 0.0);
    for s in window {
        n += 1.0;
        t += s.t;
        h += s.h;
        m += s.m;
    }
    if n == 0.0 {
        return 0.0;
    }
    let (t, h, m) = (t / n, h / n, m / n);
    let humidity = ((h - 80.0) / 10.0).clamp(0.0, 1.0);
    // How far the mean is outside 15..=30 °C, 0 inside.
    let outside = (15.0 - t).max(t - 30.0).max(0.0);
    let temperature = (1.0 - outside / 5.0).clamp(0.0, 1.0);
    let soil = ((m - 0.30) / 0.10).clamp(0.0, 1.0);
    0.5 * humidity + 0.3 * temperature + 0.2 * soil
}

/// The risk level of a score.
pub fn level(score: f64) -> &'static str {
    if score >= 0.7 {
        "high"
    } else if score >= 0.4 {
        "medium"
    } else {
        "low"
    }
}

/// The detect actor.
#[derive(Default)]
pub struct Detect {
    /// The last `WINDOW` ok readings, oldest first.
    window: VecDeque<Sample>,
    /// Suspect readings seen by this activation.
    suspect: u64,
}

impl Detect {
    /// Takes a reading into the state and returns the line for aggregate.
    pub fn observe(&mut self, field: &str, sample: Sample, suspect: bool) -> String {
        if suspect {
            self.suspect += 1;
        } else {
            if self.window.len() == WINDOW {
                self.window.pop_front();
            }
            self.window.push_back(sample);
        }
        let score = score(&self.window);
        format!(
            "field={field},risk={},score={score:.2},n={},suspect={}",
            level(score),
            self.window.len(),
            self.suspect
        )
    }
}

impl Actor for Detect {
    fn handle(&mut self, ctx: &mut Context, input: &[u8]) -> Result<Vec<u8>, Error> {
        let line = String::from_utf8_lossy(input);
        let (field, sample, suspect) = match parse(line.trim()) {
            Ok(parsed) => parsed,
            Err(reason) => return Ok(format!("dropped:{reason}").into_bytes()),
        };
        let result = self.observe(field, sample, suspect);
        let target = format!("aggregate/{field}");
        Ok(match ctx.call(&target, result.as_bytes()) {
            Ok(reply) => reply,
            Err(e) => format!("error:call {target}: {e}").into_bytes(),
        })
    }

    // Deployed `stateless`, the window lives in the node's state store:
    // `suspect` (u64), then `t`, `h`, `m` (f64) per sample, little-endian.
    fn save_state(&self) -> Option<Vec<u8>> {
        let mut out = self.suspect.to_le_bytes().to_vec();
        for s in &self.window {
            for v in [s.t, s.h, s.m] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        Some(out)
    }

    fn load_state(&mut self, state: &[u8]) -> Result<(), Error> {
        let bad = || Error::new("detect state: malformed");
        if state.len() < 8 || (state.len() - 8) % 24 != 0 || (state.len() - 8) / 24 > WINDOW {
            return Err(bad());
        }
        let num = |b: &[u8]| b.try_into().map(f64::from_le_bytes).map_err(|_| bad());
        self.suspect = u64::from_le_bytes(state[..8].try_into().map_err(|_| bad())?);
        self.window.clear();
        for s in state[8..].chunks_exact(24) {
            self.window.push_back(Sample {
                t: num(&s[..8])?,
                h: num(&s[8..16])?,
                m: num(&s[16..])?,
            });
        }
        Ok(())
    }
}

export_actor!(Detect, state);

#[cfg(test)]
mod tests {
    use super::*;
    use goldfish_guest::testing::Mock;

    fn s(t: f64, h: f64, m: f64) -> Sample {
        Sample { t, h, m }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn scores() {
        assert_eq!(score(&[]), 0.0);
        assert!(close(score(&[s(21.5, 88.0, 0.41)]), 0.5 * 0.8 + 0.3 + 0.2));
        assert!(close(score(&[s(22.0, 85.0, 0.35)]), 0.25 + 0.3 + 0.1));
        assert!(close(score(&[s(22.0, 95.0, 0.10)]), 0.8));
        assert!(close(score(&[s(5.0, 95.0, 0.9)]), 0.7));
        assert!(close(score(&[s(12.5, 50.0, 0.0)]), 0.15));
        assert!(close(score(&[s(32.5, 50.0, 0.0)]), 0.15));
        assert!(close(score(&[s(40.0, 50.0, 0.3)]), 0.0));
        // The mean of the window counts, not the last reading.
        assert!(close(
            score(&[s(20.0, 70.0, 0.3), s(20.0, 100.0, 0.3)]),
            0.25 + 0.3
        ));
        assert_eq!(level(0.7), "high");
        assert_eq!(level(0.69), "medium");
        assert_eq!(level(0.4), "medium");
        assert_eq!(level(0.39), "low");
    }

    #[test]
    fn window_and_suspects() {
        let mut d = Detect::default();
        assert_eq!(
            d.observe("7", s(21.5, 88.0, 0.41), false),
            "field=7,risk=high,score=0.90,n=1,suspect=0"
        );
        assert_eq!(
            d.observe("7", s(50.0, 10.0, 0.0), true),
            "field=7,risk=high,score=0.90,n=1,suspect=1"
        );
        for _ in 0..WINDOW {
            d.observe("7", s(20.0, 50.0, 0.2), false);
        }
        assert_eq!(
            d.observe("7", s(20.0, 50.0, 0.2), false),
            "field=7,risk=low,score=0.30,n=8,suspect=1"
        );
    }

    #[test]
    fn parses() {
        let line = "field=7,sensor=s3,t=21.5,h=88.0,m=0.41,ts=1,label=suspect";
        assert_eq!(parse(line), Ok(("7", s(21.5, 88.0, 0.41), true)));
        assert!(!parse("field=7,t=1,h=2,m=0.1,label=ok").unwrap().2);
        assert_eq!(parse("t=1,h=2,m=3"), Err("missing field".into()));
        assert_eq!(
            parse("field=7,t=1,h=x,m=3"),
            Err("h is not a number".into())
        );
        assert_eq!(parse("field=7,t=1,h=2"), Err("missing m".into()));
    }

    #[test]
    fn calls_aggregate() {
        let mut mock = Mock::new();
        let mut d = Detect::default();
        mock.script_call("aggregate/7", Ok(b"summary".to_vec()));
        let line = "field=7,sensor=s3,t=21.5,h=88.0,m=0.41,ts=1,label=ok";
        assert_eq!(mock.handle_text(&mut d, line), Ok("summary".into()));
        assert_eq!(
            mock.calls()[0],
            (
                "aggregate/7".to_string(),
                b"field=7,risk=high,score=0.90,n=1,suspect=0".to_vec()
            )
        );
        assert_eq!(
            mock.handle_text(&mut d, line),
            Ok("error:call aggregate/7: unknown function".into())
        );
        assert_eq!(
            mock.handle_text(&mut d, "nonsense"),
            Ok("dropped:missing field".into())
        );
    }
}
