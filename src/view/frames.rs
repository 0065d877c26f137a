//! Decoding frames ahead of the playhead on a background thread, so reading and decoding PNGs
//! never holds up drawing. The UI says which frames it lacks, most urgent first; the thread
//! works down that list and starts over whenever a newer list arrives (after a seek, say).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::time::{Duration, Instant};

use crate::data::source::{Frame, Source};

/// A decoded frame, or why frame `index` could not be read.
pub type Loaded = (usize, Result<Arc<Frame>, String>);

/// The loader thread's end in the UI.
pub struct FrameLoader {
    wanted: Sender<Vec<usize>>,
    loaded: Receiver<Loaded>,
    last_request: Vec<usize>,
}

/// How long the thread remembers sending a frame, so a request that crossed that reply in the
/// channels does not decode it twice; after that a request means the UI let it go and wants it
/// again.
const RECENT: Duration = Duration::from_secs(1);

impl FrameLoader {
    /// Starts a thread reading from `source`; `wake` is called after each frame (to repaint).
    pub fn spawn(source: Arc<dyn Source>, wake: impl Fn() + Send + 'static) -> FrameLoader {
        let (wanted_tx, wanted_rx) = channel::<Vec<usize>>();
        let (loaded_tx, loaded_rx) = channel();
        std::thread::Builder::new()
            .name("hourhand frames".into())
            .spawn(move || {
                let mut recent: VecDeque<(usize, Instant)> = VecDeque::new();
                let Ok(mut list) = wanted_rx.recv() else {
                    return;
                };
                loop {
                    while recent.front().is_some_and(|(_, t)| t.elapsed() > RECENT) {
                        recent.pop_front();
                    }
                    let next = list
                        .iter()
                        .copied()
                        .find(|i| !recent.iter().any(|(r, _)| r == i));
                    let Some(index) = next else {
                        // Nothing left to do: wait for the next list.
                        match wanted_rx.recv() {
                            Ok(l) => list = l,
                            Err(_) => return,
                        }
                        continue;
                    };
                    let result = source.load(index).map(Arc::new).map_err(|e| e.to_string());
                    recent.push_back((index, Instant::now()));
                    if loaded_tx.send((index, result)).is_err() {
                        return;
                    }
                    wake();
                    // Take the newest list, if one came in meanwhile.
                    loop {
                        match wanted_rx.try_recv() {
                            Ok(l) => list = l,
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Disconnected) => return,
                        }
                    }
                }
            })
            .expect("spawning the frame loader thread");
        FrameLoader {
            wanted: wanted_tx,
            loaded: loaded_rx,
            last_request: Vec::new(),
        }
    }

    /// Asks for the frames in `indices` (most urgent first) that the UI does not have; sends
    /// only when the list changed.
    pub fn request(&mut self, indices: Vec<usize>) {
        if indices != self.last_request && !indices.is_empty() {
            // The thread ends only when this end is dropped.
            let _ = self.wanted.send(indices.clone());
        }
        self.last_request = indices;
    }

    /// Frames decoded since the last call.
    pub fn poll(&self) -> Vec<Loaded> {
        self.loaded.try_iter().collect()
    }
}
