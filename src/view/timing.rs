//! What the viewer measures about itself: how long a UI frame takes and how long the network
//! takes per frame, over the last few dozen of each.

use std::collections::VecDeque;
use std::time::Duration;

/// Samples kept for each average.
const WINDOW: usize = 60;

/// Recent frame times and inference latencies, and totals for a whole run.
#[derive(Debug, Clone, Default)]
pub struct Timing {
    frames: VecDeque<f32>,
    cpu: VecDeque<f32>,
    latencies: VecDeque<f32>,
    last_latency: Option<f32>,
    /// Live mode: from a frame's arrival from the camera to its prediction.
    live_latencies: VecDeque<f32>,
    /// Live mode, whole run: frames predicted and their arrival-to-prediction seconds.
    total_live: usize,
    total_live_latency: f64,
    /// Whole-run totals: UI frames, their CPU seconds, their intervals' seconds.
    total_frames: usize,
    total_cpu: f64,
    total_interval: f64,
    /// Whole-run totals: inferences after each engine's first, their seconds.
    total_inferences: usize,
    total_latency: f64,
}

fn push(q: &mut VecDeque<f32>, v: f32) {
    if q.len() == WINDOW {
        q.pop_front();
    }
    q.push_back(v);
}

fn mean(q: &VecDeque<f32>) -> Option<f32> {
    (!q.is_empty()).then(|| q.iter().sum::<f32>() / q.len() as f32)
}

impl Timing {
    /// One UI frame: the time since the previous one, and the CPU time eframe measured for
    /// the previous frame's drawing (seconds), when it has.
    pub fn add_frame(&mut self, dt: Duration, cpu: Option<f32>) {
        push(&mut self.frames, dt.as_secs_f32());
        self.total_frames += 1;
        self.total_interval += dt.as_secs_f64();
        if let Some(c) = cpu {
            push(&mut self.cpu, c);
            self.total_cpu += f64::from(c);
        }
    }

    /// One inference, crop to joints.
    pub fn add_latency(&mut self, latency: Duration) {
        let s = latency.as_secs_f32();
        // The first run on a new engine includes compiling its pipelines: shown, not averaged.
        if self.last_latency.is_some() {
            push(&mut self.latencies, s);
            self.total_inferences += 1;
            self.total_latency += latency.as_secs_f64();
        }
        self.last_latency = Some(s);
    }

    /// Live mode: one frame's time from the camera to its prediction.
    pub fn add_live_latency(&mut self, latency: Duration) {
        push(&mut self.live_latencies, latency.as_secs_f32());
        self.total_live += 1;
        self.total_live_latency += latency.as_secs_f64();
    }

    /// Live mode: the mean time from a frame's arrival to its prediction (ms).
    pub fn live_latency_ms(&self) -> Option<f32> {
        mean(&self.live_latencies).map(|s| s * 1000.0)
    }

    /// Forgets the latencies (a new engine or weights).
    pub fn clear_latency(&mut self) {
        self.latencies.clear();
        self.live_latencies.clear();
        self.last_latency = None;
    }

    /// Mean CPU time per UI frame (ms).
    pub fn cpu_ms(&self) -> Option<f32> {
        mean(&self.cpu).map(|s| s * 1000.0)
    }

    /// Mean time between UI frames (ms) — while idle the UI sleeps, so this is only a frame
    /// rate while something animates.
    pub fn frame_ms(&self) -> Option<f32> {
        mean(&self.frames).map(|s| s * 1000.0)
    }

    /// The last inference latency (ms).
    pub fn last_latency_ms(&self) -> Option<f32> {
        self.last_latency.map(|s| s * 1000.0)
    }

    /// Mean inference latency after the first (ms).
    pub fn latency_ms(&self) -> Option<f32> {
        mean(&self.latencies).map(|s| s * 1000.0)
    }
}

impl Timing {
    /// The whole run in one line: UI frames and their cost, inferences and their latency.
    pub fn summary(&self) -> String {
        let per = |total: f64, n: usize| {
            if n == 0 {
                "–".to_string()
            } else {
                format!("{:.1} ms", 1000.0 * total / n as f64)
            }
        };
        let fps = if self.total_inferences == 0 {
            String::new()
        } else {
            format!(
                " ({:.1} FPS)",
                self.total_inferences as f64 / self.total_latency
            )
        };
        let live = if self.total_live == 0 {
            String::new()
        } else {
            format!(
                "; live: {} frames predicted, {} from arrival to skeleton",
                self.total_live,
                per(self.total_live_latency, self.total_live)
            )
        };
        format!(
            "{} UI frames: {} CPU each, {} apart; {} inferences (after the first): {} each{fps}{live}",
            self.total_frames,
            per(self.total_cpu, self.total_frames),
            per(self.total_interval, self.total_frames),
            self.total_inferences,
            per(self.total_latency, self.total_inferences),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_latency_is_shown_but_not_averaged() {
        let mut t = Timing::default();
        t.add_latency(Duration::from_millis(900));
        assert_eq!(t.last_latency_ms(), Some(900.0));
        assert_eq!(t.latency_ms(), None);
        t.add_latency(Duration::from_millis(10));
        t.add_latency(Duration::from_millis(20));
        assert!((t.latency_ms().unwrap() - 15.0).abs() < 1e-3);
        for _ in 0..100 {
            t.add_frame(Duration::from_millis(16), Some(0.004));
        }
        assert_eq!(t.frames.len(), WINDOW);
        assert!((t.cpu_ms().unwrap() - 4.0).abs() < 1e-3);
    }
}
