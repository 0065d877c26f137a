//! Each frame's bookkeeping: taking in what the loader and inference threads delivered,
//! sending the frame on screen to the network, and scoring it and the other methods.

use std::time::Duration;

use crate::data::source::Frame;
use crate::estimator::{Centers, Estimate};

use super::app::{EngineState, Prediction, ViewerApp};
use super::inference::{Job, Reply};
use super::scores::FrameScore;

impl ViewerApp {
    /// Where the crop of `frame` is centred: the annotated palm (the paper's protocol) unless
    /// detection is asked for or there is no annotation.
    fn crop_center(&self, frame: &Frame) -> Result<glam::Vec3, String> {
        let centers = if self.settings.show.detect || frame.ground_truth.is_none() {
            Centers::Detect(Default::default())
        } else {
            Centers::GroundTruth
        };
        centers.center(frame).map_err(|e| e.to_string())
    }

    /// Takes in what the threads delivered and sends the next frame to the network.
    pub(super) fn pump(&mut self) {
        let playback = &self.settings.playback;
        let (index, looping) = (playback.index, playback.looping);
        if let Some(seq) = &mut self.sequence {
            seq.update(index, looping);
            if let Some(frame) = seq.frame(index) {
                self.shown = Some(frame.clone());
            }
        }
        for reply in self.worker.poll() {
            match reply {
                Reply::Engine { generation, result } if generation == self.generation => {
                    self.engine_state = match result {
                        Ok(d) => EngineState::Ready(d),
                        Err(e) => EngineState::Failed(e),
                    };
                }
                Reply::Estimate {
                    generation,
                    index,
                    result,
                    latency,
                } if generation == self.generation => {
                    self.requested = None;
                    match result {
                        Ok(estimate) => self.take_estimate(index, *estimate, latency),
                        Err(e) => {
                            self.failed.insert(index);
                            self.notices.push(format!("frame {}: {e}", index + 1));
                        }
                    }
                }
                _ => {} // from an engine since replaced
            }
        }
        let wanted = self.shown.as_ref().filter(|f| {
            !self.predictions.contains_key(&f.index)
                && self.requested != Some(f.index)
                && !self.failed.contains(&f.index)
        });
        if let (Some(frame), EngineState::Ready(_)) = (wanted, &self.engine_state) {
            let frame = frame.clone();
            let cube = self
                .sequence
                .as_ref()
                .map_or(300.0, |s| s.source.cube(frame.index));
            match self.crop_center(&frame) {
                Ok(center) => {
                    self.requested = Some(frame.index);
                    self.worker.estimate(Job {
                        frame,
                        center,
                        cube,
                    });
                }
                Err(e) => {
                    self.failed.insert(frame.index);
                    self.notices.push(format!("frame {}: {e}", frame.index + 1));
                }
            }
        }
    }

    fn take_estimate(&mut self, index: usize, estimate: Estimate, latency: Duration) {
        self.timing.add_latency(latency);
        let gt = self.sequence.as_ref().and_then(|s| s.ground_truth(index));
        let intrinsics = self.sequence.as_ref().map(|s| s.source.intrinsics());
        let score = match (gt, intrinsics) {
            (Some(gt), Some(k)) => {
                let pred = crate::data::joints::eval_subset(&estimate.uvd);
                let s = FrameScore::new(&gt.eval_uvd(), &pred, &k);
                self.ours.insert(index, s);
                Some(s)
            }
            _ => None,
        };
        self.predictions
            .insert(index, Prediction { estimate, score });
        self.latest = Some(index);
        // Keep memory bounded on long sequences: scores stay, old estimates go.
        if self.predictions.len() > 4096 {
            let keep = index;
            self.predictions.retain(|&i, _| i.abs_diff(keep) < 2048);
        }
    }

    /// Scores the other methods on the frame on screen.
    pub(super) fn score_methods(&mut self) {
        let Some(seq) = &self.sequence else { return };
        let index = self.settings.playback.index;
        let Some(gt) = seq.ground_truth(index) else {
            return;
        };
        let k = seq.source.intrinsics();
        for (method, scores) in &mut self.methods {
            if scores.get(index).is_none()
                && let Some(pred) = method.frame(index)
            {
                scores.insert(index, FrameScore::new(&gt.eval_uvd(), pred, &k));
            }
        }
    }
}
