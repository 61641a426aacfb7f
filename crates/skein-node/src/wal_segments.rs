//! Segment files of the record log: names, listing, and what a directory
//! of them means after a crash.
//!
//! A segment is `wal-GGGGGGGG-SSSSSSSS.log`: generation `G`, sequence `S`.
//! Appends go to the newest segment of the current generation, and a new
//! segment (`S + 1`) starts once it passes the size limit. A `Replace`
//! (a snapshot) starts generation `G + 1` with one segment, written beside
//! the log and renamed into place once durable; only then are the older
//! generation's segments deleted. So after any crash the current
//! generation is the highest one whose segment 0 exists, and anything else
//! is a leftover to delete.

use std::path::{Path, PathBuf};

/// The default size at which a new segment starts.
pub const SEGMENT_BYTES_DEFAULT: u64 = 64 << 20;

pub fn segment_name(generation: u32, sequence: u32) -> String {
    format!("wal-{generation:08}-{sequence:08}.log")
}

/// A replacing generation's first segment while it is being written.
pub fn next_name(generation: u32) -> String {
    format!("{}.next", segment_name(generation, 0))
}

fn parse(name: &str) -> Option<(u32, u32)> {
    let rest = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    let (generation, sequence) = rest.split_once('-')?;
    if generation.len() != 8 || sequence.len() != 8 {
        return None;
    }
    Some((generation.parse().ok()?, sequence.parse().ok()?))
}

/// What a directory holds: the current generation's segments in order, and
/// files left by a crash or by an earlier generation.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Layout {
    pub generation: u32,
    /// Sequence numbers of the current generation, ascending.
    pub sequences: Vec<u32>,
    pub leftovers: Vec<PathBuf>,
}

impl Layout {
    pub fn read(dir: &Path) -> std::io::Result<Self> {
        let mut found = Vec::new();
        let mut others = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            match parse(&name) {
                Some(ids) => found.push(ids),
                None if name.starts_with("wal-") && name.ends_with(".next") => {
                    others.push(dir.join(name))
                }
                None => {}
            }
        }
        let generation = found
            .iter()
            .filter(|&&(_, s)| s == 0)
            .map(|&(g, _)| g)
            .max()
            .unwrap_or(0);
        let mut sequences = Vec::new();
        for (g, s) in found {
            if g == generation {
                sequences.push(s);
            } else {
                others.push(dir.join(segment_name(g, s)));
            }
        }
        sequences.sort_unstable();
        others.sort();
        Ok(Self {
            generation,
            sequences,
            leftovers: others,
        })
    }

    /// The first missing sequence number, if the segments have a gap.
    pub fn gap(&self) -> Option<u32> {
        self.sequences
            .iter()
            .enumerate()
            .find(|&(i, &s)| s != i as u32)
            .map(|(i, _)| i as u32)
    }

    pub fn path(&self, dir: &Path, sequence: u32) -> PathBuf {
        dir.join(segment_name(self.generation, sequence))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_generation_is_the_highest_with_a_first_segment() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            segment_name(1, 0),
            segment_name(1, 1),
            segment_name(2, 0),
            segment_name(2, 1),
            segment_name(3, 1), // no segment 0: never a generation
            next_name(4),
            "other.txt".to_string(),
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let layout = Layout::read(dir.path()).unwrap();
        assert_eq!(
            (layout.generation, layout.sequences.clone()),
            (2, vec![0, 1])
        );
        assert_eq!(layout.leftovers.len(), 4, "{:?}", layout.leftovers);
        assert_eq!(layout.gap(), None);
        let gappy = Layout {
            sequences: vec![0, 2],
            ..Layout::default()
        };
        assert_eq!(gappy.gap(), Some(1));
        assert_eq!(parse("wal-00000002-00000010.log"), Some((2, 10)));
        assert_eq!(parse("wal-2-10.log"), None);
    }
}
