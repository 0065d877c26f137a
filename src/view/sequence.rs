//! The open sequence: its source, the frames decoded so far around the playhead, and the loader
//! thread that fills them in.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::data::source::{Frame, GroundTruth, Source};

use super::frames::FrameLoader;

/// Frames decoded ahead of the playhead.
const AHEAD: usize = 12;
/// Frames kept behind it (stepping back is common).
const BEHIND: usize = 4;
/// Frames kept at most; the farthest from the playhead go first.
const KEEP: usize = 48;

/// An open source with its decoded frames.
pub struct Sequence {
    /// What the user opened.
    pub path: PathBuf,
    /// The source.
    pub source: Arc<dyn Source>,
    /// The source, described ("NYU test, kinect 1: 8252 frames…").
    pub description: String,
    loader: FrameLoader,
    cache: HashMap<usize, Arc<Frame>>,
    /// Frames that could not be read, with why.
    pub failed: HashMap<usize, String>,
}

impl Sequence {
    /// Starts decoding `source`; `wake` repaints the UI when a frame arrives.
    pub fn new(
        path: PathBuf,
        source: Box<dyn Source>,
        wake: impl Fn() + Send + 'static,
    ) -> Sequence {
        let source: Arc<dyn Source> = Arc::from(source);
        let description = source.describe();
        Sequence {
            path,
            loader: FrameLoader::spawn(source.clone(), wake),
            source,
            description,
            cache: HashMap::new(),
            failed: HashMap::new(),
        }
    }

    /// Frame count.
    pub fn len(&self) -> usize {
        self.source.len()
    }

    /// Frame `index` if decoded.
    pub fn frame(&self, index: usize) -> Option<&Arc<Frame>> {
        self.cache.get(&index)
    }

    /// Adds a frame read outside the loader (live mode's newest).
    pub fn insert(&mut self, index: usize, frame: Arc<Frame>) {
        self.cache.insert(index, frame);
    }

    /// The annotation of frame `index`, without its image.
    pub fn ground_truth(&self, index: usize) -> Option<GroundTruth> {
        self.source.ground_truth(index)
    }

    /// Takes in decoded frames and asks for the ones around `playhead` still missing; returns
    /// whether anything new arrived.
    pub fn update(&mut self, playhead: usize, looping: bool) -> bool {
        let mut changed = false;
        for (index, result) in self.loader.poll() {
            match result {
                Ok(frame) => {
                    self.cache.insert(index, frame);
                }
                Err(e) => {
                    self.failed.insert(index, e);
                }
            }
            changed = true;
        }
        let n = self.len();
        let wanted: Vec<usize> = (0..=AHEAD)
            .filter_map(|k| {
                let i = playhead + k;
                if i < n {
                    Some(i)
                } else if looping {
                    Some(i % n)
                } else {
                    None
                }
            })
            .chain((1..=BEHIND).filter_map(|k| playhead.checked_sub(k)))
            .collect();
        let missing = wanted
            .iter()
            .copied()
            .filter(|i| !self.cache.contains_key(i) && !self.failed.contains_key(i))
            .collect();
        self.loader.request(missing);
        if self.cache.len() > KEEP {
            let mut keys: Vec<usize> = self.cache.keys().copied().collect();
            keys.sort_by_key(|&i| std::cmp::Reverse(distance(i, playhead, n)));
            for i in keys.into_iter().take(self.cache.len() - KEEP) {
                if !wanted.contains(&i) {
                    self.cache.remove(&i);
                }
            }
        }
        changed
    }
}

/// Frames between `a` and `b` going forward around the sequence, or backward, whichever is less.
fn distance(a: usize, b: usize, n: usize) -> usize {
    let d = a.abs_diff(b);
    d.min(n - d)
}
