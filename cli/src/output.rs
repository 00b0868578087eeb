//! Printing: events and values as text for people or as JSON lines for scripts, and the
//! UTC timestamps of the text form.

use std::io::{self, BufWriter, Stdout, Write};

use evstore::json::RecordedEventJson;
use evstore::RecordedEvent;
use serde::Serialize;

/// Buffered standard output, flushed by [`Out::finish`] (and on drop).
pub struct Out {
    writer: BufWriter<Stdout>,
    json: bool,
}

impl Out {
    /// Standard output, printing JSON when `json` is set.
    pub fn new(json: bool) -> Self {
        Out {
            writer: BufWriter::new(io::stdout()),
            json,
        }
    }

    /// Whether values print as JSON.
    pub fn json(&self) -> bool {
        self.json
    }

    /// One event: `#position stream@version type time data metadata`, or its JSON line.
    pub fn event(&mut self, event: RecordedEvent) -> io::Result<()> {
        if self.json {
            return self.value(&RecordedEventJson::from(event));
        }
        write!(
            self.writer,
            "#{} {}@{} {} {} {}",
            event.position,
            event.stream_id,
            event.version,
            event.event_type,
            utc(event.recorded_at),
            event.data
        )?;
        if event.metadata.as_object().is_some_and(|m| !m.is_empty()) {
            write!(self.writer, " metadata={}", event.metadata)?;
        }
        for (name, id) in [
            ("correlation", &event.correlation_id),
            ("causation", &event.causation_id),
        ] {
            if let Some(id) = id {
                write!(self.writer, " {name}={id}")?;
            }
        }
        writeln!(self.writer)
    }

    /// A value as one JSON line.
    pub fn value<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.writer, value)?;
        writeln!(self.writer)
    }

    /// A line of text.
    pub fn line(&mut self, text: impl std::fmt::Display) -> io::Result<()> {
        writeln!(self.writer, "{text}")
    }

    /// Flushes what is buffered (call it to see every write error).
    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// UTC milliseconds as `2024-05-01T12:30:00.123Z`.
pub fn utc(millis: u64) -> String {
    let (secs, ms) = (millis / 1000, millis % 1000);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(super::utc(1_767_225_599_999), "2025-12-31T23:59:59.999Z");
    }
}
