//! `ingest` (anycast): the entry point of the sensor pipeline.
//!
//! A reading is one line of comma-separated `key=value` pairs:
//!
//! ```text
//! field=7,sensor=s3,t=21.5,h=88.0,m=0.41,ts=1700000000000
//! ```
//!
//! (`t` air temperature in °C, `h` relative humidity in %, `m` soil moisture
//! as a fraction, `ts` milliseconds since the epoch; other keys are ignored.)
//!
//! For each reading it:
//!
//! 1. validates it: every one of the six keys present, numbers that parse,
//!    `t` in -40..=60, `h` in 0..=100, `m` in 0..=1. An invalid reading is
//!    answered `dropped:<reason>` and goes no further;
//! 2. labels it `ok`, or `suspect` when `t` jumped by more than 8 °C or `h`
//!    by more than 25 points since the previous reading of the same sensor;
//! 3. calls `detect/<field>` with the line plus `,label=<label>` and replies
//!    with detect's reply (or `error:call detect/<field>: <why>` if the call
//!    failed; the message itself still succeeds).
//!
//! State (short-term, in memory): the last reading of each sensor this
//! instance has seen, keyed by field and sensor id, at most 1024 sensors (the
//! one heard from longest ago is forgotten first). Being anycast, each
//! instance has its own memory: a sensor's first reading on a fresh instance
//! is always `ok`.

use std::collections::BTreeMap;

use goldfish_guest::{export_actor, valid_target, Actor, Context, Error, Level};

/// Sensors remembered per instance.
pub const MAX_SENSORS: usize = 1024;
/// A temperature change above this (°C) between two readings is suspect.
pub const T_JUMP: f64 = 8.0;
/// A humidity change above this (points) between two readings is suspect.
pub const H_JUMP: f64 = 25.0;

/// A valid reading.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// The field the sensor is in.
    pub field: String,
    /// The sensor's id.
    pub sensor: String,
    /// Air temperature, °C.
    pub t: f64,
    /// Relative humidity, %.
    pub h: f64,
    /// Soil moisture, fraction 0..=1.
    pub m: f64,
    /// Time of the reading, ms since the epoch.
    pub ts: i64,
}

/// The value of `key` in a `k=v,k=v` line (the last one if repeated).
pub fn value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.rsplit(',')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
}

fn text<'a>(line: &'a str, key: &str) -> Result<&'a str, String> {
    match value(line, key) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(format!("missing {key}")),
    }
}

fn number(line: &str, key: &str, min: f64, max: f64) -> Result<f64, String> {
    let v: f64 = text(line, key)?
        .parse()
        .map_err(|_| format!("{key} is not a number"))?;
    // Written so that NaN is out of range too.
    if v >= min && v <= max {
        Ok(v)
    } else {
        Err(format!("{key} out of range"))
    }
}

/// Parses and validates a reading; `Err` is the reason to drop it.
pub fn parse(line: &str) -> Result<Reading, String> {
    let field = text(line, "field")?;
    if !valid_target(&format!("detect/{field}")) {
        return Err("bad field".into());
    }
    let sensor = text(line, "sensor")?;
    let t = number(line, "t", -40.0, 60.0)?;
    let h = number(line, "h", 0.0, 100.0)?;
    let m = number(line, "m", 0.0, 1.0)?;
    let ts = text(line, "ts")?
        .parse()
        .map_err(|_| "ts is not a number".to_string())?;
    Ok(Reading {
        field: field.into(),
        sensor: sensor.into(),
        t,
        h,
        m,
        ts,
    })
}

/// `suspect` if the reading jumped too far from the sensor's previous one.
pub fn label(previous: Option<&Reading>, reading: &Reading) -> &'static str {
    match previous {
        Some(p) if (reading.t - p.t).abs() > T_JUMP || (reading.h - p.h).abs() > H_JUMP => {
            "suspect"
        }
        _ => "ok",
    }
}

/// The ingest actor.
#[derive(Default)]
pub struct Ingest {
    /// The last reading per (field, sensor).
    last: BTreeMap<(String, String), Reading>,
}

impl Ingest {
    /// Labels a reading against the sensor's previous one and remembers it.
    pub fn observe(&mut self, reading: &Reading) -> &'static str {
        let key = (reading.field.clone(), reading.sensor.clone());
        let label = label(self.last.get(&key), reading);
        if !self.last.contains_key(&key) && self.last.len() >= MAX_SENSORS {
            let oldest = self
                .last
                .iter()
                .min_by_key(|(_, r)| r.ts)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.last.remove(&oldest);
            }
        }
        self.last.insert(key, reading.clone());
        label
    }
}

impl Actor for Ingest {
    fn handle(&mut self, ctx: &mut Context, input: &[u8]) -> Result<Vec<u8>, Error> {
        let line = match std::str::from_utf8(input) {
            Ok(line) => line.trim(),
            Err(_) => return Ok(b"dropped:not UTF-8".to_vec()),
        };
        let reading = match parse(line) {
            Ok(reading) => reading,
            Err(reason) => {
                ctx.log(Level::Debug, &format!("dropped {line:?}: {reason}"));
                return Ok(format!("dropped:{reason}").into_bytes());
            }
        };
        let label = self.observe(&reading);
        let target = format!("detect/{}", reading.field);
        let forward = format!("{line},label={label}");
        Ok(match ctx.call(&target, forward.as_bytes()) {
            Ok(reply) => reply,
            Err(e) => format!("error:call {target}: {e}").into_bytes(),
        })
    }

    // Deployed `stateless`, the last readings live in the node's state
    // store, one reading line per sensor.
    fn save_state(&self) -> Option<Vec<u8>> {
        let mut out = String::new();
        for r in self.last.values() {
            out.push_str(&format!(
                "field={},sensor={},t={},h={},m={},ts={}\n",
                r.field, r.sensor, r.t, r.h, r.m, r.ts
            ));
        }
        Some(out.into_bytes())
    }

    fn load_state(&mut self, state: &[u8]) -> Result<(), Error> {
        let text =
            std::str::from_utf8(state).map_err(|_| Error::new("ingest state: not UTF-8"))?;
        self.last.clear();
        for line in text.lines() {
            let r = parse(line).map_err(|e| Error::new(format!("ingest state: {e}")))?;
            self.last.insert((r.field.clone(), r.sensor.clone()), r);
        }
        Ok(())
    }
}

export_actor!(Ingest, state);

#[cfg(test)]
mod tests {
    use super::*;
    use goldfish_guest::testing::Mock;
    use goldfish_guest::CallError;

    const LINE: &str = "field=7,sensor=s3,t=21.5,h=88.0,m=0.41,ts=1700000000000";

    #[test]
    fn parses_a_reading() {
        let r = parse(LINE).unwrap();
        assert_eq!(
            r,
            Reading {
                field: "7".into(),
                sensor: "s3".into(),
                t: 21.5,
                h: 88.0,
                m: 0.41,
                ts: 1_700_000_000_000
            }
        );
        assert_eq!(value(LINE, "h"), Some("88.0"));
        assert_eq!(value("a=1, b = 2 ,a=3", "a"), Some("3"));
        assert_eq!(value("a=1, b = 2 ,a=3", "b"), Some("2"));
    }

    #[test]
    fn drops_invalid_readings() {
        let cases = [
            ("sensor=s3,t=21.5,h=88.0,m=0.41,ts=1", "missing field"),
            ("field=7,t=21.5,h=88.0,m=0.41,ts=1", "missing sensor"),
            ("field=7,sensor=s3,h=88.0,m=0.41,ts=1", "missing t"),
            ("field=7,sensor=s3,t=,h=88.0,m=0.41,ts=1", "missing t"),
            ("field=7,sensor=s3,t=21.5,h=88.0,m=0.41", "missing ts"),
            (
                "field=7,sensor=s3,t=warm,h=88.0,m=0.41,ts=1",
                "t is not a number",
            ),
            (
                "field=7,sensor=s3,t=21.5,h=88.0,m=0.41,ts=soon",
                "ts is not a number",
            ),
            (
                "field=7,sensor=s3,t=61,h=88.0,m=0.41,ts=1",
                "t out of range",
            ),
            (
                "field=7,sensor=s3,t=-40.5,h=88.0,m=0.41,ts=1",
                "t out of range",
            ),
            (
                "field=7,sensor=s3,t=NaN,h=88.0,m=0.41,ts=1",
                "t out of range",
            ),
            (
                "field=7,sensor=s3,t=21.5,h=100.1,m=0.41,ts=1",
                "h out of range",
            ),
            (
                "field=7,sensor=s3,t=21.5,h=88.0,m=1.2,ts=1",
                "m out of range",
            ),
            (
                "field=7,sensor=s3,t=21.5,h=88.0,m=-0.1,ts=1",
                "m out of range",
            ),
            ("field=a\tb,sensor=s3,t=21.5,h=88.0,m=0.4,ts=1", "bad field"),
        ];
        for (line, reason) in cases {
            assert_eq!(parse(line), Err(reason.to_string()), "{line}");
        }
        assert!(parse("field=7,sensor=s3,t=60,h=0,m=1,ts=1").is_ok());
        assert!(parse("field=7,sensor=s3,t=-40,h=100,m=0,ts=1").is_ok());
    }

    #[test]
    fn labels_jumps() {
        let mut ingest = Ingest::default();
        let at = |t: f64, h: f64, sensor: &str| Reading {
            field: "7".into(),
            sensor: sensor.into(),
            t,
            h,
            m: 0.3,
            ts: 0,
        };
        assert_eq!(ingest.observe(&at(20.0, 80.0, "a")), "ok");
        assert_eq!(ingest.observe(&at(28.0, 80.0, "a")), "ok");
        assert_eq!(ingest.observe(&at(36.5, 80.0, "a")), "suspect");
        assert_eq!(ingest.observe(&at(36.5, 50.0, "a")), "suspect");
        assert_eq!(ingest.observe(&at(36.5, 75.0, "a")), "ok");
        // Another sensor has its own history.
        assert_eq!(ingest.observe(&at(0.0, 10.0, "b")), "ok");
    }

    #[test]
    fn forgets_the_oldest_sensor() {
        let mut ingest = Ingest::default();
        for i in 0..MAX_SENSORS + 1 {
            let r = parse(&format!("field=1,sensor=s{i},t=20,h=50,m=0.2,ts={i}")).unwrap();
            ingest.observe(&r);
        }
        assert_eq!(ingest.last.len(), MAX_SENSORS);
        assert!(!ingest
            .last
            .contains_key(&("1".to_string(), "s0".to_string())));
    }

    #[test]
    fn forwards_to_detect() {
        let mut mock = Mock::new();
        let mut ingest = Ingest::default();
        mock.script_call("detect/7", Ok(b"field=7,risk=high".to_vec()));
        assert_eq!(
            mock.handle_text(&mut ingest, &format!("{LINE}\n")),
            Ok("field=7,risk=high".into())
        );
        assert_eq!(
            mock.calls(),
            vec![(
                "detect/7".to_string(),
                format!("{LINE},label=ok").into_bytes()
            )]
        );

        mock.script_call("detect/7", Err(CallError::Failed));
        assert_eq!(
            mock.handle_text(&mut ingest, LINE),
            Ok("error:call detect/7: the callee failed".into())
        );
        assert_eq!(
            mock.handle_text(&mut ingest, "field=7"),
            Ok("dropped:missing sensor".into())
        );
        assert_eq!(mock.calls().len(), 2);
    }
}
