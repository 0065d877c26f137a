//! Each frame's bookkeeping: taking in what the loader and inference threads delivered,
//! sending the frame on screen to the network, and scoring it and the other methods.

use std::time::Duration;

use crate::estimator::{Centers, Estimate};

use super::app::{EngineState, Prediction, ViewerApp};
use super::inference::{Job, JobFrame, Reply};
use super::scores::FrameScore;

impl ViewerApp {
    /// Where crops are centred, and how many passes refine the centre: the annotated palm (the
    /// paper's protocol) unless detection is asked for or `annotated` is false; a detected
    /// centre is refined by `--refine` passes, as `hourhand infer` refines it.
    fn centers(&self, annotated: bool) -> (Centers, usize) {
        if self.settings.show.detect || !annotated {
            (Centers::Detect(Default::default()), self.options.refine)
        } else {
            (Centers::GroundTruth, 0)
        }
    }

    /// Takes in what the threads delivered and sends the next frame to the network.
    pub(super) fn pump(&mut self) {
        let playback = &self.settings.playback;
        // A camera's frames do not wrap around.
        let (index, looping) = (playback.index, playback.looping && !self.is_live());
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
                    sweep,
                    result,
                    latency,
                } if generation == self.generation => {
                    if sweep {
                        if let Some(s) = &mut self.sweep {
                            s.in_flight = false;
                        }
                    } else if self.requested == Some(index) {
                        self.requested = None;
                    }
                    match result {
                        Ok(estimate) => self.take_estimate(index, *estimate, latency),
                        Err(e) => {
                            self.failed.insert(index);
                            if self.is_live() {
                                self.live_miss = Some((index, e.to_string()));
                            } else {
                                self.notices.push(format!("frame {}: {e}", index + 1));
                            }
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
        if !matches!(self.engine_state, EngineState::Ready(_)) {
            return;
        }
        if let Some(frame) = wanted {
            let frame = frame.clone();
            let cube = self
                .sequence
                .as_ref()
                .map_or(300.0, |s| s.source.cube(frame.index));
            self.requested = Some(frame.index);
            let (centers, refine) = self.centers(frame.ground_truth.is_some());
            self.worker.estimate(Job {
                centers,
                refine,
                rotations: self.options.rotations,
                frame: JobFrame::Decoded(frame),
                cube,
                sweep: false,
            });
        }
        self.pump_sweep();
    }

    /// Sends the sweep's next frame without a prediction, one at a time.
    fn pump_sweep(&mut self) {
        let (Some(sweep), Some(seq)) = (&mut self.sweep, &self.sequence) else {
            return;
        };
        if sweep.in_flight {
            return;
        }
        while sweep.next < seq.len()
            && (self.predictions.contains_key(&sweep.next) || self.failed.contains(&sweep.next))
        {
            sweep.next += 1;
        }
        if sweep.next == seq.len() {
            return;
        }
        let index = sweep.next;
        sweep.in_flight = true;
        sweep.next += 1;
        let annotated = seq.ground_truth(index).is_some();
        let (centers, refine) = self.centers(annotated);
        let job = Job {
            frame: JobFrame::Load(seq.source.clone(), index),
            centers,
            refine,
            rotations: self.options.rotations,
            cube: seq.source.cube(index),
            sweep: true,
        };
        self.worker.estimate(job);
    }

    fn take_estimate(&mut self, index: usize, estimate: Estimate, latency: Duration) {
        self.timing.add_latency(latency);
        if let Some(arrived) = self.sequence.as_ref().and_then(|s| s.source.arrival(index)) {
            self.timing.add_live_latency(arrived.elapsed());
        }
        let gt = self.sequence.as_ref().and_then(|s| s.ground_truth(index));
        let intrinsics = self.sequence.as_ref().map(|s| s.source.intrinsics());
        let score = match (gt, intrinsics) {
            (Some(gt), Some(k)) => {
                let pred = crate::data::joints::eval_subset(&estimate.uvd);
                let s = FrameScore::new(&gt.eval_uvd(), &pred, &k);
                self.ours.insert(index, s);
                self.score_methods(index);
                Some(s)
            }
            _ => None,
        };
        self.predictions
            .insert(index, Prediction { estimate, score });
        self.latest = Some(index);
        // Keep memory bounded on long sequences (an NYU training split has 72,757 frames):
        // scores stay, estimates far from the playhead go.
        if self.predictions.len() > 16384 {
            let playhead = self.settings.playback.index;
            self.predictions.retain(|&i, _| i.abs_diff(playhead) < 8192);
        }
    }

    /// Scores the other methods on frame `index`: they are scored on exactly the frames ours
    /// is, so their means and curves compare like with like.
    pub(super) fn score_methods(&mut self, index: usize) {
        let Some(seq) = &self.sequence else { return };
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
