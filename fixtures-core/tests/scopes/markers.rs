//! Marker lines appended to `$FIXTURES_MARKERS` (one `write` per line, so processes interleave
//! whole lines).

use std::io::Write;
use std::path::Path;

use fixtures_core::prelude::*;

/// Appends `event fixture instance` to the marker file, if one is set.
pub fn mark(event: &str, fixture: &str, instance: &str) {
    let Ok(path) = std::env::var("FIXTURES_MARKERS") else {
        return;
    };
    let line = format!(
        "{}\t{}\t{event}\t{fixture}\t{instance}\n",
        std::process::id(),
        fixtures_core::run_id()
    );
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("marker file");
    f.write_all(line.as_bytes()).expect("write marker");
}

/// A fixture value that marks its setup, and its teardown through `on_teardown` (which runs
/// also at exit and on signals, while a test still holds the value).
#[derive(Debug)]
pub struct Marked {
    pub fixture: &'static str,
    pub instance: String,
}

impl Marked {
    pub fn new(setup: &Setup) -> Marked {
        mark("setup", setup.fixture_name(), setup.instance());
        let (fixture, instance) = (setup.fixture_name(), setup.instance().to_owned());
        setup.on_teardown("marker", move || mark("teardown", fixture, &instance));
        Marked {
            fixture: setup.fixture_name(),
            instance: setup.instance().to_owned(),
        }
    }
}

/// One parsed marker line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub pid: u32,
    pub run: String,
    pub event: String,
    pub fixture: String,
    pub instance: String,
}

pub fn read(path: &Path) -> Vec<Marker> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 5, "malformed marker line {l:?}");
            Marker {
                pid: f[0].parse().unwrap(),
                run: f[1].into(),
                event: f[2].into(),
                fixture: f[3].into(),
                instance: f[4].into(),
            }
        })
        .collect()
}

/// How many markers have this event and fixture.
pub fn count(markers: &[Marker], event: &str, fixture: &str) -> usize {
    markers
        .iter()
        .filter(|m| m.event == event && m.fixture == fixture)
        .count()
}

/// The index of the first marker matching, panicking with the whole log if none does.
pub fn position(markers: &[Marker], event: &str, fixture: &str, instance: &str) -> usize {
    markers
        .iter()
        .position(|m| m.event == event && m.fixture == fixture && m.instance == instance)
        .unwrap_or_else(|| panic!("no `{event} {fixture} {instance}` in {markers:#?}"))
}
