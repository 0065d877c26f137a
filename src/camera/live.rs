//! A camera as a [`Source`]: a capture thread keeps the newest frames in a ring, and the source's
//! length grows as they arrive, so the viewer plays a camera like a sequence whose end keeps
//! moving (the playhead follows the end while playing; pausing holds a frame, and the ring's
//! frames can still be stepped through).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::record::FolderRecorder;
use super::{CameraError, CameraFrame, CameraSpec, DepthCamera, open_camera};
use crate::data::error::DataError;
use crate::data::intrinsics::Intrinsics;
use crate::data::source::{Frame, GroundTruth, LiveStatus, Source};

/// Frames kept for stepping back (about 4 s at 30 FPS; a 640×480 frame is 1.2 MB).
pub const KEEP: usize = 120;
/// How long opening waits for the camera's first frame.
pub const FIRST_FRAME: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Ring {
    frames: VecDeque<(usize, Arc<CameraFrame>)>,
    total: usize,
    arrivals: VecDeque<Instant>,
    ended: Option<String>,
    /// Why the camera stopped, while nobody has taken it (opening reports it).
    error: Option<CameraError>,
    recorder: Option<FolderRecorder>,
    recorded: Option<Result<(PathBuf, usize), String>>,
}

/// Called after every frame (the viewer repaints).
type Waker = Box<dyn Fn() + Send>;

struct Shared {
    ring: Mutex<Ring>,
    arrived: Condvar,
    stop: AtomicBool,
    on_frame: Mutex<Option<Waker>>,
}

impl Shared {
    fn wake(&self) {
        if let Some(f) = self.on_frame.lock().expect("camera waker").as_ref() {
            f();
        }
    }
}

/// A camera streaming into a ring of its newest frames.
pub struct LiveSource {
    shared: Arc<Shared>,
    description: String,
    intrinsics: Intrinsics,
    name: String,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LiveSource {
    /// Starts capturing from `camera` (named `name`, e.g. `freenect:0`). Waits for the first
    /// frame, so a camera that sends nothing is an error here rather than an empty view.
    pub fn start(name: &str, mut camera: Box<dyn DepthCamera>) -> Result<LiveSource, CameraError> {
        let shared = Arc::new(Shared {
            ring: Mutex::new(Ring::default()),
            arrived: Condvar::new(),
            stop: AtomicBool::new(false),
            on_frame: Mutex::new(None),
        });
        let description = camera.describe();
        let intrinsics = camera.intrinsics();
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("hourhand camera".into())
            .spawn(move || {
                while !worker.stop.load(Ordering::Relaxed) {
                    let next = camera.next_frame(Duration::from_millis(200));
                    let mut ring = worker.ring.lock().expect("camera ring");
                    match next {
                        Ok(Some(frame)) => push(&mut ring, frame),
                        Ok(None) => continue,
                        Err(e) => {
                            ring.ended = Some(e.to_string());
                            ring.error = Some(e);
                            finish_recording(&mut ring);
                            worker.arrived.notify_all();
                            drop(ring);
                            worker.wake();
                            return;
                        }
                    }
                    worker.arrived.notify_all();
                    drop(ring);
                    worker.wake();
                }
            })
            .map_err(|e| CameraError::Stopped {
                what: name.into(),
                problem: format!("could not start the capture thread: {e}"),
            })?;
        let source = LiveSource {
            shared,
            description,
            intrinsics,
            name: name.into(),
            thread: Some(thread),
        };
        source.wait_for_first()?;
        Ok(source)
    }

    fn wait_for_first(&self) -> Result<(), CameraError> {
        let ring = self.shared.ring.lock().expect("camera ring");
        let (mut ring, _) = self
            .shared
            .arrived
            .wait_timeout_while(ring, FIRST_FRAME, |r| r.total == 0 && r.ended.is_none())
            .expect("camera ring");
        if ring.total > 0 {
            return Ok(());
        }
        Err(ring.error.take().unwrap_or_else(|| CameraError::Stopped {
            what: self.name.clone(),
            problem: format!("no depth frame within {} s", FIRST_FRAME.as_secs()),
        }))
    }

    /// Opens the camera `spec` names and starts capturing from it.
    pub fn open(spec: &CameraSpec) -> Result<LiveSource, CameraError> {
        LiveSource::start(&spec.to_string(), open_camera(spec)?)
    }

    /// Runs `on_frame` after every frame from now on (to repaint a window).
    pub fn set_on_frame(&self, on_frame: impl Fn() + Send + 'static) {
        *self.shared.on_frame.lock().expect("camera waker") = Some(Box::new(on_frame));
    }

    /// The camera's name (`freenect:0`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts writing every frame from now on to `recorder`.
    pub fn start_recording(&self, recorder: FolderRecorder) {
        let mut ring = self.shared.ring.lock().expect("camera ring");
        finish_recording(&mut ring);
        ring.recorder = Some(recorder);
    }

    /// Stops recording; the folder and frame count, or why it failed.
    pub fn stop_recording(&self) -> Option<Result<(PathBuf, usize), String>> {
        let mut ring = self.shared.ring.lock().expect("camera ring");
        finish_recording(&mut ring);
        ring.recorded.take()
    }
}

fn push(ring: &mut Ring, frame: CameraFrame) {
    if let Some(recorder) = &mut ring.recorder
        && let Err(e) = recorder.push(&frame)
    {
        ring.recorded = Some(Err(e.to_string()));
        ring.recorder = None;
    }
    let index = ring.total;
    ring.total += 1;
    ring.arrivals.push_back(frame.received);
    while ring.arrivals.len() > 31 {
        ring.arrivals.pop_front();
    }
    ring.frames.push_back((index, Arc::new(frame)));
    while ring.frames.len() > KEEP {
        ring.frames.pop_front();
    }
}

fn finish_recording(ring: &mut Ring) {
    if let Some(recorder) = ring.recorder.take() {
        ring.recorded = Some(recorder.finish().map_err(|e| e.to_string()));
    }
}

impl Drop for LiveSource {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        finish_recording(&mut self.shared.ring.lock().expect("camera ring"));
    }
}

impl Source for LiveSource {
    fn describe(&self) -> String {
        format!("{}, live", self.description)
    }

    fn len(&self) -> usize {
        self.shared.ring.lock().expect("camera ring").total
    }

    fn intrinsics(&self) -> Intrinsics {
        self.intrinsics
    }

    fn frame_path(&self, index: usize) -> PathBuf {
        PathBuf::from(format!("{} frame {index}", self.name))
    }

    fn ground_truth(&self, _index: usize) -> Option<GroundTruth> {
        None
    }

    fn load(&self, index: usize) -> Result<Frame, DataError> {
        let ring = self.shared.ring.lock().expect("camera ring");
        let found = ring
            .frames
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, f)| f.clone());
        drop(ring);
        let Some(frame) = found else {
            return Err(DataError::Corrupt {
                path: self.frame_path(index),
                problem: format!(
                    "no longer held (live mode keeps the newest {KEEP} frames; record to keep them all)"
                ),
            });
        };
        Ok(Frame {
            index,
            name: format!("frame {index}"),
            path: self.frame_path(index),
            depth: frame.depth.clone(),
            intrinsics: self.intrinsics,
            ground_truth: None,
        })
    }

    fn live_status(&self) -> Option<LiveStatus> {
        let ring = self.shared.ring.lock().expect("camera ring");
        let fps = match (ring.arrivals.front(), ring.arrivals.back()) {
            (Some(first), Some(last)) if ring.arrivals.len() > 1 && last > first => {
                (ring.arrivals.len() - 1) as f64 / (*last - *first).as_secs_f64()
            }
            _ => 0.0,
        };
        Some(LiveStatus {
            frames: ring.total,
            fps,
            ended: ring.ended.clone(),
            recording: ring.recorder.as_ref().map(|r| (r.dir().into(), r.len())),
        })
    }

    fn arrival(&self, index: usize) -> Option<Instant> {
        let ring = self.shared.ring.lock().expect("camera ring");
        ring.frames
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, f)| f.received)
    }
}

/// The viewer plays a shared live source and keeps a handle to it for recording.
impl Source for Arc<LiveSource> {
    fn describe(&self) -> String {
        self.as_ref().describe()
    }
    fn len(&self) -> usize {
        self.as_ref().len()
    }
    fn intrinsics(&self) -> Intrinsics {
        self.as_ref().intrinsics()
    }
    fn frame_path(&self, index: usize) -> PathBuf {
        self.as_ref().frame_path(index)
    }
    fn ground_truth(&self, index: usize) -> Option<GroundTruth> {
        self.as_ref().ground_truth(index)
    }
    fn load(&self, index: usize) -> Result<Frame, DataError> {
        self.as_ref().load(index)
    }
    fn live_status(&self) -> Option<LiveStatus> {
        self.as_ref().live_status()
    }
    fn arrival(&self, index: usize) -> Option<Instant> {
        self.as_ref().arrival(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::depth::DepthMap;

    /// A camera that sends `count` small frames, then stops.
    struct Counting {
        sent: usize,
        count: usize,
    }

    impl DepthCamera for Counting {
        fn describe(&self) -> String {
            "counting camera".into()
        }
        fn intrinsics(&self) -> Intrinsics {
            Intrinsics::NYU
        }
        fn next_frame(&mut self, _: Duration) -> Result<Option<CameraFrame>, CameraError> {
            if self.sent == self.count {
                return Err(CameraError::Stopped {
                    what: "counting".into(),
                    problem: "done".into(),
                });
            }
            self.sent += 1;
            let depth = DepthMap::new(3, 2, vec![self.sent as f32; 6]).unwrap();
            Ok(Some(CameraFrame {
                depth,
                received: Instant::now(),
                timestamp: self.sent as u64,
            }))
        }
    }

    #[test]
    fn frames_arrive_in_order_and_old_ones_are_let_go() {
        let count = KEEP + 5;
        let live = LiveSource::start("counting", Box::new(Counting { sent: 0, count })).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while live.live_status().unwrap().ended.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let status = live.live_status().unwrap();
        assert_eq!(status.frames, count);
        assert_eq!(status.ended.as_deref(), Some("counting: done"));
        assert_eq!(live.len(), count);
        let last = live.load(count - 1).unwrap();
        assert_eq!(last.depth.values()[0], count as f32);
        assert!(live.arrival(count - 1).is_some());
        let e = live.load(0).unwrap_err().to_string();
        assert!(e.contains("counting frame 0: no longer held"), "{e}");
    }

    #[test]
    fn a_camera_that_sends_nothing_is_an_error() {
        let e = LiveSource::start("counting", Box::new(Counting { sent: 0, count: 0 }))
            .err()
            .unwrap()
            .to_string();
        assert_eq!(e, "counting: done");
    }
}
